//! Typed webhook events.

mod handler;

pub use handler::{BoxError, DeliveryInfo, Disposition, HandlerError};
