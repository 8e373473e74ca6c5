//! Runnable examples (`cargo run -p examples --example NAME`):
//!
//! | example | what it shows |
//! |---|---|
//! | `cluster_tx` | start a 4-node cluster with the `cluster` library, send a two-key transaction, print where and when it became final, stop the cluster |
//! | `verify_rate` | this machine's ed25519 verification rates (`verify_strict` for reference; the ZIP-215 rule one by one and in batches, on one and on all threads), as `make bench` reports them |
//! | `cluster_bench` | `make bench`: a fresh cluster, `timectl up` time, a fixed-rate run, a saturation sweep, RSS and CPU per node, the verification rate, as one table |
//! | `soak` | `make soak`: a fresh cluster under steady load for 10 minutes, every node's RSS once a minute and its slope |
//! | `chaos` | `make chaos`: every fault scenario of `chaos/` on a fresh cluster under load, judged by `loadgen verify`, as one table |
//! | `hostile_observer` | attack a running cluster as an observer with every message the hostile-peer review found dangerous, then check a new transaction still finalizes everywhere and RSS stays bounded |
//!
//! The library holds what more than one example (or an end-to-end test)
//! uses.

pub mod disk_full;
pub mod hostile;
pub mod hostile_traffic;
pub mod scenarios;
pub mod twins;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cluster::{Layout, load_files, read_node_info};

use protocol::keys::{KeyCache, SigCheck, VerifyStrategy, verify_many};
use protocol::{PublicKey, SecretKey, Signature};
use serde::Serialize;

/// This machine's signature-verification rates, signatures per second.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct VerifyRates {
    /// Threads used for `batch_all_threads`.
    pub threads: usize,
    /// ed25519-dalek's `verify_strict` on one thread: the yardstick the
    /// node's CPU per transaction is compared with (the rule before ZIP-215).
    pub strict_1_thread: f64,
    /// The node's rule (ZIP-215), one signature at a time, keys cached.
    pub one_by_one_1_thread: f64,
    /// The node's rule in batches of [`BATCH`] (a busy driver cycle's
    /// inputs), one thread.
    pub batch_1_thread: f64,
    /// In batches of [`BATCH`] on every core at once.
    pub batch_all_threads: f64,
}

/// The batch size the rates are measured at.
pub const BATCH: usize = 16;

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

/// Signatures verified per second by one thread for about `run`, in chunks
/// of [`BATCH`]. Returns `None` if a valid signature failed to verify (a
/// broken build, not a slow machine).
fn rate(
    items: &[(PublicKey, Vec<u8>, Signature)],
    strategy: VerifyStrategy,
    run: Duration,
) -> Option<f64> {
    let mut cache = KeyCache::default();
    let checks: Vec<SigCheck<'_>> =
        items.iter().map(|(k, m, s)| SigCheck { key: k, message: m, signature: s }).collect();
    let started = Instant::now();
    let mut done = 0usize;
    while started.elapsed() < run {
        for chunk in checks.chunks(BATCH) {
            if !verify_many(chunk, &mut cache, strategy).iter().all(|ok| *ok) {
                return None;
            }
            done += chunk.len();
        }
    }
    Some(done as f64 / started.elapsed().as_secs_f64())
}

/// `verify_strict` per second on one thread, keys decoded once.
fn strict_rate(items: &[(PublicKey, Vec<u8>, Signature)], run: Duration) -> Option<f64> {
    let keys: Vec<ed25519_dalek::VerifyingKey> = items
        .iter()
        .map(|(k, _, _)| ed25519_dalek::VerifyingKey::from_bytes(&k.0).ok())
        .collect::<Option<_>>()?;
    let started = Instant::now();
    let mut done = 0usize;
    while started.elapsed() < run {
        for ((_, message, signature), key) in items.iter().zip(&keys) {
            let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
            key.verify_strict(message, &signature).ok()?;
            done += 1;
        }
    }
    Some(done as f64 / started.elapsed().as_secs_f64())
}

