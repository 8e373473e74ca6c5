//! Blocks: the header (and its hash), the body, and block 0.
//!
//! Header encoding, hashed as SHA-256("timecoin/block" ‖ 0x00 ‖ chain id u32 ‖
//! header):
//!
//! ```text
//! version u32 | height u64 | prev_hash [32] | merkle_root [32]
//! | utxo_commitment [32] | timestamp i64 | proposer [32] | round u32
//! ```
//!
//! Block 0 is derived from genesis: its `prev_hash` is the genesis hash and
//! its one transaction is the allocation transaction.

use serde::{Deserialize, Serialize};

use crate::codec::{Canonical, DecodeError, Reader, Writer};
use crate::commitment::UtxoCommitment;
use crate::finality::FinalityCertificate;
use crate::genesis::Genesis;
use crate::hash::{Hash256, Tag, TaggedHasher};
use crate::ids::{BlockHash, ChainId, NodeId, TxId};
use crate::merkle::merkle_root;
use crate::tx::{OutPoint, Transaction};

/// The only block version this protocol defines.
pub const BLOCK_VERSION: u32 = 1;
/// Bytes of an encoded header.
pub const HEADER_BYTES: usize = 4 + 8 + 32 + 32 + 32 + 8 + 32 + 4;

/// A block header.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BlockHeader {
    /// [`BLOCK_VERSION`].
    pub version: u32,
    /// 0 for the genesis block.
    pub height: u64,
    /// The parent's hash (the genesis hash for block 0).
    pub prev_hash: BlockHash,
    /// Merkle root of the block's txids, coinbase first.
    pub merkle_root: Hash256,
    /// The committed UTXO set after this block.
    pub utxo_commitment: Hash256,
    /// Milliseconds since the Unix epoch; greater than the parent's.
    pub timestamp: i64,
    /// Who proposed it (zeros for block 0).
    pub proposer: NodeId,
    /// The Tendermint round it was proposed in.
    pub round: u32,
}

impl BlockHeader {
    /// The block id on `chain`.
    pub fn hash(&self, chain: ChainId) -> BlockHash {
        let mut h = TaggedHasher::new(Tag::BLOCK);
        h.update(&chain.0.to_le_bytes()).update(&self.encode());
        h.finish().into()
    }
}

impl Canonical for BlockHeader {
    fn encode_to(&self, w: &mut Writer) {
        w.u32(self.version)
            .u64(self.height)
            .bytes(&self.prev_hash.0)
            .bytes(&self.merkle_root.0)
            .bytes(&self.utxo_commitment.0)
            .i64(self.timestamp)
            .bytes(&self.proposer.0)
            .u32(self.round);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            version: r.u32("version")?,
            height: r.u64("height")?,
            prev_hash: BlockHash(r.array("prev_hash")?),
            merkle_root: Hash256(r.array("merkle_root")?),
            utxo_commitment: Hash256(r.array("utxo_commitment")?),
            timestamp: r.i64("timestamp")?,
            proposer: NodeId(r.array("proposer")?),
            round: r.u32("round")?,
        })
    }
}

/// A block: the header, the transactions (coinbase first), and a finality
/// certificate for each transaction after the coinbase
/// (`certificates[i]` belongs to `txs[i + 1]`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// Coinbase first, then final transactions, parents before children.
    pub txs: Vec<Transaction>,
    /// One per non-coinbase transaction, in the same order.
    pub certificates: Vec<FinalityCertificate>,
}

/// A block as a proposal carries it (blocks by reference): the header, the
/// coinbase, and the txids of the other transactions in block order. Every
/// masternode already holds the final transactions and their certificates
/// (they reached it as votes did), so each receiver rebuilds the body from
/// its own final set and asks peers only for what it lacks. The header's
/// merkle root binds the txids, and a txid binds everything of its
/// transaction but the input signatures, which the receiver's own copy
/// carries verified.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BlockRef {
    /// The header.
    pub header: BlockHeader,
    /// The coinbase (nobody else holds it).
    pub coinbase: Transaction,
    /// The txids after the coinbase, in block order.
    pub txids: Vec<TxId>,
}

impl BlockRef {
    /// The block id on `chain`.
    pub fn hash(&self, chain: ChainId) -> BlockHash {
        self.header.hash(chain)
    }

    /// Whether the coinbase and txids are the ones the header's merkle root
    /// commits to (the header is what the proposer signed; a relayer could
    /// change the rest).
    pub fn binds(&self, chain: ChainId) -> bool {
        let mut txids = Vec::with_capacity(self.txids.len() + 1);
        txids.push(self.coinbase.txid(chain));
        txids.extend_from_slice(&self.txids);
        merkle_root(&txids) == self.header.merkle_root
    }

    /// Transactions in the block, the coinbase included.
    pub fn tx_count(&self) -> usize {
        self.txids.len() + 1
    }
}

impl Block {
    /// What a proposal carries for this block (see [`BlockRef`]). A block
    /// without transactions (never valid) gets an empty coinbase.
    pub fn reference(&self, chain: ChainId) -> BlockRef {
        BlockRef {
            header: self.header.clone(),
            coinbase: self
                .txs
                .first()
                .cloned()
                .unwrap_or_else(|| Transaction::coinbase(0, 0, vec![])),
            txids: self.txs.iter().skip(1).map(|tx| tx.txid(chain)).collect(),
        }
    }

    /// The block id on `chain`.
    pub fn hash(&self, chain: ChainId) -> BlockHash {
        self.header.hash(chain)
    }

    /// The txids, in block order.
    pub fn txids(&self, chain: ChainId) -> Vec<TxId> {
        self.txs.iter().map(|tx| tx.txid(chain)).collect()
    }

    /// Bytes of transactions (full encodings).
    pub fn tx_bytes(&self) -> u64 {
        self.txs.iter().map(|tx| tx.size() as u64).sum()
    }

    /// What `max_block_bytes` limits: the transactions' full encodings plus
    /// the certificates' votes, each counted as voter u16 + seq u64 +
    /// signature [64] + proof index u32 + 32 per proof sibling. A proposal
    /// must fit a frame and be checked within a round's timeout, and
    /// certificates are most of its bytes.
    pub fn size(&self) -> u64 {
        let certificates: u64 = self
            .certificates
            .iter()
            .flat_map(|c| &c.votes)
            .map(|v| (2 + 8 + 64 + 4 + 32 * v.proof.siblings.len()) as u64)
            .sum();
        self.tx_bytes() + certificates
    }

    /// Block 0 of the chain `genesis` defines.
    pub fn genesis(genesis: &Genesis) -> Block {
        let allocation = genesis.allocation_tx();
        let txid = allocation.txid(genesis.chain_id);
        let mut utxos = UtxoCommitment::empty();
        for (vout, output) in allocation.outputs.iter().enumerate() {
            utxos.insert(&OutPoint { txid, vout: vout as u32 }, output);
        }
        Block {
            header: BlockHeader {
                version: BLOCK_VERSION,
                height: 0,
                prev_hash: BlockHash(genesis.hash().0),
                merkle_root: merkle_root(&[txid]),
                utxo_commitment: utxos.to_hash(),
                timestamp: genesis.timestamp_ms,
                proposer: NodeId([0; 32]),
                round: 0,
            },
            txs: vec![allocation],
            certificates: Vec::new(),
        }
    }
}
