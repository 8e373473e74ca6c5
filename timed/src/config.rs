//! The node's configuration file: one TOML file of **local** settings
//! (PROTOCOL.md section 8). Consensus rules live in genesis, never here.
//!
//! A file is read in two passes over toml's spanned document tree, so that
//! every problem is found in one run and each names its key and line:
//!
//! 1. *vetting* walks every key the file contains against [`ACCEPTED_KEYS`]
//!    and reports unknown keys (with a "did you mean" suggestion), keys of
//!    the original TimeCoin node that are refused ("set in genesis", "not
//!    supported"), and sections of the wrong shape;
//! 2. *reading* starts from [`Config::default`] and overwrites each field
//!    whose key is present, checking the value's type and range.
//!
//! Checks that involve more than one key (or that must be repeated after
//! command-line flags override a value) live in [`Config::validate`].
//!
//! Invariant: a key is accepted exactly when the reading pass reads it, and
//! every key the reading pass reads is in [`ACCEPTED_KEYS`] (asserted in
//! debug builds), so every accepted key is honoured.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::{Range, RangeInclusive};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use consensus::CoreConfig;
use net::{NetLimits, PeerAddress};
use protocol::{Hash256, NodeId};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Every key the file accepts, as a dotted path, in the order of
/// [`Config::default_toml`]. `[]` marks an array of tables
/// (`[[network.peers]]`).
pub const ACCEPTED_KEYS: &[&str] = &[
    "node.genesis_file",
    "node.genesis_hash",
    "node.status_interval_ms",
    "node.verify_threads",
    "network.listen_address",
    "network.bootstrap_peers",
    "network.enable_peer_discovery",
    "network.max_connections",
    "network.max_connections_per_ip",
    "network.peers[].id",
    "network.peers[].address",
    "network.limits.max_frame_bytes",
    "network.limits.outbound_queue",
    "network.limits.max_messages_per_second",
    "network.limits.max_bytes_per_second",
    "network.limits.handshake_timeout_ms",
    "network.limits.idle_timeout_ms",
    "network.limits.ping_interval_ms",
    "network.limits.ban_duration_seconds",
    "rpc.listen_address",
    "rpc.auth",
    "rpc.token",
    "rpc.max_body_bytes",
    "rpc.max_batch_size",
    "rpc.max_concurrent_requests",
    "rpc.max_connections",
    "rpc.header_read_timeout_ms",
    "rpc.event_buffer",
    "storage.data_dir",
    "storage.cache_size_mb",
    "storage.min_free_mb",
    "logging.level",
    "logging.format",
    "masternode.key_file",
    "metrics.enabled",
    "metrics.listen_address",
    "mempool.max_transactions",
    "mempool.max_bytes_mb",
    "mempool.orphan_max_transactions",
    "mempool.orphan_max_bytes_mb",
    "mempool.orphan_ttl_seconds",
];

/// Shortest secret accepted for `rpc.token`.
pub const MIN_TOKEN_CHARS: usize = 16;

const MIB: u64 = 1 << 20;
/// Longest duration any timer may be set to (the network layer's limit).
const MAX_DAYS_365_SECONDS: u64 = 365 * 24 * 3600;
/// Largest size in megabytes (1 TiB): far above any sane value, far below overflow.
const MAX_MEGABYTES: u64 = 1 << 20;

/// The whole configuration, one field per section. [`Config::default`] is
/// what an empty file gives, except that its paths are not yet resolved
/// against a directory (see [`Config::resolve_paths`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// `[node]`
    pub node: NodeSection,
    /// `[network]`: the P2P layer.
    pub network: NetworkSection,
    /// `[rpc]`: the JSON-RPC and event-stream listener.
    pub rpc: RpcSection,
    /// `[storage]`
    pub storage: StorageSection,
    /// `[logging]`
    pub logging: LoggingSection,
    /// `[masternode]`
    pub masternode: MasternodeSection,
    /// `[metrics]`
    pub metrics: MetricsSection,
    /// `[mempool]`: local pool limits (not consensus rules).
    pub mempool: MempoolSection,
}

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

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            genesis_file: PathBuf::from("genesis.json"),
            genesis_hash: None,
            status_interval: Duration::from_millis(1000),
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

