//! The safety checks after a run: no conflicting pair with both sides
//! final; every node reports the same final set for loadgen's transactions
//! (asked again with `gettransactionfinality` wherever a node has not said
//! so); and every node has the same block hash at every height up to the
//! lowest node's height. A node that does not answer is noted as
//! unchecked, not as a violation.

use std::collections::BTreeMap;

use serde::Serialize;

use protocol::rpc::{TxFinality, TxState};
use protocol::{BlockHash, TxId};

use crate::nodes::NodeSet;
use crate::tracker::{Role, TxRecord};

/// Calls per JSON-RPC batch.
const BATCH: usize = 100;

/// The verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SafetyReport {
    /// True when no violation was found.
    pub ok: bool,
    /// Violations, worded for a person.
    pub violations: Vec<String>,
    /// Transactions final somewhere and checked on every node.
    pub final_checked: u64,
    /// Per node: transactions final elsewhere that it has not finalized yet
    /// (a node behind or down, not a violation).
    pub not_yet_final: BTreeMap<String, u64>,
    /// Heights compared on every node.
    pub blocks_compared: u64,
    /// Nodes that could not be checked.
    pub unchecked: Vec<String>,
}

/// Runs the checks. `live` are the violations the tracker saw during the
/// run.
pub async fn check(nodes: &NodeSet, records: &[TxRecord], live: &[String]) -> SafetyReport {
    let mut report = SafetyReport { violations: live.to_vec(), ..SafetyReport::default() };
    check_pairs(records, &mut report);
    check_final_sets(nodes, records, &mut report).await;
    check_blocks(nodes, &mut report).await;
    report.violations.dedup();
    report.ok = report.violations.is_empty();
    report
}

fn check_pairs(records: &[TxRecord], report: &mut SafetyReport) {
    for (i, r) in records.iter().enumerate() {
        if r.role == Role::PairFirst
            && let Some(other) = records.get(i + 1)
            && r.final_mask != 0
            && other.final_mask != 0
        {
            let what = format!("conflicting pair both final: {} and {}", r.txid, other.txid);
            if !report.violations.contains(&what) {
                report.violations.push(what);
            }
        }
    }
}

async fn check_final_sets(nodes: &NodeSet, records: &[TxRecord], report: &mut SafetyReport) {
    let all: u64 = if nodes.len() >= 64 { u64::MAX } else { (1u64 << nodes.len()) - 1 };
    report.final_checked = records.iter().filter(|r| r.final_mask != 0).count() as u64;
    for i in 0..nodes.len() {
        let (name, Some(client)) = (nodes.name(i), nodes.client(i)) else { continue };
        let bit = 1u64 << i;
        let missing: Vec<TxId> = records
            .iter()
            .filter(|r| r.final_mask != 0 && r.final_mask & all != all && r.final_mask & bit == 0)
            .map(|r| r.txid)
            .collect();
        let mut not_yet = 0u64;
        for chunk in missing.chunks(BATCH) {
            let calls: Vec<(&str, [TxId; 1])> =
                chunk.iter().map(|t| ("gettransactionfinality", [*t])).collect();
            let answers = match client.batch_as::<TxFinality, _>(&calls).await {
                Ok(answers) => answers,
                Err(e) => {
                    report.unchecked.push(format!("{name}: final set not checked ({e})"));
                    not_yet = missing.len() as u64;
                    break;
                }
            };
            for (txid, answer) in chunk.iter().zip(answers) {
                match answer.map(|f| f.state) {
                    Ok(state) if state.is_final() => {}
                    Ok(state @ (TxState::Lost | TxState::Rejected | TxState::Conflicted)) => {
                        report.violations.push(format!(
                            "nodes disagree on {txid}: final on another node, {state} on {name}"
                        ));
                    }
                    _ => not_yet += 1,
                }
            }
        }
        if not_yet > 0 {
            report.not_yet_final.insert(name.to_string(), not_yet);
        }
    }
}

async fn check_blocks(nodes: &NodeSet, report: &mut SafetyReport) {
    let mut answered = Vec::with_capacity(nodes.len());
    for i in 0..nodes.len() {
        let Some(client) = nodes.client(i) else { continue };
        match client.getblockcount().await {
            Ok(height) => answered.push((i, client, height)),
            Err(e) => report.unchecked.push(format!("{}: blocks not checked ({e})", nodes.name(i))),
        }
    }
    let Some(top) = answered.iter().map(|(_, _, h)| *h).min() else { return };
    let mut reference: Option<(usize, Vec<Option<BlockHash>>)> = None;
    for (i, client, _) in &answered {
        let name = nodes.name(*i);
        let hashes = match block_hashes(client, top).await {
            Ok(hashes) => hashes,
            Err(e) => {
                report.unchecked.push(format!("{name}: blocks not checked ({e})"));
                continue;
            }
        };
        let Some((first, expected)) = &reference else {
            reference = Some((*i, hashes));
            continue;
        };
        if let Some(h) = (0..=top as usize).find(|&h| expected.get(h) != hashes.get(h)) {
            let show = |x: Option<&Option<BlockHash>>| {
                x.copied().flatten().map_or("none".to_string(), |x| x.to_string())
            };
            report.violations.push(format!(
                "nodes disagree on block {h}: {name} has {}, {} has {}",
                show(hashes.get(h)),
                nodes.name(*first),
                show(expected.get(h)),
            ));
        }
    }
    report.blocks_compared = top + 1;
}

async fn block_hashes(
    client: &client::RpcClient,
    top: u64,
) -> Result<Vec<Option<BlockHash>>, client::ClientError> {
    let mut hashes = Vec::with_capacity(top as usize + 1);
    let mut height = 0u64;
    while height <= top {
        let end = (height + BATCH as u64 - 1).min(top);
        let calls: Vec<(&str, [u64; 1])> = (height..=end).map(|h| ("getblockhash", [h])).collect();
        let answers = client.batch_as::<BlockHash, _>(&calls).await?;
        hashes.extend(answers.into_iter().map(Result::ok));
        height = end + 1;
    }
    Ok(hashes)
}
