//! Finding the built binaries (`timed`, `time-cli`, ...): the one mechanism
//! every end-to-end test and `timectl` use.
//!
//! 1. `TIMECOIN_BIN_DIR`, if set (the Makefile sets it to the target dir it
//!    just built, e.g. `target/debug`).
//! 2. Otherwise the directory of the running executable, and its parent:
//!    a test binary lives in `target/<profile>/deps/`, `timectl` in
//!    `target/<profile>/`, next to `timed`.
//!
//! A missing binary is an error that says how to build it.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// The environment variable naming the directory of the built binaries.
pub const BIN_DIR_ENV: &str = "TIMECOIN_BIN_DIR";

/// A binary could not be found.
#[derive(Debug, Error)]
#[error(
    "cannot find the `{name}` binary (looked in {looked}); build it with `cargo build --workspace` (or `make build`), or set {BIN_DIR_ENV} to the directory that holds it"
)]
pub struct MissingBinary {
    /// The binary's name.
    pub name: String,
    /// Where it looked.
    pub looked: String,
}

/// The directories searched, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        // Absolute, so that processes started elsewhere (the agent, whose
        // working directory differs) find the same binaries.
        let dir = PathBuf::from(dir);
        dirs.push(std::path::absolute(&dir).unwrap_or(dir));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
        if let Some(parent) = dir.parent() {
            dirs.push(parent.to_path_buf());
        }
    }
    dirs
}

/// The path of binary `name`.
pub fn find(name: &str) -> Result<PathBuf, MissingBinary> {
    let dirs = search_dirs();
    for dir in &dirs {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(MissingBinary {
        name: name.to_string(),
        looked: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
    })
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The `timed` binary.
pub fn timed() -> Result<PathBuf, MissingBinary> {
    find("timed")
}
