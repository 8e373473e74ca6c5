//! Readiness as TARGETS.md defines it: every node completed handshakes with
//! peers of weight ≥ q minus its own, a probe transaction is final on every
//! node, and a block was committed. "The processes exist" is not ready.

use std::time::{Duration, Instant};

use client::RpcClient;
use client::wallet::{Chain, Payment, Wallet};
use protocol::{Amount, Committee, Network, TxId};

use crate::error::ClusterError;
use crate::layout::{ClusterFile, Layout};

/// What readiness and status need to know about a cluster: its files. Both
/// the process that owns a cluster and any other (timectl) can make one.
#[derive(Clone, Debug)]
pub struct ClusterView {
    /// Paths.
    pub layout: Layout,
    /// `cluster.json`.
    pub file: ClusterFile,
    /// The genesis.
    pub genesis: protocol::Genesis,
}

impl ClusterView {
    /// Reads the cluster in `layout`'s directory.
    pub fn load(layout: &Layout) -> Result<ClusterView, ClusterError> {
        let (file, genesis) = crate::cluster::load_files(layout)?;
        Ok(ClusterView { layout: layout.clone(), file, genesis })
    }

    /// Node names.
    pub fn names(&self) -> Vec<String> {
        self.file.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// An RPC client for node `i`.
    pub fn rpc(&self, i: usize) -> Result<RpcClient, ClusterError> {
        let name = &self.file.nodes[i].name;
        RpcClient::from_data_dir(&self.layout.data_dir(name))
            .map_err(|source| ClusterError::Rpc { node: name.clone(), source })
    }

    /// The node proposing the round the cluster is in: the first node that
    /// answers `getconsensusinfo` names it. `None` when no node answers.
    pub async fn current_proposer(&self) -> Option<String> {
        for i in 0..self.file.nodes.len() {
            let Ok(client) = self.rpc(i) else { continue };
            let asked = tokio::time::timeout(Duration::from_secs(2), client.getconsensusinfo());
            if let Ok(Ok(info)) = asked.await
                && let Some(node) = self.file.nodes.iter().find(|n| n.id == info.proposer)
            {
                return Some(node.name.clone());
            }
        }
        None
    }

    /// Log tails of every node.
    pub fn logs(&self, lines: usize) -> String {
        self.file
            .nodes
            .iter()
            .map(|n| crate::cluster::log_tail(&self.layout, &n.name, lines))
            .collect()
    }

    /// The genesis.
    pub fn genesis(&self) -> &protocol::Genesis {
        &self.genesis
    }

    /// `cluster.json`.
    pub fn file(&self) -> &ClusterFile {
        &self.file
    }

    /// Paths.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// How long each phase of readiness took, measured.
#[derive(Clone, Debug)]
pub struct ReadyReport {
    /// From the call to every node being connected to a quorum.
    pub connected: Duration,
    /// ... to the probe transaction being final on every node.
    pub probe_final: Duration,
    /// ... to a block being committed on every node.
    pub block: Duration,
    /// The probe transaction.
    pub probe: TxId,
}

fn rpc_error(
    cluster: &ClusterView,
    i: usize,
) -> impl FnOnce(client::ClientError) -> ClusterError + '_ {
    move |source| ClusterError::Rpc { node: cluster.names()[i].clone(), source }
}

async fn poll<F, Fut>(
    cluster: &ClusterView,
    deadline: Instant,
    what: &str,
    mut check: F,
) -> Result<(), ClusterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let mut last = String::new();
    loop {
        match check().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            let seen = if last.is_empty() { String::new() } else { format!(" (last: {last})") };
            return Err(ClusterError::Timeout {
                what: format!("not ready: {what}{seen}"),
                logs: cluster.logs(15),
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the nodes `live` form a working network (see the module
/// docs), within `timeout`.
pub async fn wait_ready(
    cluster: &ClusterView,
    live: &[usize],
    timeout: Duration,
) -> Result<ReadyReport, ClusterError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let committee = Committee::from_genesis(cluster.genesis());
    let clients: Vec<RpcClient> = live.iter().map(|i| cluster.rpc(*i)).collect::<Result<_, _>>()?;

    // 1. Handshakes with a quorum (counting itself).
    for (k, &i) in live.iter().enumerate() {
        let rpc = clients[k].clone();
        let me = cluster.file().nodes[i].id;
        let committee = &committee;
        poll(cluster, deadline, &format!("{} connected to a quorum", cluster.names()[i]), || {
            let rpc = rpc.clone();
            async move {
                let peers = rpc.getpeerinfo().await.map_err(|e| e.to_string())?;
                let ids = peers.iter().filter_map(|p| committee.index_of(&p.id));
                let own = committee.index_of(&me);
                let weight = committee.weight_of(ids.chain(own));
                Ok(weight >= committee.quorum())
            }
        })
        .await?;
    }
    let connected = started.elapsed();

    // 2. A probe transaction, final on every node.
    let probe = send_probe(cluster, live[0], &clients[0]).await?;
    for (k, &i) in live.iter().enumerate() {
        let rpc = clients[k].clone();
        poll(cluster, deadline, &format!("probe {probe} final on {}", cluster.names()[i]), || {
            let rpc = rpc.clone();
            async move {
                match rpc.gettransactionfinality(&probe).await {
                    Ok(f) => Ok(f.state.is_final()),
                    Err(e) if e.is_not_found() => Ok(false),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await?;
    }
    let probe_final = started.elapsed();

    // 3. A block committed on every node.
    for (k, &i) in live.iter().enumerate() {
        let rpc = clients[k].clone();
        poll(cluster, deadline, &format!("a block committed on {}", cluster.names()[i]), || {
            let rpc = rpc.clone();
            async move { rpc.getblockcount().await.map(|h| h >= 1).map_err(|e| e.to_string()) }
        })
        .await?;
    }
    Ok(ReadyReport { connected, probe_final, block: started.elapsed(), probe })
}

/// Sends the dev wallet's smallest coin back to itself.
async fn send_probe(
    cluster: &ClusterView,
    i: usize,
    rpc: &RpcClient,
) -> Result<TxId, ClusterError> {
    let dev = &cluster.file().dev_wallet;
    let wallet = Wallet::load(Network::Dev, &[cluster.layout().resolve(&dev.key_file)])?;
    let coins = rpc.listunspent(&[dev.address]).await.map_err(rpc_error(cluster, i))?;
    let Some(coin) = coins.iter().min_by_key(|c| (c.value_sat, c.txid, c.vout)).cloned() else {
        return Err(ClusterError::Process(
            "the dev wallet has no spendable coin for the probe".into(),
        ));
    };
    let chain = Chain::from(cluster.genesis());
    let amount = Amount::from_sat(coin.value_sat / 2);
    let now = hostio::now_ms() as i64;
    let payment = Payment { to: dev.address, amount, change: dev.address, timestamp_ms: now };
    let tx = wallet.pay(&chain, &payment, &[coin])?;
    let submitted = rpc.sendrawtransaction(&tx).await.map_err(rpc_error(cluster, i))?;
    Ok(submitted.txid)
}
