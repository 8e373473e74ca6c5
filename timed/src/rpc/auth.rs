//! RPC authentication: none on loopback by default, a cookie file (HTTP
//! Basic, as with bitcoind) or a bearer token otherwise.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use rand::RngExt;

pub use crate::config::RpcAuthMode;

use super::RpcError;
use super::dispatch::error_response;

/// The user name in the cookie file (bitcoind's convention).
pub const COOKIE_USER: &str = "__cookie__";

#[derive(Debug)]
pub(crate) enum Authenticator {
    Open,
    Basic { expected: String, file: PathBuf },
    Bearer(String),
}

impl Authenticator {
    pub(crate) fn new(
        mode: &RpcAuthMode,
        cookie_file: &Path,
        bound: SocketAddr,
    ) -> Result<Self, RpcError> {
        let mode = match mode {
            RpcAuthMode::Auto if bound.ip().is_loopback() => RpcAuthMode::None,
            RpcAuthMode::Auto => RpcAuthMode::Cookie,
            other => other.clone(),
        };
        Ok(match mode {
            RpcAuthMode::None | RpcAuthMode::Auto => Authenticator::Open,
            RpcAuthMode::Token(token) => Authenticator::Bearer(token),
            RpcAuthMode::Cookie => {
                let secret: [u8; 32] = rand::rng().random();
                let line = format!("{COOKIE_USER}:{}", hex::encode(secret));
                write_private(cookie_file, line.as_bytes()).map_err(|source| RpcError::Cookie {
                    path: cookie_file.to_path_buf(),
                    source,
                })?;
                Authenticator::Basic { expected: line, file: cookie_file.to_path_buf() }
            }
        })
    }

    pub(crate) fn cookie_file(&self) -> Option<&Path> {
        match self {
            Authenticator::Basic { file, .. } => Some(file),
            _ => None,
        }
    }

    /// `Ok` when the request may proceed, else the 401 to send.
    #[allow(clippy::result_large_err)]
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), Response> {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let ok = match self {
            Authenticator::Open => true,
            Authenticator::Bearer(token) => given
                .and_then(|g| g.strip_prefix("Bearer "))
                .is_some_and(|g| constant_time_eq(g.trim(), token)),
            Authenticator::Basic { expected, .. } => given
                .and_then(|g| g.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
                .and_then(|raw| String::from_utf8(raw).ok())
                .is_some_and(|g| constant_time_eq(&g, expected)),
        };
        if ok {
            Ok(())
        } else {
            Err(error_response(
                StatusCode::UNAUTHORIZED,
                protocol::rpc::codes::INVALID_REQUEST,
                match self {
                    Authenticator::Bearer(_) => "authorization required: send Authorization: Bearer <rpc.token>".into(),
                    _ => "authorization required: send the cookie from the data dir's .cookie file as HTTP Basic credentials".into(),
                },
            ))
        }
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
