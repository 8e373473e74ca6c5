//! The command line: `loadgen [OPTIONS]` (a run), `loadgen compare A B`,
//! `loadgen sweep --slo ...`. Parsing, turning options into a
//! [`RunConfig`], printing and exit codes; the work is in the library.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::compare;
use crate::config::{KeyRange, RunConfig, Stop, Target};
use crate::error::{
    EXIT_COULD_NOT_RUN, EXIT_OK, EXIT_REGRESSION, EXIT_SAFETY, EXIT_SLO_VIOLATED, EXIT_USAGE,
    LoadgenError,
};
use crate::report;
use crate::run::run;
use crate::slo::Slo;
use crate::sweep::{self, SweepConfig};
use crate::verify;

const ABOUT: &str = "Floods a TimeCoin cluster with signed multi-input transactions at an exact open-loop rate and measures every transaction's finality latency";

const LONG_ABOUT: &str = "\
Floods a TimeCoin cluster with signed multi-input transactions at an exact
open-loop rate, follows every transaction's fate on the event streams of every
node, and measures its latency from its INTENDED send time (a stalled sender
cannot hide latency: no coordinated omission).

It finds the cluster in ./.timecluster (or --dir), or takes RPC URLs (--rpc)
with key files (--keys) or a timed --dev data dir (--datadir, --wallet). It
pays from the cluster's pre-split coin pool, rebuilt from listunspent at start
(so a second run on the same cluster works), and reuses change once final.
Before sending anything it checks that every node answers, is on one chain,
and that the pool can carry the plan.

Nodes whose RPC listens off loopback (in a Kubernetes pod, say) want
credentials. For nodes configured with rpc.auth = \"token\", put their
rpc.token in a file (a mounted Secret) and pass --rpc-token-file FILE with
--rpc, or set TIMECOIN_RPC_TOKEN_FILE=FILE: every request loadgen makes to
them, event streams included, sends it as `Authorization: Bearer`.

It prints a live progress line on stderr and a summary on stdout: offered vs
achieved rate, fates (sent = final + rejected + conflicted + lost + timed
out), latency percentiles of three stages (accepted by the RPC, final on the
first node, final on every node), consensus health, safety checks, and why the
rate was not kept when it was not. --out DIR writes summary.json, per-second
and per-transaction CSVs, .hgrm percentile distributions, an HdrHistogram
interval log and a self-contained report.html.

Metric names (summary, summary.json, --slo, compare): offered_tps,
achieved_tps, send_tps, final_ratio, accepted.p50|p90|p99|p999|max,
final_first.p50|..., final_all.p50|... (ms), send_lag.p99|max, sent, final,
rejected, conflicted, lost, timed_out, warmup_excluded, double_spend_pairs,
double_spend_both_final, view_changes, rounds_per_block, max_height_spread,
max_no_block_s, max_no_final_s, cpu_percent.";

