//! `make chaos`: every scenario of [`examples::scenarios::FULL`] (or the
//! short set, `--short`) on a fresh cluster of real processes under steady
//! load, judged by `loadgen verify`'s checker; prints one table and writes
//! it to `OUT/chaos.txt`, the rows to `OUT/chaos.json`, each run's loadgen
//! report to `OUT/<scenario>/run`. Exits non-zero when a scenario fails.
//!
//! `cargo build --release -p timed -p timectl -p loadgen -p examples --bins --examples && \
//!  TIMECOIN_BIN_DIR=target/release target/release/examples/chaos --help`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use examples::scenarios::{self, Scenario};

/// Runs the chaos scenarios and prints the reliability table.
#[derive(Parser, Debug)]
#[command(name = "chaos")]
struct Args {
    /// Offered load during every scenario, tx/s. The default is a rate
    /// this 2-core machine holds with every fault (stated in the table).
    #[arg(long, default_value_t = 500.0)]
    tps: f64,
    /// Masternodes.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Only these scenarios (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The short set (what `make test` runs) instead of the full one.
    #[arg(long)]
    short: bool,
    /// Where the table, the runs and the clusters go.
    #[arg(long, default_value = "target/chaos")]
    out: PathBuf,
    /// Keep every row's node stores (by default a passing row's are
    /// removed once it is judged, logs kept: a full table leaves GBs).
    #[arg(long)]
    keep_stores: bool,
    /// The test build's directory (`make build`), whose `timed` carries
    /// `--byzantine`, for the byz-* rows.
    #[arg(long, default_value = "target/debug")]
    test_build: PathBuf,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let set = if args.short { scenarios::SHORT } else { scenarios::FULL };
    let known: Vec<&str> = set.iter().map(|s| s.name).collect();
    if let Some(unknown) = args.only.iter().find(|n| !known.contains(&n.as_str())) {
        anyhow::bail!("no scenario named {unknown:?} (there are: {})", known.join(", "));
    }
    let chosen: Vec<&Scenario> = set
        .iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|n| n == s.name))
        .collect();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bins = scenarios::Bins {
        timectl: cluster::binaries::find("timectl")?,
        test_build: args.test_build.join("timed").is_file().then(|| args.test_build.clone()),
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for (i, scenario) in chosen.iter().enumerate() {
        eprintln!(
            "chaos: [{}/{}] {} ({} s of load at {} tx/s): {}",
            i + 1,
            chosen.len(),
            scenario.name,
            scenario.load_s,
            if scenario.test_build { scenarios::TEST_BUILD_TPS } else { args.tps },
            scenario.proves
        );
        let row = scenarios::run(scenario, args.tps, args.nodes, &args.out, &bins).await;
        eprintln!("chaos: {} {}", scenario.name, if row.passed { "passed" } else { "FAILED" });
        if row.passed && !args.keep_stores {
            scenarios::drop_stores(&args.out, scenario);
        }
        rows.push(row);
    }
    scenarios::judge_throughput(&mut rows);
    let table = scenarios::table(&rows, args.nodes, started.elapsed());
    examples::write_report(&args.out, "chaos", &table, &rows)?;
    if let Err(e) = scenarios::check(&rows) {
        eprintln!("chaos: {e}");
        std::process::exit(1);
    }
    Ok(())
}
