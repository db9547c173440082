//! Shared helpers for hookgate's cross-crate tests (servers, processes, free ports).

use std::path::{Path, PathBuf};

/// The `hookgate` binary that `cargo test --workspace` built.
///
/// `CARGO_BIN_EXE_hookgate` exists only for the tests of `hookgate-cli`
/// itself, and cargo has no stable way to depend on another package's binary.
/// `cargo test --workspace` builds `target/<profile>/hookgate` anyway (the CLI
/// has integration tests of its own), next to the calling test's
/// `target/<profile>/deps/` folder, so the binary is looked up there. When
/// this package is tested alone (`cargo test -p hookgate-tests`), build the
/// binary first: `cargo build -p hookgate-cli`. Set `HOOKGATE_BIN` to test
/// another build.
pub fn hookgate_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("HOOKGATE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/hookgate
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("hookgate{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p hookgate-cli` first, or set HOOKGATE_BIN",
        bin.display()
    );
    bin
}

/// The README's Rust code blocks, compiled (and, where not `no_run`, run)
/// as doc tests, so the quick starts stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeQuickStarts;
