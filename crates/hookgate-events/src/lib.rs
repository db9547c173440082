//! Typed webhook events.
