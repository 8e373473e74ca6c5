//! The per-cluster agent: a small detached process (started by
//! `timectl up`) that owns the nodes and the link proxies. It supervises the
//! nodes (records each exit with its code and time in `exits.log`, never
//! restarts one silently), logs fault events to `faults.log`, and serves the
//! control socket. One owner loop holds the [`Cluster`]; connections hand it
//! requests over a channel.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use hostio::now_ms;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::cluster::Cluster;
use crate::control::{
    AgentNode, EXITS_FILE, ExitRecord, FAULTS_FILE, LinkState, NodeState, PID_FILE, Request,
    Response, socket_path,
};
use crate::create::ClusterSpec;
use crate::error::ClusterError;
use crate::layout::Layout;
use crate::proxy::LinkFaults;

fn append_json(path: &Path, value: &impl Serialize) {
    let Ok(line) = serde_json::to_string(value) else { return };
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(mut file) => {
            let _ = writeln!(file, "{line}");
        }
        Err(e) => warn!("cannot append to {}: {e}", path.display()),
    }
}

#[derive(Serialize)]
struct FaultEvent<'a> {
    at_ms: u64,
    event: &'a str,
}

/// Records a fault event (also used by `timectl faults run`).
pub fn log_fault(layout: &Layout, event: &str) {
    append_json(&layout.dir().join(FAULTS_FILE), &FaultEvent { at_ms: now_ms(), event });
}

struct Agent {
    cluster: Cluster,
    paused: BTreeSet<usize>,
    last_exit: Vec<Option<ExitRecord>>,
}

impl Agent {
    fn exit_record(&self, i: usize, status: Option<ExitStatus>, cause: &str) -> ExitRecord {
        ExitRecord {
            node: self.cluster.names()[i].clone(),
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            at_ms: now_ms(),
            cause: cause.to_string(),
        }
    }

    fn record_exit(&mut self, i: usize, status: Option<ExitStatus>, cause: &str) {
        let record = self.exit_record(i, status, cause);
        append_json(&self.cluster.layout().dir().join(EXITS_FILE), &record);
        info!(node = %record.node, code = ?record.code, signal = ?record.signal, cause, "node exited");
        self.paused.remove(&i);
        self.last_exit[i] = Some(record);
    }

    fn nodes(&mut self) -> Vec<AgentNode> {
        (0..self.cluster.len())
            .map(|i| {
                let pid = self.cluster.node_pid(i);
                let state = match (pid, self.paused.contains(&i)) {
                    (Some(_), true) => NodeState::Paused,
                    (Some(_), false) => NodeState::Running,
                    (None, _) => NodeState::Stopped,
                };
                AgentNode {
                    name: self.cluster.names()[i].clone(),
                    pid,
                    state,
                    last_exit: self.last_exit[i].clone(),
                }
            })
            .collect()
    }

    fn links(&self) -> Vec<LinkState> {
        self.cluster
            .proxies()
            .iter()
            .map(|p| LinkState {
                from: p.from.clone(),
                to: p.to.clone(),
                proxy: p.listen.to_string(),
                faults: p.faults(),
            })
            .collect()
    }

    fn ok(&mut self) -> Response {
        Response { ok: true, error: None, nodes: self.nodes(), links: Vec::new() }
    }

    fn fault(&self, event: &str) {
        log_fault(self.cluster.layout(), event);
    }

    async fn handle(&mut self, request: Request) -> (Response, bool) {
        let result = self.apply(&request).await;
        let stop = matches!(request, Request::Down);
        let response = match result {
            Ok(mut response) => {
                if response.nodes.is_empty() {
                    response.nodes = self.nodes();
                }
                response
            }
            Err(e) => Response::error(e.to_string()),
        };
        (response, stop)
    }

