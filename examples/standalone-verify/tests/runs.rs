//! Runs the example: `main` asserts each status itself (a failed check exits
//! non-zero), and the output shows why each delivery was accepted or refused.

use std::process::Command;

#[test]
fn the_sample_is_accepted_and_the_tampered_copy_and_the_replay_are_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-standalone-verify"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(
        lines[0],
        "accepted: scheme=clarife id=evt_a1b2c3d4-5678-90ab-cdef-1234567890ab signed at 1774699200 with key #0"
    );
    // One flipped byte: the signature no longer matches.
    assert!(
        lines[1].starts_with("refused (401 Unauthorized): ")
            && lines[1].contains("x-clarife-signature"),
        "{}",
        lines[1]
    );
    // The same bytes an hour later: too old, however well signed.
    assert!(
        lines[2].starts_with("refused (401 Unauthorized): ") && lines[2].contains("too old"),
        "{}",
        lines[2]
    );
}
