//! Bringing a cluster up and down (`timectl up`, `timectl down`). Up:
//! checks, the agent started (by the caller, which knows how) and awaited,
//! every stopped node started and paused one resumed, then readiness. Down:
//! through the agent when it runs, else by stopping the nodes left running,
//! after checking each pid. `timectl` maps the outcomes to its output and
//! exit codes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::binaries::MissingBinary;
use crate::control::{self, AgentNode, NodeState, Request, Response};
use crate::error::ClusterError;
use crate::health::{ClusterView, ReadyReport, wait_ready};
use crate::layout::Layout;
use crate::process::{self, Signal};

/// How long `up` waits for the agent it started to answer.
pub const AGENT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// A request to the agent that failed.
#[derive(Debug, Error)]
pub enum AskError {
    /// The agent answered, but refused or failed (its message).
    #[error("{0}")]
    Refused(String),
    /// The agent could not be reached, or answered nonsense.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Sends `request` to the agent (60 s for its answer); a refusal is an error.
pub async fn ask(layout: &Layout, request: &Request) -> Result<Response, AskError> {
    let response = control::request(layout, request, Duration::from_secs(60)).await?;
    if response.ok {
        Ok(response)
    } else {
        Err(AskError::Refused(
            response.error.unwrap_or_else(|| "the agent refused the request".into()),
        ))
    }
}

/// Why `up` failed.
#[derive(Debug, Error)]
pub enum UpError {
    /// The directory holds a cluster of another size.
    #[error(
        "{} already holds a {nodes}-node cluster; use it as is (`timectl up`), or `timectl down --wipe` first, or pass another --dir",
        dir.display()
    )]
    OtherSize {
        /// The directory.
        dir: PathBuf,
        /// The nodes of the cluster in it.
        nodes: usize,
    },
    /// The directory holds something else.
    #[error(
        "{} is not empty and holds no cluster.json; pass another --dir, or remove it",
        dir.display()
    )]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// No `timed` to run.
    #[error(transparent)]
    Binary(#[from] MissingBinary),
    /// The cluster's files could not be read.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The agent could not be started.
    #[error("{0}")]
    Spawn(String),
    /// The agent started but did not answer in time.
    #[error("the agent did not start within 30 s; its log ({}):\n{tail}", log.display())]
    AgentSilent {
        /// Its log.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
    /// A stopped node could not be started (the agent keeps running).
    #[error("{cause}")]
    Start {
        /// The node.
        node: String,
        /// Why.
        cause: AskError,
    },
    /// A request to the agent failed.
    #[error(transparent)]
    Ask(#[from] AskError),
    /// The cluster runs but was not ready in time.
    #[error("{0}")]
    NotReady(ClusterError),
}

/// A cluster that is up and ready.
#[derive(Clone, Debug)]
pub struct UpReport {
    /// The cluster.
    pub view: ClusterView,
    /// Its nodes, as the agent sees them once ready.
    pub nodes: Vec<AgentNode>,
    /// How readiness went.
    pub ready: ReadyReport,
}

/// What `up` may do in `layout` with `nodes` nodes asked for (`default_nodes`
/// is the count when none was asked for: any existing cluster then does):
/// `Ok(true)` to resume the cluster there, `Ok(false)` to create one.
pub fn check_up(layout: &Layout, nodes: usize, default_nodes: usize) -> Result<bool, UpError> {
    if layout.cluster_file().exists() {
        let view = ClusterView::load(layout)?;
        if view.file.nodes.len() != nodes && nodes != default_nodes {
            return Err(UpError::OtherSize {
                dir: layout.dir().to_path_buf(),
                nodes: view.file.nodes.len(),
            });
        }
        return Ok(true);
    }
    if layout.dir().exists()
        && std::fs::read_dir(layout.dir()).map(|mut d| d.next().is_some()).unwrap_or(false)
    {
        return Err(UpError::NotEmpty { dir: layout.dir().to_path_buf() });
    }
    crate::binaries::timed()?;
    Ok(false)
}

/// Brings the cluster in `layout` up: starts its agent with `spawn_agent`
/// unless one answers (and waits up to [`AGENT_START_TIMEOUT`] for it),
/// starts every stopped node and resumes every paused one, then waits up to
/// `timeout` until the honest nodes are ready. `progress` hears each step.
pub async fn up(
    layout: &Layout,
    spawn_agent: impl FnOnce() -> Result<(), String>,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> Result<UpReport, UpError> {
    if control::ping(layout).await.is_none() {
        spawn_agent().map_err(UpError::Spawn)?;
        let deadline = Instant::now() + AGENT_START_TIMEOUT;
        while control::ping(layout).await.is_none() {
            if Instant::now() > deadline {
                let log = layout.dir().join(control::LOG_FILE);
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(UpError::AgentSilent { log, tail });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Bring up any node that is not running (idempotent up, recovery).
    let response = ask(layout, &Request::Nodes).await?;
    for node in response.nodes.iter().filter(|n| n.state == NodeState::Stopped) {
        progress(&format!("starting {}", node.name));
        ask(layout, &Request::Start { node: node.name.clone() })
            .await
            .map_err(|cause| UpError::Start { node: node.name.clone(), cause })?;
    }
    for node in response.nodes.iter().filter(|n| n.state == NodeState::Paused) {
        ask(layout, &Request::Resume { node: node.name.clone() }).await?;
    }
    progress("waiting until ready (quorum, probe final everywhere, a block)");
    let view = ClusterView::load(layout)?;
    // A Byzantine member's readiness is no promise (a replaying one is
    // banned before it ever commits a block): wait for the honest nodes.
    let live: Vec<usize> = (0..view.file.nodes.len())
        .filter(|&i| !layout.byzantine_file(&view.file.nodes[i].name).exists())
        .collect();
    let ready = wait_ready(&view, &live, timeout).await.map_err(UpError::NotReady)?;
    let nodes = ask(layout, &Request::Nodes).await?.nodes;
    Ok(UpReport { view, nodes, ready })
}

/// How long `down` waits for the agent to exit after its answer.
pub const AGENT_EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `down` without an agent waits for a node's SIGTERM before its
/// SIGKILL.
pub const NODE_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// What `down` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownReport {
    /// True when the agent stopped the nodes (else no agent ran, and the
    /// nodes left running were signalled directly).
    pub via_agent: bool,
    /// True when the directory was deleted.
    pub wiped: bool,
}

/// Why `down` failed.
#[derive(Debug, Error)]
pub enum DownError {
    /// `--wipe` of a directory that holds no cluster.
    #[error("{} holds no cluster.json; not deleting it", dir.display())]
    NotDeleting {
        /// The directory.
        dir: PathBuf,
    },
    /// No cluster to stop.
    #[error("no cluster in {} (nothing to stop)", dir.display())]
    NoCluster {
        /// The directory.
        dir: PathBuf,
    },
    /// The agent answered, but refused or failed (its message).
    #[error("{0}")]
    Refused(String),
    /// Reaching the agent or reading the cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The directory could not be deleted.
    #[error("cannot delete {}: {source}", dir.display())]
    Wipe {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Stops every node and the agent of the cluster in `layout` (waiting for
/// the agent to exit), or, with no agent, the nodes left running (SIGTERM,
/// then SIGKILL after [`NODE_STOP_TIMEOUT`]; a pid that is not the node's
/// `timed` is left alone). With `wipe`, then deletes the directory.
pub async fn down(layout: &Layout, wipe: bool) -> Result<DownReport, DownError> {
    if !layout.cluster_file().exists() {
        let dir = layout.dir().to_path_buf();
        if wipe && layout.dir().exists() {
            return Err(DownError::NotDeleting { dir });
        }
        return Err(DownError::NoCluster { dir });
    }
    let agent_pid = control::read_agent_pid(layout);
    let via_agent = control::ping(layout).await.is_some();
    if via_agent {
        let response = control::request(layout, &Request::Down, Duration::from_secs(60)).await?;
        if !response.ok {
            return Err(DownError::Refused(
                response.error.unwrap_or_else(|| "the agent refused the request".into()),
            ));
        }
        // Wait for the agent itself to exit.
        if let Some(pid) = agent_pid {
            let deadline = Instant::now() + AGENT_EXIT_TIMEOUT;
            while process::pid_exists(pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    } else {
        let view = ClusterView::load(layout)?;
        for name in view.names() {
            if let Some(pid) = process::read_pid(layout, &name) {
                stop_orphan(layout, &name, pid).await;
            }
        }
    }
    if wipe {
        std::fs::remove_dir_all(layout.dir())
            .map_err(|source| DownError::Wipe { dir: layout.dir().to_path_buf(), source })?;
    }
    Ok(DownReport { via_agent, wiped: wipe })
}

/// Stops node `name`'s `timed` at `pid` with no agent to do it, if `pid`
/// is that: SIGTERM, then SIGKILL if it has not exited in time.
async fn stop_orphan(layout: &Layout, name: &str, pid: u32) {
    let config = layout.config(name);
    if !process::is_our_timed(pid, &config) {
        return;
    }
    let _ = process::signal_node(layout, name, pid, Signal::Term);
    let deadline = Instant::now() + NODE_STOP_TIMEOUT;
    while process::is_our_timed(pid, &config) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if process::is_our_timed(pid, &config) {
        let _ = process::signal_node(layout, name, pid, Signal::Kill);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn down_without_a_cluster_stops_nothing_and_deletes_nothing() {
        let temp = tempfile::tempdir().expect("temp dir");
        std::fs::write(temp.path().join("keep"), "mine").expect("file");
        let layout = Layout::new(temp.path());
        let refused = down(&layout, true).await.expect_err("no cluster.json");
        assert!(matches!(refused, DownError::NotDeleting { .. }), "{refused}");
        assert!(refused.to_string().ends_with("holds no cluster.json; not deleting it"));
        assert!(temp.path().join("keep").exists());
        let absent = Layout::new(temp.path().join("absent"));
        let none = down(&absent, true).await.expect_err("nothing there");
        assert!(matches!(none, DownError::NoCluster { .. }), "{none}");
        assert!(none.to_string().ends_with("(nothing to stop)"));
    }
}
