//! Framework-free webhook signature verification.
