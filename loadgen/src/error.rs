//! Why loadgen could not do what it was asked, and the exit code each
//! failure maps to (documented in `loadgen --help`).

use std::path::PathBuf;

use thiserror::Error;

/// Exit code: the run completed and the SLO (if any) was met.
pub const EXIT_OK: i32 = 0;
/// Exit code: the run completed and the SLO was violated.
pub const EXIT_SLO_VIOLATED: i32 = 1;
/// Exit code: bad command line or bad option values.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the run could not start (no cluster, unreachable node, too
/// few coins) or could not finish (output files).
pub const EXIT_COULD_NOT_RUN: i32 = 3;
/// Exit code: a safety check failed (a conflicting pair both final, nodes
/// disagreeing on final transactions or block hashes).
pub const EXIT_SAFETY: i32 = 4;
/// Exit code: `loadgen compare` found B worse than A beyond `--threshold`.
pub const EXIT_REGRESSION: i32 = 5;

/// Everything that stops loadgen before or while running.
#[derive(Debug, Error)]
pub enum LoadgenError {
    /// An option value is wrong (rate 0, bad SLO, bad key range ...).
    #[error("{0}")]
    Usage(String),
    /// No cluster in the directory given (or the default one).
    #[error(
        "no cluster found in {}: {reason} (start one with `timectl up --nodes 5`, pass --dir DIR, or --rpc URL --keys FILE...)",
        dir.display()
    )]
    NoCluster {
        /// The directory looked in.
        dir: PathBuf,
        /// What was missing.
        reason: String,
    },
    /// A node did not answer.
    #[error(
        "{node} is unreachable at {url}: {reason} (is the cluster running? `timectl status` tells)"
    )]
    Unreachable {
        /// The node's name.
        node: String,
        /// Its RPC URL.
        url: String,
        /// The cause.
        reason: String,
    },
    /// A node refused loadgen's credentials (HTTP 401 or 403).
    #[error(
        "{node} at {url} refused loadgen's credentials (authentication failed: {reason}): {hint}"
    )]
    Unauthorized {
        /// The node's name.
        node: String,
        /// Its RPC URL.
        url: String,
        /// What the node answered.
        reason: String,
        /// What to pass instead.
        hint: String,
    },
    /// The nodes are not of one chain.
    #[error("{0}")]
    Mismatch(String),
    /// Keys could not be loaded.
    #[error("cannot load the keys: {0}")]
    Keys(String),
    /// The pool cannot carry the plan.
    #[error("too few coins for the plan: {0}")]
    TooFewCoins(String),
    /// Writing the output files failed.
    #[error("cannot write {}: {reason}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Reading an input file failed: a previous run's (`compare`), or the
    /// `--rpc-token-file`.
    #[error("cannot read {}: {reason}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Something failed mid-run that loadgen cannot recover from.
    #[error("{0}")]
    Run(String),
}

impl LoadgenError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            LoadgenError::Usage(_) => EXIT_USAGE,
            _ => EXIT_COULD_NOT_RUN,
        }
    }

    /// Shorthand for an output error.
    pub(crate) fn output(path: &std::path::Path, e: impl std::fmt::Display) -> LoadgenError {
        LoadgenError::Output { path: path.to_path_buf(), reason: e.to_string() }
    }
}
