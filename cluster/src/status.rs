//! `timectl status`: each node's state from its RPC and the agent, and a
//! verdict for the cluster (healthy, degraded or stalled) with the reasons.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use client::{ClientOptions, RpcClient};
use hostio::now_ms;
use protocol::Committee;

use crate::control::{AgentNode, LinkState, NodeState};
use crate::health::ClusterView;

/// One node's status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// `node1` ….
    pub name: String,
    /// Node id (hex).
    pub id: String,
    /// Process state from the agent: running, paused, stopped (or unknown
    /// when the agent is gone).
    pub state: NodeState,
    /// Process id.
    pub pid: Option<u32>,
    /// True when its RPC answered.
    pub alive: bool,
    /// RPC URL.
    pub rpc_url: Option<String>,
    /// P2P address.
    pub p2p_address: Option<String>,
    /// Committed height.
    pub height: Option<u64>,
    /// Tendermint round at the current height.
    pub round: Option<u32>,
    /// Connected peers.
    pub peers: Option<usize>,
    /// Pending transactions.
    pub mempool: Option<usize>,
    /// Transactions finalized since it started.
    pub final_count: Option<u64>,
    /// Seconds since it last finalized one.
    pub since_final_s: Option<f64>,
    /// Seconds since its last block's timestamp.
    pub since_block_s: Option<f64>,
    /// Resident memory.
    pub rss_bytes: Option<u64>,
    /// Its last exit, if the agent recorded one.
    pub last_exit: Option<String>,
    /// Why it did not answer.
    pub error: Option<String>,
}

/// The cluster's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every node up, in step, making blocks.
    Healthy,
    /// Making progress, but something is off (a node down, lagging, faults).
    Degraded,
    /// No progress: no quorum alive, or no block for a long time.
    Stalled,
}

/// The whole picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The cluster directory.
    pub dir: String,
    /// True when the agent answered.
    pub agent: bool,
    /// Nodes.
    pub nodes: Vec<NodeStatus>,
    /// Verdict.
    pub verdict: Verdict,
    /// Why.
    pub reasons: Vec<String>,
}

/// Linux reports process times in ticks of 1/100 s (USER_HZ is 100 on
/// every architecture Linux exposes it).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (user + system) used so far by a process: `entry` is a pid or
/// `"self"`; `None` off Linux or when the process is gone.
pub fn cpu_time_of(entry: &str) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{entry}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'. Then: state(0) ... utime(11) stime(12).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(std::time::Duration::from_secs_f64((utime + stime) as f64 / TICKS_PER_SECOND))
}

/// Resident memory of `pid` from /proc.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let kb = line.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim();
        kb.parse::<u64>().ok().map(|kb| kb * 1024)
    })
}

async fn node_status(view: &ClusterView, i: usize, agent: Option<&AgentNode>) -> NodeStatus {
    let entry = &view.file.nodes[i];
    let info = crate::cluster::read_node_info(&view.layout, &entry.name);
    let mut status = NodeStatus {
        name: entry.name.clone(),
        id: entry.id.to_hex(),
        state: agent.map_or(NodeState::Unknown, |a| a.state),
        pid: agent.and_then(|a| a.pid),
        alive: false,
        rpc_url: info.as_ref().map(|i| i.rpc_url.clone()),
        p2p_address: info.as_ref().map(|i| i.p2p_address.clone()),
        height: None,
        round: None,
        peers: None,
        mempool: None,
        final_count: None,
        since_final_s: None,
        since_block_s: None,
        rss_bytes: None,
        last_exit: agent.and_then(|a| a.last_exit.as_ref()).map(ToString::to_string),
        error: None,
    };
    let pid = status.pid.or_else(|| info.as_ref().map(|i| i.pid));
    status.rss_bytes = pid.filter(|_| status.state != NodeState::Stopped).and_then(rss_of);
    if matches!(status.state, NodeState::Stopped | NodeState::Paused) {
        return status;
    }
    let options = ClientOptions {
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
    };
    let rpc = match RpcClient::from_data_dir_with(&view.layout.data_dir(&entry.name), options) {
        Ok(rpc) => rpc,
        Err(e) => {
            status.error = Some(e.to_string());
            return status;
        }
    };
    let now = now_ms();
    match tokio::join!(
        rpc.getblockchaininfo(),
        rpc.getconsensusinfo(),
        rpc.getmempoolinfo(),
        rpc.getpeerinfo()
    ) {
        (Ok(chain), Ok(consensus), Ok(mempool), Ok(peers)) => {
            status.alive = true;
            status.height = Some(chain.blocks);
            status.since_block_s =
                Some(now.saturating_sub(chain.best_block_time_ms.max(0) as u64) as f64 / 1000.0);
            status.round = Some(consensus.round);
            status.final_count = Some(consensus.final_count);
            status.since_final_s = (consensus.last_final_ms > 0)
                .then(|| now.saturating_sub(consensus.last_final_ms) as f64 / 1000.0);
            status.mempool = Some(mempool.size);
            status.peers = Some(peers.len());
        }
        (a, b, c, d) => {
            let error = [a.err(), b.err(), c.err(), d.err()].into_iter().flatten().next();
            status.error = error.map(|e| e.to_string());
        }
    }
    status
}

