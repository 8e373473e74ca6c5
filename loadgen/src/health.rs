//! Consensus health, sampled every second from every node in one JSON-RPC
//! batch each (`getconsensusinfo`, `getblockcount`, `getmempoolinfo`):
//! view changes, rounds per block, the height spread between nodes, mempool
//! sizes, and nodes that stop answering (recorded as events, not errors).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use client::RpcClient;
use protocol::rpc::{ConsensusInfo, MempoolInfo};

use crate::nodes::NodeSet;
use crate::tracker::RunEvent;

/// One node's answer to one sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeSample {
    /// Committed height.
    pub height: u64,
    /// Round at the height being agreed.
    pub round: u32,
    /// Its view-change counter.
    pub view_changes: u64,
    /// Mempool transactions.
    pub mempool: usize,
    /// True while catching up.
    pub syncing: bool,
}

/// One sample of every node (None: it did not answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthSample {
    /// When, ms since the origin.
    pub at_ms: u64,
    /// Per node.
    pub nodes: Vec<Option<NodeSample>>,
}

impl HealthSample {
    /// Highest minus lowest height of the nodes that answered.
    pub fn height_spread(&self) -> u64 {
        let heights = self.nodes.iter().flatten().map(|n| n.height);
        match (heights.clone().max(), heights.min()) {
            (Some(max), Some(min)) => max - min,
            _ => 0,
        }
    }

    /// The highest height.
    pub fn max_height(&self) -> Option<u64> {
        self.nodes.iter().flatten().map(|n| n.height).max()
    }

    /// The largest mempool.
    pub fn max_mempool(&self) -> Option<usize> {
        self.nodes.iter().flatten().map(|n| n.mempool).max()
    }
}

/// The health of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HealthReport {
    /// Every sample.
    #[serde(skip)]
    pub samples: Vec<HealthSample>,
    /// View changes during the run (most on one node).
    pub view_changes: u64,
    /// Mean rounds per block committed during the run (1 = every block in
    /// its first round).
    pub rounds_per_block: Option<f64>,
    /// Blocks whose rounds were seen.
    pub blocks_seen: usize,
    /// Largest height spread between nodes in a sample.
    pub max_height_spread: u64,
    /// Largest mempool seen.
    pub max_mempool: usize,
    /// Heights at the first and last sample (highest node).
    pub heights: (Option<u64>, Option<u64>),
    /// Nodes that stopped or resumed answering, and heights that went
    /// back, in time order.
    pub events: Vec<RunEvent>,
    /// Samples in which a node's committed height was below one it had
    /// reported earlier in the run (a committed block lost, e.g. across a
    /// restart): a safety violation.
    pub height_regressions: Vec<RunEvent>,
}

/// Samples every second until `shutdown`, then summarises.
pub async fn sample(
    nodes: std::sync::Arc<NodeSet>,
    origin: Instant,
    shutdown: CancellationToken,
) -> HealthReport {
    let names = nodes.names().to_vec();
    let mut samples = Vec::new();
    let mut answering: Vec<bool> = vec![true; nodes.len()];
    let mut events = Vec::new();
    let mut rounds: BTreeMap<u64, u32> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let at_ms = origin.elapsed().as_millis() as u64;
        let answers = futures::future::join_all((0..nodes.len()).map(|i| {
            let client = nodes.client(i);
            async move {
                let client = client?;
                tokio::time::timeout(Duration::from_millis(900), sample_node(&client))
                    .await
                    .ok()
                    .flatten()
            }
        }))
        .await;
        let mut nodes = Vec::with_capacity(answers.len());
        for (i, answer) in answers.into_iter().enumerate() {
            let ok = answer.is_some();
            if ok != answering[i] {
                answering[i] = ok;
                events.push(RunEvent {
                    at_ms,
                    node: names.get(i).cloned(),
                    what: if ok { "answers again".into() } else { "stopped answering RPC".into() },
                });
            }
            nodes.push(answer.map(|(sample, info)| {
                for r in &info.recent_rounds {
                    rounds.insert(r.height, r.round);
                }
                sample
            }));
        }
        samples.push(HealthSample { at_ms, nodes });
    }
    summarise(samples, rounds, events, &names)
}

async fn sample_node(client: &RpcClient) -> Option<(NodeSample, ConsensusInfo)> {
    const NONE: [u8; 0] = [];
    let calls = [("getconsensusinfo", NONE), ("getblockcount", NONE), ("getmempoolinfo", NONE)];
    let answers = client.batch(&calls).await.ok()?;
    let mut answers = answers.into_iter();
    let info: ConsensusInfo = serde_json::from_value(answers.next()?.ok()?).ok()?;
    let height: u64 = answers.next()?.ok().and_then(|v: Value| v.as_u64()).unwrap_or(info.height);
    let mempool: Option<MempoolInfo> =
        answers.next()?.ok().and_then(|v| serde_json::from_value(v).ok());
    let sample = NodeSample {
        height,
        round: info.round,
        view_changes: info.view_changes,
        mempool: mempool.map_or(0, |m| m.size),
        syncing: info.syncing,
    };
    Some((sample, info))
}

