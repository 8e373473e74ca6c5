//! Framing: a u32 little-endian length, then that many bytes.
//!
//! The announced length is checked against the limit as soon as its four
//! bytes are in, before anything is reserved for the body, and the buffer
//! then grows only with bytes actually received. So a peer that announces
//! 4 GiB costs nothing, and one that sends a large frame slowly costs what
//! it sent.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// A framing failure. After one, the stream is out of sync and is closed.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The announced length exceeds the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversized {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Encoder and decoder of frames, one per connection.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_bytes: usize,
}

impl FrameCodec {
    /// A codec refusing frames longer than `max_frame_bytes` (both ways: an
    /// oversized outgoing frame is an error too, rather than a frame the peer
    /// would refuse).
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameCodec { max_frame_bytes }
    }

    /// The limit.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let Some(prefix) = src.first_chunk::<LENGTH_PREFIX_BYTES>() else {
            return Ok(None);
        };
        // u32 always fits usize on the platforms tokio supports (32/64-bit).
        let len = u32::from_le_bytes(*prefix) as usize;
        if len > self.max_frame_bytes {
            return Err(FrameError::Oversized { len, max: self.max_frame_bytes });
        }
        if src.len() - LENGTH_PREFIX_BYTES < len {
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX_BYTES);
        Ok(Some(src.split_to(len)))
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = payload.len();
        let prefix = match u32::try_from(len) {
            Ok(prefix) if len <= self.max_frame_bytes => prefix,
            _ => return Err(FrameError::Oversized { len, max: self.max_frame_bytes }),
        };
        dst.reserve(LENGTH_PREFIX_BYTES + len);
        dst.put_u32_le(prefix);
        dst.extend_from_slice(&payload);
        Ok(())
    }
}

/// The bytes of one frame with an arbitrary announced length (for tests and
/// the evil peer, which lie about lengths on purpose).
pub fn raw_frame(announced_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LENGTH_PREFIX_BYTES + payload.len());
    out.extend_from_slice(&announced_len.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_split_input_and_back_to_back_frames() {
        let mut codec = FrameCodec::new(1024);
        let mut buf = BytesMut::new();
        codec.encode(Bytes::from_static(b"abc"), &mut buf).unwrap();
        codec.encode(Bytes::from_static(b""), &mut buf).unwrap();
        let all = buf.split();
        let mut src = BytesMut::new();
        src.extend_from_slice(&all[..5]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        src.extend_from_slice(&all[5..]);
        assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"abc");
        assert_eq!(&codec.decode(&mut src).unwrap().unwrap()[..], b"");
        assert!(codec.decode(&mut src).unwrap().is_none());
    }

    #[test]
    fn oversized_length_fails_before_the_body_arrives() {
        let mut codec = FrameCodec::new(1024);
        let mut src = BytesMut::from(&raw_frame(u32::MAX, &[])[..]);
        assert!(
            matches!(codec.decode(&mut src), Err(FrameError::Oversized { len, .. }) if len == u32::MAX as usize)
        );
        assert!(src.capacity() < 1024, "nothing reserved for the body");
        let mut at_limit = BytesMut::from(&raw_frame(1024, &[0; 1024])[..]);
        assert_eq!(codec.decode(&mut at_limit).unwrap().unwrap().len(), 1024);
        let mut over = BytesMut::from(&raw_frame(1025, &[])[..]);
        assert!(matches!(codec.decode(&mut over), Err(FrameError::Oversized { len: 1025, .. })));
    }

    #[test]
    fn oversized_outgoing_frame_is_refused() {
        let mut codec = FrameCodec::new(1024);
        let mut dst = BytesMut::new();
        assert!(codec.encode(Bytes::from(vec![0; 1025]), &mut dst).is_err());
        assert!(dst.is_empty());
    }
}
