//! What can go wrong with a cluster, each naming the cause and the fix.

use std::path::PathBuf;

use thiserror::Error;

use crate::binaries::MissingBinary;

/// A cluster operation failed.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file exists but is not what the cluster library wrote.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The directory already holds something else.
    #[error("{dir} is not empty and holds no cluster.json; pass another --dir, or remove it")]
    NotACluster {
        /// The directory.
        dir: PathBuf,
    },
    /// A cluster must have at least one node.
    #[error("a cluster needs at least 1 node (got {0}); pass --nodes 1 or more")]
    NoNodes(usize),
    /// No such node.
    #[error("no node named {name:?}: this cluster has {known}")]
    UnknownNode {
        /// The name given.
        name: String,
        /// The names it has.
        known: String,
    },
    /// The `timed` binary is missing.
    #[error(transparent)]
    Binary(#[from] MissingBinary),
    /// A proxy port could not be bound again.
    #[error(
        "cannot listen on {addr} for the {from}→{to} link proxy: {source} (another process took the port: stop it, or run `timectl down --wipe` and `timectl up` again)"
    )]
    ProxyBind {
        /// The address.
        addr: String,
        /// The dialling node.
        from: String,
        /// The node dialled.
        to: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A node process could not be started.
    #[error("cannot start {node}: {source}")]
    Spawn {
        /// The node.
        node: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A node did not reach the wanted state in time.
    #[error("{what}\n{logs}")]
    Timeout {
        /// What was awaited, and what was seen.
        what: String,
        /// Log tails of the nodes.
        logs: String,
    },
    /// An RPC call failed.
    #[error("{node}: {source}")]
    Rpc {
        /// The node.
        node: String,
        /// The cause.
        source: client::ClientError,
    },
    /// A key file could not be written or read.
    #[error(transparent)]
    KeyFile(#[from] hostio::KeyFileIoError),
    /// A wallet operation failed.
    #[error("wallet: {0}")]
    Wallet(#[from] client::WalletError),
    /// A signal could not be delivered, or the pid is not ours.
    #[error("{0}")]
    Process(String),
    /// No agent answers on the control socket.
    #[error(
        "the cluster's agent is not running ({reason} on {socket}): run `timectl up` to start it again"
    )]
    AgentGone {
        /// The socket.
        socket: PathBuf,
        /// What the connection said.
        reason: String,
    },
}
