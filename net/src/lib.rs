//! TimeCoin's P2P transport: framed TCP between masternodes, an
//! authenticated handshake, peer management, and protection against
//! misbehaving peers. It knows nothing of consensus: it is generic over the
//! application's message type ([`WireMessage`]) and only asks each message
//! whether it is a consensus message.
//!
//! # Using it
//!
//! [`start`] binds the listener, dials the configured peers and returns a
//! [`NetHandle`] (send, broadcast, request, peers, stats) and [`NetEvents`]
//! (peer up / down, messages, requests; messages the application calls
//! urgent, [`WireMessage::is_urgent`], come first, from a lane of their
//! own). Cancelling the token passed to
//! `start` stops every task; [`NetHandle::stopped`] waits for that.
//!
//! # Wire format
//!
//! **Frame**: a `u32` little-endian length `N`, then `N` bytes. `N` is
//! checked against `max_frame_bytes` (default 16 MiB) as soon as the four
//! length bytes arrive, before anything is allocated for the body; a larger
//! `N` closes the connection and counts `oversized_frames`. The `N` bytes
//! are one wire-version byte ([`wire::WIRE_VERSION`] = 1) followed by a
//! postcard-encoded [`wire::Envelope`], with no trailing bytes.
//!
//! **Envelope** (postcard writes the variant index as a varint, in this
//! order): `0 Hello(Hello)`, `1 Auth(Auth)`, `2 Ping { nonce: u64 }`,
//! `3 Pong { nonce: u64 }`, `4 GetPeers`, `5 Peers(Vec<KnownPeer { id,
//! address }>)`, `6 App(M)`, `7 Request { id: u64, body: M }`,
//! `8 Response { id: u64, body: M }`.
//!
//! **Handshake** (PROTOCOL.md §6), within `handshake_timeout` of the TCP
//! connection: both sides send `Hello { chain_id, genesis_hash,
//! protocol_version, node_id, role, nonce: [u8; 32] fresh random,
//! listen_port: Option<u16> }`. Each checks the other's: same chain id, same
//! genesis hash, same version, not our own id, the configured id if the
//! address had one, and committee membership if the role is `Masternode`.
//! Then both send `Auth { signature }`: an ed25519 signature (checked with
//! the protocol's ZIP-215 rule) over the transcript
//!
//! ```text
//! "timecoin/handshake" 0x00 ‖ chain_id (u32 LE) ‖ genesis_hash (32)
//!   ‖ protocol_version (u32 LE)
//!   ‖ dialer id (32) ‖ dialer role (1) ‖ dialer nonce (32) ‖ dialer listen port (u16 LE)
//!   ‖ listener id (32) ‖ listener role (1) ‖ listener nonce (32) ‖ listener listen port (u16 LE)
//! ```
//!
//! with roles as `0` masternode, `1` observer, and a listen port of `0` for
//! none (the port is signed: a relay cannot change where peers dial). Both fresh nonces are signed,
//! so an `Auth` recorded in one session fails in any other. Each refusal is
//! logged (warn, with the peer's address and the reason) and counted in
//! [`NetStats`] (`handshake_bad_chain`, `handshake_bad_genesis`,
//! `handshake_bad_version`, `handshake_bad_signature`, `handshake_timeout`,
//! `handshake_self_connection`, `handshake_unexpected_id`,
//! `handshake_not_member`, `handshake_weak_key`, `handshake_banned`, `handshake_observers_full`, `handshake_malformed`,
//! `handshake_io`). Observers may connect, but a consensus message
//! ([`WireMessage::is_consensus`]) from any peer that is not an
//! authenticated committee masternode is dropped, counted
//! (`consensus_from_non_member`) and raises its misbehaviour score.
//!
//! **One connection per pair**: when two authenticated connections exist
//! between the same two nodes, the one *dialled by the lower `NodeId`*
//! (comparing the 32 id bytes) is kept and the other is closed. Both ends
//! apply the same rule to the same facts, so they close the same connection.
//! (Two connections dialled by the same node: the newer is kept, since the
//! dialler has given up on the older.) Votes and proposals are still
//! verified by their own signatures, whichever connection brings them.
//!
//! # Protection
//!
//! Per peer: a bounded outbound queue drained by the peer's own writer task
//! (full: the message is dropped and counted, never waited for), token
//! buckets on inbound messages and bytes per second (excess dropped, counted,
//! and scored), a misbehaviour score (decaying; malformed frames cost more
//! than excess messages) that at `ban_score_threshold` disconnects and bans
//! the peer's id (and its IP unless loopback, see
//! [`NetLimits::ban_loopback_ips`]) for `ban_duration`. An observer's keys
//! cost nothing, so its score is kept per IP across connections and keys,
//! and its ban shuts out observers from that IP (loopback included; members
//! still authenticate by their keys); ping / pong with RTT,
//! and an idle timeout. Per endpoint: limits on connections in total and per
//! IP, checked at accept before the handshake. Nothing read from the network
//! can panic.
//!
//! # Code map
//!
//! | concept | module |
//! |---|---|
//! | config and limits | `config` |
//! | frame codec | [`frame`] |
//! | envelope, hello, auth, [`WireMessage`] | [`wire`] |
//! | handshake state machine and transcript | [`handshake`] |
//! | one connection's reader and writer | `connection` |
//! | per-peer state and [`PeerInfo`] | `peer` |
//! | the peer table and the tie-break | `registry` |
//! | dialling and redial backoff | `dialer`, `backoff` |
//! | accepting, connection limits | `listener`, `slots` |
//! | rate limits, scores and bans | `ratelimit`, `bans` |
//! | pending requests | `requests` |
//! | counters | `stats` |
//! | the application's handle and events | `handle` |
//! | the evil-peer test helper | `testing` (feature `test-util`) |

