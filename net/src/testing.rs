//! An "evil peer" for tests: it completes a real handshake (with its own key,
//! claiming any chain, genesis, version, role or id it is told to) and then
//! sends whatever it is told: raw bytes, frames with any length prefix, or
//! valid envelopes at any rate. It reads only when asked, so it also plays a
//! peer that stopped reading. Reliability tests in other crates reuse it
//! (feature `test-util`).

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use protocol::{ChainId, Hash256, NodeId, PROTOCOL_VERSION, SecretKey, Signature};
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::FramedRead;

use crate::config::Role;
use crate::frame::{FrameCodec, FrameError, raw_frame};
use crate::handshake::transcript;
use crate::wire::{
    Auth, DecodeError, Envelope, Hello, WireMessage, decode_payload, encode_payload,
};

/// Largest frame the evil peer reads.
const EVIL_MAX_FRAME: usize = 256 * 1024 * 1024;

/// What the evil peer claims in its handshake.
#[derive(Debug)]
pub struct EvilIdentity {
    /// The key it signs with.
    pub key: SecretKey,
    /// The id it claims; `None` means its key's (honest).
    pub claimed_id: Option<NodeId>,
    /// The chain it claims.
    pub chain_id: ChainId,
    /// The genesis it claims.
    pub genesis_hash: Hash256,
    /// The version it claims.
    pub protocol_version: u32,
    /// The role it claims.
    pub role: Role,
    /// A fixed nonce instead of a fresh one.
    pub nonce: Option<[u8; 32]>,
    /// Flip a bit of its signature.
    pub corrupt_signature: bool,
}

impl EvilIdentity {
    /// An honest-looking masternode identity on `chain_id` / `genesis_hash`
    /// with the current protocol version.
    pub fn new(key: SecretKey, chain_id: ChainId, genesis_hash: Hash256) -> Self {
        EvilIdentity {
            key,
            claimed_id: None,
            chain_id,
            genesis_hash,
            protocol_version: PROTOCOL_VERSION,
            role: Role::Masternode,
            nonce: None,
            corrupt_signature: false,
        }
    }

    /// The id it claims.
    pub fn id(&self) -> NodeId {
        self.claimed_id.unwrap_or_else(|| NodeId::from(self.key.public()))
    }

    /// The hello it sends.
    pub fn hello(&self) -> Hello {
        Hello {
            chain_id: self.chain_id,
            genesis_hash: self.genesis_hash,
            protocol_version: self.protocol_version,
            node_id: self.id(),
            role: self.role,
            nonce: self.nonce.unwrap_or_else(rand::random),
            listen_port: None,
        }
    }
}

/// What went wrong for the evil peer.
#[derive(Debug, Error)]
pub enum EvilError {
    /// A socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A framing error.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// An undecodable payload from the node.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// The node closed the connection.
    #[error("connection closed")]
    Closed,
    /// Nothing arrived in time.
    #[error("timed out")]
    Timeout,
    /// Something other than what the step expected.
    #[error("unexpected: {0}")]
    Unexpected(String),
}

/// A peer that does as it is told.
#[derive(Debug)]
pub struct EvilPeer<M> {
    reader: FramedRead<OwnedReadHalf, FrameCodec>,
    writer: OwnedWriteHalf,
    sent_hello: Option<Hello>,
    sent_auth: Option<Auth>,
    received_hello: Option<Hello>,
    _message: PhantomData<fn() -> M>,
}

