//! What an endpoint is told at start: who it is, whom to dial, and the limits
//! that keep one peer from hurting the others.

use std::net::SocketAddr;
use std::time::Duration;

use protocol::{ChainId, Hash256, NodeId};
use serde::{Deserialize, Serialize};

use crate::error::NetError;

/// The longest timer a limit may set.
const MAX_TIMER: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a peer says it is in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// A committee member: may send consensus messages. Claiming this role
    /// with an id outside the committee fails the handshake.
    Masternode,
    /// Anyone else (wallets, explorers, catching-up nodes): may connect and
    /// exchange ordinary messages, but its consensus messages are dropped.
    Observer,
}

impl Role {
    /// The byte that stands for the role in the signed handshake transcript.
    pub const fn transcript_byte(self) -> u8 {
        match self {
            Role::Masternode => 0,
            Role::Observer => 1,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Masternode => "masternode",
            Role::Observer => "observer",
        })
    }
}

/// One peer to dial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAddress {
    /// The id expected at that address. When set, a node answering there
    /// with another id is refused (a misconfigured proxy or an impostor), and
    /// the address is not dialled while that peer is connected some other way.
    pub id: Option<NodeId>,
    /// `host:port`. A local cluster puts the link proxy's port here.
    pub address: String,
}

/// Limits and timers. [`NetLimits::default`] suits a masternode on the
/// internet; tests shrink the timers.
#[derive(Debug, Clone, PartialEq)]
pub struct NetLimits {
    /// Largest frame (the bytes after the 4-byte length prefix). A longer
    /// announced length closes the connection before anything is allocated.
    pub max_frame_bytes: usize,
    /// Time for the whole handshake, from TCP connect or accept to the
    /// verified `Auth`.
    pub handshake_timeout: Duration,
    /// A connection on which the peer sent nothing (pongs count) for this
    /// long is closed.
    pub idle_timeout: Duration,
    /// How often each side pings (which also measures the round-trip time).
    /// Must be well below `idle_timeout`.
    pub ping_interval: Duration,
    /// Messages queued per peer before [`crate::NetHandle::send`] drops.
    pub outbound_queue: usize,
    /// Sustained inbound messages per second per peer.
    pub max_msgs_per_sec: u32,
    /// Inbound messages a peer may send at once above the sustained rate.
    pub msg_burst: u32,
    /// Sustained inbound bytes per second per peer.
    pub max_bytes_per_sec: u64,
    /// Inbound bytes a peer may send at once above the sustained rate.
    pub byte_burst: u64,
    /// Live connections (inbound, outbound and still handshaking) above
    /// which new inbound connections are refused at accept.
    pub max_connections: usize,
    /// Live connections from one IP address above which new inbound
    /// connections from it are refused at accept. Loopback counts too: a
    /// local cluster of more than this many nodes must raise it.
    pub max_per_ip: usize,
    /// Misbehaviour points at which a peer is disconnected and banned.
    pub ban_score_threshold: u32,
    /// How long a ban lasts.
    pub ban_duration: Duration,
    /// Ban the IP address too, even when it is a loopback address. Off by
    /// default: a local cluster puts every peer on 127.0.0.1, and banning it
    /// would cut off the honest ones too. Non-loopback IPs are always banned.
    pub ban_loopback_ips: bool,
    /// First redial delay after a failed dial or a dropped connection.
    pub backoff_min: Duration,
    /// Cap of the exponential redial delay.
    pub backoff_max: Duration,
    /// Default timeout of [`crate::NetHandle::request_default`].
    pub request_timeout: Duration,
    /// Events the application may have waiting, in each of the two lanes
    /// (urgent messages, everything else). When a lane is full, peers'
    /// readers wait, so TCP pushes back on the senders.
    pub event_queue: usize,
    /// Message bytes the application may have waiting in each lane (the
    /// same back-pressure, so large messages cannot pile up either).
    pub event_queue_bytes: usize,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            max_frame_bytes: 16 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(5),
            outbound_queue: 4096,
            max_msgs_per_sec: 20_000,
            msg_burst: 40_000,
            max_bytes_per_sec: 64 * 1024 * 1024,
            byte_burst: 64 * 1024 * 1024,
            max_connections: 128,
            max_per_ip: 32,
            ban_score_threshold: 100,
            ban_duration: Duration::from_secs(600),
            ban_loopback_ips: false,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            event_queue: 8192,
            event_queue_bytes: 64 * 1024 * 1024,
        }
    }
}

