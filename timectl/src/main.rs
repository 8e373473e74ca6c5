//! `timectl`: a working local masternode network in one command, and the
//! tools to break it on purpose. Thin: parses arguments, talks to the
//! cluster's agent and nodes through the `cluster` and `client` libraries,
//! prints, and maps results to exit codes.

use std::io::{BufRead, IsTerminal, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::{CommandFactory, Parser, Subcommand};
use client::logging::LogFormat;
use indicatif::{ProgressBar, ProgressStyle};

use client::wallet::{Chain, Payment, Wallet};
use cluster::control::{self, AgentNode, LinkState, NodeState, Request, Response};
use cluster::faults::{self, Action};
use cluster::layout::{DEFAULT_DIR, Layout};
use cluster::lifecycle::{AskError, UpError, UpReport};
use cluster::status::{ClusterStatus, NodeStatus, Verdict};
use cluster::{ClusterSpec, ClusterView, LinkFaults};
use protocol::{Address, Amount, Network, Tier};

const ABOUT: &str = "A working local TimeCoin masternode network in one command, and the tools to break it on purpose.";

const AFTER_HELP: &str = "\
Start here:
  timectl up --nodes 5              # keys, genesis, configs, 5 timed processes; returns when ready
  timectl status                    # per node: alive, height, round, peers, mempool, finality; verdict
  loadgen --tps 1000 --duration 30s # put load on it (finds it in ./.timecluster)
  timectl kill node3 && timectl start node3
  timectl partition node1,node2 / node3,node4,node5 && timectl heal
  timectl down                      # stop everything (--wipe also deletes the directory)

Ready means: every node completed handshakes with a quorum, a probe transaction
is final on every node, and a block was committed. A small agent process per
cluster supervises the nodes (it records every exit in exits.log and never
restarts a node by itself) and owns one TCP proxy per directed link, which is
how links are cut, delayed, made lossy or throttled without root or Docker.
Fault events are logged with timestamps to faults.log for loadgen's report.

Exit codes:
  0  success; `status`: healthy
  1  the operation failed (the message says why and what to do)
  2  bad arguments
  3  not ready in time; `status`: degraded
  4  no cluster in the directory, or its agent is not running (`timectl up` fixes that)
  5  `doctor` found problems; `status`: stalled";

#[derive(Parser, Debug)]
#[command(name = "timectl", version, about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// The cluster directory.
    #[arg(long, global = true, default_value = DEFAULT_DIR, value_name = "DIR")]
    dir: PathBuf,
    /// Machine-readable JSON output (`logs`: one JSON object per line).
    #[arg(long, global = true)]
    json: bool,
    /// The agent's log (agent.log in the cluster directory): text, or one
    /// JSON object per line. Set when `up` starts the agent.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create (or resume) the cluster and return when it is ready.
    Up {
        /// Masternodes (node1 … nodeN); only for a new cluster.
        #[arg(long, default_value_t = DEFAULT_NODES)]
        nodes: usize,
        /// Milliseconds between blocks (new cluster only).
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        block_time: u64,
        /// Coins in genesis for loadgen, spread over the pool's keys (new
        /// cluster only). loadgen needs about 4 per tx/s of two-input load
        /// (it says so when there are too few).
        #[arg(long, default_value_t = DEFAULT_POOL_COINS, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=MAX_POOL_COINS as i64))]
        pool_coins: u32,
        /// Tier per node, comma-separated (free, bronze, silver, gold); default all free.
        #[arg(long, value_name = "LIST")]
        tiers: Option<String>,
        /// Test builds only (new cluster only): NODE=MODE runs that node as
        /// a Byzantine masternode (equivocate, withhold-votes,
        /// withhold-precommits, conflicting-proposals, corrupt-bodies,
        /// replay, chaos). Repeat for more nodes. Needs a timed built with
        /// the `byzantine` feature (`make build` does; release builds never).
        /// Readiness then waits for the honest nodes only.
        #[arg(long, value_name = "NODE=MODE")]
        byzantine: Vec<String>,
        /// Seconds to wait for readiness.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Each node's state and the cluster's verdict.
    ///
    /// FINAL counts the transactions a node finalized since it last started;
    /// NOTE says why a node does not answer, or how it last exited (a node
    /// running again: "restarted after ...").
    Status {
        /// Refresh every second.
        #[arg(long)]
        watch: bool,
    },
    /// The nodes' logs, merged and prefixed (or one node's).
    Logs {
        /// Only this node.
        node: Option<String>,
        /// Keep printing new lines.
        #[arg(short, long)]
        follow: bool,
        /// Lines per node to start with.
        #[arg(long, default_value_t = 50)]
        lines: usize,
    },
    /// Start a stopped node.
    Start { node: String },
    /// Stop a node (SIGTERM: it flushes and exits 0).
    Stop { node: String },
    /// Stop and start a node.
    Restart { node: String },
    /// Kill a node (SIGKILL).
    Kill { node: String },
    /// Pause a node (SIGSTOP).
    Pause { node: String },
    /// Resume a paused node (SIGCONT).
    Resume { node: String },
    /// Cut the network: `timectl partition node1,node2 / node3,node4,node5`.
    Partition {
        /// Groups separated by `/`.
        #[arg(num_args = 1.., required = true)]
        spec: Vec<String>,
    },
    /// Cut links (open connections closed, new ones refused) until `heal`:
    /// `cut NODE|A-B`, e.g. `cut node5-node1` (`partition` splits every link).
    Cut {
        /// A node (every link to and from it) or a pair A-B.
        target: String,
    },
    /// Clear every link fault.
    Heal,
    /// Add delay: `delay [NODE|A-B] MS [JITTER_MS]` (no target = every link).
    Delay {
        #[arg(num_args = 1..=3, required = true)]
        args: Vec<String>,
    },
    /// Add loss (a lost chunk waits a 200 ms retransmission): `loss PCT [NODE|A-B]`.
    Loss {
        /// Percent of chunks.
        pct: f64,
        /// A node, a pair A-B, or nothing for every link.
        target: Option<String>,
    },
    /// Throttle links: `bandwidth BYTES_PER_SEC [NODE|A-B]`.
    Bandwidth {
        /// Bytes per second.
        bps: u64,
        /// A node, a pair A-B, or nothing for every link.
        target: Option<String>,
    },
    /// Run a fault schedule (`at 30s kill node3`, …; `timectl faults --help` has the format).
    #[command(after_help = FAULTS_FORMAT)]
    Faults {
        #[command(subcommand)]
        command: FaultsCommand,
    },
    /// Call a node's RPC: `timectl rpc node1 getblockcount`.
    Rpc {
        /// The node.
        node: String,
        /// The method.
        method: String,
        /// Parameters (JSON values; anything else is a string).
        params: Vec<String>,
    },
    /// Pay ADDRESS AMOUNT (TIME) from the dev wallet and wait for finality.
    Fund { address: String, amount: String },
    /// Stop every node and the agent.
    Down {
        /// Also delete the cluster directory.
        #[arg(long)]
        wipe: bool,
    },
    /// Check for what commonly breaks local clusters, each with the fix.
    Doctor,
    /// Render this cluster's chain (genesis and keys) for a container
    /// engine: `export k8s --out DIR` (then `kubectl apply -f DIR`) or
    /// `export compose --out DIR` (then `docker compose -f DIR/compose.yaml up -d`).
    ///
    /// The cluster's files are read, not its processes: it may be up or down.
    /// Both run the image of packaging/container/Containerfile (--image).
    Export {
        #[command(subcommand)]
        target: ExportTarget,
    },
    /// Keys, a genesis and a config per masternode for a chain on many hosts:
    /// `timectl testnet --out net 10.0.0.1 10.0.0.2 db3.example.org:24200`.
    ///
    /// Writes OUT/node1 … (copy each to its host and run `timed --config
    /// timed.toml` there; RPC, P2P and metrics on the standard ports), the
    /// genesis, the funded dev wallet and pool keys under OUT/keys, and
    /// OUT/testnet.json listing every node. Nothing is started. Each config
    /// names the genesis hash, so a node given another genesis refuses to
    /// start; `timed --check-config OUT/node1/timed.toml` checks one.
    Testnet {
        /// One masternode per host: NAME, IP, NAME:PORT, IP:PORT or
        /// [IPV6]:PORT, where PORT is its P2P port.
        #[arg(required = true, num_args = 1.., value_name = "HOST")]
        hosts: Vec<String>,
        /// Where to write (a new or empty directory).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// P2P port of hosts given without one.
        #[arg(long, default_value_t = cluster::testnet::P2P_PORT, value_name = "PORT")]
        p2p_port: u16,
        /// RPC port on every host (listening on the host's address when it
        /// is given as an IP, on 127.0.0.1 otherwise).
        #[arg(long, default_value_t = cluster::testnet::RPC_PORT, value_name = "PORT")]
        rpc_port: u16,
        /// Metrics and health port on every host (no credentials).
        #[arg(long, default_value_t = cluster::testnet::METRICS_PORT, value_name = "PORT")]
        metrics_port: u16,
        /// Listen on every interface even for hosts given by IP (hosts behind
        /// NAT, whose given address is not their own).
        #[arg(long)]
        bind_all: bool,
        /// Milliseconds between blocks.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        block_time: u64,
    },
    /// The per-cluster agent (started by `up`; not for direct use).
    /// Print the completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell); e.g. `source <(timectl completions bash)`.
    Completions { shell: clap_complete::Shell },
    /// Print this program's man page (roff): `timectl man | man -l -`, or
    /// save it as timectl.1 in a man1 directory.
    Man,
    #[command(hide = true)]
    Agent {
        #[arg(long)]
        create: bool,
        #[arg(long, default_value_t = DEFAULT_NODES)]
        nodes: usize,
        #[arg(long, default_value_t = 1000)]
        block_time: u64,
        #[arg(long, default_value_t = DEFAULT_POOL_COINS)]
        pool_coins: u32,
        #[arg(long)]
        tiers: Option<String>,
        #[arg(long)]
        byzantine: Vec<String>,
    },
}

/// The fault-schedule format, for `faults --help` and `faults run --help`.
const FAULTS_FORMAT: &str = "\
A schedule has one step per line, `at <time> <action> [arguments]`; `#` starts
a comment. Times are offsets from the start: 500ms, 30s, 2m, 1.5s. The whole
file is checked before the first step runs; an error names the line and column.

  at 10s kill node3                  SIGKILL (stop: SIGTERM; restart; start)
  at 15s start node3
  at 20s pause node2                 SIGSTOP; `resume` sends SIGCONT
  at 25s kill random                 a node picked with --seed
  at 30s kill proposer               the current proposer, asked when the step runs
  at 35s start proposer              the node the last `proposer` step hit
  at 40s partition node1,node2 / node3,node4,node5
  at 50s cut node5-node1             one link (or every link of a node)
  at 60s heal                        clear every link fault
  at 70s delay node2 200 50          ms of delay, then optional jitter ms
  at 80s loss 5 node1                percent of frames dropped
  at 90s bandwidth 100000 node4-node5  bytes per second

Link targets: a node (every link to and from it), A-B (both directions between
A and B), or nothing (every link). Each step is logged to faults.log, which
loadgen's report marks on its time axis. The scenarios of `make chaos` are
schedules in chaos/.";

/// Options shared by every export.
#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// Where to write (a new or empty directory).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The container image with timed, time-cli and loadgen
    /// (`podman build -f packaging/container/Containerfile -t timed .`).
    #[arg(long, default_value = "localhost/timed:latest")]
    image: String,
    /// loadgen's offered rate (per generator), in transactions per second.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    tps: u32,
    /// loadgen's measured duration (e.g. 60s, 5m).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
}

