//! Verification cost per scheme and body size, beside the bare HMAC-SHA256 of
//! the same bytes and the svix crate's `Webhook::verify`.
//!
//! Run with: `cargo bench -p hookgate-verify --bench verify -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use hookgate_verify::{Scheme, Signer, Verifier};

const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RAW_SECRET: &str = "a-32-byte-signing-secret-value!!";

/// A JSON envelope of exactly `size` bytes, like a real delivery.
fn body(size: usize) -> Vec<u8> {
    let head = br#"{"id":"evt_a1b2c3d4-5678-90ab-cdef-1234567890ab","type":"document.updated","data":{"text":""#;
    let tail = br#""}}"#;
    let mut body = head.to_vec();
    body.resize(size - tail.len(), b'x');
    body.extend_from_slice(tail);
    body
}

fn secret_for(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Standard | Scheme::Svix => STANDARD_SECRET,
        _ => RAW_SECRET,
    }
}

fn verify(c: &mut Criterion) {
    let now = SystemTime::now();
    let unix = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    for size in [256usize, 1024, 64 * 1024] {
        let body = body(size);
        let mut group = c.benchmark_group(format!("verify/{size}B"));
        group.throughput(Throughput::Bytes(size as u64));

        // (a) The floor: HMAC-SHA256 of the body with a 32-byte key, keyed per call
        // as a hand-written verifier would.
        let key = RAW_SECRET.as_bytes();
        group.bench_function("hmac-sha256 (bare)", |b| {
            b.iter(|| {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(black_box(key)).unwrap();
                mac.update(black_box(&body));
                black_box(mac.finalize().into_bytes())
            })
        });

        for scheme in [
            Scheme::Standard,
            Scheme::Svix,
            Scheme::Clarife,
            Scheme::Stripe,
            Scheme::Github,
            Scheme::Slack,
            Scheme::Shopify,
        ] {
            let verifier = Verifier::new(scheme, secret_for(scheme)).unwrap();
            let headers = Signer::new(scheme, secret_for(scheme))
                .unwrap()
                .sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", unix, &body)
                .unwrap();
            verifier.verify_at(&headers, &body, now).unwrap();
            group.bench_with_input(
                BenchmarkId::new("hookgate", scheme.as_str()),
                &headers,
                |b, headers| {
                    b.iter(|| {
                        black_box(
                            verifier
                                .verify_at(black_box(headers), black_box(&body), now)
                                .unwrap(),
                        )
                    })
                },
            );
        }

        // (b) The svix crate on the same svix delivery.
        let headers = Signer::new(Scheme::Svix, STANDARD_SECRET)
            .unwrap()
            .sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", unix, &body)
            .unwrap();
        let svix_webhook = svix::webhooks::Webhook::new(STANDARD_SECRET).unwrap();
        svix_webhook.verify(&body, &headers).unwrap();
        group.bench_function("svix crate (svix)", |b| {
            b.iter(|| {
                svix_webhook
                    .verify(black_box(&body), black_box(&headers))
                    .unwrap()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
