//! The JSON shapes of the node's RPC, event stream and `node.json`, defined
//! once: the server (`timed`) serialises them and the client library
//! deserialises the same types.
//!
//! Amounts appear twice: `*_sat` as integers for machines and `amount` as a
//! TIME string ("1.5") for people. Hashes and keys are lower-case hex;
//! addresses are their `TIME…` text.

use serde::{Deserialize, Serialize};

use crate::address::{Address, Network};
use crate::finality::FinalityCertificate;
use crate::genesis::Tier;
use crate::hash::Hash256;
use crate::ids::{BlockHash, NodeId, TxId};
use crate::keys::{PublicKey, Signature};
use crate::validate::TxRejection;

/// A transaction's state, as RPC, the event stream and loadgen name it
/// (PROTOCOL.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Valid, voted on, not final yet.
    Pending,
    /// A parent is known but not final; not voted for yet.
    WaitingForParent,
    /// A conflicting transaction is known.
    Contested,
    /// Votes of weight ≥ q (durable).
    Final,
    /// No quorum is possible for it unless a masternode equivocates.
    Conflicted,
    /// A conflicting transaction is final.
    Lost,
    /// Invalid.
    Rejected,
    /// In a committed block.
    Committed,
}

impl TxState {
    /// The name used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            TxState::Pending => "pending",
            TxState::WaitingForParent => "waiting_for_parent",
            TxState::Contested => "contested",
            TxState::Final => "final",
            TxState::Conflicted => "conflicted",
            TxState::Lost => "lost",
            TxState::Rejected => "rejected",
            TxState::Committed => "committed",
        }
    }

    /// Every state, for metrics.
    pub const ALL: [TxState; 8] = [
        TxState::Pending,
        TxState::WaitingForParent,
        TxState::Contested,
        TxState::Final,
        TxState::Conflicted,
        TxState::Lost,
        TxState::Rejected,
        TxState::Committed,
    ];

    /// True once the state can no longer change except to `committed`.
    pub fn is_settled(self) -> bool {
        matches!(self, TxState::Final | TxState::Lost | TxState::Rejected | TxState::Committed)
    }

    /// True for final and committed (a committed transaction is final).
    pub fn is_final(self) -> bool {
        matches!(self, TxState::Final | TxState::Committed)
    }
}

impl std::fmt::Display for TxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `getblockchaininfo`. Besides its own names it carries bitcoind's where
/// they mean something here (`bestblockhash`, `headers`,
/// `initialblockdownload`, `verificationprogress`, `time`), so a bitcoind
/// client library reads it unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockchainInfo {
    /// Network name.
    pub chain: Network,
    /// Chain id.
    pub chain_id: u32,
    /// Genesis hash.
    pub genesis_hash: Hash256,
    /// Committed height.
    pub blocks: u64,
    /// Hash of the last committed block.
    pub best_block_hash: BlockHash,
    /// Its timestamp (ms).
    pub best_block_time_ms: i64,
    /// UTXO-set commitment after it.
    pub utxo_commitment: Hash256,
    /// True while catching up.
    pub syncing: bool,
    /// Final transactions not yet in a block.
    pub final_not_in_block: usize,
    /// bitcoind's name for `best_block_hash`.
    pub bestblockhash: BlockHash,
    /// bitcoind's `headers`: the highest height this node knows exists
    /// (its own, or one a peer proved).
    pub headers: u64,
    /// bitcoind's `initialblockdownload`: `syncing`.
    pub initialblockdownload: bool,
    /// bitcoind's `verificationprogress`: `blocks / headers` (1 when caught up).
    pub verificationprogress: f64,
    /// bitcoind's `time`: the best block's timestamp, in seconds.
    pub time: i64,
}

/// `sendrawtransaction`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxSubmission {
    /// The txid.
    pub txid: TxId,
    /// Its state at this node now.
    pub state: TxState,
    /// True when the node already knew it (idempotent resubmission).
    pub already_known: bool,
}

/// `gettransactionfinality` / `waittransactionfinality`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxFinality {
    /// The txid.
    pub txid: TxId,
    /// Its state at this node.
    pub state: TxState,
    /// Weight of the votes this node has seen for it.
    pub weight: u64,
    /// The weight finality needs (q).
    pub quorum: u64,
    /// Total voting weight (W).
    pub total_weight: u64,
    /// The block that carries it, if committed.
    pub block_height: Option<u64>,
    /// For `rejected`: why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rejection: Option<TxRejection>,
    /// The certificate, when final and not yet in a block.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate: Option<FinalityCertificate>,
}

