//! The sections of [`Config`], their fields and their defaults. A default
//! that mirrors a field of [`CoreConfig`], [`NetLimits`] or
//! [`StoreConfig`] is taken from that type's own default; the rest are
//! timed's own and are written here once.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use consensus::CoreConfig;
use net::{NetLimits, PeerAddress};
use protocol::Hash256;

use super::MIB;
#[cfg(doc)]
use super::{Config, MIN_TOKEN_CHARS};
use crate::store::StoreConfig;

/// `[node]`
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSection {
    /// `genesis_file`: the chain's genesis.json, which fixes the network,
    /// the committee and every consensus rule.
    pub genesis_file: PathBuf,
    /// `genesis_hash`: the hash `genesis_file` must have, when set, so a
    /// node given another network's genesis refuses to start instead of
    /// forming a chain of its own (written by `timectl testnet`).
    pub genesis_hash: Option<Hash256>,
    /// `status_interval_ms`: the housekeeping tick (status exchange for
    /// anti-entropy, re-requests, expiry); [`CoreConfig::tick_interval_ms`].
    pub status_interval: Duration,
    /// `verify_threads`: threads that verify a cycle's input signatures
    /// ahead of the consensus core; 0 is one per core.
    pub verify_threads: usize,
}

/// The tick is [`CoreConfig::default`]'s.
impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            genesis_file: PathBuf::from("genesis.json"),
            genesis_hash: None,
            status_interval: Duration::from_millis(CoreConfig::default().tick_interval_ms),
            verify_threads: 0,
        }
    }
}

/// `[network]`: feeds [`net::NetConfig`] (listen, bootstrap, peers,
/// peer_exchange) and, through [`Config::net_limits`], [`NetLimits`].
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSection {
    /// `listen_address`: where the P2P endpoint listens; port 0 picks a free one.
    pub listen_address: SocketAddr,
    /// `bootstrap_peers`: `host:port` addresses dialled at start whose ids
    /// are learned at the handshake.
    pub bootstrap_peers: Vec<String>,
    /// `enable_peer_discovery`: peer exchange ([`net::NetConfig::peer_exchange`]).
    pub enable_peer_discovery: bool,
    /// `max_connections`: live connections above which inbound ones are refused.
    pub max_connections: usize,
    /// `max_connections_per_ip`: the same, per remote IP address.
    pub max_connections_per_ip: usize,
    /// `[[network.peers]]`: peers with a known id, each with its own dial
    /// address (a local cluster routes each link through a proxy). Every
    /// entry has `id` set.
    pub peers: Vec<PeerAddress>,
    /// `[network.limits]`
    pub limits: NetworkLimitsSection,
}

/// The connection limits are timed's own: a masternode keeps fewer than
/// [`NetLimits::default`] allows (a local cluster raises them).
impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            listen_address: SocketAddr::from(([0, 0, 0, 0], 24100)),
            bootstrap_peers: Vec::new(),
            enable_peer_discovery: true,
            max_connections: 64,
            max_connections_per_ip: 8,
            peers: Vec::new(),
            limits: NetworkLimitsSection::default(),
        }
    }
}

/// `[network.limits]`: per-peer limits and timers of the P2P layer.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkLimitsSection {
    /// `max_frame_bytes`: largest message frame a peer may send.
    pub max_frame_bytes: usize,
    /// `outbound_queue`: messages queued per peer before sends are dropped.
    pub outbound_queue: usize,
    /// `max_messages_per_second`: sustained inbound messages per peer
    /// (bursts of twice this are allowed).
    pub max_messages_per_second: u32,
    /// `max_bytes_per_second`: sustained inbound bytes per peer (bursts of
    /// one second's worth are allowed).
    pub max_bytes_per_second: u64,
    /// `handshake_timeout_ms`: time for the whole handshake.
    pub handshake_timeout: Duration,
    /// `idle_timeout_ms`: a silent connection is closed after this long.
    pub idle_timeout: Duration,
    /// `ping_interval_ms`: how often each side pings; below `idle_timeout`.
    pub ping_interval: Duration,
    /// `ban_duration_seconds`: how long a misbehaving peer stays banned.
    pub ban_duration: Duration,
}

