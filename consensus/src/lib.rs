//! TimeCoin's consensus core, pure: a deterministic state machine per
//! masternode, with no I/O. Input: a message, a timer, a client transaction,
//! the current time. Output: state to persist, messages to send, timers to
//! set, finality and block events (see [`io`]). The node (`timed`) and the
//! seeded simulator ([`sim`]) drive the same code.
//!
//! | concern | module |
//! |---|---|
//! | the driver contract: inputs, outputs, persistence | [`io`] |
//! | what peers may send, range checks, outstanding requests | inbound.rs |
//! | durable "is it committed?" answers | [`index`] |
//! | the core, queries | [`core`](crate::Core) (core.rs) |
//! | locks, vote batches, certificates, conflicts, orphans | txs.rs |
//! | Tendermint blocks | blocks.rs |
//! | anti-entropy and catch-up | sync.rs |
//! | committed chain and objective block validity | [`ledger`] |
//! | transactions not in a block | pool.rs |
//! | rebuilding after a restart | [`restore`] |
//! | wire messages | [`message`] |
//! | the simulator (feature `sim`, tests only) | `sim` |
//! | a Byzantine member's behaviour (feature `byzantine`, tests only) | `byzantine` |

mod blocks;
#[cfg(feature = "byzantine")]
pub mod byzantine;
mod core;
mod inbound;
pub mod index;
pub mod io;
pub mod ledger;
pub mod message;
mod pool;
pub mod restore;
#[cfg(feature = "sim")]
pub mod sim;
mod sync;
mod txs;

pub use crate::core::{ConsensusInfo, Core, CoreConfig, Held, MempoolInfo, TxStatus};
pub use index::{ChainIndex, IndexError, MemoryIndex};
pub use io::{
    Event, Evidence, Input, Millis, Origin, Output, PersistOp, Refusal, SubmitOutcome, Timer,
    TxState,
};
pub use message::{Message, Status};
pub use restore::Restored;
