//! The RPC listener: JSON-RPC 2.0 on `POST /`, the event stream on
//! `GET /events`, Prometheus on `GET /metrics`, probes on `GET /health` and
//! `GET /ready` (docs/RPC.md); and, when `metrics.listen_address` is set, a
//! second listener for `/metrics`, `/health` and `/ready` only, without
//! credentials.
//!
//! Connections are served by hyper's HTTP/1 builder with a timer, so the
//! header-read timeout is real (it is off unless a timer is set). Bodies are
//! capped before they are buffered, JSON-RPC requests run under a
//! concurrency limit, and every client mistake gets a JSON-RPC error, never
//! an HTTP 5xx.

mod auth;
mod dispatch;
mod events;
mod health;
mod methods;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::node::NodeHandle;

pub use auth::{COOKIE_USER, RpcAuthMode};
pub use events::EventLog;
pub use methods::version_string;

/// How the RPC listener is set up.
#[derive(Clone, Debug)]
pub struct RpcSettings {
    /// Listen address (port 0 allowed).
    pub listen: SocketAddr,
    /// Authentication.
    pub auth: RpcAuthMode,
    /// Where the cookie goes when `auth` is cookie.
    pub cookie_file: PathBuf,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Largest batch.
    pub max_batch: usize,
    /// Requests served at once.
    pub max_concurrency: usize,
    /// Connections open at once; the listener accepts no more until one
    /// closes.
    pub max_connections: usize,
    /// Headers must arrive within this.
    pub header_read_timeout: Duration,
    /// Events kept for resuming streams.
    pub event_buffer: usize,
    /// Serve `/metrics`.
    pub metrics: bool,
    /// A second listener for `/metrics`, `/health` and `/ready` without
    /// credentials (`metrics.listen_address`).
    pub metrics_listen: Option<SocketAddr>,
    /// Mempool admission limits (reported by `getmempoolinfo`).
    pub mempool_max_txs: usize,
    /// See `mempool_max_txs`.
    pub mempool_max_bytes: usize,
}

impl RpcSettings {
    /// The listener `config` describes (its cookie in the data dir).
    pub fn from_config(config: &Config) -> RpcSettings {
        RpcSettings {
            listen: config.rpc.listen_address,
            auth: config.rpc.auth.clone(),
            cookie_file: config.storage.data_dir.join(".cookie"),
            max_body_bytes: config.rpc.max_body_bytes,
            max_batch: config.rpc.max_batch_size,
            max_concurrency: config.rpc.max_concurrent_requests,
            max_connections: config.rpc.max_connections,
            header_read_timeout: config.rpc.header_read_timeout,
            event_buffer: config.rpc.event_buffer,
            metrics: config.metrics.enabled,
            metrics_listen: config.metrics.listen_address,
            mempool_max_txs: config.mempool.max_transactions,
            mempool_max_bytes: config.mempool.max_bytes,
        }
    }
}

/// Why the listener could not start.
#[derive(Debug, Error)]
pub enum RpcError {
    /// Binding failed.
    #[error(
        "rpc: cannot listen on {addr}: {source} (is another node using it? pick another rpc.listen_address or --rpc-listen)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Binding the metrics listener failed.
    #[error(
        "metrics: cannot listen on {addr}: {source} (is something else using it? pick another metrics.listen_address)"
    )]
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The cookie could not be written.
    #[error("rpc: cannot write the cookie file {path}: {source}")]
    Cookie {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running listener.
#[derive(Debug, Clone)]
pub struct RpcServer {
    /// The bound address.
    pub local_addr: SocketAddr,
    /// The cookie file, when clients need it.
    pub cookie_file: Option<PathBuf>,
    /// The metrics listener's bound address, when there is one.
    pub metrics_addr: Option<SocketAddr>,
}

impl RpcServer {
    /// `http://ip:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) node: NodeHandle,
    pub(crate) settings: RpcSettings,
    pub(crate) auth: auth::Authenticator,
    pub(crate) events: EventLog,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limit: Semaphore,
    pub(crate) p2p_address: SocketAddr,
}

/// Binds the listener and serves until `shutdown`.
pub async fn serve(
    settings: RpcSettings,
    node: NodeHandle,
    metrics: Arc<Metrics>,
    p2p_address: SocketAddr,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<RpcServer, RpcError> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|source| RpcError::Bind { addr: settings.listen, source })?;
    let local_addr =
        listener.local_addr().map_err(|source| RpcError::Bind { addr: settings.listen, source })?;
    let authenticator =
        auth::Authenticator::new(&settings.auth, &settings.cookie_file, local_addr)?;
    let cookie_file = authenticator.cookie_file().map(PathBuf::from);
    let events = EventLog::new(settings.event_buffer);
    events.follow(&node, metrics.clone(), tracker, shutdown.clone());
    let shared = Arc::new(Shared {
        limit: Semaphore::new(settings.max_concurrency.max(1)),
        node,
        auth: authenticator,
        events,
        metrics,
        p2p_address,
        settings,
    });
    let mut router = Router::new()
        .route("/", post(rpc_post))
        .route("/events", get(events::stream))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready));
    if shared.settings.metrics {
        router = router.route("/metrics", get(metrics_get));
    }
    let router = router.fallback(not_found).with_state(shared.clone());
    let metrics_addr = match shared.settings.metrics_listen {
        Some(addr) => {
            let bind = |source| RpcError::MetricsBind { addr, source };
            let listener = TcpListener::bind(addr).await.map_err(bind)?;
            let bound = listener.local_addr().map_err(bind)?;
            // Scrapes and probes only, without credentials: nothing here
            // changes state or reveals more than /metrics does.
            let router = Router::new()
                .route("/metrics", get(metrics_open))
                .route("/health", get(health::health))
                .route("/ready", get(health::ready))
                .fallback(not_found_metrics)
                .with_state(shared.clone());
            accept_loop(listener, router, &shared, METRICS_CONNECTIONS, tracker, shutdown.clone());
            info!(%bound, "metrics listening");
            Some(bound)
        }
        None => None,
    };
    accept_loop(listener, router, &shared, shared.settings.max_connections, tracker, shutdown);
    info!(%local_addr, "rpc listening");
    Ok(RpcServer { local_addr, cookie_file, metrics_addr })
}

