//! `timed --byzantine MODE`: this node misbehaves as a Byzantine member would
//! (test builds only: the cargo feature `byzantine`, which release packages
//! never enable). Every message it sends passes through the same
//! [`consensus::byzantine::Adversary`] the simulator's campaigns run, per
//! peer, so equivocation and corrupted copies reach different peers.

use consensus::byzantine::{Adversary, Mode, Recipient};
use consensus::{Core, Message, TxState};
use protocol::{Amount, NodeId, Signature, Transaction, TxIn, TxOut};
use tracing::debug;

use crate::node::Wire;

/// `--byzantine panic`: not a mode of the protocol but of the process: the
/// driver panics [`PANIC_AFTER`] after start, so tests can see that a panic
/// ends the process (exit 101) with a log line instead of leaving a node
/// that answers RPC but never votes.
pub(crate) const PANIC: &str = "panic";
/// When `--byzantine panic` panics.
pub(crate) const PANIC_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
/// `--byzantine slow-disk`: every persist takes [`SLOW_DISK_DELAY`] longer
/// (a slow disk, not a protocol fault), so tests can see that nothing is
/// reported before it is durable.
pub(crate) const SLOW_DISK: &str = "slow-disk";
/// How much longer.
pub(crate) const SLOW_DISK_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// `--byzantine clock-ahead` / `clock-behind`: an honest node whose wall
/// clock is [`CLOCK_SKEW_MS`] ahead of or behind the others' (block
/// timestamps, timeouts measured in wall time), not a protocol fault.
pub(crate) const CLOCK_AHEAD: &str = "clock-ahead";
/// See [`CLOCK_AHEAD`].
pub(crate) const CLOCK_BEHIND: &str = "clock-behind";
/// How far off the clock of [`CLOCK_AHEAD`] and [`CLOCK_BEHIND`] is.
pub(crate) const CLOCK_SKEW_MS: i64 = 5_000;

/// The offset [`crate::node::now_millis`] adds (a skewed clock).
static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Skews this process's wall clock by `offset_ms`.
pub(crate) fn set_clock_offset(offset_ms: i64) {
    CLOCK_OFFSET_MS.store(offset_ms, std::sync::atomic::Ordering::Relaxed);
}

/// The skew of this process's wall clock, ms.
pub(crate) fn clock_offset() -> i64 {
    CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The node's adversary and what it needs to address peers.
#[derive(Debug)]
pub(crate) struct Byzantine {
    adversary: Adversary,
}

impl Byzantine {
    /// The adversary of the member `core` runs as; `None` for an observer.
    pub(crate) fn new(mode: Mode, core: &Core, key: protocol::SecretKey) -> Option<Byzantine> {
        let me = core.committee_ref().index_of(&core.id())?;
        let seed = u64::from_le_bytes(core.id().0[..8].try_into().unwrap_or_default());
        Some(Byzantine { adversary: Adversary::new(mode, key, core.chain(), me, seed) })
    }

    /// A message this node received.
    pub(crate) fn heard(&mut self, message: &Message) {
        self.adversary.heard(message);
    }

    /// Equivocating votes for a transaction this node saw, sent at once.
    pub(crate) fn on_tx(&mut self, tx: &Transaction, core: &Core, net: &net::NetHandle<Wire>) {
        if let Some(batch) = self.adversary.extra_vote(tx.txid(core.chain())) {
            net.broadcast(Wire(Message::VoteBatch(batch)));
        }
    }

    /// Sends `message` to `to` (every connected peer when `None`), each
    /// peer getting what the adversary makes of it.
    pub(crate) fn send(
        &mut self,
        to: Option<NodeId>,
        message: Message,
        core: &Core,
        net: &net::NetHandle<Wire>,
    ) {
        let committee = core.committee_ref();
        let me = committee.index_of(&core.id()).map_or(0, usize::from);
        let victim = committee.member(((me + 1) % committee.len().max(1)) as u16).map(|m| m.id);
        let peers: Vec<NodeId> = match to {
            Some(peer) => vec![peer],
            None => net.peers().into_iter().map(|p| p.id).collect(),
        };
        let conflicting = match &message {
            Message::Proposal(_) => conflicting_tx(core),
            _ => None,
        };
        for peer in peers {
            let slot = committee.index_of(&peer).map_or(usize::MAX, usize::from);
            let recipient = Recipient { slot, victim: Some(peer) == victim };
            for rewritten in
                self.adversary.rewrite(recipient, message.clone(), conflicting.as_ref())
            {
                if let Err(e) = net.send(&peer, Wire(rewritten)) {
                    debug!(peer = %peer.short(), "byzantine send dropped: {e}");
                }
            }
        }
    }
}

/// A transaction spending the first input of a final one (to this node,
/// signed by nobody): what a Byzantine proposer slips into a block.
fn conflicting_tx(core: &Core) -> Option<Transaction> {
    let (txid, _) = core.pool_txids().into_iter().find(|(_, state)| *state == TxState::Final)?;
    let winner = core.pool_tx(&txid)?;
    let input = winner.inputs.first()?;
    Some(Transaction {
        version: 1,
        inputs: vec![TxIn { prev: input.prev, pubkey: input.pubkey, signature: Signature::ZERO }],
        outputs: vec![TxOut {
            value: Amount::from_sat(1_000_000),
            address: protocol::AddressPayload::from_public_key(&core.id().public_key()),
        }],
        lock_time: 0,
        timestamp: winner.timestamp + 1,
    })
}