const AFTER_HELP: &str = "\
Examples:
  timectl up --nodes 5
  loadgen --tps 1000 --duration 30s --out /tmp/run1
  loadgen --tps 2000 --duration 60s --warmup 5s --slo 'final_first.p99<250ms,final_ratio>=0.999'
  loadgen --tps 500 --count 10000 --double-spend-pct 5 --seed 7
  loadgen --keys 1/2 --tps 500 --out /tmp/g1 & loadgen --keys 2/2 --tps 500 --out /tmp/g2
  loadgen merge /tmp/g1 /tmp/g2     (two generators, disjoint coins: one report, exact percentiles)
  loadgen --rpc http://127.0.0.1:24001 --datadir /tmp/dev --wallet --tps 50   (one timed --dev)
  loadgen --rpc http://timed-0.timed:24001 http://timed-1.timed:24001 \\
      --rpc-token-file /etc/timecoin/rpc-token --keys /keys/pool.key --tps 200
      (nodes with rpc.auth = \"token\", e.g. in Kubernetes: a mounted Secret holds their rpc.token)
  loadgen compare /tmp/run1 /tmp/run2 --threshold 10     (exit 5 on a regression beyond 10 %)
  loadgen verify /tmp/run1     (after the run: nothing lost, same blocks, supply conserved)
  loadgen sweep --slo 'final_first.p99<500ms' --from 500 --step 500 --max 10000 --duration 20s --out /tmp/sweep

Exit codes:
  0  the run completed (and the --slo, if any, was met)
  1  the --slo was violated
  2  usage error (bad option, rate 0, unknown SLO metric)
  3  could not run: no cluster, a node unreachable or refusing the credentials, too
     few coins, a --keys or --rpc-token-file file not readable, files not writable
  4  safety violation: a conflicting pair both final, nodes disagreeing on final
     transactions or block hashes, or accounting that does not close
  5  compare: B is worse than A beyond --threshold";

/// loadgen's command line.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// compare or sweep (without one: a run).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The run's options.
    #[command(flatten)]
    pub run: RunArgs,
    /// Diagnostics on stderr (warnings; more with RUST_LOG=loadgen=debug):
    /// text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = client::logging::LogFormat::Pretty)]
    pub log_format: client::logging::LogFormat,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the completion script for SHELL (bash, zsh, fish, elvish, powershell); e.g. `source <(loadgen completions bash)`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print this program's man page (roff): `loadgen man | man -l -`, or save it as loadgen.1 in a man1 directory.
    Man,
    /// Merge the --out directories of generators that ran side by side with disjoint keys (--keys i/n) into one report: latency percentiles from their summed histograms, counts and rates added, each generator's send lag apart.
    Merge {
        /// The generators' --out directories.
        #[arg(required = true, num_args = 1.., value_name = "RUN_DIR")]
        dirs: Vec<PathBuf>,
        /// Also write the merged summary.json (which `loadgen compare` reads) and summary.txt here.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the merged summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare two runs' --out directories: every metric, absolute and relative difference, better or worse; exit 5 when B is worse than A beyond --threshold.
    Compare {
        /// The first run's directory (or its summary.json).
        a: PathBuf,
        /// The second run's directory.
        b: PathBuf,
        /// Changes smaller than this percent of A are noise ("same"); this machine's run-to-run noise decides it (back-to-back runs of one build tell).
        #[arg(long, default_value_t = 5.0, value_name = "PCT", value_parser = parse_threshold)]
        threshold: f64,
        /// Print the comparison as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run steps at increasing rates until the SLO fails; print the highest rate that held.
    ///
    /// Before each step loadgen waits (up to 2 minutes) until the cluster has
    /// settled: nothing final waiting for a block and mempools no longer
    /// changing, so a step does not measure the backlog of the one before.
    Sweep(Box<SweepArgs>),
    /// Check a finished run against every node: nothing final lost, no conflicting pair final, same blocks, no double spend, supply conserved, no equivocation, no height went back.
    ///
    /// RUN_DIR is the --out directory of a run (history.csv, summary.json).
    /// Every transaction the history says became final must be final or
    /// committed on every node; nodes that are behind are asked again for up
    /// to --wait. A node that does not answer fails the check. Exit 0 when
    /// every check passed, 4 on a violation, 3 when it could not run.
    Verify(VerifyArgs),
}

/// Where the nodes are: a cluster directory, or RPC URLs (with a token).
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The cluster directory (cluster.json, node.json of every node, pool keys).
    #[arg(long, default_value = cluster::layout::DEFAULT_DIR, value_name = "DIR")]
    pub dir: PathBuf,
    /// RPC URLs of the nodes, instead of a cluster directory.
    #[arg(long, num_args = 1.., value_name = "URL")]
    pub rpc: Vec<String>,
    /// A file holding the token of the --rpc nodes, for nodes configured with
    /// rpc.auth = "token" (the file holds their rpc.token; whitespace around
    /// it is ignored): sent as `Authorization: Bearer` on every request.
    /// Only with --rpc.
    #[arg(long, value_name = "FILE", env = "TIMECOIN_RPC_TOKEN_FILE")]
    pub rpc_token_file: Option<PathBuf>,
}

/// `loadgen verify`'s options.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The run's --out directory.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// Where the nodes are.
    #[command(flatten)]
    pub target: TargetArgs,
    /// How long to wait for nodes that have not finalized every transaction yet (e.g. a node restarted during the run).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub wait: Duration,
    /// The run's Byzantine nodes, comma-separated: they are not checked, and equivocation evidence at the others is expected.
    #[arg(long, value_delimiter = ',', value_name = "NODES")]
    pub byzantine: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options shared by runs and sweeps.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Where the nodes are.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only these nodes of the cluster take load and are watched,
    /// comma-separated (default: all), e.g. to leave out a node under test.
    #[arg(long, value_delimiter = ',', value_name = "NODES")]
    pub nodes: Vec<String>,
    /// Key files whose coins pay (with --rpc), and/or a disjoint share of the keys: i/n (e.g. 2/3) for concurrent generators.
    #[arg(long, num_args = 1.., value_name = "FILE|i/n")]
    pub keys: Vec<String>,
    /// A timed --dev data dir: its node.json gives the URL (if no --rpc) and the dev wallet (--wallet).
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// Pay from the dev wallet (of --datadir's node.json, or of the cluster) instead of the pool.
    #[arg(long)]
    pub wallet: bool,
    /// Inputs per transaction, each signed by a different key.
    #[arg(long, default_value_t = 2)]
    pub inputs: usize,
    /// Outputs per transaction (all back to loadgen's keys).
    #[arg(long, default_value_t = 2)]
    pub outputs: usize,
    /// At most N transactions without a fate at once (closed-loop mode).
    #[arg(long, value_name = "N")]
    pub inflight: Option<usize>,
    /// Warm-up before the measured part, excluded from the statistics (e.g. 5s).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// Seed of every random choice (which slots are conflicting pairs).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Percent of slots that send a conflicting pair to two different nodes.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub double_spend_pct: f64,
    /// A transaction without a fate this long after its intended send time is timed out.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Signing threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A run's options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Offered rate: transactions per second, open loop.
    #[arg(long, default_value_t = 100.0)]
    pub tps: f64,
    /// Length of the measured part (e.g. 30s, 2m).
    #[arg(long, value_parser = parse_duration, default_value = "30s", conflicts_with = "count")]
    pub duration: Duration,
    /// Send this many transactions (after the warm-up) instead of --duration.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Service-level objective, e.g. 'final_first.p99<250ms,final_ratio>=0.999' (exit 1 when violated).
    #[arg(long, value_parser = parse_slo)]
    pub slo: Option<Slo>,
    /// Write summary.json, per_second.csv, history.csv, *.hgrm, interval.hlog and report.html here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print summary.json on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// The shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// A sweep's options.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// What must hold at each step, e.g. 'final_first.p99<500ms'.
    #[arg(long, value_parser = parse_slo)]
    pub slo: Slo,
    /// First rate.
    #[arg(long, default_value_t = 500.0)]
    pub from: f64,
    /// Rate added per step.
    #[arg(long, default_value_t = 500.0)]
    pub step: f64,
    /// Highest rate tried.
    #[arg(long, default_value_t = 10_000.0)]
    pub max: f64,
    /// Measured length of each step.
    #[arg(long, value_parser = parse_duration, default_value = "20s")]
    pub duration: Duration,
    /// Write each step's files to `DIR/step-<rate>/` and the result to `DIR/sweep.json`.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The shared options.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Refuses a token file no `--rpc` node would get: a cluster directory's
/// nodes are reached with the cookie of each node's data dir, and
/// `--datadir` alone with that node's cookie.
fn check_token_file(
    token_file: Option<&Path>,
    rpc: &[String],
    dir: &Path,
    datadir: Option<&Path>,
) -> Result<(), LoadgenError> {
    if token_file.is_none() || !rpc.is_empty() {
        return Ok(());
    }
    Err(LoadgenError::Usage(match datadir {
        Some(_) => crate::config::TOKEN_FILE_NEEDS_RPC.into(),
        None => format!(
            "--rpc-token-file (or TIMECOIN_RPC_TOKEN_FILE) is for nodes given by --rpc URL..., \
             not for a cluster directory: with {} loadgen reaches every node with the cookie of \
             its data dir. Pass the nodes' URLs with --rpc, or drop the option (unset \
             TIMECOIN_RPC_TOKEN_FILE)",
            dir.display()
        ),
    }))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 30s, 500ms, 2m)"))
}

