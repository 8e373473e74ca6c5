//! A `timed --dev` chain in this process, and paying from its wallet.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use client::wallet::{Chain, Payment, Wallet};
use client::{RpcAuth, RpcClient};
use protocol::{Address, Amount, Transaction};
use timed::config::Config;
use timed::devchain;
use timed::metrics::Metrics;
use timed::node::{self, NodeSettings};
use timed::rpc::{self, RpcSettings};
use timed::store::StoreConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{WAIT, now_ms};

/// A `timed --dev` chain in this process, on a temp dir, with its RPC
/// listener on 127.0.0.1:0.
pub(crate) struct DevNode {
    pub(crate) rpc: RpcClient,
    /// The dev wallet's key file (`dev-wallet.key` in the data dir).
    pub(crate) wallet_key_file: PathBuf,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl DevNode {
    /// What `timed --dev --data-dir DIR --rpc-listen 127.0.0.1:0
    /// --p2p-listen 127.0.0.1:0` starts, without the process: the default
    /// config with `--dev`'s changes, and the node and RPC settings built
    /// from it as `timed` builds them.
    pub(crate) async fn start() -> DevNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = Config::default();
        config.network.listen_address = loopback;
        config.rpc.listen_address = loopback;
        config.network.enable_peer_discovery = false;
        config.storage.data_dir = data_dir.clone();
        let dev = devchain::prepare(&data_dir, now_ms()).expect("prepare the dev chain");
        let mut core = config.core_config();
        core.tick_interval_ms = config.node.status_interval.as_millis() as u64;
        let settings = NodeSettings {
            data_dir: data_dir.clone(),
            genesis: dev.genesis.clone(),
            key: Some(dev.masternode_key),
            p2p_listen: config.network.listen_address,
            peers: config.network.peers.clone(),
            bootstrap: config.network.bootstrap_peers.clone(),
            peer_exchange: config.network.enable_peer_discovery,
            net_limits: config.net_limits(),
            core,
            store: StoreConfig {
                cache_size_mb: (config.storage.cache_bytes >> 20).max(1),
                min_free_mb: config.storage.min_free_mb,
                ..StoreConfig::default()
            },
            verify_threads: config.node.verify_threads,
            byzantine: None,
        };
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (handle, published) = node::start(settings, &tracker, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("the node did not start on {}: {e}", data_dir.display()));
        let rpc_settings = RpcSettings {
            listen: config.rpc.listen_address,
            auth: config.rpc.auth.clone(),
            cookie_file: data_dir.join(".cookie"),
            max_body_bytes: config.rpc.max_body_bytes,
            max_batch: config.rpc.max_batch_size,
            max_concurrency: config.rpc.max_concurrent_requests,
            max_connections: config.rpc.max_connections,
            header_read_timeout: config.rpc.header_read_timeout,
            event_buffer: config.rpc.event_buffer,
            metrics: config.metrics.enabled,
            metrics_listen: config.metrics.listen_address,
            mempool_max_txs: config.mempool.max_transactions,
            mempool_max_bytes: config.mempool.max_bytes,
        };
        let server = rpc::serve(
            rpc_settings,
            handle,
            Arc::new(Metrics::new()),
            published.p2p_address,
            &tracker,
            shutdown.clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("the RPC listener did not start: {e}"));
        assert_eq!(server.cookie_file, None, "a loopback listener needs no cookie");
        let rpc = RpcClient::new(&server.url(), RpcAuth::None).expect("an RPC client");
        DevNode { rpc, wallet_key_file: dev.wallet_key_file, tracker, shutdown, _dir: dir }
    }

    /// Cancels the node's token and waits for every task on its tracker.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(WAIT, self.tracker.wait())
            .await
            .expect("the node's tasks stop after its token is cancelled");
    }
}

/// A signed payment of `amount` to `to` from the dev wallet, built by the
/// wallet from `listunspent` (largest coins first).
pub(crate) async fn pay(
    rpc: &RpcClient,
    wallet: &Wallet,
    chain: &Chain,
    to: Address,
    amount: Amount,
) -> Transaction {
    let coins = rpc.listunspent(&wallet.addresses()).await.expect("listunspent");
    let payment = Payment { to, amount, change: wallet.addresses()[0], timestamp_ms: now_ms() };
    wallet.pay(chain, &payment, &coins).expect("the wallet pays")
}

/// An HTTP client for raw requests to the node (no proxy in between).
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("an HTTP client")
}
