//! What one run is asked to do: where the nodes and keys are, the
//! workload, and the outputs. Built by the CLI or directly by library users
//! (the end-to-end tests); checked by [`RunConfig::validate`] before
//! anything is contacted.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::LoadgenError;
use crate::slo::Slo;

/// Where the nodes are and which keys pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A cluster directory made by `timectl up` (or the cluster library):
    /// `cluster.json`, every node's `node.json`, the pool keys.
    ClusterDir {
        /// The directory.
        dir: PathBuf,
        /// Use the dev wallet instead of the pool keys.
        dev_wallet: bool,
        /// Only these nodes (by name) take load and are watched; empty for
        /// all (leave out a node under test, say a Byzantine one).
        only: Vec<String>,
    },
    /// Explicit RPC endpoints (e.g. one `timed --dev`).
    Rpc {
        /// The nodes' RPC URLs (may be empty when `datadir` names the node).
        urls: Vec<String>,
        /// Key files whose coins pay.
        key_files: Vec<PathBuf>,
        /// A `timed` data dir: its `node.json` gives the URL (when no URL is
        /// given), the cookie, and (with `dev_wallet`) the dev wallet key.
        datadir: Option<PathBuf>,
        /// Use the dev wallet of `datadir`'s `node.json`.
        dev_wallet: bool,
        /// A file holding the token of nodes with `rpc.auth = "token"`
        /// (their `rpc.token`): every client of `urls` sends it as
        /// `Authorization: Bearer`. Read when the target is resolved
        /// ([`crate::target::read_token_file`]); only the path is kept here.
        token_file: Option<PathBuf>,
    },
}

/// Why a token file without `--rpc` URLs is refused.
pub(crate) const TOKEN_FILE_NEEDS_RPC: &str = "--rpc-token-file (or TIMECOIN_RPC_TOKEN_FILE) needs \
     --rpc URL...: the token is sent to the nodes named by --rpc (with --datadir alone loadgen \
     uses the node's cookie); pass the node's RPC URL with --rpc as well";

/// When the measured part of a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long (after the warm-up).
    Duration(Duration),
    /// After this many scheduled sends (after the warm-up).
    Count(u64),
}

/// A disjoint share of the pool keys: part `index` (1-based) of `parts`,
/// so concurrent generators never spend the same coins (`--keys 2/3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// 1-based part.
    pub index: usize,
    /// Number of parts.
    pub parts: usize,
}

impl KeyRange {
    /// All the keys.
    pub const ALL: KeyRange = KeyRange { index: 1, parts: 1 };

    /// The slice of `len` keys this part owns: contiguous and disjoint from
    /// the other parts', together covering all.
    pub fn slice(&self, len: usize) -> std::ops::Range<usize> {
        let start = (self.index - 1) * len / self.parts;
        let end = self.index * len / self.parts;
        start..end
    }
}

impl FromStr for KeyRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("bad key range {text:?}: expected i/n with 1 <= i <= n, e.g. 1/2");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let parts: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || parts == 0 || index > parts {
            return Err(bad());
        }
        Ok(KeyRange { index, parts })
    }
}

impl std::fmt::Display for KeyRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.parts)
    }
}

/// One run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Nodes and keys.
    pub target: Target,
    /// Offered rate: scheduled sends per second.
    pub tps: f64,
    /// When the measured part ends.
    pub stop: Stop,
    /// Sent before the measured part, excluded from the statistics.
    pub warmup: Duration,
    /// At most this many transactions unsettled at once (closed loop).
    pub inflight: Option<usize>,
    /// Inputs per transaction (signed by different keys when the pool has
    /// that many keys).
    pub inputs: usize,
    /// Outputs per transaction.
    pub outputs: usize,
    /// Seeds every random choice (double-spend slots, output splits).
    pub seed: u64,
    /// Percent of sends that are conflicting pairs sent to two nodes.
    pub double_spend_pct: f64,
    /// A transaction without a fate this long after its intended send time
    /// is timed out.
    pub timeout: Duration,
    /// The share of the pool keys to use.
    pub keys: KeyRange,
    /// Where to write the files (none: summary only).
    pub out: Option<PathBuf>,
    /// The service-level objective to check.
    pub slo: Option<Slo>,
    /// Show the live progress line (when stderr is a terminal).
    pub progress: bool,
    /// Signing worker threads.
    pub workers: usize,
    /// The command line, for the run metadata.
    pub command_line: Vec<String>,
}

