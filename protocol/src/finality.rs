//! Instant finality's messages: vote batches and finality certificates.
//!
//! A masternode votes for transactions in batches:
//! `VoteBatch { voter, seq, txids }` signed over
//! "timecoin/vote-batch" ‖ 0x00 ‖ chain id u32 ‖ voter [32] ‖ seq u64 ‖ root [32],
//! where root is the merkle root of the txids. A vote is one txid in a batch,
//! and it can be shown alone as (voter, seq, signature, merkle proof). A
//! transaction's finality certificate is such votes from distinct voters of
//! weight ≥ q; any node can verify it with nothing but the committee.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::committee::{Committee, MemberIndex};
use crate::hash::{Hash256, Tag};
use crate::ids::{ChainId, NodeId, TxId};
use crate::keys::{
    KeyCache, PublicKey, SecretKey, SigCheck, Signature, VerifyStrategy, verify_many,
};
use crate::merkle::{MerkleProof, merkle_proofs, merkle_root};

/// The message a vote batch's signature signs.
pub fn vote_batch_message(chain: ChainId, voter: &NodeId, seq: u64, root: &Hash256) -> Vec<u8> {
    let mut msg = Tag::VOTE_BATCH.prefix();
    msg.extend_from_slice(&chain.0.to_le_bytes());
    msg.extend_from_slice(&voter.0);
    msg.extend_from_slice(&seq.to_le_bytes());
    msg.extend_from_slice(&root.0);
    msg
}

/// A signed batch of one masternode's votes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct VoteBatch {
    /// Who votes.
    pub voter: NodeId,
    /// Contiguous per voter, from 1.
    pub seq: u64,
    /// The transactions voted for.
    pub txids: Vec<TxId>,
    /// Over the batch message.
    pub signature: Signature,
}

/// Why a vote batch or certificate is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VoteError {
    /// The voter is not in the committee.
    #[error("voter {0} is not a committee member")]
    NotMember(String),
    /// No txids.
    #[error("vote batch is empty")]
    Empty,
    /// More txids than genesis allows.
    #[error("vote batch has {count} txids, at most {max} are allowed")]
    TooLarge {
        /// Txids in the batch.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A txid appears twice.
    #[error("vote batch names txid {0} twice")]
    DuplicateTxid(TxId),
    /// seq 0 is not used.
    #[error("vote batch seq must start at 1")]
    ZeroSeq,
    /// The signature does not verify.
    #[error("vote batch signature from {0} does not verify")]
    BadSignature(String),
}

impl VoteBatch {
    /// Signs a batch.
    pub fn sign(chain: ChainId, key: &SecretKey, seq: u64, txids: Vec<TxId>) -> VoteBatch {
        let voter = NodeId::from(key.public());
        let root = merkle_root(&txids);
        let signature = key.sign(&vote_batch_message(chain, &voter, seq, &root));
        VoteBatch { voter, seq, txids, signature }
    }

    /// The merkle root of the txids.
    pub fn root(&self) -> Hash256 {
        merkle_root(&self.txids)
    }

    /// Checks membership, shape and signature; records the signature in
    /// `verified` so certificates that cite this batch need no second check.
    pub fn check(
        &self,
        chain: ChainId,
        committee: &Committee,
        max_txids: usize,
        verified: &mut VerifiedVotes,
    ) -> Result<MemberIndex, VoteError> {
        let voter = committee
            .index_of(&self.voter)
            .ok_or_else(|| VoteError::NotMember(self.voter.short()))?;
        self.check_shape(max_txids)?;
        if !verified.check(chain, committee, voter, self.seq, &self.root(), &self.signature) {
            return Err(VoteError::BadSignature(self.voter.short()));
        }
        Ok(voter)
    }

