//! `timed --dev` end to end: real processes on a temp dir with every port
//! chosen by the OS, driven through the typed client (`client`), raw HTTP
//! where the point is what goes over the wire, and the binary's command
//! line.
//!
//! Each test holds the cluster lock (`cluster::testing::exclusive`), so no
//! two of these, nor a cluster test, share the two cores. A node's stdout
//! and stderr go to a log file in its temp dir, printed when a test fails.
//! Waits are for conditions under a deadline, never fixed sleeps.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::events::{SseMessage, SseParser};
use client::rpc::{BlockResult, Verbosity, read_node_info};
use client::wallet::{Chain, Payment, Wallet};
use client::{ClientError, EventStream, EventStreamOptions, RpcClient};
use cluster::testing::{ClusterLock, exclusive};
use protocol::bft::CommitCertificate;
use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::rpc::{BlockJson, BlockTxs, NodeInfoFile, StreamEvent, TxState, codes};
use protocol::tx::{TX_VERSION, input_signing_message};
use protocol::{
    Address, Amount, Block, ChainId, ConsensusParams, Genesis, Network, NodeId, OutPoint,
    SecretKey, Signature, Tier, Transaction, TxId, TxIn, TxOut,
};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The longest any single condition is waited for. A dev node finalizes in
/// milliseconds and commits a block a second; this is for a loaded machine.
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);
const TIME: u64 = protocol::amount::SAT_PER_TIME;
/// What `timed --dev` puts in genesis for its wallet (timed::devchain).
const DEV_COINS: u64 = 100;
const DEV_COIN_SAT: u64 = 10_000 * TIME;

// ---------------------------------------------------------------------------
// A `timed --dev` process.
// ---------------------------------------------------------------------------

fn timed_binary() -> PathBuf {
    cluster::binaries::timed().unwrap_or_else(|e| panic!("{e}"))
}

fn lock() -> ClusterLock {
    exclusive().expect("the cluster test lock")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One run of `timed --dev --data-dir DIR`, killed when dropped. When the
/// test is failing, dropping it prints the end of its log.
struct DevNode {
    child: Child,
    data_dir: PathBuf,
    log: PathBuf,
    info: NodeInfoFile,
    rpc: RpcClient,
}

impl DevNode {
    /// Starts the node and waits for the `node.json` of this process (a
    /// killed run leaves its own behind, with its pid).
    async fn start(data_dir: &Path, log: &Path) -> DevNode {
        DevNode::start_with(data_dir, log, None).await
    }

    /// [`DevNode::start`] with a config file (`--dev --config FILE`).
    async fn start_with(data_dir: &Path, log: &Path, config: Option<&Path>) -> DevNode {
        DevNode::start_limited(data_dir, log, config, None).await
    }

    /// [`DevNode::start_with`], and with `max_file_kib` the process may
    /// not write any file past that size (`ulimit -f`, SIGXFSZ ignored):
    /// such a write fails with EFBIG, as one on a full disk fails with
    /// ENOSPC, without needing root to make a small filesystem.
    async fn start_limited(
        data_dir: &Path,
        log: &Path,
        config: Option<&Path>,
        max_file_kib: Option<u64>,
    ) -> DevNode {
        DevNode::start_full(data_dir, log, config, max_file_kib, &[]).await
    }

    /// [`DevNode::start_limited`] with `env` added to the node's environment.
    async fn start_full(
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
    async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL timed");
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("a killed process exits")
            .expect("wait for timed");
        assert!(!status.success(), "a SIGKILLed timed reported success");
    }

    /// Waits for the process to exit on its own.
    async fn exit_status(&mut self) -> ExitStatus {
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(status) => status.expect("wait for timed"),
            Err(_) => panic!("timed still running {WAIT:?} after stop\n{}", tail(&self.log, 40)),
        }
    }

    /// The dev wallet's key, as a wallet.
    fn wallet(&self) -> Wallet {
        let dev = self.info.dev_wallet.as_ref().expect("node.json of --dev names the dev wallet");
        Wallet::load(Network::Dev, &[&dev.key_file]).expect("the dev wallet key file")
    }

    async fn height(&self) -> u64 {
        self.rpc.getblockcount().await.expect("getblockcount")
    }

    async fn wait_height(&self, target: u64) {
        let deadline = Instant::now() + WAIT;
        while self.height().await < target {
            assert!(Instant::now() < deadline, "height {target} not reached in {WAIT:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    async fn state(&self, txid: &TxId) -> Option<TxState> {
        self.rpc.gettransactionfinality(txid).await.ok().map(|f| f.state)
    }

    /// Waits until `txid` is in a block; returns the height.
    async fn wait_committed(&self, txid: &TxId) -> u64 {
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
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn start(&self) -> DevNode {
        DevNode::start(&self.path("data"), &self.path("timed.log")).await
    }
}

// ---------------------------------------------------------------------------
// Paying with the dev wallet.
// ---------------------------------------------------------------------------

fn address(seed: u8) -> Address {
    Address::from_public_key(&SecretKey::from_seed([seed; 32]).public(), Network::Dev)
}

/// The dev wallet, with every payment it made (so a coin is never offered
/// twice while its spender is not final yet).
struct Payer {
    wallet: Wallet,
    chain: Chain,
    used: HashSet<OutPoint>,
    sent: Vec<Transaction>,
}

impl Payer {
    async fn new(node: &DevNode) -> Payer {
        let genesis = node.rpc.getgenesis().await.expect("getgenesis");
        Payer {
            wallet: node.wallet(),
            chain: Chain::from(&genesis),
            used: HashSet::new(),
            sent: Vec::new(),
        }
    }

    fn me(&self) -> Address {
        self.wallet.addresses()[0]
    }

    /// A signed payment of `amount` to `to`, built by the wallet from
    /// `listunspent` (largest coins first).
    async fn pay(&mut self, rpc: &RpcClient, to: Address, amount: Amount) -> Transaction {
        self.try_pay(rpc, to, amount).await.expect("listunspent")
    }

    /// [`Payer::pay`], or the error of `listunspent` (a node that stopped).
    async fn try_pay(
        &mut self,
        rpc: &RpcClient,
        to: Address,
        amount: Amount,
    ) -> Result<Transaction, ClientError> {
        let coins: Vec<_> = rpc
            .listunspent(&self.wallet.addresses())
            .await?
            .into_iter()
            .filter(|c| !self.used.contains(&OutPoint { txid: c.txid, vout: c.vout }))
            .collect();
        let payment = Payment { to, amount, change: self.me(), timestamp_ms: now_ms() };
        let tx = self.wallet.pay(&self.chain, &payment, &coins).expect("the wallet pays");
        self.used.extend(tx.inputs.iter().map(|i| i.prev));
        self.sent.push(tx.clone());
        Ok(tx)
    }

    /// The coins `owner` must hold once every payment is committed: the
    /// genesis allocations to it, minus what was spent, plus what was paid.
    fn expected_coins(&self, genesis: &Genesis, owner: Address) -> BTreeMap<OutPoint, u64> {
        let chain = genesis.chain_id;
        let allocation = genesis.allocation_tx();
        let allocation_id = allocation.txid(chain);
        let created = std::iter::once((allocation_id, &allocation))
            .chain(self.sent.iter().map(|tx| (tx.txid(chain), tx)))
            .flat_map(|(txid, tx)| {
                tx.outputs
                    .iter()
                    .enumerate()
                    .map(move |(vout, out)| (OutPoint { txid, vout: vout as u32 }, *out))
            });
        let spent: HashSet<OutPoint> =
            self.sent.iter().flat_map(|tx| tx.inputs.iter().map(|i| i.prev)).collect();
        created
            .filter(|(op, out)| out.address == owner.payload && !spent.contains(op))
            .map(|(op, out)| (op, out.value.sat()))
            .collect()
    }
}

/// Reads `events` until `txid` settles; also returns the highest block
/// height the stream announced meanwhile.
async fn settle_on_stream(
    events: &mut EventStream,
    rpc: &RpcClient,
    txid: &TxId,
    mut height: u64,
) -> (TxState, u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let item = tokio::time::timeout_at(deadline, events.next_event())
            .await
            .unwrap_or_else(|_| panic!("{txid} not settled on the event stream in {WAIT:?}"));
        match item {
            None => panic!("the event stream ended"),
            Some(Err(e)) => panic!("event stream error: {e}"),
            Some(Ok(StreamEvent::Tx { txid: id, state, .. })) if id == *txid => {
                if client::finality::is_terminal(state) {
                    return (state, height);
                }
            }
            Some(Ok(StreamEvent::Block { height: h, .. })) => height = height.max(h),
            Some(Ok(StreamEvent::Lagged { .. })) => {
                let f = rpc.gettransactionfinality(txid).await;
                if let Ok(f) = f
                    && client::finality::is_terminal(f.state)
                {
                    return (f.state, height);
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Soft checks: a test of many independent facts reports every one that
// fails, not only the first.
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, actual: T, expected: T) {
        if actual != expected {
            self.0.push(format!("{what}: got {actual:?}, expected {expected:?}"));
        }
    }

    /// The result of a call, or `None` with the error recorded.
    fn ok<T>(&mut self, what: impl Display, result: Result<T, ClientError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(format!("{what} failed: {e}"));
                None
            }
        }
    }

    fn assert_none(self, context: &str) {
        assert!(
            self.0.is_empty(),
            "{context}: {} problem(s):\n  - {}",
            self.0.len(),
            self.0.join("\n  - ")
        );
    }
}

// ---------------------------------------------------------------------------
// Durability: final means final, even across SIGKILL.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_final_transactions_survive_kill9_and_restart() {
    let _lock = lock();
    let scratch = Scratch::new();
    let mut node = scratch.start().await;
    let mut payer = Payer::new(&node).await;
    let payee = address(0x70);
    // Two- and three-input payments (the dev coins hold 10,000 TIME each),
    // at least four, and until one kill hit the hard case: a transaction
    // final but not yet in a block, which only the store's record of
    // finality brings back (a kill that lands after the next block only
    // tests the block store).
    const MIN_ROUNDS: usize = 4;
    const MAX_ROUNDS: usize = 10;
    let amounts = [15_000, 25_000].map(|t| Amount::from_sat(t * TIME));
    let mut finals: Vec<(TxId, usize)> = Vec::new();
    let mut paid = Vec::new();
    let mut hit_before_block = 0;
    let mut height_seen = 0;
    for round in 0..MAX_ROUNDS {
        if round >= MIN_ROUNDS && hit_before_block > 0 {
            break;
        }
        let amount = amounts[round % amounts.len()];
        height_seen = height_seen.max(node.height().await);
        let mut events = node.rpc.subscribe().await.expect("subscribe to /events");
        let tx = payer.pay(&node.rpc, payee, amount).await;
        let txid = tx.txid(payer.chain.id);
        let sent = node.rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction");
        assert_eq!(sent.txid, txid);
        let (state, height) = settle_on_stream(&mut events, &node.rpc, &txid, height_seen).await;
        assert_eq!(state, TxState::Final, "round {round}: {txid} settled as {state}");
        // Killed the moment finality is reported: no flush, no goodbye.
        node.kill9().await;
        let killed_at_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
        finals.push((txid, tx.inputs.len()));
        paid.push(amount);
        height_seen = height;

        node = scratch.start().await;
        // The kill hit the window when the block that holds the transaction
        // was made after it, by the restarted process.
        let deadline = Instant::now() + WAIT;
        let block_height = loop {
            let after = node.rpc.gettransactionfinality(&txid).await.expect("known after restart");
            assert!(
                after.state.is_final(),
                "round {round}: {txid} is {} after restart",
                after.state
            );
            if let Some(h) = after.block_height {
                break h;
            }
            assert!(Instant::now() < deadline, "{txid} never committed after the restart");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let BlockResult::Decoded(block) =
            node.rpc.getblock(block_height, Verbosity::Txids).await.expect("getblock")
        else {
            panic!("getblock verbosity 1 is decoded");
        };
        if u128::try_from(block.time_ms).unwrap_or(0) > killed_at_ms {
            hit_before_block += 1;
        }
        let mut missing = Vec::new();
        for (id, _) in &finals {
            let state = node.state(id).await;
            if !state.is_some_and(TxState::is_final) {
                missing.push((*id, state));
            }
        }
        assert!(missing.is_empty(), "after restart {round}, no longer final: {missing:?}");
        let height = node.height().await;
        assert!(height >= height_seen, "height went back from {height_seen} to {height}");
        height_seen = height;
    }
    assert!(
        hit_before_block > 0,
        "in {} rounds no kill landed between finality and the next block",
        finals.len()
    );
    assert!(finals.iter().any(|(_, inputs)| *inputs >= 3), "multi-input payments: {finals:?}");
    // Every payment's output survived with it.
    let balance = node.rpc.getbalance(&payee).await.expect("getbalance");
    assert_eq!(balance.balance_sat, paid.iter().map(|a| a.sat()).sum::<u64>());
    assert_eq!(balance.unspent, paid.len());
}

/// The largest file under `dir`, in bytes.
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    for entry in std::fs::read_dir(dir).expect("read the data dir").flatten() {
        let meta = entry.metadata().expect("file metadata");
        largest = largest.max(if meta.is_dir() { largest_file(&entry.path()) } else { meta.len() });
    }
    largest
}

/// A full disk, without root: the node runs under a file-size limit a
/// little above its store's size, and pays until a store write fails. It
/// must stop by itself with exit 4 (not 0: a supervisor must see it) and a
/// log line naming the failed write; started again without the limit, it
/// opens its store, and every payment it reported final is still final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_write_that_fails_stops_the_node_with_exit_4_and_loses_nothing() {
    let _lock = lock();
    let scratch = Scratch::new();
    let node = scratch.start().await;
    node.wait_height(2).await;
    assert_eq!(node.rpc.stop().await.expect("stop"), "timed stopping");
    let mut node = node;
    assert!(node.exit_status().await.success(), "a clean stop exits 0");
    let room_kib = largest_file(&scratch.path("data")) / 1024 + 1024;
    let mut node = DevNode::start_limited(
        &scratch.path("data"),
        &scratch.path("timed.log"),
        None,
        Some(room_kib),
    )
    .await;
    let mut payer = Payer::new(&node).await;
    let payee = address(0x71);
    let mut finals = Vec::new();
    let status = loop {
        if let Some(status) = node.child.try_wait().expect("poll timed") {
            break status;
        }
        assert!(finals.len() < 5_000, "5,000 payments and no write failed past {room_kib} KiB");
        // A failure of either call is the node stopping: the loop's
        // first line then sees it exit.
        let Ok(tx) = payer.try_pay(&node.rpc, payee, Amount::from_sat(TIME)).await else {
            node.exit_status().await;
            continue;
        };
        let txid = tx.txid(payer.chain.id);
        if node.rpc.sendrawtransaction(&tx).await.is_err() {
            node.exit_status().await;
            continue;
        }
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match node.state(&txid).await {
                Some(state) if state.is_final() => {
                    finals.push(txid);
                    break;
                }
                None if node.child.try_wait().ok().flatten().is_some() => break,
                _ => tokio::time::sleep(POLL).await,
            }
        }
    };
    assert_eq!(status.code(), Some(4), "a failed store write exits 4\n{}", tail(&node.log, 20));
    let log = std::fs::read_to_string(&node.log).expect("read the log");
    assert!(
        log.contains("persist failed")
            && log.contains("stopped because the store could not persist"),
        "the log names the failed write\n{}",
        tail(&node.log, 20)
    );
    assert!(!finals.is_empty(), "payments were final before the write failed");

    let node = scratch.start().await;
    let mut lost = Vec::new();
    for txid in &finals {
        if !node.state(txid).await.is_some_and(TxState::is_final) {
            lost.push(*txid);
        }
    }
    assert!(lost.is_empty(), "{} of {} final payments lost: {lost:?}", lost.len(), finals.len());
}