fn parse_threshold(text: &str) -> Result<f64, String> {
    match text.strip_suffix('%').unwrap_or(text).parse::<f64>() {
        Ok(pct) if pct.is_finite() && pct >= 0.0 => Ok(pct),
        _ => Err(format!("{text:?} is not a percentage (e.g. 5 or 12.5)")),
    }
}

fn parse_slo(text: &str) -> Result<Slo, String> {
    text.parse()
}

impl CommonArgs {
    /// The run configuration these options describe (rate and length from the caller).
    pub fn config(&self, command_line: Vec<String>) -> Result<RunConfig, LoadgenError> {
        let mut ranges = Vec::new();
        let mut files = Vec::new();
        for key in &self.keys {
            if key.contains('/')
                && key.split('/').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            {
                ranges.push(key.parse::<KeyRange>().map_err(LoadgenError::Usage)?);
            } else {
                files.push(PathBuf::from(key));
            }
        }
        if ranges.len() > 1 {
            return Err(LoadgenError::Usage("give one key range i/n at most".into()));
        }
        check_token_file(
            self.target.rpc_token_file.as_deref(),
            &self.target.rpc,
            &self.target.dir,
            self.datadir.as_deref(),
        )?;
        let target = if self.target.rpc.is_empty() && self.datadir.is_none() {
            if !files.is_empty() {
                return Err(LoadgenError::Usage(
                    "key files need --rpc URL (with a cluster directory loadgen uses the pool keys)".into(),
                ));
            }
            Target::ClusterDir {
                dir: self.target.dir.clone(),
                dev_wallet: self.wallet,
                only: self.nodes.clone(),
            }
        } else {
            Target::Rpc {
                urls: self.target.rpc.clone(),
                key_files: files,
                datadir: self.datadir.clone(),
                dev_wallet: self.wallet,
                token_file: self.target.rpc_token_file.clone(),
            }
        };
        let mut config = RunConfig::new(target);
        config.keys = ranges.first().copied().unwrap_or(KeyRange::ALL);
        config.inputs = self.inputs;
        config.outputs = self.outputs;
        config.inflight = self.inflight;
        config.warmup = self.warmup;
        config.seed = self.seed;
        config.double_spend_pct = self.double_spend_pct;
        config.timeout = self.timeout;
        config.workers = self.workers;
        config.progress = !self.quiet;
        config.command_line = command_line;
        Ok(config)
    }
}

