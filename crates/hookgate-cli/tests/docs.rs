//! What the README and the examples' index say works as printed.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The lines of the first ```sh block after `heading` in `text`.
fn shell_block<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    text.split_once(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"))
        .1
        .split_once("```sh\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0
        .lines()
        .collect()
}

/// Kills the receiver when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// "Quick start: no Rust", run line by line in an empty folder: `hookgate
/// init`, the `export`, `hookgate serve --config hookgate.toml` (checked,
/// then started on a free port), then a signed test event gets 200.
#[test]
fn the_no_rust_quick_start_works_as_printed() {
    let readme = read("README.md");
    let dir = tempfile::tempdir().unwrap();
    let hookgate = env!("CARGO_BIN_EXE_hookgate");
    let mut env: Vec<(String, String)> = Vec::new();
    let mut served = None;
    for line in shell_block(&readme, "## Quick start: no Rust") {
        let command = line.split('#').next().unwrap().trim();
        if let Some(install) = command.strip_prefix("cargo install ") {
            // Installing is what building this test did; it must not re-resolve Cargo.lock.
            assert!(install.contains("--locked"), "{line}");
        } else if let Some(assignment) = command.strip_prefix("export ") {
            let (name, value) = assignment.split_once('=').unwrap();
            env.push((name.to_owned(), value.to_owned()));
        } else if let Some(args) = command.strip_prefix("hookgate ") {
            let args: Vec<&str> = args.split_whitespace().collect();
            let run = |extra: &[&str]| {
                let mut command = Command::new(hookgate);
                command
                    .args(&args)
                    .args(extra)
                    .current_dir(dir.path())
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .env_remove("HOOKGATE_LOG");
                command
            };
            if args[0] == "serve" {
                let check = run(&["--check"]).output().unwrap();
                assert!(
                    check.status.success(),
                    "{line} --check: {}",
                    String::from_utf8_lossy(&check.stderr)
                );
                let child = run(&["--listen", "127.0.0.1:0"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                served = Some(Running(child));
            } else {
                let out = run(&[]).output().unwrap();
                assert!(
                    out.status.success(),
                    "{line}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        } else {
            assert!(command.is_empty(), "a step this test does not know: {line}");
        }
    }
    let mut served = served.expect("the quick start starts hookgate serve");
    let mut first = String::new();
    BufReader::new(served.0.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let address = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first:?}"));
    let secret = &env
        .iter()
        .find(|(name, _)| name == "HOOKGATE_SECRET_CLARIFE")
        .unwrap()
        .1;
    let sent = Command::new(hookgate)
        .args(["send", "--scheme", "clarife", "--secret", secret, "--url"])
        .arg(format!("{address}/hooks/clarife"))
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(String::from_utf8_lossy(&sent.stdout).starts_with("200 OK"));
}

/// The README sends readers to examples/README.md, which describes every example.
#[test]
fn every_example_is_described_in_the_examples_index() {
    let index = read("examples/README.md");
    let mut examples = 0;
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let entry = entry.unwrap();
        if !entry.path().join("Cargo.toml").exists() {
            continue;
        }
        let name = entry.file_name().into_string().unwrap();
        let package = read(&format!("examples/{name}/Cargo.toml"))
            .lines()
            .find_map(|l| {
                l.strip_prefix("name = ")
                    .map(|n| n.trim_matches('"').to_owned())
            })
            .unwrap();
        assert!(index.contains(&format!("]({name}/src/main.rs)")), "{name}");
        assert!(
            index.contains(&format!("`cargo run -p {package}`")),
            "{package}"
        );
        examples += 1;
    }
    assert!(examples >= 5, "{examples}");
    assert!(read("README.md").contains("(examples/README.md)"));
}