#[derive(Subcommand, Debug)]
enum ExportTarget {
    /// Plain Kubernetes objects: a StatefulSet of masternodes (stable names
    /// timed-0.timed …, a volume each, readiness on /ready, liveness on
    /// /health), keys and configs as Secrets, the genesis as a ConfigMap, a
    /// headless Service for P2P, a Service for RPC and metrics (with
    /// Prometheus scrape annotations), and loadgen as an Indexed Job whose
    /// reports land in a volume (several generators: `loadgen merge` them).
    K8s {
        #[command(flatten)]
        common: ExportArgs,
        /// Each masternode's volume size, a Kubernetes quantity (512Mi, 10Gi).
        #[arg(long, default_value = "1Gi", value_name = "QUANTITY", value_parser = storage_quantity)]
        storage: String,
        /// loadgen generators side by side, with disjoint keys (--keys i/n);
        /// more than 1 needs a ReadWriteMany storage class for the reports.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        generators: u32,
    },
    /// A compose file for one host: a service per masternode (the image's
    /// entrypoint, its files mounted from DIR/nodeN, a named data volume,
    /// RPC and metrics on 127.0.0.1 ports 24201/24202, 24301/24302, …) and a
    /// loadgen service under the `load` profile (report in DIR/reports).
    Compose {
        #[command(flatten)]
        common: ExportArgs,
    },
}

