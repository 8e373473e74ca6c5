//! The typed JSON-RPC client of `timed` (docs/RPC.md): one method per RPC
//! method, the generic [`RpcClient::call`] and [`RpcClient::batch`], how to
//! find a node from its data dir (`node.json` and the cookie), and
//! [`ClientError`], which keeps the node's error code and typed data.
//!
//! One [`RpcClient`] owns one HTTP connection pool; clones share it (and the
//! request-id counter), so a load generator clones one client per worker
//! instead of building clients per call.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use protocol::rpc::{
    AddressValidation, Balance, BlockHeaderJson, BlockJson, BlockchainInfo, ConsensusInfo,
    MasternodeEntry, MasternodeStatus, MempoolInfo, NetworkInfo, NodeInfoFile, PeerInfo,
    TxFinality, TxJson, TxOutSetInfo, TxState, TxSubmission, Unspent, codes,
};
use protocol::validate::TxRejection;
use protocol::{Address, BlockHash, Genesis, Transaction, TxId};

/// How long a request may take when the caller does not say.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a TCP connection may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The file a running node publishes in its data dir.
pub const NODE_INFO_FILE: &str = "node.json";
/// Bytes of an HTTP error body kept in [`ClientError::Http`].
const MAX_ERROR_BODY: usize = 1_024;

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
    fn header(&self) -> Result<Option<HeaderValue>, ClientError> {
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

/// A block named by height or by hash (`getblock`, positional param).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockRef {
    /// By height.
    Height(u64),
    /// By hash.
    Hash(BlockHash),
}

impl From<u64> for BlockRef {
    fn from(height: u64) -> Self {
        BlockRef::Height(height)
    }
}

impl From<BlockHash> for BlockRef {
    fn from(hash: BlockHash) -> Self {
        BlockRef::Hash(hash)
    }
}

impl FromStr for BlockRef {
    type Err = String;

    /// Digits are a height; 64 hex digits are a hash.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if !text.is_empty() && text.len() < 64 && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map(BlockRef::Height).map_err(|e| format!("bad height: {e}"));
        }
        text.parse().map(BlockRef::Hash).map_err(|e| {
            format!("{text:?} is neither a height nor a block hash (64 hex digits): {e}")
        })
    }
}

impl Serialize for BlockRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BlockRef::Height(height) => s.serialize_u64(*height),
            BlockRef::Hash(hash) => hash.serialize(s),
        }
    }
}

/// How much of a block `getblock` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// 0: hex of the block's binary form.
    Raw,
    /// 1: decoded, with txids.
    Txids,
    /// 2: decoded, with decoded transactions.
    Transactions,
}

impl Verbosity {
    /// The number on the wire.
    pub fn level(self) -> u8 {
        match self {
            Verbosity::Raw => 0,
            Verbosity::Txids => 1,
            Verbosity::Transactions => 2,
        }
    }
}

/// What `getblock` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockResult {
    /// Verbosity 0: hex of the binary form.
    Raw(String),
    /// Verbosity 1 or 2.
    Decoded(Box<BlockJson>),
}

#[derive(Serialize)]
struct Request<'a, P> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: P,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

impl From<ErrorObject> for ClientError {
    fn from(e: ErrorObject) -> Self {
        ClientError::Rpc { code: e.code, message: e.message, data: e.data }
    }
}

/// A single response. `id` is not read: over HTTP the answer is to this
/// request.
#[derive(Deserialize)]
struct Response<T> {
    result: Option<T>,
    error: Option<ErrorObject>,
}

/// One response of a batch, matched to its request by id.
#[derive(Deserialize)]
struct BatchEntry {
    #[serde(default)]
    id: Value,
    result: Option<Value>,
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BatchAnswer {
    Entries(Vec<BatchEntry>),
    /// A batch the node refused whole (empty, over the cap).
    Refused {
        error: ErrorObject,
    },
}

const NO_PARAMS: [u8; 0] = [];

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    url: reqwest::Url,
    auth: Option<HeaderValue>,
    options: ClientOptions,
    next_id: AtomicU64,
}

/// A typed JSON-RPC client of one node. Cheap to clone; clones share the
/// connection pool.
#[derive(Clone, Debug)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

