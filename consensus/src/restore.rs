//! What a node persisted, and how the core is rebuilt from it.
//!
//! [`Restored::apply`] is the reference meaning of every [`PersistOp`]: the
//! simulator's store is exactly a `Restored` that applies ops in order, and
//! the node's sled store must load back what this would hold.

use std::collections::{BTreeMap, HashMap};

use protocol::bft::{BlockVote, CommitCertificate, Proposal};
use protocol::block::{Block, BlockHeader};
use protocol::finality::{FinalityCertificate, VoteBatch};
use protocol::{ChainId, Genesis, OutPoint, Transaction, TxId, TxOut};

use crate::io::PersistOp;

/// Everything the core needs after a restart.
#[derive(Clone, Debug)]
pub struct Restored {
    /// The chain id (to compute txids).
    pub chain: ChainId,
    /// The last committed block's header (block 0's at genesis).
    pub tip_header: BlockHeader,
    /// The last committed block and its certificate (none at genesis).
    pub last_commit: Option<(Block, CommitCertificate)>,
    /// The committed UTXO set.
    pub utxos: HashMap<OutPoint, TxOut>,
    /// Final transactions not yet in a block, in the order they became final.
    pub final_txs: Vec<(Transaction, FinalityCertificate)>,
    /// Transactions this node locked inputs for, not final, lost or committed.
    pub locked: BTreeMap<TxId, Transaction>,
    /// Locks still held for lost transactions: this node voted for them, so
    /// it never votes for another spender of these outpoints (a double
    /// spender's other coins freeze). Dropped once a block spends the outpoint.
    pub frozen: BTreeMap<OutPoint, TxId>,
    /// This node's vote batches that still matter (some txid not settled),
    /// by seq.
    pub own_batches: BTreeMap<u64, VoteBatch>,
    /// The highest seq this node ever used.
    pub own_seq: u64,
    /// Own proposals at the height after the tip.
    pub own_proposals: Vec<Proposal>,
    /// Own prevotes and precommits at the height after the tip.
    pub own_block_votes: Vec<BlockVote>,
}

impl Restored {
    /// The state of a node that has persisted nothing yet.
    pub fn genesis(genesis: &Genesis) -> Restored {
        let block0 = Block::genesis(genesis);
        let chain = genesis.chain_id;
        let txid = block0.txs[0].txid(chain);
        let utxos = block0.txs[0]
            .outputs
            .iter()
            .enumerate()
            .map(|(vout, o)| (OutPoint { txid, vout: vout as u32 }, *o))
            .collect();
        Restored {
            chain,
            tip_header: block0.header,
            last_commit: None,
            utxos,
            final_txs: Vec::new(),
            locked: BTreeMap::new(),
            frozen: BTreeMap::new(),
            own_batches: BTreeMap::new(),
            own_seq: 0,
            own_proposals: Vec::new(),
            own_block_votes: Vec::new(),
        }
    }

    /// Applies one persisted change.
    pub fn apply(&mut self, op: &PersistOp) {
        match op {
            PersistOp::OwnVotes { locked, batch } => {
                for tx in locked {
                    self.locked.insert(tx.txid(self.chain), tx.clone());
                }
                self.own_seq = self.own_seq.max(batch.seq);
                self.own_batches.insert(batch.seq, batch.clone());
            }
            PersistOp::Final(list) => {
                for (tx, certificate) in list {
                    self.locked.remove(&certificate.txid);
                    if !self.final_txs.iter().any(|(_, c)| c.txid == certificate.txid) {
                        self.final_txs.push((tx.clone(), certificate.clone()));
                    }
                }
            }
            PersistOp::Abandon(txids) => {
                for txid in txids {
                    if let Some(tx) = self.locked.remove(txid) {
                        for input in &tx.inputs {
                            self.frozen.insert(input.prev, *txid);
                        }
                    }
                }
            }
            PersistOp::Commit(committed) => {
                for outpoint in &committed.spent {
                    self.utxos.remove(outpoint);
                }
                for (outpoint, output) in &committed.created {
                    self.utxos.insert(*outpoint, *output);
                }
                let in_block: Vec<TxId> = committed.block.txids(self.chain);
                self.final_txs.retain(|(_, c)| !in_block.contains(&c.txid));
                for txid in &in_block {
                    self.locked.remove(txid);
                }
                // A locked transaction whose input the block spent lost.
                let spent: std::collections::HashSet<OutPoint> = committed
                    .block
                    .txs
                    .iter()
                    .flat_map(|tx| tx.inputs.iter().map(|i| i.prev))
                    .collect();
                // A locked transaction whose input the block spent lost; its
                // other inputs stay frozen.
                let losers: Vec<(TxId, Transaction)> = self
                    .locked
                    .iter()
                    .filter(|(_, tx)| tx.inputs.iter().any(|i| spent.contains(&i.prev)))
                    .map(|(id, tx)| (*id, tx.clone()))
                    .collect();
                for (txid, tx) in losers {
                    self.locked.remove(&txid);
                    for input in &tx.inputs {
                        self.frozen.insert(input.prev, txid);
                    }
                }
                self.frozen.retain(|outpoint, _| !spent.contains(outpoint));
                let live: std::collections::HashSet<TxId> = self
                    .locked
                    .keys()
                    .copied()
                    .chain(self.final_txs.iter().map(|(_, c)| c.txid))
                    .collect();
                self.own_batches.retain(|_, b| b.txids.iter().any(|t| live.contains(t)));
                self.tip_header = committed.block.header.clone();
                self.last_commit = Some((committed.block.clone(), committed.certificate.clone()));
                self.own_proposals.clear();
                self.own_block_votes.clear();
            }
            PersistOp::OwnProposal(proposal) => {
                if proposal.height == self.tip_header.height + 1 {
                    self.own_proposals.push((**proposal).clone());
                }
            }
            PersistOp::OwnBlockVote(vote) => {
                if vote.height == self.tip_header.height + 1 {
                    self.own_block_votes.push(vote.clone());
                }
            }
        }
    }
}
