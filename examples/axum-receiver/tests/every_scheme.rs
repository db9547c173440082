//! The example receiver, started as the README's first command does, answers
//! and processes a delivery of every scheme (see [`receiver_checks`]).

/// The binary under test.
const EXAMPLE: &str = env!("CARGO_BIN_EXE_example-axum-receiver");

mod receiver_checks;