impl Default for NetworkLimitsSection {
    fn default() -> Self {
        NetworkLimitsSection {
            max_frame_bytes: 16 * 1024 * 1024,
            outbound_queue: 4096,
            max_messages_per_second: 20_000,
            max_bytes_per_second: 64 * 1024 * 1024,
            handshake_timeout: Duration::from_millis(5000),
            idle_timeout: Duration::from_millis(30_000),
            ping_interval: Duration::from_millis(5000),
            ban_duration: Duration::from_secs(600),
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

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            data_dir: PathBuf::from("./data"),
            cache_bytes: 16 * MIB,
            min_free_mb: crate::store::StoreConfig::default().min_free_mb,
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

impl Default for MempoolSection {
    fn default() -> Self {
        MempoolSection {
            max_transactions: 100_000,
            max_bytes: 64 << 20,
            orphan_max_transactions: 10_000,
            orphan_max_bytes: 8 << 20,
            orphan_ttl: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// Parses a configuration, resolving relative paths against `base_dir`
    /// (the directory of the file it came from). All problems are reported
    /// together; the returned errors carry no file path.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
        parse(text, base_dir).map_err(|problems| ConfigErrors { path: None, problems })
    }

    /// Reads and parses the file at `path`; relative paths in it are
    /// relative to its directory. A missing or unreadable file is an error
    /// naming the path.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let with_path = |problems| ConfigErrors { path: Some(path.to_path_buf()), problems };
        let text = std::fs::read_to_string(path).map_err(|err| {
            let hint = if err.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "; `timed --generate-config > {}` writes a commented default",
                    path.display()
                )
            } else {
                String::new()
            };
            with_path(vec![Problem::general(format!("cannot read the config file: {err}{hint}"))])
        })?;
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        // An absolute base keeps paths meaning the same if the process later
        // changes directory, and makes them unambiguous in logs.
        let base_dir = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        parse(&text, &base_dir).map_err(with_path)
    }

    /// Makes every relative path (genesis file, data dir, key file) relative
    /// to `base_dir` instead; absolute paths are kept. [`Config::load`] and
    /// [`Config::from_toml_str`] do this already.
    pub fn resolve_paths(&mut self, base_dir: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                // Drop `.` components so `./data` shows as `<dir>/data`.
                let tail: PathBuf = path.components().filter(|c| *c != Component::CurDir).collect();
                *path = base_dir.join(tail);
            }
        };
        resolve(&mut self.node.genesis_file);
        resolve(&mut self.storage.data_dir);
        if let Some(key_file) = &mut self.masternode.key_file {
            resolve(key_file);
        }
    }

    /// Checks the rules that involve more than one key. [`Config::load`]
    /// and [`Config::from_toml_str`] do this already; call it again after
    /// overriding fields (for example listen addresses from flags).
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let problems = self.cross_key_problems();
        if problems.is_empty() { Ok(()) } else { Err(ConfigErrors { path: None, problems }) }
    }

    /// The local limits of the consensus core: mempool and orphan pool
    /// sizes and the housekeeping tick. The rest keeps its defaults.
    pub fn core_config(&self) -> CoreConfig {
        CoreConfig {
            mempool_max_txs: self.mempool.max_transactions,
            mempool_max_bytes: self.mempool.max_bytes,
            orphan_max_txs: self.mempool.orphan_max_transactions,
            orphan_max_bytes: self.mempool.orphan_max_bytes,
            orphan_ttl_ms: millis(self.mempool.orphan_ttl),
            tick_interval_ms: millis(self.node.status_interval),
            ..CoreConfig::default()
        }
    }

    /// The P2P layer's limits, from `[network]` and `[network.limits]`.
    /// Limits the file does not expose keep [`NetLimits::default`]; bursts
    /// scale with the configured rates.
    pub fn net_limits(&self) -> NetLimits {
        let limits = &self.network.limits;
        NetLimits {
            max_frame_bytes: limits.max_frame_bytes,
            handshake_timeout: limits.handshake_timeout,
            idle_timeout: limits.idle_timeout,
            ping_interval: limits.ping_interval,
            outbound_queue: limits.outbound_queue,
            max_msgs_per_sec: limits.max_messages_per_second,
            msg_burst: limits.max_messages_per_second.saturating_mul(2),
            max_bytes_per_sec: limits.max_bytes_per_second,
            byte_burst: limits.max_bytes_per_second,
            max_connections: self.network.max_connections,
            max_per_ip: self.network.max_connections_per_ip,
            ban_duration: limits.ban_duration,
            ..NetLimits::default()
        }
    }

    /// `timed --generate-config`: a complete configuration file with every
    /// accepted key set to its default and a comment saying what it does.
    /// Parsing it back yields [`Config::default`] (with paths resolved).
    pub fn default_toml() -> String {
        let d = Config::default();
        let (n, net, lim, rpc) = (&d.node, &d.network, &d.network.limits, &d.rpc);
        let auth = match rpc.auth {
            RpcAuthMode::Auto => "auto",
            RpcAuthMode::None => "none",
            RpcAuthMode::Cookie | RpcAuthMode::Token(_) => "cookie",
        };
        let format = match d.logging.format {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        };
        let bootstrap: Vec<String> = net.bootstrap_peers.iter().map(|p| quoted(p)).collect();
        format!(
            r#"# TimeCoin node configuration (timed).
#
# Local settings only: consensus rules (block time, quorum, block limits,
# masternode tiers and rewards) are fixed in genesis.json and refused here.
# Relative paths are relative to the directory of this file.
# Durations are in the unit their key ends with (_ms, _seconds), sizes in
# _bytes or _mb (MiB).

[node]
# The chain's genesis file: network, committee and every consensus rule.
genesis_file = {genesis_file}
# The hash that file must have (timed --check-config prints it): a node given
# another network's genesis then refuses to start.
# genesis_hash = "<64 hex digits>"
# Housekeeping tick (status exchange with peers, re-requests, expiry), in milliseconds.
status_interval_ms = {status_interval_ms}
# Threads that verify input signatures ahead of the consensus core (0: one per core).
verify_threads = {verify_threads}

[network]
# P2P listen address, ip:port; port 0 picks a free port.
listen_address = {net_listen}
# Peers dialled at start whose ids are learned at the handshake: ["host:port", ...].
bootstrap_peers = [{bootstrap}]
# Ask peers for their peers, answer such requests, and dial what is learned.
enable_peer_discovery = {discovery}
# Live connections above which new inbound connections are refused.
max_connections = {max_connections}
# Live connections from one IP address above which new inbound ones from it are refused.
max_connections_per_ip = {max_per_ip}

# Peers with a known node id, each with its own dial address (a local cluster
# routes each link through a proxy). Repeat the block once per peer.
# [[network.peers]]
# id = "<64 hex digits: the node id expected at this address>"
# address = "127.0.0.1:24200"

[network.limits]
# Largest message frame a peer may send, in bytes.
max_frame_bytes = {max_frame_bytes}
# Messages queued per peer before further sends to it are dropped.
outbound_queue = {outbound_queue}
# Sustained inbound messages per second per peer (bursts of twice this pass).
max_messages_per_second = {max_msgs}
# Sustained inbound bytes per second per peer (bursts of one second's worth pass).
max_bytes_per_second = {max_bytes}
# Time allowed for the whole handshake, in milliseconds.
handshake_timeout_ms = {handshake}
# A connection on which the peer sent nothing for this long is closed, in milliseconds.
idle_timeout_ms = {idle}
# How often each side pings, in milliseconds; must be below idle_timeout_ms.
ping_interval_ms = {ping}
# How long a misbehaving peer stays banned, in seconds.
ban_duration_seconds = {ban}

[rpc]
# JSON-RPC, event stream and /metrics listen address, ip:port; port 0 picks a free port.
listen_address = {rpc_listen}
# "auto" (none on a loopback address, cookie otherwise), "none" (loopback only), "cookie" or "token".
auth = {auth}
# With auth = "token": the secret clients send, at least {min_token} characters (otherwise leave unset).
# token = "<secret>"
# Largest request body, in bytes.
max_body_bytes = {max_body}
# Most calls in one JSON-RPC batch.
max_batch_size = {max_batch}
# Requests served at once; further ones wait.
max_concurrent_requests = {max_concurrent}
# Open connections; further ones wait to be accepted until one closes.
max_connections = {max_rpc_connections}
# Time a client has to send its request headers, and again its body, in milliseconds.
header_read_timeout_ms = {header_timeout}
# Recent events kept so event streams can resume; a subscriber further behind is dropped.
event_buffer = {event_buffer}

[storage]
# Where the node keeps its database (use one per network).
data_dir = {data_dir}
# The database's page cache, in MiB.
cache_size_mb = {cache_mb}
# Free disk space to keep, in MiB: below it the node stops cleanly (exit 4)
# before writing, rather than risk a write the disk cannot take. 0: none.
min_free_mb = {min_free_mb}

[logging]
# trace, debug, info, warn, error, or a filter such as "info,net=debug"; RUST_LOG overrides it.
level = {level}
# "pretty" for people or "json" for log collectors; logs go to stderr.
format = {format}

[masternode]
# The masternode key file; leave unset to run as an observer that never votes.
# key_file = "masternode.key"

[metrics]
# Serve Prometheus metrics at /metrics on rpc.listen_address.
enabled = {metrics}
# Also serve /metrics, /health and /ready here, without credentials (for a
# Prometheus scraper and liveness/readiness probes); ip:port.
# listen_address = "0.0.0.0:24102"

[mempool]
# Most pending (not yet final) transactions held.
max_transactions = {mp_txs}
# Most bytes of pending transactions held, in MiB.
max_bytes_mb = {mp_mb}
# Most transactions held while waiting for a parent to become final.
orphan_max_transactions = {orphan_txs}
# Most bytes of such transactions, in MiB.
orphan_max_bytes_mb = {orphan_mb}
# How long such a transaction waits for its parent, in seconds.
orphan_ttl_seconds = {orphan_ttl}
"#,
            genesis_file = quoted(&n.genesis_file.to_string_lossy()),
            status_interval_ms = n.status_interval.as_millis(),
            verify_threads = n.verify_threads,
            net_listen = quoted(&net.listen_address.to_string()),
            bootstrap = bootstrap.join(", "),
            discovery = net.enable_peer_discovery,
            max_connections = net.max_connections,
            max_per_ip = net.max_connections_per_ip,
            max_frame_bytes = lim.max_frame_bytes,
            outbound_queue = lim.outbound_queue,
            max_msgs = lim.max_messages_per_second,
            max_bytes = lim.max_bytes_per_second,
            handshake = lim.handshake_timeout.as_millis(),
            idle = lim.idle_timeout.as_millis(),
            ping = lim.ping_interval.as_millis(),
            ban = lim.ban_duration.as_secs(),
            rpc_listen = quoted(&rpc.listen_address.to_string()),
            auth = quoted(auth),
            min_token = MIN_TOKEN_CHARS,
            max_body = rpc.max_body_bytes,
            max_batch = rpc.max_batch_size,
            max_concurrent = rpc.max_concurrent_requests,
            max_rpc_connections = rpc.max_connections,
            header_timeout = rpc.header_read_timeout.as_millis(),
            event_buffer = rpc.event_buffer,
            data_dir = quoted(&d.storage.data_dir.to_string_lossy()),
            cache_mb = d.storage.cache_bytes / MIB,
            min_free_mb = d.storage.min_free_mb,
            level = quoted(&d.logging.level),
            format = quoted(format),
            metrics = d.metrics.enabled,
            mp_txs = d.mempool.max_transactions,
            mp_mb = d.mempool.max_bytes as u64 / MIB,
            orphan_txs = d.mempool.orphan_max_transactions,
            orphan_mb = d.mempool.orphan_max_bytes as u64 / MIB,
            orphan_ttl = d.mempool.orphan_ttl.as_secs(),
        )
    }

    fn cross_key_problems(&self) -> Vec<Problem> {
        let mut problems = self.peer_problems();
        if self.rpc.auth == RpcAuthMode::None && !self.rpc.listen_address.ip().is_loopback() {
            problems.push(Problem::about(
                "rpc.auth",
                format!(
                    "rpc.auth = none is only allowed on a loopback address; use cookie or token \
                     (rpc.listen_address is {})",
                    self.rpc.listen_address
                ),
            ));
        }
        let limits = &self.network.limits;
        if limits.ping_interval >= limits.idle_timeout {
            problems.push(Problem::about(
                "network.limits.ping_interval_ms",
                format!(
                    "network.limits.ping_interval_ms: expected less than \
                     network.limits.idle_timeout_ms ({}), got {}",
                    limits.idle_timeout.as_millis(),
                    limits.ping_interval.as_millis()
                ),
            ));
        }
        // The network layer has the last word on its limits; the per-key
        // ranges above should make this unreachable.
        if problems.is_empty()
            && let Err(err) = self.net_limits().validate()
        {
            problems.push(Problem::general(format!("[network.limits]: {err}")));
        }
        problems
    }
}