impl RunConfig {
    /// A configuration with the defaults of the CLI for `target`.
    pub fn new(target: Target) -> RunConfig {
        RunConfig {
            target,
            tps: 100.0,
            stop: Stop::Duration(Duration::from_secs(30)),
            warmup: Duration::ZERO,
            inflight: None,
            inputs: 2,
            outputs: 2,
            seed: 1,
            double_spend_pct: 0.0,
            timeout: Duration::from_secs(30),
            keys: KeyRange::ALL,
            out: None,
            slo: None,
            progress: false,
            workers: 2,
            command_line: Vec::new(),
        }
    }

    /// Checks the values that need no node to check.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        let usage = |m: String| Err(LoadgenError::Usage(m));
        if !(self.tps.is_finite() && self.tps > 0.0) {
            return usage(format!(
                "the rate must be above 0 tx/s, got {} (pass --tps N)",
                self.tps
            ));
        }
        if self.tps > 1_000_000.0 {
            return usage(format!(
                "a rate of {} tx/s is beyond what loadgen schedules (1,000,000)",
                self.tps
            ));
        }
        match self.stop {
            Stop::Duration(d) if d.is_zero() => {
                return usage("the duration must be above 0 (pass --duration 30s)".into());
            }
            Stop::Count(0) => return usage("the count must be above 0 (pass --count N)".into()),
            _ => {}
        }
        if self.inputs == 0 || self.inputs > 256 {
            return usage(format!("--inputs must be 1..=256, got {}", self.inputs));
        }
        if self.outputs == 0 || self.outputs > 256 {
            return usage(format!("--outputs must be 1..=256, got {}", self.outputs));
        }
        if !(0.0..=100.0).contains(&self.double_spend_pct) {
            return usage(format!(
                "--double-spend-pct must be 0..=100, got {}",
                self.double_spend_pct
            ));
        }
        if self.inflight == Some(0) {
            return usage("--inflight must be at least 1".into());
        }
        if self.timeout.is_zero() {
            return usage("--timeout must be above 0".into());
        }
        if self.workers == 0 {
            return usage("--workers must be at least 1".into());
        }
        if let Target::Rpc { urls, key_files, datadir, dev_wallet, token_file } = &self.target {
            if urls.is_empty() && datadir.is_none() {
                return usage(
                    "--rpc needs at least one URL (or pass --datadir of a timed --dev node)".into(),
                );
            }
            if urls.is_empty() && token_file.is_some() {
                return usage(TOKEN_FILE_NEEDS_RPC.into());
            }
            if key_files.is_empty() && !(*dev_wallet && datadir.is_some()) {
                return usage(
                    "with --rpc, name the keys that pay: --keys FILE... or --wallet with --datadir DIR (the dev wallet of timed --dev)"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The interval between scheduled sends.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.tps)
    }

    /// Scheduled sends in the measured part.
    pub fn measured_slots(&self) -> u64 {
        match self.stop {
            Stop::Count(n) => n,
            Stop::Duration(d) => ((d.as_secs_f64() * self.tps).round() as u64).max(1),
        }
    }

    /// Scheduled sends in the warm-up.
    pub fn warmup_slots(&self) -> u64 {
        (self.warmup.as_secs_f64() * self.tps).round() as u64
    }

    /// Length of the measured part.
    pub fn measured_duration(&self) -> Duration {
        Duration::from_secs_f64(self.measured_slots() as f64 / self.tps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_are_disjoint_and_cover_the_pool() {
        for len in [1, 7, 32, 33] {
            for parts in 1..=5 {
                let mut covered = Vec::new();
                for index in 1..=parts {
                    covered.extend(KeyRange { index, parts }.slice(len));
                }
                assert_eq!(covered, (0..len).collect::<Vec<_>>(), "len {len} parts {parts}");
            }
        }
        assert_eq!("2/3".parse::<KeyRange>(), Ok(KeyRange { index: 2, parts: 3 }));
        assert!("0/3".parse::<KeyRange>().is_err());
        assert!("4/3".parse::<KeyRange>().is_err());
        assert!("a/b".parse::<KeyRange>().is_err());
    }

    #[test]
    fn a_rate_of_zero_is_a_usage_error() {
        let mut config = RunConfig::new(Target::ClusterDir {
            dir: "x".into(),
            dev_wallet: false,
            only: Vec::new(),
        });
        config.tps = 0.0;
        let err = config.validate().unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        assert!(err.to_string().contains("above 0"), "{err}");
    }
}
