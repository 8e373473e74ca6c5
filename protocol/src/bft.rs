//! Block agreement's messages: proposals, prevotes, precommits, and commit
//! certificates (Tendermint; the state machine lives in the `consensus`
//! crate).
//!
//! Every one of them signs
//! "timecoin/consensus-vote" ‖ 0x00 ‖ chain id u32 ‖ type u8 ‖ height u64 ‖
//! round u32 ‖ block hash [32] (all zeros for nil), and a proposal appends
//! its valid round as u32 (0xFFFFFFFF for none), so a relay cannot alter it.
//! Types: 1 proposal, 2 prevote, 3 precommit.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::block::BlockRef;
use crate::committee::{Committee, MemberIndex};
use crate::hash::Tag;
use crate::ids::{BlockHash, ChainId};
use crate::keys::{KeyCache, SecretKey, SigCheck, Signature, VerifyStrategy, verify_many};

/// The kind of a consensus vote.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
pub enum VoteKind {
    /// First voting step.
    Prevote,
    /// Second voting step; weight ≥ q of these for one block commits it.
    Precommit,
}

impl VoteKind {
    /// The type byte in the signed message.
    pub const fn code(self) -> u8 {
        match self {
            VoteKind::Prevote => 2,
            VoteKind::Precommit => 3,
        }
    }
}

const PROPOSAL_CODE: u8 = 1;
const NO_ROUND: u32 = u32::MAX;

/// The bytes a proposal or vote signs.
pub fn consensus_message(
    chain: ChainId,
    code: u8,
    height: u64,
    round: u32,
    block: Option<&BlockHash>,
    valid_round: Option<Option<u32>>,
) -> Vec<u8> {
    let mut msg = Tag::CONSENSUS_VOTE.prefix();
    msg.extend_from_slice(&chain.0.to_le_bytes());
    msg.push(code);
    msg.extend_from_slice(&height.to_le_bytes());
    msg.extend_from_slice(&round.to_le_bytes());
    msg.extend_from_slice(&block.map_or([0; 32], |b| b.0));
    if let Some(valid_round) = valid_round {
        msg.extend_from_slice(&valid_round.unwrap_or(NO_ROUND).to_le_bytes());
    }
    msg
}

/// Why a consensus message is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BftError {
    /// The signer index is outside the committee.
    #[error("signer index {0} is not in the committee")]
    UnknownSigner(MemberIndex),
    /// The signature does not verify.
    #[error("bad signature from member {0}")]
    BadSignature(MemberIndex),
    /// A proposal's valid round is not below its round.
    #[error("proposal valid round {valid_round} is not below its round {round}")]
    ValidRound {
        /// The proposal's round.
        round: u32,
        /// Its valid round.
        valid_round: u32,
    },
    /// The block's height or round disagrees with the proposal's.
    #[error(
        "proposal for height {height} round {round} carries a block for height {block_height} round {block_round}"
    )]
    Mismatch {
        /// The proposal's height.
        height: u64,
        /// The proposal's round.
        round: u32,
        /// The block's height.
        block_height: u64,
        /// The block's round.
        block_round: u32,
    },
    /// A commit certificate's bitmap does not fit the committee.
    #[error("commit certificate bitmap has {bytes} bytes for a committee of {members}")]
    Bitmap {
        /// Bytes in the bitmap.
        bytes: usize,
        /// Committee size.
        members: usize,
    },
    /// Signatures and bitmap disagree.
    #[error("commit certificate has {signatures} signatures for {signers} signers")]
    SignatureCount {
        /// Signatures given.
        signatures: usize,
        /// Bits set.
        signers: usize,
    },
    /// Not enough weight.
    #[error("commit certificate has weight {weight}, quorum is {quorum}")]
    InsufficientWeight {
        /// Weight of the signers.
        weight: u64,
        /// What it needs.
        quorum: u64,
    },
}

fn check_sig(
    chain_keys: &mut KeyCache,
    committee: &Committee,
    signer: MemberIndex,
    message: &[u8],
    signature: &Signature,
) -> Result<(), BftError> {
    let member = committee.member(signer).ok_or(BftError::UnknownSigner(signer))?;
    let key = member.id.public_key();
    let ok = verify_many(
        &[SigCheck { key: &key, message, signature }],
        chain_keys,
        VerifyStrategy::OneByOne,
    )[0];
    if ok { Ok(()) } else { Err(BftError::BadSignature(signer)) }
}

/// A block proposal for (height, round) by that round's proposer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Proposal {
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// Tendermint's validRound: the round in which the proposer saw prevotes
    /// of weight ≥ q for this block, if it is re-proposing one.
    pub valid_round: Option<u32>,
    /// The block, by reference: header, coinbase and txids.
    pub block: BlockRef,
    /// By the proposer of (height, round).
    pub signature: Signature,
}

impl Proposal {
    /// Signs a proposal.
    pub fn sign(
        chain: ChainId,
        key: &SecretKey,
        round: u32,
        valid_round: Option<u32>,
        block: BlockRef,
    ) -> Proposal {
        let height = block.header.height;
        let hash = block.hash(chain);
        let msg =
            consensus_message(chain, PROPOSAL_CODE, height, round, Some(&hash), Some(valid_round));
        Proposal { height, round, valid_round, block, signature: key.sign(&msg) }
    }