impl Config {
    /// Peers listed twice (same address or same id, in `network.peers` or
    /// `network.bootstrap_peers`), or at this node's own listen address: a
    /// config for many hosts with a copy-paste slip, named by its entry.
    fn peer_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let own = self.network.listen_address;
        let mut addresses: BTreeMap<String, String> = BTreeMap::new();
        let mut ids: BTreeMap<NodeId, String> = BTreeMap::new();
        let entries = self
            .network
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    format!("network.peers[{i}]"),
                    format!("network.peers[{i}].address"),
                    &p.address,
                    p.id,
                )
            })
            .chain(self.network.bootstrap_peers.iter().enumerate().map(|(i, a)| {
                let key = format!("network.bootstrap_peers[{i}]");
                (key.clone(), key, a, None)
            }));
        for (entry, key, address, id) in entries {
            if address.parse::<SocketAddr>().is_ok_and(|a| a == own) {
                problems.push(Problem::about(
                    &key,
                    format!("{key}: {address} is this node's own network.listen_address"),
                ));
            }
            match addresses.get(address.as_str()) {
                Some(first) => problems.push(Problem::about(
                    &key,
                    format!("{key}: {address} is also the address of {first} (each peer once)"),
                )),
                None => {
                    addresses.insert(address.clone(), entry.clone());
                }
            }
            if let Some(id) = id {
                match ids.get(&id) {
                    Some(first) => problems.push(Problem::about(
                        &format!("{entry}.id"),
                        format!("{entry}.id: {id} is also the id of {first} (each peer once)"),
                    )),
                    None => {
                        ids.insert(id, entry);
                    }
                }
            }
        }
        problems
    }
}