impl NetLimits {
    /// Rejects limits that would make the endpoint unusable (zero sizes,
    /// inverted ranges), naming the field.
    pub fn validate(&self) -> Result<(), NetError> {
        let bad = |field: &str, why: &str| Err(NetError::InvalidLimit(format!("{field}: {why}")));
        if self.max_frame_bytes < 1024 {
            return bad("max_frame_bytes", "must be at least 1024");
        }
        if u32::try_from(self.max_frame_bytes).is_err() {
            return bad("max_frame_bytes", "must fit the u32 length prefix");
        }
        for (field, value) in [
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("ping_interval", self.ping_interval),
            ("ban_duration", self.ban_duration),
            ("backoff_min", self.backoff_min),
            ("request_timeout", self.request_timeout),
        ] {
            if value.is_zero() {
                return bad(field, "must be positive");
            }
        }
        if self.ping_interval >= self.idle_timeout {
            return bad("ping_interval", "must be below idle_timeout");
        }
        if self.backoff_max < self.backoff_min {
            return bad("backoff_max", "must be at least backoff_min");
        }
        // Timers are added to the clock: keep them far from overflowing it.
        for (field, value) in [
            ("ban_duration", self.ban_duration),
            ("backoff_max", self.backoff_max),
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if value > MAX_TIMER {
                return bad(field, "must be at most 365 days");
            }
        }
        if u32::try_from(self.event_queue_bytes).is_err() {
            return bad("event_queue_bytes", "must be below 4 GiB");
        }
        for (field, value) in [
            ("outbound_queue", self.outbound_queue as u64),
            ("max_msgs_per_sec", u64::from(self.max_msgs_per_sec)),
            ("msg_burst", u64::from(self.msg_burst)),
            ("max_bytes_per_sec", self.max_bytes_per_sec),
            ("byte_burst", self.byte_burst),
            ("max_connections", self.max_connections as u64),
            ("max_per_ip", self.max_per_ip as u64),
            ("ban_score_threshold", u64::from(self.ban_score_threshold)),
            ("event_queue", self.event_queue as u64),
            ("event_queue_bytes", self.event_queue_bytes as u64),
        ] {
            if value == 0 {
                return bad(field, "must be positive");
            }
        }
        Ok(())
    }
}

/// Everything [`crate::start`] needs besides the key and the shutdown token.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Where to listen; port 0 picks a free port ([`crate::NetHandle::local_addr`]
    /// tells which).
    pub listen: SocketAddr,
    /// Peers on another chain are refused.
    pub chain_id: ChainId,
    /// Peers with another genesis are refused.
    pub genesis_hash: Hash256,
    /// Normally [`protocol::PROTOCOL_VERSION`]; peers with another are refused.
    pub protocol_version: u32,
    /// What this endpoint claims to be.
    pub role: Role,
    /// The masternodes allowed to claim [`Role::Masternode`].
    pub committee: Vec<NodeId>,
    /// Peers to keep connected to, each with its own dial address.
    pub peers: Vec<PeerAddress>,
    /// `host:port` addresses to dial whose ids are learned at the handshake.
    pub bootstrap: Vec<String>,
    /// Ask peers for their peers, answer such requests, and dial what is
    /// learned. Off in a local cluster, where every link goes through a proxy.
    pub peer_exchange: bool,
    /// Limits and timers.
    pub limits: NetLimits,
}
