//! End-to-end tests of the `hookgate` binary: exit codes, output lines, help.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/clarife.json");
const SAMPLE_HEADER: &str = "X-Clarife-Signature: t=1774699200,v1=9c710756f7069d313542208bc0003147b1b1b7a6aa18bca44d4a4f3b585b2a74";

fn hookgate(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // A command that fails before reading stdin closes it: a broken pipe here
    // is expected, the exit code tells the outcome.
    let _ = pipe.write_all(stdin.unwrap_or_default());
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn verify_the_readme_sample_prints_one_json_line() {
    let out = hookgate(
        &[
            "verify",
            "--scheme",
            "clarife",
            "--secret",
            "whsec_sample",
            "-H",
            SAMPLE_HEADER,
            "--now",
            "1774699230",
            "--body",
            SAMPLE,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"scheme\":\"clarife\",\"id\":\"evt_a1b2c3d4-5678-90ab-cdef-1234567890ab\",\"timestamp\":1774699200,\"key\":0}\n"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn refused_delivery_exits_1_with_one_line_on_stderr() {
    let body = std::fs::read(SAMPLE).unwrap();
    let mut tampered = body.clone();
    tampered[12] ^= 1;
    let out = hookgate(
        &[
            "verify",
            "--scheme",
            "clarife",
            "--secret",
            "whsec_sample",
            "-H",
            SAMPLE_HEADER,
            "--now",
            "1774699230",
        ],
        Some(&tampered),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no signature in header x-clarife-signature matches"),
        "{err}"
    );
    assert!(!err.contains("whsec_sample"));

    // Too old without --now or with a late one, reported with its status.
    let out = hookgate(
        &[
            "verify",
            "--scheme",
            "clarife",
            "--secret",
            "whsec_sample",
            "-H",
            SAMPLE_HEADER,
            "--now",
            "1774700000",
            "--body",
            SAMPLE,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("timestamp too old"));
    assert!(text(&out.stderr).contains("401"));

    // A wider tolerance accepts it.
    let out = hookgate(
        &[
            "verify",
            "--scheme",
            "clarife",
            "--secret",
            "whsec_sample",
            "-H",
            SAMPLE_HEADER,
            "--now",
            "1774700000",
            "--tolerance",
            "1000",
            "--body",
            SAMPLE,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["verify", "--scheme", "md5", "--secret", "x"][..],
        &["verify", "--scheme", "github"],
        &[
            "verify", "--scheme", "github", "--secret", "x", "-H", "no colon",
        ],
        &[
            "verify",
            "--scheme",
            "github",
            "--secret",
            "x",
            "--body",
            "/nonexistent/file",
        ],
        &["verify", "--scheme", "standard", "--secret", "whsec_%%%"],
        &["sign", "--scheme", "custom", "--secret", "x"],
        // Twilio signs the URL: without --url, a usage error.
        &["sign", "--scheme", "twilio", "--secret", "x"],
        &[
            "verify",
            "--scheme",
            "twilio",
            "--secret",
            "x",
            "-H",
            "X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ],
        &["frobnicate"],
    ] {
        let out = hookgate(args, Some(b"{}"));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn sign_output_feeds_verify_for_every_scheme() {
    let body = br#"{"id":"evt_1","token":"tok-1"}"#;
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    // Ed25519 signs with the secret key and verifies with the public one
    // (RFC 8032's test 1 key; the "other" keys are test 2's).
    const WHSK: &str = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    const WHPK: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const OTHER_PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    for (scheme, secret, verify_secret, other) in [
        ("standard", WHSEC, WHSEC, "whsec_b3RoZXI="),
        (
            "standard",
            WHSK,
            WHPK,
            "whpk_PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=",
        ),
        ("svix", WHSEC, WHSEC, "whsec_b3RoZXI="),
        ("clarife", "whsec_sample", "whsec_sample", "other"),
        ("stripe", "whsec_test", "whsec_test", "other"),
        ("github", "gh", "gh", "other"),
        ("slack", "sl", "sl", "other"),
        ("shopify", "sh", "sh", "other"),
        ("paddle", "pd", "pd", "other"),
        ("zoom", "zm", "zm", "other"),
        ("twitch", "tw", "tw", "other"),
        ("meta", "mt", "mt", "other"),
        ("dropbox", "db", "db", "other"),
        ("discord", SEED, PUBLIC, OTHER_PUBLIC),
        ("claravine", "tok-1", "tok-1", "other"),
        ("clarity", "tok-1", "tok-1", "other"),
        ("gitlab", "tok-1", "tok-1", "other"),
        ("twilio", "tw-token", "tw-token", "other"),
    ] {
        let signed = hookgate(
            &[
                "sign",
                "--scheme",
                scheme,
                "--secret",
                secret,
                "--id",
                "msg_7",
                "--timestamp",
                "1700000000",
                // Signed by twilio, ignored by the others.
                "--url",
                "https://hooks.example.com/hooks/x",
            ],
            Some(body),
        );
        assert_eq!(
            signed.status.code(),
            Some(0),
            "{scheme}: {}",
            text(&signed.stderr)
        );
        let lines = text(&signed.stdout);
        // A second, older secret first: the key reported must be the second.
        let mut args = vec![
            "verify",
            "--scheme",
            scheme,
            "--secret",
            other,
            "--secret",
            verify_secret,
            "--now",
            "1700000001",
            "--url",
            "https://hooks.example.com/hooks/x",
        ];
        for line in lines.lines() {
            assert!(line.contains(": "), "{scheme}: {line}");
            args.push("-H");
            args.push(line);
        }
        let out = hookgate(&args, Some(body));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{scheme}: {}",
            text(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["scheme"], scheme);
        assert_eq!(json["key"], 1, "{scheme}");
        if scheme == "clarife" || scheme == "stripe" {
            // The event id in the body is the delivery id of these schemes.
            assert_eq!(json["id"], "evt_1", "{scheme}");
        }
    }
}

/// Twilio's documented example (twilio-python's RequestValidator signs it
/// so), through `sign --url` and `verify --url`.
#[test]
fn twilio_signs_and_verifies_the_url_given_with_url() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    let signed = hookgate(
        &[
            "sign", "--scheme", "twilio", "--secret", "12345", "--url", url,
        ],
        Some(body),
    );
    assert_eq!(signed.status.code(), Some(0), "{}", text(&signed.stderr));
    let line = text(&signed.stdout);
    assert_eq!(
        line.lines().next().unwrap(),
        "x-twilio-signature: 0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
    let header = line.lines().next().unwrap().to_owned();
    let verify = |url: &str| {
        hookgate(
            &[
                "verify", "--scheme", "twilio", "--secret", "12345", "--url", url, "-H", &header,
            ],
            Some(body),
        )
    };
    let out = verify(url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        verify("https://mycompany.com/other.php").status.code(),
        Some(1)
    );
}

#[test]
fn custom_scheme_options_round_trip() {
    let options = [
        "--scheme",
        "custom",
        "--secret",
        "c",
        "--signature-header",
        "X-Sig",
        "--prefix",
        "sha256=",
        "--encoding",
        "base64",
        "--timestamp-header",
        "X-Ts",
        "--id-header",
        "X-Id",
        "--signed-content",
        "{id}.{timestamp}.{body}",
    ];
    let mut sign = vec!["sign"];
    sign.extend(options);
    sign.extend(["--id", "evt_3", "--timestamp", "1700000000"]);
    let signed = hookgate(&sign, Some(b"payload"));
    assert_eq!(signed.status.code(), Some(0), "{}", text(&signed.stderr));
    let mut verify = vec!["verify"];
    verify.extend(options);
    verify.extend(["--now", "1700000000"]);
    let lines = text(&signed.stdout);
    for line in lines.lines() {
        verify.push("-H");
        verify.push(line);
    }
    let out = hookgate(&verify, Some(b"payload"));
    assert_eq!(
        text(&out.stdout),
        "{\"scheme\":\"custom\",\"id\":\"evt_3\",\"timestamp\":1700000000,\"key\":0}\n"
    );
}

#[test]
fn help_of_every_command_shows_an_example() {
    let commands: [&[&str]; 11] = [
        &[],
        &["sign"],
        &["verify"],
        &["inspect"],
        &["init"],
        &["serve"],
        &["send"],
        &["queue"],
        &["queue", "stats"],
        &["queue", "list"],
        &["queue", "replay"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = hookgate(&args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = text(&out.stdout);
        assert!(help.contains("Example"), "{args:?}: {help}");
        // The example is of the command itself.
        let invocation = format!("hookgate {}", command.join(" "));
        assert!(help.contains(invocation.trim_end()), "{args:?}: {help}");
    }
}

/// The sample configuration (what `hookgate init` writes) names every scheme
/// in a comment; the list must follow the scheme table.
#[test]
fn the_sample_configuration_names_every_scheme() {
    let sample = include_str!("../src/hookgate.sample.toml");
    let comment: String = sample
        .lines()
        .skip_while(|line| !line.starts_with("# The signature scheme:"))
        .take_while(|line| line.starts_with('#'))
        .map(|line| line.trim_start_matches('#'))
        .collect::<Vec<_>>()
        .join(" ");
    let listed: Vec<&str> = comment
        .trim_start_matches(" The signature scheme:")
        .trim_end_matches('.')
        .split([',', ' '])
        .filter(|word| !word.is_empty() && *word != "or")
        .collect();
    let names = hookgate_verify::Scheme::ALL.map(hookgate_verify::Scheme::as_str);
    assert_eq!(listed, names, "{comment}");
}

/// A receiver that is down is no refusal: the message says what happened,
/// the cause from the whole error chain, and what to check (exit 1).
#[test]
fn send_to_a_receiver_that_is_down_names_the_cause() {
    // A port nothing listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hooks/clarife");
    let out = hookgate(
        &[
            "send",
            "--scheme",
            "clarife",
            "--secret",
            "whsec_sample",
            "--url",
            &url,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: cannot connect to {url}: ")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(err.contains("is the receiver running"), "{err}");
    assert!(!err.contains("refused:"), "{err}");
}

/// A lookup that finds nothing is no refusal either.
#[test]
fn replaying_a_missing_dead_letter_says_how_to_list_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.toml");
    std::fs::write(
        &config,
        "[action]\nforward = \"http://127.0.0.1:9000/\"\n\n[sources.clarife]\nscheme = \"clarife\"\nsecret_env = \"HOOKGATE_SECRET_CLARIFE\"\n",
    )
    .unwrap();
    let out = hookgate(
        &[
            "queue",
            "--config",
            config.to_str().unwrap(),
            "replay",
            "clarife/evt_missing",
        ],
        None,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "error: no dead letter clarife/evt_missing; `hookgate queue list --dead` lists them\n"
    );
}
