//! The one description of the file: a row per accepted key, in the order of
//! the generated template. [`ACCEPTED_KEYS`] (and so the vetting), the
//! reader ([`super::read`]) and the template ([`super::template`]) are all
//! made from [`ROWS`]; adding a key is adding a row (and its field, with
//! its default, in [`super::sections`]).

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use super::read::{Doc, set};
use super::template::quoted;
use super::{Config, MAX_MEGABYTES};

/// One accepted key.
#[derive(Debug)]
pub(super) struct Row {
    /// The dotted path; `[]` marks an array of tables (`network.peers[].id`).
    pub(super) key: &'static str,
    /// The template's comment above the key, without the `# `, lines
    /// separated by `\n`; `{MIN_TOKEN_CHARS}` is filled in. Empty only in
    /// an array of tables, whose [`TABLE_DOCS`] entry describes it.
    pub(super) doc: &'static str,
    /// How the value is read, and shown in the template.
    pub(super) kind: Kind,
}

/// A field of [`Config`]: the reader sets it, the template reads it from
/// [`Config::default`].
pub(super) type Field<T> = fn(&mut Config) -> &mut T;

/// How a key's value is read (and what its errors say it expected) and how
/// its default is written in the template.
#[derive(Debug)]
pub(super) enum Kind {
    /// A whole number in `range`, called `noun` in errors.
    Number { noun: &'static str, range: RangeInclusive<u64>, field: Int },
    /// Whole milliseconds, from 1 to a year.
    Millis(Field<Duration>),
    /// Whole seconds, from 1 to a year.
    Seconds(Field<Duration>),
    /// MiB in the file (1 to [`MAX_MEGABYTES`]), bytes in the field.
    Megabytes(Int),
    /// `true` or `false`.
    Bool(Field<bool>),
    /// A non-empty path, relative to the file's directory; `example` in errors.
    Path { example: &'static str, field: Field<PathBuf> },
    /// The same, unset by default: the template shows `example` commented out.
    OptionalPath { example: &'static str, field: Field<Option<PathBuf>> },
    /// `ip:port`; `example` in errors.
    Addr { example: &'static str, field: Field<SocketAddr> },
    /// The same, unset by default: the template shows `example` commented out.
    OptionalAddr { example: &'static str, field: Field<Option<SocketAddr>> },
    /// A parser of its own ([`super::special`]): `read` gets the row's key
    /// and sets the field; `shown` is the template's value.
    Custom { read: fn(&mut Doc<'_>, &'static str, &mut Config), shown: fn(&Config) -> Shown },
    /// Read, and checked, by the `Custom` reader of the row `by`, because
    /// the two only make sense together (`rpc.token` with `rpc.auth`).
    ReadBy { by: &'static str, shown: fn(&Config) -> Shown },
}

/// An integer field, whatever its width; a value that does not fit it
/// (only possible on narrow targets) leaves the default.
#[derive(Debug)]
pub(super) enum Int {
    Usize(Field<usize>),
    U32(Field<u32>),
    U64(Field<u64>),
}

impl Int {
    pub(super) fn set(&self, c: &mut Config, n: u64) {
        match self {
            Int::Usize(field) => set(field(c), usize::try_from(n).ok()),
            Int::U32(field) => set(field(c), u32::try_from(n).ok()),
            Int::U64(field) => *field(c) = n,
        }
    }

    pub(super) fn get(&self, c: &mut Config) -> u64 {
        match self {
            Int::Usize(field) => u64::try_from(*field(c)).unwrap_or(u64::MAX),
            Int::U32(field) => u64::from(*field(c)),
            Int::U64(field) => *field(c),
        }
    }
}

/// A key's line in the template.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Shown {
    /// `key = value` (the value as TOML).
    Set(String),
    /// `# key = example`: no default, an example to uncomment.
    Unset(String),
}

/// The largest count a `usize` holds.
const MAX_COUNT: u64 = usize::MAX as u64;

/// A count of at least 1.
const fn count(field: Field<usize>) -> Kind {
    Kind::Number { noun: "a whole number", range: 1..=MAX_COUNT, field: Int::Usize(field) }
}

/// The comments of arrays of tables, shown above their commented-out block.
pub(super) const TABLE_DOCS: &[(&str, &str)] = &[(
    "network.peers[]",
    "Peers with a known node id, each with its own dial address (a local cluster\n\
     routes each link through a proxy). Repeat the block once per peer.",
)];

/// Every key the file accepts, as a dotted path, in the order of
/// [`Config::default_toml`]. `[]` marks an array of tables
/// (`[[network.peers]]`). Made from the key table.
pub const ACCEPTED_KEYS: &[&str] = &{
    let mut keys = [""; ROWS.len()];
    let mut i = 0;
    while i < ROWS.len() {
        keys[i] = ROWS[i].key;
        i += 1;
    }
    keys
};

/// Every accepted key, grouped by table, in template order.
pub(super) const ROWS: &[Row] = &[
    // [node]
    Row {
        key: "node.genesis_file",
        doc: "The chain's genesis file: network, committee and every consensus rule.",
        kind: Kind::Path { example: "genesis.json", field: |c| &mut c.node.genesis_file },
    },
    Row {
        key: "node.genesis_hash",
        doc: "The hash that file must have (timed --check-config prints it): a node given\n\
              another network's genesis then refuses to start.",
        kind: Kind::Custom {
            read: |doc, key, c| c.node.genesis_hash = doc.genesis_hash(key),
            shown: |c| match c.node.genesis_hash {
                Some(hash) => Shown::Set(quoted(&hash.to_hex())),
                None => Shown::Unset(quoted("<64 hex digits>")),
            },
        },
    },
    Row {
        key: "node.status_interval_ms",
        doc: "Housekeeping tick (status exchange with peers, re-requests, expiry), in milliseconds.",
        kind: Kind::Millis(|c| &mut c.node.status_interval),
    },
    Row {
        key: "node.verify_threads",
        doc: "Threads that verify input signatures ahead of the consensus core (0: one per core).",
        kind: Kind::Number {
            noun: "a number of threads (0: one per core)",
            range: 0..=1024,
            field: Int::Usize(|c| &mut c.node.verify_threads),
        },
    },
    // [network]
    Row {
        key: "network.listen_address",
        doc: "P2P listen address, ip:port; port 0 picks a free port.",
        kind: Kind::Addr { example: "0.0.0.0:24100", field: |c| &mut c.network.listen_address },
    },
    Row {
        key: "network.bootstrap_peers",
        doc: "Peers dialled at start whose ids are learned at the handshake: [\"host:port\", ...].",
        kind: Kind::Custom {
            read: |doc, key, c| set(&mut c.network.bootstrap_peers, doc.host_ports(key)),
            shown: |c| {
                let peers: Vec<String> =
                    c.network.bootstrap_peers.iter().map(|p| quoted(p)).collect();
                Shown::Set(format!("[{}]", peers.join(", ")))
            },
        },
    },
    Row {
        key: "network.enable_peer_discovery",
        doc: "Ask peers for their peers, answer such requests, and dial what is learned.",
        kind: Kind::Bool(|c| &mut c.network.enable_peer_discovery),
    },
    Row {
        key: "network.max_connections",
        doc: "Live connections above which new inbound connections are refused.",
        kind: count(|c| &mut c.network.max_connections),
    },
    Row {
        key: "network.max_connections_per_ip",
        doc: "Live connections from one IP address above which new inbound ones from it are refused.",
        kind: count(|c| &mut c.network.max_connections_per_ip),
    },
    // [[network.peers]]: no defaults, so the whole block is an example.
    Row {
        key: "network.peers[].id",
        doc: "",
        kind: Kind::Custom {
            read: |doc, key, c| set(&mut c.network.peers, doc.peers(key)),
            shown: |_| {
                Shown::Unset(quoted("<64 hex digits: the node id expected at this address>"))
            },
        },
    },
    Row {
        key: "network.peers[].address",
        doc: "",
        kind: Kind::ReadBy {
            by: "network.peers[].id",
            shown: |_| Shown::Unset(quoted("127.0.0.1:24200")),
        },
    },
    // [network.limits]
    Row {
        key: "network.limits.max_frame_bytes",
        doc: "Largest message frame a peer may send, in bytes.",
        kind: Kind::Number {
            noun: "a number of bytes",
            range: 1024..=u32::MAX as u64,
            field: Int::Usize(|c| &mut c.network.limits.max_frame_bytes),
        },
    },
    Row {
        key: "network.limits.outbound_queue",
        doc: "Messages queued per peer before further sends to it are dropped.",
        kind: count(|c| &mut c.network.limits.outbound_queue),
    },
    Row {
        key: "network.limits.max_messages_per_second",
        doc: "Sustained inbound messages per second per peer (bursts of twice this pass).",
        kind: Kind::Number {
            noun: "a whole number",
            range: 1..=u32::MAX as u64,
            field: Int::U32(|c| &mut c.network.limits.max_messages_per_second),
        },
    },
    Row {
        key: "network.limits.max_bytes_per_second",
        doc: "Sustained inbound bytes per second per peer (bursts of one second's worth pass).",
        kind: Kind::Number {
            noun: "a number of bytes",
            range: 1..=u64::MAX,
            field: Int::U64(|c| &mut c.network.limits.max_bytes_per_second),
        },
    },
    Row {
        key: "network.limits.handshake_timeout_ms",
        doc: "Time allowed for the whole handshake, in milliseconds.",
        kind: Kind::Millis(|c| &mut c.network.limits.handshake_timeout),
    },
    Row {
        key: "network.limits.idle_timeout_ms",
        doc: "A connection on which the peer sent nothing for this long is closed, in milliseconds.",
        kind: Kind::Millis(|c| &mut c.network.limits.idle_timeout),
    },
    Row {
        key: "network.limits.ping_interval_ms",
        doc: "How often each side pings, in milliseconds; must be below idle_timeout_ms.",
        kind: Kind::Millis(|c| &mut c.network.limits.ping_interval),
    },
    Row {
        key: "network.limits.ban_duration_seconds",
        doc: "How long a misbehaving peer stays banned, in seconds.",
        kind: Kind::Seconds(|c| &mut c.network.limits.ban_duration),
    },
    // [rpc]
    Row {
        key: "rpc.listen_address",
        doc: "JSON-RPC, event stream and /metrics listen address, ip:port; port 0 picks a free port.",
        kind: Kind::Addr { example: "127.0.0.1:24101", field: |c| &mut c.rpc.listen_address },
    },
    Row {
        key: "rpc.auth",
        doc: "\"auto\" (none on a loopback address, cookie otherwise), \"none\" (loopback only), \"cookie\" or \"token\".",
        kind: Kind::Custom {
            read: |doc, key, c| set(&mut c.rpc.auth, doc.rpc_auth(key)),
            shown: |c| Shown::Set(quoted(c.rpc.auth.name())),
        },
    },
    Row {
        key: "rpc.token",
        doc: "With auth = \"token\": the secret clients send, at least {MIN_TOKEN_CHARS} characters (otherwise leave unset).",
        kind: Kind::ReadBy { by: "rpc.auth", shown: |_| Shown::Unset(quoted("<secret>")) },
    },
    Row {
        key: "rpc.max_body_bytes",
        doc: "Largest request body, in bytes.",
        kind: Kind::Number {
            noun: "a number of bytes",
            range: 1..=MAX_COUNT,
            field: Int::Usize(|c| &mut c.rpc.max_body_bytes),
        },
    },
    Row {
        key: "rpc.max_batch_size",
        doc: "Most calls in one JSON-RPC batch.",
        kind: count(|c| &mut c.rpc.max_batch_size),
    },
    Row {
        key: "rpc.max_concurrent_requests",
        doc: "Requests served at once; further ones wait.",
        kind: count(|c| &mut c.rpc.max_concurrent_requests),
    },
    Row {
        key: "rpc.max_connections",
        doc: "Open connections; further ones wait to be accepted until one closes.",
        kind: count(|c| &mut c.rpc.max_connections),
    },
    Row {
        key: "rpc.header_read_timeout_ms",
        doc: "Time a client has to send its request headers, and again its body, in milliseconds.",
        kind: Kind::Millis(|c| &mut c.rpc.header_read_timeout),
    },
    Row {
        key: "rpc.event_buffer",
        doc: "Recent events kept so event streams can resume; a subscriber further behind is dropped.",
        kind: count(|c| &mut c.rpc.event_buffer),
    },
    // [storage]
    Row {
        key: "storage.data_dir",
        doc: "Where the node keeps its database (use one per network).",
        kind: Kind::Path { example: "./data", field: |c| &mut c.storage.data_dir },
    },
    Row {
        key: "storage.cache_size_mb",
        doc: "The database's page cache, in MiB.",
        kind: Kind::Megabytes(Int::U64(|c| &mut c.storage.cache_bytes)),
    },
    Row {
        key: "storage.min_free_mb",
        doc: "Free disk space to keep, in MiB: below it the node stops cleanly (exit 4)\n\
              before writing, rather than risk a write the disk cannot take. 0: none.",
        kind: Kind::Number {
            noun: "a number of megabytes",
            range: 0..=MAX_MEGABYTES,
            field: Int::U64(|c| &mut c.storage.min_free_mb),
        },
    },
    // [logging]
    Row {
        key: "logging.level",
        doc: "trace, debug, info, warn, error, or a filter such as \"info,net=debug\"; RUST_LOG overrides it.",
        kind: Kind::Custom {
            read: |doc, key, c| set(&mut c.logging.level, doc.log_level(key)),
            shown: |c| Shown::Set(quoted(&c.logging.level)),
        },
    },
    Row {
        key: "logging.format",
        doc: "\"pretty\" for people or \"json\" for log collectors; logs go to stderr.",
        kind: Kind::Custom {
            read: |doc, key, c| set(&mut c.logging.format, doc.log_format(key)),
            shown: |c| Shown::Set(quoted(c.logging.format.name())),
        },
    },
    // [masternode]
    Row {
        key: "masternode.key_file",
        doc: "The masternode key file; leave unset to run as an observer that never votes.",
        kind: Kind::OptionalPath {
            example: "masternode.key",
            field: |c| &mut c.masternode.key_file,
        },
    },
    // [metrics]
    Row {
        key: "metrics.enabled",
        doc: "Serve Prometheus metrics at /metrics on rpc.listen_address.",
        kind: Kind::Bool(|c| &mut c.metrics.enabled),
    },
    Row {
        key: "metrics.listen_address",
        doc: "Also serve /metrics, /health and /ready here, without credentials (for a\n\
              Prometheus scraper and liveness/readiness probes); ip:port.",
        kind: Kind::OptionalAddr {
            example: "0.0.0.0:24102",
            field: |c| &mut c.metrics.listen_address,
        },
    },
    // [mempool]
    Row {
        key: "mempool.max_transactions",
        doc: "Most pending (not yet final) transactions held.",
        kind: count(|c| &mut c.mempool.max_transactions),
    },
    Row {
        key: "mempool.max_bytes_mb",
        doc: "Most bytes of pending transactions held, in MiB.",
        kind: Kind::Megabytes(Int::Usize(|c| &mut c.mempool.max_bytes)),
    },
    Row {
        key: "mempool.orphan_max_transactions",
        doc: "Most transactions held while waiting for a parent to become final.",
        kind: count(|c| &mut c.mempool.orphan_max_transactions),
    },
    Row {
        key: "mempool.orphan_max_bytes_mb",
        doc: "Most bytes of such transactions, in MiB.",
        kind: Kind::Megabytes(Int::Usize(|c| &mut c.mempool.orphan_max_bytes)),
    },
    Row {
        key: "mempool.orphan_ttl_seconds",
        doc: "How long such a transaction waits for its parent, in seconds.",
        kind: Kind::Seconds(|c| &mut c.mempool.orphan_ttl),
    },
];