fn summarise(
    samples: Vec<HealthSample>,
    rounds: BTreeMap<u64, u32>,
    mut events: Vec<RunEvent>,
    names: &[String],
) -> HealthReport {
    let nodes = samples.first().map_or(0, |s| s.nodes.len());
    let height_regressions = height_regressions(&samples, names);
    events.extend(height_regressions.iter().cloned());
    events.sort_by_key(|e| e.at_ms);
    let mut view_changes = 0;
    for i in 0..nodes {
        let seen: Vec<u64> =
            samples.iter().filter_map(|s| s.nodes[i].as_ref().map(|n| n.view_changes)).collect();
        if let (Some(first), Some(last)) = (seen.first(), seen.last()) {
            // A restarted node counts from zero again.
            view_changes = view_changes.max(last.saturating_sub(*first));
        }
    }
    let first_height = samples.iter().find_map(HealthSample::max_height);
    let last_height = samples.iter().rev().find_map(HealthSample::max_height);
    let during: Vec<u32> =
        rounds.range(first_height.map_or(0, |h| h + 1)..).map(|(_, &round)| round).collect();
    let rounds_per_block = (!during.is_empty())
        .then(|| during.iter().map(|&r| f64::from(r) + 1.0).sum::<f64>() / during.len() as f64);
    HealthReport {
        view_changes,
        rounds_per_block,
        blocks_seen: during.len(),
        max_height_spread: samples.iter().map(HealthSample::height_spread).max().unwrap_or(0),
        max_mempool: samples.iter().filter_map(HealthSample::max_mempool).max().unwrap_or(0),
        heights: (first_height, last_height),
        events,
        height_regressions,
        samples,
    }
}

/// Every sample in which a node reports a committed height below the
/// highest it reported before.
fn height_regressions(samples: &[HealthSample], names: &[String]) -> Vec<RunEvent> {
    let mut highest: Vec<Option<u64>> = Vec::new();
    let mut found = Vec::new();
    for sample in samples {
        highest.resize(highest.len().max(sample.nodes.len()), None);
        for (i, node) in sample.nodes.iter().enumerate() {
            let Some(height) = node.as_ref().map(|n| n.height) else { continue };
            if let Some(top) = highest[i].filter(|top| height < *top) {
                found.push(RunEvent {
                    at_ms: sample.at_ms,
                    node: names.get(i).cloned(),
                    what: format!("committed height went back from {top} to {height}"),
                });
            }
            // Heights only rise otherwise, so the last one is the highest;
            // after a drop, each further drop is reported once.
            highest[i] = Some(height);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(height: u64, view_changes: u64) -> Option<NodeSample> {
        Some(NodeSample { height, round: 0, view_changes, mempool: 3, syncing: false })
    }

    #[test]
    fn the_summary_counts_view_changes_spread_and_rounds() {
        let samples = vec![
            HealthSample { at_ms: 0, nodes: vec![node(10, 5), node(10, 2)] },
            HealthSample { at_ms: 1_000, nodes: vec![node(12, 6), node(9, 4)] },
            HealthSample { at_ms: 2_000, nodes: vec![node(13, 7), None] },
        ];
        let rounds: BTreeMap<u64, u32> = [(10, 3), (11, 0), (12, 1), (13, 0)].into();
        let report = summarise(samples, rounds, Vec::new(), &[]);
        assert_eq!(report.view_changes, 2);
        assert_eq!(report.max_height_spread, 3);
        assert_eq!(report.blocks_seen, 3, "heights 11..=13 committed during the run");
        assert!((report.rounds_per_block.unwrap() - 4.0 / 3.0).abs() < 1e-9);
        assert_eq!(report.heights, (Some(10), Some(13)));
    }

    #[test]
    fn a_height_below_an_earlier_one_is_a_regression_reported_once() {
        let samples = vec![
            HealthSample { at_ms: 0, nodes: vec![node(10, 0), node(10, 0)] },
            HealthSample { at_ms: 1_000, nodes: vec![node(11, 0), None] },
            HealthSample { at_ms: 2_000, nodes: vec![node(12, 0), node(8, 0)] },
            HealthSample { at_ms: 3_000, nodes: vec![node(12, 0), node(9, 0)] },
        ];
        let names = vec!["node1".to_string(), "node2".to_string()];
        let report = summarise(samples, BTreeMap::new(), Vec::new(), &names);
        assert_eq!(
            report.height_regressions,
            vec![RunEvent {
                at_ms: 2_000,
                node: Some("node2".into()),
                what: "committed height went back from 10 to 8".into(),
            }]
        );
        assert_eq!(report.events, report.height_regressions);
    }
}
