//! Shared helpers for the end-to-end scenarios: a cluster in a temp dir,
//! one at a time, with log tails on failure.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::wallet::Wallet;
use client::{ClientError, RpcClient};
use cluster::testing::{ClusterLock, exclusive};
use cluster::{Cluster, ClusterSpec, ReadyReport, wait_ready};
use protocol::rpc::{TxState, Unspent};
use protocol::{Address, Amount, Network, OutPoint, Transaction, TxId, TxOut};

/// A running cluster for one test, stopped (and its dir removed) on drop.
#[derive(Debug)]
pub struct TestCluster {
    /// The cluster.
    pub cluster: Cluster,
    /// How readiness went.
    pub ready: ReadyReport,
    _dir: tempfile::TempDir,
    _lock: ClusterLock,
}

/// Starts an `n`-node cluster and waits until it is ready.
pub async fn start(n: usize) -> TestCluster {
    start_with(ClusterSpec {
        nodes: n,
        pool_keys: 4,
        pool_coins_per_key: 20,
        ..ClusterSpec::default()
    })
    .await
}

/// The cluster's load-generation pool keys as one wallet.
pub fn pool_wallet(cluster: &Cluster) -> Wallet {
    let paths: Vec<_> =
        cluster.file().pool.key_files.iter().map(|f| cluster.layout().resolve(f)).collect();
    Wallet::load(Network::Dev, &paths).expect("pool key files")
}

