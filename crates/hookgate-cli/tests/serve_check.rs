//! `hookgate serve --check`: every problem of a configuration at once, and
//! the commands' programs checked before anything is received.

use std::path::Path;
use std::process::{Command, Output};

/// `hookgate serve --check` on `toml`, with only `env` (and `PATH`) set.
fn check(dir: &Path, toml: &str, env: &[(&str, &str)]) -> Output {
    let config = dir.join("hookgate.toml");
    std::fs::write(&config, toml).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["serve", "--check", "--config"])
        .arg(&config)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

const THREE_SOURCES: &str = r#"[action]
forward = "http://127.0.0.1:9000/events"

[sources.clarife]
scheme = "clarife"
secret_env = "HOOKGATE_SECRET_CLARIFE"

[sources.github]
scheme = "github"
secret_env = "HOOKGATE_SECRET_GITHUB"

[sources.stripe]
scheme = "stripe"
secret_env = "HOOKGATE_SECRET_STRIPE"
"#;

#[test]
fn every_missing_secret_is_named_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(
        dir.path(),
        THREE_SOURCES,
        &[("HOOKGATE_SECRET_GITHUB", "s3cret")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].contains(
            ":4:1: sources.clarife: environment variable HOOKGATE_SECRET_CLARIFE is not set"
        ),
        "{err}"
    );
    assert!(
        lines[1].contains(
            ":12:1: sources.stripe: environment variable HOOKGATE_SECRET_STRIPE is not set"
        ),
        "{err}"
    );
    assert_eq!(
        lines[2],
        "error: 2 problems; fix them all, then run the command again"
    );
    assert!(out.stdout.is_empty());

    let out = check(
        dir.path(),
        THREE_SOURCES,
        &[
            ("HOOKGATE_SECRET_CLARIFE", "whsec_x"),
            ("HOOKGATE_SECRET_GITHUB", "s3cret"),
            ("HOOKGATE_SECRET_STRIPE", "whsec_y"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(": ok (3 sources"));
}

#[test]
fn every_mistake_in_the_file_is_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let toml = r#"[server]
listen = "127.0.0.1:8080"
log_format = "loud"

[queue]
queue = "memory"

[workers]
concurrency = 0

[action]
forward = "http://127.0.0.1:9000/events"

[sources.clarife]
scheme = "clarife"
secret_env = "HOOKGATE_SECRET_CLARIFE"
retries = 3

[sources.github]
scheme = "md5"
secret_env = "HOOKGATE_SECRET_GITHUB"

[extra]
"#;
    let out = check(dir.path(), toml, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for expected in [
        ":3:14: ",
        ":6:1: ",
        "unknown field `queue`",
        ":9:15: workers: `concurrency` must be at least 1",
        ":17:1: ",
        "unknown field `retries`",
        ":20:10: sources.github: unknown scheme \"md5\"",
        ":23:2: unknown section `extra`",
        "error: 6 problems",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
}

#[test]
fn a_command_that_cannot_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = |command: &str| {
        format!(
            "[sources.approvals]\nscheme = \"clarity\"\nsecret_env = \"TOKEN\"\n\n[sources.approvals.action]\ncommand = [{command}, \"--flag\"]\n"
        )
    };
    let env = [("TOKEN", "route-token")];

    let out = check(dir.path(), &config("\"./handle-approval.sh\""), &env);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(":6:11: action: command \"./handle-approval.sh\" does not exist"),
        "{err}"
    );

    let script = dir.path().join("handle-approval.sh");
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\n").unwrap();
    let out = check(dir.path(), &config("\"./handle-approval.sh\""), &env);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("is not executable; run `chmod +x ./handle-approval.sh`"),
        "{err}"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = check(dir.path(), &config("\"./handle-approval.sh\""), &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = check(dir.path(), &config("\"no-such-program-hookgate\""), &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("\"no-such-program-hookgate\" is not found in any directory of PATH"),
        "{}",
        text(&out.stderr)
    );
    // A program found in PATH passes.
    let out = check(dir.path(), &config("\"sh\""), &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
