//! The authenticated handshake of PROTOCOL.md §6, as a state machine that
//! does no I/O (so it can be fuzzed frame by frame), plus the transcript both
//! sides sign.
//!
//! Both sides send [`Hello`] at once; each checks the other's (chain,
//! genesis, version, not itself, the expected id, committee membership for
//! the masternode role) and answers with [`Auth`], a signature over the
//! transcript that binds both ids, roles and fresh nonces. A recorded `Auth`
//! is therefore worthless in any other session.

use std::collections::HashSet;

use protocol::hash::Tag;
use protocol::{ChainId, Hash256, NodeId, SecretKey, keys};
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::config::Role;
use crate::wire::{Auth, DecodeError, Envelope, Hello, decode_payload};

/// Who we are, as the handshake needs it.
#[derive(Debug)]
pub struct LocalIdentity {
    key: SecretKey,
    id: NodeId,
    chain_id: ChainId,
    genesis_hash: Hash256,
    protocol_version: u32,
    role: Role,
    committee: HashSet<NodeId>,
    listen_port: Option<u16>,
}

/// The fields of a [`LocalIdentity`] other than the key.
#[derive(Debug, Clone)]
pub struct IdentityParams {
    /// Our chain.
    pub chain_id: ChainId,
    /// Our genesis hash.
    pub genesis_hash: Hash256,
    /// Our protocol version.
    pub protocol_version: u32,
    /// What we claim to be.
    pub role: Role,
    /// Who may claim [`Role::Masternode`].
    pub committee: Vec<NodeId>,
    /// Where we listen, announced in our `Hello`.
    pub listen_port: Option<u16>,
}

impl LocalIdentity {
    /// Our identity with `key`.
    pub fn new(key: SecretKey, params: IdentityParams) -> Self {
        LocalIdentity {
            id: NodeId::from(key.public()),
            key,
            chain_id: params.chain_id,
            genesis_hash: params.genesis_hash,
            protocol_version: params.protocol_version,
            role: params.role,
            committee: params.committee.into_iter().collect(),
            listen_port: params.listen_port,
        }
    }

    /// Our id (public key).
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether `id` is a committee member.
    pub fn is_member(&self, id: &NodeId) -> bool {
        self.committee.contains(id)
    }
}

/// Which end of the TCP connection we are; the dialer's fields come first in
/// the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// We connected.
    Dialer,
    /// We accepted.
    Listener,
}

/// The bytes both sides sign:
/// `"timecoin/handshake" 0x00 ‖ chain_id u32 LE ‖ genesis_hash (32) ‖
/// protocol_version u32 LE ‖ dialer id (32) ‖ dialer role (1) ‖ dialer nonce (32)
/// ‖ listener id (32) ‖ listener role (1) ‖ listener nonce (32)`,
/// roles as 0 = masternode, 1 = observer.
pub fn transcript(
    chain_id: ChainId,
    genesis_hash: &Hash256,
    protocol_version: u32,
    dialer: &Hello,
    listener: &Hello,
) -> Vec<u8> {
    let mut out = Tag::HANDSHAKE.prefix();
    out.extend_from_slice(&chain_id.0.to_le_bytes());
    out.extend_from_slice(genesis_hash.as_bytes());
    out.extend_from_slice(&protocol_version.to_le_bytes());
    for hello in [dialer, listener] {
        out.extend_from_slice(&hello.node_id.0);
        out.push(hello.role.transcript_byte());
        out.extend_from_slice(&hello.nonce);
        // Signed too: a relay must not redirect where peers dial it.
        out.extend_from_slice(&hello.listen_port.unwrap_or(0).to_le_bytes());
    }
    out
}

