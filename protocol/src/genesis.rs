//! Genesis: the chain id and every consensus parameter, and the hash that
//! covers all of it. Peers whose genesis hash differs are refused at the
//! handshake, so two nodes that talk agree on every rule below.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::address::{Address, Network};
use crate::amount::Amount;
use crate::codec::Writer;
use crate::hash::{Hash256, Tag, TaggedHasher};
use crate::ids::{ChainId, NodeId};
use crate::tx::{TX_VERSION, Transaction, TxOut};

/// The largest committee a genesis may name (commit certificates carry a
/// signer bitmap over it).
pub const MAX_COMMITTEE: usize = 1_000;
/// The longest P2P address string in genesis.
pub const MAX_P2P_ADDRESS_LEN: usize = 255;

/// A masternode tier (the original's four).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Collateral 0 TIME, block-reward weight 100.
    Free,
    /// Collateral 1,000 TIME, block-reward weight 1,000.
    Bronze,
    /// Collateral 10,000 TIME, block-reward weight 10,000.
    Silver,
    /// Collateral 100,000 TIME, block-reward weight 100,000.
    Gold,
}

impl Tier {
    /// All tiers, lowest first.
    pub const ALL: [Tier; 4] = [Tier::Free, Tier::Bronze, Tier::Silver, Tier::Gold];

    /// The byte in canonical encodings.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Position in [`Tier::ALL`] and in per-tier tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The block-reward weight (the original's split).
    pub const fn reward_weight(self) -> u64 {
        match self {
            Tier::Free => 100,
            Tier::Bronze => 1_000,
            Tier::Silver => 10_000,
            Tier::Gold => 100_000,
        }
    }

    /// The collateral the tier stands for (informational here).
    pub const fn collateral(self) -> Amount {
        Amount::from_sat([0, 1_000, 10_000, 100_000][self as usize] * crate::amount::SAT_PER_TIME)
    }
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "free" => Ok(Tier::Free),
            "bronze" => Ok(Tier::Bronze),
            "silver" => Ok(Tier::Silver),
            "gold" => Ok(Tier::Gold),
            other => Err(format!("unknown tier {other:?} (expected free, bronze, silver or gold)")),
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tier::Free => "free",
            Tier::Bronze => "bronze",
            Tier::Silver => "silver",
            Tier::Gold => "gold",
        })
    }
}

/// One committee member as genesis names it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct GenesisMasternode {
    /// Its id: its ed25519 public key.
    pub id: NodeId,
    /// Where it listens for peers (`host:port`); a node's config may override
    /// it per peer (a local cluster routes links through proxies).
    pub p2p_address: String,
    /// Its tier: voting weight from [`ConsensusParams::tier_voting_weights`],
    /// block-reward weight from [`Tier::reward_weight`].
    pub tier: Tier,
    /// Where its share of each coinbase goes.
    pub reward_address: Address,
}

/// Every rule that all masternodes must agree on.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsensusParams {
    /// Target time between blocks.
    pub block_interval_ms: u64,
    /// The most bytes of transactions (full encodings) one block may carry.
    pub max_block_bytes: u64,
    /// The most transactions one block may carry, coinbase included.
    pub max_block_txs: u32,
    /// The largest transaction (full encoding).
    pub max_tx_bytes: u32,
    /// The most inputs one transaction may have.
    pub max_tx_inputs: u32,
    /// Fee floor: fee ≥ max(min_fee_sat, Σout / fee_divisor) + inputs × fee_per_input_sat.
    pub min_fee_sat: u64,
    /// See `min_fee_sat`.
    pub fee_divisor: u64,
    /// See `min_fee_sat`: verification cost grows with inputs.
    pub fee_per_input_sat: u64,
    /// No output below this many sat.
    pub dust_limit_sat: u64,
    /// New coins per block, before fees.
    pub block_reward_sat: u64,
    /// Voting weight of Free, Bronze, Silver, Gold.
    pub tier_voting_weights: [u64; 4],
    /// Tendermint: how long to wait for a proposal in round 0.
    pub propose_timeout_ms: u64,
    /// Tendermint: how long to wait after seeing prevotes of weight ≥ q for any values.
    pub prevote_timeout_ms: u64,
    /// Tendermint: how long to wait after seeing precommits of weight ≥ q for any values.
    pub precommit_timeout_ms: u64,
    /// Tendermint: how much each timeout grows per round.
    pub timeout_delta_ms: u64,
    /// A block's timestamp may be at most this far ahead of a validator's clock.
    pub max_future_block_ms: u64,
    /// The most txids one vote batch may carry.
    pub max_vote_batch_txids: u32,
}