    /// The checks that need no signature: a seq from 1, at least one and at
    /// most `max_txids` txids, none twice.
    pub fn check_shape(&self, max_txids: usize) -> Result<(), VoteError> {
        if self.seq == 0 {
            return Err(VoteError::ZeroSeq);
        }
        if self.txids.is_empty() {
            return Err(VoteError::Empty);
        }
        if self.txids.len() > max_txids {
            return Err(VoteError::TooLarge { count: self.txids.len(), max: max_txids });
        }
        let mut seen = HashSet::with_capacity(self.txids.len());
        for txid in &self.txids {
            if !seen.insert(txid) {
                return Err(VoteError::DuplicateTxid(*txid));
            }
        }
        Ok(())
    }

    /// Each txid's vote as a certificate entry, in txid order.
    pub fn cert_votes(&self, voter: MemberIndex) -> Vec<(TxId, CertVote)> {
        self.txids
            .iter()
            .zip(merkle_proofs(&self.txids))
            .map(|(txid, proof)| {
                (*txid, CertVote { voter, seq: self.seq, signature: self.signature, proof })
            })
            .collect()
    }
}

/// One vote inside a certificate.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CertVote {
    /// The voter's committee index.
    pub voter: MemberIndex,
    /// The batch's seq.
    pub seq: u64,
    /// The batch's signature.
    pub signature: Signature,
    /// The txid's place in the batch.
    pub proof: MerkleProof,
}

/// Proof that a transaction is final: votes of weight ≥ q from distinct voters.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct FinalityCertificate {
    /// The transaction.
    pub txid: TxId,
    /// The votes, by distinct voters.
    pub votes: Vec<CertVote>,
}

/// Why a finality certificate is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertificateError {
    /// A voter index outside the committee.
    #[error("certificate for {txid} names voter index {voter}, not in the committee")]
    UnknownVoter {
        /// The transaction.
        txid: TxId,
        /// The index.
        voter: MemberIndex,
    },
    /// A voter appears twice.
    #[error("certificate for {txid} names voter index {voter} twice")]
    DuplicateVoter {
        /// The transaction.
        txid: TxId,
        /// The index.
        voter: MemberIndex,
    },
    /// A merkle proof is malformed.
    #[error("certificate for {txid} has a malformed proof from voter index {voter}")]
    BadProof {
        /// The transaction.
        txid: TxId,
        /// The index.
        voter: MemberIndex,
    },
    /// A signature does not verify.
    #[error("certificate for {txid} has a bad signature from voter index {voter}")]
    BadSignature {
        /// The transaction.
        txid: TxId,
        /// The index.
        voter: MemberIndex,
    },
    /// Not enough weight.
    #[error("certificate for {txid} has weight {weight}, quorum is {quorum}")]
    InsufficientWeight {
        /// The transaction.
        txid: TxId,
        /// The weight of its valid votes.
        weight: u64,
        /// What it needs.
        quorum: u64,
    },
}

impl FinalityCertificate {
    /// Verifies every vote and the weight; returns the weight.
    pub fn verify(
        &self,
        chain: ChainId,
        committee: &Committee,
        verified: &mut VerifiedVotes,
    ) -> Result<u64, CertificateError> {
        let txid = self.txid;
        let mut seen = vec![false; committee.len()];
        for vote in &self.votes {
            let voter = vote.voter;
            let slot = seen
                .get_mut(usize::from(voter))
                .ok_or(CertificateError::UnknownVoter { txid, voter })?;
            if *slot {
                return Err(CertificateError::DuplicateVoter { txid, voter });
            }
            *slot = true;
            let root =
                vote.proof.root_for(&txid).ok_or(CertificateError::BadProof { txid, voter })?;
            if !verified.check(chain, committee, voter, vote.seq, &root, &vote.signature) {
                return Err(CertificateError::BadSignature { txid, voter });
            }
        }
        let weight = committee.weight_of(self.votes.iter().map(|v| v.voter));
        if weight < committee.quorum() {
            return Err(CertificateError::InsufficientWeight {
                txid,
                weight,
                quorum: committee.quorum(),
            });
        }
        Ok(weight)
    }

