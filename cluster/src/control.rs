//! The agent's control protocol: one JSON request per line on the Unix
//! socket `<cluster dir>/agent.sock`, one JSON response per line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::error::ClusterError;
use crate::layout::Layout;
use crate::proxy::LinkFaults;

/// The socket's file name in the cluster directory.
pub const SOCKET: &str = "agent.sock";
/// The agent's pid file name.
pub const PID_FILE: &str = "agent.pid";
/// The agent's log file name.
pub const LOG_FILE: &str = "agent.log";
/// Node exits, one JSON object per line.
pub const EXITS_FILE: &str = "exits.log";
/// Fault events, one JSON object per line (`{"at_ms", "event"}`): loadgen
/// marks them in its report.
pub const FAULTS_FILE: &str = "faults.log";

/// The socket path of the cluster in `layout`.
pub fn socket_path(layout: &Layout) -> PathBuf {
    layout.dir().join(SOCKET)
}

/// A request to the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Are you there?
    Ping,
    /// Process state of every node.
    Nodes,
    /// Start a node.
    Start {
        /// Its name.
        node: String,
    },
    /// Stop a node (SIGTERM).
    Stop {
        /// Its name.
        node: String,
    },
    /// Stop and start a node.
    Restart {
        /// Its name.
        node: String,
    },
    /// Kill a node (SIGKILL).
    Kill {
        /// Its name.
        node: String,
    },
    /// Pause a node (SIGSTOP).
    Pause {
        /// Its name.
        node: String,
    },
    /// Resume a node (SIGCONT).
    Resume {
        /// Its name.
        node: String,
    },
    /// Cut every link between groups.
    Partition {
        /// Node names per group.
        groups: Vec<Vec<String>>,
    },
    /// Clear every fault.
    Heal,
    /// Set faults on directed links.
    SetFaults {
        /// (from, to) node names.
        links: Vec<(String, String)>,
        /// The faults.
        faults: LinkFaults,
    },
    /// Faults of every link.
    Links,
    /// Record an event in the fault log (used by `faults run`).
    Note {
        /// The text.
        event: String,
    },
    /// Stop every node and exit.
    Down,
}

/// A node's process state, as the agent reports it (on the wire and in
/// `--json` outputs: `running`, `paused`, `stopped`; `unknown` where the
/// agent is not running to say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Its process runs.
    Running,
    /// Its process is stopped by SIGSTOP.
    Paused,
    /// No process.
    Stopped,
    /// Not known: the agent, which knows, is not running (never sent by the
    /// agent itself).
    Unknown,
}

impl NodeState {
    /// The word on the wire: `running`, `paused`, `stopped`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Running => "running",
            NodeState::Paused => "paused",
            NodeState::Stopped => "stopped",
            NodeState::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node as the agent sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentNode {
    /// Name.
    pub name: String,
    /// Process id, when running.
    pub pid: Option<u32>,
    /// Running, paused or stopped.
    pub state: NodeState,
    /// Its last exit, if it stopped.
    pub last_exit: Option<ExitRecord>,
}

/// A node exit the agent recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The node.
    pub node: String,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal, if one killed it.
    pub signal: Option<i32>,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// Who caused it: `agent` (stop, kill, restart, down) or `itself`.
    pub cause: String,
}

/// `exit 1 (itself)`, `signal 9 (agent)`.
impl std::fmt::Display for ExitRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit {code} ({})", self.cause),
            (None, Some(signal)) => write!(f, "signal {signal} ({})", self.cause),
            _ => write!(f, "gone ({})", self.cause),
        }
    }
}

/// One link's faults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkState {
    /// Dialling node.
    pub from: String,
    /// Node dialled.
    pub to: String,
    /// Proxy address.
    pub proxy: String,
    /// Faults now.
    pub faults: LinkFaults,
}

/// The agent's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// True when the request was carried out.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Node states (for most requests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<AgentNode>,
    /// Link states (for `links` and fault requests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkState>,
}

impl Response {
    /// A failure.
    pub fn error(message: impl Into<String>) -> Response {
        Response { ok: false, error: Some(message.into()), nodes: Vec::new(), links: Vec::new() }
    }
}

/// Sends one request to the agent of the cluster in `layout` and waits for
/// its answer (up to `timeout`).
pub async fn request(
    layout: &Layout,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ClusterError> {
    let path = socket_path(layout);
    let work = async {
        let stream = UnixStream::connect(&path).await.map_err(|e| agent_gone(&path, e))?;
        let (read, mut write) = stream.into_split();
        let mut line =
            serde_json::to_string(request).map_err(|e| ClusterError::Process(e.to_string()))?;
        line.push('\n');
        write.write_all(line.as_bytes()).await.map_err(|e| agent_gone(&path, e))?;
        let mut answer = String::new();
        BufReader::new(read).read_line(&mut answer).await.map_err(|e| agent_gone(&path, e))?;
        serde_json::from_str::<Response>(&answer).map_err(|e| {
            ClusterError::Process(format!(
                "the agent answered something unreadable ({e}): {answer:?}"
            ))
        })
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        ClusterError::Process(format!(
            "the agent at {} did not answer within {timeout:?}",
            path.display()
        ))
    })?
}

/// The agent's answer to a ping (within 3 s), `None` when it is not running.
pub async fn ping(layout: &Layout) -> Option<Response> {
    request(layout, &Request::Ping, Duration::from_secs(3)).await.ok()
}

/// The pid in the agent's pid file, if any.
pub fn read_agent_pid(layout: &Layout) -> Option<u32> {
    std::fs::read_to_string(layout.dir().join(PID_FILE)).ok()?.trim().parse().ok()
}

fn agent_gone(path: &Path, e: std::io::Error) -> ClusterError {
    ClusterError::AgentGone { socket: path.to_path_buf(), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_faults_and_exits_read_as_words() {
        assert_eq!(LinkFaults::default().to_string(), "clear");
        let faults = LinkFaults {
            cut: true,
            delay_ms: 50,
            jitter_ms: 10,
            loss_pct: 5.0,
            bandwidth_bps: Some(1000),
        };
        assert_eq!(faults.to_string(), "cut, delay 50ms jitter 10ms, loss 5%, bandwidth 1000 B/s");
        let exit = |code, signal| ExitRecord {
            node: "node3".into(),
            code,
            signal,
            at_ms: 0,
            cause: "agent".into(),
        };
        assert_eq!(exit(None, Some(9)).to_string(), "signal 9 (agent)");
        assert_eq!(exit(Some(1), None).to_string(), "exit 1 (agent)");
        assert_eq!(exit(None, None).to_string(), "gone (agent)");
    }

    #[test]
    fn node_states_are_the_same_words_on_the_wire() {
        for (state, word) in [
            (NodeState::Running, "running"),
            (NodeState::Paused, "paused"),
            (NodeState::Stopped, "stopped"),
            (NodeState::Unknown, "unknown"),
        ] {
            assert_eq!(serde_json::to_string(&state).unwrap(), format!("\"{word}\""));
            assert_eq!(serde_json::from_str::<NodeState>(&format!("\"{word}\"")).unwrap(), state);
            assert_eq!(state.to_string(), word);
        }
        let node = AgentNode {
            name: "node1".into(),
            pid: None,
            state: NodeState::Stopped,
            last_exit: None,
        };
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"{"name":"node1","pid":null,"state":"stopped","last_exit":null}"#
        );
    }
}
