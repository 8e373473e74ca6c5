//! `loadgen verify RUN_DIR`: the checker after a run, against every node's
//! state now. The chaos scenarios, loadgen users and the tests all judge a
//! run with it; what it checks:
//!
//! | check | passes when |
//! |---|---|
//! | lost | every transaction the history (`history.csv`) says became final is final or committed on **every** node (waiting up to `--wait` for nodes that are catching up) |
//! | conflicting finality | no conflicting pair of the history has both sides final, on any nodes |
//! | block agreement | every node has the same block hash at every height up to the lowest node's tip (the hash binds the header: parent, merkle root of the txids, UTXO commitment) |
//! | no double spend | no outpoint is spent twice in any node's chain |
//! | supply | each node's UTXO total (`gettxoutsetinfo`) is the genesis allocations plus one block reward per block (fees move to the coinbase) |
//! | equivocation | no node holds evidence of a masternode signing two conflicting votes (unless the run had Byzantine nodes: `--byzantine NODES`, which are then not checked themselves) |
//! | heights | no node's committed height went back during the run (the run's health samples, `summary.json`) |
//!
//! A node that does not answer fails the check: it is named, never counted
//! as agreeing. [`judge`] is the verdict as a pure function of what was
//! observed, so the tests can show it fails on a doctored observation;
//! [`observe`] asks the nodes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use client::RpcClient;
use protocol::rpc::{BlockJson, BlockTxs, TxFinality, TxState, codes};
use protocol::{BlockHash, OutPoint, TxId};

use crate::error::LoadgenError;
use crate::report::csv::HISTORY_HEADER;
use crate::target::Node;

/// Calls per JSON-RPC batch (the node's default `rpc.max_batch_size`).
const BATCH: usize = 100;
/// Decoded blocks per batch (each carries every transaction).
const BLOCK_BATCH: usize = 4;
/// Examples kept per kind of violation in the report.
const EXAMPLES: usize = 5;

/// What the run's files say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Transactions the run saw final (on at least one node).
    pub final_txids: Vec<TxId>,
    /// Conflicting pairs the run sent (first, second).
    pub pairs: Vec<(TxId, TxId)>,
    /// Heights that went back during the run, worded.
    pub height_regressions: Vec<String>,
}

#[derive(Deserialize)]
struct SummaryHealth {
    #[serde(default)]
    height_regressions: Vec<crate::tracker::RunEvent>,
}

#[derive(Deserialize)]
struct Summary {
    health: SummaryHealth,
}

impl History {
    /// Reads `history.csv` and `summary.json` of a run's `--out` directory.
    pub fn read(dir: &Path) -> Result<History, LoadgenError> {
        let path = dir.join("history.csv");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            LoadgenError::Usage(format!(
                "cannot read {}: {e} (give the --out directory of a loadgen run)",
                path.display()
            ))
        })?;
        let mut history = History::parse_csv(&text)
            .map_err(|e| LoadgenError::Usage(format!("{}: {e}", path.display())))?;
        let path = dir.join("summary.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LoadgenError::Usage(format!("cannot read {}: {e}", path.display())))?;
        let summary: Summary = serde_json::from_str(&text)
            .map_err(|e| LoadgenError::Usage(format!("{}: {e}", path.display())))?;
        history.height_regressions = summary
            .health
            .height_regressions
            .iter()
            .map(|e| format!("{}: {}", e.node.as_deref().unwrap_or("?"), e.what))
            .collect();
        Ok(history)
    }

    /// Parses `history.csv` (its header must be loadgen's).
    pub fn parse_csv(text: &str) -> Result<History, String> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        let header = reader.headers().map_err(|e| format!("line 1: {e}"))?;
        if header.iter().collect::<Vec<_>>().join(",") != HISTORY_HEADER {
            return Err(format!("line 1: expected the header {HISTORY_HEADER:?}"));
        }
        let columns: Vec<&str> = HISTORY_HEADER.split(',').collect();
        let at = |name: &str| columns.iter().position(|c| *c == name).unwrap_or(usize::MAX);
        let (txid_at, fate_at, role_at, on_at) =
            (at("txid"), at("fate"), at("role"), at("final_on_nodes"));
        let mut history = History::default();
        let mut pending_first: Option<TxId> = None;
        for record in reader.records() {
            let cells = record.map_err(|e| e.to_string())?;
            let line = cells.position().map_or(0, |p| p.line());
            let cell = |at: usize| cells.get(at).unwrap_or("");
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let txid: TxId = cell(txid_at)
                .parse()
                .map_err(|e| format!("line {line}: txid {:?}: {e}", cell(txid_at)))?;
            let final_on: u64 = match cell(on_at) {
                "" => 0,
                n => n.parse().map_err(|e| format!("line {line}: final_on_nodes: {e}"))?,
            };
            if cell(fate_at) == "final" || final_on > 0 {
                history.final_txids.push(txid);
            }
            match cell(role_at) {
                "pair_first" => pending_first = Some(txid),
                "pair_second" => {
                    let first = pending_first.take().ok_or_else(|| {
                        format!("line {line}: pair_second without a pair_first before it")
                    })?;
                    history.pairs.push((first, txid));
                }
                _ => {}
            }
        }
        Ok(history)
    }
}

