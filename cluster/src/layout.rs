//! A cluster on disk: its directory, `cluster.json`, keys, genesis, and one
//! config and data dir per node.
//!
//! ```text
//! <dir>/cluster.json        what this file's ClusterFile holds
//! <dir>/genesis.json        the chain
//! <dir>/keys/node1.key      masternode keys, dev-wallet.key, pool-00.key …
//! <dir>/node1/config.toml   the node's config (peers at their proxy addresses)
//! <dir>/node1/data/         its data dir (node.json appears here once it runs)
//! <dir>/node1/timed.log     its log (stderr, appended across restarts)
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use protocol::{Address, Hash256, NodeId, Tier};

/// The `cluster.json` format version.
pub const CLUSTER_FILE_VERSION: u32 = 1;
/// The default cluster directory.
pub const DEFAULT_DIR: &str = ".timecluster";

/// `cluster.json`: everything needed to run and address a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// [`CLUSTER_FILE_VERSION`].
    pub version: u32,
    /// Milliseconds since the Unix epoch when it was created.
    pub created_ms: u64,
    /// Chain id.
    pub chain_id: u32,
    /// Genesis hash.
    pub genesis_hash: Hash256,
    /// Block interval.
    pub block_interval_ms: u64,
    /// The nodes, `node1` first.
    pub nodes: Vec<NodeEntry>,
    /// One proxy per directed link.
    pub links: Vec<LinkEntry>,
    /// The dev wallet (funded in genesis).
    pub dev_wallet: WalletEntry,
    /// The pre-split coin pool for load generation.
    pub pool: PoolEntry,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// `node1` … `nodeN`.
    pub name: String,
    /// Its id (public key).
    pub id: NodeId,
    /// Its tier.
    pub tier: Tier,
    /// Its key file, relative to the cluster dir.
    pub key_file: String,
}

/// One directed link's proxy: `from` dials `to` at `proxy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEntry {
    /// The dialling node.
    pub from: String,
    /// The node dialled.
    pub to: String,
    /// The proxy's listen address (`127.0.0.1:port`).
    pub proxy: String,
}

/// A wallet key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletEntry {
    /// Key file, relative to the cluster dir.
    pub key_file: String,
    /// Its address.
    pub address: Address,
}

/// The load-generation coin pool: `coins_per_key` outputs of
/// `coin_value_sat` for each key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolEntry {
    /// Key files, relative to the cluster dir.
    pub key_files: Vec<String>,
    /// Coins per key.
    pub coins_per_key: u32,
    /// Value of each coin.
    pub coin_value_sat: u64,
}

/// Paths inside a cluster directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout of the cluster in `dir`, made absolute against the current
    /// directory: nodes run with their own directory as the working directory,
    /// so a relative path (the default `.timecluster`) would point elsewhere.
    pub fn new(dir: impl Into<PathBuf>) -> Layout {
        let dir = dir.into();
        Layout { dir: std::path::absolute(&dir).unwrap_or(dir) }
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `cluster.json`.
    pub fn cluster_file(&self) -> PathBuf {
        self.dir.join("cluster.json")
    }

    /// `genesis.json`.
    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.json")
    }

    /// The keys directory.
    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// A node's directory.
    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A node's config file.
    pub fn config(&self, name: &str) -> PathBuf {
        self.node_dir(name).join("config.toml")
    }

    /// A node's data dir.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.node_dir(name).join("data")
    }

    /// A node's `node.json` (written by the running node).
    pub fn node_json(&self, name: &str) -> PathBuf {
        self.data_dir(name).join("node.json")
    }

    /// A node's log.
    pub fn log(&self, name: &str) -> PathBuf {
        self.node_dir(name).join("timed.log")
    }

    /// A node's pid file (written by whoever launched it).
    pub fn pid_file(&self, name: &str) -> PathBuf {
        self.node_dir(name).join("timed.pid")
    }

    /// Test clusters: the Byzantine mode a node runs (`timed --byzantine`),
    /// when this file exists.
    pub fn byzantine_file(&self, name: &str) -> PathBuf {
        self.node_dir(name).join("byzantine")
    }

    /// A path from `cluster.json` (relative to the cluster dir).
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }
}

/// The name of node `index` (0-based): `node1` ….
pub fn node_name(index: usize) -> String {
    format!("node{}", index + 1)
}
