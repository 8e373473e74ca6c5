//! Timeouts: a transaction without a fate `timeout` after its intended
//! send time is timed out (its coins stay quarantined until a late fate
//! frees them); well before that, the node it was sent to is asked about
//! it once, so that a dropped event does not turn a final transaction into
//! a timed-out one.

use protocol::TxId;

use super::Tracker;
use super::record::Fate;

impl Tracker {
    /// Times out, in send order, every transaction still without a fate
    /// at `now_us`, its timeout after its intended send time.
    pub(super) fn expire(&mut self, now_us: u64) {
        while let Some(&seq) = self.outstanding.front() {
            let record = &self.records[seq as usize];
            if record.fate != Fate::Pending {
                self.outstanding.pop_front();
                continue;
            }
            if record.intended_us.saturating_add(self.timeout_us) > now_us {
                break;
            }
            self.outstanding.pop_front();
            self.settle(seq, Fate::TimedOut, None, now_us);
        }
    }

    /// Asks the node each transaction was sent to about those still
    /// without a fate well after their send (once each): a node that
    /// dropped an event without saying so must not turn a final
    /// transaction into a timed-out one.
    pub(super) fn probe_stale(&mut self, now_us: u64) {
        let stale_us = (self.timeout_us / 4).max(2_000_000).min(self.timeout_us / 2);
        let mut by_node: Vec<Vec<TxId>> = vec![Vec::new(); self.names.len()];
        while let Some(record) = self.records.get(self.probe_cursor) {
            if record.intended_us.saturating_add(stale_us) > now_us {
                break;
            }
            if record.fate == Fate::Pending
                && let Some(list) = by_node.get_mut(usize::from(record.node))
            {
                list.push(record.txid);
            }
            self.probe_cursor += 1;
        }
        for (node, txids) in by_node.into_iter().enumerate() {
            let Some(client) = self.nodes.client(node) else { continue };
            if txids.is_empty() {
                continue;
            }
            self.probed += txids.len() as u64;
            self.spawn_resolve(node as u8, client, txids);
        }
    }
}