/// Why a handshake failed. Each variant has its own counter in
/// [`crate::NetStats`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// The peer is on another chain.
    #[error("peer is on chain {theirs}, we are on chain {ours}")]
    WrongChain {
        /// Our chain.
        ours: ChainId,
        /// Theirs.
        theirs: ChainId,
    },
    /// The peer has another genesis.
    #[error("peer has genesis {theirs}, ours is {ours}")]
    WrongGenesis {
        /// Our genesis hash.
        ours: Hash256,
        /// Theirs.
        theirs: Hash256,
    },
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {theirs}, we speak {ours}")]
    WrongVersion {
        /// Our version.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
    /// The peer's `Auth` does not verify over this session's transcript
    /// (forged, or replayed from another session).
    #[error("handshake signature of {peer} does not verify")]
    BadSignature {
        /// The id the peer claimed.
        peer: NodeId,
    },
    /// We connected to ourselves.
    #[error("connected to ourselves")]
    SelfConnection,
    /// The peer at a configured address has another id than configured.
    #[error("expected peer {expected} at this address, found {found}")]
    UnexpectedId {
        /// The configured id.
        expected: NodeId,
        /// The id the peer claimed.
        found: NodeId,
    },
    /// The peer's id is a point of small order: under the ZIP-215 rule
    /// anyone can sign for it, so it authenticates nobody.
    #[error("peer id {peer} is a small-order key, which anyone can sign for")]
    WeakKey {
        /// The id the peer claimed.
        peer: NodeId,
    },
    /// The peer claimed the masternode role without being in the committee.
    #[error("peer {peer} claims the masternode role but is not in the committee")]
    NotMember {
        /// The id the peer claimed.
        peer: NodeId,
    },
    /// The peer is banned.
    #[error("peer {peer} is banned")]
    Banned {
        /// The banned id.
        peer: NodeId,
    },
    /// An observer, and observers already hold their share of connections.
    #[error("too many observers connected; try later")]
    ObserversFull,
    /// An undecodable frame or a message out of order.
    #[error("malformed handshake: {0}")]
    Malformed(String),
    /// An announced frame length above the limit.
    #[error("oversized frame of {len} bytes during the handshake")]
    Oversized {
        /// The announced length.
        len: usize,
    },
    /// The handshake did not finish within `handshake_timeout`.
    #[error("handshake timed out")]
    Timeout,
    /// The connection closed or failed during the handshake.
    #[error("connection lost during the handshake: {0}")]
    Io(String),
}

impl From<DecodeError> for HandshakeError {
    fn from(e: DecodeError) -> Self {
        HandshakeError::Malformed(e.to_string())
    }
}

/// The outcome of a completed handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The peer's proven id.
    pub peer: NodeId,
    /// The role it claimed (membership checked for masternodes).
    pub role: Role,
    /// The port it listens on, if it said.
    pub listen_port: Option<u16>,
}

/// What to do after a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this `Auth` and wait for the peer's.
    SendAuth(Auth),
    /// The peer is authenticated.
    Done(Authenticated),
}

#[derive(Debug)]
enum State {
    AwaitHello,
    AwaitAuth { theirs: Hello, transcript: Vec<u8> },
    Finished,
}

/// One handshake in progress.
#[derive(Debug)]
pub struct Handshake<'a> {
    local: &'a LocalIdentity,
    side: Side,
    expected_peer: Option<NodeId>,
    ours: Hello,
    state: State,
}

impl<'a> Handshake<'a> {
    /// Starts a handshake; `nonce` must be fresh random bytes.
    /// `expected_peer` is the id configured for the dialled address.
    pub fn new(
        local: &'a LocalIdentity,
        side: Side,
        expected_peer: Option<NodeId>,
        nonce: [u8; 32],
    ) -> Self {
        let ours = Hello {
            chain_id: local.chain_id,
            genesis_hash: local.genesis_hash,
            protocol_version: local.protocol_version,
            node_id: local.id,
            role: local.role,
            nonce,
            listen_port: local.listen_port,
        };
        Handshake { local, side, expected_peer, ours, state: State::AwaitHello }
    }

    /// Our `Hello`, to send first.
    pub fn hello(&self) -> &Hello {
        &self.ours
    }

    /// The peer's `Hello`, once it arrived and passed the checks (its id is
    /// proven only when the handshake is done).
    pub fn peer_hello(&self) -> Option<&Hello> {
        match &self.state {
            State::AwaitAuth { theirs, .. } => Some(theirs),
            State::AwaitHello | State::Finished => None,
        }
    }