/// The genesis figures the supply check needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Supply {
    /// Sum of the genesis allocations, sat.
    pub genesis_sat: u64,
    /// The block reward, sat.
    pub block_reward_sat: u64,
}

/// One committed block as the checker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBlock {
    /// Its hash.
    pub hash: BlockHash,
    /// Every outpoint its transactions spend.
    pub spends: Arc<Vec<OutPoint>>,
}

/// What one node showed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeView {
    /// Its name.
    pub name: String,
    /// Its chain from height 0 (block 0 spends nothing).
    pub chain: Vec<ChainBlock>,
    /// Transactions of `History::final_txids` it did not report final or
    /// committed, with the state it reported.
    pub not_final: BTreeMap<TxId, String>,
    /// Sides of the history's conflicting pairs it reports final.
    pub final_pair_sides: HashSet<TxId>,
    /// `gettxoutsetinfo`: height and UTXO total, sat.
    pub utxo_at: (u64, u64),
    /// Equivocation evidence it holds.
    pub equivocations: u64,
}

/// The verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VerifyReport {
    /// True when every check passed on every node.
    pub ok: bool,
    /// The nodes checked.
    pub nodes: Vec<String>,
    /// Byzantine nodes of the run, not checked.
    pub byzantine: Vec<String>,
    /// Transactions the history says became final.
    pub final_in_history: u64,
    /// Of those, how many are not final on at least one node.
    pub lost: u64,
    /// Per node: final transactions it does not hold as final.
    pub lost_on: BTreeMap<String, u64>,
    /// Conflicting pairs in the history.
    pub pairs: u64,
    /// Pairs with both sides final (on any nodes).
    pub conflicting_final_pairs: u64,
    /// Heights compared on every node (0 to the lowest tip).
    pub blocks_compared: u64,
    /// Heights where two nodes hold different blocks.
    pub block_disagreements: u64,
    /// Outpoints spent twice within one node's chain.
    pub double_spends: u64,
    /// Nodes whose UTXO total is not genesis plus rewards.
    pub supply_mismatches: u64,
    /// Equivocation evidence per node (when not zero).
    pub equivocations: BTreeMap<String, u64>,
    /// Heights that went back during the run.
    pub height_regressions: u64,
    /// Nodes that could not be checked, and why.
    pub unchecked: Vec<String>,
    /// Every violation, worded for a person (a few examples per kind).
    pub violations: Vec<String>,
}

