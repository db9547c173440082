//! hookgate: receive webhooks safely.
#[cfg(feature = "actix")]
pub use hookgate_actix as actix;
#[cfg(feature = "events")]
pub use hookgate_events as events;
#[cfg(feature = "queue")]
pub use hookgate_queue as queue;
/// The NATS JetStream queue back-end.
#[cfg(feature = "nats")]
pub use hookgate_queue_nats as queue_nats;
/// The Redis Streams queue back-end.
#[cfg(feature = "redis")]
pub use hookgate_queue_redis as queue_redis;
#[cfg(feature = "receive")]
pub use hookgate_receive as receive;
#[cfg(feature = "tower")]
pub use hookgate_tower as tower;
pub use hookgate_verify as verify;