#[derive(Subcommand, Debug)]
enum FaultsCommand {
    /// Run FILE's schedule, printing and logging each step.
    #[command(after_help = FAULTS_FORMAT)]
    Run {
        /// The schedule.
        file: PathBuf,
        /// Seed for `random` targets.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

// Exit codes, as AFTER_HELP (in --help) lists them.
/// Success; `status`: healthy.
const EXIT_OK: u8 = 0;
/// The operation failed.
const EXIT_FAILED: u8 = 1;
/// Bad arguments.
const EXIT_USAGE: u8 = 2;
/// Not ready (or not final) in time; `status`: degraded.
const EXIT_NOT_READY: u8 = 3;
/// No cluster in the directory, or its agent is not running.
const EXIT_NO_CLUSTER: u8 = 4;
/// `doctor` found problems; `status`: stalled.
const EXIT_PROBLEMS: u8 = 5;

struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        let code = match error.downcast_ref::<cluster::ClusterError>() {
            Some(cluster::ClusterError::AgentGone { .. }) => EXIT_NO_CLUSTER,
            Some(cluster::ClusterError::Invalid { reason, .. })
                if reason.contains("no cluster here") =>
            {
                EXIT_NO_CLUSTER
            }
            _ => EXIT_FAILED,
        };
        Failure { code, error }
    }
}

fn failure(code: u8, error: anyhow::Error) -> Failure {
    Failure { code, error }
}

type Outcome = Result<u8, Failure>;

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().enable_all().worker_threads(2).build() {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("timectl: cannot start the async runtime: {e}");
                return ExitCode::from(EXIT_FAILED);
            }
        };
    match runtime.block_on(run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(Failure { code, error }) => {
            eprintln!("timectl: {error:#}");
            ExitCode::from(code)
        }
    }
}

async fn run(args: Args) -> Outcome {
    let layout = Layout::new(&args.dir);
    let json = args.json;
    match args.command {
        Command::Up { nodes, block_time, pool_coins, tiers, byzantine, timeout } => {
            let create = Create { nodes, block_time, pool_coins, tiers, byzantine };
            up(&layout, create, timeout, json, args.log_format).await
        }
        Command::Status { watch } => status(&layout, watch, json).await,
        Command::Logs { node, follow, lines } => logs(&layout, node, follow, lines, json),
        Command::Start { node } => node_action(&layout, Request::Start { node }, json).await,
        Command::Stop { node } => node_action(&layout, Request::Stop { node }, json).await,
        Command::Restart { node } => node_action(&layout, Request::Restart { node }, json).await,
        Command::Kill { node } => node_action(&layout, Request::Kill { node }, json).await,
        Command::Pause { node } => node_action(&layout, Request::Pause { node }, json).await,
        Command::Resume { node } => node_action(&layout, Request::Resume { node }, json).await,
        Command::Partition { spec } => {
            let view = ClusterView::load(&layout).map_err(anyhow::Error::from)?;
            let groups = faults::parse_partition(&spec.join(" "), &view.names())
                .map_err(|e| failure(EXIT_USAGE, anyhow!(e)))?;
            link_action(&layout, Request::Partition { groups }, json).await
        }
        Command::Cut { target } => {
            set_faults(
                &layout,
                Some(target),
                LinkFaults { cut: true, ..LinkFaults::default() },
                json,
            )
            .await
        }
        Command::Heal => link_action(&layout, Request::Heal, json).await,
        Command::Delay { args } => {
            let (target, values) = match args[0].parse::<u64>() {
                Ok(_) => (None, &args[..]),
                Err(_) => (Some(args[0].clone()), &args[1..]),
            };
            let ms: u64 = values.first().and_then(|v| v.parse().ok()).ok_or_else(|| {
                failure(
                    2,
                    anyhow!("delay needs milliseconds: timectl delay [NODE|A-B] MS [JITTER]"),
                )
            })?;
            let jitter: u64 = match values.get(1) {
                Some(v) => v.parse().map_err(|_| {
                    failure(EXIT_USAGE, anyhow!("jitter must be milliseconds, got {v:?}"))
                })?,
                None => 0,
            };
            set_faults(
                &layout,
                target,
                LinkFaults { delay_ms: ms, jitter_ms: jitter, ..LinkFaults::default() },
                json,
            )
            .await
        }
        Command::Loss { pct, target } => {
            if !(0.0..=100.0).contains(&pct) {
                return Err(failure(
                    2,
                    anyhow!("loss must be a percentage from 0 to 100, got {pct}"),
                ));
            }
            set_faults(&layout, target, LinkFaults { loss_pct: pct, ..LinkFaults::default() }, json)
                .await
        }
        Command::Bandwidth { bps, target } => {
            if bps == 0 {
                return Err(failure(
                    2,
                    anyhow!(
                        "bandwidth must be more than 0 bytes per second (use partition to cut a link)"
                    ),
                ));
            }
            set_faults(
                &layout,
                target,
                LinkFaults { bandwidth_bps: Some(bps), ..LinkFaults::default() },
                json,
            )
            .await
        }
        Command::Faults { command: FaultsCommand::Run { file, seed } } => {
            faults_run(&layout, &file, seed, json).await
        }
        Command::Rpc { node, method, params } => rpc(&layout, &node, &method, &params).await,
        Command::Fund { address, amount } => fund(&layout, &address, &amount, json).await,
        Command::Down { wipe } => down(&layout, wipe, json).await,
        Command::Doctor => doctor(&layout, json).await,
        Command::Export { target } => export(&layout, target, json),
        Command::Testnet { hosts, out, p2p_port, rpc_port, metrics_port, bind_all, block_time } => {
            let spec = cluster::testnet::TestnetSpec {
                hosts,
                p2p_port,
                rpc_port,
                metrics_port,
                bind_all,
                chain: ClusterSpec { block_interval_ms: block_time, ..ClusterSpec::default() },
            };
            testnet(&out, &spec, json)
        }
        Command::Completions { shell } => {
            client::stdout::completions(shell, Args::command());
            Ok(EXIT_OK)
        }
        Command::Man => {
            client::stdout::man_page(Args::command());
            Ok(EXIT_OK)
        }
        Command::Agent { create, nodes, block_time, pool_coins, tiers, byzantine } => {
            let spec = Create { nodes, block_time, pool_coins, tiers, byzantine };
            agent(&layout, create.then_some(spec), args.log_format).await
        }
    }
}

