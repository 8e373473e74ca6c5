//! `make bench`: the cluster benchmark of TARGETS.md, measured on this
//! machine in one run and printed as one table (also written to
//! `OUT/bench.txt` and `OUT/bench.json`):
//!
//! 1. this machine's signature-verification rate (before anything else runs);
//! 2. `timectl up --nodes N` on a fresh cluster directory, timed;
//! 3. `loadgen` at `--tps` for `--duration` (1,000 tx/s for 60 s), sampling
//!    every node's RSS and CPU once a second;
//! 4. a sweep for the highest rate that keeps `--slo`
//!    (`final_first.p99<500ms`), from `--sweep-from` in `--sweep-step` steps;
//! 5. `timectl down`;
//! 6. one masternode (`timectl up --nodes 1` with a large coin pool), swept
//!    the same way once per `--single-threads` value of
//!    `node.verify_threads`: how far one node goes, and what a second
//!    verification thread gains.
//!
//! The fixed-rate run's CPU is also broken down by component from each
//! node's own counters (`timed_cpu_seconds_total`), per final transaction,
//! beside this machine's `verify_strict` rate measured in the same run.
//!
//! `cargo build --release --workspace && TIMECOIN_BIN_DIR=target/release \
//!  cargo run --release -p examples --example cluster_bench -- --help`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use cluster::status::{cpu_time_of, rss_of};
use loadgen::{RunConfig, Slo, Stop, SweepConfig, Target};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// The cluster benchmark: a fresh cluster, the `timectl up` time, a fixed-rate
/// run with RSS and CPU per node, a saturation sweep and this machine's
/// signature-verification rate, printed as one table.
#[derive(Parser, Debug)]
#[command(name = "cluster_bench")]
struct Args {
    /// Masternodes.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Rate of the fixed-rate run, tx/s.
    #[arg(long, default_value_t = 1000.0)]
    tps: f64,
    /// Length of the fixed-rate run.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// What each sweep step must keep.
    #[arg(long, default_value = "final_first.p99<500ms")]
    slo: String,
    /// First rate of the sweep, tx/s.
    #[arg(long, default_value_t = 250.0)]
    sweep_from: f64,
    /// Rate added per sweep step, tx/s.
    #[arg(long, default_value_t = 250.0)]
    sweep_step: f64,
    /// Highest rate the sweep tries, tx/s.
    #[arg(long, default_value_t = 10_000.0)]
    sweep_max: f64,
    /// Measured length of each sweep step.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    sweep_duration: Duration,
    /// `node.verify_threads` values the one-masternode sweep runs with
    /// (comma-separated; empty to skip it).
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    single_threads: Vec<usize>,
    /// Coins in the one-masternode cluster's pool (`timectl up --pool-coins`).
    #[arg(long, default_value_t = 64_000)]
    single_pool_coins: u32,
    /// First rate of the one-masternode sweep, tx/s.
    #[arg(long, default_value_t = 1000.0)]
    single_from: f64,
    /// Rate added per step of the one-masternode sweep, tx/s.
    #[arg(long, default_value_t = 500.0)]
    single_step: f64,
    /// Highest rate the one-masternode sweep tries, tx/s.
    #[arg(long, default_value_t = 20_000.0)]
    single_max: f64,
    /// Where the table, the runs' files and the cluster go (the cluster
    /// directory `OUT/cluster` is replaced).
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

/// One node's resources over the fixed-rate run.
#[derive(Clone, Debug, Default, Serialize)]
struct NodeUsage {
    name: String,
    rss_start_bytes: u64,
    rss_end_bytes: u64,
    rss_max_bytes: u64,
    cpu_percent: f64,
}

/// Everything the table shows, as JSON.
#[derive(Debug, Serialize)]
struct Bench {
    machine: String,
    cores: usize,
    nodes: usize,
    verify: examples::VerifyRates,
    timectl_up_s: f64,
    run_tps: f64,
    run_duration_s: f64,
    run: BTreeMap<String, Option<f64>>,
    usage: Vec<NodeUsage>,
    slo: String,
    highest_held_tps: Option<f64>,
    sweep_table: String,
    /// CPU µs per final transaction by component (mean of nodes), `total` last.
    cpu_per_tx: Vec<(String, f64)>,
    /// One masternode: `(verify_threads, highest rate held)`.
    single: Vec<(usize, Option<f64>)>,
}

/// The metrics of the fixed-rate run shown in the table.
const RUN_METRICS: [&str; 9] = [
    "achieved_tps",
    "final_ratio",
    "final_first.p50",
    "final_first.p99",
    "final_all.p99",
    "accepted.p99",
    "timed_out",
    "rounds_per_block",
    "cpu_percent",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let slo: Slo = args.slo.parse().map_err(|e| anyhow::anyhow!("--slo: {e}"))?;
    if args.nodes < 4 {
        bail!(
            "--nodes must be at least 4 (with fewer masternodes no fault is tolerated, which is not what this benchmark measures)"
        );
    }
    // Checked before anything runs: a mistake here must not cost a run.
    for (name, from, step, max) in [
        ("--sweep", args.sweep_from, args.sweep_step, args.sweep_max),
        ("--single", args.single_from, args.single_step, args.single_max),
    ] {
        if !(from > 0.0 && step > 0.0 && max >= from) {
            bail!("{name}-from must be above 0 and at most {name}-max, and {name}-step above 0");
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let timectl = cluster::binaries::find("timectl")?;
    let dir = args.out.join("cluster");
    examples::stop_cluster(&timectl, &dir);

    eprintln!("bench: signature verification rate (6 s)");
    let verify = tokio::task::spawn_blocking(|| examples::verify_rates(Duration::from_secs(2)))
        .await?
        .map_err(anyhow::Error::msg)?;

    let timectl_up_s = examples::fresh_cluster(&timectl, &dir, args.nodes)?.as_secs_f64();
    let result = measure(&args, &dir, slo.clone()).await;
    examples::stop_cluster(&timectl, &dir);
    examples::drop_stores(&dir);
    let (run, usage, cpu_per_tx, sweep) = result?;
    let mut single = Vec::new();
    for &threads in &args.single_threads {
        single.push((threads, single_node(&args, &timectl, slo.clone(), threads).await?));
    }

    let bench = Bench {
        machine: cpu_model(),
        cores: verify.threads,
        nodes: args.nodes,
        verify,
        timectl_up_s,
        run_tps: args.tps,
        run_duration_s: args.duration.as_secs_f64(),
        run: RUN_METRICS.iter().map(|m| (m.to_string(), run.get(m))).collect(),
        usage,
        slo: sweep.slo.clone(),
        highest_held_tps: sweep.highest_held_tps,
        sweep_table: loadgen::sweep::table(&sweep),
        cpu_per_tx,
        single,
    };
    examples::write_report(&args.out, "bench", &render(&bench), &bench)
}

/// One masternode with `verify_threads`, swept: the highest rate that held.
async fn single_node(
    args: &Args,
    timectl: &Path,
    slo: Slo,
    threads: usize,
) -> anyhow::Result<Option<f64>> {
    let dir = args.out.join("single");
    let coins = args.single_pool_coins.to_string();
    examples::fresh_cluster_with(timectl, &dir, 1, &["--pool-coins", &coins])?;
    let result = async {
        let config = cluster::Layout::new(&dir).config("node1");
        let text = std::fs::read_to_string(&config)
            .with_context(|| format!("reading {}", config.display()))?;
        if !text.contains("[node]\n") {
            bail!("{} has no [node] section", config.display());
        }
        let text = text.replacen("[node]\n", &format!("[node]\nverify_threads = {threads}\n"), 1);
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let restart = std::process::Command::new(timectl)
            .args(["restart", "node1", "--dir"])
            .arg(&dir)
            .output()
            .context("running timectl restart")?;
        if !restart.status.success() {
            bail!("timectl restart failed: {}", String::from_utf8_lossy(&restart.stderr));
        }
        eprintln!("bench: one masternode, verify_threads = {threads}");
        let target =
            Target::ClusterDir { dir: dir.to_path_buf(), dev_wallet: false, only: Vec::new() };
        let mut base = RunConfig::new(target);
        base.progress = true;
        base.command_line = std::env::args().collect();
        let sweep = SweepConfig {
            base,
            slo,
            from: args.single_from,
            step: args.single_step,
            max: args.single_max,
            duration: args.sweep_duration,
            out: Some(args.out.join(format!("single-{threads}"))),
        };
        let swept = loadgen::sweep(&sweep, CancellationToken::new()).await?;
        Ok(swept.highest_held_tps)
    }
    .await;
    examples::stop_cluster(timectl, &dir);
    examples::drop_stores(&dir);
    result
}

/// What [`measure`] returns.
type Measured =
    (loadgen::metrics::Metrics, Vec<NodeUsage>, Vec<(String, f64)>, loadgen::sweep::SweepOutcome);

/// The fixed-rate run (with resource sampling and the CPU breakdown) and
/// the sweep.
async fn measure(args: &Args, dir: &Path, slo: Slo) -> anyhow::Result<Measured> {
    let pids = examples::node_pids(dir)?;
    let target = Target::ClusterDir { dir: dir.to_path_buf(), dev_wallet: false, only: Vec::new() };
    let stop = CancellationToken::new();

    let mut config = RunConfig::new(target.clone());
    config.tps = args.tps;
    config.stop = Stop::Duration(args.duration);
    config.out = Some(args.out.join(format!("run-{}", args.tps)));
    config.progress = true;
    config.command_line = std::env::args().collect();
    eprintln!("bench: {} tx/s for {:?}", args.tps, args.duration);
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn(sample_usage(pids, sampling.clone()));
    let cpu_start = examples::cpu_samples(dir).await?;
    let outcome = loadgen::run(&config, stop.clone()).await;
    let cpu_end = examples::cpu_samples(dir).await?;
    sampling.cancel();
    let usage = sampler.await?;
    let outcome = outcome?;
    if !outcome.safety.ok {
        bail!("the {} tx/s run failed its safety checks: see {}", args.tps, args.out.display());
    }

    let mut base = RunConfig::new(target);
    base.progress = true;
    base.command_line = config.command_line.clone();
    let sweep = SweepConfig {
        base,
        slo,
        from: args.sweep_from,
        step: args.sweep_step,
        max: args.sweep_max,
        duration: args.sweep_duration,
        out: Some(args.out.join("sweep")),
    };
    let swept = loadgen::sweep(&sweep, stop).await?;
    Ok((outcome.metrics, usage, examples::cpu_per_tx(&cpu_start, &cpu_end), swept))
}

/// Samples RSS and CPU of every node once a second until `done`.
async fn sample_usage(pids: Vec<(String, u32)>, done: CancellationToken) -> Vec<NodeUsage> {
    let started = Instant::now();
    let cpu_start: Vec<Option<Duration>> =
        pids.iter().map(|(_, pid)| cpu_time_of(&pid.to_string())).collect();
    let mut usage: Vec<NodeUsage> = pids
        .iter()
        .map(|(name, pid)| {
            let rss = rss_of(*pid).unwrap_or(0);
            NodeUsage {
                name: name.clone(),
                rss_start_bytes: rss,
                rss_end_bytes: rss,
                rss_max_bytes: rss,
                cpu_percent: 0.0,
            }
        })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            _ = tick.tick() => {}
        }
        for ((_, pid), node) in pids.iter().zip(&mut usage) {
            if let Some(rss) = rss_of(*pid) {
                node.rss_end_bytes = rss;
                node.rss_max_bytes = node.rss_max_bytes.max(rss);
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    for (((_, pid), node), start) in pids.iter().zip(&mut usage).zip(cpu_start) {
        if let (Some(start), Some(end)) = (start, cpu_time_of(&pid.to_string())) {
            node.cpu_percent = 100.0 * end.saturating_sub(start).as_secs_f64() / wall;
        }
    }
    usage
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn mb(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1 << 20) as f64)
}

fn metric(bench: &Bench, name: &str) -> String {
    bench.run.get(name).copied().flatten().map_or("-".into(), |v| {
        let unit = if name.contains(".p") { " ms" } else { "" };
        if v.fract() == 0.0 { format!("{v}{unit}") } else { format!("{v:.2}{unit}") }
    })
}

/// The table, as printed and written to `bench.txt`.
fn render(bench: &Bench) -> String {
    let mut rows: Vec<(String, &str, String)> = Vec::new();
    let run = format!("loadgen --tps {} for {} s", bench.run_tps, bench.run_duration_s);
    rows.push((
        format!("timectl up --nodes {} to ready", bench.nodes),
        "< 2 s",
        format!("{:.2} s", bench.timectl_up_s),
    ));
    rows.push((format!("{run}: achieved_tps"), "", metric(bench, "achieved_tps")));
    rows.push(("  final_ratio".into(), ">= 0.999", metric(bench, "final_ratio")));
    rows.push(("  final_first.p50".into(), "<= 15 ms", metric(bench, "final_first.p50")));
    rows.push(("  final_first.p99".into(), "<= 50 ms", metric(bench, "final_first.p99")));
    rows.push(("  final_all.p99".into(), "", metric(bench, "final_all.p99")));
    rows.push(("  accepted.p99".into(), "", metric(bench, "accepted.p99")));
    rows.push(("  timed_out".into(), "", metric(bench, "timed_out")));
    rows.push(("  rounds_per_block".into(), "", metric(bench, "rounds_per_block")));
    rows.push((
        format!("saturation: highest rate with {}", bench.slo),
        ">= 5,000 tx/s",
        bench.highest_held_tps.map_or("none held".into(), |t| format!("{t} tx/s")),
    ));
    for node in &bench.usage {
        rows.push((
            format!("{} RSS start / end / max (MB)", node.name),
            "<= 64 MB, flat",
            format!(
                "{} / {} / {}",
                mb(node.rss_start_bytes),
                mb(node.rss_end_bytes),
                mb(node.rss_max_bytes)
            ),
        ));
    }
    let cpu: Vec<String> = bench.usage.iter().map(|n| format!("{:.0}", n.cpu_percent)).collect();
    rows.push((
        "CPU during the run, % of one core".into(),
        "",
        format!("nodes {} | loadgen {}", cpu.join(" "), metric(bench, "cpu_percent")),
    ));
    let v = &bench.verify;
    if let Some((_, total)) = bench.cpu_per_tx.iter().find(|(n, _)| n == "total") {
        let strict_us = 1e6 / v.strict_1_thread;
        rows.push((
            "node CPU per final transaction (mean of nodes)".into(),
            "",
            format!("{total:.0} us"),
        ));
        rows.push((
            "  / one verify_strict, same run".into(),
            "<= 2.5 (1.5 batched)",
            format!("{:.1} ({strict_us:.1} us each)", total / strict_us),
        ));
        let parts: Vec<String> = bench
            .cpu_per_tx
            .iter()
            .filter(|(n, _)| n != "total")
            .map(|(n, us)| format!("{n} {us:.0}"))
            .collect();
        rows.push(("  by component, us per transaction".into(), "", parts.join(" | ")));
    }
    for (threads, held) in &bench.single {
        rows.push((
            format!("one masternode, verify_threads = {threads}: highest rate held"),
            "reported",
            held.map_or("none held".into(), |t| format!("{t} tx/s")),
        ));
    }
    if let [(1, Some(one)), (2, Some(two)), ..] = bench.single.as_slice() {
        rows.push((
            "  gain from 1 to 2 verification threads".into(),
            ">= 1.7x",
            format!("{:.2}x", two / one),
        ));
    }
    rows.push((
        "ed25519 verify_strict, 1 thread (yardstick)".into(),
        "",
        format!("{:.0}/s", v.strict_1_thread),
    ));
    rows.push((
        "ZIP-215 (the rule) one by one, 1 thread".into(),
        "",
        format!("{:.0}/s", v.one_by_one_1_thread),
    ));
    rows.push((
        format!("ZIP-215 in batches of {}, 1 thread", examples::BATCH),
        "",
        format!("{:.0}/s", v.batch_1_thread),
    ));
    rows.push((
        format!("ZIP-215 in batches of {}, {} threads", examples::BATCH, v.threads),
        "",
        format!("{:.0}/s", v.batch_all_threads),
    ));

    let width = rows.iter().map(|(m, _, _)| m.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TimeCoin cluster benchmark: {} nodes on {} cores ({})",
        bench.nodes, bench.cores, bench.machine
    );
    let _ = writeln!(out, "{:width$}  {:16}  measured", "measure", "target");
    for (measure, target, value) in &rows {
        let _ = writeln!(out, "{measure:width$}  {target:16}  {value}");
    }
    let _ = writeln!(out, "\nsweep ({}):\n{}", bench.slo, bench.sweep_table);
    out
}
