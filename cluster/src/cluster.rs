//! A running local cluster: its files, its `timed` processes and its link
//! proxies, owned by one process (a test, or `timectl`'s agent).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::Child;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use client::RpcClient;
use hostio::now_ms;
use protocol::Genesis;
use protocol::rpc::NodeInfoFile;

use crate::binaries;
use crate::create::{ClusterSpec, create_files};
use crate::error::ClusterError;
use crate::layout::{ClusterFile, Layout};
use crate::process::{Listen, Signal, read_pid, signal_node, spawn_timed};
use crate::proxy::{LinkFaults, LinkProxy, Resolver};

/// How long a node may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a node may take to stop after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// timed's exit code when a listen address is in use (`timed --help`).
const EXIT_CANNOT_BIND: i32 = 5;

/// A cluster with its processes and proxies.
pub struct Cluster {
    layout: Layout,
    file: ClusterFile,
    genesis: Genesis,
    timed: PathBuf,
    proxies: Vec<LinkProxy>,
    children: Vec<Option<Child>>,
    /// Per node: started on the ports of its previous run (so RPC URLs and
    /// P2P addresses stay the same across restarts); cleared when those
    /// were taken meanwhile and the node started on new ones.
    kept_ports: Vec<bool>,
    /// Nodes running from an earlier owner (a previous agent), by pid.
    adopted: Vec<Option<u32>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.layout.dir())
            .field("nodes", &self.file.nodes.len())
            .finish()
    }
}

/// Reads a node's `node.json`.
pub fn read_node_info(layout: &Layout, name: &str) -> Option<NodeInfoFile> {
    let text = std::fs::read_to_string(layout.node_json(name)).ok()?;
    serde_json::from_str(&text).ok()
}

fn resolver(layout: &Layout, name: &str) -> Resolver {
    let layout = layout.clone();
    let name = name.to_string();
    Arc::new(move || {
        read_node_info(&layout, &name).and_then(|info| info.p2p_address.parse::<SocketAddr>().ok())
    })
}