/// Masternodes of a new cluster when `--nodes` is not given.
const DEFAULT_NODES: usize = 5;
/// Keys of the load pool of a new cluster.
const POOL_KEYS: usize = 32;
/// Its coins by default: enough for `make demo` (1,000 tx/s) with room.
const DEFAULT_POOL_COINS: u32 = 8_000;
/// Most pool coins (genesis holds them all, and every node loads it).
const MAX_POOL_COINS: u32 = 256_000;

/// What `up` creates a new cluster with (and hands to the agent).
#[derive(Clone, Debug)]
struct Create {
    nodes: usize,
    block_time: u64,
    pool_coins: u32,
    tiers: Option<String>,
    byzantine: Vec<String>,
}

/// `--byzantine NODE=MODE` arguments as a map (modes are checked by timed).
fn parse_byzantine(args: &[String]) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some((node, mode)) if !node.is_empty() && !mode.is_empty() => {
                Ok((node.to_string(), mode.to_string()))
            }
            _ => Err(failure(
                2,
                anyhow!("--byzantine: expected NODE=MODE (node5=equivocate), got {arg:?}"),
            )),
        })
        .collect()
}

fn parse_tiers(tiers: Option<&str>, nodes: usize) -> Result<Vec<Tier>, Failure> {
    let Some(list) = tiers else { return Ok(Vec::new()) };
    let parsed: Vec<Tier> = list
        .split(',')
        .map(|t| t.trim().parse::<Tier>())
        .collect::<Result<_, _>>()
        .map_err(|e| failure(EXIT_USAGE, anyhow!("--tiers: {e}")))?;
    if parsed.len() != nodes {
        return Err(failure(
            2,
            anyhow!("--tiers lists {} tiers for {nodes} nodes; give one per node", parsed.len()),
        ));
    }
    Ok(parsed)
}

async fn ask(layout: &Layout, request: Request) -> Result<Response, Failure> {
    cluster::lifecycle::ask(layout, &request).await.map_err(ask_failure)
}

/// A failed request to the agent: 1 for a refusal, else as its cause says.
fn ask_failure(error: AskError) -> Failure {
    match error {
        AskError::Refused(reason) => failure(EXIT_FAILED, anyhow!(reason)),
        AskError::Cluster(e) => Failure::from(anyhow::Error::from(e)),
    }
}

async fn agent_alive(layout: &Layout) -> Option<Response> {
    control::ping(layout).await
}

fn spawn_agent(
    layout: &Layout,
    create: Option<&Create>,
    log_format: LogFormat,
) -> Result<(), Failure> {
    std::fs::create_dir_all(layout.dir())
        .with_context(|| format!("cannot create {}", layout.dir().display()))
        .map_err(|e| failure(EXIT_FAILED, e))?;
    let exe = std::env::current_exe()
        .context("cannot find the timectl binary")
        .map_err(|e| failure(EXIT_FAILED, e))?;
    let log_path = layout.dir().join(control::LOG_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))
        .map_err(|e| failure(EXIT_FAILED, e))?;
    let err = log.try_clone().map_err(|e| failure(EXIT_FAILED, e.into()))?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("--dir")
        .arg(layout.dir())
        .arg("--log-format")
        .arg(log_format.as_str())
        .arg("agent");
    if let Some(create) = create {
        command
            .arg("--create")
            .arg("--nodes")
            .arg(create.nodes.to_string())
            .arg("--block-time")
            .arg(create.block_time.to_string())
            .arg("--pool-coins")
            .arg(create.pool_coins.to_string());
        if let Some(tiers) = &create.tiers {
            command.arg("--tiers").arg(tiers);
        }
        for byzantine in &create.byzantine {
            command.arg("--byzantine").arg(byzantine);
        }
    }
    use std::os::unix::process::CommandExt;
    command.stdin(Stdio::null()).stdout(Stdio::from(log)).stderr(Stdio::from(err)).process_group(0);
    command.spawn().context("cannot start the agent").map_err(|e| failure(EXIT_FAILED, e))?;
    Ok(())
}

fn spinner(message: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(80));
    bar
}