// ---------------------------------------------------------------------------
// The RPC surface, method by method (docs/RPC.md).
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_rpc_surface() {
    let _lock = lock();
    let scratch = Scratch::new();
    let mut node = scratch.start().await;
    let rpc = node.rpc.clone();
    let mut f = Findings::default();
    node.wait_height(2).await;
    let node_id = node.info.node_id;

    // --- chain and genesis ---
    let genesis = rpc.getgenesis().await.expect("getgenesis");
    let chain = genesis.chain_id;
    f.eq("getgenesis hash", genesis.hash(), node.info.genesis_hash);
    f.eq("getgenesis chain id", genesis.chain_id.0, node.info.chain_id);
    f.eq("getgenesis network", genesis.network, Network::Dev);
    f.eq("getgenesis committee", genesis.committee.iter().map(|m| m.id).collect(), vec![node_id]);
    f.eq("getgenesis block interval", genesis.params.block_interval_ms, 1_000);
    let info = rpc.getblockchaininfo().await.expect("getblockchaininfo");
    f.eq("getblockchaininfo chain", info.chain, Network::Dev);
    f.eq("getblockchaininfo chain_id", info.chain_id, node.info.chain_id);
    f.eq("getblockchaininfo genesis_hash", info.genesis_hash, node.info.genesis_hash);
    f.check(info.blocks >= 2, || format!("getblockchaininfo blocks {}", info.blocks));
    f.check(!info.syncing, || "a lone dev node is syncing".into());
    if let Some(hash) = f.ok("getblockhash(tip)", rpc.getblockhash(info.blocks).await) {
        f.eq("getblockchaininfo best_block_hash", info.best_block_hash, hash);
    }
    if let Some(Some(block)) =
        f.ok("getblock(tip)", rpc.getblock(info.blocks, Verbosity::Txids).await).map(decoded)
    {
        f.eq("getblockchaininfo best_block_time_ms", info.best_block_time_ms, block.time_ms);
        f.eq("getblockchaininfo utxo_commitment", info.utxo_commitment, block.utxo_commitment);
    }
    let count = rpc.getblockcount().await.expect("getblockcount");
    f.check(count >= info.blocks, || format!("getblockcount {count} < blocks {}", info.blocks));
    // bitcoind's names, and its JSON-RPC 1.0 as its documentation's curl
    // examples send it.
    f.eq("getblockchaininfo bestblockhash", info.bestblockhash, info.best_block_hash);
    f.check(info.headers >= info.blocks, || format!("headers {} < blocks", info.headers));
    f.eq("getblockchaininfo initialblockdownload", info.initialblockdownload, info.syncing);
    f.check(info.verificationprogress > 0.0 && info.verificationprogress <= 1.0, || {
        format!("verificationprogress {}", info.verificationprogress)
    });
    f.eq("getblockchaininfo time", info.time, info.best_block_time_ms / 1000);
    let best: Value = rpc.call("getbestblockhash", json!([])).await.expect("getbestblockhash");
    f.check(best.as_str().is_some_and(|h| h.len() == 64), || format!("getbestblockhash {best}"));
    // getblockheader under bitcoind's names, by hash and by height.
    if let Some(header) = f.ok("getblockheader(1)", rpc.getblockheader(1u64).await)
        && let Some(Some(block)) =
            f.ok("getblock(1)", rpc.getblock(1u64, Verbosity::Txids).await).map(decoded)
    {
        f.eq("getblockheader hash", header.hash, block.hash);
        f.eq(
            "getblockheader previousblockhash",
            header.previousblockhash,
            Some(block.previous_block_hash),
        );
        f.eq("getblockheader merkleroot", header.merkleroot, block.merkle_root);
        f.eq("getblockheader nTx", header.n_tx, block.n_tx);
        f.eq("getblockheader time", header.time, block.time_ms / 1000);
        f.check(
            header.confirmations >= 1 && header.nextblockhash.is_some() == (info.blocks > 1),
            || {
                format!(
                    "getblockheader(1) confirmations {} next {:?}",
                    header.confirmations, header.nextblockhash
                )
            },
        );
        if let Some(by_hash) = f.ok("getblockheader(hash)", rpc.getblockheader(block.hash).await) {
            f.eq("getblockheader by hash", by_hash.height, 1);
        }
    }
    if let Some(genesis_header) = f.ok("getblockheader(0)", rpc.getblockheader(0u64).await) {
        f.eq("getblockheader(0) previousblockhash", genesis_header.previousblockhash, None);
    }
    let raw: Value = rpc.call("getblockheader", json!([0, false])).await.expect("raw header");
    f.check(raw.as_str().is_some_and(|h| h.len() == 2 * 152), || format!("raw header {raw}"));
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let legacy = |body: &'static str| {
        let request = http.post(rpc.url()).header("content-type", "text/plain").body(body);
        let request = match node.info.rpc_cookie_file.as_ref() {
            Some(cookie) => {
                let text = std::fs::read_to_string(scratch.path("data").join(cookie)).unwrap();
                let (user, password) = text.trim().split_once(':').unwrap();
                request.basic_auth(user, Some(password))
            }
            None => request,
        };
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let answer =
        legacy(r#"{"jsonrpc":"1.0","id":"curltest","method":"getblockcount","params":[]}"#).await;
    f.check(
        answer["id"] == "curltest"
            && answer["result"].as_u64().is_some()
            && answer["error"].is_null()
            && answer
                .as_object()
                .is_some_and(|o| o.contains_key("error") && !o.contains_key("jsonrpc")),
        || format!("JSON-RPC 1.0 getblockcount: {answer}"),
    );
    let answer = legacy(r#"{"jsonrpc":"1.0","method":"getfoo","params":[]}"#).await;
    f.check(
        answer["result"].is_null() && answer["error"]["code"] == codes::METHOD_NOT_FOUND,
        || format!("JSON-RPC 1.0 without an id is still answered: {answer}"),
    );

    // --- the dev wallet's coins, before any payment: all 100 confirmed ---
    let mut payer = Payer::new(&node).await;
    let me = payer.me();
    check_coins(&mut f, &rpc, me, &payer.expected_coins(&genesis, me)).await;
    f.eq("dev wallet coins", payer.expected_coins(&genesis, me).len(), DEV_COINS as usize);

    // --- a two-input payment through sendrawtransaction ---
    let payee = address(0x71);
    let amount = Amount::from_sat(15_000 * TIME);
    let tx = payer.pay(&rpc, payee, amount).await;
    let txid = tx.txid(chain);
    assert_eq!(tx.inputs.len(), 2, "15,000 TIME takes two 10,000 TIME coins");
    let sent = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction");
    f.eq("sendrawtransaction txid", sent.txid, txid);
    f.check(!sent.already_known, || "a new transaction reported already known".into());
    f.check(matches!(sent.state, TxState::Pending | TxState::Final), || {
        format!("sendrawtransaction state {}", sent.state)
    });
    check_mempool_listing(&mut f, &rpc, &mut payer, txid).await;
    if let Some(again) = f.ok("sendrawtransaction (again)", rpc.sendrawtransaction(&tx).await) {
        f.eq("resubmission txid", again.txid, txid);
        f.check(again.already_known, || "a resubmission is not reported already known".into());
    }

    // --- finality ---
    let waited = rpc.waittransactionfinality(&txid, WAIT).await.expect("waittransactionfinality");
    f.check(waited.state.is_final(), || format!("waittransactionfinality: {}", waited.state));
    f.eq("waittransactionfinality txid", waited.txid, txid);
    f.eq("quorum of a one-member committee", (waited.quorum, waited.total_weight), (1, 1));
    f.check(waited.weight >= waited.quorum, || format!("final with weight {}", waited.weight));
    if let Some(now) = f.ok("gettransactionfinality", rpc.gettransactionfinality(&txid).await) {
        match now.state {
            TxState::Final => f
                .check(now.certificate.is_some() && now.block_height.is_none(), || {
                    format!("final, not in a block: certificate and no height: {now:?}")
                }),
            TxState::Committed => f.check(now.block_height.is_some(), || {
                format!("committed without a block height: {now:?}")
            }),
            other => f.check(false, || format!("gettransactionfinality state {other}")),
        }
    }

    // --- the transaction, raw and decoded ---
    if let Some(hex) =
        f.ok("getrawtransaction", rpc.call("getrawtransaction", json!([txid, false])).await)
    {
        let hex = hex.as_str().unwrap_or_default().to_string();
        f.eq("getrawtransaction hex", hex.clone(), tx.to_hex());
        match Transaction::from_hex(&hex) {
            Ok(decoded) => {
                f.eq("getrawtransaction round trip", decoded.to_hex(), hex);
                f.eq("getrawtransaction txid", decoded.txid(chain), txid);
            }
            Err(e) => f.check(false, || format!("getrawtransaction hex does not decode: {e}")),
        }
    }
    if let Some(typed) = f.ok("getrawtransaction (typed)", rpc.getrawtransaction(&txid).await) {
        f.eq("getrawtransaction (typed)", typed, tx.clone());
    }
    let committed_at = node.wait_committed(&txid).await;
    if let Some(again) = f.ok("sendrawtransaction (committed)", rpc.sendrawtransaction(&tx).await) {
        f.eq(
            "a committed resubmission",
            (again.state, again.already_known),
            (TxState::Committed, true),
        );
    }
    if let Some(v) = f.ok("getrawtransaction verbose", rpc.getrawtransaction_verbose(&txid).await) {
        f.eq("verbose txid", v.txid, txid);
        f.eq("verbose hex", v.hex.clone(), tx.to_hex());
        f.eq("verbose size", v.size, tx.size());
        f.eq("verbose state", v.state, Some(TxState::Committed));
        f.eq("verbose block_height", v.block_height, Some(committed_at));
        f.eq("verbose input addresses", v.inputs.iter().map(|i| i.address).collect(), vec![me; 2]);
        f.eq(
            "verbose outputs",
            v.outputs.iter().map(|o| (o.n, o.value_sat)).collect::<Vec<_>>(),
            tx.outputs.iter().enumerate().map(|(n, o)| (n as u32, o.value.sat())).collect(),
        );
        f.eq("verbose amount text", v.outputs[0].amount.clone(), amount.to_string());
    }
    let allocation = genesis.allocation_tx().txid(chain);
    if let Some(v) = f.ok(
        "getrawtransaction (genesis allocation)",
        rpc.getrawtransaction_verbose(&allocation).await,
    ) {
        f.eq("allocation block height", v.block_height, Some(0));
        f.eq("allocation outputs", v.outputs.len(), DEV_COINS as usize);
    }

    // --- blocks: every height, at every verbosity, by height and by hash ---
    let tip = rpc.getblockcount().await.expect("getblockcount");
    let mut previous = protocol::BlockHash(genesis.hash().0);
    for height in 0..=tip {
        let Some(hash) = f.ok(format!("getblockhash({height})"), rpc.getblockhash(height).await)
        else {
            continue;
        };
        let by_height =
            f.ok(format!("getblock({height}, 1)"), rpc.getblock(height, Verbosity::Txids).await);
        let by_hash =
            f.ok(format!("getblock({hash}, 2)"), rpc.getblock(hash, Verbosity::Transactions).await);
        let raw =
            f.ok(format!("getblock({height}, 0)"), rpc.getblock(height, Verbosity::Raw).await);
        let (Some(Some(v1)), Some(Some(v2)), Some(BlockResult::Raw(hex))) =
            (by_height.map(decoded), by_hash.map(decoded), raw)
        else {
            f.check(false, || format!("getblock {height}: wrong result kinds"));
            continue;
        };
        f.eq(&format!("block {height} hash"), v1.hash, hash);
        f.eq(&format!("block {height} height"), v1.height, height);
        f.eq(&format!("block {height} previous"), v1.previous_block_hash, previous);
        previous = hash;
        let BlockTxs::Ids(ids) = &v1.tx else {
            f.check(false, || format!("getblock {height} verbosity 1 has no txids"));
            continue;
        };
        let BlockTxs::Decoded(txs) = &v2.tx else {
            f.check(false, || format!("getblock {height} verbosity 2 has no transactions"));
            continue;
        };
        f.eq(&format!("block {height} n_tx"), v1.n_tx, ids.len());
        f.eq(
            &format!("block {height} verbosity 2 txids"),
            &txs.iter().map(|t| t.txid).collect::<Vec<_>>(),
            ids,
        );
        let same_header = |b: &BlockJson| {
            (
                b.hash,
                b.height,
                b.previous_block_hash,
                b.merkle_root,
                b.utxo_commitment,
                b.time_ms,
                b.round,
                b.commit_round,
                b.signers.clone(),
            )
        };
        f.eq(
            &format!("block {height} header at verbosity 1 and 2"),
            same_header(&v2),
            same_header(&v1),
        );
        match hex::decode(&hex)
            .ok()
            .and_then(|b| postcard::from_bytes::<(Block, Option<CommitCertificate>)>(&b).ok())
        {
            Some((block, certificate)) => {
                f.eq(&format!("block {height} verbosity 0 hash"), block.hash(chain), hash);
                f.eq(&format!("block {height} verbosity 0 txids"), &block.txids(chain), ids);
                f.eq(
                    &format!("block {height} verbosity 0 certificate round"),
                    certificate.as_ref().map(|c| c.round),
                    v1.commit_round,
                );
                f.eq(&format!("block {height} certificate"), certificate.is_some(), height > 0);
            }
            None => f.check(false, || {
                format!("getblock {height} verbosity 0 is not the postcard of (block, certificate)")
            }),
        }
        if height > 0 {
            f.eq(&format!("block {height} signers"), v1.signers.clone(), vec![node_id]);
            f.eq(&format!("block {height} proposer"), v1.proposer, node_id);
            f.check(txs.first().is_some_and(|c| c.inputs.is_empty()), || {
                format!("block {height} does not open with a coinbase")
            });
        }
        if height == committed_at {
            f.check(ids.contains(&txid), || format!("block {height} lacks {txid}"));
            let ours = txs.iter().find(|t| t.txid == txid);
            f.check(ours.is_some_and(|t| t.hex == tx.to_hex()), || {
                format!("block {height}: decoded {txid} differs")
            });
        }
    }
    // Named parameters work like positional ones.
    let named = f.ok(
        "getblockhash {height}",
        rpc.call("getblockhash", json!({"height": committed_at})).await,
    );
    let positional =
        f.ok("getblockhash [height]", rpc.call("getblockhash", json!([committed_at])).await);
    f.eq("named and positional getblockhash", named, positional);
    let named = f.ok(
        "getblock {block, verbosity}",
        rpc.call("getblock", json!({"block": committed_at, "verbosity": 2})).await,
    );
    let positional =
        f.ok("getblock [block, verbosity]", rpc.call("getblock", json!([committed_at, 2])).await);
    f.eq("named and positional getblock", named, positional);

    // --- coins after the payments: nothing in flight, everything confirmed ---
    for sent in &payer.sent {
        node.wait_committed(&sent.txid(chain)).await;
    }
    let mine = payer.expected_coins(&genesis, me);
    let theirs = payer.expected_coins(&genesis, payee);
    f.eq("the payee's coins", theirs.values().copied().collect(), vec![amount.sat()]);
    check_coins(&mut f, &rpc, me, &mine).await;
    check_coins(&mut f, &rpc, payee, &theirs).await;
    if let Some(both) = f.ok("listunspent [me, payee]", rpc.listunspent(&[me, payee]).await) {
        f.eq("listunspent of two addresses", both.len(), mine.len() + theirs.len());
    }
    if let Some(none) = f.ok("listunspent (no coins)", rpc.listunspent(&[address(0x72)]).await) {
        f.check(none.is_empty(), || format!("an unused address has coins: {none:?}"));
    }

    // --- the UTXO set, from a snapshot no block commit fell into ---
    let snapshot = loop {
        let before = rpc.getblockcount().await.expect("getblockcount");
        let set = rpc.gettxoutsetinfo().await.expect("gettxoutsetinfo");
        let after = rpc.getblockcount().await.expect("getblockcount");
        if before == after && set.height == after {
            break set;
        }
    };
    let allocated = DEV_COINS * DEV_COIN_SAT;
    f.eq(
        "gettxoutsetinfo total",
        snapshot.total_sat,
        allocated + snapshot.height * genesis.params.block_reward_sat,
    );
    let spent: usize = payer.sent.iter().map(|tx| tx.inputs.len()).sum();
    let made: usize = payer.sent.iter().map(|tx| tx.outputs.len()).sum();
    f.eq(
        "gettxoutsetinfo txouts (allocations − spent + made + a coinbase per block)",
        snapshot.txouts,
        DEV_COINS + snapshot.height + made as u64 - spent as u64,
    );
    f.eq(
        "gettxoutsetinfo total text",
        snapshot.total_amount.clone(),
        Amount::from_sat(snapshot.total_sat).to_string(),
    );
    f.check(snapshot.disk_size_bytes > 0, || "gettxoutsetinfo disk size 0".into());
    if let Some(hash) = f.ok("getblockhash(snapshot)", rpc.getblockhash(snapshot.height).await) {
        f.eq("gettxoutsetinfo best_block_hash", snapshot.best_block_hash, hash);
    }
    if let Some(Some(block)) = f
        .ok("getblock(snapshot)", rpc.getblock(snapshot.height, Verbosity::Txids).await)
        .map(decoded)
    {
        f.eq("gettxoutsetinfo utxo_commitment", snapshot.utxo_commitment, block.utxo_commitment);
    }

    // --- pools ---
    if let Some(m) = f.ok("getmempoolinfo", rpc.getmempoolinfo().await) {
        f.check(m.max_transactions > 0 && m.max_bytes > 0, || {
            format!("getmempoolinfo limits: {m:?}")
        });
        f.check(m.size <= m.max_transactions && m.bytes <= m.max_bytes, || {
            format!("getmempoolinfo: {m:?}")
        });
        f.eq("getmempoolinfo orphans", (m.orphans, m.orphan_bytes), (0, 0));
    }

    // --- network and committee ---
    if let Some(peers) = f.ok("getpeerinfo", rpc.getpeerinfo().await) {
        f.check(peers.is_empty(), || format!("a lone dev node has peers: {peers:?}"));
    }
    if let Some(n) = f.ok("getnetworkinfo", rpc.getnetworkinfo().await) {
        f.eq("getnetworkinfo version", n.version.clone(), node.info.version.clone());
        f.eq("getnetworkinfo node_id", n.node_id, node_id);
        f.eq("getnetworkinfo p2p_address", n.p2p_address.clone(), node.info.p2p_address.clone());
        f.eq("getnetworkinfo connections", (n.connections, n.committee_connections), (0, 0));
        f.eq("getnetworkinfo network", n.network, Network::Dev);
        f.eq("getnetworkinfo protocol_version", n.protocol_version, protocol::PROTOCOL_VERSION);
    }
    let weight = genesis.params.voting_weight(genesis.committee[0].tier);
    if let Some(list) = f.ok("masternodelist", rpc.masternodelist().await) {
        f.eq("masternodelist size", list.len(), 1);
        if let Some(m) = list.first() {
            f.check(m.is_self && m.connected, || {
                format!("the one member is self and connected: {m:?}")
            });
            f.eq("masternodelist id", m.id, node_id);
            f.eq("masternodelist weight", m.voting_weight, weight);
            f.eq(
                "masternodelist reward address",
                m.reward_address,
                genesis.committee[0].reward_address,
            );
            f.check(m.votes_seen >= 1, || format!("masternodelist votes_seen after a vote: {m:?}"));
        }
    }
    if let Some(s) = f.ok("masternodestatus", rpc.masternodestatus().await) {
        f.eq("masternodestatus id", s.id, node_id);
        f.check(s.is_masternode, || "the dev node is not a masternode".into());
        f.eq("masternodestatus tier", s.tier, Some(genesis.committee[0].tier));
        f.eq(
            "masternodestatus weights",
            (s.voting_weight, s.quorum, s.total_weight),
            (weight, weight, weight),
        );
        f.eq("masternodestatus committee", (s.committee_size, s.connected_members), (1, 0));
        f.check(s.own_vote_seq >= 1, || format!("own_vote_seq after a vote: {s:?}"));
    }
    if let Some(c) = f.ok("getconsensusinfo", rpc.getconsensusinfo().await) {
        f.check(c.height >= committed_at, || {
            format!("getconsensusinfo height {} < {committed_at}", c.height)
        });
        f.eq("getconsensusinfo current_height", c.current_height, c.height + 1);
        f.eq("getconsensusinfo proposer", c.proposer, node_id);
        f.eq("getconsensusinfo quorum", (c.quorum, c.total_weight), (weight, weight));
        f.eq(
            "getconsensusinfo trouble",
            (c.syncing, c.equivocations, c.view_changes),
            (false, 0, 0),
        );
        f.check(c.votes_seen.iter().any(|v| v.id == node_id && v.seq >= 1), || {
            format!("getconsensusinfo votes_seen: {:?}", c.votes_seen)
        });
        if let Some(hash) = f.ok("getblockhash(consensus tip)", rpc.getblockhash(c.height).await) {
            f.eq("getconsensusinfo tip", c.tip, hash);
        }
    }

    // --- addresses ---
    if let Some(v) = f.ok("validateaddress (dev)", rpc.validateaddress(&me.to_string()).await) {
        f.check(v.isvalid && v.error.is_none(), || {
            format!("the dev wallet address is invalid: {v:?}")
        });
        f.eq("validateaddress network", v.network, Some(Network::Dev));
        f.eq("validateaddress payload", v.payload.clone(), Some(me.payload.to_hex()));
    }
    let testnet = Address { network: Network::Testnet, ..me };
    if let Some(v) =
        f.ok("validateaddress (testnet)", rpc.validateaddress(&testnet.to_string()).await)
    {
        f.check(!v.isvalid, || format!("a testnet address is valid on dev: {v:?}"));
        f.eq("validateaddress (testnet) network", v.network, Some(Network::Testnet));
        f.check(v.error.as_deref().is_some_and(|e| e.contains("testnet")), || {
            format!("the reason names the network: {v:?}")
        });
    }
    if let Some(v) =
        f.ok("validateaddress (garbage)", rpc.validateaddress("TIME9notanaddress").await)
    {
        f.check(!v.isvalid && v.network.is_none() && v.error.is_some(), || {
            format!("garbage: {v:?}")
        });
        f.eq("validateaddress echoes the text", v.address, "TIME9notanaddress".to_string());
    }

    // --- uptime goes up ---
    let first = rpc.uptime().await.expect("uptime");
    let deadline = Instant::now() + WAIT;
    loop {
        let now = rpc.uptime().await.expect("uptime");
        if now > first {
            break;
        }
        assert!(Instant::now() < deadline, "uptime stayed at {first} for {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // --- stop: answered, then a clean exit ---
    match rpc.stop().await {
        Ok(answer) => f.eq("stop", answer, "timed stopping".to_string()),
        Err(e) => f.check(false, || format!("stop failed: {e}")),
    }
    let status = node.exit_status().await;
    f.eq("exit code after stop", status.code(), Some(0));
    f.assert_none("the RPC surface");
}

fn decoded(result: BlockResult) -> Option<BlockJson> {
    match result {
        BlockResult::Decoded(block) => Some(*block),
        BlockResult::Raw(_) => None,
    }
}

/// `listunspent` and `getbalance` of `address` agree with each other and
/// with the coins expected, when nothing is in flight.
async fn check_coins(
    f: &mut Findings,
    rpc: &RpcClient,
    address: Address,
    expected: &BTreeMap<OutPoint, u64>,
) {
    let (Some(coins), Some(balance)) = (
        f.ok(format!("listunspent {address}"), rpc.listunspent(&[address]).await),
        f.ok(format!("getbalance {address}"), rpc.getbalance(&address).await),
    ) else {
        return;
    };
    let total: u64 = coins.iter().map(|c| c.value_sat).sum();
    let confirmed: u64 = coins.iter().filter(|c| c.confirmed).map(|c| c.value_sat).sum();
    let listed: BTreeMap<OutPoint, u64> =
        coins.iter().map(|c| (OutPoint { txid: c.txid, vout: c.vout }, c.value_sat)).collect();
    f.eq(&format!("{address}: listunspent coins"), &listed, expected);
    f.eq(&format!("{address}: listunspent entries"), listed.len(), coins.len());
    f.eq(
        &format!("{address}: getbalance"),
        (balance.balance_sat, balance.confirmed_sat, balance.unspent),
        (total, confirmed, coins.len()),
    );
    f.eq(&format!("{address}: everything confirmed"), confirmed, total);
    f.eq(
        &format!("{address}: getbalance text"),
        balance.balance.clone(),
        Amount::from_sat(total).to_string(),
    );
    f.check(
        coins
            .iter()
            .all(|c| c.address == address && c.amount == Amount::from_sat(c.value_sat).to_string()),
        || format!("{address}: listunspent entries: {coins:?}"),
    );
}

/// `getrawmempool`, plain and verbose, while a transaction is in the pool
/// (final, not yet in a block: up to a block interval). If a block takes it
/// before the pool is read, another payment is sent.
async fn check_mempool_listing(f: &mut Findings, rpc: &RpcClient, payer: &mut Payer, first: TxId) {
    let mut txid = first;
    for _ in 0..5 {
        let calls = [("getrawmempool", json!([false])), ("getrawmempool", json!([true]))];
        let answers = rpc.batch(&calls).await.expect("a batch of getrawmempool");
        let (Ok(plain), Ok(verbose)) = (&answers[0], &answers[1]) else {
            f.check(false, || format!("getrawmempool in a batch: {answers:?}"));
            return;
        };
        let plain: Vec<TxId> = serde_json::from_value(plain.clone()).unwrap_or_default();
        if !plain.contains(&txid) {
            // Committed already: try with a fresh payment.
            let tx = payer.pay(rpc, address(0x73), Amount::from_sat(TIME)).await;
            txid = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction").txid;
            continue;
        }
        // docs/RPC.md: verbose is `{txid: state}`.
        match serde_json::from_value::<BTreeMap<TxId, TxState>>(verbose.clone()) {
            Ok(states) => f.check(states.contains_key(&txid), || {
                format!("getrawmempool verbose lacks {txid}: {states:?}")
            }),
            Err(e) => f.check(false, || {
                format!("getrawmempool verbose is not {{txid: state}} ({e}): {verbose}")
            }),
        }
        // And the typed client reads it.
        f.ok("getrawmempool_verbose (typed client)", rpc.getrawmempool_verbose().await);
        if let Some(ids) = f.ok("getrawmempool (typed client)", rpc.getrawmempool().await) {
            f.check(ids.windows(2).all(|w| w[0] < w[1]), || {
                format!("getrawmempool not in txid order: {ids:?}")
            });
        }
        return;
    }
    f.check(false, || "a block committed every payment before getrawmempool saw it".into());
}

// ---------------------------------------------------------------------------
// Malformed requests: a table, sent as raw HTTP bodies.
// ---------------------------------------------------------------------------

/// What a body must get back.
#[derive(Debug)]
enum Expect {
    /// One JSON-RPC error: id echoed, the code, a message naming the problem
    /// (every word must appear), and for rejections the typed data (each key
    /// given must match).
    Error { id: Value, code: i64, words: Vec<String>, data: Option<Value>, status: u16 },
    /// One successful response with this id.
    Result { id: Value },
    /// No body at all (notifications).
    Nothing,
    /// An array with one answer per id: `Ok` a result, `Err(code)` an error.
    Batch(Vec<(Value, Result<(), i64>)>),
}

struct Case {
    name: String,
    body: Vec<u8>,
    expect: Expect,
}

fn err(id: Value, code: i64, words: &[&str]) -> Expect {
    Expect::Error {
        id,
        code,
        words: words.iter().map(|w| w.to_string()).collect(),
        data: None,
        status: 200,
    }
}

fn call(id: Value, method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string().into_bytes()
}

/// A transaction with explicit parts, every input signed by `signers[i]`.
fn signed(chain: ChainId, inputs: &[(OutPoint, &SecretKey)], outputs: Vec<TxOut>) -> Transaction {
    let mut tx = Transaction {
        version: TX_VERSION,
        inputs: inputs
            .iter()
            .map(|(prev, key)| TxIn {
                prev: *prev,
                pubkey: key.public(),
                signature: Signature::ZERO,
            })
            .collect(),
        outputs,
        lock_time: 0,
        timestamp: now_ms(),
    };
    let txid = tx.txid(chain);
    for (index, (input, (_, key))) in tx.inputs.iter_mut().zip(inputs).enumerate() {
        input.signature = key.sign(&input_signing_message(chain, &txid, index as u32));
    }
    tx
}

/// Every rejection `sendrawtransaction` can reach, each with its expected
/// typed `data` and the words its message must contain.
fn rejection_cases(
    chain: ChainId,
    params: &ConsensusParams,
    key: &SecretKey,
    coins: &[OutPoint],
    spent: OutPoint,
) -> Vec<(String, Transaction, Value, Vec<&'static str>)> {
    let me = Address::from_public_key(&key.public(), Network::Dev).payload;
    let stranger = SecretKey::from_seed([0x5a; 32]);
    let out = |sat: u64| TxOut { value: Amount::from_sat(sat), address: me };
    let coin = DEV_COIN_SAT;
    let fee1 = params.required_fee(1, Amount::from_sat(coin)).expect("fee").sat();
    let fee2 = params.required_fee(2, Amount::from_sat(2 * coin)).expect("fee").sat();
    let (a, b) = (coins[0], coins[1]);
    let unknown = OutPoint { txid: TxId([0xee; 32]), vout: 3 };
    let mut cases = Vec::new();
    let mut add = |name: &str, tx: Transaction, data: Value, words: Vec<&'static str>| {
        cases.push((name.to_string(), tx, data, words));
    };
    add(
        "fee too low",
        signed(chain, &[(a, key)], vec![out(coin - 1)]),
        json!({"reason": "fee_too_low", "fee": 1, "required": params.required_fee(1, Amount::from_sat(coin - 1)).expect("fee").sat()}),
        vec!["fee 1 sat", "below"],
    );
    add(
        "dust output",
        signed(chain, &[(a, key)], vec![out(coin - fee1 - 100), out(100)]),
        json!({"reason": "dust", "index": 1, "value": 100, "min": params.dust_limit_sat}),
        vec!["output 1", "dust"],
    );
    add(
        "no outputs",
        signed(chain, &[(a, key)], vec![]),
        json!({"reason": "no_outputs"}),
        vec!["no outputs"],
    );
    add(
        "no inputs",
        signed(chain, &[], vec![out(TIME)]),
        json!({"reason": "no_inputs"}),
        vec!["no inputs"],
    );
    add(
        "duplicate input",
        signed(chain, &[(a, key), (a, key)], vec![out(coin)]),
        json!({"reason": "duplicate_input", "first": 0, "second": 1, "outpoint": {"txid": a.txid, "vout": a.vout}}),
        vec!["inputs 0 and 1"],
    );
    add(
        "unknown input",
        signed(chain, &[(a, key), (unknown, key)], vec![out(coin)]),
        json!({"reason": "unknown_input", "index": 1, "outpoint": {"txid": unknown.txid, "vout": unknown.vout}}),
        vec!["input 1", "unknown"],
    );
    add(
        "input spent by a final transaction",
        signed(chain, &[(spent, key)], vec![out(TIME)]),
        json!({"reason": "input_spent", "index": 0, "outpoint": {"txid": spent.txid, "vout": spent.vout}}),
        vec!["input 0", "already spent"],
    );
    let mut mismatch = signed(chain, &[(a, key), (b, key)], vec![out(2 * coin - fee2)]);
    mismatch.inputs[1].pubkey = stranger.public();
    let mismatch_txid = mismatch.txid(chain);
    mismatch.inputs[1].signature = stranger.sign(&input_signing_message(chain, &mismatch_txid, 1));
    add(
        "pubkey mismatch",
        mismatch,
        json!({"reason": "pubkey_mismatch", "index": 1}),
        vec!["input 1", "pubkey"],
    );
    let mut bad_signature = signed(chain, &[(a, key), (b, key)], vec![out(2 * coin - fee2)]);
    bad_signature.inputs[1].signature.0[7] ^= 0x40;
    add(
        "bad signature on input 1",
        bad_signature,
        json!({"reason": "bad_signature", "index": 1}),
        vec!["input 1", "bad signature"],
    );
    add(
        "outputs exceed inputs",
        signed(chain, &[(a, key)], vec![out(2 * coin)]),
        json!({"reason": "insufficient_funds", "inputs": coin, "outputs": 2 * coin}),
        vec!["exceed"],
    );
    let many: Vec<OutPoint> =
        (0..=params.max_tx_inputs).map(|i| OutPoint { txid: TxId([0xab; 32]), vout: i }).collect();
    let many_inputs: Vec<(OutPoint, &SecretKey)> = many.iter().map(|o| (*o, key)).collect();
    add(
        "too many inputs",
        signed(chain, &many_inputs, vec![out(TIME)]),
        json!({"reason": "too_many_inputs", "count": params.max_tx_inputs + 1, "max": params.max_tx_inputs}),
        vec!["inputs", "at most"],
    );
    let outputs = (params.max_tx_bytes as usize) / protocol::tx::OUTPUT_BYTES + 1;
    let large = signed(chain, &[(a, key)], vec![out(TIME); outputs]);
    let large_size = large.size();
    add(
        "too large",
        large,
        json!({"reason": "too_large", "size": large_size, "max": params.max_tx_bytes}),
        vec!["bytes", "at most"],
    );
    add(
        "outputs overflow",
        signed(chain, &[(a, key)], vec![out(u64::MAX / 2 + 1), out(u64::MAX / 2 + 1)]),
        json!({"reason": "output_overflow"}),
        vec!["outputs sum"],
    );
    let mut lock_time = signed(chain, &[(a, key)], vec![out(coin - fee1)]);
    lock_time.lock_time = 7;
    add("lock_time", lock_time, json!({"reason": "lock_time", "lock_time": 7}), vec!["lock_time"]);
    let mut version = signed(chain, &[(a, key)], vec![out(coin - fee1)]);
    version.version = 2;
    add(
        "unsupported version",
        version,
        json!({"reason": "unsupported_version", "version": 2}),
        vec!["version 2"],
    );
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_malformed_requests_get_the_right_error() {
    let _lock = lock();
    let scratch = Scratch::new();
    let node = scratch.start().await;
    let rpc = &node.rpc;
    let genesis = rpc.getgenesis().await.expect("getgenesis");
    let chain = genesis.chain_id;
    let (_, key) = client::wallet::read_key_file(Path::new(
        &node.info.dev_wallet.as_ref().expect("dev wallet").key_file,
    ))
    .expect("dev key");

    // One payment made final first: its inputs are the "already spent" case.
    let mut payer = Payer::new(&node).await;
    let paid = payer.pay(rpc, address(0x74), Amount::from_sat(TIME)).await;
    let paid_id = rpc.sendrawtransaction(&paid).await.expect("sendrawtransaction").txid;
    let settled =
        rpc.waittransactionfinality(&paid_id, WAIT).await.expect("waittransactionfinality");
    assert!(settled.state.is_final(), "{settled:?}");
    let coins: Vec<OutPoint> = rpc
        .listunspent(&[payer.me()])
        .await
        .expect("listunspent")
        .into_iter()
        .filter(|c| c.confirmed)
        .map(|c| OutPoint { txid: c.txid, vout: c.vout })
        .collect();
    let good_hex = paid.to_hex();
    let unknown_txid = TxId([0xcd; 32]);

    let mut cases: Vec<Case> = Vec::new();
    let mut case = |name: &str, body: Vec<u8>, expect: Expect| {
        cases.push(Case { name: name.into(), body, expect })
    };
    // Framing.
    case("not JSON", b"this is not json".to_vec(), err(Value::Null, codes::PARSE_ERROR, &["json"]));
    case("not UTF-8", b"\xff\xfe{".to_vec(), err(Value::Null, codes::PARSE_ERROR, &["json"]));
    case(
        "truncated JSON",
        br#"{"jsonrpc":"2.0","id":1,"method":"#.to_vec(),
        err(Value::Null, codes::PARSE_ERROR, &["json"]),
    );
    case(
        "JSON but not an object",
        b"42".to_vec(),
        err(Value::Null, codes::INVALID_REQUEST, &["object"]),
    );
    case(
        "missing method",
        br#"{"jsonrpc":"2.0","id":1}"#.to_vec(),
        err(json!(1), codes::INVALID_REQUEST, &["method"]),
    );
    case(
        "method not a string",
        br#"{"jsonrpc":"2.0","id":"m","method":5}"#.to_vec(),
        err(json!("m"), codes::INVALID_REQUEST, &["method", "string"]),
    );
    case(
        "wrong jsonrpc version",
        br#"{"jsonrpc":"3.0","id":2,"method":"uptime"}"#.to_vec(),
        err(json!(2), codes::INVALID_REQUEST, &["jsonrpc"]),
    );
    case(
        "id neither number nor string",
        br#"{"jsonrpc":"2.0","id":{"a":1},"method":"uptime"}"#.to_vec(),
        err(Value::Null, codes::INVALID_REQUEST, &["id"]),
    );
    case(
        "unknown method",
        call(json!(3), "getfoo", json!([])),
        err(json!(3), codes::METHOD_NOT_FOUND, &["getfoo"]),
    );
    case(
        "params neither array nor object",
        call(json!(4), "getblockcount", json!("x")),
        err(json!(4), codes::INVALID_REQUEST, &["params"]),
    );
    // Parameters.
    case(
        "too many params",
        call(json!(5), "getblockcount", json!([1])),
        err(json!(5), codes::INVALID_PARAMS, &["too many"]),
    );
    case(
        "missing param",
        call(json!(6), "getblockhash", json!([])),
        err(json!(6), codes::INVALID_PARAMS, &["missing", "height"]),
    );
    case(
        "unknown named param",
        call(json!(7), "getblockhash", json!({"hieght": 1})),
        err(json!(7), codes::INVALID_PARAMS, &["hieght"]),
    );
    case(
        "height of the wrong type",
        call(json!(8), "getblockhash", json!(["abc"])),
        err(json!(8), codes::INVALID_PARAMS, &["height"]),
    );
    case(
        "negative height",
        call(json!(9), "getblockhash", json!([-1])),
        err(json!(9), codes::INVALID_PARAMS, &["height"]),
    );
    case(
        "height out of range",
        call(json!(10), "getblockhash", json!([99_999])),
        err(json!(10), codes::OUT_OF_RANGE, &["99999", "out of range"]),
    );
    case(
        "getblock height out of range",
        call(json!(11), "getblock", json!([99_999])),
        err(json!(11), codes::OUT_OF_RANGE, &["99999"]),
    );
    case(
        "getblock unknown hash",
        call(json!(12), "getblock", json!(["ab".repeat(32)])),
        err(json!(12), codes::NOT_FOUND, &[&"ab".repeat(32)]),
    );
    case(
        "getblock verbosity 3",
        call(json!(13), "getblock", json!([0, 3])),
        err(json!(13), codes::INVALID_PARAMS, &["verbosity"]),
    );
    case(
        "bad txid hex",
        call(json!(14), "getrawtransaction", json!(["zz"])),
        err(json!(14), codes::INVALID_PARAMS, &["txid"]),
    );
    case(
        "unknown txid (getrawtransaction)",
        call(json!(15), "getrawtransaction", json!([unknown_txid])),
        err(json!(15), codes::NOT_FOUND, &[&unknown_txid.to_hex()]),
    );
    case(
        "unknown txid (gettransactionfinality)",
        call(json!(16), "gettransactionfinality", json!([unknown_txid])),
        err(json!(16), codes::NOT_FOUND, &[&unknown_txid.to_hex()]),
    );
    case(
        "waiting times out",
        call(json!(17), "waittransactionfinality", json!([unknown_txid, 0.2])),
        err(json!(17), codes::TIMEOUT, &[&unknown_txid.to_hex()]),
    );
    case(
        "invalid address",
        call(json!(18), "getbalance", json!(["TIME9nope"])),
        err(json!(18), codes::INVALID_ADDRESS, &["address"]),
    );
    let testnet = Address { network: Network::Testnet, ..payer.me() };
    case(
        "address of another network",
        call(json!(19), "listunspent", json!([testnet.to_string()])),
        err(json!(19), codes::INVALID_ADDRESS, &["testnet"]),
    );
    // Transactions that do not decode.
    case(
        "sendrawtransaction bad hex",
        call(json!(20), "sendrawtransaction", json!(["zz"])),
        err(json!(20), codes::DESERIALIZATION_ERROR, &["hex"]),
    );
    case(
        "sendrawtransaction odd hex",
        call(json!(21), "sendrawtransaction", json!(["abc"])),
        err(json!(21), codes::DESERIALIZATION_ERROR, &["hex"]),
    );
    case(
        "sendrawtransaction undecodable bytes",
        call(json!(22), "sendrawtransaction", json!(["00"])),
        err(json!(22), codes::DESERIALIZATION_ERROR, &["decode"]),
    );
    case(
        "sendrawtransaction trailing bytes",
        call(json!(23), "sendrawtransaction", json!([format!("{good_hex}00")])),
        err(json!(23), codes::DESERIALIZATION_ERROR, &["trailing"]),
    );
    // Every rejection, with the typed reason as data.
    for (i, (name, tx, data, words)) in
        rejection_cases(chain, &genesis.params, &key, &coins, paid.inputs[0].prev)
            .into_iter()
            .enumerate()
    {
        let id = json!(format!("reject-{i}"));
        let txid = tx.txid(chain).to_hex();
        let mut words: Vec<String> = words.into_iter().map(String::from).collect();
        words.push("rejected".into());
        words.push(txid);
        case(
            &format!("rejected: {name}"),
            call(id.clone(), "sendrawtransaction", json!([tx.to_hex()])),
            Expect::Error {
                id,
                code: codes::VERIFY_REJECTED,
                words,
                data: Some(data),
                status: 200,
            },
        );
    }
    // Ids, notifications, batches, size.
    case(
        "string id echoed",
        call(json!("abc-1"), "getblockcount", json!([])),
        Expect::Result { id: json!("abc-1") },
    );
    case(
        "numeric id echoed",
        call(json!(4_242), "uptime", json!([])),
        Expect::Result { id: json!(4_242) },
    );
    case(
        "null id echoed",
        call(Value::Null, "uptime", json!([])),
        Expect::Result { id: Value::Null },
    );
    case(
        "notification",
        br#"{"jsonrpc":"2.0","method":"getblockcount"}"#.to_vec(),
        Expect::Nothing,
    );
    case(
        "notification of an unknown method",
        br#"{"jsonrpc":"2.0","method":"nope"}"#.to_vec(),
        Expect::Nothing,
    );
    case(
        "batch of notifications",
        br#"[{"jsonrpc":"2.0","method":"uptime"},{"jsonrpc":"2.0","method":"getblockcount"}]"#
            .to_vec(),
        Expect::Nothing,
    );
    case("empty batch", b"[]".to_vec(), err(Value::Null, codes::INVALID_REQUEST, &["empty"]));
    let over: Vec<Value> =
        (0..101).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "getblockcount"})).collect();
    case(
        "batch over the cap",
        Value::Array(over).to_string().into_bytes(),
        err(Value::Null, codes::INVALID_REQUEST, &["101", "max_batch_size"]),
    );
    let mixed = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "getblockcount"},
        {"jsonrpc": "2.0", "id": "b", "method": "nope"},
        {"jsonrpc": "2.0", "method": "uptime"},
        5,
        {"jsonrpc": "2.0", "id": 3, "method": "getblockhash", "params": ["abc"]},
        {"jsonrpc": "2.0", "id": "s", "method": "sendrawtransaction", "params": [good_hex]},
    ]);
    case(
        "batch mixing good and bad",
        mixed.to_string().into_bytes(),
        Expect::Batch(vec![
            (json!(1), Ok(())),
            (json!("b"), Err(codes::METHOD_NOT_FOUND)),
            (Value::Null, Err(codes::INVALID_REQUEST)),
            (json!(3), Err(codes::INVALID_PARAMS)),
            (json!("s"), Ok(())),
        ]),
    );
    let huge = call(json!(99), "sendrawtransaction", json!(["ab".repeat(600 * 1024)]));
    case(
        "oversized body",
        huge,
        Expect::Error {
            id: Value::Null,
            code: codes::INVALID_REQUEST,
            words: vec!["max_body_bytes".into()],
            data: None,
            status: 413,
        },
    );

    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let mut problems = Vec::new();
    for case in &cases {
        if let Err(problem) = send_case(&http, rpc.url(), case).await {
            problems.push(format!("{}: {problem}", case.name));
        }
    }
    // Not JSON-RPC at all, still never a 5xx.
    for (what, response) in [
        ("GET /", http.get(rpc.url()).send().await),
        ("GET /nope", http.get(rpc.endpoint("nope")).send().await),
        ("POST /metrics", http.post(rpc.endpoint("metrics")).body("x").send().await),
    ] {
        match response {
            Ok(r) if r.status().is_server_error() => {
                problems.push(format!("{what}: HTTP {}", r.status()))
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{what}: {e}")),
        }
    }
    // The node is still fine after all that.
    let mut f = Findings::default();
    f.ok("getblockchaininfo after the table", rpc.getblockchaininfo().await);
    problems.extend(f.0);
    assert!(
        problems.is_empty(),
        "{} of {} malformed requests were answered wrongly:\n  - {}",
        problems.len(),
        cases.len(),
        problems.join("\n  - ")
    );
}