/// Everything wrong with one configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file, when the configuration came from one.
    pub path: Option<PathBuf>,
    /// Every problem found, in file order.
    pub problems: Vec<Problem>,
}

/// One line per problem: `<file>:<line>: <message>` (with `:<column>` for
/// TOML syntax errors); without a file, `line <line>: <message>`.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match &self.path {
                Some(path) => {
                    write!(f, "{}", path.display())?;
                    if let Some(line) = problem.line {
                        write!(f, ":{line}")?;
                    }
                    if let Some(column) = problem.column {
                        write!(f, ":{column}")?;
                    }
                    write!(f, ": {}", problem.message)?;
                }
                None => write!(f, "{problem}")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// One problem in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key it is about (`network.listen_address`,
    /// `network.peers[0].id`); `None` for TOML syntax errors and unreadable
    /// files.
    pub key: Option<String>,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// 1-based column, for TOML syntax errors.
    pub column: Option<usize>,
    /// A complete one-line sentence that names the key, for example
    /// `unknown key network.listen_adress (did you mean network.listen_address?)`.
    pub message: String,
}

impl Problem {
    fn about(key: &str, message: String) -> Problem {
        Problem { key: Some(key.to_owned()), line: None, column: None, message }
    }

    fn general(message: String) -> Problem {
        Problem { key: None, line: None, column: None, message }
    }
}

/// `line <line>[, column <column>]: <message>`, or just the message.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

// ---------------------------------------------------------------------------
// Parsing

fn parse(text: &str, base_dir: &Path) -> Result<Config, Vec<Problem>> {
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        // The tree is partial after a syntax error: vetting it would report
        // keys as missing or misplaced that are merely unparsed.
        return Err(syntax_errors
            .iter()
            .map(|err| {
                let (line, column) = match err.span() {
                    Some(span) => {
                        let (line, column) = position(text, span.start);
                        (Some(line), Some(column))
                    }
                    None => (None, None),
                };
                Problem {
                    key: None,
                    line,
                    column,
                    message: format!("invalid TOML: {}", err.message()),
                }
            })
            .collect());
    }
    let mut doc = Doc { text, root: root.get_ref(), problems: Vec::new(), lines: BTreeMap::new() };
    doc.vet(root.get_ref(), "", "");
    let mut config = doc.read();
    config.resolve_paths(base_dir);
    for mut problem in config.cross_key_problems() {
        // An array element (`network.bootstrap_peers[1]`) is placed at its array.
        problem.line = problem
            .key
            .as_ref()
            .and_then(|key| doc.lines.get(key).or_else(|| doc.lines.get(key.rsplit_once('[')?.0)))
            .copied();
        doc.problems.push(problem);
    }
    if doc.problems.is_empty() {
        Ok(config)
    } else {
        let mut problems = doc.problems;
        problems.sort_by_key(|p| (p.line.is_none(), p.line));
        Err(problems)
    }
}

/// The document being read, and what has been found wrong with it.
#[derive(Debug)]
struct Doc<'a> {
    text: &'a str,
    root: &'a DeTable<'a>,
    problems: Vec<Problem>,
    /// The line of every key that was read, for problems found later.
    lines: BTreeMap<String, usize>,
}

/// A value found in the document, with the key it was found under.
#[derive(Debug)]
struct Found<'a> {
    key: String,
    value: &'a Spanned<DeValue<'a>>,
}

/// What a dotted path (in [`ACCEPTED_KEYS`] form) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Key,
    Table,
    ArrayOfTables,
    Unaccepted,
}

