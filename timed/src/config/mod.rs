//! The node's configuration file: one TOML file of **local** settings
//! (PROTOCOL.md section 8). Consensus rules live in genesis, never here.
//!
//! Every accepted key is one row of the key table (`ROWS` in `keys.rs`):
//! its dotted path, how its value is parsed (milliseconds, megabytes, a
//! socket address, ..., or a parser of its own in `special.rs`), the
//! template's comment, and the field of [`Config`] it sets.
//! [`ACCEPTED_KEYS`], the vetting, the reading and [`Config::default_toml`]
//! are all made from that table, so a key is accepted exactly when it is
//! read, and every accepted key is shown in the template.
//!
//! A file is read in two passes over toml's spanned document tree, so that
//! every problem is found in one run and each names its key and line:
//!
//! 1. *vetting* (`vet.rs`) walks every key the file contains against
//!    [`ACCEPTED_KEYS`] and reports unknown keys (with a "did you mean"
//!    suggestion), keys of the original TimeCoin node that are refused
//!    ("set in genesis", "not supported"), and sections of the wrong shape;
//! 2. *reading* (`read.rs`) starts from [`Config::default`] and overwrites
//!    each field whose key is present, checking the value's type and range.
//!
//! Checks that involve more than one key (or that must be repeated after
//! command-line flags override a value) live in [`Config::validate`]
//! (`checks.rs`); the error types are in `problems.rs`.
//!
//! Defaults (`sections.rs`): a value that mirrors a field of [`CoreConfig`],
//! [`NetLimits`] or the store's config is taken from that type's default;
//! the others are timed's own, written once. The template
//! (`template.rs`) prints [`Config::default`], so it cannot disagree.

mod checks;
mod keys;
mod problems;
mod read;
mod sections;
mod special;
mod template;
#[cfg(test)]
mod tests;
mod vet;

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use consensus::CoreConfig;
use net::NetLimits;

pub use keys::ACCEPTED_KEYS;
pub use problems::{ConfigErrors, Problem};
pub use sections::{
    LogFormat, LoggingSection, MasternodeSection, MempoolSection, MetricsSection,
    NetworkLimitsSection, NetworkSection, NodeSection, RpcAuthMode, RpcSection, StorageSection,
};

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

impl Config {
    /// Parses a configuration, resolving relative paths against `base_dir`
    /// (the directory of the file it came from). All problems are reported
    /// together; the returned errors carry no file path.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
        read::parse(text, base_dir).map_err(|problems| ConfigErrors { path: None, problems })
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
        read::parse(&text, &base_dir).map_err(with_path)
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
        template::render(&Config::default())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