    /// Feeds one received frame payload. Any error ends the handshake; a
    /// frame after the end is an error too. Never panics, on any input.
    pub fn on_frame<M: DeserializeOwned>(
        &mut self,
        payload: &[u8],
    ) -> Result<Step, HandshakeError> {
        let envelope = decode_payload::<M>(payload);
        // Whatever happens, a failed step leaves the machine finished.
        let state = std::mem::replace(&mut self.state, State::Finished);
        match (state, envelope?) {
            (State::AwaitHello, Envelope::Hello(theirs)) => {
                self.check_hello(&theirs)?;
                let (dialer, listener) = match self.side {
                    Side::Dialer => (&self.ours, &theirs),
                    Side::Listener => (&theirs, &self.ours),
                };
                let transcript = transcript(
                    self.local.chain_id,
                    &self.local.genesis_hash,
                    self.local.protocol_version,
                    dialer,
                    listener,
                );
                let signature = self.local.key.sign(&transcript);
                self.state = State::AwaitAuth { theirs, transcript };
                Ok(Step::SendAuth(Auth { signature }))
            }
            (State::AwaitAuth { theirs, transcript }, Envelope::Auth(auth)) => {
                keys::verify(&theirs.node_id.public_key(), &transcript, &auth.signature)
                    .map_err(|_| HandshakeError::BadSignature { peer: theirs.node_id })?;
                Ok(Step::Done(Authenticated {
                    peer: theirs.node_id,
                    role: theirs.role,
                    listen_port: theirs.listen_port,
                }))
            }
            (State::AwaitHello, other) => {
                Err(HandshakeError::Malformed(format!("expected hello, got {}", other.kind())))
            }
            (State::AwaitAuth { .. }, other) => {
                Err(HandshakeError::Malformed(format!("expected auth, got {}", other.kind())))
            }
            (State::Finished, other) => Err(HandshakeError::Malformed(format!(
                "{} after the handshake ended",
                other.kind()
            ))),
        }
    }

