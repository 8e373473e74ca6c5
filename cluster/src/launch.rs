//! Starting a cluster's agent as a process of its own: the running program
//! (`timectl`, whose hidden `agent` subcommand runs
//! [`run_agent`](crate::agent::run_agent)) again, with the arguments the
//! caller gives, in its own process group so that it outlives the caller,
//! and with its output appended to `agent.log` in the cluster directory.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;

use thiserror::Error;

use crate::control;
use crate::layout::Layout;

/// Why the agent could not be started. Each message names what was being
/// done; the cause is the [source](std::error::Error::source).
#[derive(Debug, Error)]
pub enum LaunchError {
    /// The cluster directory could not be created.
    #[error("cannot create {}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The running program's binary could not be found.
    #[error("cannot find the timectl binary")]
    Program {
        /// The cause.
        source: std::io::Error,
    },
    /// The agent's log could not be opened (or its handle duplicated).
    #[error("cannot open {}", path.display())]
    Log {
        /// The log.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The second handle on the log, for the agent's stderr.
    #[error(transparent)]
    LogHandle(std::io::Error),
    /// The process could not be started.
    #[error("cannot start the agent")]
    Spawn {
        /// The cause.
        source: std::io::Error,
    },
}

/// Starts the running program with `args` (which should make it the agent
/// of the cluster in `layout`) and returns without waiting for it: the
/// directory is created, and the agent's stdout and stderr go to its log.
pub fn spawn_agent(layout: &Layout, args: &[OsString]) -> Result<(), LaunchError> {
    std::fs::create_dir_all(layout.dir())
        .map_err(|source| LaunchError::CreateDir { dir: layout.dir().to_path_buf(), source })?;
    let program = std::env::current_exe().map_err(|source| LaunchError::Program { source })?;
    let path = layout.dir().join(control::LOG_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| LaunchError::Log { path, source })?;
    let err = log.try_clone().map_err(LaunchError::LogHandle)?;
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(0);
    command.spawn().map_err(|source| LaunchError::Spawn { source })?;
    Ok(())
}
