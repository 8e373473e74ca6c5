//! The state one endpoint's tasks share: identity, limits, the peer table,
//! bans, counters, pending requests and the event channel to the
//! application, with the operations that touch several of them at once
//! (registering a peer, banning it, queueing a frame).
//!
//! Peer-up and peer-down events are emitted under one async lock, in the
//! order the table changed, so the application never sees a peer's "down"
//! after the "up" of its replacement.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use protocol::NodeId;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bans::{BanList, Offence};
use crate::config::{NetLimits, Role};
use crate::cpu::{CpuCounter, metered};
use crate::dialer::DialTargets;
use crate::error::SendError;
use crate::handle::{NetEvent, QueuedEvent};
use crate::handshake::LocalIdentity;
use crate::locks::lock;
use crate::peer::PeerState;
use crate::registry::{Duplicate, PeerLink, Registry};
use crate::requests::Requests;
use crate::slots::Slots;
use crate::stats::Counters;
use crate::wire::{Envelope, KnownPeer, WireMessage, encode_payload};

/// Most addresses sent in one peer list.
pub(crate) const MAX_SHARED_PEERS: usize = 64;

/// The shared state of one endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint<M: WireMessage> {
    pub(crate) identity: LocalIdentity,
    pub(crate) limits: NetLimits,
    pub(crate) peer_exchange: bool,
    pub(crate) local_addr: SocketAddr,
    pub(crate) counters: Arc<Counters>,
    pub(crate) registry: Registry,
    pub(crate) bans: Mutex<BanList>,
    pub(crate) slots: Arc<Slots>,
    pub(crate) requests: Requests<M>,
    pub(crate) dial_targets: DialTargets,
    pub(crate) tracker: TaskTracker,
    /// CPU time of every task the endpoint runs (see [`Endpoint::spawn`]).
    pub(crate) cpu: Arc<CpuCounter>,
    /// This endpoint's own token (a child of the caller's): cancelled by the
    /// caller's shutdown, by [`crate::NetHandle::shutdown`], or when the
    /// application drops its event receiver.
    pub(crate) shutdown: CancellationToken,
    /// The lane of urgent messages ([`crate::WireMessage::is_urgent`]).
    urgent: Lane<M>,
    /// The lane of every other event.
    normal: Lane<M>,
    /// Serialises peer-up / peer-down emission with table changes.
    membership: tokio::sync::Mutex<()>,
    next_conn_id: AtomicU64,
}

/// The parts of an [`Endpoint`] decided by `start`.
#[derive(Debug)]
pub(crate) struct EndpointParts<M: WireMessage> {
    pub(crate) identity: LocalIdentity,
    pub(crate) limits: NetLimits,
    pub(crate) peer_exchange: bool,
    pub(crate) local_addr: SocketAddr,
    pub(crate) urgent: Lane<M>,
    pub(crate) normal: Lane<M>,
    pub(crate) shutdown: CancellationToken,
}

/// The sending end of one event lane: its channel, and the bytes of
/// messages the application may have waiting in it (`event_queue_bytes`;
/// the channel's count bound alone would let large messages pile up).
#[derive(Debug)]
pub(crate) struct Lane<M> {
    pub(crate) sender: mpsc::Sender<QueuedEvent<M>>,
    pub(crate) budget: Arc<Semaphore>,
}

impl<M: WireMessage> Endpoint<M> {
    pub(crate) fn new(parts: EndpointParts<M>) -> Self {
        Endpoint {
            registry: Registry::new(parts.identity.id()),
            identity: parts.identity,
            limits: parts.limits,
            peer_exchange: parts.peer_exchange,
            local_addr: parts.local_addr,
            counters: Arc::new(Counters::default()),
            bans: Mutex::new(BanList::default()),
            slots: Arc::new(Slots::default()),
            requests: Requests::default(),
            dial_targets: DialTargets::default(),
            tracker: TaskTracker::new(),
            cpu: Arc::new(CpuCounter::default()),
            shutdown: parts.shutdown,
            urgent: parts.urgent,
            normal: parts.normal,
            membership: tokio::sync::Mutex::new(()),
            next_conn_id: AtomicU64::new(1),
        }
    }