/// [`NetLimits::default`]'s, field for field.
impl Default for NetworkLimitsSection {
    fn default() -> Self {
        let net = NetLimits::default();
        NetworkLimitsSection {
            max_frame_bytes: net.max_frame_bytes,
            outbound_queue: net.outbound_queue,
            max_messages_per_second: net.max_msgs_per_sec,
            max_bytes_per_second: net.max_bytes_per_sec,
            handshake_timeout: net.handshake_timeout,
            idle_timeout: net.idle_timeout,
            ping_interval: net.ping_interval,
            ban_duration: net.ban_duration,
        }
    }
}

/// `[rpc]`
#[derive(Clone, Debug, PartialEq)]
pub struct RpcSection {
    /// `listen_address`: where JSON-RPC, the event stream and `/metrics`
    /// are served; port 0 picks a free one.
    pub listen_address: SocketAddr,
    /// `auth` and `token`: how clients authenticate. Use
    /// [`RpcSection::effective_auth`] to resolve [`RpcAuthMode::Auto`].
    pub auth: RpcAuthMode,
    /// `max_body_bytes`: largest request body.
    pub max_body_bytes: usize,
    /// `max_batch_size`: most calls in one JSON-RPC batch.
    pub max_batch_size: usize,
    /// `max_concurrent_requests`: requests served at once; more wait.
    pub max_concurrent_requests: usize,
    /// `max_connections`: open RPC connections; further ones wait in the
    /// listen backlog until one closes (keeps sockets, memory and file
    /// descriptors bounded whatever clients do).
    pub max_connections: usize,
    /// `header_read_timeout_ms`: time a client has to send its request
    /// headers, and again its body.
    pub header_read_timeout: Duration,
    /// `event_buffer`: recent events kept so event streams can resume; a
    /// subscriber further behind is told it lagged and is disconnected.
    pub event_buffer: usize,
}

impl Default for RpcSection {
    fn default() -> Self {
        RpcSection {
            listen_address: SocketAddr::from(([127, 0, 0, 1], 24101)),
            auth: RpcAuthMode::Auto,
            max_body_bytes: 1024 * 1024,
            max_batch_size: 100,
            max_concurrent_requests: 64,
            max_connections: 256,
            header_read_timeout: Duration::from_millis(5000),
            event_buffer: 10_000,
        }
    }
}

impl RpcSection {
    /// The authentication actually used: [`RpcAuthMode::Auto`] becomes
    /// [`RpcAuthMode::None`] on a loopback address and [`RpcAuthMode::Cookie`]
    /// otherwise; the other modes are returned as they are.
    pub fn effective_auth(&self) -> RpcAuthMode {
        match &self.auth {
            RpcAuthMode::Auto if self.listen_address.ip().is_loopback() => RpcAuthMode::None,
            RpcAuthMode::Auto => RpcAuthMode::Cookie,
            other => other.clone(),
        }
    }
}

/// `rpc.auth` (with `rpc.token` for [`RpcAuthMode::Token`]).
#[derive(Clone, PartialEq, Eq)]
pub enum RpcAuthMode {
    /// `"auto"`: none on a loopback address, cookie otherwise.
    Auto,
    /// `"none"`: anyone who can connect may call; loopback addresses only.
    None,
    /// `"cookie"`: a random secret written to a file in the data dir at start.
    Cookie,
    /// `"token"`: the fixed secret `rpc.token` (at least
    /// [`MIN_TOKEN_CHARS`] characters).
    Token(String),
}

impl RpcAuthMode {
    /// Every mode, in the order `rpc.auth`'s errors list them (the token
    /// itself is `rpc.token`'s).
    pub(super) fn all() -> [RpcAuthMode; 4] {
        [
            RpcAuthMode::Auto,
            RpcAuthMode::None,
            RpcAuthMode::Cookie,
            RpcAuthMode::Token(String::new()),
        ]
    }