async fn up(
    layout: &Layout,
    create: Create,
    timeout: u64,
    json: bool,
    log_format: LogFormat,
) -> Outcome {
    let started = Instant::now();
    let nodes = create.nodes;
    if nodes == 0 {
        return Err(failure(EXIT_USAGE, anyhow!("--nodes must be at least 1 (got 0)")));
    }
    if !layout.cluster_file().exists() {
        parse_tiers(create.tiers.as_deref(), nodes)?;
        parse_byzantine(&create.byzantine)?;
    }
    let existing =
        cluster::lifecycle::check_up(layout, nodes, DEFAULT_NODES).map_err(up_failure)?;
    let bar = spinner(if existing { "resuming the cluster" } else { "creating the cluster" }, json);
    let spawn = || {
        spawn_agent(layout, (!existing).then_some(&create), log_format)
            .map_err(|f| format!("{:#}", f.error))
    };
    let mut progress = |message: &str| bar.set_message(message.to_string());
    let result =
        cluster::lifecycle::up(layout, spawn, Duration::from_secs(timeout), &mut progress).await;
    bar.finish_and_clear();
    let UpReport { view, nodes, ready: report } = result.map_err(|e| match e {
        UpError::Start { cause, .. } => {
            let mut failed = ask_failure(cause);
            failed.error = anyhow!(
                "{:#}\n(the agent keeps running so `timectl --dir {dir} logs` and `status` can show \
                 why; fix the cause and run `timectl up` again, or `timectl --dir {dir} down`)",
                failed.error,
                dir = layout.dir().display()
            );
            failed
        }
        UpError::NotReady(e) => failure(
            3,
            anyhow!(
                "{e}\n(the cluster keeps running: `timectl status` and `timectl logs` show what is wrong)"
            ),
        ),
        e => up_failure(e),
    })?;
    let elapsed = started.elapsed();
    if json {
        let value = serde_json::json!({
            "dir": layout.dir(),
            "ready_seconds": elapsed.as_secs_f64(),
            "nodes": node_rows(&view, &nodes),
            "dev_wallet": view.file.dev_wallet,
        });
        client::outln!("{value}");
        return Ok(EXIT_OK);
    }
    print_node_table(&view, &nodes);
    client::outln!();
    client::outln!(
        "ready in {:.2} s ({} nodes; probe {} final everywhere)",
        elapsed.as_secs_f64(),
        view.file.nodes.len(),
        report.probe
    );
    let dir = layout.dir().display();
    client::outln!("next:");
    client::outln!("  timectl --dir {dir} status");
    client::outln!("  loadgen --dir {dir} --tps 1000 --duration 30s");
    client::outln!(
        "  dev wallet: {} (key {})",
        view.file.dev_wallet.address,
        layout.resolve(&view.file.dev_wallet.key_file).display()
    );
    client::outln!("  timectl --dir {dir} down");
    Ok(EXIT_OK)
}

/// The failures of `up` that are not about the nodes.
fn up_failure(error: UpError) -> Failure {
    match error {
        UpError::Cluster(e) => Failure::from(anyhow::Error::from(e)),
        UpError::Binary(e) => failure(EXIT_FAILED, e.into()),
        UpError::Ask(e) | UpError::Start { cause: e, .. } => ask_failure(e),
        e => failure(EXIT_FAILED, anyhow!("{e}")),
    }
}

fn node_rows(view: &ClusterView, nodes: &[AgentNode]) -> Vec<serde_json::Value> {
    view.file
        .nodes
        .iter()
        .map(|entry| {
            let info = cluster::read_node_info(&view.layout, &entry.name);
            let agent = nodes.iter().find(|n| n.name == entry.name);
            serde_json::json!({
                "node": entry.name,
                "id": entry.id,
                "rpc_url": info.as_ref().map(|i| i.rpc_url.clone()),
                "p2p_address": info.as_ref().map(|i| i.p2p_address.clone()),
                "pid": agent.and_then(|a| a.pid),
                "state": agent.map(|a| a.state),
            })
        })
        .collect()
}

fn print_node_table(view: &ClusterView, nodes: &[AgentNode]) {
    let mut table = client::table::table(&["NODE", "ID", "RPC", "P2P", "PID", "STATE"], &[4]);
    for entry in &view.file.nodes {
        let info = cluster::read_node_info(&view.layout, &entry.name);
        let agent = nodes.iter().find(|n| n.name == entry.name);
        table.add_row([
            entry.name.clone(),
            entry.id.short(),
            info.as_ref().map_or("-".to_string(), |i| i.rpc_url.clone()),
            info.as_ref().map_or("-".to_string(), |i| i.p2p_address.clone()),
            agent.and_then(|a| a.pid).map_or("-".to_string(), |p| p.to_string()),
            agent.map_or(NodeState::Unknown, |a| a.state).to_string(),
        ]);
    }
    client::out!("{}", client::table::render(&table, ""));
}

