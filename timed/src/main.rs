//! `timed`: the TimeCoin masternode daemon. Parses arguments, wires the
//! library together, and maps results to exit codes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{CommandFactory, Parser};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use hostio::{read_key_file, write_atomic};
use protocol::rpc::{DevWallet, NodeInfoFile};
use protocol::{Genesis, NodeId, SecretKey};
use timed::config::{Config, LogFormat};
use timed::devchain;
use timed::metrics::Metrics;
use timed::node::{self, NodeSettings, now_millis};
use timed::preflight;
use timed::rpc::{self, RpcSettings};

/// jemalloc, not glibc's malloc: with one arena per thread that ever
/// allocated, glibc held about twice the live heap at 1,000 tx/s and never
/// gave it back (measured in issue 14: 260 MB against 145 MB with two
/// arenas); jemalloc's background purge returns freed pages.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ABOUT: &str = "The TimeCoin masternode daemon: P2P, instant-finality voting, BFT blocks, \
sled storage, JSON-RPC, event stream and Prometheus metrics.";

const AFTER_HELP: &str = "\
Quick start (a one-masternode dev chain with a funded wallet, a block a second):
  timed --dev --data-dir /tmp/t1 &
  time-cli --datadir /tmp/t1 getblockchaininfo

Running a masternode of a real chain:
  timed --generate-config > timed.toml    # edit it: genesis_file, key_file, peers
  timed --check-config timed.toml
  timed --config timed.toml

Once listening, the node writes node.json in its data dir (RPC URL, P2P
address, cookie file, dev wallet) for tools to read.

Exit codes:
  0  stopped cleanly (SIGINT, SIGTERM or the `stop` RPC); --check-config found no problem
  1  failed while running (see the log)
  2  bad command line
  3  configuration problem (the message names the file and key)
  4  data dir problem (another chain's data, unwritable, locked by another node), or
     a write failed while running (a full disk): restart once fixed, nothing is lost
  5  a listen address is in use or cannot be bound
  101  a bug: a panic (logged with its location); the store is crash-safe, restart the node";

#[derive(Parser, Debug)]
#[command(name = "timed", version = VERSION.as_str(), about = ABOUT, after_help = AFTER_HELP)]
struct Args {
    /// The config file (TOML; see --generate-config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Start (or resume) a one-masternode dev chain: network 9, a funded dev
    /// wallet in genesis, one block per second, RPC and P2P on free ports.
    #[arg(long)]
    dev: bool,
    /// Data directory (overrides storage.data_dir; default for --dev: ./timed-dev).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// P2P listen address, ip:port (overrides network.listen_address).
    #[arg(long, value_name = "ADDR")]
    p2p_listen: Option<SocketAddr>,
    /// RPC listen address, ip:port (overrides rpc.listen_address).
    #[arg(long, value_name = "ADDR")]
    rpc_listen: Option<SocketAddr>,
    /// Print a complete commented default config and exit.
    #[arg(long)]
    generate_config: bool,
    /// Print this program's man page (roff) and exit: `timed --man | man -l -`,
    /// or save it as timed.1 in a man1 directory.
    #[arg(long)]
    man: bool,
    /// Check a config file (and the genesis and key files it names), print
    /// every problem, and exit 0 (none) or 3. A named file that does not
    /// exist yet is a warning, not a problem.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
    /// Log format: pretty or json (overrides logging.format).
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Test builds only (cargo feature `byzantine`): misbehave as a
    /// Byzantine masternode. MODE: equivocate, withhold-votes,
    /// withhold-precommits, conflicting-proposals, corrupt-bodies, replay,
    /// chaos; or panic (the driver panics a second after start),
    /// slow-disk (every persist takes 500 ms longer), clock-ahead or
    /// clock-behind (an honest node whose wall clock is 5 s off).
    #[arg(long, value_name = "MODE")]
    byzantine: Option<String>,
}

// Exit codes (AFTER_HELP lists them; the systemd unit's
// RestartPreventExitStatus and the container entrypoint rely on them).
/// Failed while running.
const EXIT_FAILED: u8 = 1;
/// Bad command line.
const EXIT_USAGE: u8 = 2;
/// A configuration problem.
const EXIT_CONFIG: u8 = 3;
/// A data dir problem, or a write that failed.
const EXIT_DATA_DIR: u8 = 4;
/// A listen address in use or not bindable.
const EXIT_BIND: u8 = 5;
/// The exit code of a panic (Rust's own).
const EXIT_PANIC: i32 = 101;

/// A panic anywhere is a bug the node cannot recover from in place (the
/// driver that owns the chain state may be gone): log it and end the
/// process with [`EXIT_PANIC`], so a supervisor restarts it, instead of
/// leaving a process that answers RPC but never votes. The store is
/// crash-safe, as after `kill -9`.
fn exit_on_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(
            "panic: {info}; exiting with code {EXIT_PANIC} so a supervisor restarts the node"
        );
        default_hook(info);
        std::process::exit(EXIT_PANIC);
    }));
}

