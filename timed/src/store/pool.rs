//! The store's in-memory image of what it holds besides the committed
//! chain: locked transactions, final transactions not yet in a block,
//! frozen outpoints, own vote batches and own proposals and block votes.
//!
//! The disk holds this image as a checkpoint plus the write-ahead records
//! persisted since (`wal`); the image in memory is what both replay to, so
//! a persist never reads the disk to find what it changes. Every change
//! follows [`consensus::restore::Restored::apply`], the reference meaning
//! of each op (read them side by side); the store's tests compare the two
//! after random op sequences.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use consensus::io::PersistOp;
use protocol::bft::{BlockVote, Proposal};
use protocol::finality::{FinalityCertificate, VoteBatch};
use protocol::{ChainId, OutPoint, Transaction, TxId};

/// What a checkpoint holds: the image, without the indexes derived from it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct PoolImage {
    /// The committed height the image is at (own proposals and block votes
    /// count only for the height after it).
    pub(super) tip_height: u64,
    /// Locked transactions by txid.
    pub(super) locked: BTreeMap<TxId, Transaction>,
    /// Final transactions not in a block, by the order they became final.
    pub(super) finals: BTreeMap<u64, (Transaction, FinalityCertificate)>,
    /// The order number of the next final transaction.
    pub(super) next_final: u64,
    /// Outpoints frozen to the lost transaction that keeps them locked.
    pub(super) frozen: BTreeMap<OutPoint, TxId>,
    /// Own vote batches that still matter, by seq.
    pub(super) own_batches: BTreeMap<u64, VoteBatch>,
    /// Own proposals at the height after the tip.
    pub(super) own_proposals: Vec<Proposal>,
    /// Own prevotes and precommits at the height after the tip.
    pub(super) own_block_votes: Vec<BlockVote>,
}

/// What a commit changes in the pool (the rest of it is the chain's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CommitPart {
    /// The block's height.
    pub(super) height: u64,
    /// Its txids, coinbase first.
    pub(super) txids: Vec<TxId>,
    /// Every outpoint its transactions spend.
    pub(super) inputs: Vec<OutPoint>,
}

/// The image with the indexes a persist needs.
#[derive(Debug, Default)]
pub(super) struct Pool {
    image: PoolImage,
    /// (outpoint, txid) for each input of each locked transaction: which
    /// locks a block's inputs defeat.
    lock_index: BTreeSet<(OutPoint, TxId)>,
    /// Where each final transaction sits in `image.finals`.
    final_seq: HashMap<TxId, u64>,
}

impl Pool {
    /// The pool of `image`, with its indexes rebuilt.
    pub(super) fn from_image(image: PoolImage) -> Pool {
        let lock_index = image
            .locked
            .iter()
            .flat_map(|(txid, tx)| tx.inputs.iter().map(move |i| (i.prev, *txid)))
            .collect();
        let final_seq = image.finals.iter().map(|(seq, (_, c))| (c.txid, *seq)).collect();
        Pool { image, lock_index, final_seq }
    }

    /// The image (for a checkpoint, or to load).
    pub(super) fn image(&self) -> &PoolImage {
        &self.image
    }

    /// Applies one op other than a commit.
    pub(super) fn apply(&mut self, op: &PersistOp, chain: ChainId) {
        match op {
            PersistOp::OwnVotes { locked, batch } => {
                for tx in locked {
                    self.lock(tx.txid(chain), tx.clone());
                }
                self.image.own_batches.insert(batch.seq, batch.clone());
            }
            PersistOp::Final(list) => {
                for (tx, certificate) in list {
                    self.unlock(&certificate.txid);
                    if !self.final_seq.contains_key(&certificate.txid) {
                        let seq = self.image.next_final;
                        self.image.next_final += 1;
                        self.final_seq.insert(certificate.txid, seq);
                        self.image.finals.insert(seq, (tx.clone(), certificate.clone()));
                    }
                }
            }
            PersistOp::Abandon(txids) => {
                for txid in txids {
                    self.unlock_and_freeze(*txid);
                }
            }
            PersistOp::OwnProposal(proposal) => {
                if proposal.height == self.image.tip_height + 1 {
                    self.image.own_proposals.push((**proposal).clone());
                }
            }
            PersistOp::OwnBlockVote(vote) => {
                if vote.height == self.image.tip_height + 1 {
                    self.image.own_block_votes.push(vote.clone());
                }
            }
            // The chain's part is the store's; the pool's is `commit`.
            PersistOp::Commit(_) => {}
        }
    }

    /// Applies the pool's part of a commit.
    pub(super) fn commit(&mut self, part: &CommitPart) {
        for txid in &part.txids {
            if let Some(seq) = self.final_seq.remove(txid) {
                self.image.finals.remove(&seq);
            }
            self.unlock(txid);
        }
        // A locked transaction whose input the block spent lost; its other
        // inputs stay frozen. Losers go in txid order, as `Restored` walks
        // its map, so two losers sharing an outpoint freeze it alike.
        let mut losers = BTreeSet::new();
        for outpoint in &part.inputs {
            let range = (*outpoint, TxId([0; 32]))..=(*outpoint, TxId([0xff; 32]));
            losers.extend(self.lock_index.range(range).map(|(_, txid)| *txid));
        }
        for txid in losers {
            self.unlock_and_freeze(txid);
        }
        for outpoint in &part.inputs {
            self.image.frozen.remove(outpoint);
        }
        // Own batches matter while some txid in them is locked or final.
        let (locked, finals) = (&self.image.locked, &self.final_seq);
        self.image.own_batches.retain(|_, batch| {
            batch.txids.iter().any(|t| locked.contains_key(t) || finals.contains_key(t))
        });
        self.image.tip_height = part.height;
        self.image.own_proposals.clear();
        self.image.own_block_votes.clear();
    }

    fn lock(&mut self, txid: TxId, tx: Transaction) {
        // The txid covers the inputs' outpoints: a body stored again under
        // the same txid has the same inputs, and its index entries stay.
        self.lock_index.extend(tx.inputs.iter().map(|i| (i.prev, txid)));
        self.image.locked.insert(txid, tx);
    }

    fn unlock(&mut self, txid: &TxId) -> Option<Transaction> {
        let tx = self.image.locked.remove(txid)?;
        for input in &tx.inputs {
            self.lock_index.remove(&(input.prev, *txid));
        }
        Some(tx)
    }

    fn unlock_and_freeze(&mut self, txid: TxId) {
        if let Some(tx) = self.unlock(&txid) {
            for input in &tx.inputs {
                self.image.frozen.insert(input.prev, txid);
            }
        }
    }
}