impl Cluster {
    /// Creates a new cluster in `dir` (absent or empty) and binds its link
    /// proxies; starts no node.
    pub async fn create(dir: &Path, spec: &ClusterSpec) -> Result<Cluster, ClusterError> {
        if spec.nodes == 0 {
            return Err(ClusterError::NoNodes(0));
        }
        let layout = Layout::new(dir);
        if dir.exists() {
            // Empty, apart from the files of the agent that is creating it.
            let entries = std::fs::read_dir(dir)
                .map_err(|source| ClusterError::Io { path: dir.to_path_buf(), source })?;
            let agent_files =
                [crate::control::LOG_FILE, crate::control::PID_FILE, crate::control::SOCKET];
            for entry in entries.flatten() {
                if !agent_files.iter().any(|f| entry.file_name() == *f) {
                    return Err(ClusterError::NotACluster { dir: dir.to_path_buf() });
                }
            }
        }
        std::fs::create_dir_all(dir)
            .map_err(|source| ClusterError::Io { path: dir.to_path_buf(), source })?;
        let timed = binaries::timed()?;
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let n = spec.nodes;
        let names: Vec<String> = (0..n).map(crate::layout::node_name).collect();
        let mut proxies = Vec::new();
        let mut ports = vec![vec![0u16; n]; n];
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
                let proxy = LinkProxy::start(
                    &names[i],
                    &names[j],
                    listen,
                    resolver(&layout, &names[j]),
                    &tracker,
                    shutdown.clone(),
                )
                .await
                .map_err(|source| ClusterError::ProxyBind {
                    addr: listen.to_string(),
                    from: names[i].clone(),
                    to: names[j].clone(),
                    source,
                })?;
                ports[i][j] = proxy.listen.port();
                proxies.push(proxy);
            }
        }
        let (file, genesis) = create_files(&layout, spec, &ports, now_ms())?;
        Ok(Cluster {
            children: (0..n).map(|_| None).collect(),
            kept_ports: vec![false; n],
            adopted: vec![None; n],
            layout,
            file,
            genesis,
            timed,
            proxies,
            tracker,
            shutdown,
        })
    }

    /// Opens the cluster in `dir` and binds its link proxies again at the
    /// addresses its configs name; starts no node.
    pub async fn open(dir: &Path) -> Result<Cluster, ClusterError> {
        let layout = Layout::new(dir);
        let (file, genesis) = load_files(&layout)?;
        let timed = binaries::timed()?;
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let mut proxies = Vec::new();
        for link in &file.links {
            let addr: SocketAddr = link.proxy.parse().map_err(|_| ClusterError::Invalid {
                path: layout.cluster_file(),
                reason: format!("bad proxy address {:?}", link.proxy),
            })?;
            let proxy = LinkProxy::start(
                &link.from,
                &link.to,
                addr,
                resolver(&layout, &link.to),
                &tracker,
                shutdown.clone(),
            )
            .await
            .map_err(|source| ClusterError::ProxyBind {
                addr: link.proxy.clone(),
                from: link.from.clone(),
                to: link.to.clone(),
                source,
            })?;
            proxies.push(proxy);
        }
        let n = file.nodes.len();
        let mut cluster = Cluster {
            children: (0..n).map(|_| None).collect(),
            kept_ports: vec![false; n],
            adopted: vec![None; n],
            layout,
            file,
            genesis,
            timed,
            proxies,
            tracker,
            shutdown,
        };
        // Nodes that outlived their previous owner keep running: adopt them
        // (their pid is checked to be this node's timed).
        for i in 0..n {
            if let Some(pid) = read_pid(&cluster.layout, cluster.name(i))
                && crate::process::is_our_timed(pid, &cluster.layout.config(cluster.name(i)))
            {
                cluster.adopted[i] = Some(pid);
            }
        }
        Ok(cluster)
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// `cluster.json`.
    pub fn file(&self) -> &ClusterFile {
        &self.file
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// A read-only view (for readiness and status).
    pub fn view(&self) -> crate::health::ClusterView {
        crate::health::ClusterView {
            layout: self.layout.clone(),
            file: self.file.clone(),
            genesis: self.genesis.clone(),
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.file.nodes.len()
    }

    /// True when there are no nodes (never, for a created cluster).
    pub fn is_empty(&self) -> bool {
        self.file.nodes.is_empty()
    }

    /// Node names, `node1` first.
    pub fn names(&self) -> Vec<String> {
        self.file.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The index of node `name`.
    pub fn index_of(&self, name: &str) -> Result<usize, ClusterError> {
        self.file.nodes.iter().position(|n| n.name == name).ok_or_else(|| {
            ClusterError::UnknownNode { name: name.to_string(), known: self.names().join(", ") }
        })
    }

    fn name(&self, i: usize) -> &str {
        &self.file.nodes[i].name
    }

    /// Starts node `i` and waits until it publishes a fresh `node.json`.
    pub async fn start_node(&mut self, i: usize) -> Result<(), ClusterError> {
        if self.spawn_node(i)? {
            self.wait_started(i).await?;
        }
        Ok(())
    }

    /// Spawns node `i` unless it runs; true if it was spawned.
    fn spawn_node(&mut self, i: usize) -> Result<bool, ClusterError> {
        if self.is_running(i) {
            return Ok(false);
        }
        let name = self.name(i).to_string();
        let listen = Listen::previous(&self.layout, &name);
        self.kept_ports[i] = listen.is_some();
        let child = spawn_timed(&self.timed, &self.layout, &name, listen)?;
        self.children[i] = Some(child);
        Ok(true)
    }

    /// Waits until node `i` (just spawned) publishes its `node.json`.
    async fn wait_started(&mut self, i: usize) -> Result<(), ClusterError> {
        let name = self.name(i).to_string();
        let mut pid = self.children[i].as_ref().and_then(Child::id);
        let started = Instant::now();
        loop {
            if let Some(info) = read_node_info(&self.layout, &name)
                && Some(info.pid) == pid
            {
                return Ok(());
            }
            if let Some(child) = self.children[i].as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                // Its previous ports were taken meanwhile (timed exits 5
                // when it cannot bind): start it on new ones instead.
                if self.kept_ports[i] && status.code() == Some(EXIT_CANNOT_BIND) {
                    self.kept_ports[i] = false;
                    let child = spawn_timed(&self.timed, &self.layout, &name, None)?;
                    pid = child.id();
                    self.children[i] = Some(child);
                    continue;
                }
                self.children[i] = None;
                return Err(ClusterError::Timeout {
                    what: format!("{name} exited while starting ({status})"),
                    logs: self.log_tail(i, 30),
                });
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(ClusterError::Timeout {
                    what: format!("{name} did not publish node.json within {START_TIMEOUT:?}"),
                    logs: self.log_tail(i, 30),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts every node that is not running, all at once.
    pub async fn start_all(&mut self) -> Result<(), ClusterError> {
        let mut spawned = Vec::new();
        for i in 0..self.len() {
            if self.spawn_node(i)? {
                spawned.push(i);
            }
        }
        for i in spawned {
            self.wait_started(i).await?;
        }
        Ok(())
    }

    /// True when node `i`'s process runs (started or adopted by this handle).
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.children[i].as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => match self.adopted[i] {
                Some(pid)
                    if crate::process::is_our_timed(pid, &self.layout.config(self.name(i))) =>
                {
                    true
                }
                Some(_) => {
                    self.adopted[i] = None;
                    false
                }
                None => false,
            },
        }
    }

    /// The pid of node `i`, if it runs.
    pub fn node_pid(&mut self, i: usize) -> Option<u32> {
        if self.is_running(i) { self.pid(i) } else { None }
    }

    /// Exit statuses of nodes that stopped on their own since the last
    /// call: (node index, status). Never restarts them.
    pub fn reap(&mut self) -> Vec<(usize, ExitStatus)> {
        let mut exited = Vec::new();
        for (i, slot) in self.children.iter_mut().enumerate() {
            if let Some(child) = slot.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                exited.push((i, status));
                *slot = None;
            }
        }
        exited
    }

    /// Indexes of the running nodes.
    pub fn running(&mut self) -> Vec<usize> {
        (0..self.len()).filter(|i| self.is_running(*i)).collect()
    }

    fn pid(&self, i: usize) -> Option<u32> {
        self.children[i]
            .as_ref()
            .and_then(Child::id)
            .or_else(|| read_pid(&self.layout, self.name(i)))
    }

    async fn wait_exit(&mut self, i: usize, within: Duration) -> Option<ExitStatus> {
        let child = self.children[i].as_mut()?;
        let status = tokio::time::timeout(within, child.wait()).await.ok()?.ok();
        self.children[i] = None;
        status
    }

    /// Stops node `i` (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]); returns its exit status.
    pub async fn stop_node(&mut self, i: usize) -> Result<Option<ExitStatus>, ClusterError> {
        let Some(pid) = self.node_pid(i) else { return Ok(None) };
        signal_node(&self.layout, self.name(i), pid, Signal::Cont).ok();
        signal_node(&self.layout, self.name(i), pid, Signal::Term)?;
        let status = self.wait_exit(i, STOP_TIMEOUT).await;
        if self.is_running(i) {
            return self.kill_node(i).await;
        }
        Ok(status)
    }

    /// Kills node `i` with SIGKILL; returns its exit status.
    pub async fn kill_node(&mut self, i: usize) -> Result<Option<ExitStatus>, ClusterError> {
        let Some(pid) = self.node_pid(i) else { return Ok(None) };
        signal_node(&self.layout, self.name(i), pid, Signal::Kill)?;
        Ok(self.wait_exit(i, STOP_TIMEOUT).await)
    }

    /// Stops and starts node `i`.
    pub async fn restart_node(&mut self, i: usize) -> Result<(), ClusterError> {
        self.stop_node(i).await?;
        self.start_node(i).await
    }

    /// Pauses node `i` (SIGSTOP).
    pub fn pause_node(&mut self, i: usize) -> Result<(), ClusterError> {
        let pid = self
            .pid(i)
            .ok_or_else(|| ClusterError::Process(format!("{} is not running", self.name(i))))?;
        signal_node(&self.layout, self.name(i), pid, Signal::Stop)
    }

    /// Resumes node `i` (SIGCONT).
    pub fn resume_node(&mut self, i: usize) -> Result<(), ClusterError> {
        let pid = self
            .pid(i)
            .ok_or_else(|| ClusterError::Process(format!("{} is not running", self.name(i))))?;
        signal_node(&self.layout, self.name(i), pid, Signal::Cont)
    }

    /// An RPC client for node `i` (from its `node.json`).
    pub fn rpc(&self, i: usize) -> Result<RpcClient, ClusterError> {
        RpcClient::from_data_dir(&self.layout.data_dir(self.name(i)))
            .map_err(|source| ClusterError::Rpc { node: self.name(i).to_string(), source })
    }

    /// The link proxies.
    pub fn proxies(&self) -> &[LinkProxy] {
        &self.proxies
    }

    /// Sets the faults of the link `from` → `to` (node indexes).
    pub fn set_faults(&self, from: usize, to: usize, faults: LinkFaults) {
        let (from, to) = (self.name(from), self.name(to));
        for proxy in &self.proxies {
            if proxy.from == from && proxy.to == to {
                proxy.set_faults(faults.clone());
            }
        }
    }

    /// Cuts every link between nodes of different groups (nodes in no group
    /// are cut off from everyone); other faults are kept.
    pub fn partition(&self, groups: &[&[usize]]) {
        let group_of = |name: &str| -> Option<usize> {
            let index = self.file.nodes.iter().position(|n| n.name == name)?;
            groups.iter().position(|g| g.contains(&index))
        };
        for proxy in &self.proxies {
            let (a, b) = (group_of(&proxy.from), group_of(&proxy.to));
            let mut faults = proxy.faults();
            faults.cut = a.is_none() || a != b;
            proxy.set_faults(faults);
        }
    }

    /// Clears every fault on every link.
    pub fn heal(&self) {
        for proxy in &self.proxies {
            proxy.set_faults(LinkFaults::default());
        }
    }

    /// The last `lines` lines of node `i`'s log.
    pub fn log_tail(&self, i: usize, lines: usize) -> String {
        log_tail(&self.layout, self.name(i), lines)
    }

    /// Log tails of every node (for failure messages).
    pub fn logs(&self, lines: usize) -> String {
        (0..self.len()).map(|i| self.log_tail(i, lines)).collect()
    }

    /// Stops every node (SIGTERM) and the proxies.
    pub async fn shutdown(mut self) -> Result<(), ClusterError> {
        let mut first_error = None;
        for i in 0..self.len() {
            if let Err(e) = self.stop_node(i).await {
                first_error.get_or_insert(e);
            }
        }
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Children are kill-on-drop; the proxies stop with the token.
        self.shutdown.cancel();
    }
}

/// The last `lines` lines of node `name`'s log, with a header line.
pub fn log_tail(layout: &Layout, name: &str, lines: usize) -> String {
    let path = layout.log(name);
    let Ok(file) = std::fs::File::open(&path) else {
        return format!("--- {name}: no log at {}\n", path.display());
    };
    let mut tail: VecDeque<String> = VecDeque::with_capacity(lines);
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        if tail.len() == lines {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    let mut out = format!("--- last {} lines of {name} ({})\n", tail.len(), path.display());
    for line in tail {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Reads `cluster.json` and `genesis.json`.
pub fn load_files(layout: &Layout) -> Result<(ClusterFile, Genesis), ClusterError> {
    let path = layout.cluster_file();
    let text = std::fs::read_to_string(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ClusterError::Invalid {
                path: path.clone(),
                reason: "no cluster here: create one with `timectl up`".into(),
            }
        } else {
            ClusterError::Io { path: path.clone(), source }
        }
    })?;
    let file: ClusterFile = serde_json::from_str(&text)
        .map_err(|e| ClusterError::Invalid { path: path.clone(), reason: e.to_string() })?;
    let genesis_path = layout.genesis();
    let text = std::fs::read_to_string(&genesis_path)
        .map_err(|source| ClusterError::Io { path: genesis_path.clone(), source })?;
    let genesis: Genesis = serde_json::from_str(&text)
        .map_err(|e| ClusterError::Invalid { path: genesis_path.clone(), reason: e.to_string() })?;
    if genesis.hash() != file.genesis_hash {
        return Err(ClusterError::Invalid {
            path: genesis_path,
            reason: "does not match cluster.json's genesis hash".into(),
        });
    }
    Ok((file, genesis))
}