static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(rpc::version_string);

/// A failure with its exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

fn fail(code: u8) -> impl FnOnce(anyhow::Error) -> Failure {
    move |error| Failure { code, error }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, error }) => {
            eprintln!("timed: {error:#}");
            ExitCode::from(code)
        }
    }
}

fn run(args: Args) -> Result<(), Failure> {
    let text = if args.generate_config {
        Some(Config::default_toml().into_bytes())
    } else if args.man {
        let mut page = Vec::new();
        clap_mangen::Man::new(Args::command()).render(&mut page).map_err(|e| Failure {
            code: EXIT_FAILED,
            error: anyhow!("cannot render the man page: {e}"),
        })?;
        Some(page)
    } else {
        None
    };
    if let Some(text) = text {
        // A reader that stops early (`| head`) is not an error.
        use std::io::Write as _;
        return match std::io::stdout().write_all(&text) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Failure { code: EXIT_FAILED, error: anyhow!("cannot write to stdout: {e}") })
            }
            _ => Ok(()),
        };
    }
    if let Some(path) = &args.check_config {
        return check_config(path);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("timed")
        .build()
        .context("cannot start the async runtime")
        .map_err(fail(EXIT_FAILED))?;
    let result = runtime.block_on(serve(args));
    // A task blocked in the store (a disk that failed can leave one stuck
    // in sled) would hold the process forever: it gets a bounded grace.
    runtime.shutdown_timeout(STOP_GRACE);
    result
}

/// How long a starting node waits for peer host names that do not resolve
/// yet (peers started at the same moment may reach DNS a little later).
const PEER_NAME_WAIT: Duration = Duration::from_secs(15);

/// How long a stopping node waits for its tasks (the driver's final flush
/// among them) before it exits without them; the store is crash-safe.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Checks the config file itself (syntax, every key, every value: errors,
/// exit 3) and the files it names. A named file that exists but is not valid
/// is an error; one that does not exist yet is a warning (a freshly generated
/// config names `genesis.json` beside it before the operator has placed it),
/// printed so the operator knows `timed --config` will refuse to start
/// without it.
fn check_config(path: &Path) -> Result<(), Failure> {
    let config = Config::load(path).map_err(|e| anyhow!("{e}")).map_err(fail(EXIT_CONFIG))?;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let genesis = &config.node.genesis_file;
    if !genesis.exists() {
        warnings.push(format!(
            "node.genesis_file: {} does not exist yet; timed will not start until it does",
            genesis.display()
        ));
    }
    let mut key = None;
    if let Some(key_file) = &config.masternode.key_file {
        if !key_file.exists() {
            warnings.push(format!(
                "masternode.key_file: {} does not exist yet; timed will not start until it does",
                key_file.display()
            ));
        } else {
            match read_key_file(key_file) {
                Ok((_, secret)) => key = Some(NodeId::from(secret.public())),
                Err(e) => problems.push(format!("masternode.key_file: {e}")),
            }
        }
    }
    let mut genesis_hash = None;
    if genesis.exists() {
        match load_genesis(genesis) {
            Ok(genesis) => {
                problems.extend(preflight::genesis_problems(&config, &genesis, key));
                genesis_hash = Some(genesis.hash());
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    // Names depend on where and when this runs (peers started together
    // appear in DNS together): a warning here; at start, timed waits for
    // them a while and then refuses.
    warnings.extend(preflight::unresolved_peers(&config, Duration::ZERO).into_iter().map(|w| {
        format!("{w}; timed waits up to {PEER_NAME_WAIT:?} for it at start, then refuses")
    }));
    if !problems.is_empty() {
        return Err(Failure {
            code: EXIT_CONFIG,
            error: anyhow!("{}: {}", path.display(), problems.join("\n")),
        });
    }
    for warning in &warnings {
        eprintln!("timed: warning: {}: {warning}", path.display());
    }
    let genesis = genesis_hash.map(|h| format!("; genesis hash {h}")).unwrap_or_default();
    match warnings.len() {
        0 => println!("{}: ok{genesis}", path.display()),
        n => println!("{}: ok (the file is valid; {n} warning(s) above){genesis}", path.display()),
    }
    Ok(())
}

fn load_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("node.genesis_file: cannot read {}", path.display()))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .with_context(|| format!("node.genesis_file: {} is not a valid genesis", path.display()))?;
    genesis.validate().with_context(|| format!("node.genesis_file: {}", path.display()))?;
    Ok(genesis)
}

fn init_logging(config: &Config, override_format: Option<&str>) -> Result<(), Failure> {
    let format = match override_format {
        Some("json") => LogFormat::Json,
        Some("pretty") => LogFormat::Pretty,
        Some(other) => {
            return Err(Failure {
                code: EXIT_USAGE,
                error: anyhow!("--log-format: expected pretty or json, got {other:?}"),
            });
        }
        None => config.logging.format,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.logging.level))
        .map_err(|e| Failure { code: EXIT_CONFIG, error: anyhow!("logging.level: {e}") })?;
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    result.map_err(|e| Failure { code: EXIT_FAILED, error: anyhow!("cannot start logging: {e}") })
}

