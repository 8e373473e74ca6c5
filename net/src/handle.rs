//! What the application holds: [`NetHandle`] to send, and [`NetEvents`] to
//! receive messages, requests and peer up / down events.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use protocol::NodeId;
use tokio::sync::{Semaphore, mpsc};

use crate::config::{PeerAddress, Role};
use crate::dialer::{self, Origin};
use crate::endpoint::{Endpoint, encode_checked, queue};
use crate::error::{RequestError, SendError};
use crate::peer::PeerInfo;
use crate::registry::PeerLink;
use crate::requests::Requests;
use crate::stats::{Counters, NetStats};
use crate::wire::{Envelope, WireMessage};

/// Something that happened on the network.
#[derive(Debug)]
pub enum NetEvent<M> {
    /// A peer completed the handshake (or a new connection to it replaced
    /// the old one, after a `PeerDown` for the old).
    PeerUp {
        /// The peer.
        peer: NodeId,
        /// The other end of the connection.
        addr: SocketAddr,
        /// Whether it dialled us.
        inbound: bool,
        /// Its role.
        role: Role,
    },
    /// The connection to a peer closed.
    PeerDown {
        /// The peer.
        peer: NodeId,
        /// Why, for logs.
        reason: String,
    },
    /// A message from a peer.
    Message {
        /// The sender.
        peer: NodeId,
        /// The message.
        msg: M,
    },
    /// A request from a peer; answer through `responder`.
    Request {
        /// The requester.
        peer: NodeId,
        /// The request.
        msg: M,
        /// Sends the response on the connection the request came on.
        responder: Responder<M>,
    },
}

/// An event in the channel, with the bytes of budget it holds.
#[derive(Debug)]
pub(crate) struct QueuedEvent<M> {
    pub(crate) event: NetEvent<M>,
    pub(crate) cost: u32,
}

/// The receiving end of the network's events: two lanes, each a channel
/// bounded in events (`event_queue`) and in message bytes
/// (`event_queue_bytes`): one for urgent messages
/// ([`crate::WireMessage::is_urgent`]), always taken first, one for the
/// rest. While a lane is full, peers' readers wait and TCP pushes back on
/// the senders. Dropping it shuts the endpoint down.
#[derive(Debug)]
pub struct NetEvents<M> {
    pub(crate) urgent: LaneInbox<M>,
    pub(crate) normal: LaneInbox<M>,
}

/// The receiving end of one lane.
#[derive(Debug)]
pub(crate) struct LaneInbox<M> {
    pub(crate) inbox: mpsc::Receiver<QueuedEvent<M>>,
    pub(crate) budget: Arc<Semaphore>,
}

impl<M> LaneInbox<M> {
    /// Returns the event's bytes to the lane's budget: it is the
    /// application's now.
    fn release(&self, queued: QueuedEvent<M>) -> NetEvent<M> {
        self.budget.add_permits(queued.cost as usize);
        queued.event
    }
}

impl<M> NetEvents<M> {
    /// The next event, urgent ones first; `None` once the endpoint has shut
    /// down.
    pub async fn recv(&mut self) -> Option<NetEvent<M>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next event if one is ready, urgent ones first.
    pub fn try_recv(&mut self) -> Option<NetEvent<M>> {
        if let Ok(queued) = self.urgent.inbox.try_recv() {
            return Some(self.urgent.release(queued));
        }
        let queued = self.normal.inbox.try_recv().ok()?;
        Some(self.normal.release(queued))
    }

    /// Polls for the next event, urgent ones first. Ends (`None`) when the
    /// normal lane closes: both close together at shutdown.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<NetEvent<M>>> {
        if let Poll::Ready(Some(queued)) = self.urgent.inbox.poll_recv(cx) {
            return Poll::Ready(Some(self.urgent.release(queued)));
        }
        let normal = &mut self.normal;
        normal.inbox.poll_recv(cx).map(|queued| queued.map(|queued| normal.release(queued)))
    }
}

impl<M> futures::Stream for NetEvents<M> {
    type Item = NetEvent<M>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NetEvent<M>>> {
        self.get_mut().poll_recv(cx)
    }
}

/// Answers one request, on the connection it came on.
pub struct Responder<M> {
    link: PeerLink,
    counters: Arc<Counters>,
    id: u64,
    max_frame_bytes: usize,
    _message: std::marker::PhantomData<fn(M)>,
}

impl<M> std::fmt::Debug for Responder<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("peer", &self.link.state.id)
            .field("id", &self.id)
            .finish()
    }
}

impl<M: WireMessage> Responder<M> {
    pub(crate) fn new(
        link: PeerLink,
        counters: Arc<Counters>,
        id: u64,
        max_frame_bytes: usize,
    ) -> Self {
        Responder { link, counters, id, max_frame_bytes, _message: std::marker::PhantomData }
    }

    /// The requester.
    pub fn peer(&self) -> NodeId {
        self.link.state.id
    }

    /// Queues the response; like [`NetHandle::send`] it never waits, and a
    /// full queue drops it (the requester then times out).
    pub fn respond(self, msg: M) -> Result<(), SendError> {
        let payload =
            encode_checked(&Envelope::Response { id: self.id, body: msg }, self.max_frame_bytes)?;
        queue(&self.link.outbound, &self.link.state, &self.counters, payload)
    }
}

