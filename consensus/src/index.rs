//! The durable questions the core must never answer from a cache.
//!
//! Whether a txid is committed decides whether a replayed certificate may
//! put a transaction back into the final overlay (and so make its spent
//! outputs spendable again). A bounded in-memory set forgets; after a
//! restart it is empty. So the core asks its [`ChainIndex`], which the
//! driver backs with the store (timed: sled's txid index; the simulator:
//! [`MemoryIndex`], applied as its store applies ops). Blocks committed in
//! this process and not yet reported durable by the driver
//! ([`crate::Core::mark_durable`]) are answered from memory, so the index
//! never lags the core.
//!
//! The call is synchronous, as raft-rs's `Storage` is: a read of durable
//! state, not I/O the core schedules. The core stays deterministic as long
//! as the index answers what was persisted.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use thiserror::Error;

use protocol::{Genesis, TxId};

use crate::io::PersistOp;

/// The index could not be read. The core then refuses what the answer would
/// have allowed (a read error never lets a transaction be finalized twice).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("chain index read failed: {0}")]
pub struct IndexError(pub String);

/// Durable facts about the committed chain.
pub trait ChainIndex: fmt::Debug + Send + Sync {
    /// The height of the committed block that carries `txid` (0 for the
    /// genesis allocation), from durable state.
    fn committed_height(&self, txid: &TxId) -> Result<Option<u64>, IndexError>;
}

/// An in-memory [`ChainIndex`] for the simulator and tests: it holds what a
/// store would, and survives a simulated crash because the simulation keeps
/// it beside the node's persisted state, not inside the core.
#[derive(Clone, Debug)]
pub struct MemoryIndex {
    txids: Arc<Mutex<HashMap<TxId, u64>>>,
}

impl MemoryIndex {
    /// The index of a chain at block 0 of `genesis`.
    pub fn new(genesis: &Genesis) -> MemoryIndex {
        let txid = genesis.allocation_tx().txid(genesis.chain_id);
        MemoryIndex { txids: Arc::new(Mutex::new(HashMap::from([(txid, 0)]))) }
    }

    /// Records what `op` makes durable (only commits matter here).
    pub fn apply(&self, op: &PersistOp, chain: protocol::ChainId) {
        if let PersistOp::Commit(committed) = op {
            let height = committed.block.header.height;
            let mut txids = self.txids.lock().unwrap_or_else(PoisonError::into_inner);
            for txid in committed.block.txids(chain) {
                txids.entry(txid).or_insert(height);
            }
        }
    }
}

impl ChainIndex for MemoryIndex {
    fn committed_height(&self, txid: &TxId) -> Result<Option<u64>, IndexError> {
        Ok(self.txids.lock().unwrap_or_else(PoisonError::into_inner).get(txid).copied())
    }
}