/// `getmempoolinfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MempoolInfo {
    /// Valid, not yet final.
    pub size: usize,
    /// Their bytes.
    pub bytes: usize,
    /// Waiting for a parent.
    pub orphans: usize,
    /// Their bytes.
    pub orphan_bytes: usize,
    /// Final, not yet in a block.
    pub final_not_in_block: usize,
    /// Txids with votes but no body yet.
    pub bodiless: usize,
    /// Admission limit (transactions).
    pub max_transactions: usize,
    /// Admission limit (bytes).
    pub max_bytes: usize,
}

/// One spendable output (`listunspent`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unspent {
    /// Its transaction.
    pub txid: TxId,
    /// Its index.
    pub vout: u32,
    /// Who owns it.
    pub address: Address,
    /// Value in sat.
    pub value_sat: u64,
    /// Value in TIME.
    pub amount: String,
    /// True when committed in a block; false when final but not yet in one.
    pub confirmed: bool,
}

/// `getbalance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// The address.
    pub address: Address,
    /// Spendable now (committed and final outputs), sat.
    pub balance_sat: u64,
    /// The same in TIME.
    pub balance: String,
    /// Of which committed in blocks, sat.
    pub confirmed_sat: u64,
    /// Number of spendable outputs.
    pub unspent: usize,
}

/// `gettxoutsetinfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxOutSetInfo {
    /// Committed height.
    pub height: u64,
    /// Its block hash.
    pub best_block_hash: BlockHash,
    /// Unspent outputs in the committed set.
    pub txouts: u64,
    /// Their total, sat.
    pub total_sat: u64,
    /// Their total, TIME.
    pub total_amount: String,
    /// The UTXO commitment.
    pub utxo_commitment: Hash256,
    /// Store size on disk.
    pub disk_size_bytes: u64,
}

/// One peer (`getpeerinfo`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its node id.
    pub id: NodeId,
    /// The socket address of the connection.
    pub addr: String,
    /// True when it dialled us.
    pub inbound: bool,
    /// "masternode" or "observer".
    pub role: String,
    /// True when it is a committee member.
    pub committee_member: bool,
    /// Connected for this long, seconds.
    pub connected_seconds: u64,
    /// Last ping round trip, ms.
    pub rtt_ms: Option<f64>,
    /// Messages received.
    pub msgs_in: u64,
    /// Messages sent.
    pub msgs_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Messages dropped because its queue was full.
    pub dropped: u64,
    /// Misbehaviour score.
    pub score: u64,
}

/// `getnetworkinfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// `timed` version (with git hash).
    pub version: String,
    /// P2P protocol version.
    pub protocol_version: u32,
    /// This node's id.
    pub node_id: NodeId,
    /// The bound P2P address.
    pub p2p_address: String,
    /// Open peer connections.
    pub connections: usize,
    /// Of which to committee members.
    pub committee_connections: usize,
    /// Network name.
    pub network: Network,
}

/// One committee member (`masternodelist`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasternodeEntry {
    /// Its id (public key).
    pub id: NodeId,
    /// Its tier.
    pub tier: Tier,
    /// Its voting weight.
    pub voting_weight: u64,
    /// Where its rewards go.
    pub reward_address: Address,
    /// Its P2P address in genesis.
    pub p2p_address: String,
    /// True for this node.
    pub is_self: bool,
    /// True when this node has a connection to it (always true for self).
    pub connected: bool,
    /// Highest contiguous vote-batch seq this node holds from it.
    pub votes_seen: u64,
}

/// `masternodestatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasternodeStatus {
    /// This node's id.
    pub id: NodeId,
    /// True when it runs with a committee key (it votes).
    pub is_masternode: bool,
    /// Its tier, if a member.
    pub tier: Option<Tier>,
    /// Its voting weight (0 for an observer).
    pub voting_weight: u64,
    /// Its highest vote-batch seq.
    pub own_vote_seq: u64,
    /// Committee members it is connected to.
    pub connected_members: usize,
    /// Committee size.
    pub committee_size: usize,
    /// q.
    pub quorum: u64,
    /// W.
    pub total_weight: u64,
}

/// `getconsensusinfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusInfo {
    /// Committed height.
    pub height: u64,
    /// Tip hash.
    pub tip: BlockHash,
    /// Height being agreed.
    pub current_height: u64,
    /// Round at that height.
    pub round: u32,
    /// Step: new_height, propose, prevote or precommit.
    pub step: String,
    /// Proposer of the current round.
    pub proposer: NodeId,
    /// Rounds used at recent heights, newest last.
    pub recent_rounds: Vec<HeightRounds>,
    /// Rounds beyond 0 started since this node started.
    pub view_changes: u64,
    /// Highest contiguous vote-batch seq held per member.
    pub votes_seen: Vec<VotesSeen>,
    /// True while catching up.
    pub syncing: bool,
    /// Equivocations seen.
    pub equivocations: u64,
    /// q.
    pub quorum: u64,
    /// W.
    pub total_weight: u64,
    /// Transactions that became final at this node since it started.
    #[serde(default)]
    pub final_count: u64,
    /// When the last one did (ms since the Unix epoch; 0 if none yet).
    #[serde(default)]
    pub last_final_ms: u64,
}