async fn collect_status(layout: &Layout) -> Result<ClusterStatus, Failure> {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let agent = agent_alive(layout).await;
    let links: Vec<LinkState> = match &agent {
        Some(_) => ask(layout, Request::Links).await.map(|r| r.links).unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(cluster::status::collect(&view, agent.as_ref().map(|a| a.nodes.as_slice()), &links).await)
}

/// The NOTE column: why a node does not answer, else its last exit (for a
/// node running again: that it restarted, which is also why its FINAL
/// count, kept since it started, is below its peers').
fn note(n: &NodeStatus) -> String {
    match (&n.error, &n.last_exit) {
        (Some(error), _) => error.clone(),
        (None, Some(exit)) if n.alive => format!("restarted after {exit}"),
        (None, Some(exit)) => exit.clone(),
        (None, None) => String::new(),
    }
}

fn print_status(status: &ClusterStatus) {
    let mut table = client::table::table(
        &[
            "NODE", "STATE", "HEIGHT", "ROUND", "PEERS", "MEMPL", "FINAL", "LASTFIN", "LASTBLK",
            "RSS", "NOTE",
        ],
        &[2, 3, 4, 5, 6, 7, 8, 9],
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for n in &status.nodes {
        table.add_row([
            n.name.clone(),
            if n.alive { "up".to_string() } else { n.state.to_string() },
            opt(n.height.map(|v| v.to_string())),
            opt(n.round.map(|v| v.to_string())),
            opt(n.peers.map(|v| v.to_string())),
            opt(n.mempool.map(|v| v.to_string())),
            opt(n.final_count.map(|v| v.to_string())),
            opt(n.since_final_s.map(|v| format!("{v:.1}s"))),
            opt(n.since_block_s.map(|v| format!("{v:.1}s"))),
            opt(n.rss_bytes.map(|v| format!("{:.1}M", v as f64 / 1048576.0))),
            note(n),
        ]);
    }
    client::out!("{}", client::table::render(&table, ""));
    let verdict = match status.verdict {
        Verdict::Healthy => "healthy",
        Verdict::Degraded => "degraded",
        Verdict::Stalled => "stalled",
    };
    client::outln!("\n{verdict}{}", if status.agent { "" } else { " (agent not running)" });
    for reason in &status.reasons {
        client::outln!("  - {reason}");
    }
}

fn verdict_code(status: &ClusterStatus) -> u8 {
    match status.verdict {
        Verdict::Healthy => EXIT_OK,
        Verdict::Degraded => EXIT_NOT_READY,
        Verdict::Stalled => EXIT_PROBLEMS,
    }
}

async fn status(layout: &Layout, watch: bool, json: bool) -> Outcome {
    loop {
        let status = collect_status(layout).await?;
        if json {
            client::outln!(
                "{}",
                serde_json::to_string(&status).map_err(|e| failure(EXIT_FAILED, e.into()))?
            );
        } else {
            // A terminal is redrawn in place; a pipe or file gets each
            // refresh after a blank line, with no escape codes in it.
            if watch && std::io::stdout().is_terminal() {
                client::out!("\x1b[2J\x1b[H");
            } else if watch {
                client::outln!();
            }
            print_status(&status);
        }
        if !watch {
            return Ok(verdict_code(&status));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One log line as `logs` prints it: prefixed with its node, or with
/// `--json` one JSON object: the line's own object with `node` added when
/// the node logs JSON (`logging.format = "json"`), else `{node, line}`.
fn log_line(name: &str, line: &str, json: bool) -> String {
    if !json {
        return format!("{name:<7}| {line}");
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(mut fields)) => {
            fields.insert("node".into(), name.into());
            serde_json::Value::Object(fields).to_string()
        }
        _ => serde_json::json!({ "node": name, "line": line }).to_string(),
    }
}

fn logs(layout: &Layout, node: Option<String>, follow: bool, lines: usize, json: bool) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let names: Vec<String> = match node {
        Some(name) => {
            if !view.names().contains(&name) {
                return Err(failure(
                    2,
                    anyhow!(
                        "no node named {name:?} (this cluster has {})",
                        view.names().join(", ")
                    ),
                ));
            }
            vec![name]
        }
        None => view.names(),
    };
    // Start with the last lines of each, merged by their leading timestamp.
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut offsets = Vec::new();
    for name in &names {
        let path = layout.log(name);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        offsets.push(text.len() as u64);
        let all: Vec<&str> = text.lines().collect();
        for line in &all[all.len().saturating_sub(lines)..] {
            merged.push((name.clone(), (*line).to_string()));
        }
    }
    merged.sort_by(|a, b| a.1.get(..27).cmp(&b.1.get(..27)));
    for (name, line) in merged {
        client::outln!("{}", log_line(&name, &line, json));
    }
    if !follow {
        return Ok(EXIT_OK);
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        for (k, name) in names.iter().enumerate() {
            let Ok(mut file) = std::fs::File::open(layout.log(name)) else { continue };
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offsets[k] {
                offsets[k] = 0;
            }
            if len == offsets[k] || file.seek(SeekFrom::Start(offsets[k])).is_err() {
                continue;
            }
            let mut reader = std::io::BufReader::new(file);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                offsets[k] += line.len() as u64;
                client::outln!("{}", log_line(name, line.trim_end_matches('\n'), json));
                line.clear();
            }
        }
    }
}

async fn node_action(layout: &Layout, request: Request, json: bool) -> Outcome {
    let name = match &request {
        Request::Start { node }
        | Request::Stop { node }
        | Request::Restart { node }
        | Request::Kill { node }
        | Request::Pause { node }
        | Request::Resume { node } => node.clone(),
        _ => String::new(),
    };
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    if !view.names().contains(&name) {
        return Err(failure(
            2,
            anyhow!("no node named {name:?} (this cluster has {})", view.names().join(", ")),
        ));
    }
    let response = ask(layout, request).await?;
    let node = response.nodes.iter().find(|n| n.name == name);
    if json {
        client::outln!(
            "{}",
            serde_json::to_string(&node).map_err(|e| failure(EXIT_FAILED, e.into()))?
        );
    } else if let Some(node) = node {
        let exit =
            node.last_exit.as_ref().map(|e| format!(" (last exit: {e})")).unwrap_or_default();
        client::outln!(
            "{} is {}{}{}",
            node.name,
            node.state,
            node.pid.map(|p| format!(", pid {p}")).unwrap_or_default(),
            exit
        );
    }
    Ok(EXIT_OK)
}

async fn link_action(layout: &Layout, request: Request, json: bool) -> Outcome {
    let response = ask(layout, request).await?;
    print_links(&response.links, json)
}

fn print_links(links: &[LinkState], json: bool) -> Outcome {
    if json {
        client::outln!(
            "{}",
            serde_json::to_string(links).map_err(|e| failure(EXIT_FAILED, e.into()))?
        );
        return Ok(EXIT_OK);
    }
    let faulty: Vec<&LinkState> = links.iter().filter(|l| !l.faults.is_clear()).collect();
    if faulty.is_empty() {
        client::outln!("all {} links clear", links.len());
    }
    for link in faulty {
        client::outln!("{} -> {}: {}", link.from, link.to, link.faults);
    }
    Ok(EXIT_OK)
}

async fn set_faults(
    layout: &Layout,
    target: Option<String>,
    faults: LinkFaults,
    json: bool,
) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let links = faults::links_for(target.as_deref(), &view.names())
        .map_err(|e| failure(EXIT_USAGE, anyhow!(e)))?;
    link_action(layout, Request::SetFaults { links, faults }, json).await
}

async fn faults_run(layout: &Layout, file: &Path, seed: u64, json: bool) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let steps = faults::parse_schedule(&text, &view.names(), seed)
        .map_err(|e| failure(EXIT_USAGE, anyhow!("{}: {e}", file.display())))?;
    client::outln!("schedule ({} steps, seed {seed}):", steps.len());
    for step in &steps {
        client::outln!("  {}", faults::describe(step));
    }
    let start = Instant::now();
    // The node the last `proposer` step hit (`start proposer` brings it back).
    let mut hit: Option<String> = None;
    for mut step in steps {
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + step.at)).await;
        if let Action::Node { verb, node } = &mut step.action
            && node == faults::PROPOSER
        {
            let resolved = if matches!(verb.as_str(), "start" | "resume") {
                hit.clone()
            } else {
                view.current_proposer().await
            };
            let Some(resolved) = resolved else {
                client::outln!(
                    "[{:>7.2}s] {} FAILED: no node named the proposer",
                    start.elapsed().as_secs_f64(),
                    faults::describe(&step)
                );
                continue;
            };
            hit = Some(resolved.clone());
            *node = resolved;
        }
        let request = match &step.action {
            Action::Node { verb, node } => match verb.as_str() {
                "start" => Request::Start { node: node.clone() },
                "stop" => Request::Stop { node: node.clone() },
                "restart" => Request::Restart { node: node.clone() },
                "kill" => Request::Kill { node: node.clone() },
                "pause" => Request::Pause { node: node.clone() },
                _ => Request::Resume { node: node.clone() },
            },
            Action::Partition { groups } => Request::Partition { groups: groups.clone() },
            Action::Heal => Request::Heal,
            Action::Links { links, faults } => {
                Request::SetFaults { links: links.clone(), faults: faults.clone() }
            }
        };
        let now_ms = hostio::now_ms();
        match ask(layout, request).await {
            Ok(_) if json => client::outln!(
                "{}",
                serde_json::json!({"at_ms": now_ms, "step": faults::describe(&step), "ok": true})
            ),
            Ok(_) => {
                client::outln!(
                    "[{:>7.2}s] {}",
                    start.elapsed().as_secs_f64(),
                    faults::describe(&step)
                )
            }
            Err(f) => client::outln!(
                "[{:>7.2}s] {} FAILED: {:#}",
                start.elapsed().as_secs_f64(),
                faults::describe(&step),
                f.error
            ),
        }
    }
    Ok(EXIT_OK)
}