    async fn apply(&mut self, request: &Request) -> Result<Response, ClusterError> {
        match request {
            Request::Ping | Request::Nodes => Ok(self.ok()),
            Request::Start { node } => {
                let i = self.cluster.index_of(node)?;
                self.cluster.start_node(i).await?;
                self.fault(&format!("start {node}"));
                Ok(self.ok())
            }
            Request::Stop { node } => {
                let i = self.cluster.index_of(node)?;
                if let Some(status) = self.cluster.stop_node(i).await? {
                    self.record_exit(i, Some(status), "agent");
                }
                self.fault(&format!("stop {node}"));
                Ok(self.ok())
            }
            Request::Restart { node } => {
                let i = self.cluster.index_of(node)?;
                if let Some(status) = self.cluster.stop_node(i).await? {
                    self.record_exit(i, Some(status), "agent");
                }
                self.cluster.start_node(i).await?;
                self.fault(&format!("restart {node}"));
                Ok(self.ok())
            }
            Request::Kill { node } => {
                let i = self.cluster.index_of(node)?;
                let status = self.cluster.kill_node(i).await?;
                self.record_exit(i, status, "agent");
                self.fault(&format!("kill {node}"));
                Ok(self.ok())
            }
            Request::Pause { node } => {
                let i = self.cluster.index_of(node)?;
                self.cluster.pause_node(i)?;
                self.paused.insert(i);
                self.fault(&format!("pause {node}"));
                Ok(self.ok())
            }
            Request::Resume { node } => {
                let i = self.cluster.index_of(node)?;
                self.cluster.resume_node(i)?;
                self.paused.remove(&i);
                self.fault(&format!("resume {node}"));
                Ok(self.ok())
            }
            Request::Partition { groups } => {
                let mut indexes: Vec<Vec<usize>> = Vec::new();
                let mut seen = BTreeSet::new();
                for group in groups {
                    let mut members = Vec::new();
                    for name in group {
                        let i = self.cluster.index_of(name)?;
                        if !seen.insert(i) {
                            return Err(ClusterError::Process(format!(
                                "{name} is named twice in the partition; each node belongs to one side"
                            )));
                        }
                        members.push(i);
                    }
                    indexes.push(members);
                }
                let slices: Vec<&[usize]> = indexes.iter().map(Vec::as_slice).collect();
                self.cluster.partition(&slices);
                let text = groups.iter().map(|g| g.join(",")).collect::<Vec<_>>().join(" / ");
                self.fault(&format!("partition {text}"));
                Ok(Response { links: self.links(), ..self.ok() })
            }
            Request::Heal => {
                self.cluster.heal();
                self.fault("heal");
                Ok(Response { links: self.links(), ..self.ok() })
            }
            Request::SetFaults { links, faults } => {
                for (from, to) in links {
                    let (a, b) = (self.cluster.index_of(from)?, self.cluster.index_of(to)?);
                    self.cluster.set_faults(a, b, faults.clone());
                }
                self.fault(&describe_faults(links, faults));
                Ok(Response { links: self.links(), ..self.ok() })
            }
            Request::Links => Ok(Response { links: self.links(), ..self.ok() }),
            Request::Note { event } => {
                self.fault(event);
                Ok(self.ok())
            }
            Request::Down => {
                // Every node gets its stop even when one cannot be stopped
                // (a pid that is not our timed); the agent exits either way
                // and the answer names what it could not stop.
                let mut problems = Vec::new();
                for i in 0..self.cluster.len() {
                    if self.paused.remove(&i) {
                        let _ = self.cluster.resume_node(i);
                    }
                    match self.cluster.stop_node(i).await {
                        Ok(Some(status)) => self.record_exit(i, Some(status), "agent"),
                        Ok(None) => {}
                        Err(e) => problems.push(e.to_string()),
                    }
                }
                self.fault("down");
                if problems.is_empty() {
                    Ok(self.ok())
                } else {
                    Err(ClusterError::Process(format!(
                        "down: the agent stopped, but {}",
                        problems.join("; ")
                    )))
                }
            }
        }
    }
}

fn describe_faults(links: &[(String, String)], faults: &LinkFaults) -> String {
    format!("{faults} on {} link(s)", links.len())
}

/// A request, where its answer goes, and a signal the connection gives
/// once that answer is written (or the client is gone): the agent waits for
/// it before exiting on `down`, or the answer would die with the process.
type Job = (Request, oneshot::Sender<Response>, oneshot::Receiver<()>);

/// Runs the agent for the cluster in `dir` (creating it from `create` when
/// given) until a `down` request or SIGTERM.
pub async fn run_agent(dir: &Path, create: Option<ClusterSpec>) -> Result<(), ClusterError> {
    let layout = Layout::new(dir);
    let cluster = match &create {
        Some(spec) if !layout.cluster_file().exists() => Cluster::create(dir, spec).await?,
        _ => Cluster::open(dir).await?,
    };
    let pid_path = dir.join(PID_FILE);
    std::fs::write(&pid_path, format!("{}\n", std::process::id()))
        .map_err(|source| ClusterError::Io { path: pid_path.clone(), source })?;
    let socket = socket_path(&layout);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(|source| ClusterError::Io { path: socket.clone(), source })?;
    let n = cluster.len();
    let mut agent = Agent { cluster, paused: BTreeSet::new(), last_exit: vec![None; n] };
    if let Err(e) = agent.cluster.start_all().await {
        warn!("starting the nodes: {e}");
    }
    let (job_sender, mut job_inbox) = mpsc::channel::<Job>(64);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let jobs = job_sender.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let (response, written) = match serde_json::from_str::<Request>(&line) {
                        Ok(request) => {
                            let (reply, answer) = oneshot::channel();
                            let (written, wait_written) = oneshot::channel();
                            if jobs.send((request, reply, wait_written)).await.is_err() {
                                break;
                            }
                            let response = answer
                                .await
                                .unwrap_or_else(|_| Response::error("the agent is stopping"));
                            (response, Some(written))
                        }
                        Err(e) => (Response::error(format!("unreadable request: {e}")), None),
                    };
                    let Ok(mut text) = serde_json::to_string(&response) else { break };
                    text.push('\n');
                    let sent = write.write_all(text.as_bytes()).await;
                    if let Some(written) = written {
                        let _ = written.send(());
                    }
                    if sent.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| ClusterError::Io { path: socket.clone(), source })?;
    let mut reap = tokio::time::interval(Duration::from_millis(200));
    info!(dir = %dir.display(), "agent running");
    loop {
        tokio::select! {
            job = job_inbox.recv() => {
                let Some((request, reply, written)) = job else { break };
                let (response, stop) = agent.handle(request).await;
                let _ = reply.send(response);
                if stop {
                    // Resolves when written, or at once if the client left.
                    let _ = tokio::time::timeout(Duration::from_secs(5), written).await;
                    break;
                }
            }
            _ = reap.tick() => {
                // The cluster directory was removed under us (`rm -rf`):
                // nothing can reach this agent any more, so it stops its
                // nodes and exits instead of living on as an orphan.
                if !layout.cluster_file().exists() {
                    warn!(dir = %dir.display(), "cluster directory removed: stopping the nodes");
                    let _ = agent.handle(Request::Down).await;
                    break;
                }
                for (i, status) in agent.cluster.reap() {
                    agent.record_exit(i, Some(status), "itself");
                }
            }
            _ = term.recv() => {
                info!("SIGTERM: stopping the nodes");
                let _ = agent.handle(Request::Down).await;
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&pid_path);
    agent.cluster.shutdown().await
}
