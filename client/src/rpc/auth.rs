//! Credentials, timeouts, and finding a node from its data dir.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::HeaderValue;

use protocol::rpc::NodeInfoFile;

use super::{ClientError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, NODE_INFO_FILE};

/// The credential sent with every request.
#[derive(Clone, Default)]
pub enum RpcAuth {
    /// None (a node on loopback with `rpc.auth = "auto"`).
    #[default]
    None,
    /// The cookie's `user:password` (`__cookie__:<hex>`), sent as HTTP Basic.
    Cookie(String),
    /// A token, sent as `Authorization: Bearer`.
    Bearer(String),
}

impl fmt::Debug for RpcAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.write_str(match self {
            RpcAuth::None => "RpcAuth::None",
            RpcAuth::Cookie(_) => "RpcAuth::Cookie(..)",
            RpcAuth::Bearer(_) => "RpcAuth::Bearer(..)",
        })
    }
}

impl RpcAuth {
    /// Reads a cookie file (`__cookie__:<64 hex>`, as `timed` writes it).
    pub fn from_cookie_file(path: &Path) -> Result<RpcAuth, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClientError::File {
            path: path.to_path_buf(),
            reason: format!(
                "cannot read the RPC cookie: {e} (timed writes it at start: is it running, \
                 and is this its data dir?)"
            ),
        })?;
        let cookie = text.trim();
        match cookie.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Ok(RpcAuth::Cookie(cookie.to_string()))
            }
            _ => Err(ClientError::File {
                path: path.to_path_buf(),
                reason: "not an RPC cookie (expected one line __cookie__:<hex>)".into(),
            }),
        }
    }

    /// The `Authorization` header value, computed once per client.
    pub(super) fn header(&self) -> Result<Option<HeaderValue>, ClientError> {
        let text = match self {
            RpcAuth::None => return Ok(None),
            RpcAuth::Cookie(pair) => {
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
            }
            RpcAuth::Bearer(token) => format!("Bearer {}", token.trim()),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            ClientError::Config(
                "the RPC credential has characters HTTP headers cannot carry".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Timeouts of a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// The longest a request may take ([`RpcClient::waittransactionfinality`]
    /// adds its own wait to it).
    pub request_timeout: Duration,
    /// The longest opening a TCP connection may take.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// Reads `<dir>/node.json`, which a running `timed` writes once its
/// listeners are bound.
pub fn read_node_info(dir: &Path) -> Result<NodeInfoFile, ClientError> {
    let path = dir.join(NODE_INFO_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClientError::NoNodeInfo { dir: dir.to_path_buf() });
        }
        Err(e) => return Err(ClientError::File { path, reason: e.to_string() }),
    };
    serde_json::from_str(&text).map_err(|e| ClientError::File {
        path,
        reason: format!("not a node.json written by timed ({e}); restart timed to rewrite it"),
    })
}