    fn check_hello(&self, theirs: &Hello) -> Result<(), HandshakeError> {
        let local = self.local;
        if theirs.chain_id != local.chain_id {
            return Err(HandshakeError::WrongChain {
                ours: local.chain_id,
                theirs: theirs.chain_id,
            });
        }
        if theirs.genesis_hash != local.genesis_hash {
            return Err(HandshakeError::WrongGenesis {
                ours: local.genesis_hash,
                theirs: theirs.genesis_hash,
            });
        }
        if theirs.protocol_version != local.protocol_version {
            return Err(HandshakeError::WrongVersion {
                ours: local.protocol_version,
                theirs: theirs.protocol_version,
            });
        }
        if theirs.node_id == local.id {
            return Err(HandshakeError::SelfConnection);
        }
        if protocol::PublicKey(theirs.node_id.0).is_small_order() {
            return Err(HandshakeError::WeakKey { peer: theirs.node_id });
        }
        if let Some(expected) = self.expected_peer
            && expected != theirs.node_id
        {
            return Err(HandshakeError::UnexpectedId { expected, found: theirs.node_id });
        }
        if theirs.role == Role::Masternode && !local.is_member(&theirs.node_id) {
            return Err(HandshakeError::NotMember { peer: theirs.node_id });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::encode_payload;

    fn identity(seed: u8, role: Role, committee: Vec<NodeId>) -> LocalIdentity {
        LocalIdentity::new(
            SecretKey::from_seed([seed; 32]),
            IdentityParams {
                chain_id: ChainId(9),
                genesis_hash: Hash256([3; 32]),
                protocol_version: 1,
                role,
                committee,
                listen_port: None,
            },
        )
    }

    fn frame(envelope: Envelope<()>) -> Vec<u8> {
        encode_payload(&envelope).unwrap().to_vec()
    }

    fn id(seed: u8) -> NodeId {
        NodeId::from(SecretKey::from_seed([seed; 32]).public())
    }

    #[test]
    fn two_machines_authenticate_each_other() {
        let committee = vec![id(1), id(2)];
        let a = identity(1, Role::Masternode, committee.clone());
        let b = identity(2, Role::Masternode, committee);
        let mut dialer = Handshake::new(&a, Side::Dialer, Some(b.id()), [10; 32]);
        let mut listener = Handshake::new(&b, Side::Listener, None, [20; 32]);
        let Step::SendAuth(auth_a) =
            dialer.on_frame::<()>(&frame(Envelope::Hello(listener.hello().clone()))).unwrap()
        else {
            panic!("expected auth")
        };
        let Step::SendAuth(auth_b) =
            listener.on_frame::<()>(&frame(Envelope::Hello(dialer.hello().clone()))).unwrap()
        else {
            panic!("expected auth")
        };
        let done_a = dialer.on_frame::<()>(&frame(Envelope::Auth(auth_b))).unwrap();
        let done_b = listener.on_frame::<()>(&frame(Envelope::Auth(auth_a))).unwrap();
        assert!(matches!(done_a, Step::Done(Authenticated { peer, .. }) if peer == b.id()));
        assert!(matches!(done_b, Step::Done(Authenticated { peer, .. }) if peer == a.id()));
        assert!(dialer.on_frame::<()>(&frame(Envelope::GetPeers)).is_err());
    }

    #[test]
    fn a_relayed_hello_with_another_listen_port_fails_the_signature() {
        // A man in the middle rewrites the dialer's listen port (where
        // peers would dial it) but cannot re-sign: the listener refuses.
        let committee = vec![id(1), id(2)];
        let a = identity(1, Role::Masternode, committee.clone());
        let b = identity(2, Role::Masternode, committee);
        let mut dialer = Handshake::new(&a, Side::Dialer, Some(b.id()), [10; 32]);
        let mut listener = Handshake::new(&b, Side::Listener, None, [20; 32]);
        let Step::SendAuth(auth_a) =
            dialer.on_frame::<()>(&frame(Envelope::Hello(listener.hello().clone()))).unwrap()
        else {
            panic!("expected auth")
        };
        let mut rewritten = dialer.hello().clone();
        rewritten.listen_port = Some(6666);
        let Step::SendAuth(_) =
            listener.on_frame::<()>(&frame(Envelope::Hello(rewritten))).unwrap()
        else {
            panic!("expected auth")
        };
        assert_eq!(
            listener.on_frame::<()>(&frame(Envelope::Auth(auth_a))),
            Err(HandshakeError::BadSignature { peer: a.id() })
        );
    }

    #[test]
    fn hello_checks_name_the_reason() {
        let a = identity(1, Role::Masternode, vec![id(1)]);
        let outsider = identity(2, Role::Masternode, vec![]);
        let mut hs = Handshake::new(&a, Side::Listener, None, [0; 32]);
        let mut hello = Handshake::new(&outsider, Side::Dialer, None, [1; 32]).hello().clone();
        assert_eq!(
            hs.on_frame::<()>(&frame(Envelope::Hello(hello.clone()))),
            Err(HandshakeError::NotMember { peer: outsider.id() })
        );
        hello.protocol_version = 2;
        let mut hs = Handshake::new(&a, Side::Listener, None, [0; 32]);
        assert!(matches!(
            hs.on_frame::<()>(&frame(Envelope::Hello(hello))),
            Err(HandshakeError::WrongVersion { ours: 1, theirs: 2 })
        ));
        let mut hs = Handshake::new(&a, Side::Listener, None, [0; 32]);
        let own = hs.hello().clone();
        assert_eq!(
            hs.on_frame::<()>(&frame(Envelope::Hello(own))),
            Err(HandshakeError::SelfConnection)
        );
        // The identity point (encoded as 1 ‖ 0…) is of small order: under
        // ZIP-215 anyone can sign for it.
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        let observer = identity(3, Role::Observer, vec![]);
        let mut weak = Handshake::new(&observer, Side::Dialer, None, [2; 32]).hello().clone();
        weak.node_id = NodeId(identity_point);
        let mut hs = Handshake::new(&a, Side::Listener, None, [0; 32]);
        assert_eq!(
            hs.on_frame::<()>(&frame(Envelope::Hello(weak))),
            Err(HandshakeError::WeakKey { peer: NodeId(identity_point) })
        );
    }
}
