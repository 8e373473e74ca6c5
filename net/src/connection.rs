//! One TCP connection from handshake to close, the same code for inbound and
//! outbound connections: every message type is handled whichever side
//! dialled.
//!
//! After the handshake the connection has two tasks. The reader applies the
//! rate limits, decodes, polices consensus messages and hands messages to the
//! application; it owns the connection's life and unregisters it at the end.
//! The writer drains this peer's own bounded queue (and a small control queue
//! of pongs and peer lists, sent first) and pings; a peer that stops reading
//! stalls only its own writer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use protocol::NodeId;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bans::Offence;
use crate::config::Role;
use crate::dialer;
use crate::endpoint::{Endpoint, MAX_SHARED_PEERS, queue};
use crate::frame::{FrameCodec, FrameError, LENGTH_PREFIX_BYTES};
use crate::handle::{NetEvent, Responder};
use crate::handshake::{Authenticated, Handshake, HandshakeError, Side, Step};
use crate::peer::{PeerFacts, PeerState};
use crate::ratelimit::RateLimiter;
use crate::registry::PeerLink;
use crate::slots::SlotGuard;
use crate::stats::Counters;
use crate::wire::{Envelope, WireMessage, decode_payload};

/// Pongs and peer lists waiting for the writer.
const CONTROL_QUEUE: usize = 16;

/// Frames written before one flush.
const WRITE_BATCH: usize = 64;

type Reader = FramedRead<OwnedReadHalf, FrameCodec>;
type Writer = FramedWrite<OwnedWriteHalf, FrameCodec>;

/// Which side opened the connection.
#[derive(Debug, Clone)]
pub(crate) enum Direction {
    /// The peer connected to us.
    Inbound,
    /// We dialled this address.
    Outbound {
        /// The address as configured or learned.
        dialled: String,
    },
}

/// How a connection ended, for the dialer.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The handshake failed.
    HandshakeFailed(HandshakeError),
    /// Authenticated, but another connection to the peer won the tie-break.
    Duplicate(NodeId),
    /// Authenticated and served until it closed.
    Ended {
        /// The peer.
        peer: NodeId,
        /// How long it was up.
        lasted: Duration,
    },
}

/// Runs one connection to its end. `expected` is the id configured for a
/// dialled address; `slot` is held until the socket is closed.
pub(crate) async fn run<M: WireMessage>(
    endpoint: Arc<Endpoint<M>>,
    stream: TcpStream,
    addr: SocketAddr,
    direction: Direction,
    expected: Option<NodeId>,
    slot: SlotGuard,
) -> Outcome {
    let span = tracing::info_span!(
        "peer",
        addr = %addr,
        inbound = matches!(direction, Direction::Inbound),
        id = tracing::field::Empty
    );
    let outcome = serve(endpoint, stream, addr, direction, expected).instrument(span).await;
    drop(slot);
    outcome
}

