//! Helpers for end-to-end tests: one cluster at a time on a machine (two
//! cores cannot run several clusters fairly), whatever runs the tests.
//!
//! nextest runs the cluster tests in a one-thread test group (see
//! `.config/nextest.toml`); under plain `cargo test` this lock serialises
//! them across threads and processes. The lock file lives in the system
//! temp dir.

use std::fs::File;
use std::path::PathBuf;

/// Held while a test runs a cluster; dropping it lets the next one start.
#[derive(Debug)]
pub struct ClusterLock {
    _file: File,
}

/// Waits until no other test in any process holds the cluster lock.
pub fn exclusive() -> std::io::Result<ClusterLock> {
    let path: PathBuf = std::env::temp_dir().join("timecoin-cluster-tests.lock");
    let file = File::options().create(true).truncate(false).write(true).open(&path)?;
    file.lock()?;
    Ok(ClusterLock { _file: file })
}