    /// Checks that the proposer of (height, round) signed it and that it is
    /// well formed (the block itself is checked by block validity).
    pub fn verify(
        &self,
        chain: ChainId,
        committee: &Committee,
        keys: &mut KeyCache,
    ) -> Result<(), BftError> {
        if let Some(valid_round) = self.valid_round
            && valid_round >= self.round
        {
            return Err(BftError::ValidRound { round: self.round, valid_round });
        }
        let header = &self.block.header;
        // A fresh block carries the proposal's round; a re-proposed valid
        // value (Tendermint's validValue) keeps the round it was first
        // proposed in, which is at most its valid round.
        let round_ok = match self.valid_round {
            None => header.round == self.round,
            Some(valid_round) => header.round <= valid_round,
        };
        if header.height != self.height || !round_ok {
            return Err(BftError::Mismatch {
                height: self.height,
                round: self.round,
                block_height: header.height,
                block_round: header.round,
            });
        }
        let proposer = committee.proposer(self.height, self.round);
        let hash = self.block.hash(chain);
        let msg = consensus_message(
            chain,
            PROPOSAL_CODE,
            self.height,
            self.round,
            Some(&hash),
            Some(self.valid_round),
        );
        check_sig(keys, committee, proposer, &msg, &self.signature)
    }
}

/// A prevote or precommit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, Hash)]
pub struct BlockVote {
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The block voted for, or `None` for nil.
    pub block: Option<BlockHash>,
    /// Who votes.
    pub voter: MemberIndex,
    /// Over the consensus message.
    pub signature: Signature,
}

impl BlockVote {
    /// Signs a vote.
    pub fn sign(
        chain: ChainId,
        key: &SecretKey,
        voter: MemberIndex,
        kind: VoteKind,
        height: u64,
        round: u32,
        block: Option<BlockHash>,
    ) -> BlockVote {
        let msg = consensus_message(chain, kind.code(), height, round, block.as_ref(), None);
        BlockVote { kind, height, round, block, voter, signature: key.sign(&msg) }
    }

    /// Checks the signature.
    pub fn verify(
        &self,
        chain: ChainId,
        committee: &Committee,
        keys: &mut KeyCache,
    ) -> Result<(), BftError> {
        let msg = consensus_message(
            chain,
            self.kind.code(),
            self.height,
            self.round,
            self.block.as_ref(),
            None,
        );
        check_sig(keys, committee, self.voter, &msg, &self.signature)
    }
}

/// Proof that a block was committed: precommits of weight ≥ q for one
/// (height, round, block), as a signer bitmap over the sorted committee and
/// the signatures in bitmap order.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// The height.
    pub height: u64,
    /// The round the precommits are from.
    pub round: u32,
    /// The committed block.
    pub block: BlockHash,
    /// Bit i (byte i/8, bit i%8) set when member i signed.
    pub signers: Vec<u8>,
    /// One per set bit, in index order.
    pub signatures: Vec<Signature>,
}

impl CommitCertificate {
    /// Builds a certificate from precommits for `block` (duplicates and
    /// votes for other blocks are skipped).
    pub fn from_precommits<'a, I>(
        committee: &Committee,
        height: u64,
        round: u32,
        block: BlockHash,
        votes: I,
    ) -> CommitCertificate
    where
        I: IntoIterator<Item = &'a BlockVote>,
    {
        let mut by_signer: Vec<Option<Signature>> = vec![None; committee.len()];
        for vote in votes {
            if vote.kind == VoteKind::Precommit
                && vote.height == height
                && vote.round == round
                && vote.block == Some(block)
                && let Some(slot) = by_signer.get_mut(usize::from(vote.voter))
            {
                *slot = Some(vote.signature);
            }
        }
        let mut signers = vec![0u8; committee.len().div_ceil(8)];
        let mut signatures = Vec::new();
        for (i, sig) in by_signer.iter().enumerate() {
            if let Some(sig) = sig {
                signers[i / 8] |= 1 << (i % 8);
                signatures.push(*sig);
            }
        }
        CommitCertificate { height, round, block, signers, signatures }
    }

    /// The signer indexes, in order.
    pub fn signer_indexes(&self) -> Vec<MemberIndex> {
        let mut out = Vec::new();
        for (byte_index, byte) in self.signers.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    out.push((byte_index * 8 + bit) as MemberIndex);
                }
            }
        }
        out
    }

    /// Verifies shape, every signature, and the weight.
    pub fn verify(
        &self,
        chain: ChainId,
        committee: &Committee,
        keys: &mut KeyCache,
    ) -> Result<u64, BftError> {
        let members = committee.len();
        if self.signers.len() != members.div_ceil(8) {
            return Err(BftError::Bitmap { bytes: self.signers.len(), members });
        }
        let signers = self.signer_indexes();
        if signers.iter().any(|&i| usize::from(i) >= members) {
            return Err(BftError::Bitmap { bytes: self.signers.len(), members });
        }
        if signers.len() != self.signatures.len() {
            return Err(BftError::SignatureCount {
                signatures: self.signatures.len(),
                signers: signers.len(),
            });
        }
        let weight = committee.weight_of(signers.iter().copied());
        if weight < committee.quorum() {
            return Err(BftError::InsufficientWeight { weight, quorum: committee.quorum() });
        }
        let msg = consensus_message(
            chain,
            VoteKind::Precommit.code(),
            self.height,
            self.round,
            Some(&self.block),
            None,
        );
        for (signer, signature) in signers.iter().zip(&self.signatures) {
            check_sig(keys, committee, *signer, &msg, signature)?;
        }
        Ok(weight)
    }
}
