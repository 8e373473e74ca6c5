//! `make soak`: memory under steady load, measured. A fresh cluster takes
//! `--tps` (1,000 tx/s) for `--duration` (10 minutes) while every node's
//! RSS is sampled once a minute; it prints the RSS of each node at each
//! minute and each node's slope under load (least squares from the second
//! sample on, so start-up allocation does not count, to the last one taken
//! while the load ran; the sample after loadgen returns is shown apart),
//! against TARGETS.md's
//! "≤ 64 MB, flat (slope < 1 MB/min)". The table also goes to
//! `OUT/soak.txt` and `OUT/soak.json`, loadgen's report to `OUT/run`.
//!
//! `cargo build --release --workspace && TIMECOIN_BIN_DIR=target/release \
//!  cargo run --release -p examples --example soak -- --help`

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use cluster::status::rss_of;
use loadgen::{RunConfig, Stop, Target};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Memory under steady load: RSS of every node once a minute, and its slope.
#[derive(Parser, Debug)]
#[command(name = "soak")]
struct Args {
    /// Masternodes.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Rate, tx/s.
    #[arg(long, default_value_t = 1000.0)]
    tps: f64,
    /// How long the load runs.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How often RSS is sampled.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    every: Duration,
    /// Where the table, the run's files and the cluster go (the cluster
    /// directory `OUT/cluster` is replaced).
    #[arg(long, default_value = "target/soak")]
    out: PathBuf,
}

/// One node's samples.
#[derive(Debug, Serialize)]
struct NodeRss {
    name: String,
    /// RSS in bytes at each sample (the first at the start of the load).
    rss_bytes: Vec<u64>,
    /// Least-squares slope from the second sample on, MB per minute.
    slope_mb_per_min: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Soak {
    nodes: usize,
    tps: f64,
    duration_s: f64,
    every_s: f64,
    final_first_p50_ms: Option<f64>,
    final_first_p99_ms: Option<f64>,
    sent: Option<f64>,
    final_ratio: Option<f64>,
    /// When each sample was taken, seconds after the load started.
    at_s: Vec<f64>,
    rss: Vec<NodeRss>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let timectl = cluster::binaries::find("timectl")?;
    let dir = args.out.join("cluster");
    examples::fresh_cluster(&timectl, &dir, args.nodes)?;
    let result = soak(&args, &dir).await;
    examples::stop_cluster(&timectl, &dir);
    examples::drop_stores(&dir);
    let soak = result?;
    examples::write_report(&args.out, "soak", &render(&soak), &soak)
}

async fn soak(args: &Args, dir: &std::path::Path) -> anyhow::Result<Soak> {
    let pids = examples::node_pids(dir)?;
    let mut config = RunConfig::new(Target::ClusterDir {
        dir: dir.to_path_buf(),
        dev_wallet: false,
        only: Vec::new(),
    });
    config.tps = args.tps;
    config.stop = Stop::Duration(args.duration);
    config.out = Some(args.out.join("run"));
    config.progress = true;
    config.command_line = std::env::args().collect();
    eprintln!("soak: {} tx/s for {:?}, RSS every {:?}", args.tps, args.duration, args.every);
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn(sample(pids, args.every, sampling.clone()));
    let outcome = loadgen::run(&config, CancellationToken::new()).await;
    sampling.cancel();
    let (at_s, rss) = sampler.await?;
    let outcome = outcome?;
    if !outcome.safety.ok {
        bail!("the soak failed its safety checks: see {}", args.out.display());
    }
    let metric = |name: &str| outcome.metrics.get(name);
    Ok(Soak {
        nodes: args.nodes,
        tps: args.tps,
        duration_s: args.duration.as_secs_f64(),
        every_s: args.every.as_secs_f64(),
        final_first_p50_ms: metric("final_first.p50"),
        final_first_p99_ms: metric("final_first.p99"),
        sent: metric("sent"),
        final_ratio: metric("final_ratio"),
        at_s,
        rss,
    })
}

/// RSS of every node now and every `every` until `done` (and once more at
/// the end), with the times of the samples in seconds.
async fn sample(
    pids: Vec<(String, u32)>,
    every: Duration,
    done: CancellationToken,
) -> (Vec<f64>, Vec<NodeRss>) {
    let mut nodes: Vec<NodeRss> = pids
        .iter()
        .map(|(name, _)| NodeRss {
            name: name.clone(),
            rss_bytes: Vec::new(),
            slope_mb_per_min: None,
        })
        .collect();
    let started = Instant::now();
    let mut at_s = Vec::new();
    let mut tick = tokio::time::interval(every);
    loop {
        let stop = tokio::select! {
            _ = done.cancelled() => true,
            _ = tick.tick() => false,
        };
        at_s.push(started.elapsed().as_secs_f64());
        for ((_, pid), node) in pids.iter().zip(&mut nodes) {
            node.rss_bytes.push(rss_of(*pid).unwrap_or(0));
        }
        if stop {
            break;
        }
    }
    let under_load = at_s.len().saturating_sub(1);
    for node in &mut nodes {
        // From the second sample on: start-up allocation does not count;
        // the last one, taken when loadgen returned (after its drain and
        // safety checks), is not under load and does not count either.
        let points: Vec<(f64, f64)> = at_s
            .iter()
            .zip(&node.rss_bytes)
            .take(under_load)
            .skip(1)
            .map(|(at, rss)| (at / 60.0, *rss as f64 / (1 << 20) as f64))
            .collect();
        node.slope_mb_per_min = examples::slope(&points);
    }
    (at_s, nodes)
}

fn render(soak: &Soak) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TimeCoin soak: {} nodes, {} tx/s for {:.0} s; RSS (MB) every {:.0} s; target <= 64 MB, slope < 1 MB/min",
        soak.nodes, soak.tps, soak.duration_s, soak.every_s
    );
    let samples = soak.rss.first().map_or(0, |n| n.rss_bytes.len());
    let _ = write!(out, "{:>8}", "sample");
    for node in &soak.rss {
        let _ = write!(out, " {:>8}", node.name);
    }
    let _ = writeln!(out);
    for i in 0..samples {
        let at = soak.at_s.get(i).copied().unwrap_or(0.0);
        if i + 1 == samples {
            let _ = writeln!(out, "after the load (loadgen's drain and safety checks):");
        }
        let _ = write!(out, "{at:>7.0}s");
        for node in &soak.rss {
            let mb = node.rss_bytes.get(i).map_or(0.0, |b| *b as f64 / (1 << 20) as f64);
            let _ = write!(out, " {mb:>8.0}");
        }
        let _ = writeln!(out);
    }
    let _ = write!(out, "{:>8}", "MB/min");
    for node in &soak.rss {
        match node.slope_mb_per_min {
            Some(s) => {
                let _ = write!(out, " {s:>8.2}");
            }
            None => {
                let _ = write!(out, " {:>8}", "-");
            }
        }
    }
    let _ = writeln!(out);
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} ms"));
    let _ = writeln!(
        out,
        "sent {} | final_ratio {} | final_first p50 {} p99 {}",
        soak.sent.map_or("-".into(), |v| format!("{v:.0}")),
        soak.final_ratio.map_or("-".into(), |v| format!("{v:.5}")),
        ms(soak.final_first_p50_ms),
        ms(soak.final_first_p99_ms)
    );
    out
}
