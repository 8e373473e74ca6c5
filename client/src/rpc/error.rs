//! [`ClientError`]: why a call did not produce a result, keeping the
//! node's error code and typed data.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use protocol::rpc::codes;
use protocol::validate::TxRejection;

use super::NODE_INFO_FILE;

/// Why a call did not produce a result.
#[derive(Debug, Error)]
pub enum ClientError {
    /// No HTTP answer: the connection was refused, reset, or timed out.
    #[error("could not reach the node at {url}: {reason}")]
    Transport {
        /// The URL asked.
        url: String,
        /// The cause, innermost first.
        reason: String,
        /// True when the request (or connect) timed out rather than failed.
        timed_out: bool,
    },
    /// The node answered with an HTTP error that is not a JSON-RPC error
    /// (401 for missing or wrong credentials, 404 for a wrong URL).
    #[error("the node at {url} answered HTTP {status}: {body}")]
    Http {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{message} (RPC error {code}{})", data_suffix(.data))]
    Rpc {
        /// The JSON-RPC code ([`codes`]).
        code: i64,
        /// The node's message, naming the problem.
        message: String,
        /// Details (for `-26`, the [`TxRejection`]).
        data: Option<Value>,
    },
    /// The answer is not what the method returns.
    #[error("could not decode the node's answer to {method}: {reason}")]
    Decode {
        /// The method called (or `events`).
        method: String,
        /// What did not fit.
        reason: String,
    },
    /// The parameters could not be encoded as JSON.
    #[error("could not encode the parameters of {method}: {reason}")]
    Encode {
        /// The method.
        method: String,
        /// Why.
        reason: String,
    },
    /// The data dir has no `node.json`.
    #[error("no {NODE_INFO_FILE} in {}: is timed running with --data-dir {}?", dir.display(), dir.display())]
    NoNodeInfo {
        /// The data dir.
        dir: PathBuf,
    },
    /// `node.json` or the cookie file exists but is not usable.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The URL or a credential is malformed.
    #[error("{0}")]
    Config(String),
}

fn data_suffix(data: &Option<Value>) -> String {
    match data {
        None | Some(Value::Null) => String::new(),
        Some(value) => format!(", data {value}"),
    }
}

impl ClientError {
    /// The JSON-RPC code, for [`ClientError::Rpc`].
    pub fn code(&self) -> Option<i64> {
        match self {
            ClientError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for "not found" (transaction, block) and invalid address (-5).
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(codes::NOT_FOUND)
    }

    /// True when the node is full right now (-29): retry later.
    pub fn is_busy(&self) -> bool {
        self.code() == Some(codes::BUSY)
    }

    /// True when the request timed out, or the node's own wait did (-28).
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Transport { timed_out: true, .. })
            || self.code() == Some(codes::TIMEOUT)
    }

    /// True when no node answered: refused, reset, timed out, or no
    /// `node.json` in the data dir.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Transport { .. } | ClientError::NoNodeInfo { .. })
    }

    /// True when the node refused the credentials (HTTP 401 or 403).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ClientError::Http { status: 401 | 403, .. })
    }

    /// For a rejected transaction (-26): the typed reason.
    pub fn rejection(&self) -> Option<TxRejection> {
        match self {
            ClientError::Rpc { code: codes::VERIFY_REJECTED, data: Some(data), .. } => {
                TxRejection::deserialize(data).ok()
            }
            _ => None,
        }
    }
}