async fn serve(args: Args) -> Result<(), Failure> {
    let base_config = match &args.config {
        Some(path) => Config::load(path).map_err(|e| anyhow!("{e}")).map_err(fail(EXIT_CONFIG))?,
        None if args.dev => dev_defaults(),
        None => {
            return Err(Failure {
                code: EXIT_CONFIG,
                error: anyhow!(
                    "no config: pass --config FILE (make one with `timed --generate-config > timed.toml`), or --dev for a dev chain"
                ),
            });
        }
    };
    let mut config = base_config;
    if let Some(dir) = &args.data_dir {
        config.storage.data_dir = dir.clone();
    } else if args.dev && args.config.is_none() {
        config.storage.data_dir = PathBuf::from("timed-dev");
    }
    if let Some(addr) = args.p2p_listen {
        config.network.listen_address = addr;
    }
    if let Some(addr) = args.rpc_listen {
        config.rpc.listen_address = addr;
    }
    config.validate().map_err(|e| anyhow!("{e}")).map_err(fail(EXIT_CONFIG))?;
    init_logging(&config, args.log_format.as_deref())?;
    exit_on_panic();
    let data_dir = config.storage.data_dir.clone();

    let (genesis, key, dev_wallet): (Genesis, Option<SecretKey>, Option<DevWallet>) = if args.dev {
        let dev = devchain::prepare(&data_dir, now_millis() as i64)
            .map_err(|e| anyhow!("{e}"))
            .map_err(fail(EXIT_DATA_DIR))?;
        let wallet = DevWallet {
            key_file: dev.wallet_key_file.display().to_string(),
            address: dev.wallet_address,
        };
        (dev.genesis, Some(dev.masternode_key), Some(wallet))
    } else {
        let genesis = load_genesis(&config.node.genesis_file).map_err(fail(EXIT_CONFIG))?;
        let key = match &config.masternode.key_file {
            Some(path) => Some(
                read_key_file(path)
                    .map(|(_, key)| key)
                    .map_err(|e| anyhow!("masternode.key_file: {e}"))
                    .map_err(fail(EXIT_CONFIG))?,
            ),
            None => None,
        };
        let member = key.as_ref().map(|k| NodeId::from(k.public()));
        let mut problems = preflight::genesis_problems(&config, &genesis, member);
        let names = config.clone();
        problems.extend(
            tokio::task::spawn_blocking(move || {
                preflight::unresolved_peers(&names, PEER_NAME_WAIT)
            })
            .await
            .map_err(|e| anyhow!("cannot resolve the peer names: {e}"))
            .map_err(fail(EXIT_FAILED))?,
        );
        if !problems.is_empty() {
            return Err(Failure { code: EXIT_CONFIG, error: anyhow!("{}", problems.join("\n")) });
        }
        (genesis, key, None)
    };

    let settings = NodeSettings {
        byzantine: args.byzantine.clone(),
        ..NodeSettings::from_config(&config, genesis.clone(), key)
    };
    let tracker = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let (handle, published) =
        node::start(settings, &tracker, shutdown.clone()).await.map_err(|e| {
            let code = match &e {
                node::NodeError::Store(_) => EXIT_DATA_DIR,
                node::NodeError::Net(_) => EXIT_BIND,
                node::NodeError::Byzantine(_) => EXIT_USAGE,
                _ => EXIT_FAILED,
            };
            Failure { code, error: anyhow!("{e}") }
        })?;
    let metrics = Arc::new(Metrics::new());
    let rpc_settings = RpcSettings::from_config(&config);
    let server = match rpc::serve(
        rpc_settings,
        handle.clone(),
        metrics,
        published.p2p_address,
        &tracker,
        shutdown.clone(),
    )
    .await
    {
        Ok(server) => server,
        Err(e) => {
            shutdown.cancel();
            tracker.close();
            tracker.wait().await;
            let code = match e {
                rpc::RpcError::Bind { .. } | rpc::RpcError::MetricsBind { .. } => EXIT_BIND,
                _ => EXIT_DATA_DIR,
            };
            return Err(Failure { code, error: anyhow!("{e}") });
        }
    };
    let info = NodeInfoFile {
        version: VERSION.clone(),
        pid: std::process::id(),
        node_id: published.node_id,
        network: genesis.network,
        chain_id: genesis.chain_id.0,
        genesis_hash: genesis.hash(),
        p2p_address: published.p2p_address.to_string(),
        rpc_url: server.url(),
        rpc_cookie_file: server.cookie_file.as_ref().map(|p| p.display().to_string()),
        metrics_url: server.metrics_addr.map(|addr| format!("http://{addr}")),
        dev_wallet: dev_wallet.clone(),
    };
    let json = serde_json::to_vec_pretty(&info)
        .context("encoding node.json")
        .map_err(fail(EXIT_FAILED))?;
    write_atomic(&data_dir.join("node.json"), &json)
        .map_err(|e| anyhow!("{e}"))
        .map_err(fail(EXIT_DATA_DIR))?;
    banner(&info, &data_dir);
    notify_service_manager(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("serving RPC at {}", info.rpc_url)),
    ]);

    tokio::select! {
        _ = shutdown.cancelled() => info!("stop requested"),
        signal = wait_for_signal() => info!("received {signal}; stopping"),
    }
    notify_service_manager(&[sd_notify::NotifyState::Stopping]);
    shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(STOP_GRACE, tracker.wait()).await.is_err() {
        error!(
            "{} tasks still running {STOP_GRACE:?} after the stop; exiting without them",
            tracker.len()
        );
    }
    let fatal = handle.stats().fatal.lock().map(|f| f.clone()).unwrap_or_default();
    if let Some(reason) = fatal {
        // Not a clean stop: a supervisor must see it (and restart the node
        // once the cause, such as a full disk, is fixed). The process ends
        // here, without dropping the store: sled flushes on drop, and after
        // a failed write it waits forever for a write it cannot make. What
        // was durable stays so; nothing after it was reported final.
        eprintln!(
            "timed: stopped because the store could not persist ({reason}); nothing unwritten was reported final, restart timed once the cause is fixed: it resumes from what is on disk"
        );
        std::process::exit(4);
    }
    info!("stopped");
    Ok(())
}

