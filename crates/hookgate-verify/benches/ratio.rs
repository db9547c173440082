//! Verification cost as a ratio to the bare HMAC-SHA256 of the body, measured
//! interleaved: every round times each contender once, in turn, and each
//! keeps its fastest round. On a shared machine whose speed drifts by 10–20%
//! from one second to the next, criterion's one-after-the-other runs move a
//! ratio by several percent; taken round by round, the contenders see the
//! same drift.
//!
//! Run with: `cargo bench -p hookgate-verify --bench ratio` (add `-- ROUNDS
//! SIZE…` to change the 200 rounds and the 256, 1024 and 65536-byte bodies).

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use hookgate_verify::Verifier;

mod common;
use common::{MESSAGE_ID, RAW_SECRET, STANDARD_SECRET, body, schemes, secret_for, signed};

type Hmac = hmac::Hmac<sha2::Sha256>;

/// One contender: a name and one call of what it measures.
struct Contender<'a> {
    name: String,
    run: Box<dyn FnMut() + 'a>,
    fastest: f64,
}

/// Nanoseconds per call over a batch long enough to dwarf the clock reads.
fn time_batch(run: &mut dyn FnMut(), calls: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        run();
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(calls)
}

fn main() {
    // `cargo bench` passes `--bench`; anything else is rounds, then sizes.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let rounds = numbers.first().copied().unwrap_or(200);
    let sizes = match numbers.get(1..) {
        Some(sizes) if !sizes.is_empty() => sizes.to_vec(),
        _ => vec![256, 1024, 64 * 1024],
    };
    let now = SystemTime::now();
    let unix = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    for size in sizes {
        let body = body(size);
        let timestamp = unix.to_string();
        let key = RAW_SECRET.as_bytes();
        let prekeyed = Hmac::new_from_slice(key).unwrap();
        let verifiers: Vec<_> = schemes()
            .map(|scheme| {
                let verifier = Verifier::new(scheme, secret_for(scheme)).unwrap();
                let headers = signed(scheme, unix, &body);
                verifier.verify_at(&headers, &body, now).unwrap();
                (scheme, verifier, headers)
            })
            .collect();
        let svix = svix::webhooks::Webhook::new(STANDARD_SECRET).unwrap();
        let svix_headers = signed(hookgate_verify::Scheme::Svix, unix, &body);
        svix.verify(&body, &svix_headers).unwrap();

        let mut contenders = vec![
            Contender {
                name: "hmac-sha256 (bare)".into(),
                run: Box::new(|| {
                    let mut mac = Hmac::new_from_slice(black_box(key)).unwrap();
                    mac.update(black_box(&body));
                    black_box(mac.finalize().into_bytes());
                }),
                fastest: f64::MAX,
            },
            Contender {
                name: "hmac-sha256 (bare, id.timestamp.body)".into(),
                run: Box::new(|| {
                    let mut mac = Hmac::new_from_slice(black_box(key)).unwrap();
                    for part in [
                        MESSAGE_ID.as_bytes(),
                        b".",
                        timestamp.as_bytes(),
                        b".",
                        &body,
                    ] {
                        mac.update(black_box(part));
                    }
                    black_box(mac.finalize().into_bytes());
                }),
                fastest: f64::MAX,
            },
            Contender {
                name: "hmac-sha256 (key absorbed once)".into(),
                run: Box::new(|| {
                    let mut mac = black_box(&prekeyed).clone();
                    mac.update(black_box(&body));
                    black_box(mac.finalize().into_bytes());
                }),
                fastest: f64::MAX,
            },
        ];
        for (scheme, verifier, headers) in &verifiers {
            contenders.push(Contender {
                name: format!("hookgate/{scheme}"),
                run: Box::new(|| {
                    black_box(
                        verifier
                            .verify_at(black_box(headers), black_box(&body), now)
                            .unwrap(),
                    );
                }),
                fastest: f64::MAX,
            });
        }
        contenders.push(Contender {
            name: "svix crate (svix)".into(),
            run: Box::new(|| {
                svix.verify(black_box(&body), black_box(&svix_headers))
                    .unwrap();
            }),
            fastest: f64::MAX,
        });

        // About 2 ms per batch whatever the body size.
        let calls = u32::try_from((2_000_000 / (size + 512)).max(10)).unwrap_or(u32::MAX);
        for _ in 0..rounds {
            for contender in &mut contenders {
                let took = time_batch(&mut contender.run, calls);
                contender.fastest = contender.fastest.min(took);
            }
        }
        let bare = contenders[0].fastest;
        println!("{size} B body, fastest of {rounds} interleaved rounds of {calls} calls");
        for contender in &contenders {
            println!(
                "  {:40} {:>10.1} ns  {:>6.3}x bare",
                contender.name,
                contender.fastest,
                contender.fastest / bare
            );
        }
    }
}
