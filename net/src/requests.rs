//! Requests awaiting their response, by request id.
//!
//! A response only completes a request sent to the peer it comes from, so
//! one peer cannot answer for another.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::NodeId;
use tokio::sync::oneshot;

use crate::locks::lock;

#[derive(Debug)]
struct Pending<M> {
    peer: NodeId,
    reply_sender: oneshot::Sender<M>,
}

/// The pending requests of one endpoint.
#[derive(Debug)]
pub(crate) struct Requests<M> {
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Pending<M>>>,
}

impl<M> Default for Requests<M> {
    fn default() -> Self {
        Requests { next_id: AtomicU64::new(1), pending: Mutex::new(HashMap::new()) }
    }
}

impl<M> Requests<M> {
    /// Opens a request to `peer`: its id and where the response will arrive.
    pub(crate) fn open(&self, peer: NodeId) -> (u64, oneshot::Receiver<M>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply_sender, reply_inbox) = oneshot::channel();
        lock(&self.pending).insert(id, Pending { peer, reply_sender });
        (id, reply_inbox)
    }

    /// Forgets request `id` (timed out, or the caller gave up).
    pub(crate) fn close(&self, id: u64) {
        lock(&self.pending).remove(&id);
    }

    /// Delivers `body` as the response to request `id` from `peer`; false if
    /// no such request is pending for that peer (unsolicited).
    pub(crate) fn complete(&self, peer: &NodeId, id: u64, body: M) -> bool {
        let pending = {
            let mut table = lock(&self.pending);
            match table.get(&id) {
                Some(pending) if pending.peer == *peer => table.remove(&id),
                _ => None,
            }
        };
        match pending {
            // The requester may have given up a moment ago; that is no
            // fault of the peer.
            Some(pending) => {
                let _late = pending.reply_sender.send(body);
                true
            }
            None => false,
        }
    }

    /// Fails every request pending at `peer` (its connection closed): their
    /// callers see `RequestError::Disconnected` at once.
    pub(crate) fn fail_peer(&self, peer: &NodeId) {
        lock(&self.pending).retain(|_, pending| pending.peer != *peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_asked_peer_can_answer() {
        let requests = Requests::<u32>::default();
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        let (id, mut reply) = requests.open(a);
        assert!(!requests.complete(&b, id, 5));
        assert!(requests.complete(&a, id, 6));
        assert_eq!(reply.try_recv().unwrap(), 6);
        assert!(!requests.complete(&a, id, 7), "answered once");
        let (_, mut reply) = requests.open(a);
        requests.fail_peer(&a);
        assert!(reply.try_recv().is_err());
    }
}
