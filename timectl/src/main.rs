//! `timectl`: a working local masternode network in one command, and the
//! tools to break it on purpose. Thin: parses arguments, talks to the
//! cluster's agent and nodes through the `cluster` and `client` libraries,
//! prints, and maps results to exit codes.
//!
//! | concern | module |
//! |---|---|
//! | arguments and `--help` | [`cli`] |
//! | dispatch, failures and exit codes | here |
//! | tables and text / JSON output | [`render`] |
//! | `up`, `down`, `doctor`, the hidden `agent` | [`commands::lifecycle`] |
//! | `status`, `logs` | [`commands::observe`] |
//! | node actions, link faults, `faults run` | [`commands::faults`] |
//! | `rpc`, `fund` | [`commands::chain`] |
//! | `export`, `testnet` | [`commands::files`] |

mod cli;
mod commands;
mod render;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Args, Command, FaultsCommand};
use cluster::control::Request;
use cluster::layout::Layout;
use commands::lifecycle::Create;
use commands::{chain, faults, files, lifecycle, observe};

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

/// A command that failed: the exit code, and the message (printed with
/// its causes).
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

/// A command's exit code, or how it failed.
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
            lifecycle::up(&layout, create, timeout, json, args.log_format).await
        }
        Command::Status { watch } => observe::status(&layout, watch, json).await,
        Command::Logs { node, follow, lines } => observe::logs(&layout, node, follow, lines, json),
        Command::Start { node } => {
            faults::node_action(&layout, Request::Start { node }, json).await
        }
        Command::Stop { node } => faults::node_action(&layout, Request::Stop { node }, json).await,
        Command::Restart { node } => {
            faults::node_action(&layout, Request::Restart { node }, json).await
        }
        Command::Kill { node } => faults::node_action(&layout, Request::Kill { node }, json).await,
        Command::Pause { node } => {
            faults::node_action(&layout, Request::Pause { node }, json).await
        }
        Command::Resume { node } => {
            faults::node_action(&layout, Request::Resume { node }, json).await
        }
        Command::Partition { spec } => faults::partition(&layout, &spec, json).await,
        Command::Cut { target } => faults::cut(&layout, target, json).await,
        Command::Heal => faults::link_action(&layout, Request::Heal, json).await,
        Command::Delay { args } => faults::delay(&layout, &args, json).await,
        Command::Loss { pct, target } => faults::loss(&layout, pct, target, json).await,
        Command::Bandwidth { bps, target } => faults::bandwidth(&layout, bps, target, json).await,
        Command::Faults { command: FaultsCommand::Run { file, seed } } => {
            faults::run_schedule(&layout, &file, seed, json).await
        }
        Command::Rpc { node, method, params } => chain::rpc(&layout, &node, &method, &params).await,
        Command::Fund { address, amount } => chain::fund(&layout, &address, &amount, json).await,
        Command::Down { wipe } => lifecycle::down(&layout, wipe, json).await,
        Command::Doctor => lifecycle::doctor(&layout, json).await,
        Command::Export { target } => files::export(&layout, target, json),
        Command::Testnet { hosts, out, p2p_port, rpc_port, metrics_port, bind_all, block_time } => {
            let spec = cluster::testnet::TestnetSpec {
                hosts,
                p2p_port,
                rpc_port,
                metrics_port,
                bind_all,
                chain: cluster::ClusterSpec {
                    block_interval_ms: block_time,
                    ..cluster::ClusterSpec::default()
                },
            };
            files::testnet(&out, &spec, json)
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
            lifecycle::agent(&layout, create.then_some(spec), args.log_format).await
        }
    }
}
