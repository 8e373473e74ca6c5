//! Local limits and pacing of a core.

use protocol::keys::VerifyStrategy;

/// Local limits and pacing (not consensus rules: nodes may differ).
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Most pending (not final) transactions admitted.
    pub mempool_max_txs: usize,
    /// Most bytes of pending transactions admitted.
    pub mempool_max_bytes: usize,
    /// Most orphans (waiting for a parent).
    pub orphan_max_txs: usize,
    /// Most bytes of orphans.
    pub orphan_max_bytes: usize,
    /// How long an orphan waits for its parent.
    pub orphan_ttl_ms: u64,
    /// Most txids with votes but no body.
    pub max_bodiless: usize,
    /// Housekeeping period (status, re-requests, expiry).
    pub tick_interval_ms: u64,
    /// How transaction signatures are checked (both decide identically).
    pub verify_strategy: VerifyStrategy,
    /// Most pending txids announced in one status.
    pub status_pending_max: usize,
    /// Most batches answered per request.
    pub batches_per_reply: usize,
    /// Own votes are sealed into a batch at most this often (a batch also
    /// seals when full). Every batch costs each peer a signature check, so
    /// a few milliseconds of waiting divide that work by the batch size.
    pub seal_interval_ms: u64,
    /// Most bytes of transactions, certificates or batches in one reply
    /// (well under the transport's frame limit, so a reply always fits).
    pub max_reply_bytes: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            mempool_max_txs: 100_000,
            mempool_max_bytes: 64 << 20,
            orphan_max_txs: 10_000,
            orphan_max_bytes: 8 << 20,
            orphan_ttl_ms: 60_000,
            max_bodiless: 16_384,
            tick_interval_ms: 1_000,
            verify_strategy: VerifyStrategy::Batch,
            status_pending_max: 1_024,
            batches_per_reply: 256,
            seal_interval_ms: 10,
            max_reply_bytes: 4 << 20,
        }
    }
}