fn param_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

async fn rpc(layout: &Layout, node: &str, method: &str, params: &[String]) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let Some(i) = view.names().iter().position(|n| n == node) else {
        return Err(failure(
            2,
            anyhow!("no node named {node:?} (this cluster has {})", view.names().join(", ")),
        ));
    };
    let client = view.rpc(i).map_err(anyhow::Error::from)?;
    let params = serde_json::Value::Array(params.iter().map(|p| param_value(p)).collect());
    match client.call(method, params).await {
        Ok(value) => {
            client::outln!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
            );
            Ok(EXIT_OK)
        }
        Err(e) => Err(failure(EXIT_FAILED, anyhow!("{node}: {e}"))),
    }
}

/// A volume size as Kubernetes takes it: a number and a binary or
/// decimal suffix.
fn storage_quantity(text: &str) -> Result<String, String> {
    const SUFFIXES: [&str; 12] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E"];
    let number = SUFFIXES.iter().find_map(|s| text.strip_suffix(s)).unwrap_or(text);
    let valid = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.parse::<f64>().is_ok_and(|n| n > 0.0);
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a size such as 512Mi, 10Gi or 100G"))
    }
}

fn export(layout: &Layout, target: ExportTarget, json: bool) -> Outcome {
    use cluster::export::{self, ExportSpec};
    let (kind, args, spec) = match target {
        ExportTarget::K8s { common, storage, generators } => {
            let spec = ExportSpec {
                image: common.image.clone(),
                storage,
                tps: common.tps,
                duration: humantime::format_duration(common.duration).to_string(),
                generators,
            };
            ("k8s", common, spec)
        }
        ExportTarget::Compose { common } => {
            let spec = ExportSpec {
                image: common.image.clone(),
                tps: common.tps,
                duration: humantime::format_duration(common.duration).to_string(),
                ..ExportSpec::default()
            };
            ("compose", common, spec)
        }
    };
    let files = match kind {
        "k8s" => export::k8s(layout, &args.out, &spec),
        _ => export::compose(layout, &args.out, &spec),
    }
    .map_err(anyhow::Error::from)?;
    if json {
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        client::outln!("{}", serde_json::json!({"files": files}));
        return Ok(EXIT_OK);
    }
    let out = args.out.display();
    client::outln!("wrote {} files to {out}", files.len());
    let next = match kind {
        "k8s" => format!(
            "next: kubectl apply -f {out}   (the image {} must be pullable by the cluster; the loadgen Job starts at once and retries until the masternodes answer)",
            spec.image
        ),
        _ => format!(
            "next: docker compose -f {out}/compose.yaml up -d   (then --profile load up loadgen for a run; report in {out}/reports)"
        ),
    };
    client::outln!("{next}");
    Ok(EXIT_OK)
}

