//! Blocks: building this node's proposal from its final set, rebuilding a
//! proposed block by reference (bodies fetched only when missing here) and
//! deciding valid(v).

use std::collections::{HashMap, HashSet};

use protocol::block::{Block, BlockRef};
use protocol::coinbase::expected_coinbase;
use protocol::finality::FinalityCertificate;
use protocol::{Amount, BlockHash, NodeId, OutPoint, Transaction, TxId, TxOut};

use super::Tendermint;
use crate::ctx::Ctx;
use crate::finality::Finality;
use crate::io::{Event, Output};
use crate::ledger::{BlockError, CheckedBlock};

/// A proposed block: its reference, the body rebuilt from this node's final
/// set once it holds every transaction, and, once computed, whether it is
/// valid.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(super) reference: BlockRef,
    pub(super) block: Option<Block>,
    /// Txids of the reference this node did not hold final when it last
    /// looked (`None` before the first look).
    pub(super) missing: Option<Vec<TxId>>,
    /// Who sent the reference: asked first for what is missing.
    pub(super) source: NodeId,
    pub(super) checked: Option<Option<CheckedBlock>>,
}

impl Candidate {
    pub(super) fn new(reference: BlockRef, source: NodeId) -> Candidate {
        Candidate { reference, block: None, missing: None, source, checked: None }
    }

    /// Takes `reference` (another copy, same header) in place of a copy
    /// that was found invalid; see `Tendermint::offer_body`.
    pub(super) fn offer(&mut self, reference: &BlockRef, source: NodeId) {
        if matches!(self.checked, Some(None)) && self.reference != *reference {
            *self = Candidate::new(reference.clone(), source);
        }
    }
}

/// valid(v) as far as this node can tell now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Validity {
    Valid,
    Invalid,
    /// Transactions the block references are not final here yet; they were
    /// asked for. Tendermint waits for the proposal until timeoutPropose.
    Waiting,
}

/// A certificate's share of [`Block::size`].
fn certificate_bytes(certificate: &FinalityCertificate) -> u64 {
    certificate.votes.iter().map(|v| (2 + 8 + 64 + 4 + 32 * v.proof.siblings.len()) as u64).sum()
}

impl Tendermint {
    /// getValue(): the coinbase and final transactions that fit, parents
    /// before children.
    pub(super) fn build_block(&mut self, cx: &mut Ctx, fin: &Finality, round: u32) -> Block {
        let height = self.hs.height;
        let params = cx.params.clone();
        let mut txs = Vec::new();
        let mut certificates = Vec::new();
        let mut bytes = 0u64;
        let mut fees = Amount::ZERO;
        let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
        let mut spent: HashSet<OutPoint> = HashSet::new();
        let mut included: HashSet<TxId> = HashSet::new();
        let order: Vec<(&TxId, &Transaction, &FinalityCertificate)> =
            fin.final_in_order().collect();
        // Parents usually finalize first; a few passes catch the rest.
        for _pass in 0..3 {
            let mut progress = false;
            for &(txid, tx, certificate) in &order {
                if included.contains(txid) {
                    continue;
                }
                let cost = tx.size() as u64 + certificate_bytes(certificate);
                if txs.len() + 2 > params.max_block_txs as usize
                    || bytes + cost > params.max_block_bytes
                {
                    continue;
                }
                let available = tx.inputs.iter().all(|i| {
                    !spent.contains(&i.prev)
                        && (created.contains_key(&i.prev) || cx.ledger.utxo(&i.prev).is_some())
                });
                if !available {
                    continue;
                }
                let Some(fee) = fin.fee_of(cx, tx, &created) else { continue };
                let Some(total) = fees.checked_add(fee) else { continue };
                fees = total;
                for input in &tx.inputs {
                    spent.insert(input.prev);
                }
                for (vout, output) in tx.outputs.iter().enumerate() {
                    created.insert(OutPoint { txid: *txid, vout: vout as u32 }, *output);
                }
                bytes += cost;
                txs.push(tx.clone());
                certificates.push(certificate.clone());
                included.insert(*txid);
                progress = true;
            }
            if !progress {
                break;
            }
        }
        let timestamp = (cx.now as i64).max(cx.ledger.tip_header().timestamp + 1);
        let proposer = cx.my_index.unwrap_or(0);
        let coinbase = expected_coinbase(
            &cx.committee,
            Amount::from_sat(params.block_reward_sat),
            height,
            timestamp,
            proposer,
            fees,
        )
        .unwrap_or_else(|| protocol::Transaction::coinbase(height, timestamp, Vec::new()));
        txs.insert(0, coinbase);
        cx.ledger.assemble(height, txs, certificates, timestamp, cx.me, round)
    }

    pub(super) fn is_valid(&mut self, cx: &mut Ctx, fin: &Finality, hash: &BlockHash) -> bool {
        self.validity(cx, fin, hash) == Validity::Valid
    }

    /// A proposal of this height waits for transactions to become final
    /// here: each input may bring them, so the round rules are applied
    /// again after it.
    pub(crate) fn awaiting_bodies(&self) -> bool {
        !self.hs.decided
            && self.hs.candidates.values().any(|c| c.block.is_none() && c.checked.is_none())
    }

