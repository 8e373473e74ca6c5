//! What travels inside a frame: the wire-version byte and the postcard-encoded
//! [`Envelope`], generic over the application's message type.
//!
//! The layout is described in the crate documentation; the variant order of
//! [`Envelope`] is part of it (postcard writes the variant index), so new
//! variants go at the end.

use bytes::Bytes;
use protocol::{ChainId, Hash256, NodeId, Signature};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::Role;

/// The first byte of every frame's payload. A peer speaking another wire
/// version gets a decode error, not a misread message.
pub const WIRE_VERSION: u8 = 1;

/// An application message the network carries. The network never looks
/// inside except to ask [`WireMessage::is_consensus`] and
/// [`WireMessage::is_urgent`].
pub trait WireMessage:
    Serialize + DeserializeOwned + Clone + Send + Sync + std::fmt::Debug + 'static
{
    /// Consensus messages (votes, proposals) may only come from committee
    /// members; from an observer they are dropped and counted.
    fn is_consensus(&self) -> bool;

    /// Messages the application takes before every other waiting one (a
    /// lane of their own, with its own budget): under load they must not
    /// queue behind the bulk.
    fn is_urgent(&self) -> bool {
        false
    }
}

/// The first handshake message, sent by both sides at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's chain.
    pub chain_id: ChainId,
    /// The sender's genesis hash.
    pub genesis_hash: Hash256,
    /// The sender's protocol version.
    pub protocol_version: u32,
    /// The sender's id (its ed25519 public key), proven by its `Auth`.
    pub node_id: NodeId,
    /// What the sender claims to be.
    pub role: Role,
    /// Fresh random bytes; both nonces are signed, so no `Auth` can be
    /// replayed into another session.
    pub nonce: [u8; 32],
    /// The port the sender listens on, so the receiver can tell others where
    /// to dial it (peer exchange); `None` if it does not accept connections.
    pub listen_port: Option<u16>,
}

/// The second handshake message: the sender's signature over the transcript
/// (see [`crate::handshake::transcript`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// ed25519 signature, checked under the protocol's rule (ZIP-215).
    pub signature: Signature,
}

/// One peer address shared by peer exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPeer {
    /// The id the peer proved at its handshake with the sender.
    pub id: NodeId,
    /// `ip:port` where it listens.
    pub address: String,
}

/// Everything that can be in a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Envelope<M> {
    /// Handshake, first message.
    Hello(Hello),
    /// Handshake, second message.
    Auth(Auth),
    /// Liveness probe; answered with the same nonce.
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// Answer to a ping.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// Asks for [`Envelope::Peers`].
    GetPeers,
    /// Addresses of the sender's connected peers.
    Peers(Vec<KnownPeer>),
    /// An application message.
    App(M),
    /// An application request; the receiver answers with a response of the
    /// same id on the same connection.
    Request {
        /// Chosen by the requester, unique among its pending requests.
        id: u64,
        /// The request.
        body: M,
    },
    /// The answer to a request.
    Response {
        /// The request's id.
        id: u64,
        /// The answer.
        body: M,
    },
}

impl<M> Envelope<M> {
    /// A short name of the variant, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Envelope::Hello(_) => "hello",
            Envelope::Auth(_) => "auth",
            Envelope::Ping { .. } => "ping",
            Envelope::Pong { .. } => "pong",
            Envelope::GetPeers => "get-peers",
            Envelope::Peers(_) => "peers",
            Envelope::App(_) => "app",
            Envelope::Request { .. } => "request",
            Envelope::Response { .. } => "response",
        }
    }
}

/// A frame payload that is not a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// A frame of length zero.
    #[error("empty frame")]
    Empty,
    /// The first byte is not [`WIRE_VERSION`].
    #[error("unknown wire version {0}")]
    WireVersion(u8),
    /// postcard could not decode the envelope.
    #[error("malformed envelope: {0}")]
    Postcard(#[from] postcard::Error),
    /// Bytes left over after the envelope: encodings are exact.
    #[error("{0} trailing bytes after the envelope")]
    TrailingBytes(usize),
}

/// Encodes a frame payload: the wire version, then the envelope.
pub fn encode_payload<M: Serialize>(envelope: &Envelope<M>) -> Result<Bytes, postcard::Error> {
    let out = postcard::to_extend(envelope, vec![WIRE_VERSION])?;
    Ok(Bytes::from(out))
}

/// Decodes a frame payload written by [`encode_payload`]. Never panics, on
/// any input.
pub fn decode_payload<M: DeserializeOwned>(payload: &[u8]) -> Result<Envelope<M>, DecodeError> {
    let Some((&version, body)) = payload.split_first() else {
        return Err(DecodeError::Empty);
    };
    if version != WIRE_VERSION {
        return Err(DecodeError::WireVersion(version));
    }
    let (envelope, rest) = postcard::take_from_bytes::<Envelope<M>>(body)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Text(String),
    }

    #[test]
    fn payload_round_trips_and_starts_with_the_wire_version() {
        let envelope: Envelope<Msg> = Envelope::Request { id: 7, body: Msg::Text("hi".into()) };
        let payload = encode_payload(&envelope).unwrap();
        assert_eq!(payload[0], WIRE_VERSION);
        assert_eq!(decode_payload::<Msg>(&payload).unwrap(), envelope);
    }

    #[test]
    fn bad_payloads_are_errors() {
        assert_eq!(decode_payload::<Msg>(&[]), Err(DecodeError::Empty));
        assert_eq!(decode_payload::<Msg>(&[2, 4]), Err(DecodeError::WireVersion(2)));
        assert!(matches!(decode_payload::<Msg>(&[1, 200]), Err(DecodeError::Postcard(_))));
        let mut payload = encode_payload::<Msg>(&Envelope::GetPeers).unwrap().to_vec();
        payload.push(0);
        assert_eq!(decode_payload::<Msg>(&payload), Err(DecodeError::TrailingBytes(1)));
    }
}
