//! Counters of everything the network layer did or refused: cheap relaxed
//! atomics, monotonically increasing, read as one [`NetStats`] snapshot for
//! Prometheus, `getpeerinfo` and the tests.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::handshake::HandshakeError;

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// The live counters (atomics).
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        /// A snapshot of the counters. Every field only ever grows.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct NetStats {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Counters {
            /// Reads every counter.
            pub(crate) fn snapshot(&self) -> NetStats {
                NetStats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl NetStats {
            /// `(name, value)` of every counter, for metrics exporters.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    /// Inbound TCP connections admitted past the connection limits.
    connections_accepted,
    /// Outbound TCP connections established.
    connections_dialled,
    /// Inbound connections refused at accept: too many in total or from one IP.
    connections_rejected,
    /// Inbound connections refused at accept because the IP is banned.
    connections_rejected_banned,
    /// Outbound TCP connects that failed or timed out.
    dial_failures,
    /// Handshakes that authenticated the peer.
    handshakes_completed,
    /// Handshake failures: the peer is on another chain.
    handshake_bad_chain,
    /// Handshake failures: the peer has another genesis hash.
    handshake_bad_genesis,
    /// Handshake failures: the peer speaks another protocol version.
    handshake_bad_version,
    /// Handshake failures: the peer's signature does not verify (forged or replayed).
    handshake_bad_signature,
    /// Handshake failures: not finished within `handshake_timeout`.
    handshake_timeout,
    /// Handshake failures: we connected to ourselves.
    handshake_self_connection,
    /// Handshake failures: another id than configured for the address.
    handshake_unexpected_id,
    /// Handshake failures: the masternode role claimed by a non-member.
    handshake_not_member,
    /// Handshake failures: an id of small order (anyone can sign for it).
    handshake_weak_key,
    /// Handshake failures: the peer's id is banned (or, for an observer, its IP).
    handshake_banned,
    /// Handshake failures: an observer while observers hold half of
    /// `max_connections` (the rest is kept for members).
    handshake_observers_full,
    /// Authenticated connections closed because another connection to the
    /// same peer won the tie-break.
    handshake_duplicate,
    /// Handshake failures: undecodable frame or message out of order.
    handshake_malformed,
    /// Handshake failures: the connection closed or failed mid-handshake.
    handshake_io,
    /// Frames received (after the handshake, including dropped ones).
    frames_in,
    /// Frames sent.
    frames_out,
    /// Bytes received, length prefixes included.
    bytes_in,
    /// Bytes sent, length prefixes included.
    bytes_out,
    /// Frames announcing a length above `max_frame_bytes` (the connection is closed).
    oversized_frames,
    /// Frames whose payload is not a valid envelope.
    decode_errors,
    /// Valid envelopes that make no sense where they came (a hello after the handshake).
    unexpected_messages,
    /// Outbound messages dropped because the peer's queue was full.
    dropped_outbound,
    /// Inbound messages dropped by the per-peer rate limits.
    rate_limited,
    /// Consensus messages from peers that are not masternodes (dropped).
    consensus_from_non_member,
    /// Responses matching no pending request of that peer.
    unsolicited_responses,
    /// Requests that got no response in time.
    requests_timed_out,
    /// Connections closed because the peer sent nothing for `idle_timeout`.
    idle_timeouts,
    /// Peers banned for misbehaviour.
    bans,
    /// Authenticated connections that ended (for any reason).
    disconnects,
}

impl NetStats {
    /// All handshake failures together (closed duplicates excluded: they are
    /// the normal outcome of two nodes dialling each other at once).
    pub fn handshake_failures(&self) -> u64 {
        self.handshake_bad_chain
            + self.handshake_bad_genesis
            + self.handshake_bad_version
            + self.handshake_bad_signature
            + self.handshake_timeout
            + self.handshake_self_connection
            + self.handshake_unexpected_id
            + self.handshake_not_member
            + self.handshake_weak_key
            + self.handshake_banned
            + self.handshake_observers_full
            + self.handshake_malformed
            + self.handshake_io
    }
}

impl Counters {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a failed handshake under its reason.
    pub(crate) fn handshake_failed(&self, error: &HandshakeError) {
        let counter = match error {
            HandshakeError::WrongChain { .. } => &self.handshake_bad_chain,
            HandshakeError::WrongGenesis { .. } => &self.handshake_bad_genesis,
            HandshakeError::WrongVersion { .. } => &self.handshake_bad_version,
            HandshakeError::BadSignature { .. } => &self.handshake_bad_signature,
            HandshakeError::SelfConnection => &self.handshake_self_connection,
            HandshakeError::UnexpectedId { .. } => &self.handshake_unexpected_id,
            HandshakeError::NotMember { .. } => &self.handshake_not_member,
            HandshakeError::WeakKey { .. } => &self.handshake_weak_key,
            HandshakeError::Banned { .. } => &self.handshake_banned,
            HandshakeError::ObserversFull => &self.handshake_observers_full,
            HandshakeError::Malformed(_) | HandshakeError::Oversized { .. } => {
                &self.handshake_malformed
            }
            HandshakeError::Timeout => &self.handshake_timeout,
            HandshakeError::Io(_) => &self.handshake_io,
        };
        Counters::bump(counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_what_was_counted() {
        let counters = Counters::default();
        Counters::bump(&counters.frames_in);
        Counters::add(&counters.bytes_in, 10);
        counters.handshake_failed(&HandshakeError::Timeout);
        let stats = counters.snapshot();
        assert_eq!((stats.frames_in, stats.bytes_in, stats.handshake_timeout), (1, 10, 1));
        assert_eq!(stats.handshake_failures(), 1);
        assert!(stats.fields().contains(&("bytes_in", 10)));
    }
}
