//! Reading the command's inputs: a body from a file or stdin, `Name: value`
//! header lines, Unix times.

use std::io::{IsTerminal as _, Read as _};
use std::time::{SystemTime, UNIX_EPOCH};

use hookgate_verify::http::{HeaderName, HeaderValue};

/// Reads the body from `path`, or from stdin when `path` is `-`.
pub(crate) fn read_body(path: &str) -> Result<Vec<u8>, String> {
    if path == "-" {
        if let Some(hint) = stdin_hint(std::io::stdin().is_terminal()) {
            eprintln!("{hint}");
        }
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|err| format!("cannot read the body from stdin: {err}"))?;
        Ok(body)
    } else {
        std::fs::read(path).map_err(|err| format!("cannot read the body from {path}: {err}"))
    }
}

/// What to say before reading the body from stdin: at a terminal, a command
/// waiting silently looks stuck, so say that it reads and how to end.
fn stdin_hint(stdin_is_terminal: bool) -> Option<&'static str> {
    stdin_is_terminal.then_some(
        "reading the body from stdin: type or paste it, then press Ctrl-D (or give --body FILE)",
    )
}

/// Parses `Name: value` (as curl's `-H`); the value is trimmed.
pub(crate) fn parse_header(line: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| format!("header {line:?} is not of the form 'Name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a valid header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of header {name} cannot be sent in a header"))?;
    Ok((name, value))
}

/// The current Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_parse_like_curl() {
        let (name, value) = parse_header("X-Clarife-Signature:  t=1,v1=ab ").unwrap();
        assert_eq!(name, "x-clarife-signature");
        assert_eq!(value, "t=1,v1=ab");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
        assert!(parse_header("X-Empty:").is_ok());
    }

    #[test]
    fn a_terminal_is_told_that_the_body_is_read_from_stdin() {
        let hint = stdin_hint(true).unwrap();
        assert!(hint.contains("stdin") && hint.contains("Ctrl-D") && hint.contains("--body"));
        // A pipe or a file: nothing is printed, the output stays clean.
        assert_eq!(stdin_hint(false), None);
    }

    #[test]
    fn missing_body_file_is_reported_with_its_path() {
        let err = read_body("/nonexistent/body.json").unwrap_err();
        assert!(err.contains("/nonexistent/body.json"));
    }
}