    /// Runs `task` on the endpoint's tracker (shutdown waits for it), its
    /// CPU time charged to the network layer.
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(metered(self.cpu.clone(), task))
    }

    pub(crate) fn local_id(&self) -> NodeId {
        self.identity.id()
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Hands `event`, a message of `bytes` bytes, to the application,
    /// waiting while its channel or its byte budget is full (TCP then pushes
    /// back on the peer). False if `cancel` fired first or the application
    /// is gone; the latter shuts the endpoint down, as a closed channel means.
    pub(crate) async fn emit(
        &self,
        event: NetEvent<M>,
        bytes: usize,
        cancel: &CancellationToken,
    ) -> bool {
        let urgent = matches!(&event, NetEvent::Message { msg, .. } if msg.is_urgent());
        let lane = if urgent { &self.urgent } else { &self.normal };
        // A message larger than the whole budget waits for all of it.
        let cost = u32::try_from(bytes.min(self.limits.event_queue_bytes)).unwrap_or(u32::MAX);
        tokio::select! {
            _ = cancel.cancelled() => return false,
            permits = lane.budget.acquire_many(cost) => match permits {
                // Given back by `NetEvents` when the application takes the event.
                Ok(permits) => permits.forget(),
                Err(_closed) => return false,
            },
        }
        let sent = tokio::select! {
            _ = cancel.cancelled() => false,
            sent = lane.sender.send(QueuedEvent { event, cost }) => {
                if sent.is_err() {
                    tracing::info!("event receiver dropped; shutting the network down");
                    self.shutdown.cancel();
                }
                sent.is_ok()
            }
        };
        if !sent {
            lane.budget.add_permits(cost as usize);
        }
        sent
    }

    /// Emits a membership event; once shutting down only if there is room,
    /// since nobody may be reading any more.
    async fn emit_membership(&self, event: NetEvent<M>) {
        if self.shutdown.is_cancelled() {
            let _dropped_at_shutdown = self.normal.sender.try_send(QueuedEvent { event, cost: 0 });
        } else {
            self.emit(event, 0, &self.shutdown).await;
        }
    }

    /// Adds an authenticated connection to the table (tie-break applied) and
    /// tells the application.
    pub(crate) async fn register(&self, link: PeerLink) -> Result<(), Duplicate> {
        let _order = self.membership.lock().await;
        let state = Arc::clone(&link.state);
        let replaced = self.registry.insert(link)?;
        if let Some(old) = replaced {
            old.cancel.cancel();
            self.requests.fail_peer(&state.id);
            Counters::bump(&self.counters.handshake_duplicate);
            tracing::info!(
                peer = %state.id.short(),
                old = %old.state.addr,
                new = %state.addr,
                "replacing the connection to a peer (tie-break: the lower id's dial wins)"
            );
            let reason = "replaced by another connection (tie-break)".to_string();
            self.emit_membership(NetEvent::PeerDown { peer: state.id, reason }).await;
        }
        self.emit_membership(NetEvent::PeerUp {
            peer: state.id,
            addr: state.addr,
            inbound: state.inbound,
            role: state.role,
        })
        .await;
        Ok(())
    }

    /// Removes connection `conn_id` of `peer` if it is still the registered
    /// one, and tells the application.
    pub(crate) async fn unregister(&self, peer: &NodeId, conn_id: u64, reason: String) {
        let _order = self.membership.lock().await;
        if self.registry.remove(peer, conn_id).is_some() {
            self.requests.fail_peer(peer);
            self.emit_membership(NetEvent::PeerDown { peer: *peer, reason }).await;
        }
    }

    /// Charges `offence` to the peer; true if that crossed the ban threshold,
    /// in which case the peer is now banned and must be disconnected.
    pub(crate) fn penalize(&self, peer: &PeerState, offence: Offence) -> bool {
        let now = Instant::now();
        let ip = peer.addr.ip().to_canonical();
        let mut score = peer.offend(offence, now);
        if peer.role == Role::Observer {
            score = score.max(lock(&self.bans).observer_offend(ip, offence, now));
        }
        if score < f64::from(self.limits.ban_score_threshold) {
            return false;
        }
        let ban_ip = (!ip.is_loopback() || self.limits.ban_loopback_ips).then_some(ip);
        let mut bans = lock(&self.bans);
        bans.ban(peer.id, ban_ip, now, self.limits.ban_duration);
        if peer.role == Role::Observer {
            bans.ban_observers(ip, now, self.limits.ban_duration);
        }
        drop(bans);
        Counters::bump(&self.counters.bans);
        tracing::warn!(
            peer = %peer.addr,
            id = %peer.id.short(),
            score,
            last = ?offence,
            ip_banned = ban_ip.is_some(),
            "banning peer for misbehaviour"
        );
        true
    }

    /// Whether observers hold their share (half) of `max_connections`.
    pub(crate) fn observers_full(&self) -> bool {
        let observers =
            self.registry.links().iter().filter(|l| l.state.role == Role::Observer).count();
        observers >= self.limits.max_connections / 2
    }

    /// Whether observers from `ip` are banned now.
    pub(crate) fn observers_banned(&self, ip: &std::net::IpAddr) -> bool {
        lock(&self.bans).observers_banned(&ip.to_canonical(), Instant::now())
    }

    /// Whether `id` is banned now.
    pub(crate) fn is_banned(&self, id: &NodeId) -> bool {
        lock(&self.bans).id_banned_until(id, Instant::now()).is_some()
    }

    /// Encodes a frame payload, refusing what the peer would refuse.
    pub(crate) fn encode(&self, envelope: &Envelope<M>) -> Result<Bytes, SendError> {
        encode_checked(envelope, self.limits.max_frame_bytes)
    }

    /// Queues a frame for `peer` without waiting.
    pub(crate) fn send_payload(&self, peer: &NodeId, payload: Bytes) -> Result<(), SendError> {
        let link = self.registry.link(peer).ok_or(SendError::NotConnected(*peer))?;
        queue(&link.outbound, &link.state, &self.counters, payload)
    }

    /// The addresses to tell `requester` about.
    pub(crate) fn known_peers_for(&self, requester: &NodeId) -> Vec<KnownPeer> {
        self.registry
            .links()
            .iter()
            .filter(|link| link.state.id != *requester)
            .filter_map(|link| {
                Some(KnownPeer { id: link.state.id, address: link.state.shareable_address()? })
            })
            .take(MAX_SHARED_PEERS)
            .collect()
    }
}

/// Encodes `envelope`, refusing payloads above `max_frame_bytes`.
pub(crate) fn encode_checked<M: WireMessage>(
    envelope: &Envelope<M>,
    max_frame_bytes: usize,
) -> Result<Bytes, SendError> {
    let payload = encode_payload(envelope).map_err(|e| SendError::Encode(e.to_string()))?;
    if payload.len() > max_frame_bytes {
        return Err(SendError::TooLarge { len: payload.len(), max: max_frame_bytes });
    }
    Ok(payload)
}

/// Puts `payload` in a peer's queue; a full queue drops and counts it.
pub(crate) fn queue(
    outbound: &mpsc::Sender<Bytes>,
    peer: &PeerState,
    counters: &Counters,
    payload: Bytes,
) -> Result<(), SendError> {
    match outbound.try_send(payload) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => {
            Counters::bump(&counters.dropped_outbound);
            peer.dropped.fetch_add(1, Ordering::Relaxed);
            Err(SendError::QueueFull(peer.id))
        }
        // The writer stopped: the connection is closing.
        Err(TrySendError::Closed(_)) => Err(SendError::NotConnected(peer.id)),
    }
}
