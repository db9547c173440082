//! hookgate: receive webhooks safely.
pub use hookgate_verify as verify;
#[cfg(feature = "events")]
pub use hookgate_events as events;
#[cfg(feature = "queue")]
pub use hookgate_queue as queue;
