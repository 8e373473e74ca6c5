//! One authenticated connection's shared state (counters, RTT, score) and the
//! [`PeerInfo`] snapshot of it that `getpeerinfo` shows.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use protocol::NodeId;

use crate::bans::{Offence, Score};
use crate::config::Role;
use crate::locks::lock;

/// What an endpoint knows about one connected peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    /// The peer's proven id.
    pub id: NodeId,
    /// The socket address of the other end.
    pub addr: SocketAddr,
    /// Whether the peer connected to us.
    pub inbound: bool,
    /// The role it claimed (checked against the committee for masternodes).
    pub role: Role,
    /// Where the peer says it listens (its IP and the port from its hello).
    pub listen_addr: Option<SocketAddr>,
    /// When the handshake completed.
    pub connected_since: SystemTime,
    /// The latest ping round-trip time.
    pub rtt: Option<Duration>,
    /// Frames received.
    pub msgs_in: u64,
    /// Frames sent.
    pub msgs_out: u64,
    /// Bytes received, length prefixes included.
    pub bytes_in: u64,
    /// Bytes sent, length prefixes included.
    pub bytes_out: u64,
    /// Messages to it dropped because its queue was full.
    pub dropped: u64,
    /// Messages from it dropped by the rate limits.
    pub rate_limited: u64,
    /// Current misbehaviour score (decays with time).
    pub score: u32,
}

/// Sentinel for "no RTT measured yet".
const NO_RTT: u64 = u64::MAX;

/// The shared state of one connection, read by `peers()` and updated by its
/// reader and writer.
#[derive(Debug)]
pub(crate) struct PeerState {
    pub(crate) id: NodeId,
    pub(crate) addr: SocketAddr,
    pub(crate) inbound: bool,
    pub(crate) role: Role,
    pub(crate) listen_addr: Option<SocketAddr>,
    /// The address we dialled (outbound only), shared by peer exchange.
    pub(crate) dialled: Option<String>,
    pub(crate) connected_since: SystemTime,
    /// The same moment on the monotonic clock.
    pub(crate) connected_at: Instant,
    pub(crate) msgs_in: AtomicU64,
    pub(crate) msgs_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    rtt_micros: AtomicU64,
    /// The outstanding ping: its nonce and when it left.
    ping: Mutex<Option<(u64, Instant)>>,
    score: Mutex<Score>,
}

/// The fixed facts of a new connection.
#[derive(Debug, Clone)]
pub(crate) struct PeerFacts {
    pub(crate) id: NodeId,
    pub(crate) addr: SocketAddr,
    pub(crate) inbound: bool,
    pub(crate) role: Role,
    pub(crate) listen_port: Option<u16>,
    pub(crate) dialled: Option<String>,
}

impl PeerState {
    pub(crate) fn new(facts: PeerFacts) -> Self {
        PeerState {
            id: facts.id,
            addr: facts.addr,
            inbound: facts.inbound,
            role: facts.role,
            listen_addr: facts.listen_port.map(|port| SocketAddr::new(facts.addr.ip(), port)),
            dialled: facts.dialled,
            connected_since: SystemTime::now(),
            connected_at: Instant::now(),
            msgs_in: AtomicU64::new(0),
            msgs_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            rtt_micros: AtomicU64::new(NO_RTT),
            ping: Mutex::new(None),
            score: Mutex::new(Score::new(Instant::now())),
        }
    }

    /// Which node dialled this connection: the tie-break's key.
    pub(crate) fn dialler(&self, local: &NodeId) -> NodeId {
        if self.inbound { self.id } else { *local }
    }

    /// Whether its consensus messages count: only committee masternodes
    /// (membership was checked at the handshake).
    pub(crate) fn may_send_consensus(&self) -> bool {
        self.role == Role::Masternode
    }

    /// Records a ping that is leaving now.
    pub(crate) fn ping_sent(&self, nonce: u64, now: Instant) {
        *lock(&self.ping) = Some((nonce, now));
    }

    /// Records a pong; a nonce other than the outstanding ping's is ignored.
    pub(crate) fn pong_received(&self, nonce: u64, now: Instant) {
        let mut ping = lock(&self.ping);
        if let Some((sent_nonce, sent_at)) = *ping
            && sent_nonce == nonce
        {
            let micros = now.saturating_duration_since(sent_at).as_micros();
            let micros = u64::try_from(micros).unwrap_or(NO_RTT - 1);
            self.rtt_micros.store(micros, Ordering::Relaxed);
            *ping = None;
        }
    }

    /// Adds an offence; returns the new score.
    pub(crate) fn offend(&self, offence: Offence, now: Instant) -> f64 {
        lock(&self.score).add(offence, now)
    }

    /// The address to tell others to dial, if we know one.
    pub(crate) fn shareable_address(&self) -> Option<String> {
        if self.inbound { self.listen_addr.map(|a| a.to_string()) } else { self.dialled.clone() }
    }

    /// A snapshot for `peers()`.
    pub(crate) fn info(&self) -> PeerInfo {
        let rtt = match self.rtt_micros.load(Ordering::Relaxed) {
            NO_RTT => None,
            micros => Some(Duration::from_micros(micros)),
        };
        let score = lock(&self.score).current(Instant::now());
        PeerInfo {
            id: self.id,
            addr: self.addr,
            inbound: self.inbound,
            role: self.role,
            listen_addr: self.listen_addr,
            connected_since: self.connected_since,
            rtt,
            msgs_in: self.msgs_in.load(Ordering::Relaxed),
            msgs_out: self.msgs_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            // Scores are small and non-negative; the cast saturates anyway.
            score: score.round() as u32,
        }
    }
}
