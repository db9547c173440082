//! Verification cost as a ratio to the bare HMAC-SHA256 of the body, measured
//! interleaved: every round times each contender once, in turn, and each
//! keeps its fastest round. On a shared machine whose speed drifts by 10–20%
//! from one second to the next, criterion's one-after-the-other runs move a
//! ratio by several percent; taken round by round, the contenders see the
//! same drift.
//!
//! Run with: `cargo bench -p hookgate-verify --bench ratio` (add `-- ROUNDS
//! SIZE…` to change the 200 rounds and the 256, 1024 and 65536-byte bodies,
//! and words to time only the contenders whose names contain one of them:
//! `-- 1 1024 twilio` under `valgrind --tool=callgrind
//! --toggle-collect='ratio::time_batch*'` counts one contender's
//! instructions alone).

use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use hookgate_verify::Verifier;

mod common;
use common::{
    MESSAGE_ID, RAW_SECRET, STANDARD_SECRET, body, body_for, delivered, schemes, secret_for, signed,
};
use hookgate_verify::{Scheme, Signer};

type Hmac = hmac::Hmac<sha2::Sha256>;

/// The Ed25519 seed of the benches (RFC 8032's test 1), for Standard
/// Webhooks' `whsk_` and Discord's hex form.
const ED25519_SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];

/// One contender: a name and one call of what it measures.
struct Contender<'a> {
    name: String,
    run: Box<dyn FnMut() + 'a>,
    fastest: f64,
    /// Calls per batch: Ed25519 verifications cost a thousand HMACs.
    calls: u32,
}

/// Nanoseconds per call over a batch long enough to dwarf the clock reads.
/// Never inlined: callgrind's `--toggle-collect` names it.
#[inline(never)]
fn time_batch(run: &mut dyn FnMut(), calls: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        run();
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(calls)
}

