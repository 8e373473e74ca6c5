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
        let settings =
            NodeSettings::from_config(&config, dev.genesis.clone(), Some(dev.masternode_key));
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (handle, published) = node::start(settings, &tracker, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("the node did not start on {}: {e}", data_dir.display()));
        let rpc_settings = RpcSettings::from_config(&config);
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