/// Sends one case; `Err` says what was wrong with the answer.
async fn send_case(http: &reqwest::Client, url: &str, case: &Case) -> Result<(), String> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(case.body.clone())
        .send()
        .await
        .map_err(|e| format!("no HTTP answer: {e}"))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("reading the body: {e}"))?;
    if status >= 500 {
        return Err(format!(
            "HTTP {status} for a client's mistake: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    if let Expect::Nothing = case.expect {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(format!("a notification got a body: {}", String::from_utf8_lossy(&body)))
        };
    }
    let answer: Value = serde_json::from_slice(&body).map_err(|e| {
        format!("HTTP {status}, body is not JSON ({e}): {}", String::from_utf8_lossy(&body))
    })?;
    match &case.expect {
        Expect::Nothing => unreachable!("handled above"),
        Expect::Error { id, code, words, data, status: expected_status } => {
            if status != *expected_status {
                return Err(format!("HTTP {status}, expected {expected_status}: {answer}"));
            }
            check_error(&answer, id, *code, words, data.as_ref())
        }
        Expect::Result { id } => {
            check_envelope(&answer, id)?;
            if answer.get("result").is_none() || answer.get("error").is_some() {
                return Err(format!("expected a result: {answer}"));
            }
            Ok(())
        }
        Expect::Batch(expected) => {
            let Value::Array(answers) = &answer else {
                return Err(format!("expected an array: {answer}"));
            };
            if answers.len() != expected.len() {
                return Err(format!(
                    "{} answers, expected {} (notifications get none): {answer}",
                    answers.len(),
                    expected.len()
                ));
            }
            for (id, outcome) in expected {
                let Some(one) = answers.iter().find(|a| a.get("id") == Some(id)) else {
                    return Err(format!("no answer with id {id}: {answer}"));
                };
                match outcome {
                    Ok(()) if one.get("result").is_some() && one.get("error").is_none() => {
                        check_envelope(one, id)?
                    }
                    Ok(()) => return Err(format!("id {id}: expected a result: {one}")),
                    Err(code) => check_error(one, id, *code, &[], None)?,
                }
            }
            Ok(())
        }
    }
}

