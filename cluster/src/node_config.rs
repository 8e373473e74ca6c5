//! A node's `timed` config file as this library writes it: for a local
//! cluster ([`crate::create`]), for many hosts ([`crate::testnet`]) and for
//! the Kubernetes and compose exports ([`crate::export`]). Serialized by
//! `toml`, so any host name or path is quoted correctly; the keys are
//! `timed`'s (`timed --generate-config` documents each).

use std::path::Path;

use serde::Serialize;

use protocol::{Hash256, NodeId};

use crate::error::ClusterError;

/// One node's config.
#[derive(Clone, Debug, Serialize)]
pub struct NodeConfig {
    /// `[node]`
    pub node: NodeSection,
    /// `[network]`
    pub network: NetworkSection,
    /// `[rpc]`
    pub rpc: RpcSection,
    /// `[storage]`
    pub storage: StorageSection,
    /// `[logging]`
    pub logging: LoggingSection,
    /// `[masternode]`
    pub masternode: MasternodeSection,
    /// `[metrics]`, when it has a listener of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSection>,
}

/// `[node]`
#[derive(Clone, Debug, Serialize)]
pub struct NodeSection {
    /// Relative to the config file's directory.
    pub genesis_file: String,
    /// The hash `genesis_file` must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<Hash256>,
    /// Housekeeping tick.
    pub status_interval_ms: u64,
}

/// `[network]`
#[derive(Clone, Debug, Serialize)]
pub struct NetworkSection {
    /// P2P listen address.
    pub listen_address: String,
    /// Peer exchange; off where every peer is listed.
    pub enable_peer_discovery: bool,
    /// Inbound connection limit.
    pub max_connections: usize,
    /// Inbound connection limit per IP address.
    pub max_connections_per_ip: usize,
    /// `[[network.peers]]`
    pub peers: Vec<Peer>,
}

/// One `[[network.peers]]` entry.
#[derive(Clone, Debug, Serialize)]
pub struct Peer {
    /// The node id expected at `address`.
    pub id: NodeId,
    /// `host:port` to dial.
    pub address: String,
}

/// `[rpc]`
#[derive(Clone, Debug, Serialize)]
pub struct RpcSection {
    /// RPC listen address.
    pub listen_address: String,
    /// `auto` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// The secret of `auth = "token"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `[storage]`
#[derive(Clone, Debug, Serialize)]
pub struct StorageSection {
    /// Relative to the config file's directory.
    pub data_dir: String,
}

/// `[logging]`
#[derive(Clone, Debug, Serialize)]
pub struct LoggingSection {
    /// Log filter.
    pub level: String,
    /// `pretty` or `json`.
    pub format: String,
}

/// `[masternode]`
#[derive(Clone, Debug, Serialize)]
pub struct MasternodeSection {
    /// Relative to the config file's directory.
    pub key_file: String,
}

/// `[metrics]`
#[derive(Clone, Debug, Serialize)]
pub struct MetricsSection {
    /// The credential-free `/metrics`, `/health` and `/ready` listener.
    pub listen_address: String,
}

impl NodeConfig {
    /// A masternode config for a chain of `nodes` masternodes that dials
    /// `peers`, with what every config this library writes shares: the
    /// housekeeping tick of a local chain, no peer discovery (every peer is
    /// listed), connection limits for `nodes`, data in `data` beside the
    /// config. The rest (listen addresses on free loopback ports, genesis
    /// beside the config with no hash pinned, info logs for people, no
    /// metrics listener) is for the caller to change.
    pub fn masternode(nodes: usize, peers: Vec<Peer>, key_file: String) -> NodeConfig {
        NodeConfig {
            node: NodeSection {
                genesis_file: "genesis.json".into(),
                genesis_hash: None,
                status_interval_ms: 500,
            },
            network: NetworkSection {
                listen_address: "127.0.0.1:0".into(),
                enable_peer_discovery: false,
                max_connections: Self::connection_limit(nodes),
                max_connections_per_ip: Self::connection_limit(nodes),
                peers,
            },
            rpc: RpcSection { listen_address: "127.0.0.1:0".into(), auth: None, token: None },
            storage: StorageSection { data_dir: "data".into() },
            logging: LoggingSection { level: "info".into(), format: "pretty".into() },
            masternode: MasternodeSection { key_file },
            metrics: None,
        }
    }

    /// Inbound connection limits that leave room for every peer's
    /// reconnects (each link may briefly hold a dying and a new connection).
    fn connection_limit(nodes: usize) -> usize {
        4 * nodes + 16
    }

    /// The file's text, under a comment line saying what it is for.
    pub fn to_toml(&self, title: &str) -> Result<String, ClusterError> {
        let body = toml::to_string(self).map_err(|e| ClusterError::Invalid {
            path: title.into(),
            reason: format!("cannot serialize the config: {e}"),
        })?;
        Ok(format!("# {title}\n# Every key: timed --generate-config\n\n{body}"))
    }

    /// Writes the file, under a comment line saying what it is for.
    pub fn write(&self, path: &Path, title: &str) -> Result<(), ClusterError> {
        std::fs::write(path, self.to_toml(title)?)
            .map_err(|source| ClusterError::Io { path: path.to_path_buf(), source })
    }
}