    /// valid(v), computed once per block body (see `offer_body`), after
    /// the body is rebuilt from this node's final set (`rebuild`). A
    /// timestamp ahead of this node's clock is not remembered as invalid:
    /// the block may become valid as time passes.
    pub(super) fn validity(&mut self, cx: &mut Ctx, fin: &Finality, hash: &BlockHash) -> Validity {
        let Some(candidate) = self.hs.candidates.get(hash) else { return Validity::Invalid };
        if let Some(checked) = &candidate.checked {
            return if checked.is_some() { Validity::Valid } else { Validity::Invalid };
        }
        let header = candidate.reference.header.clone();
        let result = match self.rebuild(cx, fin, hash) {
            Ok(false) => return Validity::Waiting,
            Ok(true) => self.check_candidate(cx, fin, hash),
            Err(error) => Err(error),
        };
        let result = match result {
            Ok(checked) => Some(checked),
            Err(error) => {
                cx.out.push(Output::Event(Event::ProposalRejected {
                    height: header.height,
                    round: header.round,
                    reason: error.to_string(),
                }));
                if error.is_transient() {
                    return Validity::Invalid;
                }
                None
            }
        };
        let validity = if result.is_some() { Validity::Valid } else { Validity::Invalid };
        if let Some(candidate) = self.hs.candidates.get_mut(hash) {
            candidate.checked = Some(result);
        }
        validity
    }

    /// Checks a rebuilt candidate's block. Its transactions and certificates
    /// are this node's own final entries, verified when they became final,
    /// so only the rules of the block as a whole remain to check.
    pub(super) fn check_candidate(
        &mut self,
        cx: &mut Ctx,
        fin: &Finality,
        hash: &BlockHash,
    ) -> Result<CheckedBlock, BlockError> {
        let Some(block) = self.hs.candidates.get(hash).and_then(|c| c.block.as_ref()) else {
            return Err(BlockError::Transaction { index: 0, reason: "no body".into() });
        };
        let held = |txid: &TxId, tx: &Transaction, certificate: &FinalityCertificate| {
            fin.holds_final(txid, tx, certificate)
        };
        let checked =
            cx.ledger.check_block(block, &cx.committee, cx.now, &mut cx.verified_votes, &held)?;
        let held_body = |txid: &TxId, tx: &Transaction| fin.holds_body(txid, tx);
        cx.ledger.check_signatures(block, &mut cx.verifier, &held_body)?;
        Ok(checked)
    }

    /// Rebuilds the body of candidate `hash` from this node's final set:
    /// true once it is whole; false while transactions are missing (asked
    /// of the sender, then of other members as retries come due); an error
    /// when the reference cannot be the block its header commits to, or
    /// names a transaction already committed.
    pub(super) fn rebuild(
        &mut self,
        cx: &mut Ctx,
        fin: &Finality,
        hash: &BlockHash,
    ) -> Result<bool, BlockError> {
        let Some(candidate) = self.hs.candidates.get(hash) else { return Ok(false) };
        if candidate.block.is_some() {
            return Ok(true);
        }
        let reference = &candidate.reference;
        let first_look = candidate.missing.is_none();
        let final_entry = |txid: &TxId| fin.final_entry(txid);
        let missing: Vec<TxId> = match &candidate.missing {
            Some(missing) => missing.iter().filter(|t| final_entry(t).is_none()).copied().collect(),
            None => {
                if reference.tx_count() > cx.params.max_block_txs as usize {
                    return Err(BlockError::Limits { txs: reference.tx_count(), bytes: 0 });
                }
                if !reference.binds(cx.chain) {
                    return Err(BlockError::MerkleRoot);
                }
                reference.txids.iter().filter(|t| final_entry(t).is_none()).copied().collect()
            }
        };
        if missing.is_empty() {
            let mut txs = Vec::with_capacity(reference.tx_count());
            let mut certificates = Vec::with_capacity(reference.txids.len());
            txs.push(reference.coinbase.clone());
            for txid in &reference.txids {
                let Some((tx, certificate)) = final_entry(txid) else { return Ok(false) };
                txs.push(tx.clone());
                certificates.push(certificate.clone());
            }
            let block = Block { header: reference.header.clone(), txs, certificates };
            if let Some(candidate) = self.hs.candidates.get_mut(hash) {
                candidate.block = Some(block);
                candidate.missing = Some(Vec::new());
            }
            return Ok(true);
        }
        // A reference naming a committed transaction is refused early, at
        // first sight only: this is an index read per txid, and a candidate
        // waiting for thousands of bodies (a node restarted behind) is
        // looked at on every event; a txid cannot become committed while
        // the candidate's height is pending, and `check_block` refuses
        // duplicates anyway once the body is whole.
        if first_look {
            for txid in &missing {
                if cx
                    .ledger
                    .committed_height(txid)
                    .map_err(|e| BlockError::Index(e.to_string()))?
                    .is_some()
                {
                    return Err(BlockError::Duplicate(*txid));
                }
            }
        }
        // The sender first, then the other members in turn as retries
        // (paced per txid) come due.
        let source = candidate.source;
        let attempts = missing
            .iter()
            .filter_map(|t| cx.requests.bodies.get(t))
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        let others = cx.committee.members().iter().map(|m| m.id);
        let peers: Vec<NodeId> = std::iter::once(source)
            .chain(others.filter(|id| *id != source))
            .filter(|id| *id != cx.me)
            .collect();
        if let Some(candidate) = self.hs.candidates.get_mut(hash) {
            candidate.missing = Some(missing.clone());
        }
        if let Some(peer) = peers.get(attempts % peers.len().max(1)) {
            cx.request_bodies(*peer, missing);
        }
        Ok(false)
    }
}