/// Rounds used at one height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeightRounds {
    /// The height.
    pub height: u64,
    /// The round it committed in (0 = first try).
    pub round: u32,
}

/// Vote batches seen from one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VotesSeen {
    /// The member.
    pub id: NodeId,
    /// Highest contiguous seq held.
    pub seq: u64,
}

/// `validateaddress`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressValidation {
    /// True when it parses and belongs to this chain's network.
    pub isvalid: bool,
    /// The text given.
    pub address: String,
    /// Its network, when it parses.
    pub network: Option<Network>,
    /// Its payload (hex), when it parses.
    pub payload: Option<String>,
    /// Why it is not valid.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// One input, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxInJson {
    /// Spent transaction.
    pub txid: TxId,
    /// Spent output.
    pub vout: u32,
    /// The key.
    pub pubkey: PublicKey,
    /// The address the key owns on this network.
    pub address: Address,
    /// The signature.
    pub signature: Signature,
}

/// One output, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxOutJson {
    /// Its index.
    pub n: u32,
    /// Value in sat.
    pub value_sat: u64,
    /// Value in TIME.
    pub amount: String,
    /// Who it pays.
    pub address: Address,
}

/// A decoded transaction (`getrawtransaction` verbose, `getblock` 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxJson {
    /// Its id.
    pub txid: TxId,
    /// Version.
    pub version: u32,
    /// Inputs (none for a coinbase).
    pub inputs: Vec<TxInJson>,
    /// Outputs.
    pub outputs: Vec<TxOutJson>,
    /// lock_time (the height, for a coinbase).
    pub lock_time: u32,
    /// Author's timestamp (ms).
    pub timestamp_ms: i64,
    /// Full-encoding size in bytes.
    pub size: usize,
    /// Hex of the full encoding.
    pub hex: String,
    /// State at this node (for `getrawtransaction`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<TxState>,
    /// Block height, if committed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub block_height: Option<u64>,
}

/// A block's transactions: ids (verbosity 1) or decoded (verbosity 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BlockTxs {
    /// Txids.
    Ids(Vec<TxId>),
    /// Decoded transactions.
    Decoded(Vec<TxJson>),
}

/// A decoded block (`getblock` verbosity 1 and 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockJson {
    /// Its hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u64,
    /// Header version.
    pub version: u32,
    /// Parent hash (the genesis hash for block 0).
    pub previous_block_hash: BlockHash,
    /// Merkle root of its txids.
    pub merkle_root: Hash256,
    /// UTXO commitment after it.
    pub utxo_commitment: Hash256,
    /// Timestamp (ms).
    pub time_ms: i64,
    /// Proposer.
    pub proposer: NodeId,
    /// Round it was proposed in.
    pub round: u32,
    /// Transactions, coinbase included.
    pub n_tx: usize,
    /// Bytes of transactions.
    pub size: u64,
    /// Commit certificate: round and signers (none for block 0).
    pub commit_round: Option<u32>,
    /// Members whose precommits committed it.
    pub signers: Vec<NodeId>,
    /// The transactions.
    pub tx: BlockTxs,
}

/// A block header (`getblockheader` verbose), under bitcoind's field names
/// where the field means the same, so a bitcoind client library reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeaderJson {
    /// Its hash.
    pub hash: BlockHash,
    /// Blocks on top of it, itself included (1 for the tip).
    pub confirmations: u64,
    /// Its height.
    pub height: u64,
    /// Header version.
    pub version: u32,
    /// The version as 8 hex digits.
    #[serde(rename = "versionHex")]
    pub version_hex: String,
    /// Merkle root of its txids.
    pub merkleroot: Hash256,
    /// Timestamp, in seconds (bitcoind's unit).
    pub time: i64,
    /// Timestamp, in milliseconds (this chain's unit).
    pub time_ms: i64,
    /// Transactions, coinbase included.
    #[serde(rename = "nTx")]
    pub n_tx: usize,
    /// The parent's hash; absent for block 0, as in bitcoind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previousblockhash: Option<BlockHash>,
    /// The next block's hash; absent for the tip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nextblockhash: Option<BlockHash>,
    /// UTXO commitment after it.
    pub utxocommitment: Hash256,
    /// Proposer.
    pub proposer: NodeId,
    /// Round it was proposed in.
    pub round: u32,
}

