//! Fuzz-style property tests of everything that reads network bytes: the
//! frame decoder, the envelope decoder and the handshake state machine get
//! random and mutated input and must answer with a value or a clean error,
//! never a panic.
//!
//! The case count comes from `PROPTEST_CASES` (default 256), so a long run
//! is `PROPTEST_CASES=1000000 cargo test --release -p net --test fuzz_wire`.

mod common;

use bytes::BytesMut;
use common::{CHAIN, GENESIS, TestMsg, committee, key};
use net::Role;
use net::frame::{FrameCodec, raw_frame};
use net::handshake::{Handshake, IdentityParams, LocalIdentity, Side, Step, transcript};
use net::wire::{Auth, Envelope, KnownPeer, decode_payload, encode_payload};
use proptest::prelude::*;
use protocol::{NodeId, PROTOCOL_VERSION, Signature};
use tokio_util::codec::Decoder;

fn identity(seed: u8) -> LocalIdentity {
    LocalIdentity::new(
        key(seed),
        IdentityParams {
            chain_id: CHAIN,
            genesis_hash: GENESIS,
            protocol_version: PROTOCOL_VERSION,
            role: Role::Masternode,
            committee: committee(),
            listen_port: Some(24100),
        },
    )
}

/// Valid envelopes of every kind, as a starting point for mutations.
fn envelope() -> impl Strategy<Value = Envelope<TestMsg>> {
    let msg = prop_oneof![
        any::<String>().prop_map(TestMsg::Hello),
        any::<u64>().prop_map(TestMsg::Vote),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(TestMsg::Big),
    ];
    prop_oneof![
        any::<u64>().prop_map(|nonce| Envelope::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Envelope::Pong { nonce }),
        Just(Envelope::GetPeers),
        any::<[u8; 32]>().prop_map(|id| Envelope::Peers(vec![KnownPeer {
            id: NodeId(id),
            address: "127.0.0.1:1".into()
        }])),
        any::<[u8; 32]>().prop_map(|r| {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            Envelope::Auth(Auth { signature: Signature(sig) })
        }),
        msg.clone().prop_map(Envelope::App),
        (any::<u64>(), msg.clone()).prop_map(|(id, body)| Envelope::Request { id, body }),
        (any::<u64>(), msg).prop_map(|(id, body)| Envelope::Response { id, body }),
    ]
}

/// Byte edits: (position seed, new byte), plus a truncation and an extension.
type Mutation = (Vec<(usize, u8)>, Option<usize>, Vec<u8>);

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        proptest::option::of(any::<usize>()),
        proptest::collection::vec(any::<u8>(), 0..4),
    )
}

fn mutate(mut bytes: Vec<u8>, (edits, truncate, extend): &Mutation) -> Vec<u8> {
    if !bytes.is_empty() {
        for (at, byte) in edits {
            let at = at % bytes.len();
            bytes[at] = *byte;
        }
    }
    if let Some(cut) = truncate {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes.extend_from_slice(extend);
    bytes
}

/// Feeds `chunks` to a fresh decoder as they would arrive from a socket.
fn decode_stream(max: usize, chunks: &[Vec<u8>]) {
    let mut codec = FrameCodec::new(max);
    let mut buffer = BytesMut::new();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max);
                    // Whatever a frame holds, decoding it is an answer.
                    let _ = decode_payload::<TestMsg>(&frame);
                }
                Ok(None) => break,
                // The connection would close here.
                Err(_) => return,
            }
        }
    }
}

proptest! {
    #[test]
    fn frame_decoder_survives_random_bytes(
        max in 0usize..4096,
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..256), 0..8),
    ) {
        decode_stream(max, &chunks);
    }

    #[test]
    fn frame_decoder_survives_lying_length_prefixes(
        max in 1024usize..8192,
        announced in any::<u32>(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        split in any::<usize>(),
    ) {
        let bytes = raw_frame(announced, &body);
        let split = split % (bytes.len() + 1);
        decode_stream(max, &[bytes[..split].to_vec(), bytes[split..].to_vec()]);
    }

    #[test]
    fn envelope_decoder_survives_mutated_payloads(
        original in envelope(),
        mutation in mutation(),
    ) {
        let payload = encode_payload(&original).unwrap().to_vec();
        prop_assert_eq!(decode_payload::<TestMsg>(&payload).unwrap(), original);
        let _ = decode_payload::<TestMsg>(&mutate(payload, &mutation));
    }

    #[test]
    fn envelope_decoder_survives_random_payloads(
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = decode_payload::<TestMsg>(&payload);
    }

    #[test]
    fn handshake_survives_random_frames(
        listener in any::<bool>(),
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..256), 0..6),
    ) {
        let local = identity(1);
        let side = if listener { Side::Listener } else { Side::Dialer };
        let mut machine = Handshake::new(&local, side, None, [5; 32]);
        for frame in &frames {
            match machine.on_frame::<TestMsg>(frame) {
                Ok(Step::SendAuth(_)) => {}
                // Random bytes cannot sign the transcript.
                Ok(Step::Done(_)) => prop_assert!(false, "authenticated random bytes"),
                Err(_) => break,
            }
        }
    }

    #[test]
    fn handshake_survives_mutated_hello_and_auth(
        hello_mutation in mutation(),
        auth_mutation in mutation(),
        peer_nonce in any::<[u8; 32]>(),
    ) {
        let local = identity(1);
        let remote = identity(2);
        let mut machine = Handshake::new(&local, Side::Listener, None, [5; 32]);
        let peer = Handshake::new(&remote, Side::Dialer, None, peer_nonce);
        let hello = peer.hello().clone();
        let hello_frame = encode_payload(&Envelope::<TestMsg>::Hello(hello.clone())).unwrap();
        let mutated_hello = mutate(hello_frame.to_vec(), &hello_mutation);
        let Ok(Step::SendAuth(_)) = machine.on_frame::<TestMsg>(&mutated_hello) else {
            return Ok(());
        };
        // The hello survived mutation (or a harmless one): now a genuine
        // auth for the original transcript, mutated.
        let ours = machine.hello().clone();
        let signed = transcript(CHAIN, &GENESIS, PROTOCOL_VERSION, &hello, &ours);
        let auth = Auth { signature: key(2).sign(&signed) };
        let auth_frame =
            encode_payload(&Envelope::<TestMsg>::Auth(auth.clone())).unwrap().to_vec();
        let mutated_auth = mutate(auth_frame, &auth_mutation);
        // Unchanged in meaning: the bytes still decode to the very hello and
        // auth that were signed. Only then may the handshake complete.
        let same_hello =
            decode_payload::<TestMsg>(&mutated_hello).ok() == Some(Envelope::Hello(hello));
        let same_auth =
            decode_payload::<TestMsg>(&mutated_auth).ok() == Some(Envelope::Auth(auth));
        let result = machine.on_frame::<TestMsg>(&mutated_auth);
        if same_hello && same_auth {
            prop_assert!(matches!(result, Ok(Step::Done(_))), "{:?}", result);
        } else {
            prop_assert!(
                !matches!(result, Ok(Step::Done(_))),
                "a mutated hello or auth authenticated: {:?}",
                result
            );
        }
    }
}
