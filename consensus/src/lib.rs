//! TimeCoin's consensus core, pure: a deterministic state machine per
//! masternode, with no I/O. Input: a message, a timer, a client transaction,
//! the current time. Output: state to persist, messages to send, timers to
//! set, finality and block events (see [`io`]). The node (`timed`) and the
//! seeded simulator (`sim`, behind the feature of that name) drive the same code.
//!
//! | concern | module |
//! |---|---|
//! | the driver contract: inputs, outputs, persistence | [`io`] |
//! | what peers may send, range checks, outstanding requests | inbound.rs |
//! | durable "is it committed?" answers | [`index`] |
//! | the core: routing between the engines, commits, queries | [`core`](crate::Core) (core.rs) |
//! | what the engines share: constants, ledger, caches, requests, outputs | ctx.rs |
//! | local limits and pacing | [`CoreConfig`] (config.rs) |
//! | finality: admission, locks, vote batches, certificates, conflicts, orphans, the pool | finality/ |
//! | Tendermint: heights, rounds, locks, proposals, block votes | tendermint/ |
//! | catch-up: proven heights, fetching blocks and the final set | catchup.rs |
//! | snapshots for RPC and metrics | info.rs |
//! | committed chain and objective block validity | [`ledger`] |
//! | rebuilding after a restart | [`restore`] |
//! | wire messages | [`message`] |
//! | the simulator (feature `sim`, tests only) | `sim` |
//! | a Byzantine member's behaviour (feature `byzantine`, tests only) | `byzantine` |

#[cfg(feature = "byzantine")]
pub mod byzantine;
mod catchup;
mod config;
mod core;
mod ctx;
mod finality;
mod inbound;
pub mod index;
mod info;
pub mod io;
pub mod ledger;
pub mod message;
pub mod restore;
#[cfg(feature = "sim")]
pub mod sim;
mod tendermint;

pub use crate::config::CoreConfig;
pub use crate::core::Core;
pub use crate::info::{ConsensusInfo, Held, MempoolInfo, TxStatus};
pub use index::{ChainIndex, IndexError, MemoryIndex};
pub use io::{
    Event, Evidence, Input, Millis, Origin, Output, PersistOp, Refusal, SubmitOutcome, Timer,
    TxState,
};
pub use message::{Message, Status};
pub use restore::Restored;