/// The verdict on what the nodes showed. `unreachable` are nodes that could
/// not be observed (each fails the check); `byzantine` allows equivocation
/// evidence.
pub fn judge(
    history: &History,
    views: &[NodeView],
    unreachable: &[String],
    supply: Supply,
    byzantine: bool,
) -> VerifyReport {
    let mut report = VerifyReport {
        nodes: views.iter().map(|v| v.name.clone()).chain(unreachable.iter().cloned()).collect(),
        final_in_history: history.final_txids.len() as u64,
        pairs: history.pairs.len() as u64,
        unchecked: unreachable.to_vec(),
        ..VerifyReport::default()
    };
    let mut violations = Vec::new();
    for name in unreachable {
        violations.push(format!("{name} could not be checked"));
    }

    let mut lost: BTreeMap<TxId, Vec<String>> = BTreeMap::new();
    for view in views {
        if !view.not_final.is_empty() {
            report.lost_on.insert(view.name.clone(), view.not_final.len() as u64);
        }
        for (txid, state) in &view.not_final {
            lost.entry(*txid).or_default().push(format!("{} ({state})", view.name));
        }
    }
    report.lost = lost.len() as u64;
    for (txid, where_) in lost.iter().take(EXAMPLES) {
        violations
            .push(format!("lost: {txid} was final, and is not final on {}", where_.join(", ")));
    }

    for (a, b) in &history.pairs {
        let final_on = |txid: &TxId| -> Vec<&str> {
            views
                .iter()
                .filter(|v| v.final_pair_sides.contains(txid))
                .map(|v| v.name.as_str())
                .collect()
        };
        let (on_a, on_b) = (final_on(a), final_on(b));
        if !on_a.is_empty() && !on_b.is_empty() {
            report.conflicting_final_pairs += 1;
            if report.conflicting_final_pairs <= EXAMPLES as u64 {
                violations.push(format!(
                    "conflicting pair both final: {a} on {}, {b} on {}",
                    on_a.join(","),
                    on_b.join(",")
                ));
            }
        }
    }

    let common = views.iter().map(|v| v.chain.len()).min().unwrap_or(0);
    report.blocks_compared = common as u64;
    if let Some(reference) = views.first() {
        for height in 0..common {
            let expected = &reference.chain[height].hash;
            let differing: Vec<String> = views
                .iter()
                .filter(|v| v.chain[height].hash != *expected)
                .map(|v| format!("{} has {}", v.name, v.chain[height].hash))
                .collect();
            if !differing.is_empty() {
                report.block_disagreements += 1;
                if report.block_disagreements <= EXAMPLES as u64 {
                    violations.push(format!(
                        "nodes disagree on block {height}: {} has {expected}, {}",
                        reference.name,
                        differing.join(", ")
                    ));
                }
            }
        }
    }

    // Chains that agree share their blocks; each distinct block is walked
    // once per distinct chain prefix it sits on, which is every node's.
    for view in views {
        let mut spent: HashSet<OutPoint> = HashSet::new();
        for (height, block) in view.chain.iter().enumerate() {
            for outpoint in block.spends.iter() {
                if !spent.insert(*outpoint) {
                    report.double_spends += 1;
                    if report.double_spends <= EXAMPLES as u64 {
                        violations.push(format!(
                            "double spend in {}'s chain: {}:{} spent again at height {height}",
                            view.name, outpoint.txid, outpoint.vout
                        ));
                    }
                }
            }
        }
    }

    for view in views {
        let (height, total) = view.utxo_at;
        let expected = u128::from(supply.genesis_sat)
            + u128::from(supply.block_reward_sat) * u128::from(height);
        if u128::from(total) != expected {
            report.supply_mismatches += 1;
            violations.push(format!(
                "supply on {} at height {height}: the UTXO set holds {total} sat, genesis plus {height} rewards is {expected} sat",
                view.name
            ));
        }
        if view.equivocations > 0 {
            report.equivocations.insert(view.name.clone(), view.equivocations);
            if !byzantine {
                violations.push(format!(
                    "{} holds evidence of {} equivocation(s), and no node of the run was Byzantine",
                    view.name, view.equivocations
                ));
            }
        }
    }

    report.height_regressions = history.height_regressions.len() as u64;
    for what in history.height_regressions.iter().take(EXAMPLES) {
        violations.push(format!("height went back: {what}"));
    }

    report.ok = violations.is_empty();
    report.violations = violations;
    report
}

/// Asks every node what [`judge`] needs. Final transactions a node does not
/// hold yet are asked again until `wait` has passed (a node that restarted
/// may still be catching up). Nodes that fail to answer are returned apart.
pub async fn observe(
    nodes: &[Node],
    history: &History,
    wait: Duration,
) -> (Vec<NodeView>, Vec<String>) {
    let deadline = Instant::now() + wait;
    let blocks = BlockCache::default();
    let answers = futures::future::join_all(
        nodes.iter().map(|node| observe_node(node, history, deadline, &blocks)),
    )
    .await;
    let mut views = Vec::new();
    let mut unreachable = Vec::new();
    for (node, answer) in nodes.iter().zip(answers) {
        match answer {
            Ok(view) => views.push(view),
            Err(e) => unreachable.push(format!("{}: {e}", node.name)),
        }
    }
    (views, unreachable)
}

/// Decoded blocks by hash, shared by the nodes' walks (agreeing chains
/// fetch each block once).
#[derive(Default)]
struct BlockCache {
    spends: tokio::sync::Mutex<HashMap<BlockHash, Arc<Vec<OutPoint>>>>,
}