impl Default for ConsensusParams {
    fn default() -> Self {
        ConsensusParams {
            block_interval_ms: 1_000,
            max_block_bytes: 8_000_000,
            max_block_txs: 50_000,
            max_tx_bytes: 100_000,
            max_tx_inputs: 256,
            min_fee_sat: 1_000,
            fee_divisor: 1_000,
            fee_per_input_sat: 100,
            dust_limit_sat: 546,
            block_reward_sat: 100 * crate::amount::SAT_PER_TIME,
            tier_voting_weights: [1, 10, 100, 1_000],
            propose_timeout_ms: 1_000,
            prevote_timeout_ms: 500,
            precommit_timeout_ms: 500,
            timeout_delta_ms: 500,
            max_future_block_ms: 2_000,
            max_vote_batch_txids: 4_096,
        }
    }
}

impl ConsensusParams {
    /// The voting weight of `tier`.
    pub fn voting_weight(&self, tier: Tier) -> u64 {
        self.tier_voting_weights[tier.index()]
    }

    /// The smallest fee a transaction with `inputs` inputs paying `outputs`
    /// in total must pay, or `None` on overflow.
    pub fn required_fee(&self, inputs: usize, outputs: Amount) -> Option<Amount> {
        let proportional = outputs.sat() / self.fee_divisor.max(1);
        let base = self.min_fee_sat.max(proportional);
        let per_input = self.fee_per_input_sat.checked_mul(inputs as u64)?;
        base.checked_add(per_input).map(Amount::from_sat)
    }

    fn encode_to(&self, w: &mut Writer) {
        w.u64(self.block_interval_ms)
            .u64(self.max_block_bytes)
            .u32(self.max_block_txs)
            .u32(self.max_tx_bytes)
            .u32(self.max_tx_inputs)
            .u64(self.min_fee_sat)
            .u64(self.fee_divisor)
            .u64(self.fee_per_input_sat)
            .u64(self.dust_limit_sat)
            .u64(self.block_reward_sat);
        for weight in self.tier_voting_weights {
            w.u64(weight);
        }
        w.u64(self.propose_timeout_ms)
            .u64(self.prevote_timeout_ms)
            .u64(self.precommit_timeout_ms)
            .u64(self.timeout_delta_ms)
            .u64(self.max_future_block_ms)
            .u32(self.max_vote_batch_txids);
    }
}

/// An initial output.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Allocation {
    /// Who owns it.
    pub address: Address,
    /// How much.
    pub value: Amount,
}

/// The genesis of a chain.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain id, in every hash and signature.
    pub chain_id: ChainId,
    /// The network (address digit).
    pub network: Network,
    /// Genesis time, milliseconds since the Unix epoch (block 0's timestamp).
    pub timestamp_ms: i64,
    /// The committee, sorted by id, ids unique.
    pub committee: Vec<GenesisMasternode>,
    /// Blocks need at least this many committee members.
    pub min_masternodes: u32,
    /// The consensus rules.
    pub params: ConsensusParams,
    /// The initial UTXO set: output `i` of the allocation transaction.
    pub allocations: Vec<Allocation>,
}

/// Why a genesis is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GenesisError {
    /// No masternodes.
    #[error("the committee is empty")]
    EmptyCommittee,
    /// Too many masternodes.
    #[error("the committee has {0} members, at most {MAX_COMMITTEE} are allowed")]
    CommitteeTooLarge(usize),
    /// Ids not strictly increasing.
    #[error("committee ids must be sorted and unique; member {0} is out of order or repeated")]
    CommitteeOrder(usize),
    /// min_masternodes out of range.
    #[error("min_masternodes is {min} but must be between 1 and the committee size {size}")]
    MinMasternodes {
        /// The value given.
        min: u32,
        /// The committee size.
        size: usize,
    },
    /// A parameter that must be positive is zero, or one is out of range.
    #[error("parameter {name} is {value}: {rule}")]
    Param {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// An address of another network.
    #[error("{what} {address} is not a {network} address")]
    WrongNetwork {
        /// Which field.
        what: String,
        /// The address.
        address: Address,
        /// The chain's network.
        network: Network,
    },
    /// A member id of small order: under the ZIP-215 rule anyone can sign
    /// for it.
    #[error("member {0}'s id is a small-order key, which anyone can sign for; generate a real key")]
    WeakKey(usize),
    /// A P2P address that is too long.
    #[error("p2p_address of member {0} is longer than {MAX_P2P_ADDRESS_LEN} bytes")]
    P2pAddress(usize),
    /// Allocations overflow.
    #[error("the allocations sum to more than {}", Amount::MAX)]
    SupplyOverflow,
    /// An allocation below the dust limit.
    #[error("allocation {index} of {value} sat is below the dust limit")]
    DustAllocation {
        /// Which allocation.
        index: usize,
        /// Its value.
        value: u64,
    },
}