fn main() {
    // `cargo bench` passes `--bench`; numbers are rounds, then sizes, and
    // other words filter the contenders by name.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let numbers: Vec<usize> = args.iter().filter_map(|arg| arg.parse().ok()).collect();
    let filters: Vec<&str> = args
        .iter()
        .filter(|arg| arg.parse::<usize>().is_err())
        .map(String::as_str)
        .collect();
    let selected = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
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
        let prekeyed_sha1 = hmac::Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
        let verifiers: Vec<_> = schemes()
            .map(|scheme| {
                let verifier = Verifier::new(scheme, secret_for(scheme)).unwrap();
                let body = body_for(scheme, size, unix);
                let headers = signed(scheme, unix, &body);
                let verified = verifier.verify_at(&headers, &body, now).unwrap();
                if scheme == Scheme::Paddle {
                    // The id scan of a realistic body, not a missing id's.
                    assert_eq!(
                        verified.delivery_id(),
                        Some("evt_01h8bzakzx3hm2fmen703n5q45")
                    );
                }
                (scheme, verifier, headers, body)
            })
            .collect();
        // Ed25519: Standard Webhooks v1a and Discord, and the bare verifies
        // over the same message (`{id}.{timestamp}.{body}`).
        let b64 = |bytes: &[u8]| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        let hex: String = ED25519_SEED.iter().map(|b| format!("{b:02x}")).collect();
        let ed25519: Vec<_> = [
            (Scheme::Standard, format!("whsk_{}", b64(&ED25519_SEED))),
            (Scheme::Discord, hex),
        ]
        .into_iter()
        .map(|(scheme, secret)| {
            let signer = Signer::new(scheme, secret).unwrap();
            let verifier = Verifier::new(scheme, signer.public_key().unwrap()).unwrap();
            let headers = delivered(signer.sign(MESSAGE_ID, unix, &body).unwrap());
            verifier.verify_at(&headers, &body, now).unwrap();
            (scheme, verifier, headers)
        })
        .collect();
        let dalek_key = ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED);
        let message = [
            MESSAGE_ID.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            &body,
        ]
        .concat();
        let dalek_signature = {
            use ed25519_dalek::Signer as _;
            dalek_key.sign(&message)
        };
        let dalek_public = dalek_key.verifying_key();
        let ring_public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            dalek_public.to_bytes(),
        );
        let signature_bytes = dalek_signature.to_bytes();
        // About 2 ms per batch whatever the body size.
        let calls = u32::try_from((2_000_000 / (size + 512)).max(10)).unwrap_or(u32::MAX);
        let ed25519_calls = 40;
        let svix = svix::webhooks::Webhook::new(STANDARD_SECRET).unwrap();
        let svix_headers = signed(hookgate_verify::Scheme::Svix, unix, &body);
        svix.verify(&body, &svix_headers).unwrap();

        // Twilio: HMAC-SHA1 of the URL and the sorted form parameters of a
        // form body of the same size, against the bare HMAC-SHA1 of the same
        // bytes (the URL then the decoded parameters, as one buffer).
        let twilio_url = "https://hooks.example.com/hooks/twilio?tenant=7";
        let form = twilio_form(size);
        let twilio_signed_bytes = twilio_content(twilio_url, &form);
        let signature_name = http::HeaderName::from_static("x-twilio-signature");
        let twilio = Verifier::new(Scheme::Twilio, RAW_SECRET).unwrap();
        let twilio_context = hookgate_verify::RequestContext::new().with_url(twilio_url);
        let mut twilio_headers = delivered(
            Signer::new(Scheme::Twilio, RAW_SECRET)
                .unwrap()
                .sign_with("", unix, &form, twilio_context)
                .unwrap(),
        );
        twilio_headers.insert(
            "content-type",
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        twilio
            .verify_with_at(&twilio_headers, &form, twilio_context, now)
            .unwrap();
        let mut contenders = vec![
            Contender {
                name: "hmac-sha256 (bare)".into(),
                run: Box::new(|| {
                    let mut mac = Hmac::new_from_slice(black_box(key)).unwrap();
                    mac.update(black_box(&body));
                    black_box(mac.finalize().into_bytes());
                }),
                fastest: f64::MAX,
                calls,
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
                calls,
            },
            Contender {
                name: "hmac-sha256 (key absorbed once)".into(),
                run: Box::new(|| {
                    let mut mac = black_box(&prekeyed).clone();
                    mac.update(black_box(&body));
                    black_box(mac.finalize().into_bytes());
                }),
                fastest: f64::MAX,
                calls,
            },
        ];
        for (scheme, verifier, headers, body) in &verifiers {
            contenders.push(Contender {
                name: format!("hookgate/{scheme}"),
                run: Box::new(|| {
                    black_box(
                        verifier
                            .verify_at(black_box(headers), black_box(body), now)
                            .unwrap(),
                    );
                }),
                fastest: f64::MAX,
                calls,
            });
        }
        contenders.push(Contender {
            name: "svix crate (svix)".into(),
            run: Box::new(|| {
                svix.verify(black_box(&body), black_box(&svix_headers))
                    .unwrap();
            }),
            fastest: f64::MAX,
            calls,
        });
        // The body id's duplicate-key scan (issue 13, item 6) alone: a custom
        // scheme over the same body with and without reading `id` from it.
        // Where nothing after the first `id` could name it again, two SIMD
        // searches end the scan; a body with a nested `"id"` (a Stripe
        // event's object) is walked to its end.
        for (label, body) in [
            ("rest skipped", body.clone()),
            ("rest walked", nested_id_body(size)),
        ] {
            let build = |from_body: bool| {
                let builder = Verifier::builder(Scheme::Custom)
                    .header("x-signature")
                    .and_then(|builder| builder.secret(RAW_SECRET))
                    .unwrap();
                let verifier = if from_body {
                    builder.delivery_id_from_body()
                } else {
                    builder
                }
                .build()
                .unwrap();
                let headers = delivered(verifier.signer().sign("", unix, &body).unwrap());
                let read = verifier.verify_at(&headers, &body, now).unwrap();
                assert_eq!(read.delivery_id().is_some(), from_body);
                (verifier, headers)
            };
            for (name, (verifier, headers)) in [
                (format!("custom, id in header ({label})"), build(false)),
                (format!("custom, id from body ({label})"), build(true)),
            ] {
                let body = body.clone();
                contenders.push(Contender {
                    name,
                    run: Box::new(move || {
                        black_box(
                            verifier
                                .verify_at(black_box(&headers), black_box(&body), now)
                                .unwrap(),
                        );
                    }),
                    fastest: f64::MAX,
                    calls,
                });
            }
        }
        let first_sha1 = contenders.len();
        contenders.push(Contender {
            name: "hmac-sha1 (bare, url+params)".into(),
            run: Box::new(|| {
                let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(black_box(key)).unwrap();
                mac.update(black_box(&twilio_signed_bytes));
                black_box(mac.finalize().into_bytes());
            }),
            fastest: f64::MAX,
            calls,
        });
        // The floor of a Twilio verification: the HMAC-SHA1 alone, its key
        // absorbed once as the verifier keeps it, over the content already
        // decoded and sorted into one buffer.
        contenders.push(Contender {
            name: "hmac-sha1 (key absorbed once)".into(),
            run: Box::new(|| {
                let mut mac = black_box(&prekeyed_sha1).clone();
                mac.update(black_box(&twilio_signed_bytes));
                black_box(mac.finalize().into_bytes());
            }),
            fastest: f64::MAX,
            calls,
        });
        // What every Twilio verifier does besides reading, sorting and
        // decoding the form, each part by the ecosystem's own means, added to
        // the floor above: the delivery's header found and its tag decoded
        // and compared; then also one SIMD pass over the form for its
        // separators and escapes. What is left of 1.1x after these is what
        // reading, sorting and decoding the parameters may cost.
        for (name, scanned) in [
            ("twilio floor: + header, tag", false),
            ("twilio floor: + header, tag, one pass", true),
        ] {
            let (headers, signature_name, form) = (&twilio_headers, &signature_name, &form);
            let (prekeyed, signed) = (&prekeyed_sha1, &twilio_signed_bytes);
            contenders.push(Contender {
                name: name.into(),
                run: Box::new(move || {
                    let tag = twilio_tag(black_box(headers), signature_name);
                    if scanned {
                        black_box(memchr::memchr3_iter(b'&', b'%', b'+', black_box(form)).count());
                    }
                    let mut mac = black_box(prekeyed).clone();
                    mac.update(black_box(signed));
                    assert!(mac.finalize().into_bytes()[..] == tag);
                }),
                fastest: f64::MAX,
                calls,
            });
        }
        contenders.push(Contender {
            name: "hookgate/twilio".into(),
            run: Box::new(|| {
                black_box(
                    twilio
                        .verify_with_at(
                            black_box(&twilio_headers),
                            black_box(&form),
                            twilio_context,
                            now,
                        )
                        .unwrap(),
                );
            }),
            fastest: f64::MAX,
            calls,
        });
        let first_ed25519 = contenders.len();
        contenders.push(Contender {
            name: "ed25519-dalek verify_strict (bare)".into(),
            run: Box::new(|| {
                let signature = ed25519_dalek::Signature::from_bytes(black_box(&signature_bytes));
                dalek_public
                    .verify_strict(black_box(&message), &signature)
                    .unwrap();
            }),
            fastest: f64::MAX,
            calls: ed25519_calls,
        });
        contenders.push(Contender {
            name: "ring ed25519 verify (bare)".into(),
            run: Box::new(|| {
                ring_public
                    .verify(black_box(&message), black_box(&signature_bytes))
                    .unwrap();
            }),
            fastest: f64::MAX,
            calls: ed25519_calls,
        });
        for (scheme, verifier, headers) in &ed25519 {
            contenders.push(Contender {
                name: format!("hookgate/{scheme} (ed25519)"),
                run: Box::new(|| {
                    black_box(
                        verifier
                            .verify_at(black_box(headers), black_box(&body), now)
                            .unwrap(),
                    );
                }),
                fastest: f64::MAX,
                calls: ed25519_calls,
            });
        }

        for _ in 0..rounds {
            for contender in contenders.iter_mut().filter(|c| selected(&c.name)) {
                let took = time_batch(&mut contender.run, contender.calls);
                contender.fastest = contender.fastest.min(took);
            }
        }
        let bare = contenders[0].fastest;
        println!(
            "{size} B body, fastest of {rounds} interleaved rounds of {calls} calls \
             ({ed25519_calls} for Ed25519)"
        );
        for (i, contender) in contenders.iter().enumerate() {
            if !selected(&contender.name) {
                continue;
            }
            // Ed25519 rows are compared with the bare ed25519-dalek verify,
            // Twilio's with the bare HMAC-SHA1.
            let (base, of) = if i >= first_ed25519 {
                (contenders[first_ed25519].fastest, "bare ed25519-dalek")
            } else if i >= first_sha1 {
                (contenders[first_sha1].fastest, "bare hmac-sha1")
            } else {
                (bare, "bare")
            };
            // A baseline filtered out was never timed: no ratio.
            let ratio = if base < f64::MAX {
                format!("{:>6.3}x {of}", contender.fastest / base)
            } else {
                String::new()
            };
            println!(
                "  {:40} {:>10.1} ns  {ratio}",
                contender.name, contender.fastest
            );
        }
    }
}