async fn observe_node(
    node: &Node,
    history: &History,
    deadline: Instant,
    blocks: &BlockCache,
) -> Result<NodeView, client::ClientError> {
    let client = &node.client;
    let mut view = NodeView { name: node.name.clone(), ..NodeView::default() };

    // Final transactions first: waiting for a node to catch up also lets
    // its chain grow to where the others are.
    let mut missing: Vec<TxId> = history.final_txids.clone();
    loop {
        let mut still = Vec::new();
        for (txid, state) in finality(client, &missing).await? {
            match state {
                Ok(state) if state.is_final() => {}
                Ok(state) => still.push((txid, state.to_string())),
                Err(client::ClientError::Rpc { code: codes::NOT_FOUND, .. }) => {
                    still.push((txid, "not known to it".into()));
                }
                Err(e) => still.push((txid, e.to_string())),
            }
        }
        if still.is_empty() || Instant::now() >= deadline {
            view.not_final = still.into_iter().collect();
            break;
        }
        missing = still.into_iter().map(|(t, _)| t).collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let sides: Vec<TxId> = history.pairs.iter().flat_map(|(a, b)| [*a, *b]).collect();
    for (txid, state) in finality(client, &sides).await? {
        if state.is_ok_and(TxState::is_final) {
            view.final_pair_sides.insert(txid);
        }
    }

    // The supply at a height, read while the height does not move (the
    // set and the height are two reads; a block may land between them).
    let mut info = client.gettxoutsetinfo().await?;
    for _ in 0..20 {
        let before = client.getblockcount().await?;
        info = client.gettxoutsetinfo().await?;
        if info.height == before && client.getblockcount().await? == before {
            break;
        }
    }
    view.utxo_at = (info.height, info.total_sat);
    view.equivocations = client.getconsensusinfo().await?.equivocations;

    let top = info.height;
    let mut hashes = Vec::with_capacity(top as usize + 1);
    for start in (0..=top).step_by(BATCH) {
        let end = (start + BATCH as u64 - 1).min(top);
        let calls: Vec<(&str, [u64; 1])> = (start..=end).map(|h| ("getblockhash", [h])).collect();
        for answer in client.batch_as::<BlockHash, _>(&calls).await? {
            hashes.push(answer?);
        }
    }
    let unknown: Vec<(u64, BlockHash)> = {
        let cache = blocks.spends.lock().await;
        (1..=top).map(|h| (h, hashes[h as usize])).filter(|(_, h)| !cache.contains_key(h)).collect()
    };
    for chunk in unknown.chunks(BLOCK_BATCH) {
        let calls: Vec<(&str, (BlockHash, u8))> =
            chunk.iter().map(|(_, hash)| ("getblock", (*hash, 2u8))).collect();
        let answers = client.batch_as::<BlockJson, _>(&calls).await?;
        let mut cache = blocks.spends.lock().await;
        for ((_, hash), answer) in chunk.iter().zip(answers) {
            let block = answer?;
            let spends = match block.tx {
                BlockTxs::Decoded(txs) => txs
                    .iter()
                    .flat_map(|tx| {
                        tx.inputs.iter().map(|i| OutPoint { txid: i.txid, vout: i.vout })
                    })
                    .collect(),
                BlockTxs::Ids(_) => Vec::new(),
            };
            cache.insert(*hash, Arc::new(spends));
        }
    }
    let cache = blocks.spends.lock().await;
    view.chain = hashes
        .iter()
        .enumerate()
        .map(|(h, hash)| ChainBlock {
            hash: *hash,
            spends: if h == 0 {
                Arc::new(Vec::new())
            } else {
                cache.get(hash).cloned().unwrap_or_default()
            },
        })
        .collect();
    Ok(view)
}

/// The state each txid has on the node, or the node's error for it; the
/// outer error is a failed call.
async fn finality(
    client: &RpcClient,
    txids: &[TxId],
) -> Result<Vec<(TxId, Result<TxState, client::ClientError>)>, client::ClientError> {
    let mut out = Vec::with_capacity(txids.len());
    for chunk in txids.chunks(BATCH) {
        let calls: Vec<(&str, [TxId; 1])> =
            chunk.iter().map(|t| ("gettransactionfinality", [*t])).collect();
        let answers = client.batch_as::<TxFinality, _>(&calls).await?;
        for (txid, answer) in chunk.iter().zip(answers) {
            out.push((*txid, answer.map(|f| f.state)));
        }
    }
    Ok(out)
}

/// What `loadgen verify` was asked.
#[derive(Clone, Debug)]
pub struct VerifyConfig {
    /// The run's `--out` directory.
    pub run_dir: std::path::PathBuf,
    /// The nodes.
    pub target: crate::config::Target,
    /// How long to wait for nodes that have not finalized everything yet.
    pub wait: Duration,
    /// The run's Byzantine nodes: they are not checked (a faulty member's
    /// state is not a promise of the cluster), and equivocation evidence at
    /// the others is expected.
    pub byzantine: Vec<String>,
}

/// Reads the run, observes every node, judges.
pub async fn verify(config: &VerifyConfig) -> Result<VerifyReport, LoadgenError> {
    let history = History::read(&config.run_dir)?;
    let resolved = crate::target::resolve(
        &config.target,
        crate::config::KeyRange::ALL,
        Duration::from_secs(30),
    )
    .await?;
    let genesis = &resolved.genesis;
    let genesis_sat = genesis
        .allocations
        .iter()
        .try_fold(0u64, |sum, a| sum.checked_add(a.value.sat()))
        .ok_or_else(|| LoadgenError::Mismatch("the genesis allocations overflow u64".into()))?;
    let supply = Supply { genesis_sat, block_reward_sat: genesis.params.block_reward_sat };
    if let Some(unknown) =
        config.byzantine.iter().find(|b| !resolved.nodes.iter().any(|n| n.name == **b))
    {
        return Err(LoadgenError::Usage(format!("--byzantine: {unknown} is not one of the nodes")));
    }
    let honest: Vec<Node> =
        resolved.nodes.into_iter().filter(|n| !config.byzantine.contains(&n.name)).collect();
    let (views, unreachable) = observe(&honest, &history, config.wait).await;
    let mut report = judge(&history, &views, &unreachable, supply, !config.byzantine.is_empty());
    report.byzantine = config.byzantine.clone();
    Ok(report)
}

/// The report as text.
pub fn text(report: &VerifyReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let verdict = if report.ok { "ok" } else { "FAILED" };
    let _ = writeln!(out, "verify: {verdict} on {}", report.nodes.join(", "));
    if !report.byzantine.is_empty() {
        let _ = writeln!(out, "  not checked (Byzantine): {}", report.byzantine.join(", "));
    }
    let _ = writeln!(
        out,
        "  final in history {}  lost {}  pairs {}  conflicting final pairs {}",
        report.final_in_history, report.lost, report.pairs, report.conflicting_final_pairs
    );
    let _ = writeln!(
        out,
        "  blocks compared {}  disagreeing {}  double spends {}  supply mismatches {}  height regressions {}",
        report.blocks_compared,
        report.block_disagreements,
        report.double_spends,
        report.supply_mismatches,
        report.height_regressions
    );
    if !report.equivocations.is_empty() {
        let each: Vec<String> =
            report.equivocations.iter().map(|(n, c)| format!("{n} {c}")).collect();
        let _ = writeln!(out, "  equivocation evidence: {}", each.join(", "));
    }
    for v in &report.violations {
        let _ = writeln!(out, "  violation: {v}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txid(n: u8) -> TxId {
        TxId([n; 32])
    }

    fn hash(n: u8) -> BlockHash {
        BlockHash([n; 32])
    }

    fn block(n: u8, spends: &[(u8, u32)]) -> ChainBlock {
        ChainBlock {
            hash: hash(n),
            spends: Arc::new(
                spends.iter().map(|(t, v)| OutPoint { txid: txid(*t), vout: *v }).collect(),
            ),
        }
    }

    const SUPPLY: Supply = Supply { genesis_sat: 1_000, block_reward_sat: 10 };

    /// Two nodes that agree on everything: 2 blocks, 2 final transactions,
    /// one pair of which only the first side is final.
    fn agreeing() -> (History, Vec<NodeView>) {
        let history = History {
            final_txids: vec![txid(1), txid(2)],
            pairs: vec![(txid(2), txid(3))],
            height_regressions: Vec::new(),
        };
        let view = |name: &str| NodeView {
            name: name.into(),
            chain: vec![block(0, &[]), block(1, &[(9, 0), (9, 1)]), block(2, &[(1, 0)])],
            not_final: BTreeMap::new(),
            final_pair_sides: [txid(2)].into(),
            utxo_at: (2, 1_020),
            equivocations: 0,
        };
        (history, vec![view("node1"), view("node2")])
    }

    #[test]
    fn agreeing_nodes_pass() {
        let (history, views) = agreeing();
        let report = judge(&history, &views, &[], SUPPLY, false);
        assert!(report.ok, "{:?}", report.violations);
        assert_eq!((report.final_in_history, report.blocks_compared, report.pairs), (2, 3, 1));
    }

    #[test]
    fn a_final_transaction_missing_from_one_node_is_lost() {
        let (history, mut views) = agreeing();
        views[1].not_final.insert(txid(1), "unknown".into());
        let report = judge(&history, &views, &[], SUPPLY, false);
        assert!(!report.ok);
        assert_eq!(report.lost, 1);
        assert_eq!(report.lost_on.get("node2"), Some(&1));
        assert!(
            report.violations[0].contains("not final on node2 (unknown)"),
            "{:?}",
            report.violations
        );
    }

    #[test]
    fn a_block_hash_that_differs_fails() {
        let (history, mut views) = agreeing();
        views[1].chain[1].hash = hash(7);
        let report = judge(&history, &views, &[], SUPPLY, false);
        assert!(!report.ok);
        assert_eq!(report.block_disagreements, 1);
        assert!(report.violations[0].starts_with("nodes disagree on block 1"));
    }

    #[test]
    fn a_supply_that_does_not_add_up_fails() {
        let (history, mut views) = agreeing();
        views[0].utxo_at = (2, 1_021);
        let report = judge(&history, &views, &[], SUPPLY, false);
        assert!(!report.ok);
        assert_eq!(report.supply_mismatches, 1);
        assert!(report.violations[0].contains("1021 sat"), "{:?}", report.violations);
    }

    #[test]
    fn both_sides_of_a_pair_final_on_different_nodes_fails() {
        let (history, mut views) = agreeing();
        views[1].final_pair_sides = [txid(3)].into();
        let report = judge(&history, &views, &[], SUPPLY, false);
        assert!(!report.ok);
        assert_eq!(report.conflicting_final_pairs, 1);
    }

    #[test]
    fn an_outpoint_spent_twice_in_a_chain_fails() {
        let (history, mut views) = agreeing();
        for view in &mut views {
            view.chain[2] = block(2, &[(9, 1)]);
        }
        let report = judge(&history, &views, &[], SUPPLY, false);
        assert!(!report.ok);
        assert_eq!(report.double_spends, 2, "once per node's chain");
    }

    #[test]
    fn equivocation_evidence_fails_unless_the_run_was_byzantine() {
        let (history, mut views) = agreeing();
        views[0].equivocations = 1;
        assert!(!judge(&history, &views, &[], SUPPLY, false).ok);
        assert!(judge(&history, &views, &[], SUPPLY, true).ok);
    }

    #[test]
    fn an_unreachable_node_or_a_height_regression_fails() {
        let (mut history, views) = agreeing();
        assert!(!judge(&history, &views, &["node3: connection refused".into()], SUPPLY, false).ok);
        history.height_regressions.push("node2: committed height went back from 5 to 3".into());
        let report = judge(&history, &views, &[], SUPPLY, false);
        assert_eq!((report.ok, report.height_regressions), (false, 1));
    }

    #[test]
    fn the_history_file_gives_final_transactions_and_pairs() {
        let row = |t: u8, fate: &str, role: &str, on: &str| {
            format!("{},0,0,node1,{fate},,,,,{role},1,,{on}", txid(t))
        };
        let text = [
            HISTORY_HEADER.to_string(),
            row(1, "final", "regular", "5"),
            row(2, "timed_out", "regular", "0"),
            row(3, "final", "pair_first", "5"),
            row(4, "conflicted", "pair_second", "0"),
            row(5, "lost", "regular", "1"),
            // A rejection reason with commas and quotes is one quoted field.
            format!("{},0,0,node1,rejected,,,,\"bad, \"\"really\"\"\",regular,1,,2", txid(6)),
        ]
        .join("\n");
        let history = History::parse_csv(&text).unwrap();
        assert_eq!(history.final_txids, vec![txid(1), txid(3), txid(5), txid(6)]);
        assert_eq!(history.pairs, vec![(txid(3), txid(4))]);
        assert!(History::parse_csv("txid\n").unwrap_err().starts_with("line 1"));
        let bad = format!("{HISTORY_HEADER}\nnot-a-txid,0");
        assert!(History::parse_csv(&bad).unwrap_err().starts_with("line 2: txid"));
    }
}
