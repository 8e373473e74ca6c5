//! A `timed --dev` process on a scratch dir, the constants every test
//! waits with, and running `timed` for its command line.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::RpcClient;
use client::rpc::read_node_info;
use client::wallet::Wallet;
use cluster::testing::{ClusterLock, exclusive};
use protocol::rpc::{NodeInfoFile, TxState};
use protocol::{Network, TxId};
use tokio::process::{Child, Command};

/// The longest any single condition is waited for. A dev node finalizes in
/// milliseconds and commits a block a second; this is for a loaded machine.
pub(crate) const WAIT: Duration = Duration::from_secs(20);
pub(crate) const POLL: Duration = Duration::from_millis(20);
pub(crate) const TIME: u64 = protocol::amount::SAT_PER_TIME;
/// What `timed --dev` puts in genesis for its wallet (timed::devchain).
pub(crate) const DEV_COINS: u64 = 100;
pub(crate) const DEV_COIN_SAT: u64 = 10_000 * TIME;

pub(crate) fn timed_binary() -> PathBuf {
    cluster::binaries::timed().unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn lock() -> ClusterLock {
    exclusive().expect("the cluster test lock")
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The last `lines` lines of a log file.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One run of `timed --dev --data-dir DIR`, killed when dropped. When the
/// test is failing, dropping it prints the end of its log.
pub(crate) struct DevNode {
    pub(crate) child: Child,
    data_dir: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) info: NodeInfoFile,
    pub(crate) rpc: RpcClient,
}

impl DevNode {
    /// Starts the node and waits for the `node.json` of this process (a
    /// killed run leaves its own behind, with its pid).
    pub(crate) async fn start(data_dir: &Path, log: &Path) -> DevNode {
        DevNode::start_with(data_dir, log, None).await
    }

    /// [`DevNode::start`] with a config file (`--dev --config FILE`).
    pub(crate) async fn start_with(data_dir: &Path, log: &Path, config: Option<&Path>) -> DevNode {
        DevNode::start_limited(data_dir, log, config, None).await
    }

    /// [`DevNode::start_with`], and with `max_file_kib` the process may
    /// not write any file past that size (`ulimit -f`, SIGXFSZ ignored):
    /// such a write fails with EFBIG, as one on a full disk fails with
    /// ENOSPC, without needing root to make a small filesystem.
    pub(crate) async fn start_limited(
        data_dir: &Path,
        log: &Path,
        config: Option<&Path>,
        max_file_kib: Option<u64>,
    ) -> DevNode {
        DevNode::start_full(data_dir, log, config, max_file_kib, &[]).await
    }

    /// [`DevNode::start_limited`] with `env` added to the node's environment.
    pub(crate) async fn start_full(
        data_dir: &Path,
        log: &Path,
        config: Option<&Path>,
        max_file_kib: Option<u64>,
        env: &[(&str, &Path)],
    ) -> DevNode {
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        writeln!(out, "===== timed --dev --data-dir {} =====", data_dir.display())
            .expect("write the node log");
        let err = out.try_clone().expect("clone the log handle");
        let mut command = match max_file_kib {
            None => Command::new(timed_binary()),
            Some(kib) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("trap '' XFSZ; ulimit -f {kib} && exec \"$0\" \"$@\""))
                    .arg(timed_binary());
                shell
            }
        };
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = command
            .arg("--dev")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--rpc-listen", "127.0.0.1:0", "--p2p-listen", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn timed");
        let pid = child.id().expect("a running child has a pid");
        let deadline = Instant::now() + WAIT;
        let info = loop {
            if let Ok(info) = read_node_info(data_dir)
                && info.pid == pid
            {
                break info;
            }
            if let Some(status) = child.try_wait().expect("poll the child") {
                panic!("timed exited ({status}) before writing node.json\n{}", tail(log, 40));
            }
            assert!(Instant::now() < deadline, "no node.json within {WAIT:?}\n{}", tail(log, 40));
            tokio::time::sleep(POLL).await;
        };
        let rpc = RpcClient::from_data_dir(data_dir).expect("an RPC client from node.json");
        DevNode { child, data_dir: data_dir.to_path_buf(), log: log.to_path_buf(), info, rpc }
    }

    /// SIGKILL, and wait until the process is gone.
    pub(crate) async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL timed");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("a killed process exits")
            .expect("wait for timed");
        assert!(!status.success(), "a SIGKILLed timed reported success");
    }

    /// Waits for the process to exit on its own.
    pub(crate) async fn exit_status(&mut self) -> ExitStatus {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(status) => status.expect("wait for timed"),
            Err(_) => panic!("timed still running {WAIT:?} after stop\n{}", tail(&self.log, 40)),
        }
    }

    /// The dev wallet's key, as a wallet.
    pub(crate) fn wallet(&self) -> Wallet {
        let dev = self.info.dev_wallet.as_ref().expect("node.json of --dev names the dev wallet");
        Wallet::load(Network::Dev, &[&dev.key_file]).expect("the dev wallet key file")
    }

    pub(crate) async fn height(&self) -> u64 {
        self.rpc.getblockcount().await.expect("getblockcount")
    }

    pub(crate) async fn wait_height(&self, target: u64) {
        let deadline = Instant::now() + WAIT;
        while self.height().await < target {
            assert!(Instant::now() < deadline, "height {target} not reached in {WAIT:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    pub(crate) async fn state(&self, txid: &TxId) -> Option<TxState> {
        self.rpc.gettransactionfinality(txid).await.ok().map(|f| f.state)
    }

    /// Waits until `txid` is in a block; returns the height.
    pub(crate) async fn wait_committed(&self, txid: &TxId) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let finality = self.rpc.gettransactionfinality(txid).await;
            if let Ok(f) = &finality
                && f.state == TxState::Committed
            {
                return f.block_height.expect("a committed transaction names its block");
            }
            assert!(Instant::now() < deadline, "{txid} not committed in {WAIT:?}: {finality:?}");
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- {} ({}), last lines -----\n{}\n-----",
                self.log.display(),
                self.data_dir.display(),
                tail(&self.log, 60)
            );
        }
    }
}

/// A temp dir with a data dir and a log file in it.
pub(crate) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) async fn start(&self) -> DevNode {
        DevNode::start(&self.path("data"), &self.path("timed.log")).await
    }

    /// [`Scratch::start`] with a config file (`--dev --config FILE`).
    pub(crate) async fn start_with(&self, config: &Path) -> DevNode {
        DevNode::start_with(&self.path("data"), &self.path("timed.log"), Some(config)).await
    }
}

/// Runs `timed` with `args` to completion (within `WAIT`).
pub(crate) async fn run_timed(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut command = Command::new(timed_binary());
    command.args(args).env_remove("RUST_LOG").stdin(Stdio::null()).kill_on_drop(true);
    tokio::time::timeout(WAIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("timed {args:?} still running after {WAIT:?}"))
        .expect("run timed")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An HTTP client for raw requests to a node (no proxy in between).
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("an HTTP client")
}
