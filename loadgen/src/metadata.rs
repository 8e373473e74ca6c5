//! Run metadata for `summary.json`: what ran (git hash, loadgen binary
//! hash), where (CPUs, CPU model, memory), against what (nodes, genesis,
//! block interval), and how (seed, command line, options).

use std::io::Read;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The machine.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// CPU model (`/proc/cpuinfo`).
    pub cpu_model: Option<String>,
    /// Memory, bytes (`/proc/meminfo`).
    pub memory_bytes: Option<u64>,
    /// Operating system.
    pub os: String,
}

/// The cluster run against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterMeta {
    /// Node names.
    pub nodes: Vec<String>,
    /// Genesis hash.
    pub genesis_hash: String,
    /// Chain id.
    pub chain_id: u32,
    /// Block interval, ms.
    pub block_interval_ms: u64,
    /// The cluster directory, when there was one.
    pub dir: Option<String>,
    /// Committee size in genesis.
    pub committee: usize,
}

/// The options of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Offered rate.
    pub tps: f64,
    /// Measured duration, s.
    pub duration_s: f64,
    /// Measured slots.
    pub slots: u64,
    /// Warm-up, s.
    pub warmup_s: f64,
    /// Inputs per transaction.
    pub inputs: usize,
    /// Outputs per transaction.
    pub outputs: usize,
    /// In-flight cap.
    pub inflight: Option<usize>,
    /// Percent of conflicting pairs.
    pub double_spend_pct: f64,
    /// Per-transaction timeout, s.
    pub timeout_s: f64,
    /// Key range.
    pub keys: String,
    /// Keys used.
    pub keys_used: usize,
    /// The SLO, if any.
    pub slo: Option<String>,
}

/// Everything about the run that is not a measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// loadgen's version.
    pub loadgen_version: String,
    /// `git rev-parse HEAD` where loadgen ran, if in a repository.
    pub git_hash: Option<String>,
    /// SHA-256 of the loadgen executable (the test binary in tests).
    pub binary_sha256: Option<String>,
    /// The machine.
    pub machine: Machine,
    /// The cluster.
    pub cluster: ClusterMeta,
    /// The seed.
    pub seed: u64,
    /// The command line.
    pub command_line: Vec<String>,
    /// The options.
    pub options: Options,
    /// When sending started, ms since the Unix epoch.
    pub started_unix_ms: u64,
    /// When the run ended, ms since the Unix epoch.
    pub ended_unix_ms: u64,
}

/// The current commit: of the working directory's git work tree, or else
/// of the one the loadgen binary was built in (`target/<profile>/loadgen`).
pub fn git_hash() -> Option<String> {
    let here = std::env::current_dir().ok();
    let exe_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf));
    [here, exe_dir].into_iter().flatten().find_map(|dir| rev_parse(&dir))
}

fn rev_parse(dir: &Path) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).output().ok()?;
    let hash = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !hash.is_empty()).then_some(hash)
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hex::encode(hasher.finalize()))
}

/// SHA-256 of the running executable.
pub fn binary_sha256() -> Option<String> {
    file_sha256(&std::env::current_exe().ok()?)
}

/// This machine.
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_bytes = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1_024);
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model,
        memory_bytes,
        os: std::env::consts::OS.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_and_the_binary_are_described() {
        let m = machine();
        assert!(m.cpus >= 1);
        let hash = binary_sha256().unwrap();
        assert_eq!(hash.len(), 64);
    }
}