/// Collects every node's status and judges the cluster.
pub async fn collect(
    view: &ClusterView,
    agent: Option<&[AgentNode]>,
    links: &[LinkState],
) -> ClusterStatus {
    let mut nodes = Vec::new();
    for i in 0..view.file.nodes.len() {
        let name = &view.file.nodes[i].name;
        let agent_node = agent.and_then(|a| a.iter().find(|n| &n.name == name));
        nodes.push(node_status(view, i, agent_node).await);
    }
    let (verdict, reasons) = judge(view, agent.is_some(), &nodes, links);
    ClusterStatus {
        dir: view.layout.dir().display().to_string(),
        agent: agent.is_some(),
        nodes,
        verdict,
        reasons,
    }
}

/// The verdict and its reasons.
pub fn judge(
    view: &ClusterView,
    agent: bool,
    nodes: &[NodeStatus],
    links: &[LinkState],
) -> (Verdict, Vec<String>) {
    let committee = Committee::from_genesis(&view.genesis);
    let interval_s = view.file.block_interval_ms as f64 / 1000.0;
    let mut reasons = Vec::new();
    let alive: Vec<&NodeStatus> = nodes.iter().filter(|n| n.alive).collect();
    let alive_weight = committee.weight_of(alive.iter().filter_map(|n| {
        n.id.parse::<protocol::NodeId>().ok().and_then(|id| committee.index_of(&id))
    }));
    let mut stalled = false;
    if alive_weight < committee.quorum() {
        stalled = true;
        reasons.push(format!(
            "only {} of {} nodes answer (weight {alive_weight}, a quorum needs {})",
            alive.len(),
            nodes.len(),
            committee.quorum()
        ));
    }
    let freshest_block = alive.iter().filter_map(|n| n.since_block_s).fold(f64::INFINITY, f64::min);
    if freshest_block.is_finite() && freshest_block > (5.0 * interval_s).max(5.0) {
        stalled = true;
        reasons.push(format!("no block for {freshest_block:.1} s (block interval {interval_s} s)"));
    }
    if !agent {
        reasons.push("the agent is not running: node exits are not recorded and links cannot be changed (run `timectl up`)".into());
    }
    for node in nodes.iter().filter(|n| !n.alive) {
        let why = node.error.clone().unwrap_or_else(|| node.state.to_string());
        reasons.push(format!("{} is down: {why}", node.name));
    }
    let heights: Vec<u64> = alive.iter().filter_map(|n| n.height).collect();
    if let (Some(min), Some(max)) = (heights.iter().min(), heights.iter().max())
        && max - min > 2
    {
        reasons.push(format!("heights differ by {} blocks ({min}..{max})", max - min));
    }
    let faulty = links.iter().filter(|l| !l.faults.is_clear()).count();
    if faulty > 0 {
        reasons.push(format!("{faulty} link(s) have faults set (timectl heal clears them)"));
    }
    let verdict = if stalled {
        Verdict::Stalled
    } else if reasons.is_empty() {
        Verdict::Healthy
    } else {
        Verdict::Degraded
    };
    (verdict, reasons)
}
