//! The actix-web example receiver passes the same checks as the axum one
//! (`examples/axum-receiver/tests/receiver_checks/`), which it promises to
//! match: every scheme answered and processed with the development secrets.

/// The binary under test.
const EXAMPLE: &str = env!("CARGO_BIN_EXE_example-actix-receiver");

#[path = "../../axum-receiver/tests/receiver_checks/mod.rs"]
mod receiver_checks;