/// [`body`] of `size` bytes whose `data` object has an `id` of its own, as
/// a Stripe event's object does: the top-level `id`'s duplicate check then
/// walks the rest of the body.
fn nested_id_body(size: usize) -> Vec<u8> {
    let plain = body(size);
    let marker = br#""data":{"#;
    let at = plain
        .windows(marker.len())
        .position(|window| window == marker)
        .unwrap()
        + marker.len();
    let nested = br#""id":"obj_1","#;
    let mut body = plain[..at].to_vec();
    body.extend_from_slice(nested);
    body.extend_from_slice(&plain[at..]);
    // As many bytes fewer of padding, before the closing `"}}`.
    let tail = body.len() - 3;
    body.drain(tail - nested.len()..tail);
    body
}

/// A Twilio-like form body of exactly `size` bytes: a few parameters, the
/// last one padded.
fn twilio_form(size: usize) -> Vec<u8> {
    let head = b"AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B14158675309&To=%2B14155551212&MessageSid=SM0123456789abcdef&Body=";
    let mut body = head.to_vec();
    body.resize(size.max(head.len()), b'x');
    body
}

/// The tag of a Twilio delivery's signature header, decoded.
fn twilio_tag(headers: &http::HeaderMap, name: &http::HeaderName) -> [u8; 20] {
    use base64::Engine as _;
    let mut tag = [0u8; 20];
    base64::engine::general_purpose::STANDARD
        .decode_slice(headers.get(name).unwrap().as_bytes(), &mut tag)
        .unwrap();
    tag
}

/// What Twilio signs for `form` at `url`: the URL, then each parameter's
/// name and value (percent-decoded), sorted by name.
fn twilio_content(url: &str, form: &[u8]) -> Vec<u8> {
    let mut params: Vec<(Vec<u8>, Vec<u8>)> = form
        .split(|&b| b == b'&')
        .map(|pair| {
            let at = pair.iter().position(|&b| b == b'=').unwrap_or(pair.len());
            let decode = |text: &[u8]| {
                String::from_utf8_lossy(text)
                    .replace("%2B", "+")
                    .into_bytes()
            };
            (
                decode(&pair[..at]),
                decode(pair.get(at + 1..).unwrap_or_default()),
            )
        })
        .collect();
    params.sort();
    let mut content = url.as_bytes().to_vec();
    for (name, value) in params {
        content.extend(name);
        content.extend(value);
    }
    content
}