async fn serve<M: WireMessage>(
    endpoint: Arc<Endpoint<M>>,
    stream: TcpStream,
    addr: SocketAddr,
    direction: Direction,
    expected: Option<NodeId>,
) -> Outcome {
    // Small frames (votes) must not wait for Nagle.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let codec = FrameCodec::new(endpoint.limits.max_frame_bytes);
    let (read_half, write_half) = stream.into_split();
    let mut reader = FramedRead::new(read_half, codec);
    let mut writer = FramedWrite::new(write_half, codec);
    let side = match direction {
        Direction::Inbound => Side::Listener,
        Direction::Outbound { .. } => Side::Dialer,
    };

    let handshake = tokio::time::timeout(
        endpoint.limits.handshake_timeout,
        handshake(&endpoint, &mut reader, &mut writer, side, expected, addr),
    );
    let authenticated = tokio::select! {
        _ = endpoint.shutdown.cancelled() => {
            return Outcome::HandshakeFailed(HandshakeError::Io("shutting down".into()));
        }
        result = handshake => result.unwrap_or(Err(HandshakeError::Timeout)),
    };
    let authenticated = match authenticated {
        Ok(authenticated) => authenticated,
        Err(error) => {
            endpoint.counters.handshake_failed(&error);
            tracing::warn!(peer = %addr, reason = %error, "handshake refused");
            return Outcome::HandshakeFailed(error);
        }
    };
    Counters::bump(&endpoint.counters.handshakes_completed);
    let peer = authenticated.peer;
    tracing::Span::current().record("id", tracing::field::display(peer.short()));

    let state = Arc::new(PeerState::new(PeerFacts {
        id: peer,
        addr,
        inbound: side == Side::Listener,
        role: authenticated.role,
        listen_port: authenticated.listen_port,
        dialled: match direction {
            Direction::Outbound { dialled } => Some(dialled),
            Direction::Inbound => None,
        },
    }));
    let (outbound_sender, outbound_inbox) = mpsc::channel(endpoint.limits.outbound_queue);
    let (control_sender, control_inbox) = mpsc::channel(CONTROL_QUEUE);
    let cancel = endpoint.shutdown.child_token();
    let link = PeerLink {
        conn_id: endpoint.next_conn_id(),
        state: Arc::clone(&state),
        outbound: outbound_sender,
        control: control_sender,
        cancel: cancel.clone(),
    };
    if endpoint.register(link.clone()).await.is_err() {
        Counters::bump(&endpoint.counters.handshake_duplicate);
        tracing::info!("closing a duplicate connection (tie-break: the lower id's dial wins)");
        return Outcome::Duplicate(peer);
    }
    tracing::info!(role = %authenticated.role, "peer connected");

    let writer_task = endpoint.spawn(
        write_loop(
            Arc::clone(&endpoint),
            Arc::clone(&state),
            writer,
            outbound_inbox,
            control_inbox,
            cancel.clone(),
        )
        .in_current_span(),
    );
    if endpoint.peer_exchange
        && let Ok(payload) = endpoint.encode(&Envelope::GetPeers)
    {
        // A fresh control queue has room.
        let _queued = link.control.try_send(payload);
    }
    let reason = read_loop(&endpoint, &state, &link, reader).await;
    cancel.cancel();
    if let Err(e) = writer_task.await {
        tracing::warn!(error = %e, "writer task failed");
    }
    Counters::bump(&endpoint.counters.disconnects);
    tracing::info!(%reason, "peer disconnected");
    endpoint.unregister(&peer, link.conn_id, reason).await;
    Outcome::Ended { peer, lasted: state.connected_at.elapsed() }
}

/// Sends our hello, answers theirs with our signature, verifies theirs.
async fn handshake<M: WireMessage>(
    endpoint: &Endpoint<M>,
    reader: &mut Reader,
    writer: &mut Writer,
    side: Side,
    expected: Option<NodeId>,
    addr: SocketAddr,
) -> Result<Authenticated, HandshakeError> {
    let mut machine = Handshake::new(&endpoint.identity, side, expected, rand::random());
    let hello = endpoint
        .encode(&Envelope::Hello(machine.hello().clone()))
        .map_err(|e| HandshakeError::Io(e.to_string()))?;
    writer.send(hello).await.map_err(|e| HandshakeError::Io(e.to_string()))?;
    loop {
        let payload = match reader.next().await {
            None => return Err(HandshakeError::Io("closed by peer".into())),
            Some(Err(FrameError::Oversized { len, .. })) => {
                Counters::bump(&endpoint.counters.oversized_frames);
                return Err(HandshakeError::Oversized { len });
            }
            Some(Err(FrameError::Io(e))) => return Err(HandshakeError::Io(e.to_string())),
            Some(Ok(payload)) => payload,
        };
        match machine.on_frame::<M>(&payload)? {
            Step::SendAuth(auth) => {
                // A banned id is refused before we sign anything for it.
                if let Some(theirs) = machine.peer_hello()
                    && (endpoint.is_banned(&theirs.node_id)
                        || (theirs.role == Role::Observer && endpoint.observers_banned(&addr.ip())))
                {
                    return Err(HandshakeError::Banned { peer: theirs.node_id });
                }
                if let Some(theirs) = machine.peer_hello()
                    && theirs.role == Role::Observer
                    && endpoint.observers_full()
                {
                    return Err(HandshakeError::ObserversFull);
                }
                let auth = endpoint
                    .encode(&Envelope::Auth(auth))
                    .map_err(|e| HandshakeError::Io(e.to_string()))?;
                writer.send(auth).await.map_err(|e| HandshakeError::Io(e.to_string()))?;
            }
            Step::Done(authenticated) => {
                if endpoint.is_banned(&authenticated.peer) {
                    return Err(HandshakeError::Banned { peer: authenticated.peer });
                }
                return Ok(authenticated);
            }
        }
    }
}

