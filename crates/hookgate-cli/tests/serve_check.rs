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

/// The lines of `text` that are commented alternatives: a run of `# key = …`
/// lines, with `#   …` continuation lines (which are no `key = …`), each
/// run one alternative.
fn alternatives(text: &str) -> Vec<std::ops::Range<usize>> {
    let lines: Vec<&str> = text.lines().collect();
    let is_key = |line: &str| {
        // However far it is indented, so that no spelling escapes the test.
        line.strip_prefix('#').is_some_and(|rest| {
            rest.trim_start().split_once(" = ").is_some_and(|(key, _)| {
                !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        })
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if is_key(lines[i]) {
            let start = i;
            i += 1;
            while i < lines.len() && (is_key(lines[i]) || lines[i].starts_with("#   ")) {
                i += 1;
            }
            found.push(start..i);
        } else {
            i += 1;
        }
    }
    found
}

/// Every commented alternative of both generated files passes `--check` once
/// uncommented where it stands, and both files end with a newline.
#[test]
fn every_commented_alternative_is_valid_where_it_stands() {
    let dir = tempfile::tempdir().unwrap();
    // The full tour's command, and the environment every choice reads.
    let script = dir.path().join("handle-approval.sh");
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut tried = 0;
    for full in [false, true] {
        let mut init = Command::new(env!("CARGO_BIN_EXE_hookgate"));
        init.args(["init", "--output", "-"]);
        if full {
            init.arg("--full");
        }
        let written = text(&init.output().unwrap().stdout);
        assert!(
            written.ends_with("\n") && !written.ends_with("\n\n"),
            "{full}"
        );
        let mut env: Vec<(String, String)> = written
            .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .filter(|word| word.starts_with("HOOKGATE_"))
            .map(|name| {
                (
                    name.to_owned(),
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
                )
            })
            .collect();
        for (name, url) in [
            ("HOOKGATE_REDIS_URL", "redis://127.0.0.1:6379"),
            ("HOOKGATE_NATS_URL", "nats://127.0.0.1:4222"),
            ("HOOKGATE_POSTGRES_URL", "postgres://hookgate@127.0.0.1/app"),
        ] {
            env.retain(|(n, _)| n != name);
            env.push((name.to_owned(), url.to_owned()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

        let out = check(dir.path(), &written, &env);
        assert_eq!(
            out.status.code(),
            Some(0),
            "as written: {}",
            text(&out.stderr)
        );
        let lines: Vec<&str> = written.lines().collect();
        for block in alternatives(&written) {
            let mut edited: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            for line in &mut edited[block.clone()] {
                *line = line.trim_start_matches('#').trim_start().to_owned();
            }
            let edited = edited.join("\n") + "\n";
            let out = check(dir.path(), &edited, &env);
            assert_eq!(
                out.status.code(),
                Some(0),
                "uncommented {:?}: {}",
                &lines[block],
                text(&out.stderr)
            );
            tried += 1;
        }
    }
    // The choices of [queue], trusted_proxies, allow_ips.
    assert!(tried >= 10, "{tried}");
}