/// Spendable coins of `address` as node `i` sees them.
pub async fn coins_of(cluster: &Cluster, i: usize, address: Address) -> Vec<Unspent> {
    rpc(cluster, i).listunspent(&[address]).await.expect("listunspent")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A transaction spending `inputs` (pool coins, possibly of several keys)
/// back to the first input's owner, minus the smallest fee the rules allow.
pub fn spend(cluster: &Cluster, wallet: &Wallet, inputs: &[&Unspent]) -> Transaction {
    let params = &cluster.genesis().params;
    let total: u64 = inputs.iter().map(|c| c.value_sat).sum();
    let fee = params.required_fee(inputs.len(), Amount::from_sat(total)).expect("fee").sat();
    let outputs =
        vec![TxOut { value: Amount::from_sat(total - fee), address: inputs[0].address.payload }];
    let spent: Vec<(OutPoint, TxOut)> = inputs
        .iter()
        .map(|c| {
            (
                OutPoint { txid: c.txid, vout: c.vout },
                TxOut { value: Amount::from_sat(c.value_sat), address: c.address.payload },
            )
        })
        .collect();
    wallet.build_and_sign(cluster.genesis().chain_id, &spent, outputs, now_ms()).expect("sign")
}

/// Two coins of two different pool keys, from node `i`'s view, skipping
/// the first `skip` pairs.
pub async fn two_key_coins(cluster: &Cluster, i: usize, skip: usize) -> (Unspent, Unspent) {
    let addresses: Vec<Address> = pool_wallet(cluster).addresses();
    let a = coins_of(cluster, i, addresses[0]).await;
    let b = coins_of(cluster, i, addresses[1]).await;
    (a[skip].clone(), b[skip].clone())
}

/// The state of `txid` at node `i`: `None` when the node says it does not
/// know it. A node that does not answer fails the test: "not final" must
/// never be concluded from a dead node.
pub async fn state(cluster: &Cluster, i: usize, txid: &TxId) -> Option<TxState> {
    try_state(cluster, i, txid).await.unwrap_or_else(|e| {
        panic!("node{} did not answer about {txid}: {e}\n{}", i + 1, cluster.logs(20))
    })
}

/// [`state`], with a node that does not answer as an error.
pub async fn try_state(
    cluster: &Cluster,
    i: usize,
    txid: &TxId,
) -> Result<Option<TxState>, String> {
    let client = cluster.rpc(i).map_err(|e| e.to_string())?;
    known_state(client.gettransactionfinality(txid).await.map(|f| f.state))
}

/// A `gettransactionfinality` answer as "the state, or not known"; any
/// other error (the node did not answer) is an error.
pub fn known_state(answer: Result<TxState, ClientError>) -> Result<Option<TxState>, String> {
    match answer {
        Ok(state) => Ok(Some(state)),
        Err(ClientError::Rpc { code: protocol::rpc::codes::NOT_FOUND, .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Waits until `txid` is final (or committed) on every node of `nodes`.
pub async fn wait_final(cluster: &Cluster, nodes: &[usize], txid: &TxId, within: Duration) {
    let deadline = Instant::now() + within;
    for &i in nodes {
        loop {
            // A node that does not answer yet (restarting) is waited for.
            let now = try_state(cluster, i, txid).await;
            if now.as_ref().is_ok_and(|s| s.is_some_and(TxState::is_final)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{txid} not final on node{} within {within:?} (state {now:?})\n{}",
                i + 1,
                cluster.logs(20)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Committed height of node `i`.
pub async fn height(cluster: &Cluster, i: usize) -> u64 {
    rpc(cluster, i).getblockcount().await.expect("getblockcount")
}

/// Waits until every node of `nodes` has committed at least `target`.
pub async fn wait_height(cluster: &Cluster, nodes: &[usize], target: u64, within: Duration) {
    let deadline = Instant::now() + within;
    for &i in nodes {
        while height(cluster, i).await < target {
            assert!(
                Instant::now() < deadline,
                "node{} below height {target} after {within:?}\n{}",
                i + 1,
                cluster.logs(20)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sends `tx` to node `i`.
pub async fn send(cluster: &Cluster, i: usize, tx: &Transaction) -> Result<TxId, ClientError> {
    rpc(cluster, i).sendrawtransaction(tx).await.map(|s| s.txid)
}

/// An RPC client of node `i`.
pub fn rpc(cluster: &Cluster, i: usize) -> RpcClient {
    cluster.rpc(i).expect("node.json")
}

/// Starts a cluster made to `spec` (e.g. a larger coin pool for load
/// generation) and waits until it is ready.
pub async fn start_with(spec: ClusterSpec) -> TestCluster {
    let lock = exclusive().expect("cluster test lock");
    let dir = tempfile::tempdir().expect("temp dir");
    let n = spec.nodes;
    let mut cluster = Cluster::create(&dir.path().join("c"), &spec).await.expect("create cluster");
    cluster.start_all().await.expect("start nodes");
    let live: Vec<usize> = (0..n).collect();
    let ready = match wait_ready(&cluster.view(), &live, Duration::from_secs(60)).await {
        Ok(report) => report,
        Err(e) => panic!("cluster not ready: {e}"),
    };
    TestCluster { cluster, ready, _dir: dir, _lock: lock }
}

// ---------------------------------------------------------------------------
// Outside tools some tests run (Python packages, systemd-analyze, podman).
// ---------------------------------------------------------------------------

/// Whether a missing outside tool fails the test instead of skipping it:
/// `TIMECOIN_REQUIRE_TOOLS` set (to anything but empty or `0`), as `make
/// test` sets it after installing the tools.
pub fn require_tools() -> bool {
    std::env::var_os("TIMECOIN_REQUIRE_TOOLS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The Python interpreter that has the test tools of
/// `packaging/test-requirements.txt` (prometheus-client,
/// kubernetes-validate): `TIMECOIN_PYTHON`, which `make test` points at
/// the venv it installs in `target/pyenv`. Unset, the test is skipped
/// (`None`, with a line saying so), unless `TIMECOIN_REQUIRE_TOOLS` is set:
/// then it fails, so the tool checks cannot silently not run under `make
/// test`.
pub fn python_tools() -> Option<std::path::PathBuf> {
    match std::env::var_os("TIMECOIN_PYTHON").filter(|v| !v.is_empty()) {
        Some(python) => {
            let python = std::path::PathBuf::from(python);
            assert!(
                python.components().count() == 1 || python.exists(),
                "TIMECOIN_PYTHON={} does not exist: run `make test` (or `make pytools`), which \
                 installs the Python tools there",
                python.display()
            );
            Some(python)
        }
        None if require_tools() => panic!(
            "TIMECOIN_REQUIRE_TOOLS is set but TIMECOIN_PYTHON is not: run `make test`, which \
             installs the Python tools (packaging/test-requirements.txt) in target/pyenv and \
             sets both"
        ),
        None => {
            eprintln!("skipped: TIMECOIN_PYTHON not set (make test installs the tools)");
            None
        }
    }
}

/// `name` as found on `PATH`, or `None`.
pub fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// A tool the test needs from `PATH`: `None` (with a line saying the test
/// is skipped, and why) when it is not installed, unless
/// `TIMECOIN_REQUIRE_TOOLS` is set: then a missing tool fails the test.
pub fn required_tool(name: &str, install_hint: &str) -> Option<std::path::PathBuf> {
    let found = on_path(name);
    if found.is_none() {
        assert!(
            !require_tools(),
            "{name} is not on PATH and TIMECOIN_REQUIRE_TOOLS is set ({install_hint})"
        );
        eprintln!("skipped: {name} not installed ({install_hint})");
    }
    found
}