/// Reads until the connection ends; returns why it ended.
async fn read_loop<M: WireMessage>(
    endpoint: &Arc<Endpoint<M>>,
    state: &PeerState,
    link: &PeerLink,
    mut reader: Reader,
) -> String {
    let limits = &endpoint.limits;
    let counters = &endpoint.counters;
    let cancel = &link.cancel;
    let mut limiter = RateLimiter::new(
        limits.max_msgs_per_sec,
        limits.msg_burst,
        limits.max_bytes_per_sec,
        limits.byte_burst,
        Instant::now(),
    );
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return "closed locally".into(),
            next = tokio::time::timeout(limits.idle_timeout, reader.next()) => next,
        };
        let payload: BytesMut = match next {
            Err(_) => {
                Counters::bump(&counters.idle_timeouts);
                return format!("idle for {:?}", limits.idle_timeout);
            }
            Ok(None) => return "closed by peer".into(),
            Ok(Some(Err(FrameError::Oversized { len, max }))) => {
                Counters::bump(&counters.oversized_frames);
                tracing::warn!(peer = %state.addr, len, max, "oversized frame; disconnecting");
                endpoint.penalize(state, Offence::Oversized);
                return format!("oversized frame of {len} bytes");
            }
            Ok(Some(Err(FrameError::Io(e)))) => return format!("i/o error: {e}"),
            Ok(Some(Ok(payload))) => payload,
        };
        let wire_len = (LENGTH_PREFIX_BYTES + payload.len()) as u64;
        Counters::bump(&counters.frames_in);
        Counters::add(&counters.bytes_in, wire_len);
        state.msgs_in.fetch_add(1, Ordering::Relaxed);
        state.bytes_in.fetch_add(wire_len, Ordering::Relaxed);

        // Cheap checks first: a flood is dropped before it is decoded.
        if !limiter.admit(payload.len() + LENGTH_PREFIX_BYTES, Instant::now()) {
            Counters::bump(&counters.rate_limited);
            state.rate_limited.fetch_add(1, Ordering::Relaxed);
            if endpoint.penalize(state, Offence::RateLimited) {
                return "banned: rate limits exceeded".into();
            }
            continue;
        }
        let envelope = match decode_payload::<M>(&payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                Counters::bump(&counters.decode_errors);
                tracing::warn!(peer = %state.addr, error = %e, "undecodable frame dropped");
                if endpoint.penalize(state, Offence::Malformed) {
                    return "banned: malformed frames".into();
                }
                continue;
            }
        };
        match envelope {
            Envelope::Ping { nonce } => {
                control(endpoint, link, &Envelope::Pong { nonce });
            }
            Envelope::Pong { nonce } => state.pong_received(nonce, Instant::now()),
            Envelope::GetPeers => {
                if endpoint.peer_exchange {
                    let peers = endpoint.known_peers_for(&state.id);
                    control(endpoint, link, &Envelope::Peers(peers));
                }
            }
            Envelope::Peers(peers) => {
                // Only a member's list: an observer must not choose whom
                // this node dials (nor use up its connections that way).
                if endpoint.peer_exchange && state.may_send_consensus() {
                    for known in peers.into_iter().take(MAX_SHARED_PEERS) {
                        dialer::learn(endpoint, known);
                    }
                }
            }
            Envelope::App(msg) => {
                if refuse_consensus(endpoint, state, &msg) {
                    if endpoint.penalize(state, Offence::ConsensusFromNonMember) {
                        return "banned: consensus messages from a non-member".into();
                    }
                    continue;
                }
                let event = NetEvent::Message { peer: state.id, msg };
                if !endpoint.emit(event, payload.len(), cancel).await {
                    return "closed locally".into();
                }
            }
            Envelope::Request { id, body } => {
                if refuse_consensus(endpoint, state, &body) {
                    if endpoint.penalize(state, Offence::ConsensusFromNonMember) {
                        return "banned: consensus messages from a non-member".into();
                    }
                    continue;
                }
                let responder =
                    Responder::new(link.clone(), Arc::clone(counters), id, limits.max_frame_bytes);
                let event = NetEvent::Request { peer: state.id, msg: body, responder };
                if !endpoint.emit(event, payload.len(), cancel).await {
                    return "closed locally".into();
                }
            }
            Envelope::Response { id, body } => {
                if !endpoint.requests.complete(&state.id, id, body) {
                    Counters::bump(&counters.unsolicited_responses);
                    if endpoint.penalize(state, Offence::UnsolicitedResponse) {
                        return "banned: unsolicited responses".into();
                    }
                }
            }
            Envelope::Hello(_) | Envelope::Auth(_) => {
                Counters::bump(&counters.unexpected_messages);
                tracing::warn!(peer = %state.addr, "handshake message after the handshake");
                if endpoint.penalize(state, Offence::Malformed) {
                    return "banned: handshake messages after the handshake".into();
                }
            }
        }
    }
}