/// `--dev` without a config: everything local, ports chosen by the OS.
fn dev_defaults() -> Config {
    let mut config = Config::default();
    config.network.listen_address = SocketAddr::from(([127, 0, 0, 1], 0));
    config.rpc.listen_address = SocketAddr::from(([127, 0, 0, 1], 0));
    config.network.enable_peer_discovery = false;
    config
}

/// Tells systemd (`Type=notify`, `NOTIFY_SOCKET` set) the node is ready, or
/// stopping; nothing without a service manager listening. A failure to tell
/// it is logged, never fatal: the node serves either way.
fn notify_service_manager(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        warn!("could not notify the service manager (NOTIFY_SOCKET): {e}");
    }
}

fn banner(info: &NodeInfoFile, data_dir: &Path) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "timed {} ({} chain {})", info.version, info.network, info.chain_id);
    let _ = writeln!(out, "  node id   {}", info.node_id);
    let _ = writeln!(out, "  rpc       {}", info.rpc_url);
    let _ = writeln!(out, "  p2p       {}", info.p2p_address);
    let _ = writeln!(out, "  data dir  {}", data_dir.display());
    if let Some(wallet) = &info.dev_wallet {
        let _ = writeln!(out, "  dev wallet {} (key file {})", wallet.address, wallet.key_file);
    }
    let _ = writeln!(out, "  node.json {}", data_dir.join("node.json").display());
    let _ = out.flush();
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}
