//! Catch-up (PROTOCOL.md §4 and §6): nothing may stay stuck because a
//! message was lost, and nothing a peer merely claims moves this node.
//!
//! - Every tick and on connect, a node sends its status (height with the
//!   tip's commit certificate, highest contiguous vote-batch seq per voter,
//!   some pending txids). A member that holds more batches is asked for them
//!   (the finality engine's `batches.rs`); unknown pending txids are fetched
//!   from it.
//! - Heights are believed only with their proof: a status's certificate, or
//!   a block applied here. A node proven behind by more than a block fetches
//!   committed blocks with their commit certificates and applies them without
//!   consulting its locks; then it fetches the final transactions not yet in
//!   a block from a member; only then does it vote again.
//! - Replies count only when asked for (`inbound::Requests`); a reply's
//!   claims never move this node past what a verified signature shows.
//!
//! This engine owns what this node believes of its peers' heights and
//! whether it is catching up; [`crate::Core`] applies the blocks it fetches
//! and tells the finality engine when votes must wait.

use std::collections::{BTreeMap, HashMap};

use protocol::NodeId;
use protocol::bft::CommitCertificate;

use crate::ctx::{BLOCK_REQUEST_RETRY_MS, Ctx};
use crate::io::Refusal;
use crate::io::{Event, Millis, Output};
use crate::message::{Message, Status};

/// A peer is served the final set at most this often.
const FINAL_SERVE_INTERVAL_MS: Millis = 1_000;

/// The catch-up engine's state (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct CatchUp {
    /// True while catching up (this node does not vote then).
    syncing: bool,
    /// Heights peers proved (commit certificates or applied blocks).
    peer_heights: BTreeMap<NodeId, u64>,
    /// When each peer was last served the final set.
    final_served: HashMap<NodeId, Millis>,
}

impl CatchUp {
    /// True while catching up.
    pub(crate) fn syncing(&self) -> bool {
        self.syncing
    }

    /// The highest height a peer proved (0 before any).
    pub(crate) fn best_peer_height(&self) -> u64 {
        self.peer_heights.values().copied().max().unwrap_or(0)
    }

    /// `peer` disconnected.
    pub(crate) fn forget_peer(&mut self, peer: &NodeId) {
        self.peer_heights.remove(peer);
        self.final_served.remove(peer);
    }

    /// Housekeeping: peers served the final set long enough ago may ask
    /// again.
    pub(crate) fn on_tick(&mut self, now: Millis) {
        self.final_served.retain(|_, at| now < at.saturating_add(FINAL_SERVE_INTERVAL_MS));
    }

    /// `peer` proved it committed `height` (a verified commit certificate,
    /// or a block applied from it).
    fn note_proven_height(&mut self, cx: &mut Ctx, peer: NodeId, height: u64) {
        let entry = self.peer_heights.entry(peer).or_insert(0);
        *entry = (*entry).max(height);
        let ours = cx.ledger.height();
        if height > ours {
            // More than one block behind: stop voting until caught up.
            if height > ours.saturating_add(1) && !self.syncing {
                self.syncing = true;
                cx.requests.final_from = None;
                cx.out.push(Output::Event(Event::Syncing(true)));
            }
            cx.ask_blocks(peer);
        }
    }

    /// A block from `peer` was applied at `height`.
    pub(crate) fn note_applied(&mut self, peer: NodeId, height: u64) {
        let entry = self.peer_heights.entry(peer).or_insert(0);
        *entry = (*entry).max(height);
    }

    /// A status height above this node's counts only with the tip's commit
    /// certificate, verified (once per new height per peer). Returns the
    /// certificate when it verified: its precommits are votes of the height
    /// being agreed.
    pub(crate) fn check_claimed_height(
        &mut self,
        cx: &mut Ctx,
        from: NodeId,
        status: &Status,
    ) -> Option<CommitCertificate> {
        let ours = cx.ledger.height();
        let known = self.peer_heights.get(&from).copied().unwrap_or(0);
        if status.height <= ours || status.height <= known {
            return None;
        }
        let Some(certificate) = &status.tip_certificate else {
            // Every height above 0 has one: a claim without it is a lie.
            cx.refuse(from, Refusal::BadRange);
            return None;
        };
        if certificate.height != status.height || certificate.block != status.tip {
            cx.refuse(from, Refusal::BadRange);
            return None;
        }
        let proven = cx.ledger.check_commit_certificate(
            &status.tip,
            status.height,
            certificate,
            &cx.committee,
            &mut cx.keys,
        );
        match proven {
            Ok(()) => {
                self.note_proven_height(cx, from, status.height);
                Some(certificate.clone())
            }
            Err(_) => {
                cx.refuse(from, Refusal::BadSignature);
                None
            }
        }
    }

    /// A member's status says it is at `height` (or, it says, below): a peer
    /// to ask for the final set after a catch-up. Never above what is
    /// proven here.
    pub(crate) fn note_member_height(&mut self, cx: &Ctx, from: NodeId, height: u64) {
        let at_least = height.min(cx.ledger.height());
        let entry = self.peer_heights.entry(from).or_insert(at_least);
        *entry = (*entry).max(at_least);
    }

    /// Caught up with every proven height: fetch the final transactions not
    /// yet in a block from a member, then vote again. The request is
    /// repeated until a reply arrives (it or its answer may be lost).
    pub(crate) fn maybe_finish_sync(&mut self, cx: &mut Ctx) {
        if !self.syncing {
            return;
        }
        let ours = cx.ledger.height();
        if self.best_peer_height() > ours.saturating_add(1) {
            return;
        }
        if cx
            .requests
            .final_from
            .is_some_and(|(_, at)| cx.now < at.saturating_add(BLOCK_REQUEST_RETRY_MS))
        {
            return;
        }
        // Members at this height or above, highest first; each retry asks
        // the next one (one that never answers cannot hold the node back).
        let committee = &cx.committee;
        let me = cx.me;
        let mut members: Vec<(u64, NodeId)> = self
            .peer_heights
            .iter()
            .filter(|(id, h)| committee.index_of(id).is_some() && **id != me && **h >= ours)
            .map(|(id, h)| (*h, *id))
            .collect();
        if members.is_empty() {
            return;
        }
        members.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let peer = members[cx.requests.final_attempts % members.len()].1;
        cx.requests.final_attempts = cx.requests.final_attempts.wrapping_add(1);
        cx.requests.final_from = Some((peer, cx.now));
        cx.send(peer, Message::GetFinal);
    }

    /// `from` asks for the final set: true when it may be served now (once
    /// per interval per peer); a faster asker is refused.
    pub(crate) fn may_serve_final(&mut self, cx: &mut Ctx, from: NodeId) -> bool {
        if self.final_served.contains_key(&from) {
            cx.refuse(from, Refusal::RateLimited);
            return false;
        }
        self.final_served.insert(from, cx.now);
        true
    }

    /// The final set arrived: catch-up is over. True if it was on (the
    /// votes that waited are due).
    pub(crate) fn finish(&mut self, cx: &mut Ctx) -> bool {
        if !self.syncing {
            return false;
        }
        self.syncing = false;
        cx.out.push(Output::Event(Event::Syncing(false)));
        true
    }
}