/// Connections the metrics listener serves at once (scrapers and probes).
const METRICS_CONNECTIONS: usize = 16;

/// Serves `router` on `listener` until `shutdown`, at most `max_connections`
/// connections at once, each charged to the RPC's CPU counter.
fn accept_loop(
    listener: TcpListener,
    router: Router,
    shared: &Shared,
    max_connections: usize,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    let header_timeout = shared.settings.header_read_timeout;
    let cpu = shared.node.stats().cpu.rpc.clone();
    let accept_tracker = tracker.clone();
    let connections = Arc::new(Semaphore::new(max_connections.max(1)));
    tracker.spawn(async move {
        loop {
            // At the limit, connections wait in the kernel's backlog: no
            // socket, buffer or file descriptor is spent on them here.
            let slot = tokio::select! {
                _ = shutdown.cancelled() => break,
                slot = connections.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        warn!("rpc accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let service = TowerToHyperService::new(router.clone());
            let token = shutdown.clone();
            accept_tracker.spawn(net::cpu::metered(cpu.clone(), async move {
                let _slot = slot;
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            debug!(%peer, "rpc connection ended: {e}");
                        }
                    }
                    _ = token.cancelled() => connection.as_mut().graceful_shutdown(),
                }
            }));
        }
    });
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: use POST / (JSON-RPC), GET /events, /metrics, /health or /ready\n",
    )
        .into_response()
}

async fn not_found_metrics() -> Response {
    (StatusCode::NOT_FOUND, "not found: this listener serves GET /metrics, /health and /ready\n")
        .into_response()
}

async fn metrics_get(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(denied) = shared.auth.check(&headers) {
        return denied;
    }
    metrics_open(State(shared)).await
}

/// `/metrics` on the metrics listener (`metrics.listen_address`): no
/// credentials, so a scraper needs none.
async fn metrics_open(State(shared): State<Arc<Shared>>) -> Response {
    let text = shared.metrics.render(&shared.node).await;
    // prometheus-client writes OpenMetrics 1.0 (`_total` samples, `# EOF`).
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response()
}

async fn rpc_post(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    if let Err(denied) = shared.auth.check(request.headers()) {
        return denied;
    }
    let limit = shared.settings.max_body_bytes;
    // The body gets as long as the headers had: a client trickling it
    // would otherwise hold its connection slot for as long as it liked.
    let deadline = shared.settings.header_read_timeout;
    let limited = http_body_util::Limited::new(request.into_body(), limit).collect_bytes();
    let Ok(collected) = tokio::time::timeout(deadline, limited).await else {
        return dispatch::error_response(
            StatusCode::REQUEST_TIMEOUT,
            protocol::rpc::codes::INVALID_REQUEST,
            format!(
                "the request body did not arrive within rpc.header_read_timeout_ms ({} ms)",
                deadline.as_millis()
            ),
        );
    };
    let body = match collected {
        Ok(bytes) => bytes,
        Err(too_large) => {
            return dispatch::error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                protocol::rpc::codes::INVALID_REQUEST,
                format!(
                    "request body is larger than rpc.max_body_bytes ({limit} bytes): {too_large}"
                ),
            );
        }
    };
    // Waiting for a slot is the concurrency limit: requests queue here.
    let Ok(_permit) = shared.limit.acquire().await else {
        return dispatch::error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            protocol::rpc::codes::MISC_ERROR,
            "the node is shutting down".into(),
        );
    };
    dispatch::handle_body(&shared, &body).await
}

/// Collecting a limited body.
trait CollectBytes {
    async fn collect_bytes(self) -> Result<bytes::Bytes, String>;
}

impl CollectBytes for http_body_util::Limited<Body> {
    async fn collect_bytes(self) -> Result<bytes::Bytes, String> {
        use http_body_util::BodyExt;
        self.collect().await.map(|c| c.to_bytes()).map_err(|e| e.to_string())
    }
}