    /// The mode's word in the file.
    pub(super) fn name(&self) -> &'static str {
        match self {
            RpcAuthMode::Auto => "auto",
            RpcAuthMode::None => "none",
            RpcAuthMode::Cookie => "cookie",
            RpcAuthMode::Token(_) => "token",
        }
    }
}

// The token is a secret: keep it out of logs.
impl fmt::Debug for RpcAuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcAuthMode::Auto => f.write_str("Auto"),
            RpcAuthMode::None => f.write_str("None"),
            RpcAuthMode::Cookie => f.write_str("Cookie"),
            RpcAuthMode::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// `[storage]`
#[derive(Clone, Debug, PartialEq)]
pub struct StorageSection {
    /// `data_dir`: where the node keeps its database.
    pub data_dir: PathBuf,
    /// `cache_size_mb`, in bytes: sled's page cache (whose own default of
    /// 1 GiB would blow the memory target).
    pub cache_bytes: u64,
    /// `min_free_mb`: free space the data dir's filesystem keeps; below
    /// it the node stops before writing (0: no reserve).
    pub min_free_mb: u64,
}

/// The store's sizes are [`StoreConfig::default`]'s.
impl Default for StorageSection {
    fn default() -> Self {
        let store = StoreConfig::default();
        StorageSection {
            data_dir: PathBuf::from("./data"),
            cache_bytes: store.cache_size_mb * MIB,
            min_free_mb: store.min_free_mb,
        }
    }
}

/// `[logging]`
#[derive(Clone, Debug, PartialEq)]
pub struct LoggingSection {
    /// `level`: a level name or a `tracing` filter directive such as
    /// `info,net=debug`. `RUST_LOG` overrides it at run time.
    pub level: String,
    /// `format`: how log lines are written to stderr.
    pub format: LogFormat,
}

impl Default for LoggingSection {
    fn default() -> Self {
        LoggingSection { level: "info".to_owned(), format: LogFormat::Pretty }
    }
}

/// `logging.format`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `"pretty"`: for people.
    Pretty,
    /// `"json"`: one JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    /// Every format, in the order `logging.format`'s errors list them.
    pub(super) const ALL: [LogFormat; 2] = [LogFormat::Pretty, LogFormat::Json];

    /// The format's word in the file.
    pub(super) fn name(self) -> &'static str {
        match self {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        }
    }
}

/// `[masternode]`
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MasternodeSection {
    /// `key_file`: the masternode's key. `None` runs the node as an
    /// observer, which follows the chain but never votes.
    pub key_file: Option<PathBuf>,
}

/// `[metrics]`
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSection {
    /// `enabled`: serve Prometheus `/metrics` on the RPC listener.
    pub enabled: bool,
    /// `listen_address`: a second listener for `/metrics`, `/health` and
    /// `/ready` without credentials (for a scraper and probes); none when
    /// unset.
    pub listen_address: Option<SocketAddr>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection { enabled: true, listen_address: None }
    }
}

/// `[mempool]`: feeds [`Config::core_config`].
#[derive(Clone, Debug, PartialEq)]
pub struct MempoolSection {
    /// `max_transactions`: most pending (not yet final) transactions.
    pub max_transactions: usize,
    /// `max_bytes_mb`, in bytes: most bytes of pending transactions.
    pub max_bytes: usize,
    /// `orphan_max_transactions`: most transactions waiting for a parent.
    pub orphan_max_transactions: usize,
    /// `orphan_max_bytes_mb`, in bytes: most bytes of such transactions.
    pub orphan_max_bytes: usize,
    /// `orphan_ttl_seconds`: how long an orphan waits for its parent.
    pub orphan_ttl: Duration,
}

/// [`CoreConfig::default`]'s pool limits.
impl Default for MempoolSection {
    fn default() -> Self {
        let core = CoreConfig::default();
        MempoolSection {
            max_transactions: core.mempool_max_txs,
            max_bytes: core.mempool_max_bytes,
            orphan_max_transactions: core.orphan_max_txs,
            orphan_max_bytes: core.orphan_max_bytes,
            orphan_ttl: Duration::from_millis(core.orphan_ttl_ms),
        }
    }
}