fn check_envelope(answer: &Value, id: &Value) -> Result<(), String> {
    if answer.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(format!("jsonrpc is not \"2.0\": {answer}"));
    }
    if answer.get("id") != Some(id) {
        return Err(format!("id not echoed (expected {id}): {answer}"));
    }
    Ok(())
}

fn check_error(
    answer: &Value,
    id: &Value,
    code: i64,
    words: &[String],
    data: Option<&Value>,
) -> Result<(), String> {
    check_envelope(answer, id)?;
    if answer.get("result").is_some() {
        return Err(format!("an error response with a result: {answer}"));
    }
    let error = answer.get("error").ok_or_else(|| format!("no error object: {answer}"))?;
    if error.get("code").and_then(Value::as_i64) != Some(code) {
        return Err(format!(
            "code {}, expected {code}: {answer}",
            error.get("code").unwrap_or(&Value::Null)
        ));
    }
    let message = error.get("message").and_then(Value::as_str).unwrap_or_default();
    if message.is_empty() {
        return Err(format!("no message: {answer}"));
    }
    let lower = message.to_lowercase();
    if let Some(word) = words.iter().find(|w| !lower.contains(&w.to_lowercase())) {
        return Err(format!("the message does not name {word:?}: {message:?}"));
    }
    if let Some(expected) = data {
        let actual =
            error.get("data").ok_or_else(|| format!("no data (expected {expected}): {answer}"))?;
        let Value::Object(fields) = expected else { unreachable!("data expectations are objects") };
        for (key, value) in fields {
            if actual.get(key) != Some(value) {
                return Err(format!(
                    "data.{key} is {}, expected {value}: {actual}",
                    actual.get(key).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The event stream.
// ---------------------------------------------------------------------------

/// One JSON-RPC call on a raw keep-alive connection: the response's head and
/// body once all of it has arrived.
async fn raw_call(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send the request");
    let mut answer = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if rest.len() >= length {
                return text;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read the response");
        assert!(n > 0, "the connection closed before the response: {text}");
        answer.extend_from_slice(&chunk[..n]);
    }
}

/// A request whose body trickles in is answered HTTP 408 once the body has
/// had `rpc.header_read_timeout_ms`, so it cannot hold its connection slot
/// for as long as it likes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_never_completes_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _lock = lock();
    let scratch = Scratch::new();
    let config = scratch.path("timed.toml");
    std::fs::write(&config, "[rpc]\nheader_read_timeout_ms = 300\n").expect("write timed.toml");
    let node =
        DevNode::start_with(&scratch.path("data"), &scratch.path("timed.log"), Some(&config)).await;
    let address = node.info.rpc_url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stream =
        tokio::net::TcpStream::connect(address.as_str()).await.expect("connect to the RPC port");
    // Headers promise 100 bytes; ten arrive, then nothing.
    let head = "POST / HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"";
    stream.write_all(head.as_bytes()).await.expect("send the start of a request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut chunk = [0u8; 1024];
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
            let n = stream.read(&mut chunk).await.expect("read the answer");
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "no answer to a request whose body never completes");
    assert!(answer.starts_with("HTTP/1.1 408"), "answer: {answer}");
}

/// Connections beyond `rpc.max_connections` wait in the listen backlog (the
/// node spends no socket, buffer or file descriptor on them) and are served
/// as soon as one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_connections_beyond_the_limit_wait_until_one_closes() {
    let _lock = lock();
    let scratch = Scratch::new();
    let config = scratch.path("timed.toml");
    // Idle connections are not closed for the test's length.
    std::fs::write(&config, "[rpc]\nmax_connections = 2\nheader_read_timeout_ms = 120000\n")
        .expect("write timed.toml");
    let node =
        DevNode::start_with(&scratch.path("data"), &scratch.path("timed.log"), Some(&config)).await;
    let address = node.info.rpc_url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let connect = || async {
        tokio::net::TcpStream::connect(address.as_str()).await.expect("connect to the RPC port")
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect().await;
        let answer = raw_call(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "a call within the limit: {answer}");
        held.push(stream);
    }
    let mut third = connect().await;
    let waiting = tokio::time::timeout(Duration::from_millis(500), raw_call(&mut third)).await;
    assert!(waiting.is_err(), "a third connection was served with two held: {waiting:?}");
    drop(held.pop());
    let answer = tokio::time::timeout(WAIT, raw_call(&mut third))
        .await
        .expect("the waiting connection is served once one closes");
    assert!(answer.starts_with("HTTP/1.1 200"), "the waiting call: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_manager_is_told_ready_once_the_node_serves_and_stopping_at_stop() {
    // systemd's Type=notify: READY=1 once the RPC listens and node.json is
    // written (what "started" means to anything ordered after the unit),
    // STOPPING=1 when a stop begins.
    let _lock = lock();
    let scratch = Scratch::new();
    let socket_path = scratch.path("notify.sock");
    let socket =
        std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind a datagram socket");
    socket.set_read_timeout(Some(WAIT)).expect("a read timeout");
    let node = DevNode::start_full(
        &scratch.path("data"),
        &scratch.path("timed.log"),
        None,
        None,
        &[("NOTIFY_SOCKET", &socket_path)],
    )
    .await;
    let mut buffer = [0u8; 1024];
    let received = |socket: &std::os::unix::net::UnixDatagram, buffer: &mut [u8]| {
        let n = socket.recv(buffer).expect("a notification within the wait");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let ready = received(&socket, &mut buffer);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(ready.contains(&format!("STATUS=serving RPC at {}", node.info.rpc_url)), "{ready:?}");
    node.rpc.getblockcount().await.expect("the node answers once it said ready");
    node.rpc.call("stop", json!([])).await.expect("stop");
    let stopping = received(&socket, &mut buffer);
    assert_eq!(stopping.trim(), "STOPPING=1");
    let mut node = node;
    assert!(node.exit_status().await.success(), "a clean stop exits 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_a_metrics_listener_need_no_credentials() {
    // Probes and a scraper cannot carry the cookie: /health and /ready
    // answer without it on the RPC port, and metrics.listen_address serves
    // /metrics, /health and /ready without it; the RPC itself still asks.
    let _lock = lock();
    let scratch = Scratch::new();
    let config = scratch.path("timed.toml");
    std::fs::write(
        &config,
        "[rpc]\nauth = \"cookie\"\n[metrics]\nlisten_address = \"127.0.0.1:0\"\n",
    )
    .expect("write timed.toml");
    let node =
        DevNode::start_with(&scratch.path("data"), &scratch.path("timed.log"), Some(&config)).await;
    let metrics_url = node.info.metrics_url.clone().expect("node.json names the metrics listener");
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let get = |url: String| {
        let http = http.clone();
        async move {
            let response = http.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };
    let rpc_url = node.info.rpc_url.trim_end_matches('/').to_string();
    assert_eq!(get(format!("{rpc_url}/metrics")).await.0, 401, "the RPC port's /metrics asks");
    for base in [&rpc_url, &metrics_url] {
        let (status, body) = get(format!("{base}/health")).await;
        assert_eq!(status, 200, "{base}/health: {body}");
        let health: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(health["alive"], json!(true), "{body}");
        // A one-member dev chain reaches its quorum alone once started.
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = get(format!("{base}/ready")).await;
            let ready: Value = serde_json::from_str(&body).expect("JSON");
            if status == 200 {
                assert_eq!(ready["ready"], json!(true), "{body}");
                assert_eq!(ready["reasons"], json!([]), "{body}");
                break;
            }
            assert_eq!(status, 503, "{body}");
            assert!(!ready["reasons"].as_array().expect("reasons").is_empty(), "{body}");
            assert!(Instant::now() < deadline, "{base}/ready never became ready: {body}");
            tokio::time::sleep(POLL).await;
        }
    }
    let (status, text) = get(format!("{metrics_url}/metrics")).await;
    assert_eq!(status, 200, "the metrics listener's /metrics: {text}");
    assert!(text.contains("timed_build_info"), "{text}");
    let (status, _) = get(format!("{metrics_url}/")).await;
    assert_eq!(status, 404, "the metrics listener serves nothing else");
    let (status, _) = get(format!("{metrics_url}/events")).await;
    assert_eq!(status, 404, "not the event stream either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_event_stream_delivers_final_and_resumes() {
    let _lock = lock();
    let scratch = Scratch::new();
    let node = scratch.start().await;
    let rpc = &node.rpc;
    let mut payer = Payer::new(&node).await;
    let options = EventStreamOptions { idle_timeout: WAIT, ..EventStreamOptions::default() };

    // Live: a payment's `final`, then the block that commits it.
    let mut live = rpc.subscribe_with(options, None).await.expect("subscribe to /events");
    let tx = payer.pay(rpc, address(0x75), Amount::from_sat(12_000 * TIME)).await;
    let txid = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction").txid;
    let mut seen: Vec<StreamEvent> = Vec::new();
    let mut final_at = None;
    let mut block_at = None;
    while block_at.is_none() {
        let event = next(&mut live).await;
        match &event {
            StreamEvent::Tx { txid: id, state: TxState::Final, weight, .. } if *id == txid => {
                assert!(*weight >= 1, "final with weight {weight}");
                final_at = Some(seen.len());
            }
            StreamEvent::Tx { txid: id, state, .. } if *id == txid => {
                assert!(
                    !client::finality::is_terminal(*state) || state.is_final(),
                    "{txid} became {state}"
                );
            }
            StreamEvent::Block { txids, .. } if txids.contains(&txid) => {
                block_at = Some(seen.len())
            }
            StreamEvent::Lagged { .. } => panic!("a fresh subscriber lagged: {event:?}"),
            _ => {}
        }
        seen.push(event);
    }
    let final_at = final_at.expect("the stream delivered `final` for the payment");
    assert!(final_at < block_at.expect("set"), "`final` came after the block committing it");
    // Two more live events (blocks, one a second) to resume into.
    seen.push(next(&mut live).await);
    seen.push(next(&mut live).await);
    let ids: Vec<u64> = seen.iter().map(StreamEvent::id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "ids do not increase by one: {ids:?}");
    let last = *ids.last().expect("events");
    assert_eq!(live.last_event_id(), Some(last));
    drop(live);

    // Resume a little behind with Last-Event-ID: the replay in order, no gap,
    // then live events.
    let behind = 3.min(seen.len() as u64 - 1);
    let from = last - behind;
    let mut resumed = rpc.subscribe_with(options, Some(from)).await.expect("resume");
    let mut replay = Vec::new();
    while replay.len() < behind as usize + 1 {
        replay.push(next(&mut resumed).await);
    }
    assert!(
        replay.iter().all(|e| !matches!(e, StreamEvent::Lagged { .. })),
        "a resume within the buffer lagged: {replay:?}"
    );
    assert_eq!(
        &replay[..behind as usize],
        &seen[seen.len() - behind as usize..],
        "the replay after {from}"
    );
    assert_eq!(replay[behind as usize].id(), last + 1, "the first live event after the replay");
    drop(resumed);

    // The same with ?last_event_id= on a raw connection.
    let messages = raw_events(rpc, None, Some(last - 1), 1, WAIT).await;
    assert_eq!(messages[0].id.as_deref(), Some(last.to_string().as_str()), "{messages:?}");
    assert_eq!(serde_json::from_str::<StreamEvent>(&messages[0].data).ok().as_ref(), seen.last());

    // An id from long ago: `lagged` first, then everything still held, in order.
    let messages = raw_events(rpc, Some("1"), None, 4, WAIT).await;
    assert_eq!(messages[0].event, "lagged", "{messages:?}");
    assert!(
        matches!(serde_json::from_str(&messages[0].data), Ok(StreamEvent::Lagged { .. })),
        "{messages:?}"
    );
    let held: Vec<u64> = messages[1..]
        .iter()
        .map(|m| m.id.as_deref().and_then(|id| id.parse().ok()).expect("numeric id"))
        .collect();
    assert!(
        held.windows(2).all(|w| w[1] == w[0] + 1),
        "the replay after `lagged` has gaps: {held:?}"
    );
    // The typed client passes the node's `lagged` on.
    let mut old = rpc.subscribe_with(options, Some(1)).await.expect("resume from long ago");
    assert!(matches!(next(&mut old).await, StreamEvent::Lagged { .. }));
    drop(old);

    // An id from the future (another run, a clock that went back): `lagged`
    // first, and the stream goes on with the node's events.
    let future = last + 1_000_000_000;
    // Blocks come every second: a few seconds without an event is a stall.
    let messages =
        raw_events(rpc, Some(&future.to_string()), None, 2, Duration::from_secs(6)).await;
    assert_eq!(messages[0].event, "lagged", "{messages:?}");
    let after: u64 = messages[1].id.as_deref().and_then(|id| id.parse().ok()).expect("numeric id");
    assert!(after > last, "after `lagged` came event {after}, not a new one");

    // The largest id there is: no overflow anywhere (a panic would end the
    // node), `lagged` and live events as for any future id.
    let messages =
        raw_events(rpc, Some(&u64::MAX.to_string()), None, 2, Duration::from_secs(6)).await;
    assert_eq!(messages[0].event, "lagged", "{messages:?}");
    rpc.getblockcount().await.expect("the node still answers");
}

/// The next event, which must come within `WAIT`.
async fn next(stream: &mut EventStream) -> StreamEvent {
    match tokio::time::timeout(WAIT, stream.next_event()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("event stream error: {e}"),
        Ok(None) => panic!("the event stream ended"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

/// The first `count` messages of a raw `GET /events`, resuming with the
/// `Last-Event-ID` header or the `last_event_id` query parameter.
async fn raw_events(
    rpc: &RpcClient,
    header: Option<&str>,
    query: Option<u64>,
    count: usize,
    within: Duration,
) -> Vec<SseMessage> {
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let mut url = rpc.endpoint("events");
    if let Some(id) = query {
        url = format!("{url}?last_event_id={id}");
    }
    let mut request = http.get(&url).header("accept", "text/event-stream");
    if let Some(id) = header {
        request = request.header("last-event-id", id);
    }
    let mut response = request.send().await.expect("GET /events");
    assert!(response.status().is_success(), "GET {url}: HTTP {}", response.status());
    let mut parser = SseParser::new();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while messages.len() < count {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => parser.feed(&chunk, &mut messages),
            Ok(Ok(None)) => panic!("GET {url} ended after {messages:?}"),
            Ok(Err(e)) => panic!("GET {url}: {e}"),
            Err(_) => panic!(
                "GET {url}: {} of {count} events in {within:?}: {messages:?}",
                messages.len()
            ),
        }
    }
    messages
}

// ---------------------------------------------------------------------------
// Metrics.
// ---------------------------------------------------------------------------

/// One metric family, whichever text format it was parsed from.
#[derive(Debug)]
struct Family {
    kind: String,
    samples: Vec<(BTreeMap<String, String>, MetricValue)>,
}

#[derive(Debug)]
enum MetricValue {
    Number(f64),
    Histogram { count: u64, sum: f64, buckets: Vec<(f64, f64)> },
}

impl Family {
    fn value(&self, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.iter().find_map(|(l, v)| match v {
            MetricValue::Number(n)
                if labels.iter().all(|(k, x)| l.get(*k).map(String::as_str) == Some(*x)) =>
            {
                Some(*n)
            }
            _ => None,
        })
    }
}

fn histogram(h: &openmetrics_parser::HistogramValue) -> MetricValue {
    MetricValue::Histogram {
        count: h.count.unwrap_or(0),
        sum: h.sum.map_or(f64::NAN, |s| s.as_f64()),
        buckets: h.buckets.iter().map(|b| (b.upper_bound, b.count.as_f64())).collect(),
    }
}

fn labels_of<V: openmetrics_parser::RenderableMetricValue + Clone>(
    sample: &openmetrics_parser::Sample<V>,
) -> BTreeMap<String, String> {
    sample
        .get_labelset()
        .map(|set| set.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Parses `text` as OpenMetrics (`openmetrics`) or Prometheus 0.0.4.
fn parse_metrics(text: &str, openmetrics: bool) -> Result<BTreeMap<String, Family>, String> {
    use openmetrics_parser::{OpenMetricsValue, PrometheusValue};
    let mut out = BTreeMap::new();
    if openmetrics {
        let parsed =
            openmetrics_parser::openmetrics::parse_openmetrics(text).map_err(|e| e.to_string())?;
        for (name, family) in parsed.families {
            let samples = family
                .iter_samples()
                .map(|s| {
                    let value = match &s.value {
                        OpenMetricsValue::Counter(c) => MetricValue::Number(c.value.as_f64()),
                        OpenMetricsValue::Gauge(n)
                        | OpenMetricsValue::Unknown(n)
                        | OpenMetricsValue::StateSet(n) => MetricValue::Number(n.as_f64()),
                        OpenMetricsValue::Histogram(h) | OpenMetricsValue::GaugeHistogram(h) => {
                            histogram(h)
                        }
                        OpenMetricsValue::Info => MetricValue::Number(1.0),
                        OpenMetricsValue::Summary(_) => MetricValue::Number(f64::NAN),
                    };
                    (labels_of(s), value)
                })
                .collect();
            out.insert(name, Family { kind: family.family_type.to_string(), samples });
        }
    } else {
        let parsed =
            openmetrics_parser::prometheus::parse_prometheus(text).map_err(|e| e.to_string())?;
        for (name, family) in parsed.families {
            let samples = family
                .iter_samples()
                .map(|s| {
                    let value = match &s.value {
                        PrometheusValue::Counter(c) => MetricValue::Number(c.value.as_f64()),
                        PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => {
                            MetricValue::Number(n.as_f64())
                        }
                        PrometheusValue::Histogram(h) => histogram(h),
                        PrometheusValue::Summary(_) => MetricValue::Number(f64::NAN),
                    };
                    (labels_of(s), value)
                })
                .collect();
            out.insert(name, Family { kind: family.family_type.to_string(), samples });
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_node_metrics_parse_as_prometheus_text() {
    let _lock = lock();
    let scratch = Scratch::new();
    let node = scratch.start().await;
    let rpc = &node.rpc;
    let mut payer = Payer::new(&node).await;
    let tx = payer.pay(rpc, address(0x76), Amount::from_sat(15_000 * TIME)).await;
    let txid = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction").txid;
    node.wait_committed(&txid).await;
    let _ = rpc.call("nosuchmethod", json!([])).await; // an RPC error, counted

    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let response = http.get(rpc.endpoint("metrics")).send().await.expect("GET /metrics");
    assert!(response.status().is_success(), "GET /metrics: HTTP {}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("the metrics text");
    let height = node.height().await;

    // The body must parse in the format its Content-Type declares; the
    // families are then checked from whichever parse succeeds, so one run
    // reports every problem.
    let mut f = Findings::default();
    let declared_openmetrics = content_type.starts_with("application/openmetrics-text");
    f.check(declared_openmetrics || content_type.starts_with("text/plain"), || {
        format!("Content-Type {content_type:?} is not a metrics text format")
    });
    let families = match parse_metrics(&text, declared_openmetrics) {
        Ok(families) => families,
        Err(e) => {
            f.check(false, || {
                format!("the body does not parse as the {content_type:?} it is served as: {e}")
            });
            parse_metrics(&text, !declared_openmetrics).unwrap_or_else(|e2| {
                panic!("/metrics parses as neither OpenMetrics nor Prometheus text ({e}; {e2}):\n{text}")
            })
        }
    };
    let family = |name: &str, kind: &str, f: &mut Findings| -> Option<&Family> {
        let found = families.get(name);
        f.check(found.is_some_and(|fam| fam.kind == kind), || {
            format!("no {kind} family {name} (got {:?})", found.map(|fam| &fam.kind))
        });
        found
    };
    if let Some(tx_states) = family("timed_transactions", "counter", &mut f) {
        let finals = tx_states.value(&[("state", "final")]).unwrap_or(0.0);
        f.check(finals >= 1.0, || format!("timed_transactions{{state=\"final\"}} = {finals}"));
    }
    if let Some(latency) = family("timed_finality_latency_seconds", "histogram", &mut f) {
        match latency.samples.first() {
            Some((_, MetricValue::Histogram { count, sum, buckets })) => {
                f.check(*count >= 1, || {
                    format!("finality latency count {count} after a final transaction")
                });
                f.check(sum.is_finite() && *sum >= 0.0, || format!("finality latency sum {sum}"));
                f.check(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), || {
                    format!("buckets not cumulative: {buckets:?}")
                });
                f.check(
                    buckets.last().is_some_and(|(le, n)| le.is_infinite() && *n == *count as f64),
                    || format!("+Inf bucket is not the count: {buckets:?}"),
                );
            }
            other => f.check(false, || format!("timed_finality_latency_seconds sample: {other:?}")),
        }
    }
    if let Some(blocks) = family("timed_blocks_committed", "counter", &mut f) {
        let n = blocks.value(&[]).unwrap_or(0.0);
        f.check(n >= 1.0 && n <= height as f64, || {
            format!("timed_blocks_committed {n} with height {height}")
        });
    }
    if let Some(requests) = family("timed_rpc_requests", "counter", &mut f) {
        let ok =
            requests.value(&[("method", "sendrawtransaction"), ("outcome", "ok")]).unwrap_or(0.0);
        f.check(ok >= 1.0, || format!("timed_rpc_requests sendrawtransaction ok = {ok}"));
        let errors: f64 = requests
            .samples
            .iter()
            .filter(|(l, _)| l.get("outcome").map(String::as_str) == Some("error"))
            .map(|(_, v)| if let MetricValue::Number(n) = v { *n } else { 0.0 })
            .sum();
        f.check(errors >= 1.0, || format!("no RPC error counted: {:?}", requests.samples));
        f.check(
            requests
                .samples
                .iter()
                .all(|(l, _)| l.contains_key("method") && l.contains_key("outcome")),
            || format!("timed_rpc_requests labels: {:?}", requests.samples),
        );
    }
    // Node state: one family per figure, typed.
    let number = |fam: &Family| match fam.samples.first() {
        Some((_, MetricValue::Number(n))) => Some(*n),
        _ => None,
    };
    if let Some(h) = family("timed_height", "gauge", &mut f) {
        let h = number(h).unwrap_or(-1.0);
        f.check(h >= 1.0 && h <= height as f64, || format!("timed_height {h}, height {height}"));
    }
    for (name, kind) in [
        ("timed_mempool_transactions", "gauge"),
        ("timed_mempool_bytes", "gauge"),
        ("timed_orphan_transactions", "gauge"),
        ("timed_peers", "gauge"),
        ("timed_store_size_bytes", "gauge"),
        ("timed_view_changes", "counter"),
        ("timed_store_flushes", "counter"),
        ("timed_store_flush_seconds", "counter"),
        ("timed_signatures_verified", "counter"),
        ("timed_uptime_seconds", "gauge"),
    ] {
        if let Some(fam) = family(name, kind, &mut f) {
            let n = number(fam).unwrap_or(-1.0);
            f.check(n >= 0.0, || format!("{name} = {n}"));
        }
    }
    // The standard process families, unprefixed.
    for (name, kind) in [
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_threads", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        if let Some(fam) = family(name, kind, &mut f) {
            let n = number(fam).unwrap_or(0.0);
            f.check(n > 0.0, || format!("{name} = {n}"));
        }
    }
    f.check(!families.contains_key("timed_state"), || {
        "the catch-all timed_state family is back".to_string()
    });
    // Every series the Grafana dashboard in the repo queries is served.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../packaging/grafana/timecoin.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap())
        .map(|target| target["expr"].as_str().unwrap().to_string())
        .collect();
    queries.extend(
        dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["definition"].as_str().map(str::to_string)),
    );
    let mut series = 0;
    for query in &queries {
        let words = query.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        for name in words.filter(|w| w.starts_with("timed_") || w.starts_with("process_")) {
            series += 1;
            let family_name = ["_bucket", "_total"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            f.check(families.contains_key(family_name), || {
                format!("the dashboard queries {name}, which /metrics does not serve")
            });
        }
    }
    f.check(series >= 20, || format!("only {series} series found in the dashboard"));
    if let Some(build) = family("timed_build_info", "gauge", &mut f) {
        match build.samples.first() {
            Some((labels, MetricValue::Number(v))) => {
                f.eq("timed_build_info value", *v, 1.0);
                let git = labels.get("git").cloned().unwrap_or_default();
                let version = labels.get("version").cloned().unwrap_or_default();
                f.check(
                    !git.is_empty()
                        && node.info.version.contains(&git)
                        && node.info.version.starts_with(&version),
                    || {
                        format!(
                            "timed_build_info {labels:?} does not match node.json version {:?}",
                            node.info.version
                        )
                    },
                );
            }
            other => f.check(false, || format!("timed_build_info sample: {other:?}")),
        }
    }
    f.assert_none(&format!("/metrics ({content_type})"));
}

// ---------------------------------------------------------------------------
// The command line: config files, data dirs, version.
// ---------------------------------------------------------------------------

/// A valid one-masternode genesis that no `timed --dev` made.
fn test_genesis(seed: u8) -> Genesis {
    let masternode = SecretKey::from_seed([seed; 32]);
    let reward = Address::from_public_key(&masternode.public(), Network::Dev);
    let genesis = Genesis {
        chain_id: ChainId(0xC0FF_EE00 | u32::from(seed)),
        network: Network::Dev,
        timestamp_ms: 1_700_000_000_000,
        committee: vec![GenesisMasternode {
            id: NodeId::from(masternode.public()),
            p2p_address: "127.0.0.1:0".into(),
            tier: Tier::Free,
            reward_address: reward,
        }],
        min_masternodes: 1,
        params: ConsensusParams::default(),
        allocations: vec![Allocation { address: reward, value: Amount::from_sat(1_000 * TIME) }],
    };
    genesis.validate().expect("the test genesis is valid");
    genesis
}

/// Runs `timed` with `args` to completion (within `WAIT`).
async fn run_timed(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut command = Command::new(timed_binary());
    command.args(args).env_remove("RUST_LOG").stdin(Stdio::null()).kill_on_drop(true);
    tokio::time::timeout(WAIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("timed {args:?} still running after {WAIT:?}"))
        .expect("run timed")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_config_then_check_config_is_clean_and_a_misspelled_key_is_named() {
    let _lock = lock();
    let scratch = Scratch::new();
    let generated = run_timed(&["--generate-config".as_ref()]).await;
    assert!(generated.status.success(), "--generate-config: {}", text(&generated.stderr));
    let config = text(&generated.stdout);
    let path = scratch.path("c.toml");
    std::fs::write(&path, &config).expect("write c.toml");

    // The default names genesis.json beside the config: not there yet, the
    // config still checks clean, with a warning naming the key.
    let missing = run_timed(&["--check-config".as_ref(), path.as_os_str()]).await;
    assert!(missing.status.success(), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("warning"), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("node.genesis_file"), "{}", text(&missing.stderr));

    // A genesis file that exists but is not one is a problem (exit 3).
    std::fs::write(scratch.path("genesis.json"), "{}").expect("write genesis.json");
    let invalid = run_timed(&["--check-config".as_ref(), path.as_os_str()]).await;
    assert_eq!(invalid.status.code(), Some(3), "{}", text(&invalid.stderr));
    assert!(text(&invalid.stderr).contains("node.genesis_file"), "{}", text(&invalid.stderr));

    let genesis = serde_json::to_vec_pretty(&test_genesis(0x31)).expect("genesis JSON");
    std::fs::write(scratch.path("genesis.json"), genesis).expect("write genesis.json");
    let clean = run_timed(&["--check-config".as_ref(), path.as_os_str()]).await;
    assert!(clean.status.success(), "the generated config is not clean: {}", text(&clean.stderr));
    assert!(text(&clean.stdout).contains("ok"), "{}", text(&clean.stdout));

    // One misspelled key: named, with the file, line and the right spelling.
    let misspelled = config.replacen("\nmax_body_bytes =", "\nmax_body_byte =", 1);
    assert_ne!(misspelled, config, "the generated config has rpc.max_body_bytes");
    let bad = scratch.path("bad.toml");
    std::fs::write(&bad, &misspelled).expect("write bad.toml");
    let refused = run_timed(&["--check-config".as_ref(), bad.as_os_str()]).await;
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success(), "a misspelled key passed --check-config");
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("rpc.max_body_byte"), "the key is not named: {stderr}");
    assert!(stderr.contains("bad.toml"), "the file is not named: {stderr}");
    assert!(stderr.contains("rpc.max_body_bytes"), "no suggestion: {stderr}");
    // Starting with it fails the same way, before touching anything.
    let start = run_timed(&["--config".as_ref(), bad.as_os_str()]).await;
    assert_eq!(start.status.code(), Some(3), "{}", text(&start.stderr));
    assert!(text(&start.stderr).contains("rpc.max_body_byte"), "{}", text(&start.stderr));
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        {
            let entry = entry.expect("a dir entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.clone(),
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
                );
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_of_another_chain_is_refused_and_untouched() {
    let _lock = lock();
    let scratch = Scratch::new();
    let mut node = scratch.start().await;
    node.wait_height(2).await;
    let height = node.height().await;
    assert_eq!(node.rpc.stop().await.expect("stop"), "timed stopping");
    assert_eq!(node.exit_status().await.code(), Some(0));
    drop(node);
    let data = scratch.path("data");
    let before = snapshot(&data);

    // Another chain's node pointed at the same data dir.
    let other = scratch.path("other");
    std::fs::create_dir(&other).expect("mkdir");
    let genesis_path = other.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_vec_pretty(&test_genesis(0x32)).expect("JSON"))
        .expect("write genesis");
    let config = other.join("timed.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\ngenesis_file = {:?}\n\n[network]\nlisten_address = \"127.0.0.1:0\"\nenable_peer_discovery = false\n\n[rpc]\nlisten_address = \"127.0.0.1:0\"\n\n[storage]\ndata_dir = {:?}\n",
            genesis_path.display().to_string(),
            data.display().to_string()
        ),
    )
    .expect("write timed.toml");
    let checked = run_timed(&["--check-config".as_ref(), config.as_os_str()]).await;
    assert!(
        checked.status.success(),
        "the other chain's config is valid: {}",
        text(&checked.stderr)
    );
    let refused = run_timed(&["--config".as_ref(), config.as_os_str()]).await;
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(4), "exit code 4 is a data dir problem: {stderr}");
    assert!(stderr.contains(&data.display().to_string()), "the dir is not named: {stderr}");
    assert!(stderr.contains("genesis"), "the reason is not given: {stderr}");

    let after = snapshot(&data);
    let changed: Vec<&PathBuf> =
        before.keys().chain(after.keys()).filter(|p| before.get(*p) != after.get(*p)).collect();
    assert!(changed.is_empty(), "the refused start changed {changed:?}");

    // And the dev chain resumes from it.
    let node = scratch.start().await;
    let resumed = node.height().await;
    assert!(resumed >= height, "the dev chain went back from {height} to {resumed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_version_includes_the_git_hash() {
    let _lock = lock();
    let out = run_timed(&["--version".as_ref()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let version = text(&out.stdout);
    let version = version.trim();
    // `timed X.Y.Z (<12 hex digits>[-dirty])`
    let hash = version
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map(|h| h.trim_end_matches("-dirty"))
        .unwrap_or_else(|| panic!("no (hash) in {version:?}"));
    assert!(version.starts_with(&format!("timed {} (", env!("CARGO_PKG_VERSION"))), "{version:?}");
    assert!(
        hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a git hash: {hash:?} in {version:?}"
    );
    // When this is a git checkout, it is the checkout's commit.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(hash, head, "timed was built from another commit than HEAD (rebuild it)");
    }
}

/// `timed --generate-config | head` and `time-cli … | head`: a reader that
/// has gone away ends the program quietly (exit 0), never with a panic.
#[test]
fn a_closed_stdout_ends_the_tools_quietly() {
    let scratch = Scratch::new();
    let time_cli = cluster::binaries::find("time-cli").unwrap_or_else(|e| panic!("{e}"));
    let key = scratch.path("k.json");
    let runs: [(PathBuf, Vec<&std::ffi::OsStr>); 2] = [
        (timed_binary(), vec!["--generate-config".as_ref()]),
        (time_cli, vec!["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]),
    ];
    for (program, args) in runs {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let output = std::process::Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("panicked"), "{} {args:?}: {stderr}", program.display());
        assert_eq!(output.status.code(), Some(0), "{} {args:?}: {stderr}", program.display());
    }
}

/// `time-cli --rpcwait` started before the node waits for it (no node.json,
/// then the node starting) and answers once it is up; with
/// `--rpcwaittimeout` and no node it gives up as unreachable (exit 4), and
/// without `--rpcwait` it fails at once the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_cli_rpcwait_waits_for_the_node_to_start() {
    let scratch = Scratch::new();
    let data = scratch.path("data");
    let time_cli = cluster::binaries::find("time-cli").unwrap_or_else(|e| panic!("{e}"));
    let run = |args: &[&str]| {
        let mut command = Command::new(&time_cli);
        command.arg("--datadir").arg(&data).args(args).stdin(Stdio::null());
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        command.output()
    };
    // A malformed URL is a bad argument (exit 2), as in loadgen and timectl.
    let bad_url = Command::new(&time_cli)
        .args(["--rpc-url", "not a url", "getblockcount"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad_url.status.code(), Some(2), "{}", text(&bad_url.stderr));
    let at_once = run(&["getblockcount"]).await.unwrap();
    assert_eq!(at_once.status.code(), Some(4), "{}", text(&at_once.stderr));
    let gave_up = run(&["--rpcwait", "--rpcwaittimeout", "0.5", "getblockcount"]).await.unwrap();
    assert_eq!(gave_up.status.code(), Some(4), "{}", text(&gave_up.stderr));

    let waiting = tokio::spawn(run(&["--rpcwait", "getblockcount"]));
    let node = scratch.start().await;
    let answered = tokio::time::timeout(WAIT, waiting).await.expect("time-cli waited on").unwrap();
    let answered = answered.unwrap();
    assert_eq!(answered.status.code(), Some(0), "{}", text(&answered.stderr));
    let height: u64 = text(&answered.stdout).trim().parse().expect("a block count");
    assert!(height <= node.rpc.getblockcount().await.unwrap());
}