fn testnet(out: &Path, spec: &cluster::testnet::TestnetSpec, json: bool) -> Outcome {
    cluster::testnet::check(spec).map_err(|e| failure(EXIT_USAGE, anyhow!("{e}")))?;
    let now = hostio::now_ms();
    let file = cluster::testnet::create(out, spec, now).map_err(anyhow::Error::from)?;
    if json {
        client::outln!("{}", serde_json::to_string(&file).map_err(anyhow::Error::from)?);
        return Ok(EXIT_OK);
    }
    let mut table = client::table::table(&["NODE", "P2P (DIALLED)", "RPC", "ID"], &[]);
    for node in &file.nodes {
        let id = node.id.to_string();
        table.add_row([
            node.name.clone(),
            node.p2p_address.to_string(),
            node.rpc_address.to_string(),
            format!("{}…", &id[..16]),
        ]);
    }
    client::outln!("{}", client::table::render(&table, ""));
    client::outln!(
        "genesis {} written to {}\nnext: copy {}/node1 to the first host and run `timed --config timed.toml` in it, and so on for each node",
        file.genesis_hash,
        out.display(),
        out.display()
    );
    Ok(EXIT_OK)
}

async fn fund(layout: &Layout, address: &str, amount: &str, json: bool) -> Outcome {
    let view = ClusterView::load(layout).map_err(anyhow::Error::from)?;
    let to = Address::parse_for(address, Network::Dev)
        .map_err(|e| failure(EXIT_USAGE, anyhow!("{e}")))?;
    let amount: Amount = amount.parse().map_err(|e| failure(EXIT_USAGE, anyhow!("{e}")))?;
    let dev = &view.file.dev_wallet;
    let wallet = Wallet::load(Network::Dev, &[layout.resolve(&dev.key_file)])
        .map_err(|e| failure(EXIT_FAILED, e.into()))?;
    let mut last_error = None;
    for i in 0..view.file.nodes.len() {
        let Ok(client) = view.rpc(i) else { continue };
        let coins = match client.listunspent(&[dev.address]).await {
            Ok(coins) => coins,
            Err(e) => {
                last_error = Some(e.to_string());
                continue;
            }
        };
        let now = hostio::now_ms() as i64;
        let payment = Payment { to, amount, change: dev.address, timestamp_ms: now };
        let tx = wallet
            .pay(&Chain::from(view.genesis()), &payment, &coins)
            .map_err(|e| failure(EXIT_FAILED, e.into()))?;
        let txid = client
            .sendrawtransaction(&tx)
            .await
            .map_err(|e| failure(EXIT_FAILED, anyhow!("{e}")))?
            .txid;
        let outcome = client::finality::wait_for_settlement(&client, txid, Duration::from_secs(30))
            .await
            .map_err(|e| failure(EXIT_FAILED, anyhow!("{e}")))?;
        let state = match &outcome {
            client::finality::WaitOutcome::Settled(s) => s.state.to_string(),
            client::finality::WaitOutcome::TimedOut { last_state } => {
                format!("not final yet ({last_state:?})")
            }
        };
        if json {
            client::outln!("{}", serde_json::json!({"txid": txid, "state": state}));
        } else {
            client::outln!("{txid}");
            eprintln!("{state}");
        }
        return Ok(if matches!(outcome, client::finality::WaitOutcome::Settled(_)) {
            EXIT_OK
        } else {
            EXIT_NOT_READY
        });
    }
    Err(failure(
        1,
        anyhow!("no node answered: {}", last_error.unwrap_or_else(|| "is the cluster up?".into())),
    ))
}

async fn down(layout: &Layout, wipe: bool, json: bool) -> Outcome {
    use cluster::lifecycle::DownError;
    let report = cluster::lifecycle::down(layout, wipe).await.map_err(|e| match e {
        DownError::NotDeleting { .. } | DownError::NoCluster { .. } => {
            failure(EXIT_NO_CLUSTER, anyhow!("{e}"))
        }
        DownError::Refused(reason) => failure(EXIT_FAILED, anyhow!(reason)),
        DownError::Cluster(e) => Failure::from(anyhow::Error::from(e)),
        DownError::Wipe { dir, source } => failure(
            1,
            anyhow::Error::new(source).context(format!("cannot delete {}", dir.display())),
        ),
    })?;
    if json {
        client::outln!("{}", serde_json::json!({"down": true, "wiped": report.wiped}));
    } else {
        client::outln!(
            "cluster in {} is down{}",
            layout.dir().display(),
            if report.wiped { " and deleted" } else { "" }
        );
    }
    Ok(EXIT_OK)
}

async fn doctor(layout: &Layout, json: bool) -> Outcome {
    let report = cluster::doctor::check(layout).await;
    if json {
        let value = serde_json::json!({
            "ok": report.ok(),
            "problems": report.problems,
            "notes": report.notes,
        });
        client::outln!("{value}");
    } else {
        for note in &report.notes {
            client::outln!("  ok   {note}");
        }
        for finding in &report.problems {
            client::outln!("  FAIL {}\n       fix: {}", finding.problem(), finding.fix());
        }
        client::outln!("{}", if report.ok() { "no problems found" } else { "problems found" });
    }
    Ok(if report.ok() { EXIT_OK } else { EXIT_PROBLEMS })
}

async fn agent(layout: &Layout, create: Option<Create>, log_format: LogFormat) -> Outcome {
    client::logging::init(log_format, "info");
    let spec = match create {
        Some(create) => Some(ClusterSpec {
            nodes: create.nodes,
            block_interval_ms: create.block_time,
            pool_coins_per_key: create.pool_coins.div_ceil(POOL_KEYS as u32),
            pool_keys: POOL_KEYS,
            tiers: parse_tiers(create.tiers.as_deref(), create.nodes)?,
            byzantine: parse_byzantine(&create.byzantine)?,
            ..ClusterSpec::default()
        }),
        None => None,
    };
    cluster::agent::run_agent(layout.dir(), spec)
        .await
        .map_err(|e| failure(EXIT_FAILED, e.into()))?;
    Ok(EXIT_OK)
}