mod backoff;
mod bans;
mod config;
mod connection;
pub mod cpu;
mod dialer;
mod endpoint;
mod error;
pub mod frame;
mod handle;
pub mod handshake;
mod listener;
mod locks;
mod peer;
mod ratelimit;
mod registry;
mod requests;
mod slots;
mod stats;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod wire;

use std::sync::Arc;

use protocol::SecretKey;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::{NetConfig, NetLimits, PeerAddress, Role};
pub use error::{NetError, RequestError, SendError};
pub use handle::{NetEvent, NetEvents, NetHandle, Responder};
pub use peer::PeerInfo;
pub use stats::NetStats;
pub use wire::WireMessage;

use crate::dialer::Origin;
use crate::endpoint::{Endpoint, EndpointParts, Lane};
use crate::handle::LaneInbox;
use crate::handshake::{IdentityParams, LocalIdentity};

/// Binds the listener, starts dialling the configured peers and bootstrap
/// addresses, and returns the handle and the event receiver. Every task runs
/// until `shutdown` is cancelled.
pub async fn start<M: WireMessage>(
    config: NetConfig,
    key: SecretKey,
    shutdown: CancellationToken,
) -> Result<(NetHandle<M>, NetEvents<M>), NetError> {
    config.limits.validate()?;
    let bind_error = |source| NetError::Bind { addr: config.listen, source };
    let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    let identity = LocalIdentity::new(
        key,
        IdentityParams {
            chain_id: config.chain_id,
            genesis_hash: config.genesis_hash,
            protocol_version: config.protocol_version,
            role: config.role,
            committee: config.committee,
            listen_port: Some(local_addr.port()),
        },
    );
    let lane = || {
        let (sender, inbox) = mpsc::channel(config.limits.event_queue);
        let budget = Arc::new(Semaphore::new(config.limits.event_queue_bytes));
        (Lane { sender, budget: Arc::clone(&budget) }, LaneInbox { inbox, budget })
    };
    let (urgent, urgent_inbox) = lane();
    let (normal, normal_inbox) = lane();
    let endpoint = Arc::new(Endpoint::new(EndpointParts {
        identity,
        limits: config.limits,
        peer_exchange: config.peer_exchange,
        local_addr,
        urgent,
        normal,
        shutdown: shutdown.child_token(),
    }));
    tracing::info!(
        addr = %local_addr,
        id = %endpoint.local_id().short(),
        role = %endpoint.identity.role(),
        "network listening"
    );
    let span = tracing::info_span!("listen", addr = %local_addr);
    endpoint.spawn(listener::accept_loop(Arc::clone(&endpoint), listener).instrument(span));
    for peer in config.peers {
        dialer::dial(&endpoint, peer.address, peer.id, Origin::Configured);
    }
    for address in config.bootstrap {
        dialer::dial(&endpoint, address, None, Origin::Configured);
    }
    Ok((NetHandle { endpoint }, NetEvents { urgent: urgent_inbox, normal: normal_inbox }))
}
