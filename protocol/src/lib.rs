//! TimeCoin's protocol rules, pure: no I/O, no clock, no randomness except
//! what a caller passes in. Same inputs, same outputs, so every node (and the
//! consensus simulator) computes the same answers.
//!
//! | concept | module |
//! |---|---|
//! | amounts in satoshis | [`amount`] |
//! | domain-tagged SHA-256 | [`hash`] |
//! | ids (txid, block hash, node id, chain id) | [`ids`] |
//! | canonical byte reader / writer | [`codec`] |
//! | ed25519 keys, ZIP-215 verification one by one and in batches | [`keys`] |
//! | the key file format | [`keyfile`] |
//! | addresses | [`address`] |
//! | transactions, txid, input signing | [`tx`] |
//! | merkle root and proofs | [`merkle`] |
//! | blocks and block 0 | [`block`] |
//! | genesis and consensus parameters | [`genesis`] |
//! | committee, weights, proposer schedule | [`committee`] |
//! | the quorum | [`quorum`] |
//! | vote batches and finality certificates | [`finality`] |
//! | proposals, prevotes, precommits, commit certificates | [`bft`] |
//! | coinbase split | [`coinbase`] |
//! | UTXO-set commitment | [`commitment`] |
//! | transaction validity | [`validate`] |
//! | RPC, event and node.json shapes; transaction states | [`rpc`] |

pub mod address;
pub mod amount;
pub mod bft;
pub mod block;
pub mod codec;
pub mod coinbase;
pub mod commitment;
pub mod committee;
pub mod finality;
mod fixed_bytes;
pub mod genesis;
pub mod hash;
pub mod ids;
pub mod keyfile;
pub mod keys;
pub mod merkle;
pub mod quorum;
pub mod rpc;
pub mod tx;
pub mod validate;

pub use address::{Address, AddressPayload, Network};
pub use amount::Amount;
pub use block::{Block, BlockHeader, BlockRef};
pub use codec::{Canonical, DecodeError, decode_exact};
pub use committee::{Committee, MemberIndex};
pub use genesis::{ConsensusParams, Genesis, Tier};
pub use hash::Hash256;
pub use ids::{BlockHash, ChainId, NodeId, TxId};
pub use keys::{PublicKey, SecretKey, Signature};
pub use tx::{OutPoint, Transaction, TxIn, TxOut};

/// The protocol version peers exchange in the handshake.
pub const PROTOCOL_VERSION: u32 = 1;
