//! The command line: clap's definitions of every subcommand and option,
//! and the texts `--help` shows.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use client::logging::LogFormat;
use cluster::layout::DEFAULT_DIR;

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
pub(crate) struct Args {
    /// The cluster directory.
    #[arg(long, global = true, default_value = DEFAULT_DIR, value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// Machine-readable JSON output (`logs`: one JSON object per line).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// The agent's log (agent.log in the cluster directory): text, or one
    /// JSON object per line. Set when `up` starts the agent.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
pub(crate) struct ExportArgs {
    /// Where to write (a new or empty directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// The container image with timed, time-cli and loadgen
    /// (`podman build -f packaging/container/Containerfile -t timed .`).
    #[arg(long, default_value = "localhost/timed:latest")]
    pub(crate) image: String,
    /// loadgen's offered rate (per generator), in transactions per second.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) tps: u32,
    /// loadgen's measured duration (e.g. 60s, 5m).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) duration: Duration,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ExportTarget {
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
pub(crate) enum FaultsCommand {
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

/// Masternodes of a new cluster when `--nodes` is not given.
pub(crate) const DEFAULT_NODES: usize = 5;
/// Keys of the load pool of a new cluster.
pub(crate) const POOL_KEYS: usize = 32;
/// Its coins by default: enough for `make demo` (1,000 tx/s) with room.
const DEFAULT_POOL_COINS: u32 = 8_000;
/// Most pool coins (genesis holds them all, and every node loads it).
const MAX_POOL_COINS: u32 = 256_000;

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