/// Measures the verification rates, each for about `run` (1,024 distinct
/// keys and messages, so key decompression is cached as in a node).
pub fn verify_rates(run: Duration) -> Result<VerifyRates, String> {
    let items = signed(1_024);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let failed = || "a valid signature failed to verify".to_string();
    let strict_1_thread = strict_rate(&items, run).ok_or_else(failed)?;
    let one_by_one_1_thread = rate(&items, VerifyStrategy::OneByOne, run).ok_or_else(failed)?;
    let batch_1_thread = rate(&items, VerifyStrategy::Batch, run).ok_or_else(failed)?;
    let per_thread: Vec<Option<f64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| rate(&items, VerifyStrategy::Batch, run)))
            .collect();
        handles.into_iter().map(|h| h.join().ok().flatten()).collect()
    });
    let batch_all_threads = per_thread.into_iter().sum::<Option<f64>>().ok_or_else(failed)?;
    Ok(VerifyRates {
        threads,
        strict_1_thread,
        one_by_one_1_thread,
        batch_1_thread,
        batch_all_threads,
    })
}

/// Stops a cluster left in `dir` (by an earlier, interrupted run) with
/// `timectl down`; a dir without a cluster is left alone.
pub fn stop_cluster(timectl: &Path, dir: &Path) {
    if dir.join("cluster.json").exists() {
        // Best effort: a cluster that is already down is fine.
        let _ = Command::new(timectl).arg("down").arg("--dir").arg(dir).output();
    }
}

/// Removes the node stores of the stopped cluster in `dir` (each node's
/// `data` and a twin's `twin-data`), keeping logs, configs and reports: a
/// run leaves gigabytes of them.
pub fn drop_stores(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for node in entries.flatten().filter(|e| e.path().is_dir()) {
        for data in ["data", "twin-data"] {
            let path = node.path().join(data);
            if path.is_dir()
                && let Err(e) = std::fs::remove_dir_all(&path)
            {
                eprintln!("could not remove {}: {e}", path.display());
            }
        }
    }
}

/// Replaces whatever is in `dir` by a fresh cluster of `nodes` masternodes
/// (`timectl up`); returns how long `timectl up` took to report it ready.
pub fn fresh_cluster(timectl: &Path, dir: &Path, nodes: usize) -> anyhow::Result<Duration> {
    fresh_cluster_with(timectl, dir, nodes, &[])
}

/// [`fresh_cluster`] with more `timectl up` arguments (`--pool-coins N`).
pub fn fresh_cluster_with(
    timectl: &Path,
    dir: &Path,
    nodes: usize,
    more: &[&str],
) -> anyhow::Result<Duration> {
    fresh_cluster_in(timectl, dir, nodes, more, None)
}

/// [`fresh_cluster_with`] whose nodes run the `timed` of `bin_dir` (as
/// `TIMECOIN_BIN_DIR`) when given.
pub fn fresh_cluster_in(
    timectl: &Path,
    dir: &Path,
    nodes: usize,
    more: &[&str],
    bin_dir: Option<&Path>,
) -> anyhow::Result<Duration> {
    stop_cluster(timectl, dir);
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    eprintln!("timectl up --nodes {nodes} --dir {}", dir.display());
    let started = Instant::now();
    let mut up = Command::new(timectl);
    up.args(["up", "--nodes", &nodes.to_string(), "--dir"]).arg(dir).args(more);
    if let Some(bin_dir) = bin_dir {
        up.env("TIMECOIN_BIN_DIR", bin_dir);
    }
    let up = up.output().with_context(|| format!("running {}", timectl.display()))?;
    let took = started.elapsed();
    if !up.status.success() {
        bail!("timectl up failed ({}): {}", up.status, String::from_utf8_lossy(&up.stderr));
    }
    Ok(took)
}

/// Each node of the cluster in `dir`: its name and its pid.
pub fn node_pids(dir: &Path) -> anyhow::Result<Vec<(String, u32)>> {
    let layout = Layout::new(dir);
    let (file, _) = load_files(&layout)?;
    file.nodes
        .iter()
        .map(|node| {
            let info = read_node_info(&layout, &node.name)
                .with_context(|| format!("{} has no node.json", node.name))?;
            Ok((node.name.clone(), info.pid))
        })
        .collect()
}

/// What one node's `/metrics` says about its CPU: seconds by component
/// (`timed_cpu_seconds_total`) and transactions final there so far.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuSample {
    /// CPU seconds by component.
    pub components: BTreeMap<String, f64>,
    /// `timed_transactions_total{state="final"}`.
    pub final_txs: f64,
}

impl CpuSample {
    /// Reads it from the text of `/metrics`.
    pub fn parse(metrics: &str) -> CpuSample {
        let mut sample = CpuSample::default();
        for line in metrics.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            if let Some(component) = name
                .strip_prefix("timed_cpu_seconds_total{component=\"")
                .and_then(|rest| rest.strip_suffix("\"}"))
            {
                sample.components.insert(component.to_string(), value);
            } else if name == "timed_transactions_total{state=\"final\"}" {
                sample.final_txs = value;
            }
        }
        sample
    }
}

