//! Verification cost per scheme and body size, beside the bare HMAC-SHA256 of
//! the same bytes and the svix crate's `Webhook::verify`.
//!
//! Run with: `cargo bench -p hookgate-verify --bench verify -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use hookgate_verify::{Scheme, Verifier};

mod common;
use common::{
    MESSAGE_ID, RAW_SECRET, STANDARD_SECRET, body, body_for, schemes, secret_for, signed,
};

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
        // The same for what Standard Webhooks signs, `{id}.{timestamp}.{body}`:
        // 43 more bytes, in five pieces, so the body no longer fills whole
        // SHA-256 blocks. Timestamped schemes sign this kind of content.
        let id = MESSAGE_ID.as_bytes();
        let timestamp = unix.to_string();
        group.bench_function("hmac-sha256 (bare, id.timestamp.body)", |b| {
            b.iter(|| {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(black_box(key)).unwrap();
                for part in [id, b".", timestamp.as_bytes(), b".", &body] {
                    mac.update(black_box(part));
                }
                black_box(mac.finalize().into_bytes())
            })
        });

        for scheme in schemes() {
            let verifier = Verifier::new(scheme, secret_for(scheme)).unwrap();
            let body = body_for(scheme, size, unix);
            let headers = signed(scheme, unix, &body);
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
        let headers = signed(Scheme::Svix, unix, &body);
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
