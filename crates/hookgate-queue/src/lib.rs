//! Durable webhook queue.
