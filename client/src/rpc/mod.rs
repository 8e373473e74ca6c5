//! The typed JSON-RPC client of `timed` (docs/RPC.md): one method per RPC
//! method, the generic [`RpcClient::call`] and [`RpcClient::batch`], how to
//! find a node from its data dir (`node.json` and the cookie), and
//! [`ClientError`], which keeps the node's error code and typed data.
//!
//! One [`RpcClient`] owns one HTTP connection pool; clones share it (and the
//! request-id counter), so a load generator clones one client per worker
//! instead of building clients per call.
//!
//! | concern | file |
//! |---|---|
//! | the client: connection pool, requests, batches | `mod.rs` |
//! | one typed method per RPC method, in docs/RPC.md's order | `calls.rs` |
//! | credentials, timeouts, `node.json` | `auth.rs` |
//! | [`ClientError`] | `error.rs` |
//! | parameters and results several calls share | `params.rs` |

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a request may take when the caller does not say.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a TCP connection may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The file a running node publishes in its data dir.
pub const NODE_INFO_FILE: &str = "node.json";
/// Bytes of an HTTP error body kept in [`ClientError::Http`].
const MAX_ERROR_BODY: usize = 1_024;

mod auth;
mod calls;
mod error;
mod params;

pub use auth::{ClientOptions, RpcAuth, read_node_info};
pub use error::ClientError;
pub use params::{BlockRef, BlockResult, Verbosity};

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
    use base64::Engine as _;
    use protocol::TxId;
    use protocol::rpc::TxState;
    use protocol::validate::TxRejection;

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
