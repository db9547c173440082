//! The `hookgate` command.
fn main() {}
