//! What the nodes say, node by node: the transaction and block events of
//! each node's stream, its lags and troubles (kept as run events), and the
//! resolutions with `gettransactionfinality` that fill in what a stream
//! may have missed.

use std::sync::atomic::Ordering;

use protocol::TxId;
use protocol::rpc::StreamEvent;

use super::Tracker;
use super::record::{Fate, RunEvent, TxRecord};
use crate::streams;

impl Tracker {
    /// An event of `node`'s stream, arrived at `at_us`.
    pub(super) fn on_event(&mut self, node: u8, at_us: u64, event: StreamEvent) {
        match event {
            StreamEvent::Tx { txid, state, rejection, .. } => {
                self.on_state(node, at_us, &txid, state, rejection.as_ref());
            }
            StreamEvent::Block { height, .. } => self.on_block(height, at_us),
            _ => {}
        }
    }

    /// `node`'s stream may have missed events: noted, and `node` is asked
    /// about every transaction it has said nothing final or negative about.
    pub(super) fn on_lagged(&mut self, node: u8, at_us: u64, reason: String) {
        self.event(
            at_us,
            Some(node),
            format!("event stream lagged ({reason}); resolving with gettransactionfinality"),
        );
        self.resolve_on(node, |r, bit| {
            r.final_mask & bit == 0 && r.negative_mask & bit == 0 && r.fate != Fate::Rejected
        });
    }

    /// Asks every node about each transaction final somewhere that it has
    /// not reported final.
    pub(super) fn resolve_missing(&mut self) {
        for node in 0..self.names.len() as u8 {
            self.resolve_on(node, |r, bit| r.final_mask != 0 && r.final_mask & bit == 0);
        }
    }

    fn resolve_on(&mut self, node: u8, wanted: impl Fn(&TxRecord, u64) -> bool) {
        let bit = 1u64 << node;
        let txids: Vec<TxId> =
            self.records.iter().filter(|r| wanted(r, bit)).map(|r| r.txid).collect();
        let Some(client) = self.nodes.client(usize::from(node)) else { return };
        if txids.is_empty() {
            return;
        }
        self.spawn_resolve(node, client, txids);
    }

    /// Asks `node` about `txids`; the answers come back through the inbox.
    pub(super) fn spawn_resolve(&self, node: u8, client: client::RpcClient, txids: Vec<TxId>) {
        // Outside a runtime (unit tests of the bookkeeping) there is no one
        // to ask.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        self.live.resolving.fetch_add(1, Ordering::Relaxed);
        runtime.spawn(streams::resolve(node, client, txids, self.inbox.clone(), self.origin));
    }

    fn node_name(&self, node: u8) -> String {
        self.names.get(usize::from(node)).cloned().unwrap_or_else(|| format!("node#{node}"))
    }

    /// Notes something about `node` (or the run) for the report.
    pub(super) fn event(&mut self, at_us: u64, node: Option<u8>, what: String) {
        // Streams that keep failing would flood the report: keep the first
        // few hundred.
        if self.events.len() < 500 {
            let node = node.map(|n| self.node_name(n));
            self.events.push(RunEvent { at_ms: at_us / 1_000, node, what });
        }
    }
}
