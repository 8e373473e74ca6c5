//! The committed chain: tip, committed UTXO set, its commitment, an address
//! index, and the objective block rules (validity and application).
//!
//! Block validity depends only on the chain and the block, never on a
//! node's local locks or votes: that is what keeps Tendermint live, since a
//! correct proposer's block is then valid at every correct node.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use thiserror::Error;

use protocol::bft::{BftError, CommitCertificate};
use protocol::block::{BLOCK_VERSION, Block, BlockHeader};
use protocol::coinbase::expected_coinbase;
use protocol::commitment::{Element, UtxoCommitment};
use protocol::finality::{CertificateError, FinalityCertificate, VerifiedVotes};
use protocol::keys::KeyCache;
use protocol::merkle::merkle_root;
use protocol::validate::{SigVerifier, check_shape};
use protocol::{
    AddressPayload, Amount, BlockHash, ChainId, Committee, ConsensusParams, Genesis, NodeId,
    OutPoint, Transaction, TxId, TxOut,
};

use crate::index::{ChainIndex, IndexError};
use crate::io::{CommittedBlock, Millis};

/// Why a block is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BlockError {
    /// Wrong version.
    #[error("block version {0} is not {BLOCK_VERSION}")]
    Version(u32),
    /// Not the next height.
    #[error("block height {got} is not the next height {expected}")]
    Height {
        /// The block's height.
        got: u64,
        /// The next height.
        expected: u64,
    },
    /// Does not extend the tip.
    #[error("block's parent {got} is not the tip {expected}")]
    Parent {
        /// The block's prev_hash.
        got: BlockHash,
        /// The tip.
        expected: BlockHash,
    },
    /// Proposer field does not match the schedule.
    #[error("block proposer is not the proposer of height {height} round {round}")]
    Proposer {
        /// The height.
        height: u64,
        /// The round.
        round: u32,
    },
    /// Timestamp not after the parent's.
    #[error("block timestamp {timestamp} must be after its parent's, {parent}")]
    Timestamp {
        /// The block's timestamp.
        timestamp: i64,
        /// The parent's.
        parent: i64,
    },
    /// Timestamp further ahead of this node's clock than the rules allow:
    /// not valid yet, so never remembered as invalid (it may become valid).
    #[error("block timestamp {timestamp} is ahead of this node's clock: at most {max} for now")]
    TimestampAhead {
        /// The block's timestamp.
        timestamp: i64,
        /// The latest accepted now.
        max: i64,
    },
    /// An input signature does not verify (a certificate binds the txid,
    /// which excludes signatures).
    #[error("transaction {index} input {input} has a signature that does not verify")]
    Signature {
        /// Position in the block.
        index: usize,
        /// The input.
        input: usize,
    },
    /// Too many transactions or bytes.
    #[error("block exceeds its limits: {txs} transactions, {bytes} bytes")]
    Limits {
        /// Transactions.
        txs: usize,
        /// Bytes.
        bytes: u64,
    },
    /// Certificates do not match the transactions.
    #[error("block has {certificates} certificates for {txs} non-coinbase transactions")]
    CertificateCount {
        /// Certificates.
        certificates: usize,
        /// Non-coinbase transactions.
        txs: usize,
    },
    /// A certificate is for another transaction or invalid.
    #[error("transaction {index}: {reason}")]
    Certificate {
        /// Position in the block.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A transaction breaks a shape rule, or is a coinbase out of place.
    #[error("transaction {index} is malformed: {reason}")]
    Transaction {
        /// Position in the block.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// An input is not available in the committed set plus earlier
    /// transactions of the block.
    #[error("transaction {index} spends {outpoint}, which is not available")]
    InputUnavailable {
        /// Position in the block.
        index: usize,
        /// The outpoint.
        outpoint: OutPoint,
    },
    /// An input's key does not own the output (can only happen with a forged
    /// certificate, but the check is cheap).
    #[error("transaction {index} input {input} does not own its output")]
    Owner {
        /// Position in the block.
        index: usize,
        /// The input.
        input: usize,
    },
    /// Amounts overflow or outputs exceed inputs.
    #[error("transaction {index} has bad amounts")]
    Amounts {
        /// Position in the block.
        index: usize,
    },
    /// The coinbase is not the expected one.
    #[error("the coinbase does not pay the block reward plus fees as the rules split them")]
    Coinbase,
    /// Merkle root mismatch.
    #[error("the merkle root does not match the transactions")]
    MerkleRoot,
    /// UTXO commitment mismatch.
    #[error("the UTXO commitment does not match the set after the block")]
    Commitment,
    /// A transaction appears twice.
    #[error("transaction {0} appears twice")]
    Duplicate(TxId),
    /// The commit certificate is invalid.
    #[error("commit certificate: {0}")]
    CommitCertificate(String),
    /// The chain index could not be read (a local fault, not the block's).
    #[error("cannot check the block: {0}")]
    Index(String),
}

impl BlockError {
    /// True when the same block may be valid later (its timestamp is ahead
    /// of this node's clock, or a local read failed): such a result is not
    /// remembered.
    pub fn is_transient(&self) -> bool {
        matches!(self, BlockError::TimestampAhead { .. } | BlockError::Index(_))
    }
}

/// What checking a block computed, reused when it is committed.
#[derive(Clone, Debug)]
pub struct CheckedBlock {
    /// Its hash.
    pub hash: BlockHash,
    /// Outputs created.
    pub created: Vec<(OutPoint, TxOut)>,
    /// Outputs spent.
    pub spent: Vec<OutPoint>,
    /// The commitment after it.
    pub commitment: UtxoCommitment,
    /// The elements of `created`, in the same order (kept once committed,
    /// so spending them later costs no hash to the group).
    pub created_elements: Vec<Element>,
}

/// Most commitment elements a ledger keeps (about 250 bytes each): of new
/// and recently created outputs, and of committed outputs that admitted
/// transactions spend. Outputs are mostly committed within a second of
/// admission and spent soon after, and an element not kept is computed
/// again.
const KEPT_ELEMENTS: usize = 16_384;

/// The commitment elements of outputs about to be committed or spent
/// (computed at admission) and of recently committed ones, oldest evicted
/// first.
#[derive(Debug, Default)]
struct ElementCache {
    elements: HashMap<OutPoint, Element>,
    order: VecDeque<OutPoint>,
}

impl ElementCache {
    fn get(&self, outpoint: &OutPoint) -> Option<&Element> {
        self.elements.get(outpoint)
    }

    fn insert(&mut self, outpoint: OutPoint, element: Element) {
        if self.elements.insert(outpoint, element).is_none() {
            self.order.push_back(outpoint);
        }
        // Entries of spent outputs leave the map at once and the order
        // lazily, so the order is bounded too.
        while self.elements.len() > KEPT_ELEMENTS || self.order.len() > 2 * KEPT_ELEMENTS {
            let Some(oldest) = self.order.pop_front() else { break };
            self.elements.remove(&oldest);
        }
    }

    fn remove(&mut self, outpoint: &OutPoint) {
        self.elements.remove(outpoint);
    }
}

/// The committed chain.
#[derive(Debug)]
pub struct Ledger {
    chain: ChainId,
    params: ConsensusParams,
    min_masternodes: usize,
    height: u64,
    tip: BlockHash,
    tip_header: BlockHeader,
    utxos: HashMap<OutPoint, TxOut>,
    by_address: HashMap<AddressPayload, BTreeSet<OutPoint>>,
    commitment: UtxoCommitment,
    /// Elements of recently committed outputs.
    elements: ElementCache,
    /// Which txids are committed, durably (see [`crate::index`]).
    index: Arc<dyn ChainIndex>,
    /// Txids of blocks committed here whose persist the driver has not yet
    /// reported durable ([`Ledger::mark_durable`]), by height: the index
    /// cannot know them yet.
    unflushed: VecDeque<(u64, Vec<TxId>)>,
    unflushed_txids: HashMap<TxId, u64>,
    last_commit: Option<(Block, CommitCertificate)>,
}

impl Ledger {
    /// The chain at block 0 of `genesis`; `index` answers which txids are
    /// committed.
    pub fn genesis(genesis: &Genesis, index: Arc<dyn ChainIndex>) -> Ledger {
        let block0 = Block::genesis(genesis);
        let chain = genesis.chain_id;
        let mut ledger = Ledger {
            chain,
            params: genesis.params.clone(),
            min_masternodes: genesis.min_masternodes as usize,
            height: 0,
            tip: block0.hash(chain),
            tip_header: block0.header.clone(),
            utxos: HashMap::new(),
            by_address: HashMap::new(),
            commitment: UtxoCommitment::empty(),
            elements: ElementCache::default(),
            index,
            unflushed: VecDeque::new(),
            unflushed_txids: HashMap::new(),
            last_commit: None,
        };
        let txid = block0.txs[0].txid(chain);
        for (vout, output) in block0.txs[0].outputs.iter().enumerate() {
            let outpoint = OutPoint { txid, vout: vout as u32 };
            ledger.commitment.insert(&outpoint, output);
            ledger.insert_utxo(outpoint, *output);
        }
        ledger
    }

    /// A chain restored from storage.
    pub fn restore(
        genesis: &Genesis,
        index: Arc<dyn ChainIndex>,
        tip_header: BlockHeader,
        utxos: impl IntoIterator<Item = (OutPoint, TxOut)>,
        last_commit: Option<(Block, CommitCertificate)>,
    ) -> Ledger {
        let mut ledger = Ledger::genesis(genesis, index);
        if tip_header.height == 0 {
            return ledger;
        }
        ledger.utxos.clear();
        ledger.by_address.clear();
        ledger.commitment =
            UtxoCommitment::from_hash(&tip_header.utxo_commitment).unwrap_or_default();
        for (outpoint, output) in utxos {
            ledger.insert_utxo(outpoint, output);
        }
        ledger.height = tip_header.height;
        ledger.tip = tip_header.hash(ledger.chain);
        ledger.tip_header = tip_header;
        ledger.last_commit = last_commit;
        ledger
    }

    fn insert_utxo(&mut self, outpoint: OutPoint, output: TxOut) {
        self.by_address.entry(output.address).or_default().insert(outpoint);
        self.utxos.insert(outpoint, output);
    }

    fn remove_utxo(&mut self, outpoint: &OutPoint) -> Option<TxOut> {
        let output = self.utxos.remove(outpoint)?;
        if let Some(set) = self.by_address.get_mut(&output.address) {
            set.remove(outpoint);
            if set.is_empty() {
                self.by_address.remove(&output.address);
            }
        }
        Some(output)
    }

    /// The driver reports every persist up to the commit of `height`
    /// durable: from now on the index answers for those blocks.
    pub fn mark_durable(&mut self, height: u64) {
        while let Some((h, _)) = self.unflushed.front() {
            if *h > height {
                break;
            }
            if let Some((_, txids)) = self.unflushed.pop_front() {
                for txid in txids {
                    self.unflushed_txids.remove(&txid);
                }
            }
        }
    }

    /// The chain id.
    pub fn chain(&self) -> ChainId {
        self.chain
    }

    /// The consensus parameters.
    pub fn params(&self) -> &ConsensusParams {
        &self.params
    }

    /// Committed height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The last committed block's hash.
    pub fn tip(&self) -> BlockHash {
        self.tip
    }

    /// The last committed block's header.
    pub fn tip_header(&self) -> &BlockHeader {
        &self.tip_header
    }

    /// The last committed block and its commit certificate (none at height 0).
    pub fn last_commit(&self) -> Option<&(Block, CommitCertificate)> {
        self.last_commit.as_ref()
    }

    /// A committed unspent output.
    pub fn utxo(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.utxos.get(outpoint)
    }

    /// The height of the committed block that carries `txid`: from durable
    /// state (the index), or from memory for a block not yet reported durable.
    pub fn committed_height(&self, txid: &TxId) -> Result<Option<u64>, IndexError> {
        if let Some(height) = self.unflushed_txids.get(txid) {
            return Ok(Some(*height));
        }
        self.index.committed_height(txid)
    }

    /// True when a committed transaction spent `outpoint`: its transaction
    /// is committed and the output is no longer in the committed set. (An
    /// output index past the end reads as spent too: it never was
    /// spendable.)
    pub fn spent_on_chain(&self, outpoint: &OutPoint) -> Result<bool, IndexError> {
        if self.utxos.contains_key(outpoint) {
            return Ok(false);
        }
        Ok(self.committed_height(&outpoint.txid)?.is_some())
    }

    /// Committed unspent outputs paying `address`.
    pub fn utxos_of(&self, address: &AddressPayload) -> Vec<(OutPoint, TxOut)> {
        self.by_address
            .get(address)
            .map(|set| set.iter().filter_map(|op| self.utxos.get(op).map(|o| (*op, *o))).collect())
            .unwrap_or_default()
    }

    /// Number of committed unspent outputs and their total value.
    pub fn utxo_stats(&self) -> (usize, Amount) {
        let total = self.utxos.values().fold(0u128, |acc, o| acc + u128::from(o.value.sat()));
        (self.utxos.len(), Amount::from_sat(u64::try_from(total).unwrap_or(u64::MAX)))
    }

    /// The current UTXO commitment.
    pub fn commitment(&self) -> UtxoCommitment {
        self.commitment
    }

    /// Every input signature of the block's transactions verifies. Finality
    /// and commit certificates bind txids, which exclude signatures, so a
    /// relayer could otherwise swap them for garbage. `held` says whether
    /// this node already holds exactly this body verified (a cache: the
    /// answer is the same either way).
    pub fn check_signatures(
        &self,
        block: &Block,
        verifier: &mut SigVerifier,
        held: &dyn Fn(&TxId, &Transaction) -> bool,
    ) -> Result<(), BlockError> {
        for (index, tx) in block.txs.iter().enumerate().skip(1) {
            let txid = tx.txid(self.chain);
            if held(&txid, tx) {
                continue;
            }
            if let Some(input) = verifier.first_bad_input(self.chain, tx, &txid) {
                return Err(BlockError::Signature { index, input });
            }
        }
        Ok(())
    }

    /// Checks every objective rule for `block` as the next block but its
    /// input signatures ([`Ledger::check_signatures`]). `now` bounds the
    /// timestamp; `verified` caches vote-batch signatures. `held` says
    /// whether this node holds exactly this transaction and certificate as
    /// final and not committed (its certificate was verified when it became
    /// final, and commits take their transactions out of the final set): a
    /// cache, the answer is the same either way.
    pub fn check_block(
        &self,
        block: &Block,
        committee: &Committee,
        now: Millis,
        verified: &mut VerifiedVotes,
        held: &dyn Fn(&TxId, &Transaction, &FinalityCertificate) -> bool,
    ) -> Result<CheckedBlock, BlockError> {
        let header = &block.header;
        if header.version != BLOCK_VERSION {
            return Err(BlockError::Version(header.version));
        }
        let expected = self.height + 1;
        if header.height != expected {
            return Err(BlockError::Height { got: header.height, expected });
        }
        if header.prev_hash != self.tip {
            return Err(BlockError::Parent { got: header.prev_hash, expected: self.tip });
        }
        let proposer = committee.proposer(header.height, header.round);
        if committee.member(proposer).map(|m| m.id) != Some(header.proposer) {
            return Err(BlockError::Proposer { height: header.height, round: header.round });
        }
        if header.timestamp <= self.tip_header.timestamp {
            return Err(BlockError::Timestamp {
                timestamp: header.timestamp,
                parent: self.tip_header.timestamp,
            });
        }
        let max = i64::try_from(now)
            .unwrap_or(i64::MAX)
            .saturating_add(i64::try_from(self.params.max_future_block_ms).unwrap_or(i64::MAX));
        if header.timestamp > max {
            return Err(BlockError::TimestampAhead { timestamp: header.timestamp, max });
        }
        let bytes = block.size();
        if block.txs.len() > self.params.max_block_txs as usize
            || bytes > self.params.max_block_bytes
        {
            return Err(BlockError::Limits { txs: block.txs.len(), bytes });
        }
        if block.txs.is_empty() || !block.txs[0].is_coinbase() {
            return Err(BlockError::Transaction { index: 0, reason: "no coinbase first".into() });
        }
        if block.certificates.len() + 1 != block.txs.len() {
            return Err(BlockError::CertificateCount {
                certificates: block.certificates.len(),
                txs: block.txs.len() - 1,
            });
        }
        let txids = block.txids(self.chain);
        if merkle_root(&txids) != header.merkle_root {
            return Err(BlockError::MerkleRoot);
        }
        let held_at: Vec<bool> = block
            .txs
            .iter()
            .zip(&txids)
            .enumerate()
            .map(|(index, (tx, txid))| index > 0 && held(txid, tx, &block.certificates[index - 1]))
            .collect();
        let mut seen = HashSet::with_capacity(txids.len());
        for (txid, held) in txids.iter().zip(&held_at) {
            let committed = !held
                && self
                    .committed_height(txid)
                    .map_err(|e| BlockError::Index(e.to_string()))?
                    .is_some();
            if !seen.insert(*txid) || committed {
                return Err(BlockError::Duplicate(*txid));
            }
        }
        // Inputs come from the committed set or earlier transactions of this
        // block; each is spent once.
        let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
        let mut spent: Vec<OutPoint> = Vec::new();
        let mut spent_set: HashSet<OutPoint> = HashSet::new();
        let mut fees = Amount::ZERO;
        for (index, (tx, txid)) in block.txs.iter().zip(&txids).enumerate().skip(1) {
            let certificate = &block.certificates[index - 1];
            if certificate.txid != *txid {
                return Err(BlockError::Certificate {
                    index,
                    reason: format!("certificate is for {}", certificate.txid),
                });
            }
            if !held_at[index] {
                certificate.verify(self.chain, committee, verified).map_err(
                    |e: CertificateError| BlockError::Certificate { index, reason: e.to_string() },
                )?;
            }
            let total_out = check_shape(tx, &self.params)
                .map_err(|e| BlockError::Transaction { index, reason: e.to_string() })?;
            let mut total_in = Amount::ZERO;
            for (input_index, input) in tx.inputs.iter().enumerate() {
                let outpoint = input.prev;
                if !spent_set.insert(outpoint) {
                    return Err(BlockError::InputUnavailable { index, outpoint });
                }
                let output = match created.get(&outpoint).or_else(|| self.utxos.get(&outpoint)) {
                    Some(output) => *output,
                    None => return Err(BlockError::InputUnavailable { index, outpoint }),
                };
                if AddressPayload::from_public_key(&input.pubkey) != output.address {
                    return Err(BlockError::Owner { index, input: input_index });
                }
                total_in =
                    total_in.checked_add(output.value).ok_or(BlockError::Amounts { index })?;
                spent.push(outpoint);
            }
            let fee = total_in.checked_sub(total_out).ok_or(BlockError::Amounts { index })?;
            fees = fees.checked_add(fee).ok_or(BlockError::Amounts { index })?;
            for (vout, output) in tx.outputs.iter().enumerate() {
                created.insert(OutPoint { txid: *txid, vout: vout as u32 }, *output);
            }
        }
        let proposer_index = committee.proposer(header.height, header.round);
        let coinbase = expected_coinbase(
            committee,
            Amount::from_sat(self.params.block_reward_sat),
            header.height,
            header.timestamp,
            proposer_index,
            fees,
        )
        .ok_or(BlockError::Coinbase)?;
        if block.txs[0] != coinbase {
            return Err(BlockError::Coinbase);
        }
        for (vout, output) in coinbase.outputs.iter().enumerate() {
            created.insert(OutPoint { txid: txids[0], vout: vout as u32 }, *output);
        }
        let checked = self.changes(block, &txids, spent, created);
        if checked.commitment.to_hash() != header.utxo_commitment {
            return Err(BlockError::Commitment);
        }
        Ok(checked)
    }

    /// The UTXO changes of a block whose inputs are known to be available:
    /// outputs created and not spent within the block, outputs spent from the
    /// committed set, and the commitment after it.
    fn changes(
        &self,
        block: &Block,
        txids: &[TxId],
        spent: Vec<OutPoint>,
        created: HashMap<OutPoint, TxOut>,
    ) -> CheckedBlock {
        let spent_set: HashSet<OutPoint> = spent.iter().copied().collect();
        let mut commitment = self.commitment;
        let mut created_list = Vec::new();
        // Block order, for determinism (`created` is a map).
        for (tx, txid) in block.txs.iter().zip(txids) {
            for vout in 0..tx.outputs.len() {
                let outpoint = OutPoint { txid: *txid, vout: vout as u32 };
                if let Some(output) = created.get(&outpoint)
                    && !spent_set.contains(&outpoint)
                {
                    created_list.push((outpoint, *output));
                }
            }
        }
        let mut spent_committed = Vec::new();
        for outpoint in spent {
            if let Some(output) = self.utxos.get(&outpoint) {
                match self.elements.get(&outpoint) {
                    Some(element) => commitment.subtract(element),
                    None => commitment.remove(&outpoint, output),
                }
                spent_committed.push(outpoint);
            }
        }
        let created_elements: Vec<Element> = created_list
            .iter()
            .map(|(outpoint, output)| match self.elements.get(outpoint) {
                Some(element) => *element,
                None => Element::of(outpoint, output),
            })
            .collect();
        for element in &created_elements {
            commitment.add(element);
        }
        CheckedBlock {
            hash: block.hash(self.chain),
            created: created_list,
            spent: spent_committed,
            commitment,
            created_elements,
        }
    }

    /// Changes of a block whose inputs must exist in the committed set or
    /// earlier in the block (no other checks).
    fn compute_changes(&self, block: &Block) -> Result<CheckedBlock, BlockError> {
        let txids = block.txids(self.chain);
        let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
        let mut spent = Vec::new();
        for (index, (tx, txid)) in block.txs.iter().zip(&txids).enumerate() {
            for input in &tx.inputs {
                if !created.contains_key(&input.prev) && !self.utxos.contains_key(&input.prev) {
                    return Err(BlockError::InputUnavailable { index, outpoint: input.prev });
                }
                spent.push(input.prev);
            }
            for (vout, output) in tx.outputs.iter().enumerate() {
                created.insert(OutPoint { txid: *txid, vout: vout as u32 }, *output);
            }
        }
        Ok(self.changes(block, &txids, spent, created))
    }

    /// A block at `height` over the tip with `txs` (coinbase first) and
    /// their `certificates`, its merkle root and the UTXO commitment after
    /// it filled in (for a proposal). When the transactions do not apply to
    /// the committed set the commitment stays zero, and `check_block`
    /// rejects the block.
    pub fn assemble(
        &self,
        height: u64,
        txs: Vec<Transaction>,
        certificates: Vec<FinalityCertificate>,
        timestamp: i64,
        proposer: NodeId,
        round: u32,
    ) -> Block {
        let txids: Vec<TxId> = txs.iter().map(|t| t.txid(self.chain)).collect();
        let mut block = Block {
            header: BlockHeader {
                version: BLOCK_VERSION,
                height,
                prev_hash: self.tip,
                merkle_root: merkle_root(&txids),
                utxo_commitment: protocol::Hash256::ZERO,
                timestamp,
                proposer,
                round,
            },
            txs,
            certificates,
        };
        if let Ok(changes) = self.compute_changes(&block) {
            block.header.utxo_commitment = changes.commitment.to_hash();
        }
        block
    }

    /// The changes of a certified block during catch-up: no certificate or
    /// signature checks (a commit certificate of weight ≥ q vouches for it),
    /// only linkage, the merkle root, inputs that exist in our committed set,
    /// and the resulting commitment.
    pub fn certified_changes(&self, block: &Block) -> Result<CheckedBlock, BlockError> {
        let header = &block.header;
        let expected = self.height + 1;
        if header.height != expected {
            return Err(BlockError::Height { got: header.height, expected });
        }
        if header.prev_hash != self.tip {
            return Err(BlockError::Parent { got: header.prev_hash, expected: self.tip });
        }
        if merkle_root(&block.txids(self.chain)) != header.merkle_root {
            return Err(BlockError::MerkleRoot);
        }
        let checked = self.compute_changes(block)?;
        if checked.commitment.to_hash() != header.utxo_commitment {
            return Err(BlockError::Commitment);
        }
        Ok(checked)
    }

    /// Verifies a commit certificate for `block` (weight ≥ q and at least
    /// `min_masternodes` signers).
    pub fn check_commit_certificate(
        &self,
        block_hash: &BlockHash,
        height: u64,
        certificate: &CommitCertificate,
        committee: &Committee,
        keys: &mut KeyCache,
    ) -> Result<(), BlockError> {
        if certificate.block != *block_hash || certificate.height != height {
            return Err(BlockError::CommitCertificate("for another block".into()));
        }
        certificate
            .verify(self.chain, committee, keys)
            .map_err(|e: BftError| BlockError::CommitCertificate(e.to_string()))?;
        if certificate.signer_indexes().len() < self.min_masternodes {
            return Err(BlockError::CommitCertificate(format!(
                "{} signers, blocks need {} masternodes",
                certificate.signer_indexes().len(),
                self.min_masternodes
            )));
        }
        Ok(())
    }

    /// Blocks need this many distinct signers.
    pub fn min_masternodes(&self) -> usize {
        self.min_masternodes
    }

    /// The committed outputs `tx` spends whose commitment elements are not
    /// kept: a block spending them would compute each on the spot.
    pub fn spent_without_element(&self, tx: &Transaction) -> Vec<(OutPoint, TxOut)> {
        tx.inputs
            .iter()
            .filter(|input| self.elements.get(&input.prev).is_none())
            .filter_map(|input| self.utxos.get(&input.prev).map(|output| (input.prev, *output)))
            .collect()
    }

    /// Keeps commitment elements computed ahead (see
    /// [`crate::Core::keep_elements`]).
    pub fn keep_elements(&mut self, elements: impl IntoIterator<Item = (OutPoint, Element)>) {
        for (outpoint, element) in elements {
            self.elements.insert(outpoint, element);
        }
    }

    /// Applies a checked block (`txids` its transactions' ids, in order) and
    /// its commit certificate; returns what the store must persist.
    pub fn apply(
        &mut self,
        mut block: Block,
        txids: &[TxId],
        checked: CheckedBlock,
        certificate: CommitCertificate,
    ) -> CommittedBlock {
        // A committed block is vouched for by its commit certificate (catch-up
        // applies it without re-checking transactions): its transactions'
        // finality certificates, most of its bytes, are not kept or stored.
        block.certificates.clear();
        for input in block.txs.iter().flat_map(|tx| &tx.inputs) {
            self.remove_utxo(&input.prev);
            self.elements.remove(&input.prev);
        }
        for ((outpoint, output), element) in checked.created.iter().zip(&checked.created_elements) {
            self.insert_utxo(*outpoint, *output);
            self.elements.insert(*outpoint, *element);
        }
        self.commitment = checked.commitment;
        self.height = block.header.height;
        self.tip = checked.hash;
        self.tip_header = block.header.clone();
        for txid in txids {
            self.unflushed_txids.insert(*txid, self.height);
        }
        self.unflushed.push_back((self.height, txids.to_vec()));
        self.last_commit = Some((block.clone(), certificate.clone()));
        CommittedBlock {
            block,
            hash: checked.hash,
            certificate,
            created: checked.created,
            spent: checked.spent,
            utxo_commitment: self.commitment.to_hash(),
        }
    }
}