/// One event of the stream (`GET /events`, Server-Sent Events). The SSE `id`
/// is `id`; `event` is `tx`, `block`, `equivocation`, `syncing` or `lagged`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A transaction changed state.
    Tx {
        /// Event id (resume with `Last-Event-ID`).
        id: u64,
        /// When the node published it (ms).
        at_ms: u64,
        /// The transaction.
        txid: TxId,
        /// Its new state.
        state: TxState,
        /// Vote weight seen.
        weight: u64,
        /// For `rejected`: why (absent when it expired waiting for a parent).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        rejection: Option<TxRejection>,
    },
    /// A block was committed.
    Block {
        /// Event id.
        id: u64,
        /// When (ms).
        at_ms: u64,
        /// Height.
        height: u64,
        /// Hash.
        hash: BlockHash,
        /// Round.
        round: u32,
        /// Its txids, coinbase first.
        txids: Vec<TxId>,
    },
    /// A masternode equivocated.
    Equivocation {
        /// Event id.
        id: u64,
        /// When (ms).
        at_ms: u64,
        /// Description.
        detail: String,
    },
    /// The node started or stopped catching up.
    Syncing {
        /// Event id.
        id: u64,
        /// When (ms).
        at_ms: u64,
        /// True when it started.
        syncing: bool,
    },
    /// The final event before the server cuts off a slow consumer, or a
    /// resume asked for events no longer kept: the client must resolve what
    /// it missed with `gettransactionfinality`.
    Lagged {
        /// Event id of the first event the client may have missed.
        id: u64,
        /// When (ms).
        at_ms: u64,
        /// Why.
        reason: String,
    },
}

impl StreamEvent {
    /// The event id.
    pub fn id(&self) -> u64 {
        match self {
            StreamEvent::Tx { id, .. }
            | StreamEvent::Block { id, .. }
            | StreamEvent::Equivocation { id, .. }
            | StreamEvent::Syncing { id, .. }
            | StreamEvent::Lagged { id, .. } => *id,
        }
    }

    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Tx { .. } => "tx",
            StreamEvent::Block { .. } => "block",
            StreamEvent::Equivocation { .. } => "equivocation",
            StreamEvent::Syncing { .. } => "syncing",
            StreamEvent::Lagged { .. } => "lagged",
        }
    }
}

/// `node.json` in a data dir: what a running node publishes once its
/// listeners are bound (written atomically; removed on clean shutdown is not
/// required: `pid` tells whether it is current).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfoFile {
    /// `timed` version (with git hash).
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Node id.
    pub node_id: NodeId,
    /// Network.
    pub network: Network,
    /// Chain id.
    pub chain_id: u32,
    /// Genesis hash.
    pub genesis_hash: Hash256,
    /// Bound P2P address.
    pub p2p_address: String,
    /// Bound RPC URL (`http://ip:port`).
    pub rpc_url: String,
    /// Where the RPC cookie is, when the RPC needs one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rpc_cookie_file: Option<String>,
    /// The metrics listener's URL (`http://ip:port`, serving `/metrics`,
    /// `/health` and `/ready` without credentials), when configured.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metrics_url: Option<String>,
    /// The dev wallet (only for `timed --dev`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dev_wallet: Option<DevWallet>,
}

/// The dev wallet of a `timed --dev` chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevWallet {
    /// Its key file.
    pub key_file: String,
    /// Its address.
    pub address: Address,
}

/// JSON-RPC error codes the node uses (JSON-RPC 2.0 plus bitcoind's
/// application codes).
pub mod codes {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a valid request object (or an empty or too large batch).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Wrong parameter count or types.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The node failed (its own fault, not the client's).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Misc node condition (busy, catching up, shutting down).
    pub const MISC_ERROR: i64 = -1;
    /// Invalid address.
    pub const INVALID_ADDRESS: i64 = -5;
    /// Not found (transaction, block).
    pub const NOT_FOUND: i64 = -5;
    /// Bad hex or undecodable transaction.
    pub const DESERIALIZATION_ERROR: i64 = -22;
    /// Transaction rejected by the rules (data holds the typed rejection).
    pub const VERIFY_REJECTED: i64 = -26;
    /// Height out of range.
    pub const OUT_OF_RANGE: i64 = -8;
    /// Waiting timed out.
    pub const TIMEOUT: i64 = -28;
    /// The node is full right now (mempool or orphan pool); retry later.
    pub const BUSY: i64 = -29;
}
