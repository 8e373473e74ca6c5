//! The table of authenticated connections, one per peer, and the tie-break
//! that keeps it that way.
//!
//! **One connection per pair.** When a second authenticated connection to a
//! peer appears, the one *dialled by the lower `NodeId`* (byte order) is kept
//! and the other closed. Both ends compute the same answer from the same two
//! facts (who dialled each connection), so they close the same one. Two
//! connections dialled by the same node (it redialled before we noticed the
//! old connection die) keep the newer one: the dialler has evidently given up
//! on the older.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use protocol::NodeId;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::locks::lock;
use crate::peer::PeerState;

/// How to reach one registered connection.
#[derive(Debug, Clone)]
pub(crate) struct PeerLink {
    /// Unique per connection, so a connection only ever removes itself.
    pub(crate) conn_id: u64,
    pub(crate) state: Arc<PeerState>,
    /// Application messages (and responses), drained by the writer.
    pub(crate) outbound: mpsc::Sender<Bytes>,
    /// Pongs and peer lists, which the writer sends first.
    pub(crate) control: mpsc::Sender<Bytes>,
    /// Cancelling closes the connection.
    pub(crate) cancel: CancellationToken,
}

/// Whether `new` replaces `existing` (two connections to the same peer).
pub(crate) fn new_connection_wins(local: &NodeId, existing: &PeerState, new: &PeerState) -> bool {
    let (existing_dialler, new_dialler) = (existing.dialler(local), new.dialler(local));
    if existing_dialler == new_dialler { true } else { new_dialler < existing_dialler }
}

/// The new connection lost the tie-break.
#[derive(Debug)]
pub(crate) struct Duplicate;

/// Connected peers by id.
#[derive(Debug)]
pub(crate) struct Registry {
    local: NodeId,
    peers: Mutex<HashMap<NodeId, PeerLink>>,
    /// Bumped on every change, so dialers can wait for a disconnect.
    changes: watch::Sender<u64>,
}

impl Registry {
    pub(crate) fn new(local: NodeId) -> Self {
        Registry { local, peers: Mutex::new(HashMap::new()), changes: watch::Sender::new(0) }
    }

    /// The link to `id`, if connected.
    pub(crate) fn link(&self, id: &NodeId) -> Option<PeerLink> {
        lock(&self.peers).get(id).cloned()
    }

    /// Every link.
    pub(crate) fn links(&self) -> Vec<PeerLink> {
        lock(&self.peers).values().cloned().collect()
    }

    pub(crate) fn is_connected(&self, id: &NodeId) -> bool {
        lock(&self.peers).contains_key(id)
    }

    /// A receiver that sees every later change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Registers `link` unless an existing connection wins the tie-break;
    /// returns the connection it replaced.
    pub(crate) fn insert(&self, link: PeerLink) -> Result<Option<PeerLink>, Duplicate> {
        let id = link.state.id;
        let replaced = {
            let mut peers = lock(&self.peers);
            match peers.get(&id) {
                Some(existing)
                    if !new_connection_wins(&self.local, &existing.state, &link.state) =>
                {
                    return Err(Duplicate);
                }
                _ => peers.insert(id, link),
            }
        };
        self.changes.send_modify(|version| *version += 1);
        Ok(replaced)
    }

    /// Removes connection `conn_id` of `id`, if it is still the registered
    /// one.
    pub(crate) fn remove(&self, id: &NodeId, conn_id: u64) -> Option<PeerLink> {
        let removed = {
            let mut peers = lock(&self.peers);
            match peers.get(id) {
                Some(link) if link.conn_id == conn_id => peers.remove(id),
                _ => None,
            }
        };
        if removed.is_some() {
            self.changes.send_modify(|version| *version += 1);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::peer::PeerFacts;

    fn state(peer: NodeId, inbound: bool) -> PeerState {
        PeerState::new(PeerFacts {
            id: peer,
            addr: "127.0.0.1:1".parse().unwrap(),
            inbound,
            role: Role::Masternode,
            listen_port: None,
            dialled: None,
        })
    }

    #[test]
    fn both_ends_keep_the_connection_dialled_by_the_lower_id() {
        let (low, high) = (NodeId([1; 32]), NodeId([2; 32]));
        // Connection X dialled by low, Y dialled by high, seen from each end.
        let x_at_low = state(high, false);
        let y_at_low = state(high, true);
        let x_at_high = state(low, true);
        let y_at_high = state(low, false);
        // Whatever order they complete in, X survives at both ends.
        assert!(new_connection_wins(&low, &y_at_low, &x_at_low));
        assert!(!new_connection_wins(&low, &x_at_low, &y_at_low));
        assert!(new_connection_wins(&high, &y_at_high, &x_at_high));
        assert!(!new_connection_wins(&high, &x_at_high, &y_at_high));
        // Same dialler: the newer one.
        assert!(new_connection_wins(&low, &state(high, true), &state(high, true)));
    }
}
