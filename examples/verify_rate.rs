//! This machine's ed25519 verification rate: strict (`verify_strict`, the
//! definition of validity) and the exact batch path, on one thread and on
//! every core. Prints one JSON object (used by `make bench`).
//!
//! `cargo run --release -p examples --example verify_rate`

use std::time::{Duration, Instant};

use protocol::keys::{KeyCache, SigCheck, VerifyStrategy, verify_many};
use protocol::{PublicKey, SecretKey, Signature};

fn signed(n: usize) -> Vec<(PublicKey, Vec<u8>, Signature)> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let key = SecretKey::from_seed(seed);
            let message = format!("timecoin verify rate {i}").into_bytes();
            let signature = key.sign(&message);
            (key.public(), message, signature)
        })
        .collect()
}

/// Signatures verified per second by one thread for about `run`.
fn rate(items: &[(PublicKey, Vec<u8>, Signature)], strategy: VerifyStrategy, run: Duration) -> f64 {
    let mut cache = KeyCache::default();
    let checks: Vec<SigCheck<'_>> =
        items.iter().map(|(k, m, s)| SigCheck { key: k, message: m, signature: s }).collect();
    let started = Instant::now();
    let mut done = 0usize;
    while started.elapsed() < run {
        for chunk in checks.chunks(64) {
            let ok = verify_many(chunk, &mut cache, strategy);
            assert!(ok.iter().all(|v| *v), "a valid signature failed to verify");
            done += chunk.len();
        }
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let items = signed(1_024);
    let run = Duration::from_secs(2);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let strict_1 = rate(&items, VerifyStrategy::Strict, run);
    let batch_1 = rate(&items, VerifyStrategy::Batch, run);
    let strict_all: f64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| rate(&items, VerifyStrategy::Strict, run)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    });
    let value = serde_json::json!({
        "threads": threads,
        "strict_per_s_1_thread": strict_1.round(),
        "exact_batch_per_s_1_thread": batch_1.round(),
        "strict_per_s_all_threads": strict_all.round(),
    });
    println!("{value}");
}
