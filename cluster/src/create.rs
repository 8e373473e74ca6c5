//! Making a cluster directory: keys, genesis, and one config per node.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::{
    Address, Amount, ChainId, ConsensusParams, Genesis, Network, NodeId, SecretKey, Tier,
};

use crate::error::ClusterError;
use crate::layout::{
    CLUSTER_FILE_VERSION, ClusterFile, Layout, LinkEntry, NodeEntry, PoolEntry, WalletEntry,
    node_name,
};
use crate::node_config::{NodeConfig, Peer};

/// What a new cluster looks like.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Masternodes (at least 1).
    pub nodes: usize,
    /// Target time between blocks.
    pub block_interval_ms: u64,
    /// Tier per node (missing entries are Free).
    pub tiers: Vec<Tier>,
    /// Keys in the load-generation pool.
    pub pool_keys: usize,
    /// Coins per pool key.
    pub pool_coins_per_key: u32,
    /// Value of each pool coin.
    pub pool_coin_value_sat: u64,
    /// The nodes' log level.
    pub log_level: String,
    /// Test builds only: nodes that run as Byzantine masternodes, and the
    /// mode each runs (`timed --byzantine MODE`; needs a `timed` built with
    /// the `byzantine` feature, as `make build` does).
    pub byzantine: BTreeMap<String, String>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            nodes: 5,
            block_interval_ms: 1_000,
            tiers: Vec::new(),
            pool_keys: 32,
            pool_coins_per_key: 250,
            pool_coin_value_sat: 100 * protocol::amount::SAT_PER_TIME,
            log_level: "info".into(),
            byzantine: BTreeMap::new(),
        }
    }
}

/// Dev wallet coins in genesis (like `timed --dev`).
pub const DEV_WALLET_COINS: usize = 100;
/// TIME per dev wallet coin.
pub const DEV_WALLET_COIN_TIME: u64 = 10_000;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io { path: path.to_path_buf(), source }
}

/// Writes a dev key file: readable by its owner only, never overwriting,
/// durable ([`hostio::write_key_file`]).
pub(crate) fn write_key(path: &Path, key: &SecretKey) -> Result<Address, ClusterError> {
    Ok(hostio::write_key_file(path, key, Network::Dev)?.address)
}

/// Consensus parameters for a local cluster: the defaults, with timeouts
/// short enough that a dead proposer costs about one block interval, and
/// blocks small enough that five nodes sharing two cores check and commit
/// one well within a round (each transaction costs a node ~150 µs to check
/// and commit; 2,000 still drain a backlog at twice 1,000 tx/s).
pub fn local_params(block_interval_ms: u64) -> ConsensusParams {
    ConsensusParams {
        block_interval_ms,
        max_block_txs: 2_000,
        max_block_bytes: 4_000_000,
        propose_timeout_ms: 500,
        prevote_timeout_ms: 250,
        precommit_timeout_ms: 250,
        timeout_delta_ms: 250,
        ..ConsensusParams::default()
    }
}

/// The keys and genesis of a new chain, as written by [`new_chain`].
pub(crate) struct NewChain {
    /// The masternodes, `node1` first.
    pub nodes: Vec<NodeEntry>,
    /// The dev wallet.
    pub dev_wallet: WalletEntry,
    /// The load-generation pool.
    pub pool: PoolEntry,
    /// The genesis (also written to `genesis.json`).
    pub genesis: Genesis,
}

