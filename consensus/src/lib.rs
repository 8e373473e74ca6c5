//! TimeCoin's consensus core, pure: a deterministic state machine per
//! masternode, with no I/O. Input: a message, a timer, a client transaction,
//! the current time. Output: state to persist, messages to send, timers to
//! set, finality and block events (see [`io`]). The node (`timed`) and the
//! seeded simulator ([`sim`]) drive the same code.
//!
//! | concern | module |
//! |---|---|
//! | the driver contract: inputs, outputs, persistence | [`io`] |
//! | the core, queries | [`core`](crate::Core) (core.rs) |
//! | locks, vote batches, certificates, conflicts, orphans | txs.rs |
//! | Tendermint blocks | blocks.rs |
//! | anti-entropy and catch-up | sync.rs |
//! | committed chain and objective block validity | [`ledger`] |
//! | transactions not in a block | pool.rs |
//! | rebuilding after a restart | [`restore`] |
//! | wire messages | [`message`] |
//! | the simulator | [`sim`] |

mod blocks;
mod core;
pub mod io;
pub mod ledger;
pub mod message;
mod pool;
pub mod restore;
pub mod sim;
mod sync;
mod txs;

pub use crate::core::{ConsensusInfo, Core, CoreConfig, MempoolInfo, TxStatus};
pub use io::{
    Event, Evidence, Input, Millis, Origin, Output, PersistOp, SubmitOutcome, Timer, TxState,
};
pub use message::{Message, Status};
pub use restore::Restored;