impl Shape {
    fn of(path: &str) -> Shape {
        let under = |suffix: &str| {
            let prefix = format!("{path}{suffix}");
            ACCEPTED_KEYS.iter().any(|key| key.starts_with(&prefix))
        };
        if ACCEPTED_KEYS.contains(&path) {
            Shape::Key
        } else if under(".") {
            Shape::Table
        } else if under("[].") {
            Shape::ArrayOfTables
        } else {
            Shape::Unaccepted
        }
    }
}

/// Why a key of the original TimeCoin node is refused.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// A consensus rule: every masternode must agree, so genesis fixes it.
    InGenesis(&'static str),
    /// A feature this node does not have, with a hint where one helps.
    NotSupported(Option<&'static str>),
}

const CONSENSUS_RULE: &str = "it is a consensus rule every masternode must agree on";
const SECURITY_HINT: &str = "use rpc.auth / rpc.token; rate limits are in [network.limits]";

/// Refused keys; `section.*` covers a section and everything in it.
const REFUSED: &[(&str, Refusal)] = &[
    ("consensus.*", Refusal::InGenesis(CONSENSUS_RULE)),
    ("block.*", Refusal::InGenesis(CONSENSUS_RULE)),
    ("masternode.tier", Refusal::InGenesis(CONSENSUS_RULE)),
    ("masternode.collateral_txid", Refusal::InGenesis(CONSENSUS_RULE)),
    ("masternode.wallet_address", Refusal::InGenesis("the reward address is in genesis")),
    ("node.network", Refusal::InGenesis("the network comes from genesis")),
    ("node.name", Refusal::NotSupported(None)),
    ("node.version", Refusal::NotSupported(Some("the version is built in; see timed --version"))),
    ("network.max_peers", Refusal::NotSupported(Some("use network.max_connections"))),
    ("network.enable_upnp", Refusal::NotSupported(None)),
    ("rpc.enabled", Refusal::NotSupported(Some("RPC is always on"))),
    ("rpc.allow_origins", Refusal::NotSupported(None)),
    ("storage.backend", Refusal::NotSupported(Some("sled is the only backend"))),
    ("logging.output", Refusal::NotSupported(Some("logs go to stderr; use your service manager"))),
    (
        "logging.file_path",
        Refusal::NotSupported(Some("logs go to stderr; use your service manager")),
    ),
    ("masternode.enabled", Refusal::NotSupported(Some("set masternode.key_file"))),
    ("security.*", Refusal::NotSupported(Some(SECURITY_HINT))),
    (
        "metrics.prometheus_port",
        Refusal::NotSupported(Some("/metrics is served on rpc.listen_address")),
    ),
];

/// The refusal of `path`, and whether it came from a whole-section entry.
fn refusal_of(path: &str) -> Option<(Refusal, bool)> {
    REFUSED.iter().find_map(|(pattern, refusal)| match pattern.strip_suffix(".*") {
        Some(section) => {
            let inside = path
                .strip_prefix(section)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            inside.then_some((*refusal, true))
        }
        None => (*pattern == path).then_some((*refusal, false)),
    })
}

impl<'a> Doc<'a> {
    fn problem(&mut self, key: &str, span: Range<usize>, message: String) {
        self.problems.push(Problem {
            key: Some(key.to_owned()),
            line: Some(position(self.text, span.start).0),
            column: None,
            message,
        });
    }

    // -- Pass 1: vetting ----------------------------------------------------

    /// Reports every key of `table` that is not accepted. `schema` is the
    /// table's path in [`ACCEPTED_KEYS`] form (`network.peers[]`), `shown`
    /// as the user would write it (`network.peers[2]`).
    fn vet(&mut self, table: &'a DeTable<'a>, schema: &str, shown: &str) {
        for (name, value) in table.iter() {
            let key_span = name.span();
            let name: &str = name.get_ref();
            let schema_key = join(schema, name);
            let shown_key = join(shown, name);
            match Shape::of(&schema_key) {
                Shape::Key => {}
                Shape::Table => match value.get_ref() {
                    DeValue::Table(inner) => self.vet(inner, &schema_key, &shown_key),
                    other => self.problem(
                        &shown_key,
                        value.span(),
                        format!("{shown_key}: expected a table [{shown_key}], got {}", show(other)),
                    ),
                },
                Shape::ArrayOfTables => {
                    let expected = format!("{shown_key}: expected tables [[{shown_key}]]");
                    match value.get_ref() {
                        DeValue::Array(items) => {
                            for (i, item) in items.iter().enumerate() {
                                let shown_item = format!("{shown_key}[{i}]");
                                match item.get_ref() {
                                    DeValue::Table(inner) => {
                                        self.vet(inner, &format!("{schema_key}[]"), &shown_item)
                                    }
                                    other => self.problem(
                                        &shown_item,
                                        item.span(),
                                        format!(
                                            "{shown_item}: expected a table [[{shown_key}]], got {}",
                                            show(other)
                                        ),
                                    ),
                                }
                            }
                        }
                        other => self.problem(
                            &shown_key,
                            value.span(),
                            format!("{expected}, got {}", show(other)),
                        ),
                    }
                }
                Shape::Unaccepted => self.refuse(key_span, value, &schema_key, &shown_key, shown),
            }
        }
    }

    fn refuse(
        &mut self,
        span: Range<usize>,
        value: &'a Spanned<DeValue<'a>>,
        schema_key: &str,
        shown_key: &str,
        shown_parent: &str,
    ) {
        match refusal_of(schema_key) {
            Some((_, true)) if matches!(value.get_ref(), DeValue::Table(t) if !t.is_empty()) => {
                // A refused section: name each key in it, so the user sees
                // everything that has to go.
                if let DeValue::Table(inner) = value.get_ref() {
                    for (child, child_value) in inner.iter() {
                        let child_span = child.span();
                        let child: &str = child.get_ref();
                        self.refuse(
                            child_span,
                            child_value,
                            &join(schema_key, child),
                            &join(shown_key, child),
                            shown_key,
                        );
                    }
                }
            }
            Some((Refusal::InGenesis(reason), _)) => {
                self.problem(shown_key, span, format!("{shown_key}: set in genesis ({reason})"));
            }
            Some((Refusal::NotSupported(hint), _)) => {
                let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
                self.problem(shown_key, span, format!("not supported: {shown_key}{hint}"));
            }
            None => {
                let what =
                    if matches!(value.get_ref(), DeValue::Table(_)) { "section" } else { "key" };
                let hint = suggestion(schema_key, shown_parent)
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                self.problem(shown_key, span, format!("unknown {what} {shown_key}{hint}"));
            }
        }
    }

    // -- Pass 2: reading ----------------------------------------------------

    fn read(&mut self) -> Config {
        let mut c = Config::default();
        set(&mut c.node.genesis_file, self.path("node.genesis_file", "genesis.json"));
        c.node.genesis_hash = self.genesis_hash();
        set(&mut c.node.status_interval, self.millis("node.status_interval_ms"));
        set(
            &mut c.node.verify_threads,
            self.number("node.verify_threads", "a number of threads (0: one per core)", 0..=1024)
                .and_then(|n| usize::try_from(n).ok()),
        );

        let net = &mut c.network;
        set(&mut net.listen_address, self.socket_addr("network.listen_address", "0.0.0.0:24100"));
        set(&mut net.bootstrap_peers, self.host_ports("network.bootstrap_peers"));
        set(&mut net.enable_peer_discovery, self.boolean("network.enable_peer_discovery"));
        set(&mut net.max_connections, self.count("network.max_connections"));
        set(&mut net.max_connections_per_ip, self.count("network.max_connections_per_ip"));
        set(&mut net.peers, self.peers());

        let lim = &mut c.network.limits;
        let frame = self.number(
            "network.limits.max_frame_bytes",
            "a number of bytes",
            1024..=u64::from(u32::MAX),
        );
        set(&mut lim.max_frame_bytes, frame.and_then(|n| usize::try_from(n).ok()));
        set(&mut lim.outbound_queue, self.count("network.limits.outbound_queue"));
        let msgs = self.number(
            "network.limits.max_messages_per_second",
            "a whole number",
            1..=u64::from(u32::MAX),
        );
        set(&mut lim.max_messages_per_second, msgs.and_then(|n| u32::try_from(n).ok()));
        set(
            &mut lim.max_bytes_per_second,
            self.number("network.limits.max_bytes_per_second", "a number of bytes", 1..=u64::MAX),
        );
        set(&mut lim.handshake_timeout, self.millis("network.limits.handshake_timeout_ms"));
        set(&mut lim.idle_timeout, self.millis("network.limits.idle_timeout_ms"));
        set(&mut lim.ping_interval, self.millis("network.limits.ping_interval_ms"));
        set(&mut lim.ban_duration, self.seconds("network.limits.ban_duration_seconds"));

        let rpc = &mut c.rpc;
        set(&mut rpc.listen_address, self.socket_addr("rpc.listen_address", "127.0.0.1:24101"));
        set(&mut rpc.auth, self.rpc_auth());
        set(&mut rpc.max_body_bytes, self.count_of("rpc.max_body_bytes", "a number of bytes"));
        set(&mut rpc.max_batch_size, self.count("rpc.max_batch_size"));
        set(&mut rpc.max_concurrent_requests, self.count("rpc.max_concurrent_requests"));
        set(&mut rpc.max_connections, self.count("rpc.max_connections"));
        set(&mut rpc.header_read_timeout, self.millis("rpc.header_read_timeout_ms"));
        set(&mut rpc.event_buffer, self.count("rpc.event_buffer"));

        set(&mut c.storage.data_dir, self.path("storage.data_dir", "./data"));
        set(&mut c.storage.cache_bytes, self.megabytes("storage.cache_size_mb"));
        set(
            &mut c.storage.min_free_mb,
            self.number("storage.min_free_mb", "a number of megabytes", 0..=MAX_MEGABYTES),
        );

        set(&mut c.logging.level, self.log_level());
        let format = self.choice("logging.format", &["pretty", "json"]);
        set(
            &mut c.logging.format,
            format.map(|f| if f == "json" { LogFormat::Json } else { LogFormat::Pretty }),
        );

        let key_file = self.path("masternode.key_file", "masternode.key");
        set(&mut c.masternode.key_file, key_file.map(Some));
        set(&mut c.metrics.enabled, self.boolean("metrics.enabled"));
        let metrics_listen = self.socket_addr("metrics.listen_address", "0.0.0.0:24102");
        set(&mut c.metrics.listen_address, metrics_listen.map(Some));

        let mp = &mut c.mempool;
        set(&mut mp.max_transactions, self.count("mempool.max_transactions"));
        set(&mut mp.max_bytes, self.megabytes_usize("mempool.max_bytes_mb"));
        set(&mut mp.orphan_max_transactions, self.count("mempool.orphan_max_transactions"));
        set(&mut mp.orphan_max_bytes, self.megabytes_usize("mempool.orphan_max_bytes_mb"));
        set(&mut mp.orphan_ttl, self.seconds("mempool.orphan_ttl_seconds"));
        c
    }

    /// The value at an accepted dotted path, if the file sets it. Shape
    /// errors on the way were reported while vetting.
    fn find(&mut self, key: &'static str) -> Option<Found<'a>> {
        debug_assert!(
            Shape::of(key) != Shape::Unaccepted,
            "{key} is read but not in ACCEPTED_KEYS"
        );
        let (parents, name) = match key.rsplit_once('.') {
            Some((parents, name)) => (Some(parents), name),
            None => (None, key),
        };
        let mut table = self.root;
        for part in parents.into_iter().flat_map(|p| p.split('.')) {
            match table.get(part).map(Spanned::get_ref) {
                Some(DeValue::Table(inner)) => table = inner,
                _ => return None,
            }
        }
        self.find_in(table, name, key.to_owned())
    }

    fn find_in(&mut self, table: &'a DeTable<'a>, name: &str, shown: String) -> Option<Found<'a>> {
        let value = table.get(name)?;
        self.lines.insert(shown.clone(), position(self.text, value.span().start).0);
        Some(Found { key: shown, value })
    }

    /// Reports that `found` is not of the expected form.
    fn expected(&mut self, found: &Found<'a>, form: &str) {
        let message =
            format!("{}: expected {form}, got {}", found.key, show(found.value.get_ref()));
        self.problem(&found.key.clone(), found.value.span(), message);
    }

    fn string_in(&mut self, found: &Found<'a>, form: &str) -> Option<&'a str> {
        match found.value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.expected(found, form);
                None
            }
        }
    }

    fn string(&mut self, key: &'static str, form: &str) -> Option<(Found<'a>, &'a str)> {
        let found = self.find(key)?;
        let s = self.string_in(&found, form)?;
        Some((found, s))
    }

    fn number(&mut self, key: &'static str, noun: &str, range: RangeInclusive<u64>) -> Option<u64> {
        let found = self.find(key)?;
        let n = match found.value.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        let in_range = n.filter(|n| range.contains(n));
        if in_range.is_none() {
            let form = if *range.end() == u64::MAX {
                format!("{noun} of at least {}", range.start())
            } else {
                format!("{noun} from {} to {}", range.start(), range.end())
            };
            self.expected(&found, &form);
        }
        in_range
    }

    fn count(&mut self, key: &'static str) -> Option<usize> {
        self.count_of(key, "a whole number")
    }

    fn count_of(&mut self, key: &'static str, noun: &str) -> Option<usize> {
        let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
        self.number(key, noun, 1..=max).and_then(|n| usize::try_from(n).ok())
    }

    fn millis(&mut self, key: &'static str) -> Option<Duration> {
        self.number(key, "a number of milliseconds", 1..=MAX_DAYS_365_SECONDS * 1000)
            .map(Duration::from_millis)
    }

    fn seconds(&mut self, key: &'static str) -> Option<Duration> {
        self.number(key, "a number of seconds", 1..=MAX_DAYS_365_SECONDS).map(Duration::from_secs)
    }

    /// A size in MiB, returned in bytes.
    fn megabytes(&mut self, key: &'static str) -> Option<u64> {
        self.number(key, "a number of megabytes", 1..=MAX_MEGABYTES).map(|mb| mb * MIB)
    }

    fn megabytes_usize(&mut self, key: &'static str) -> Option<usize> {
        self.megabytes(key).and_then(|bytes| usize::try_from(bytes).ok())
    }

    fn boolean(&mut self, key: &'static str) -> Option<bool> {
        let found = self.find(key)?;
        match found.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.expected(&found, "true or false");
                None
            }
        }
    }

    fn path(&mut self, key: &'static str, example: &str) -> Option<PathBuf> {
        let form = format!("a path such as {example}");
        let (found, s) = self.string(key, &form)?;
        if s.is_empty() {
            self.expected(&found, &form);
            return None;
        }
        Some(PathBuf::from(s))
    }

    fn genesis_hash(&mut self) -> Option<Hash256> {
        const FORM: &str = "a genesis hash of 64 hex digits";
        let (found, s) = self.string("node.genesis_hash", FORM)?;
        let hash = Hash256::from_hex(s).ok();
        if hash.is_none() {
            self.expected(&found, FORM);
        }
        hash
    }

    fn socket_addr(&mut self, key: &'static str, example: &str) -> Option<SocketAddr> {
        let form = format!("ip:port such as {example}");
        let (found, s) = self.string(key, &form)?;
        let addr = s.parse().ok();
        if addr.is_none() {
            self.expected(&found, &form);
        }
        addr
    }

    /// One of `options`, as written.
    fn choice(&mut self, key: &'static str, options: &[&'static str]) -> Option<&'static str> {
        let form = one_of(options);
        let (found, s) = self.string(key, &form)?;
        let chosen = options.iter().find(|o| **o == s).copied();
        if chosen.is_none() {
            self.expected(&found, &form);
        }
        chosen
    }

    fn host_ports(&mut self, key: &'static str) -> Option<Vec<String>> {
        const FORM: &str = "host:port such as seed.example.org:24100";
        let found = self.find(key)?;
        let DeValue::Array(items) = found.value.get_ref() else {
            self.expected(&found, &format!("an array of \"{FORM}\" strings"));
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let element = Found { key: format!("{}[{i}]", found.key), value: item };
            match item.get_ref() {
                DeValue::String(s) if is_host_port(s) => out.push(s.to_string()),
                _ => self.expected(&element, FORM),
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// `[[network.peers]]`: each needs both `id` and `address`.
    fn peers(&mut self) -> Option<Vec<PeerAddress>> {
        let found = self.find("network.peers")?;
        // Anything but an array of tables was reported while vetting.
        let DeValue::Array(items) = found.value.get_ref() else {
            return None;
        };
        let mut peers = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let DeValue::Table(table) = item.get_ref() else {
                continue;
            };
            let shown = format!("network.peers[{i}]");
            let id =
                self.peer_field(table, item, &shown, "id", "a node id of 64 hex digits", |s| {
                    s.parse::<NodeId>().ok()
                });
            let address = self.peer_field(
                table,
                item,
                &shown,
                "address",
                "host:port such as 127.0.0.1:24200",
                |s| is_host_port(s).then(|| s.to_owned()),
            );
            if let (Some(id), Some(address)) = (id, address) {
                peers.push(PeerAddress { id: Some(id), address });
            }
        }
        (peers.len() == items.len()).then_some(peers)
    }

    fn peer_field<T>(
        &mut self,
        table: &'a DeTable<'a>,
        item: &'a Spanned<DeValue<'a>>,
        shown: &str,
        name: &str,
        form: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let key = format!("{shown}.{name}");
        let Some(found) = self.find_in(table, name, key.clone()) else {
            let why = if name == "id" {
                "a peer without a known id belongs in network.bootstrap_peers"
            } else {
                "the host:port to dial"
            };
            self.problem(&key, item.span(), format!("{key}: required ({why})"));
            return None;
        };
        let parsed = match found.value.get_ref() {
            DeValue::String(s) => parse(s),
            _ => None,
        };
        if parsed.is_none() {
            self.expected(&found, form);
        }
        parsed
    }

    /// `rpc.auth` with `rpc.token`: the token is required with `token` and
    /// refused otherwise, so a secret is never silently ignored.
    fn rpc_auth(&mut self) -> Option<RpcAuthMode> {
        let auth_found = self.find("rpc.auth");
        let mode = match &auth_found {
            Some(_) => Some(self.choice("rpc.auth", &["auto", "none", "cookie", "token"])?),
            None => None,
        };
        let token = self.find("rpc.token");
        match (mode, token) {
            (Some("token"), Some(token)) => {
                let form = format!("a secret of at least {MIN_TOKEN_CHARS} characters");
                let secret = self.string_in(&token, &form)?;
                let chars = secret.chars().count();
                if chars < MIN_TOKEN_CHARS {
                    // Never echo a secret, even a bad one.
                    let message = format!("rpc.token: expected {form}, got {chars} characters");
                    self.problem("rpc.token", token.value.span(), message);
                    return None;
                }
                Some(RpcAuthMode::Token(secret.to_owned()))
            }
            (Some("token"), None) => {
                let span = auth_found.map(|f| f.value.span()).unwrap_or(0..0);
                let message = format!(
                    "rpc.token: required when rpc.auth = \"token\" (a secret of at least {MIN_TOKEN_CHARS} characters)"
                );
                self.problem("rpc.token", span, message);
                None
            }
            (mode, Some(token)) => {
                let mode = mode.unwrap_or("auto");
                let message = format!(
                    "rpc.token: only used when rpc.auth = \"token\" (rpc.auth is \"{mode}\"); \
                     set rpc.auth = \"token\" or remove rpc.token"
                );
                self.problem("rpc.token", token.value.span(), message);
                None
            }
            (Some("none"), None) => Some(RpcAuthMode::None),
            (Some("cookie"), None) => Some(RpcAuthMode::Cookie),
            (_, None) => Some(RpcAuthMode::Auto),
        }
    }

    /// A level name, or a filter directive (anything with `=` or `,`) that
    /// `tracing` accepts. A bare word that is not a level is refused rather
    /// than taken as a target name, so `level = "verbose"` is caught.
    fn log_level(&mut self) -> Option<String> {
        const FORM: &str =
            "trace, debug, info, warn, error, off or a filter such as info,net=debug";
        let (found, s) = self.string("logging.level", FORM)?;
        let is_level = ["trace", "debug", "info", "warn", "error", "off"]
            .iter()
            .any(|level| level.eq_ignore_ascii_case(s.trim()));
        let is_directive = (s.contains('=') || s.contains(','))
            && tracing_subscriber::EnvFilter::builder().parse(s).is_ok();
        if is_level || is_directive {
            Some(s.to_owned())
        } else {
            self.expected(&found, FORM);
            None
        }
    }
}

/// The closest accepted name for an unknown key: first a near spelling in
/// the same table, then the same name in another table.
fn suggestion(schema_key: &str, shown_parent: &str) -> Option<String> {
    let (schema_parent, name) = match schema_key.rsplit_once('.') {
        Some((parent, name)) => (parent, name),
        None => ("", schema_key),
    };
    let prefix = if schema_parent.is_empty() { String::new() } else { format!("{schema_parent}.") };
    let siblings = ACCEPTED_KEYS.iter().filter_map(|key| {
        let rest = key.strip_prefix(prefix.as_str())?;
        let child = rest.split('.').next()?;
        Some(child.strip_suffix("[]").unwrap_or(child))
    });
    let near = siblings
        .map(|sibling| (edit_distance(name, sibling), sibling))
        .filter(|(distance, _)| *distance <= 2 && *distance < name.chars().count())
        .min_by_key(|(distance, _)| *distance);
    if let Some((_, sibling)) = near {
        return Some(join(shown_parent, sibling));
    }
    ACCEPTED_KEYS.iter().find(|key| key.rsplit('.').next() == Some(name)).map(|key| key.to_string())
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// `host:port` with a non-empty host (IPv6 in brackets) and a port that can
/// be dialled.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[') {
        Some(inner) => {
            inner.strip_suffix(']').is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => !host.is_empty() && !host.contains(':') && !host.contains(char::is_whitespace),
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") }
}

/// `a, b or c`
fn one_of(options: &[&str]) -> String {
    match options {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A value as the user wrote it, for "got ..." (strings quoted).
fn show(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("{s:?}"),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(x) => x.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}