    /// The weight of the voters it names (without verifying anything).
    pub fn claimed_weight(&self, committee: &Committee) -> u64 {
        committee.weight_of(self.votes.iter().map(|v| v.voter))
    }
}

/// Remembers which (voter, seq, root, signature) were verified, so one batch
/// signature is checked once however many certificates cite it. The
/// signature is part of the key: whether a certificate verifies must not
/// depend on what this node saw before (block validity must be objective).
/// Bounded: it forgets everything when full.
#[derive(Debug)]
pub struct VerifiedVotes {
    seen: HashSet<(MemberIndex, u64, Hash256, Signature)>,
    keys: KeyCache,
    capacity: usize,
}

impl Default for VerifiedVotes {
    fn default() -> Self {
        // ~1.8 MB when full: some 20 s of a busy committee's batches (four
        // peers sealing at most every 10 ms send at most 400 a second), what
        // the certificates of the next blocks cite; a batch forgotten is only
        // verified again (at 65,536 the set took ~15 MB: 112-byte entries
        // in 131,072 slots).
        VerifiedVotes::with_capacity(1 << 13)
    }
}

impl VerifiedVotes {
    /// A cache of at most `capacity` verified batch signatures.
    pub fn with_capacity(capacity: usize) -> Self {
        VerifiedVotes {
            seen: HashSet::new(),
            keys: KeyCache::with_capacity(4_096),
            capacity: capacity.max(1),
        }
    }

    /// The signature check of `batch` still to do, prepared to be verified
    /// elsewhere (in a batch with others, on another thread): `None` when it
    /// is known valid here or its voter is no member (the core's own check
    /// then decides, as without this).
    pub fn pending(
        &self,
        chain: ChainId,
        committee: &Committee,
        batch: &VoteBatch,
    ) -> Option<PendingVote> {
        let voter = committee.index_of(&batch.voter)?;
        let root = batch.root();
        if self.seen.contains(&(voter, batch.seq, root, batch.signature)) {
            return None;
        }
        Some(PendingVote {
            voter,
            seq: batch.seq,
            root,
            key: batch.voter.public_key(),
            message: vote_batch_message(chain, &batch.voter, batch.seq, &root),
            signature: batch.signature,
        })
    }

    /// Keeps `vote`, which passed [`verify_many`] (the one rule, whatever
    /// the strategy) elsewhere: [`Self::check`] then needs no verification.
    pub fn remember(&mut self, vote: &PendingVote) {
        self.insert((vote.voter, vote.seq, vote.root, vote.signature));
    }

    fn insert(&mut self, entry: (MemberIndex, u64, Hash256, Signature)) {
        if self.seen.len() >= self.capacity {
            self.seen.clear();
        }
        self.seen.insert(entry);
    }

    /// True when `signature` is member `voter`'s valid signature of
    /// (`seq`, `root`).
    pub fn check(
        &mut self,
        chain: ChainId,
        committee: &Committee,
        voter: MemberIndex,
        seq: u64,
        root: &Hash256,
        signature: &Signature,
    ) -> bool {
        if self.seen.contains(&(voter, seq, *root, *signature)) {
            return true;
        }
        let Some(member) = committee.member(voter) else {
            return false;
        };
        let message = vote_batch_message(chain, &member.id, seq, root);
        let key = member.id.public_key();
        let check = SigCheck { key: &key, message: &message, signature };
        let ok = verify_many(&[check], &mut self.keys, VerifyStrategy::OneByOne)[0];
        if ok {
            self.insert((voter, seq, *root, *signature));
        }
        ok
    }
}

/// A vote batch's signature check prepared by [`VerifiedVotes::pending`].
#[derive(Clone, Debug)]
pub struct PendingVote {
    voter: MemberIndex,
    seq: u64,
    root: Hash256,
    key: PublicKey,
    message: Vec<u8>,
    signature: Signature,
}

impl PendingVote {
    /// The check to pass to [`verify_many`].
    pub fn check(&self) -> SigCheck<'_> {
        SigCheck { key: &self.key, message: &self.message, signature: &self.signature }
    }
}