impl RpcClient {
    /// A client of the node at `url` (`http://127.0.0.1:24001`) with the
    /// default timeouts.
    pub fn new(url: &str, auth: RpcAuth) -> Result<RpcClient, ClientError> {
        RpcClient::with_options(url, auth, ClientOptions::default())
    }

    /// A client with explicit timeouts.
    pub fn with_options(
        url: &str,
        auth: RpcAuth,
        options: ClientOptions,
    ) -> Result<RpcClient, ClientError> {
        let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
            ClientError::Config(format!(
                "bad RPC URL {url:?}: {e} (expected http://host:port, as in node.json)"
            ))
        })?;
        if parsed.scheme() != "http" {
            return Err(ClientError::Config(format!(
                "bad RPC URL {url:?}: only http:// is supported (the node serves plain HTTP; \
                 put TLS in front of it with a proxy if needed)"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            // The node's RPC is reached directly, never through an
            // environment-configured proxy.
            .no_proxy()
            .tcp_nodelay(true)
            // timed closes a keep-alive connection that stays idle longer
            // than its header-read timeout (5 s by default); dropping idle
            // connections sooner keeps requests off connections the node
            // is closing.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(RpcClient {
            inner: Arc::new(Inner {
                http,
                url: parsed,
                auth: auth.header()?,
                options,
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// A client of the node whose data dir is `dir`: its `node.json` gives
    /// the URL and names the cookie file when one is needed.
    pub fn from_data_dir(dir: &Path) -> Result<RpcClient, ClientError> {
        RpcClient::from_data_dir_with(dir, ClientOptions::default())
    }

    /// [`RpcClient::from_data_dir`] with explicit timeouts.
    pub fn from_data_dir_with(
        dir: &Path,
        options: ClientOptions,
    ) -> Result<RpcClient, ClientError> {
        let info = read_node_info(dir)?;
        let auth = match &info.rpc_cookie_file {
            Some(cookie) => RpcAuth::from_cookie_file(&dir.join(cookie))?,
            None => RpcAuth::None,
        };
        RpcClient::with_options(&info.rpc_url, auth, options)
    }

    /// The node's RPC URL.
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    /// The timeouts in use.
    pub fn options(&self) -> ClientOptions {
        self.inner.options
    }

    /// The shared HTTP client (the event stream reuses it).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The `Authorization` header, if any.
    pub(crate) fn auth_header(&self) -> Option<&HeaderValue> {
        self.inner.auth.as_ref()
    }

    /// `{url}/{path}` for the node's other endpoints (`events`, `metrics`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{}", self.inner.url.as_str().trim_end_matches('/'), path)
    }

    pub(crate) fn transport_error(&self, url: &str, e: &reqwest::Error) -> ClientError {
        ClientError::Transport {
            url: url.to_string(),
            reason: root_cause(e),
            timed_out: e.is_timeout(),
        }
    }

    /// Calls `method` with `params` (a JSON array or object) and returns the
    /// raw result: the pass-through `time-cli` uses.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.request(method, params).await
    }

    /// Calls `method` with any serialisable `params` and decodes the result
    /// as `T`.
    pub async fn request<T: DeserializeOwned, P: Serialize>(
        &self,
        method: &str,
        params: P,
    ) -> Result<T, ClientError> {
        self.request_within(method, params, self.inner.options.request_timeout).await
    }

    async fn request_within<T: DeserializeOwned, P: Serialize>(
        &self,
        method: &str,
        params: P,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::to_vec(&Request { jsonrpc: "2.0", id, method, params })
            .map_err(|e| ClientError::Encode { method: method.into(), reason: e.to_string() })?;
        let answer = self.post(body, timeout).await?;
        let decode = |e: serde_json::Error| ClientError::Decode {
            method: method.into(),
            reason: e.to_string(),
        };
        let response: Response<T> = serde_json::from_slice(&answer).map_err(decode)?;
        if let Some(error) = response.error {
            return Err(error.into());
        }
        match response.result {
            Some(result) => Ok(result),
            // `"result": null` (or absent) is a value only for types that
            // accept null.
            None => T::deserialize(Value::Null).map_err(decode),
        }
    }

    /// Sends one body and returns the answer's bytes, mapping transport and
    /// HTTP failures.
    async fn post(&self, body: Vec<u8>, timeout: Duration) -> Result<Bytes, ClientError> {
        let inner = &*self.inner;
        let mut request = inner
            .http
            .post(inner.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .timeout(timeout)
            .body(body);
        if let Some(auth) = &inner.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response =
            request.send().await.map_err(|e| self.transport_error(inner.url.as_str(), &e))?;
        let status = response.status();
        let answer =
            response.bytes().await.map_err(|e| self.transport_error(inner.url.as_str(), &e))?;
        if status.is_success() {
            return Ok(answer);
        }
        // A client's mistake (413, 400) still carries a JSON-RPC error with
        // the code that names it; keep that. Credentials stay an HTTP error
        // so callers can tell them apart.
        if status.as_u16() != 401
            && status.as_u16() != 403
            && let Ok(Response::<Value> { error: Some(error), .. }) =
                serde_json::from_slice(&answer)
        {
            return Err(error.into());
        }
        Err(ClientError::Http {
            url: inner.url.to_string(),
            status: status.as_u16(),
            body: truncated_text(&answer),
        })
    }

    /// Sends several calls in one JSON-RPC batch (at most the node's
    /// `rpc.max_batch_size`, 100 by default). The outer error is the batch's
    /// (transport, HTTP, a refused batch); the inner ones are per call, in
    /// the order of `calls`.
    pub async fn batch<P: Serialize>(
        &self,
        calls: &[(&str, P)],
    ) -> Result<Vec<Result<Value, ClientError>>, ClientError> {
        self.batch_as(calls).await
    }

    /// [`RpcClient::batch`] with every result decoded as `T`.
    pub async fn batch_as<T: DeserializeOwned, P: Serialize>(
        &self,
        calls: &[(&str, P)],
    ) -> Result<Vec<Result<T, ClientError>>, ClientError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let first = self.inner.next_id.fetch_add(calls.len() as u64, Ordering::Relaxed);
        let requests: Vec<Request<'_, &P>> = calls
            .iter()
            .enumerate()
            .map(|(i, (method, params))| Request {
                jsonrpc: "2.0",
                id: first + i as u64,
                method,
                params,
            })
            .collect();
        let body = serde_json::to_vec(&requests)
            .map_err(|e| ClientError::Encode { method: "batch".into(), reason: e.to_string() })?;
        let answer = self.post(body, self.inner.options.request_timeout).await?;
        let entries = match serde_json::from_slice(&answer) {
            Ok(BatchAnswer::Entries(entries)) => entries,
            Ok(BatchAnswer::Refused { error }) => return Err(error.into()),
            Err(e) => {
                return Err(ClientError::Decode { method: "batch".into(), reason: e.to_string() });
            }
        };
        let mut results: Vec<Option<Result<T, ClientError>>> =
            std::iter::repeat_with(|| None).take(calls.len()).collect();
        for entry in entries {
            let index = slot_index(first, &entry.id);
            // An id we did not send has nothing to be matched to.
            let (Some(slot), Some((method, _))) = (results.get_mut(index), calls.get(index)) else {
                continue;
            };
            *slot = Some(match (entry.error, entry.result) {
                (Some(error), _) => Err(error.into()),
                (None, result) => T::deserialize(result.unwrap_or(Value::Null)).map_err(|e| {
                    ClientError::Decode { method: (*method).into(), reason: e.to_string() }
                }),
            });
        }
        Ok(results
            .into_iter()
            .zip(calls)
            .map(|(result, (method, _))| {
                result.unwrap_or_else(|| {
                    Err(ClientError::Decode {
                        method: (*method).into(),
                        reason: "the batch answer has no response for this call".into(),
                    })
                })
            })
            .collect())
    }

    // ----- the methods of docs/RPC.md, in its order -----

    /// `getblockchaininfo`.
    pub async fn getblockchaininfo(&self) -> Result<BlockchainInfo, ClientError> {
        self.request("getblockchaininfo", NO_PARAMS).await
    }

    /// `getblockcount`: the committed height.
    pub async fn getblockcount(&self) -> Result<u64, ClientError> {
        self.request("getblockcount", NO_PARAMS).await
    }

    /// `getblockhash`.
    pub async fn getblockhash(&self, height: u64) -> Result<BlockHash, ClientError> {
        self.request("getblockhash", [height]).await
    }

    /// `getblock` at `verbosity`.
    pub async fn getblock(
        &self,
        block: impl Into<BlockRef>,
        verbosity: Verbosity,
    ) -> Result<BlockResult, ClientError> {
        let params = (block.into(), verbosity.level());
        match verbosity {
            Verbosity::Raw => self.request("getblock", params).await.map(BlockResult::Raw),
            Verbosity::Txids | Verbosity::Transactions => self
                .request("getblock", params)
                .await
                .map(|block: BlockJson| BlockResult::Decoded(Box::new(block))),
        }
    }

    /// `getblockheader` verbose: the header's fields.
    pub async fn getblockheader(
        &self,
        block: impl Into<BlockRef>,
    ) -> Result<BlockHeaderJson, ClientError> {
        self.request("getblockheader", (block.into(), true)).await
    }

    /// `getrawtransaction`: the transaction, decoded from its hex.
    pub async fn getrawtransaction(&self, txid: &TxId) -> Result<Transaction, ClientError> {
        let hex: String = self.request("getrawtransaction", (txid, false)).await?;
        Transaction::from_hex(&hex).map_err(|e| ClientError::Decode {
            method: "getrawtransaction".into(),
            reason: e.to_string(),
        })
    }

    /// `getrawtransaction` verbose: decoded, with its state.
    pub async fn getrawtransaction_verbose(&self, txid: &TxId) -> Result<TxJson, ClientError> {
        self.request("getrawtransaction", (txid, true)).await
    }

    /// `sendrawtransaction`.
    pub async fn sendrawtransaction(&self, tx: &Transaction) -> Result<TxSubmission, ClientError> {
        self.send_raw_hex(&tx.to_hex()).await
    }

    /// `sendrawtransaction` with the hex of the full encoding.
    pub async fn send_raw_hex(&self, hex: &str) -> Result<TxSubmission, ClientError> {
        self.request("sendrawtransaction", [hex]).await
    }

    /// `sendrawtransaction` for many transactions in one batch.
    pub async fn sendrawtransactions(
        &self,
        txs: &[Transaction],
    ) -> Result<Vec<Result<TxSubmission, ClientError>>, ClientError> {
        let calls: Vec<(&str, [String; 1])> =
            txs.iter().map(|tx| ("sendrawtransaction", [tx.to_hex()])).collect();
        self.batch_as(&calls).await
    }

    /// `gettransactionfinality`.
    pub async fn gettransactionfinality(&self, txid: &TxId) -> Result<TxFinality, ClientError> {
        self.request("gettransactionfinality", [txid]).await
    }

    /// `waittransactionfinality`: the node waits up to `timeout` (whole
    /// seconds, rounded up) for a settled state; `-28` when it does not come.
    pub async fn waittransactionfinality(
        &self,
        txid: &TxId,
        timeout: Duration,
    ) -> Result<TxFinality, ClientError> {
        let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let budget =
            Duration::from_secs(seconds).saturating_add(self.inner.options.request_timeout);
        self.request_within("waittransactionfinality", (txid, seconds), budget).await
    }

    /// `getmempoolinfo`.
    pub async fn getmempoolinfo(&self) -> Result<MempoolInfo, ClientError> {
        self.request("getmempoolinfo", NO_PARAMS).await
    }

    /// `getrawmempool`: the txids.
    pub async fn getrawmempool(&self) -> Result<Vec<TxId>, ClientError> {
        self.request("getrawmempool", [false]).await
    }

    /// `getrawmempool` verbose: each txid's state.
    pub async fn getrawmempool_verbose(
        &self,
    ) -> Result<std::collections::BTreeMap<TxId, TxState>, ClientError> {
        self.request("getrawmempool", [true]).await
    }

    /// `listunspent` for every address given (committed and final outputs).
    pub async fn listunspent(&self, addresses: &[Address]) -> Result<Vec<Unspent>, ClientError> {
        self.request("listunspent", [addresses]).await
    }

    /// `getbalance`.
    pub async fn getbalance(&self, address: &Address) -> Result<Balance, ClientError> {
        self.request("getbalance", [address]).await
    }

    /// `gettxoutsetinfo`.
    pub async fn gettxoutsetinfo(&self) -> Result<TxOutSetInfo, ClientError> {
        self.request("gettxoutsetinfo", NO_PARAMS).await
    }

    /// `getpeerinfo`.
    pub async fn getpeerinfo(&self) -> Result<Vec<PeerInfo>, ClientError> {
        self.request("getpeerinfo", NO_PARAMS).await
    }

    /// `getnetworkinfo`.
    pub async fn getnetworkinfo(&self) -> Result<NetworkInfo, ClientError> {
        self.request("getnetworkinfo", NO_PARAMS).await
    }

    /// `masternodelist`.
    pub async fn masternodelist(&self) -> Result<Vec<MasternodeEntry>, ClientError> {
        self.request("masternodelist", NO_PARAMS).await
    }

    /// `masternodestatus`.
    pub async fn masternodestatus(&self) -> Result<MasternodeStatus, ClientError> {
        self.request("masternodestatus", NO_PARAMS).await
    }

    /// The node's `/metrics` page (Prometheus text), with this client's
    /// credentials.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let url = self.endpoint("metrics");
        let mut request = self.http().get(&url);
        if let Some(auth) = self.auth_header() {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = request.send().await.map_err(|e| self.transport_error(&url, &e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| self.transport_error(&url, &e))?;
        if !status.is_success() {
            return Err(ClientError::Http {
                url,
                status: status.as_u16(),
                body: truncated_text(body.as_bytes()),
            });
        }
        Ok(body)
    }

    /// `getconsensusinfo`.
    pub async fn getconsensusinfo(&self) -> Result<ConsensusInfo, ClientError> {
        self.request("getconsensusinfo", NO_PARAMS).await
    }

    /// `validateaddress` (any text: the answer says why it is not valid).
    pub async fn validateaddress(&self, address: &str) -> Result<AddressValidation, ClientError> {
        self.request("validateaddress", [address]).await
    }

    /// `getgenesis`: the chain's genesis, consensus parameters included.
    pub async fn getgenesis(&self) -> Result<Genesis, ClientError> {
        self.request("getgenesis", NO_PARAMS).await
    }

    /// `uptime`: seconds since the node started.
    pub async fn uptime(&self) -> Result<u64, ClientError> {
        self.request("uptime", NO_PARAMS).await
    }

    /// `stop`: the node flushes and exits.
    pub async fn stop(&self) -> Result<String, ClientError> {
        self.request("stop", NO_PARAMS).await
    }
}

fn slot_index(first: u64, id: &Value) -> usize {
    id.as_u64()
        .and_then(|id| id.checked_sub(first))
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or(usize::MAX)
}

/// The innermost cause of an HTTP failure ("Connection refused (os error
/// 111)"), which is what a person needs; reqwest's outer message only
/// repeats the URL.
fn root_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time (timed out)".into();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn truncated_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ERROR_BODY)]);
    let text = text.trim();
    if text.is_empty() { "(empty body)".into() } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_refs_parse_heights_and_hashes() {
        assert_eq!("42".parse::<BlockRef>().unwrap(), BlockRef::Height(42));
        let hash = "ab".repeat(32);
        assert!(matches!(hash.parse::<BlockRef>().unwrap(), BlockRef::Hash(_)));
        assert!("xyz".parse::<BlockRef>().is_err());
        assert_eq!(serde_json::to_string(&BlockRef::Height(7)).unwrap(), "7");
        assert_eq!(
            serde_json::to_string(&BlockRef::Hash(hash.parse().unwrap())).unwrap(),
            format!("\"{hash}\"")
        );
    }

    #[test]
    fn requests_are_json_rpc_2_with_positional_params() {
        let txid = TxId([1; 32]);
        let body = serde_json::to_value(Request {
            jsonrpc: "2.0",
            id: 9,
            method: "waittransactionfinality",
            params: (&txid, 30u64),
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"jsonrpc": "2.0", "id": 9, "method": "waittransactionfinality",
                "params": [txid.to_hex(), 30]})
        );
        let none = serde_json::to_value(Request {
            jsonrpc: "2.0",
            id: 1,
            method: "getblockcount",
            params: NO_PARAMS,
        })
        .unwrap();
        assert_eq!(none["params"], serde_json::json!([]));
    }

    #[test]
    fn rejections_are_read_from_error_data() {
        let answer = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-26,"message":"fee too low",
            "data":{"reason":"fee_too_low","fee":900,"required":1200}}}"#;
        let response: Response<Value> = serde_json::from_slice(answer).unwrap();
        let error: ClientError = response.error.unwrap().into();
        assert_eq!(error.rejection(), Some(TxRejection::FeeTooLow { fee: 900, required: 1200 }));
        assert!(!error.is_not_found() && !error.is_busy());
        assert!(error.to_string().contains("fee too low (RPC error -26"), "{error}");
    }

    #[test]
    fn verbose_mempool_keys_decode_as_txids() {
        let txid = TxId([2; 32]);
        let text = format!(r#"{{"{}": "final"}}"#, txid.to_hex());
        let map: std::collections::BTreeMap<TxId, TxState> = serde_json::from_str(&text).unwrap();
        assert_eq!(map.get(&txid), Some(&TxState::Final));
    }

    #[test]
    fn batch_answers_are_entries_or_one_refusal() {
        let refused =
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch too large"}}"#;
        assert!(matches!(
            serde_json::from_slice::<BatchAnswer>(refused).unwrap(),
            BatchAnswer::Refused { error } if error.code == -32600
        ));
        let entries =
            br#"[{"jsonrpc":"2.0","id":2,"result":5},{"jsonrpc":"2.0","id":1,"result":null}]"#;
        assert!(matches!(
            serde_json::from_slice::<BatchAnswer>(entries).unwrap(),
            BatchAnswer::Entries(e) if e.len() == 2
        ));
    }

    #[test]
    fn missing_node_json_names_the_dir_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let error = RpcClient::from_data_dir(dir.path()).unwrap_err();
        let shown = error.to_string();
        assert!(shown.contains(&dir.path().display().to_string()), "{shown}");
        assert!(shown.contains("is timed running with --data-dir"), "{shown}");
        assert!(error.is_unreachable());
    }

    #[test]
    fn node_json_and_cookie_are_read_from_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let info = serde_json::json!({
            "version": "0.1.0", "pid": 1, "node_id": "11".repeat(32), "network": "dev",
            "chain_id": 7, "genesis_hash": "22".repeat(32), "p2p_address": "127.0.0.1:1",
            "rpc_url": "http://127.0.0.1:24101", "rpc_cookie_file": ".cookie"
        });
        std::fs::write(dir.path().join(NODE_INFO_FILE), info.to_string()).unwrap();
        // The cookie is missing: the error names the file and what writes it.
        let error = RpcClient::from_data_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains(".cookie") && error.contains("timed writes it"), "{error}");
        std::fs::write(dir.path().join(".cookie"), "no colon here\n").unwrap();
        let error = RpcClient::from_data_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains("not an RPC cookie"), "{error}");
        std::fs::write(dir.path().join(".cookie"), format!("__cookie__:{}\n", "ab".repeat(32)))
            .unwrap();
        let client = RpcClient::from_data_dir(dir.path()).unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:24101/");
        assert_eq!(client.endpoint("events"), "http://127.0.0.1:24101/events");
        let header = client.auth_header().unwrap().to_str().unwrap().to_string();
        let encoded = header.strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(decoded, format!("__cookie__:{}", "ab".repeat(32)).into_bytes());
    }

    #[test]
    fn a_corrupt_node_json_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(NODE_INFO_FILE), "{").unwrap();
        let error = RpcClient::from_data_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains("node.json") && error.contains("not a node.json"), "{error}");
    }

    #[test]
    fn urls_must_be_plain_http() {
        assert!(RpcClient::new("http://127.0.0.1:1", RpcAuth::None).is_ok());
        let error = RpcClient::new("https://x:1", RpcAuth::None).unwrap_err().to_string();
        assert!(error.contains("only http://"), "{error}");
        assert!(RpcClient::new("not a url", RpcAuth::None).is_err());
        let bearer = RpcClient::new("http://127.0.0.1:1", RpcAuth::Bearer("t0k".into())).unwrap();
        assert_eq!(bearer.auth_header().unwrap().to_str().unwrap(), "Bearer t0k");
        assert!(!format!("{:?}", RpcAuth::Bearer("t0k".into())).contains("t0k"));
    }
}