impl RunArgs {
    /// The run configuration.
    pub fn config(&self, command_line: Vec<String>) -> Result<RunConfig, LoadgenError> {
        let mut config = self.common.config(command_line)?;
        config.tps = self.tps;
        config.stop = match self.count {
            Some(n) => Stop::Count(n),
            None => Stop::Duration(self.duration),
        };
        config.slo = self.slo.clone();
        config.out = self.out.clone();
        config.validate()?;
        Ok(config)
    }
}

fn fail(e: &LoadgenError) -> i32 {
    eprintln!("loadgen: error: {e}");
    e.exit_code()
}

/// Runs the command; returns the exit code. `stop` ends a run's sending
/// early (the binary cancels it on Ctrl-C).
pub async fn execute(cli: Cli, stop: CancellationToken) -> i32 {
    let command_line: Vec<String> = std::env::args().collect();
    match cli.command {
        Some(Command::Completions { shell }) => {
            client::stdout::completions(shell, Cli::command());
            EXIT_OK
        }
        Some(Command::Man) => {
            client::stdout::man_page(Cli::command());
            EXIT_OK
        }
        Some(Command::Merge { dirs, out, json }) => {
            let merged = match crate::merge::merge(&dirs) {
                Ok(merged) => merged,
                Err(e) => return fail(&e),
            };
            if let Some(out) = out
                && let Err(e) = crate::merge::write(&merged, &out)
            {
                return fail(&e);
            }
            if json {
                client::outln!("{:#}", crate::merge::summary_json(&merged));
            } else {
                client::out!("{}", crate::merge::text(&merged));
            }
            EXIT_OK
        }
        Some(Command::Compare { a, b, threshold, json }) => {
            let (ma, mb) = match (compare::read_metrics(&a), compare::read_metrics(&b)) {
                (Ok(ma), Ok(mb)) => (ma, mb),
                (Err(e), _) | (_, Err(e)) => return fail(&e),
            };
            let rows = compare::compare(&ma, &mb, threshold);
            if json {
                match serde_json::to_string_pretty(&rows) {
                    Ok(text) => client::outln!("{text}"),
                    Err(e) => return fail(&LoadgenError::Run(e.to_string())),
                }
            } else {
                client::out!(
                    "{}",
                    compare::table(&rows, &a.display().to_string(), &b.display().to_string())
                );
            }
            let worse = compare::regressions(&rows);
            if worse.is_empty() {
                EXIT_OK
            } else {
                eprintln!(
                    "loadgen: B is worse than A beyond {threshold}% in: {}",
                    worse.join(", ")
                );
                EXIT_REGRESSION
            }
        }
        Some(Command::Sweep(args)) => {
            let mut base = match args.common.config(command_line) {
                Ok(config) => config,
                Err(e) => return fail(&e),
            };
            base.tps = args.from;
            base.stop = Stop::Duration(args.duration);
            if let Err(e) = base.validate() {
                return fail(&e);
            }
            let args = *args;
            let config = SweepConfig {
                base,
                slo: args.slo,
                from: args.from,
                step: args.step,
                max: args.max,
                duration: args.duration,
                out: args.out,
            };
            match sweep::sweep(&config, stop).await {
                Ok(outcome) => {
                    client::out!("{}", sweep::table(&outcome));
                    if outcome.safety_failed {
                        EXIT_SAFETY
                    } else if outcome.highest_held_tps.is_none() {
                        EXIT_SLO_VIOLATED
                    } else {
                        EXIT_OK
                    }
                }
                Err(e) => fail(&e),
            }
        }
        Some(Command::Verify(args)) => {
            if let Err(e) = check_token_file(
                args.target.rpc_token_file.as_deref(),
                &args.target.rpc,
                &args.target.dir,
                None,
            ) {
                return fail(&e);
            }
            let target = if args.target.rpc.is_empty() {
                Target::ClusterDir {
                    dir: args.target.dir.clone(),
                    dev_wallet: false,
                    only: Vec::new(),
                }
            } else {
                Target::Rpc {
                    urls: args.target.rpc.clone(),
                    key_files: Vec::new(),
                    datadir: None,
                    dev_wallet: false,
                    token_file: args.target.rpc_token_file.clone(),
                }
            };
            let config = verify::VerifyConfig {
                run_dir: args.run_dir.clone(),
                target,
                wait: args.wait,
                byzantine: args.byzantine.clone(),
            };
            match verify::verify(&config).await {
                Ok(report) => {
                    if args.json {
                        match serde_json::to_string_pretty(&report) {
                            Ok(text) => client::outln!("{text}"),
                            Err(e) => return fail(&LoadgenError::Run(e.to_string())),
                        }
                    } else {
                        client::out!("{}", verify::text(&report));
                    }
                    if report.ok { EXIT_OK } else { EXIT_SAFETY }
                }
                Err(e) => fail(&e),
            }
        }
        None => {
            let config = match cli.run.config(command_line) {
                Ok(config) => config,
                Err(e) => return fail(&e),
            };
            match run(&config, stop).await {
                Ok(outcome) => {
                    if cli.run.json {
                        match serde_json::to_string_pretty(&report::json::summary(&outcome)) {
                            Ok(text) => client::outln!("{text}"),
                            Err(e) => return fail(&LoadgenError::Run(e.to_string())),
                        }
                    } else {
                        client::out!("{}", report::summary::text(&outcome));
                    }
                    outcome.exit_code()
                }
                Err(e) => fail(&e),
            }
        }
    }
}