/// Whether `msg` is a consensus message from a peer that may not send one
/// (counted and logged here; the caller charges the offence).
fn refuse_consensus<M: WireMessage>(endpoint: &Endpoint<M>, state: &PeerState, msg: &M) -> bool {
    if !msg.is_consensus() || state.may_send_consensus() {
        return false;
    }
    Counters::bump(&endpoint.counters.consensus_from_non_member);
    tracing::warn!(
        peer = %state.addr,
        id = %state.id.short(),
        role = %state.role,
        "consensus message from a non-member dropped"
    );
    true
}

/// Queues a control frame (pong, peer list). If the control queue is full
/// the peer is not reading its pongs either, and the frame is dropped.
fn control<M: WireMessage>(endpoint: &Endpoint<M>, link: &PeerLink, envelope: &Envelope<M>) {
    let Ok(payload) = endpoint.encode(envelope) else { return };
    if queue(&link.control, &link.state, &endpoint.counters, payload).is_err() {
        tracing::debug!(kind = envelope.kind(), "control frame dropped");
    }
}

/// Drains this peer's queues into the socket and pings; ends when the
/// connection is cancelled or a write fails (then it cancels the reader).
async fn write_loop<M: WireMessage>(
    endpoint: Arc<Endpoint<M>>,
    state: Arc<PeerState>,
    mut writer: Writer,
    mut outbound_inbox: mpsc::Receiver<Bytes>,
    mut control_inbox: mpsc::Receiver<Bytes>,
    cancel: CancellationToken,
) {
    let mut ping = tokio::time::interval(endpoint.limits.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            Some(payload) = control_inbox.recv() => payload,
            _ = ping.tick() => {
                let nonce: u64 = rand::random();
                let Ok(payload) = endpoint.encode(&Envelope::Ping { nonce }) else { continue };
                state.ping_sent(nonce, Instant::now());
                payload
            }
            payload = outbound_inbox.recv() => match payload {
                Some(payload) => payload,
                None => break,
            },
        };
        let written = tokio::select! {
            _ = cancel.cancelled() => break,
            written = write_batch(&mut writer, first, &mut control_inbox, &mut outbound_inbox, &endpoint.counters, &state) => written,
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "write failed");
            break;
        }
    }
    cancel.cancel();
}

/// Writes `first` and whatever else is already queued (up to a batch), then
/// flushes once: one syscall for a burst of small frames.
async fn write_batch(
    writer: &mut Writer,
    first: Bytes,
    control_inbox: &mut mpsc::Receiver<Bytes>,
    outbound_inbox: &mut mpsc::Receiver<Bytes>,
    counters: &Counters,
    state: &PeerState,
) -> Result<(), FrameError> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(payload) = next {
        let wire_len = (LENGTH_PREFIX_BYTES + payload.len()) as u64;
        writer.feed(payload).await?;
        Counters::bump(&counters.frames_out);
        Counters::add(&counters.bytes_out, wire_len);
        state.msgs_out.fetch_add(1, Ordering::Relaxed);
        state.bytes_out.fetch_add(wire_len, Ordering::Relaxed);
        written += 1;
        next = if written < WRITE_BATCH {
            control_inbox.try_recv().or_else(|_| outbound_inbox.try_recv()).ok()
        } else {
            None
        };
    }
    writer.flush().await
}
