//! A hostile observer: completes the P2P handshake with a fresh key, as
//! anyone can (no committee key), and sends each message the hostile-peer
//! review (issue [1/5]) found could halt or poison a network: reversed and
//! extreme seq ranges, unsolicited pruning claims, lying heights, requests
//! meant to cost the node, orphans nobody signed, batches nobody asked for.
//! Every message is well formed; only its fields are hostile.
//!
//! A node is expected to refuse, count (`timed_refused_messages_total`) and
//! at last ban it (its IP, for observers, so a new key does not help), and
//! to go on finalizing. [`attack`] reports what it sent and how often the
//! node shut the door.

use std::net::SocketAddr;
use std::time::Duration;

use consensus::{Message, Status};
use net::Role;
use net::testing::{EvilIdentity, EvilPeer};
use protocol::finality::VoteBatch;
use protocol::{
    Amount, BlockHash, Genesis, NodeId, OutPoint, SecretKey, Signature, Transaction, TxId, TxIn,
    TxOut,
};
use timed::node::Wire;

/// What one attack on one node did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttackReport {
    /// Messages written to the node.
    pub sent: usize,
    /// Connections or handshakes the node refused or closed (bans).
    pub shut_out: usize,
}

/// The groups of hostile messages, by the finding they replay.
fn hostile_groups(genesis: &Genesis, seed: u64) -> Vec<(&'static str, Vec<Message>)> {
    let members: Vec<NodeId> = genesis.committee.iter().map(|m| m.id).collect();
    let n = members.len();
    let txid = |k: u64| {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(seed ^ k).to_le_bytes());
        id[8] = 0xee;
        TxId(id)
    };
    let junk_key = SecretKey::from_seed([0x5a; 32]);
    let pending: Vec<TxId> = (0..4_096).map(txid).collect();
    let orphans = (0..1_000u64).map(|k| {
        Message::Tx(Transaction {
            version: 1,
            inputs: vec![TxIn {
                prev: OutPoint { txid: txid(1 << 20 | k), vout: 0 },
                pubkey: junk_key.public(),
                signature: Signature([7; 64]),
            }],
            outputs: vec![TxOut {
                value: Amount::from_sat(100_000),
                address: protocol::AddressPayload::from_public_key(&junk_key.public()),
            }],
            lock_time: 0,
            timestamp: 0,
        })
    });
    let junk_batches = |voter: NodeId| {
        (1..=256u64)
            .map(|seq| VoteBatch {
                voter,
                seq,
                txids: vec![txid(seq)],
                signature: Signature([9; 64]),
            })
            .collect::<Vec<_>>()
    };
    vec![
        (
            "finding 2: reversed and extreme seq ranges",
            vec![
                Message::GetVoteBatches { voter: members[0], from: 2, to: 1 },
                Message::GetVoteBatches { voter: members[n - 1], from: u64::MAX, to: 0 },
                Message::GetVoteBatches { voter: members[0], from: 1, to: u64::MAX },
            ],
        ),
        (
            "finding 3: unsolicited pruning claims for every voter",
            members
                .iter()
                .map(|voter| Message::VoteBatches {
                    voter: *voter,
                    batches: Vec::new(),
                    pruned_below: u64::MAX,
                })
                .collect(),
        ),
        (
            "finding 4: a height nobody reached",
            vec![Message::Status(Status {
                height: u64::MAX,
                tip: BlockHash([0; 32]),
                tip_certificate: None,
                vote_seqs: vec![u64::MAX; n],
                pending: Vec::new(),
            })],
        ),
        (
            "finding 7: requests for everything",
            vec![
                Message::GetBlocks { from: 1 },
                Message::GetBlocks { from: 0 },
                Message::GetFinal,
                Message::GetFinal,
                Message::GetTxs(pending.clone()),
            ],
        ),
        (
            "finding 8: pending digests, orphans and batches nobody asked for",
            std::iter::once(Message::Status(Status {
                height: 0,
                tip: BlockHash([0; 32]),
                tip_certificate: None,
                vote_seqs: vec![0; n],
                pending,
            }))
            .chain(orphans)
            .chain(members.iter().map(|voter| Message::VoteBatches {
                voter: *voter,
                batches: junk_batches(*voter),
                pruned_below: 0,
            }))
            .collect(),
        ),
    ]
}

/// Attacks the node whose P2P listener is `p2p` on the chain `genesis`
/// defines: one fresh observer key per group of messages. `seed` varies the
/// invented txids.
pub async fn attack(p2p: SocketAddr, genesis: &Genesis, seed: u64) -> AttackReport {
    let mut report = AttackReport::default();
    for (k, (_finding, messages)) in hostile_groups(genesis, seed).into_iter().enumerate() {
        let mut key_seed = [0u8; 32];
        key_seed[..8].copy_from_slice(&seed.to_le_bytes());
        key_seed[8] = k as u8;
        let identity = EvilIdentity {
            role: Role::Observer,
            ..EvilIdentity::new(SecretKey::from_seed(key_seed), genesis.chain_id, genesis.hash())
        };
        let peer = EvilPeer::<Wire>::handshake(p2p, &identity, Duration::from_secs(5)).await;
        let Ok(mut peer) = peer else {
            report.shut_out += 1;
            continue;
        };
        for message in messages {
            if peer.send_app(Wire(message)).await.is_err() {
                report.shut_out += 1;
                break;
            }
            report.sent += 1;
        }
    }
    report
}
