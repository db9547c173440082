//! What a running `hookgate serve` writes: plain log lines into a file or
//! pipe, `# HELP` for every metric, a readable stop line.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `GET path` on `address` (`127.0.0.1:PORT`), the answer's body.
fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[test]
fn logs_are_plain_metrics_described_and_the_stop_line_readable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookgate.toml");
    std::fs::write(
        &config,
        "queue = \"memory\"\n\n[action]\ncommand = [\"sh\", \"-c\", \"cat >/dev/null\"]\n\n\
         [sources.clarife]\nscheme = \"clarife\"\nsecret_env = \"HOOKGATE_SECRET_CLARIFE\"\n",
    )
    .unwrap();
    let hookgate = env!("CARGO_BIN_EXE_hookgate");
    let mut child = Command::new(hookgate)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("HOOKGATE_SECRET_CLARIFE", "whsec_test")
        .env("HOOKGATE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let address = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();

    let sent = Command::new(hookgate)
        .args([
            "send",
            "--scheme",
            "clarife",
            "--secret",
            "whsec_test",
            "--url",
        ])
        .arg(format!("http://{address}/hooks/clarife"))
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );

    // Until the worker has handled it (bounded: the test fails, it does not hang).
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = get(&address, "/metrics");
        if metrics.contains("hookgate_queue_handled_total{") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let described: Vec<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut typed = 0;
    for line in metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = line.split_whitespace().next().unwrap();
        assert!(
            described.contains(&name),
            "no # HELP for {name}:\n{metrics}"
        );
        typed += 1;
    }
    assert!(typed >= 4, "{metrics}");
    for name in [
        "hookgate_receive_requests_total",
        "hookgate_queue_handled_total",
    ] {
        assert!(described.contains(&name), "{name}:\n{metrics}");
    }

    // SIGTERM to the child this test started, by its id.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Not a terminal: no colour codes.
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    let stop = stderr
        .lines()
        .find(|l| l.contains("stopped"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(stop.contains("handled=1"), "{stop}");
    assert!(
        !stop.contains("WorkerReport") && !stop.contains('{'),
        "{stop}"
    );
}
