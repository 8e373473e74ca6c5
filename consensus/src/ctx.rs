//! What the engines of a core share: the chain's constants, this node's
//! key, the committed ledger, the signature caches, the outstanding requests
//! to peers, the clock, and the outputs of the input being handled.
//!
//! The finality engine, the Tendermint engine and catch-up each own their
//! state and take a `&mut Ctx` for what they share; none of them holds
//! another's state, and [`crate::Core`] routes between them.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::finality::VerifiedVotes;
use protocol::keys::KeyCache;
use protocol::validate::SigVerifier;
use protocol::{
    ChainId, Committee, ConsensusParams, Hash256, MemberIndex, NodeId, SecretKey, TxId,
};

use crate::config::CoreConfig;
use crate::inbound::{MAX_BODY_REQUESTS, Requests};
use crate::io::Refusal;
use crate::io::{Millis, Output};
use crate::ledger::Ledger;
use crate::message::{MAX_ITEMS_PER_MESSAGE, Message};

/// How long before asking again for a body that did not arrive.
const BODY_RETRY_MS: u64 = 1_000;
/// How long to wait before asking one peer for the same blocks again.
pub(crate) const BLOCK_REQUEST_RETRY_MS: Millis = 2_000;

/// The shared part of a core (see the module doc).
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) config: CoreConfig,
    pub(crate) chain: ChainId,
    pub(crate) genesis_hash: Hash256,
    pub(crate) params: ConsensusParams,
    pub(crate) committee: Arc<Committee>,
    pub(crate) key: SecretKey,
    pub(crate) me: NodeId,
    pub(crate) my_index: Option<MemberIndex>,
    /// The committed chain.
    pub(crate) ledger: Ledger,
    /// Transaction signature decisions (made ahead of admission or here).
    pub(crate) verifier: SigVerifier,
    /// Vote batch signatures that verified.
    pub(crate) verified_votes: VerifiedVotes,
    /// Decompressed committee keys.
    pub(crate) keys: KeyCache,
    /// What this node asked which peer (replies are taken only then).
    pub(crate) requests: Requests,
    /// Peer messages refused, per reason.
    pub(crate) refusals: BTreeMap<Refusal, u64>,
    /// The outputs of the input being handled, in order.
    pub(crate) out: Vec<Output>,
    /// The time of the input being handled.
    pub(crate) now: Millis,
}

impl Ctx {
    pub(crate) fn send(&mut self, to: NodeId, message: Message) {
        if to != self.me {
            self.out.push(Output::Send { to, message });
        }
    }

    pub(crate) fn broadcast(&mut self, message: Message) {
        self.out.push(Output::Broadcast(message));
    }

    /// Counts a refusal and tells the driver (which charges offences).
    pub(crate) fn refuse(&mut self, peer: NodeId, reason: Refusal) {
        *self.refusals.entry(reason).or_insert(0) += 1;
        self.out.push(Output::Refused { peer, reason });
    }

    /// Sends `GetTxs` to `peer` for the txids not asked for within the last
    /// second (requests and replies can be lost; retries are paced). The
    /// txids asked are what a `Txs` reply may carry.
    pub(crate) fn request_bodies(&mut self, peer: NodeId, txids: Vec<TxId>) {
        let now = self.now;
        let room = MAX_BODY_REQUESTS.saturating_sub(self.requests.bodies.len());
        let wanted: Vec<TxId> = txids
            .into_iter()
            .filter(|t| self.requests.bodies.get(t).is_none_or(|(at, _)| now >= at + BODY_RETRY_MS))
            .take(MAX_ITEMS_PER_MESSAGE.min(room))
            .collect();
        if wanted.is_empty() {
            return;
        }
        for txid in &wanted {
            let entry = self.requests.bodies.entry(*txid).or_insert((now, 0));
            entry.0 = now;
            entry.1 += 1;
        }
        self.send(peer, Message::GetTxs(wanted));
    }

    /// Asks `peer` for the blocks after this node's tip, at most once per
    /// retry interval per peer for the same height.
    pub(crate) fn ask_blocks(&mut self, peer: NodeId) {
        let next = self.ledger.height().saturating_add(1);
        let now = self.now;
        let due = self.requests.blocks.get(&peer).is_none_or(|(asked_for, at)| {
            *asked_for != next || now >= at.saturating_add(BLOCK_REQUEST_RETRY_MS)
        });
        if due {
            self.requests.blocks.insert(peer, (next, now));
            self.send(peer, Message::GetBlocks { from: next });
        }
    }
}