/// Every node's [`CpuSample`] now, in the cluster's order (a node that does
/// not answer gives an empty one).
pub async fn cpu_samples(dir: &Path) -> anyhow::Result<Vec<CpuSample>> {
    let layout = Layout::new(dir);
    let (file, _) = load_files(&layout)?;
    let mut samples = Vec::with_capacity(file.nodes.len());
    for node in &file.nodes {
        let text = match client::RpcClient::from_data_dir(&layout.data_dir(&node.name)) {
            Ok(rpc) => rpc.metrics().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        samples.push(CpuSample::parse(&text));
    }
    Ok(samples)
}

/// CPU microseconds per final transaction by component, averaged over
/// nodes, between two [`cpu_samples`] (components in `start`'s order of
/// names; `total` last).
pub fn cpu_per_tx(start: &[CpuSample], end: &[CpuSample]) -> Vec<(String, f64)> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (a, b) in start.iter().zip(end) {
        let txs = b.final_txs - a.final_txs;
        if txs <= 0.0 {
            continue;
        }
        let mut total = 0.0;
        for (component, spent) in &b.components {
            let used = spent - a.components.get(component).copied().unwrap_or(0.0);
            total += used;
            let entry = sums.entry(component.clone()).or_default();
            entry.0 += used / txs * 1e6;
            entry.1 += 1;
        }
        let entry = sums.entry("total".into()).or_default();
        entry.0 += total / txs * 1e6;
        entry.1 += 1;
    }
    let mut parts: Vec<(String, f64)> =
        sums.into_iter().map(|(name, (sum, n))| (name, sum / n as f64)).collect();
    parts.sort_by(|a, b| (a.0 == "total").cmp(&(b.0 == "total")).then(b.1.total_cmp(&a.1)));
    parts
}

/// Prints `table`, and writes it to `OUT/NAME.txt` and `data` to
/// `OUT/NAME.json`.
pub fn write_report(
    out: &Path,
    name: &str,
    table: &str,
    data: &impl Serialize,
) -> anyhow::Result<()> {
    print!("{table}");
    let text = out.join(format!("{name}.txt"));
    std::fs::write(&text, table).with_context(|| format!("writing {}", text.display()))?;
    let json = out.join(format!("{name}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(data)?)
        .with_context(|| format!("writing {}", json.display()))?;
    println!("\nwritten: {} and {}", text.display(), json.display());
    Ok(())
}

/// Least-squares slope of `points` (x, y) (`None` below two distinct x).
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in points {
        num += (x - mean_x) * (y - mean_y);
        den += (x - mean_x) * (x - mean_x);
    }
    (den > 0.0).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn cpu_per_transaction_from_two_scrapes() {
        let at = |verify: f64, store: f64, txs: f64| {
            let text = format!(
                "timed_cpu_seconds_total{{component=\"verify\"}} {verify}\n\
                 timed_cpu_seconds_total{{component=\"store\"}} {store}\n\
                 timed_transactions_total{{state=\"final\"}} {txs}\n\
                 timed_transactions_total{{state=\"pending\"}} 999\n"
            );
            super::CpuSample::parse(&text)
        };
        // Two nodes: 100 and 50 us of verification per transaction, 10 of store.
        let start = [at(1.0, 0.5, 1_000.0), at(2.0, 0.0, 0.0)];
        let end = [at(1.1, 0.51, 2_000.0), at(2.1, 0.02, 2_000.0)];
        let parts = super::cpu_per_tx(&start, &end);
        let get = |name: &str| parts.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert!((get("verify").unwrap() - 75.0).abs() < 1e-6, "{parts:?}");
        assert!((get("store").unwrap() - 10.0).abs() < 1e-6, "{parts:?}");
        assert!((get("total").unwrap() - 85.0).abs() < 1e-6, "{parts:?}");
        assert_eq!(parts.last().map(|(n, _)| n.as_str()), Some("total"));
    }

    #[test]
    fn slope_of_a_line_and_of_too_few_points() {
        assert_eq!(slope(&[(0.0, 10.0), (1.0, 12.0), (2.0, 14.0), (3.5, 17.0)]), Some(2.0));
        assert_eq!(slope(&[(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]), Some(0.0));
        assert_eq!(slope(&[(1.0, 7.0)]), None);
        assert_eq!(slope(&[]), None);
    }
}