/// Writes the keys of a new chain and its `genesis.json` into `layout`'s
/// directory: each masternode's key at `node_key(name)` (a path relative to
/// the directory), the dev wallet and pool keys under `keys/`. Masternode
/// `i` is listed in genesis at `p2p_addresses[i]` (informational: nodes
/// dial the addresses in their configs).
pub(crate) fn new_chain(
    layout: &Layout,
    spec: &ClusterSpec,
    p2p_addresses: &[String],
    node_key: impl Fn(&str) -> String,
    now_ms: u64,
) -> Result<NewChain, ClusterError> {
    let n = spec.nodes;
    let keys_dir = layout.keys();
    fs::create_dir_all(&keys_dir).map_err(io(&keys_dir))?;
    let mut rng = rand::rng();
    let node_keys: Vec<SecretKey> = (0..n).map(|_| SecretKey::generate(&mut rng)).collect();
    let dev_key = SecretKey::generate(&mut rng);
    let pool_keys: Vec<SecretKey> =
        (0..spec.pool_keys).map(|_| SecretKey::generate(&mut rng)).collect();

    let mut nodes = Vec::with_capacity(n);
    for (i, key) in node_keys.iter().enumerate() {
        let name = node_name(i);
        let rel = node_key(&name);
        let path = layout.resolve(&rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        write_key(&path, key)?;
        nodes.push(NodeEntry {
            name,
            id: NodeId::from(key.public()),
            tier: spec.tiers.get(i).copied().unwrap_or(Tier::Free),
            key_file: rel,
        });
    }
    let dev_rel = "keys/dev-wallet.key".to_string();
    let dev_address = write_key(&layout.resolve(&dev_rel), &dev_key)?;
    let mut pool_files = Vec::with_capacity(pool_keys.len());
    let mut pool_addresses = Vec::with_capacity(pool_keys.len());
    for (i, key) in pool_keys.iter().enumerate() {
        let rel = format!("keys/pool-{i:03}.key");
        pool_addresses.push(write_key(&layout.resolve(&rel), key)?);
        pool_files.push(rel);
    }

    let mut committee: Vec<GenesisMasternode> = nodes
        .iter()
        .zip(p2p_addresses)
        .map(|(node, p2p_address)| GenesisMasternode {
            id: node.id,
            p2p_address: p2p_address.clone(),
            tier: node.tier,
            reward_address: Address::from_public_key(&node.id.public_key(), Network::Dev),
        })
        .collect();
    committee.sort_by_key(|m| m.id);
    let mut allocations: Vec<Allocation> = (0..DEV_WALLET_COINS)
        .map(|_| Allocation {
            address: dev_address,
            value: Amount::from_time(DEV_WALLET_COIN_TIME).unwrap_or(Amount::ONE_TIME),
        })
        .collect();
    for address in &pool_addresses {
        for _ in 0..spec.pool_coins_per_key {
            allocations.push(Allocation {
                address: *address,
                value: Amount::from_sat(spec.pool_coin_value_sat),
            });
        }
    }
    let genesis = Genesis {
        chain_id: ChainId(rand::RngExt::random(&mut rng)),
        network: Network::Dev,
        timestamp_ms: now_ms as i64,
        committee,
        min_masternodes: n.min(3) as u32,
        params: local_params(spec.block_interval_ms),
        allocations,
    };
    genesis.validate().map_err(|e| ClusterError::Invalid {
        path: layout.genesis(),
        reason: format!("generated genesis is invalid: {e}"),
    })?;
    write_json(&layout.genesis(), &genesis)?;
    Ok(NewChain {
        nodes,
        dev_wallet: WalletEntry { key_file: dev_rel, address: dev_address },
        pool: PoolEntry {
            key_files: pool_files,
            coins_per_key: spec.pool_coins_per_key,
            coin_value_sat: spec.pool_coin_value_sat,
        },
        genesis,
    })
}

/// Writes `value` as pretty JSON.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), ClusterError> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| ClusterError::Invalid { path: path.to_path_buf(), reason: e.to_string() })?;
    fs::write(path, json).map_err(io(path))
}

/// Creates the cluster files in `layout`'s directory (which must be empty
/// or absent). `proxy_ports[i][j]` is the port of the proxy node i dials
/// node j at (ignored for i == j).
pub(crate) fn create_files(
    layout: &Layout,
    spec: &ClusterSpec,
    proxy_ports: &[Vec<u16>],
    now_ms: u64,
) -> Result<(ClusterFile, Genesis), ClusterError> {
    let n = spec.nodes;
    if let Some(name) = spec.byzantine.keys().find(|name| !(0..n).any(|i| node_name(i) == **name)) {
        return Err(ClusterError::Invalid {
            path: layout.dir().to_path_buf(),
            reason: format!(
                "byzantine node {name} is not a node of this cluster (node1 … node{n})"
            ),
        });
    }
    let loopback = vec!["127.0.0.1:0".to_string(); n];
    let chain = new_chain(layout, spec, &loopback, |name| format!("keys/{name}.key"), now_ms)?;
    let nodes = chain.nodes;

    let mut links = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let dir = layout.node_dir(&node.name);
        fs::create_dir_all(layout.data_dir(&node.name)).map_err(io(&dir))?;
        let mut peers = Vec::new();
        for (j, peer) in nodes.iter().enumerate() {
            if i == j {
                continue;
            }
            let proxy = format!("127.0.0.1:{}", proxy_ports[i][j]);
            peers.push(Peer { id: peer.id, address: proxy.clone() });
            links.push(LinkEntry { from: node.name.clone(), to: peer.name.clone(), proxy });
        }
        let mut config = NodeConfig::masternode(n, peers, format!("../{}", node.key_file));
        config.node.genesis_file = "../genesis.json".into();
        config.logging.level = spec.log_level.clone();
        config.write(
            &layout.config(&node.name),
            &format!("{} of a local cluster (written by the cluster library).", node.name),
        )?;
        if let Some(mode) = spec.byzantine.get(&node.name) {
            let path = layout.byzantine_file(&node.name);
            fs::write(&path, format!("{mode}\n")).map_err(io(&path))?;
        }
    }

    let genesis = chain.genesis;
    let file = ClusterFile {
        version: CLUSTER_FILE_VERSION,
        created_ms: now_ms,
        chain_id: genesis.chain_id.0,
        genesis_hash: genesis.hash(),
        block_interval_ms: spec.block_interval_ms,
        nodes,
        links,
        dev_wallet: chain.dev_wallet,
        pool: chain.pool,
    };
    // Written last: its presence means the cluster is complete.
    write_json(&layout.cluster_file(), &file)?;
    Ok((file, genesis))
}