impl<M: WireMessage> EvilPeer<M> {
    /// A raw TCP connection, no handshake.
    pub async fn connect(addr: SocketAddr) -> Result<Self, EvilError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read_half, writer) = stream.into_split();
        Ok(EvilPeer {
            reader: FramedRead::new(read_half, FrameCodec::new(EVIL_MAX_FRAME)),
            writer,
            sent_hello: None,
            sent_auth: None,
            received_hello: None,
            _message: PhantomData,
        })
    }

    /// Connects and completes a handshake as the dialer.
    pub async fn handshake(
        addr: SocketAddr,
        identity: &EvilIdentity,
        within: Duration,
    ) -> Result<Self, EvilError> {
        let mut peer = Self::connect(addr).await?;
        peer.perform_handshake(identity, within).await?;
        Ok(peer)
    }

    /// Runs the dialer's side of the handshake on this connection: sends its
    /// hello, reads the node's, sends its auth (signed or corrupted as the
    /// identity says), and reads the node's auth (not verified: an evil peer
    /// does not care).
    pub async fn perform_handshake(
        &mut self,
        identity: &EvilIdentity,
        within: Duration,
    ) -> Result<(), EvilError> {
        let hello = identity.hello();
        self.send_envelope(&Envelope::Hello(hello.clone())).await?;
        self.sent_hello = Some(hello.clone());
        let theirs = match self.recv(within).await? {
            Envelope::Hello(theirs) => theirs,
            other => {
                return Err(EvilError::Unexpected(format!("expected hello, got {}", other.kind())));
            }
        };
        self.received_hello = Some(theirs.clone());
        let signed = transcript(
            identity.chain_id,
            &identity.genesis_hash,
            identity.protocol_version,
            &hello,
            &theirs,
        );
        let mut signature = identity.key.sign(&signed);
        if identity.corrupt_signature {
            signature.0[0] ^= 1;
        }
        self.send_auth(signature).await?;
        match self.recv(within).await? {
            Envelope::Auth(_) => Ok(()),
            other => Err(EvilError::Unexpected(format!("expected auth, got {}", other.kind()))),
        }
    }

    /// Sends an `Auth` with exactly this signature (a replay, say).
    pub async fn send_auth(&mut self, signature: Signature) -> Result<(), EvilError> {
        let auth = Auth { signature };
        self.send_envelope(&Envelope::Auth(auth.clone())).await?;
        self.sent_auth = Some(auth);
        Ok(())
    }

    /// The hello it sent.
    pub fn sent_hello(&self) -> Option<&Hello> {
        self.sent_hello.as_ref()
    }

    /// The auth it sent.
    pub fn sent_auth(&self) -> Option<&Auth> {
        self.sent_auth.as_ref()
    }

    /// The node's hello.
    pub fn received_hello(&self) -> Option<&Hello> {
        self.received_hello.as_ref()
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), EvilError> {
        self.writer.write_all(bytes).await?;
        Ok(())
    }

    /// Writes a frame with a correct length prefix.
    pub async fn send_frame(&mut self, payload: &[u8]) -> Result<(), EvilError> {
        let len = u32::try_from(payload.len())
            .map_err(|_| EvilError::Unexpected("payload longer than u32".into()))?;
        self.send_raw(&raw_frame(len, payload)).await
    }

    /// Writes a valid envelope.
    pub async fn send_envelope(&mut self, envelope: &Envelope<M>) -> Result<(), EvilError> {
        let payload = encode_payload(envelope)
            .map_err(|e| EvilError::Unexpected(format!("cannot encode: {e}")))?;
        self.send_frame(&payload).await
    }

    /// Writes an application message.
    pub async fn send_app(&mut self, msg: M) -> Result<(), EvilError> {
        self.send_envelope(&Envelope::App(msg)).await
    }

    /// Writes `count` copies of `envelope` back to back, as fast as the
    /// socket takes them.
    pub async fn flood(&mut self, envelope: &Envelope<M>, count: usize) -> Result<(), EvilError> {
        let payload = encode_payload(envelope)
            .map_err(|e| EvilError::Unexpected(format!("cannot encode: {e}")))?;
        let len = u32::try_from(payload.len())
            .map_err(|_| EvilError::Unexpected("payload longer than u32".into()))?;
        let frame = raw_frame(len, &payload);
        let per_write = (64 * 1024 / frame.len()).max(1);
        let chunk: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * per_write).collect();
        let mut left = count;
        while left > 0 {
            let n = left.min(per_write);
            self.send_raw(&chunk[..n * frame.len()]).await?;
            left -= n;
        }
        Ok(())
    }

    /// The next envelope from the node.
    pub async fn recv(&mut self, within: Duration) -> Result<Envelope<M>, EvilError> {
        match tokio::time::timeout(within, self.reader.next()).await {
            Err(_) => Err(EvilError::Timeout),
            Ok(None) => Err(EvilError::Closed),
            Ok(Some(Err(e))) => Err(e.into()),
            Ok(Some(Ok(payload))) => Ok(decode_payload(&payload)?),
        }
    }

    /// The next application message, skipping pings, peer lists and the
    /// like (pings are not answered).
    pub async fn recv_app(&mut self, within: Duration) -> Result<M, EvilError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Envelope::App(msg) = self.recv(left).await? {
                return Ok(msg);
            }
        }
    }

    /// Reads and discards until the node closes the connection; true if it
    /// did within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.reader.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}