impl Genesis {
    /// Checks every rule a genesis must satisfy before a node runs it.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let size = self.committee.len();
        if size == 0 {
            return Err(GenesisError::EmptyCommittee);
        }
        if size > MAX_COMMITTEE {
            return Err(GenesisError::CommitteeTooLarge(size));
        }
        for i in 1..size {
            if self.committee[i - 1].id >= self.committee[i].id {
                return Err(GenesisError::CommitteeOrder(i));
            }
        }
        if self.min_masternodes == 0 || self.min_masternodes as usize > size {
            return Err(GenesisError::MinMasternodes { min: self.min_masternodes, size });
        }
        for (i, member) in self.committee.iter().enumerate() {
            if crate::PublicKey(member.id.0).is_small_order() {
                return Err(GenesisError::WeakKey(i));
            }
            if member.p2p_address.len() > MAX_P2P_ADDRESS_LEN {
                return Err(GenesisError::P2pAddress(i));
            }
            if member.reward_address.network != self.network {
                return Err(GenesisError::WrongNetwork {
                    what: format!("reward_address of member {i}"),
                    address: member.reward_address,
                    network: self.network,
                });
            }
        }
        let p = &self.params;
        let positive: [(&'static str, u64); 10] = [
            ("block_interval_ms", p.block_interval_ms),
            ("max_block_bytes", p.max_block_bytes),
            ("max_block_txs", u64::from(p.max_block_txs)),
            ("max_tx_bytes", u64::from(p.max_tx_bytes)),
            ("max_tx_inputs", u64::from(p.max_tx_inputs)),
            ("fee_divisor", p.fee_divisor),
            ("propose_timeout_ms", p.propose_timeout_ms),
            ("prevote_timeout_ms", p.prevote_timeout_ms),
            ("precommit_timeout_ms", p.precommit_timeout_ms),
            ("max_vote_batch_txids", u64::from(p.max_vote_batch_txids)),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(GenesisError::Param { name, value, rule: "must be positive" });
            }
        }
        for (tier, weight) in Tier::ALL.iter().zip(p.tier_voting_weights) {
            if weight == 0 || weight > 1_000_000 {
                return Err(GenesisError::Param {
                    name: match tier {
                        Tier::Free => "tier_voting_weights[free]",
                        Tier::Bronze => "tier_voting_weights[bronze]",
                        Tier::Silver => "tier_voting_weights[silver]",
                        Tier::Gold => "tier_voting_weights[gold]",
                    },
                    value: weight,
                    rule: "must be between 1 and 1,000,000",
                });
            }
        }
        if p.max_block_txs < 2 {
            return Err(GenesisError::Param {
                name: "max_block_txs",
                value: u64::from(p.max_block_txs),
                rule: "must leave room for the coinbase and one transaction (at least 2)",
            });
        }
        let mut supply = Amount::from_sat(p.block_reward_sat);
        for (i, alloc) in self.allocations.iter().enumerate() {
            if alloc.address.network != self.network {
                return Err(GenesisError::WrongNetwork {
                    what: format!("allocation {i}"),
                    address: alloc.address,
                    network: self.network,
                });
            }
            if alloc.value.sat() < p.dust_limit_sat {
                return Err(GenesisError::DustAllocation { index: i, value: alloc.value.sat() });
            }
            supply = supply.checked_add(alloc.value).ok_or(GenesisError::SupplyOverflow)?;
        }
        Ok(())
    }

    /// The canonical encoding the genesis hash covers.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.chain_id.0).u8(self.network.code()).i64(self.timestamp_ms);
        w.count(self.committee.len());
        for member in &self.committee {
            w.bytes(&member.id.0)
                .str16(&member.p2p_address)
                .u8(member.tier.code())
                .bytes(&member.reward_address.payload.0);
        }
        w.u32(self.min_masternodes);
        self.params.encode_to(&mut w);
        w.count(self.allocations.len());
        for alloc in &self.allocations {
            w.u64(alloc.value.sat()).bytes(&alloc.address.payload.0);
        }
        w.into_bytes()
    }

    /// The genesis hash: SHA-256("timecoin/genesis" ‖ 0x00 ‖ encoding).
    pub fn hash(&self) -> Hash256 {
        let mut h = TaggedHasher::new(Tag::GENESIS);
        h.update(&self.encode());
        h.finish()
    }

    /// The transaction whose outputs are the initial UTXO set: no inputs,
    /// lock_time 0 (a coinbase's is its height, at least 1), genesis time.
    pub fn allocation_tx(&self) -> Transaction {
        Transaction {
            version: TX_VERSION,
            inputs: Vec::new(),
            outputs: self
                .allocations
                .iter()
                .map(|a| TxOut { value: a.value, address: a.address.payload })
                .collect(),
            lock_time: 0,
            timestamp: self.timestamp_ms,
        }
    }
}
