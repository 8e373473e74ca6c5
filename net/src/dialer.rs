//! Dialling: one task per address, so never more than one dial in flight to
//! it. The task keeps the peer connected: it dials, serves the connection
//! until it closes, then redials after a capped exponential backoff with
//! jitter. While the peer is connected some other way (it dialled us) or is
//! banned, the task waits instead of dialling.
//!
//! Configured and bootstrap addresses are dialled forever; addresses learned
//! by peer exchange are given up after a few failures and capped in number.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use protocol::NodeId;
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::backoff;
use crate::connection::{self, Direction, Outcome};
use crate::endpoint::Endpoint;
use crate::handshake::HandshakeError;
use crate::locks::lock;
use crate::stats::Counters;
use crate::wire::{KnownPeer, WireMessage};

/// Consecutive failures after which a learned address is forgotten.
const LEARNED_MAX_FAILURES: u32 = 5;

/// Where an address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Configuration (peers, bootstrap) or [`crate::NetHandle::add_peer`].
    Configured,
    /// Peer exchange.
    Learned,
}

/// The addresses being dialled, each by its own task.
#[derive(Debug, Default)]
pub(crate) struct DialTargets {
    targets: Mutex<HashMap<String, Origin>>,
}

impl DialTargets {
    /// Claims `address`; false if a task already dials it, or if a learned
    /// address would exceed `max_learned`.
    fn claim(&self, address: &str, origin: Origin, max_learned: usize) -> bool {
        let mut targets = lock(&self.targets);
        if targets.contains_key(address) {
            return false;
        }
        if origin == Origin::Learned
            && targets.values().filter(|o| **o == Origin::Learned).count() >= max_learned
        {
            return false;
        }
        targets.insert(address.to_string(), origin);
        true
    }

    fn release(&self, address: &str) {
        lock(&self.targets).remove(address);
    }
}

/// Starts keeping `address` connected, unless it is already being dialled
/// or is known to be ourselves.
pub(crate) fn dial<M: WireMessage>(
    endpoint: &Arc<Endpoint<M>>,
    address: String,
    expected: Option<NodeId>,
    origin: Origin,
) {
    if expected == Some(endpoint.local_id()) {
        return;
    }
    if !endpoint.dial_targets.claim(&address, origin, endpoint.limits.max_connections) {
        return;
    }
    let span = tracing::info_span!("dial", address = %address);
    endpoint.spawn(dial_loop(Arc::clone(endpoint), address, expected, origin).instrument(span));
}

/// Takes an address from a peer list (only `ip:port` literals: a peer list
/// must not make us resolve names).
pub(crate) fn learn<M: WireMessage>(endpoint: &Arc<Endpoint<M>>, known: KnownPeer) {
    if known.id == endpoint.local_id() || endpoint.registry.is_connected(&known.id) {
        return;
    }
    if known.address.parse::<std::net::SocketAddr>().is_err() {
        return;
    }
    dial(endpoint, known.address, Some(known.id), Origin::Learned);
}

async fn dial_loop<M: WireMessage>(
    endpoint: Arc<Endpoint<M>>,
    address: String,
    expected: Option<NodeId>,
    origin: Origin,
) {
    let limits = &endpoint.limits;
    let mut delays = backoff::delays(limits.backoff_min, limits.backoff_max);
    let mut known = expected;
    let mut failures = 0u32;
    loop {
        if let Some(id) = known
            && !wait_until_dialable(&endpoint, &id).await
        {
            break;
        }
        if endpoint.shutdown.is_cancelled() {
            break;
        }
        match dial_once(&endpoint, &address, known).await {
            None => failures += 1,
            Some(Outcome::Ended { peer, lasted }) => {
                known = Some(peer);
                failures = 0;
                // A connection that held for a while was no flapping: the
                // next outage starts from the shortest delay again.
                if lasted >= limits.backoff_max {
                    delays = backoff::delays(limits.backoff_min, limits.backoff_max);
                }
            }
            Some(Outcome::Duplicate(peer)) => {
                // Connected the other way: wait for that connection to end.
                known = Some(peer);
                failures = 0;
                continue;
            }
            Some(Outcome::HandshakeFailed(HandshakeError::SelfConnection)) => {
                tracing::info!("address is ourselves; not dialling it again");
                break;
            }
            Some(Outcome::HandshakeFailed(_)) => failures += 1,
        }
        if origin == Origin::Learned && failures >= LEARNED_MAX_FAILURES {
            tracing::debug!(failures, "forgetting learned address");
            break;
        }
        let delay = delays.next().unwrap_or(limits.backoff_max); // never runs out
        tokio::select! {
            _ = endpoint.shutdown.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    endpoint.dial_targets.release(&address);
}

/// Waits while `id` is connected or banned; false on shutdown.
async fn wait_until_dialable<M: WireMessage>(endpoint: &Endpoint<M>, id: &NodeId) -> bool {
    let mut changes = endpoint.registry.subscribe();
    loop {
        if endpoint.shutdown.is_cancelled() {
            return false;
        }
        if endpoint.registry.is_connected(id) {
            tokio::select! {
                _ = endpoint.shutdown.cancelled() => return false,
                changed = changes.changed() => if changed.is_err() { return false },
            }
            continue;
        }
        let banned_until = lock(&endpoint.bans).id_banned_until(id, Instant::now());
        let Some(until) = banned_until else { return true };
        tokio::select! {
            _ = endpoint.shutdown.cancelled() => return false,
            _ = tokio::time::sleep_until(until.into()) => {}
        }
    }
}

/// Connects and serves one connection; `None` if the TCP connect failed.
async fn dial_once<M: WireMessage>(
    endpoint: &Arc<Endpoint<M>>,
    address: &str,
    expected: Option<NodeId>,
) -> Option<Outcome> {
    let connect =
        tokio::time::timeout(endpoint.limits.handshake_timeout, TcpStream::connect(address));
    let connected = tokio::select! {
        _ = endpoint.shutdown.cancelled() => return None,
        connected = connect => connected,
    };
    let stream = match connected {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            Counters::bump(&endpoint.counters.dial_failures);
            tracing::debug!(error = %e, "dial failed");
            return None;
        }
        Err(_) => {
            Counters::bump(&endpoint.counters.dial_failures);
            tracing::debug!("dial timed out");
            return None;
        }
    };
    let addr = match stream.peer_addr() {
        Ok(addr) => addr,
        Err(e) => {
            Counters::bump(&endpoint.counters.dial_failures);
            tracing::debug!(error = %e, "connection lost at once");
            return None;
        }
    };
    Counters::bump(&endpoint.counters.connections_dialled);
    let slot = endpoint.slots.outbound();
    let direction = Direction::Outbound { dialled: address.to_string() };
    Some(connection::run(Arc::clone(endpoint), stream, addr, direction, expected, slot).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_task_per_address_and_learned_addresses_are_capped() {
        let targets = DialTargets::default();
        assert!(targets.claim("a:1", Origin::Configured, 1));
        assert!(!targets.claim("a:1", Origin::Learned, 1));
        assert!(targets.claim("b:1", Origin::Learned, 1));
        assert!(!targets.claim("c:1", Origin::Learned, 1), "cap");
        assert!(targets.claim("c:1", Origin::Configured, 1), "configured is not capped");
        targets.release("b:1");
        assert!(targets.claim("d:1", Origin::Learned, 1));
    }
}