/// The application's handle on the network. Cheap to clone.
pub struct NetHandle<M: WireMessage> {
    pub(crate) endpoint: Arc<Endpoint<M>>,
}

impl<M: WireMessage> Clone for NetHandle<M> {
    fn clone(&self) -> Self {
        NetHandle { endpoint: Arc::clone(&self.endpoint) }
    }
}

impl<M: WireMessage> std::fmt::Debug for NetHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetHandle")
            .field("local_id", &self.endpoint.local_id())
            .field("local_addr", &self.endpoint.local_addr)
            .finish()
    }
}

/// Removes a pending request however `request` ends (even when its future
/// is dropped).
struct PendingRequest<'a, M> {
    requests: &'a Requests<M>,
    id: u64,
}

impl<M> Drop for PendingRequest<'_, M> {
    fn drop(&mut self) {
        self.requests.close(self.id);
    }
}

impl<M: WireMessage> NetHandle<M> {
    /// The bound listen address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr
    }

    /// Our id.
    pub fn local_id(&self) -> NodeId {
        self.endpoint.local_id()
    }

    /// Queues `msg` for `peer` without waiting. When the peer's queue is
    /// full the message is dropped and counted; the consensus layer's
    /// anti-entropy recovers it.
    pub fn send(&self, peer: &NodeId, msg: M) -> Result<(), SendError> {
        let payload = self.endpoint.encode(&Envelope::App(msg))?;
        self.endpoint.send_payload(peer, payload)
    }

    /// Queues `msg` for every connected peer, inbound and outbound alike,
    /// encoding it once; returns how many queues took it (full queues drop
    /// and count it).
    pub fn broadcast(&self, msg: M) -> usize {
        let payload = match self.endpoint.encode(&Envelope::App(msg)) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, "broadcast not sent");
                return 0;
            }
        };
        self.endpoint
            .registry
            .links()
            .iter()
            .filter(|link| {
                queue(&link.outbound, &link.state, &self.endpoint.counters, payload.clone()).is_ok()
            })
            .count()
    }

    /// Sends a request to `peer` and waits up to `timeout` for its response.
    pub async fn request(
        &self,
        peer: &NodeId,
        msg: M,
        timeout: Duration,
    ) -> Result<M, RequestError> {
        let endpoint = &*self.endpoint;
        let (id, reply_inbox) = endpoint.requests.open(*peer);
        let _pending = PendingRequest { requests: &endpoint.requests, id };
        let payload = endpoint.encode(&Envelope::Request { id, body: msg })?;
        endpoint.send_payload(peer, payload)?;
        match tokio::time::timeout(timeout, reply_inbox).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(RequestError::Disconnected),
            Err(_) => {
                Counters::bump(&endpoint.counters.requests_timed_out);
                Err(RequestError::Timeout)
            }
        }
    }

    /// [`NetHandle::request`] with the configured `request_timeout`.
    pub async fn request_default(&self, peer: &NodeId, msg: M) -> Result<M, RequestError> {
        self.request(peer, msg, self.endpoint.limits.request_timeout).await
    }

    /// Charges `peer` for a message the application found hostile (a bad
    /// signature, an impossible range), as a malformed frame is charged: at
    /// the ban threshold the peer is disconnected and banned. True if that
    /// happened now; false too when `peer` is not connected.
    pub fn penalize(&self, peer: &NodeId) -> bool {
        let Some(link) = self.endpoint.registry.link(peer) else { return false };
        let banned = self.endpoint.penalize(&link.state, crate::bans::Offence::Application);
        if banned {
            link.cancel.cancel();
        }
        banned
    }

    /// The connected peers.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.endpoint.registry.links().iter().map(|link| link.state.info()).collect()
    }

    /// Whether `peer` is connected (authenticated).
    pub fn is_connected(&self, peer: &NodeId) -> bool {
        self.endpoint.registry.is_connected(peer)
    }

    /// Open TCP connections, including ones still handshaking and duplicates
    /// about to be closed.
    pub fn connection_count(&self) -> usize {
        self.endpoint.slots.open()
    }

    /// The counters.
    pub fn stats(&self) -> NetStats {
        self.endpoint.counters.snapshot()
    }

    /// CPU time the network layer's tasks have used (connections,
    /// handshakes, dials, accepts: framing, decoding, sockets).
    pub fn cpu_time(&self) -> std::time::Duration {
        self.endpoint.cpu.total()
    }

    /// Starts keeping `peer` connected (as if it were configured); nothing
    /// happens if its address is already being dialled.
    pub fn add_peer(&self, peer: PeerAddress) {
        dialer::dial(&self.endpoint, peer.address, peer.id, Origin::Configured);
    }

    /// Stops this endpoint (as cancelling the token given to `start` does).
    pub fn shutdown(&self) {
        self.endpoint.shutdown.cancel();
    }

    /// Waits until the endpoint has shut down and every task it spawned has
    /// finished (the listen port is then free).
    pub async fn stopped(&self) {
        self.endpoint.shutdown.cancelled().await;
        self.endpoint.tracker.close();
        self.endpoint.tracker.wait().await;
    }
}
