//! The errors the network layer hands to its callers.

use std::net::SocketAddr;

use protocol::NodeId;
use thiserror::Error;

/// [`crate::start`] could not bring the endpoint up.
#[derive(Debug, Error)]
pub enum NetError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured listen address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A limit in [`crate::NetLimits`] is unusable.
    #[error("invalid network limit {0}")]
    InvalidLimit(String),
}

/// A message could not be queued for a peer. Nothing waits: the consensus
/// layer's anti-entropy recovers what was not sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// No authenticated connection to that peer.
    #[error("peer {0} is not connected")]
    NotConnected(NodeId),
    /// The peer's outbound queue is full (it reads too slowly); the message
    /// was dropped and counted.
    #[error("outbound queue of peer {0} is full; message dropped")]
    QueueFull(NodeId),
    /// The encoded message would exceed the maximum frame size, so the peer
    /// would refuse it.
    #[error("message of {len} bytes exceeds the frame limit of {max} bytes")]
    TooLarge {
        /// Encoded frame length.
        len: usize,
        /// The configured `max_frame_bytes`.
        max: usize,
    },
    /// The message could not be serialised (a type postcard cannot encode).
    #[error("cannot encode message: {0}")]
    Encode(String),
}

/// A request got no response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// The request could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// No response within the timeout.
    #[error("request timed out")]
    Timeout,
    /// The connection closed before a response came.
    #[error("peer disconnected before responding")]
    Disconnected,
}