/// The exit codes, for documentation and tests.
pub const EXIT_CODES: [(i32, &str); 5] = [
    (EXIT_OK, "ok / SLO met"),
    (EXIT_SLO_VIOLATED, "SLO violated"),
    (EXIT_USAGE, "usage error"),
    (EXIT_COULD_NOT_RUN, "could not run"),
    (EXIT_SAFETY, "safety violation"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_threshold_that_is_not_a_percentage_is_a_usage_error() {
        for bad in ["-5", "abc", "NaN", "inf", "5%%", "", "1e400"] {
            let arg = format!("--threshold={bad}");
            let err = Cli::try_parse_from(["loadgen", "compare", "a", "b", &arg]).expect_err(bad);
            assert_eq!(err.exit_code(), EXIT_USAGE, "{bad}: {err}");
            assert!(err.to_string().contains("is not a percentage"), "{bad}: {err}");
        }
        for good in ["0", "5", "12.5", "10%"] {
            Cli::try_parse_from(["loadgen", "compare", "a", "b", "--threshold", good]).expect(good);
        }
    }

    #[test]
    fn options_become_a_config() {
        let cli = Cli::try_parse_from([
            "loadgen",
            "--tps",
            "1000",
            "--duration",
            "30s",
            "--keys",
            "2/3",
            "--warmup",
            "5s",
        ])
        .unwrap();
        let config = cli.run.config(vec![]).unwrap();
        assert_eq!(config.tps, 1000.0);
        assert_eq!(config.keys, KeyRange { index: 2, parts: 3 });
        assert_eq!(config.warmup, Duration::from_secs(5));
        assert!(matches!(config.target, Target::ClusterDir { .. }));
        let cli = Cli::try_parse_from([
            "loadgen",
            "--rpc",
            "http://127.0.0.1:1",
            "--keys",
            "a.key",
            "b.key",
        ])
        .unwrap();
        let config = cli.run.config(vec![]).unwrap();
        assert!(matches!(&config.target, Target::Rpc { key_files, .. } if key_files.len() == 2));
    }

    #[test]
    fn bad_values_are_usage_errors_before_any_load() {
        let cli = Cli::try_parse_from(["loadgen", "--tps", "0"]).unwrap();
        assert_eq!(cli.run.config(vec![]).unwrap_err().exit_code(), EXIT_USAGE);
        let err = Cli::try_parse_from(["loadgen", "--slo", "latency<3ms"]).unwrap_err();
        assert!(err.to_string().contains("unknown metric"), "{err}");
        let cli = Cli::try_parse_from(["loadgen", "--rpc", "http://127.0.0.1:1"]).unwrap();
        assert_eq!(cli.run.config(vec![]).unwrap_err().exit_code(), EXIT_USAGE);
    }

    #[test]
    fn a_token_file_goes_with_rpc_urls_only() {
        let cli = Cli::try_parse_from([
            "loadgen",
            "--rpc",
            "http://127.0.0.1:1",
            "--rpc-token-file",
            "/run/secrets/rpc-token",
            "--keys",
            "a.key",
        ])
        .unwrap();
        let config = cli.run.config(vec![]).unwrap();
        assert!(matches!(
            &config.target,
            Target::Rpc { token_file: Some(f), .. } if f == Path::new("/run/secrets/rpc-token")
        ));
        // A cluster directory's nodes are reached with their cookies: the
        // token is refused, saying why (runs, sweeps and verify alike).
        for args in [
            &["loadgen", "--rpc-token-file", "t"][..],
            &["loadgen", "sweep", "--slo", "final_ratio>=0.9", "--rpc-token-file", "t"][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let err = match &cli.command {
                Some(Command::Sweep(sweep)) => sweep.common.config(vec![]).unwrap_err(),
                _ => cli.run.config(vec![]).unwrap_err(),
            };
            assert_eq!(err.exit_code(), EXIT_USAGE, "{args:?}: {err}");
            assert!(err.to_string().contains("not for a cluster directory"), "{err}");
        }
        let cli =
            Cli::try_parse_from(["loadgen", "verify", "run", "--rpc-token-file", "t"]).unwrap();
        let Some(Command::Verify(verify)) = &cli.command else { panic!("verify") };
        let err = check_token_file(
            verify.target.rpc_token_file.as_deref(),
            &verify.target.rpc,
            &verify.target.dir,
            None,
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), EXIT_USAGE, "{err}");
        let cli = Cli::try_parse_from([
            "loadgen",
            "--datadir",
            "/tmp/dev",
            "--wallet",
            "--rpc-token-file",
            "t",
        ])
        .unwrap();
        let err = cli.run.config(vec![]).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_USAGE, "{err}");
        assert!(err.to_string().contains("needs --rpc URL"), "{err}");
    }

    #[test]
    fn help_documents_the_exit_codes_and_an_example() {
        let help = Cli::command().render_long_help().to_string();
        for (code, _) in EXIT_CODES {
            assert!(help.contains(&format!("  {code}  ")), "exit code {code} in --help");
        }
        assert!(help.contains("timectl up --nodes 5"));
        assert!(help.contains("loadgen --tps 1000 --duration 30s --out /tmp/run1"));
        for token_help in ["--rpc-token-file", "TIMECOIN_RPC_TOKEN_FILE", "rpc.auth = \"token\""] {
            assert!(help.contains(token_help), "{token_help} in --help");
        }
    }
}
