//! An observer may ask, never tell: each finding of the hostile-peer review
//! (issue [1/5]) replayed on the simulator, one test each. The hostile sender
//! is an observer (an id outside the committee) unless the name says
//! otherwise; every run also checks the simulator's safety invariants after
//! every step.

use consensus::ledger::BlockError;
use consensus::message::Message;
use consensus::sim::{Sim, SimConfig};
use consensus::{Status, TxState};
use protocol::finality::VoteBatch;
use protocol::keys::VerifyStrategy;
use protocol::validate::SigVerifier;
use protocol::{BlockHash, ChainId, NodeId, OutPoint, SecretKey, Transaction, TxId, TxOut};

/// The simulator's chain.
const CHAIN: ChainId = ChainId(0x51);

fn observer() -> NodeId {
    NodeId::from(SecretKey::from_seed([0xee; 32]).public())
}

fn all_final(sim: &Sim, nodes: &[usize], txid: &TxId) -> bool {
    nodes.iter().all(|i| sim.is_final(*i, txid))
}

fn committed_everywhere(sim: &Sim, nodes: &[usize], txid: &TxId) -> bool {
    nodes.iter().all(|i| sim.state(*i, txid) == Some(TxState::Committed))
}

/// Two coins of different owners (six coins per client key, in genesis order).
fn two_keys(coins: &[(OutPoint, TxOut)], k: usize) -> [(OutPoint, TxOut); 2] {
    [coins[k], coins[6 + k]]
}

const ALL4: [usize; 4] = [0, 1, 2, 3];

#[test]
fn n4_replayed_certificate_of_a_committed_tx_after_restart_revives_nothing() {
    let mut sim = Sim::new(SimConfig::quiet(4, 21));
    sim.run_until(500).unwrap();
    let c = sim.client_coins();
    // A pays client 1; B spends A's output; both committed.
    let a = sim.build_tx(&two_keys(&c, 0), 1, 900_000);
    let ta = sim.submit(0, a.clone());
    assert!(sim.run_until_condition(5_000, |s| committed_everywhere(s, &ALL4, &ta)).unwrap());
    let certificate = sim.certificate(&ta).expect("an honest node persisted A's certificate");
    let spent = (OutPoint { txid: ta, vout: 0 }, a.outputs[0]);
    let b = sim.build_tx(&[spent], 2, 400_000);
    let tb = sim.submit(1, b);
    assert!(sim.run_until_condition(8_000, |s| committed_everywhere(s, &ALL4, &tb)).unwrap());
    // More blocks, then every node restarts from its store.
    let later = sim.height(0) + 3;
    assert!(
        sim.run_until_condition(12_000, |s| ALL4.iter().all(|i| s.height(*i) >= later)).unwrap()
    );
    for i in ALL4 {
        sim.crash(i);
    }
    for i in ALL4 {
        sim.restart(i);
    }
    let now = sim.now();
    sim.run_until(now + 500).unwrap();
    // The observer replays A with its genuine certificate, then a second
    // spend of A's (already spent) output arrives.
    for i in ALL4 {
        sim.inject(i, observer(), Message::Txs(vec![(a.clone(), Some(certificate.clone()))]));
    }
    let again = sim.build_tx(&[spent], 3, 300_000);
    let tagain = sim.submit(2, again);
    let now = sim.now();
    sim.run_until(now + 3_000).unwrap();
    for i in ALL4 {
        assert!(!sim.is_final(i, &tagain), "a committed output was spent again at node {i}");
        assert_eq!(sim.state(i, &ta), Some(TxState::Committed), "A stays committed at node {i}");
    }
}

#[test]
fn n4_get_vote_batches_with_a_reversed_range_is_harmless() {
    let mut sim = Sim::new(SimConfig::quiet(4, 22));
    sim.run_until(500).unwrap();
    let c = sim.client_coins();
    // Some batches to range over (an empty map never compares the bounds).
    let first = sim.build_tx(&two_keys(&c, 0), 1, 800_000);
    let t = sim.submit(1, first);
    assert!(sim.run_until_condition(3_000, |s| all_final(s, &ALL4, &t)).unwrap());
    let voter = sim.node_id(1);
    for i in ALL4 {
        sim.inject(i, observer(), Message::GetVoteBatches { voter, from: 2, to: 1 });
        sim.inject(i, observer(), Message::GetVoteBatches { voter, from: u64::MAX, to: 0 });
        sim.inject(i, observer(), Message::GetVoteBatches { voter, from: 0, to: u64::MAX });
    }
    let tx = sim.build_tx(&two_keys(&c, 1), 2, 800_000);
    let t = sim.submit(0, tx);
    assert!(sim.run_until_condition(3_000, |s| all_final(s, &ALL4, &t)).unwrap());
}

#[test]
fn n4_unsolicited_pruning_claims_silence_no_voter() {
    let mut sim = Sim::new(SimConfig::quiet(4, 23));
    sim.run_until(500).unwrap();
    // "I pruned every batch of X" for every voter X, to every node: before
    // the fix each node then dropped every other voter's batches.
    for i in ALL4 {
        for x in ALL4 {
            let voter = sim.node_id(x);
            sim.inject(
                i,
                observer(),
                Message::VoteBatches { voter, batches: Vec::new(), pruned_below: u64::MAX },
            );
        }
    }
    let c = sim.client_coins();
    let tx = sim.build_tx(&two_keys(&c, 2), 3, 800_000);
    let t = sim.submit(1, tx);
    assert!(sim.run_until_condition(3_000, |s| all_final(s, &ALL4, &t)).unwrap());
}

#[test]
fn n4_a_lying_status_height_does_not_keep_a_node_syncing() {
    let mut sim = Sim::new(SimConfig::quiet(4, 24));
    sim.run_until(500).unwrap();
    let lie = |_sim: &Sim| {
        Message::Status(Status {
            height: u64::MAX,
            tip: BlockHash([0; 32]),
            tip_certificate: None,
            vote_seqs: vec![0; 4],
            pending: Vec::new(),
        })
    };
    // The liar stays connected and repeats itself.
    for _ in 0..5 {
        let message = lie(&sim);
        sim.inject(0, observer(), message);
        let now = sim.now();
        sim.run_until(now + 100).unwrap();
    }
    assert!(!sim.core(0).unwrap().info().syncing, "node 0 believed the claim");
    let c = sim.client_coins();
    let tx = sim.build_tx(&two_keys(&c, 3), 0, 800_000);
    let t = sim.submit(0, tx);
    let mut done = false;
    for _ in 0..30 {
        let message = lie(&sim);
        sim.inject(0, observer(), message);
        let now = sim.now();
        sim.run_until(now + 100).unwrap();
        if all_final(&sim, &ALL4, &t) {
            done = true;
            break;
        }
    }
    assert!(done, "a client transaction at node 0 finalizes while the liar talks");
}

#[test]
fn n4_a_split_double_spend_leaves_every_mempool() {
    let mut sim = Sim::new(SimConfig::quiet(4, 25));
    sim.run_until(500).unwrap();
    let c = sim.client_coins();
    // One coin spent twice, each spend reaching two nodes first: a 2-2
    // split, and with q = 3 neither can ever be final.
    sim.partition(&[&[0, 1], &[2, 3]]);
    let a = sim.build_tx(&[c[5]], 1, 500_000);
    let b = sim.build_tx(&[c[5]], 2, 400_000);
    let (ta, tb) = (sim.submit(0, a), sim.submit(2, b));
    sim.run_until(1_000).unwrap();
    sim.heal();
    let drained = sim
        .run_until_condition(5_000, |s| {
            ALL4.iter().all(|i| s.core(*i).is_some_and(|c| c.mempool_info().pending == 0))
        })
        .unwrap();
    assert!(
        drained,
        "the conflicted pair still holds mempool slots: a [{}] b [{}] pending {:?}",
        sim.describe(&ta),
        sim.describe(&tb),
        ALL4.map(|i| sim.core(i).unwrap().mempool_info())
    );
    for i in ALL4 {
        assert_eq!(sim.state(i, &ta), Some(TxState::Conflicted), "node {i}");
        assert_eq!(sim.state(i, &tb), Some(TxState::Conflicted), "node {i}");
    }
    // The coin stays frozen: a third spend is refused where a side was voted.
    let third = sim.build_tx(&[c[5]], 3, 300_000);
    let t3 = sim.submit(0, third);
    assert_eq!(sim.state(0, &t3), None, "refused (input frozen), not held");
    assert_eq!(sim.core(0).unwrap().mempool_info().pending, 0);
}

#[test]
fn n5_a_proposer_sending_one_node_a_corrupted_body_does_not_stall_the_height() {
    let mut config = SimConfig::quiet(5, 26);
    config.byzantine = Some(consensus::sim::Byzantine::CorruptBodies);
    let mut sim = Sim::new(config);
    let honest = [0, 1, 2, 3];
    sim.run_until(300).unwrap();
    let c = sim.client_coins();
    let start = honest.iter().map(|i| sim.height(*i)).min().unwrap();
    // A steady stream of transactions, so every block carries certificates
    // to corrupt (one-input spends of the client coins, one per 100 ms).
    let mut txids = Vec::new();
    for (k, coin) in c.iter().enumerate().take(30) {
        let tx = sim.build_tx(&[*coin], (k + 1) % 6, 500_000);
        txids.push(sim.submit(k % 4, tx));
        let now = sim.now();
        sim.run_until(now + 100).unwrap();
    }
    sim.run_until(10_000).unwrap();
    let end = honest.iter().map(|i| sim.height(*i)).min().unwrap();
    assert!(end >= start + 12, "heights {start}..{end}: a height stalled");
    for t in &txids {
        assert!(all_final(&sim, &honest, t), "{t} final everywhere");
    }
}

#[test]
fn n4_an_observers_status_makes_no_node_fetch_or_sync() {
    let mut sim = Sim::new(SimConfig::quiet(4, 27));
    sim.run_until(500).unwrap();
    let pending: Vec<TxId> = (0..1_000u32)
        .map(|k| {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&k.to_le_bytes());
            TxId(id)
        })
        .collect();
    for round in 0..5 {
        for i in ALL4 {
            let status = Status {
                height: sim.height(i) + 1 + round,
                tip: BlockHash([7; 32]),
                tip_certificate: None,
                vote_seqs: vec![u64::MAX; 4],
                pending: pending.clone(),
            };
            sim.inject(i, observer(), Message::Status(status));
        }
        let now = sim.now();
        sim.run_until(now + 100).unwrap();
    }
    let asked = sim
        .sent_to_outsiders()
        .iter()
        .filter(|m| {
            matches!(
                m,
                Message::GetTxs(_) | Message::GetVoteBatches { .. } | Message::GetBlocks { .. }
            )
        })
        .count();
    assert_eq!(asked, 0, "nodes acted on an observer's claims");
    for i in ALL4 {
        assert!(!sim.core(i).unwrap().info().syncing, "node {i} believed an unproven height");
    }
}

#[test]
fn n4_an_observers_unsigned_orphans_are_not_held() {
    let mut sim = Sim::new(SimConfig::quiet(4, 28));
    sim.run_until(500).unwrap();
    let c = sim.client_coins();
    for k in 0..100u32 {
        let mut parent = [0u8; 32];
        parent[..4].copy_from_slice(&k.to_le_bytes());
        // A real shape, an unknown parent, a signature nobody made.
        let mut tx = sim.build_tx(&[c[0]], 1, 500_000);
        tx.inputs[0].prev = OutPoint { txid: TxId(parent), vout: 0 };
        for i in ALL4 {
            sim.inject(i, observer(), Message::Tx(tx.clone()));
        }
    }
    for i in ALL4 {
        assert_eq!(sim.core(i).unwrap().mempool_info().orphans, 0, "node {i} holds junk orphans");
    }
}

#[test]
fn n4_block_votes_for_far_rounds_from_a_member_are_not_all_kept() {
    let mut sim = Sim::new(SimConfig::quiet(4, 29));
    sim.run_until(500).unwrap();
    // Node 3's key (the simulator's seed for it) signs votes for a
    // thousand future rounds of the height node 0 is working on.
    let mut seed = [0u8; 32];
    seed[0] = 0xa0;
    seed[1] = 3;
    let key = SecretKey::from_seed(seed);
    let voter = sim.core(0).unwrap().committee_ref().index_of(&sim.node_id(3)).unwrap();
    let height = sim.core(0).unwrap().info().current_height;
    for round in 2..1_002 {
        let vote = protocol::bft::BlockVote::sign(
            CHAIN,
            &key,
            voter,
            protocol::bft::VoteKind::Prevote,
            height,
            round,
            None,
        );
        sim.inject(0, sim.node_id(3), Message::BlockVote(vote));
    }
    let held = sim.core(0).unwrap().held();
    assert_eq!(held.votes_beyond_next_round, 0);
    assert!(held.far_votes <= 2, "{held:?}");
}

#[test]
fn n5_a_child_waits_for_its_parent_through_a_long_partition() {
    let mut sim = Sim::new(SimConfig::quiet(5, 30));
    let all = [0, 1, 2, 3, 4];
    sim.run_until(500).unwrap();
    sim.partition(&[&[0, 1], &[2, 3, 4]]);
    let c = sim.client_coins();
    let parent = sim.build_tx(&two_keys(&c, 4), 2, 900_000);
    let parent_id = sim.submit(0, parent.clone());
    let child_input = (OutPoint { txid: parent_id, vout: 0 }, parent.outputs[0]);
    let child = sim.build_tx(&[child_input], 1, 400_000);
    let child_id = sim.submit(0, child);
    // Longer than an orphan's time to live (60 s).
    sim.run_until(70_000).unwrap();
    sim.heal();
    assert!(
        sim.run_until_condition(80_000, |s| all_final(s, &all, &parent_id)
            && all_final(s, &all, &child_id))
            .unwrap(),
        "{}",
        sim.describe(&child_id)
    );
}

#[test]
fn n4_a_seq_at_the_top_of_the_range_overflows_nothing() {
    let mut sim = Sim::new(SimConfig::quiet(4, 31));
    sim.run_until(500).unwrap();
    let mut seed = [0u8; 32];
    seed[0] = 0xa0;
    seed[1] = 3;
    let key = SecretKey::from_seed(seed);
    let voter = sim.node_id(3);
    // Claims that every batch of node 3 below the top was pruned, then a
    // real batch of node 3 at the top seq.
    sim.inject(
        0,
        observer(),
        Message::VoteBatches { voter, batches: Vec::new(), pruned_below: u64::MAX },
    );
    let top = protocol::finality::VoteBatch::sign(CHAIN, &key, u64::MAX, vec![TxId([9; 32])]);
    sim.inject(0, voter, Message::VoteBatch(top.clone()));
    sim.inject(
        0,
        voter,
        Message::VoteBatches { voter, batches: vec![top], pruned_below: u64::MAX },
    );
    let c = sim.client_coins();
    let tx = sim.build_tx(&two_keys(&c, 5), 0, 800_000);
    let t = sim.submit(0, tx);
    assert!(sim.run_until_condition(3_000, |s| all_final(s, &ALL4, &t)).unwrap());
}

#[test]
fn n4_a_block_whose_input_signatures_were_swapped_is_invalid() {
    // A certificate binds the txid, which excludes signatures: a relayer
    // could swap them. Block validity checks them itself.
    let mut sim = Sim::new(SimConfig::quiet(4, 32));
    sim.run_until(500).unwrap();
    let c = sim.client_coins();
    let tx = sim.build_tx(&two_keys(&c, 1), 2, 800_000);
    let t = sim.submit(0, tx);
    assert!(sim.run_until_condition(5_000, |s| committed_everywhere(s, &ALL4, &t)).unwrap());
    let height = (1..=sim.height(0))
        .find(|h| {
            sim.committed_block(0, *h).is_some_and(|b| b.txs.iter().any(|x| x.txid(CHAIN) == t))
        })
        .expect("the block that carries it");
    let good = sim.committed_block(0, height).unwrap().clone();
    let ledger = sim.core(0).unwrap().ledger();
    let mut verifier = SigVerifier::new(VerifyStrategy::OneByOne);
    let fresh = |_: &TxId, _: &Transaction| false;
    assert_eq!(ledger.check_signatures(&good, &mut verifier, &fresh), Ok(()));
    let mut swapped = good.clone();
    swapped.txs[1].inputs[0].signature.0[5] ^= 0x10;
    assert_eq!(swapped.hash(CHAIN), good.hash(CHAIN), "the header (and its hash) is unchanged");
    assert_eq!(
        ledger.check_signatures(&swapped, &mut verifier, &fresh),
        Err(BlockError::Signature { index: 1, input: 0 })
    );
}

#[test]
fn a_block_timestamp_ahead_of_the_clock_is_not_remembered_as_invalid() {
    let ahead = BlockError::TimestampAhead { timestamp: 10, max: 5 };
    let before_parent = BlockError::Timestamp { timestamp: 1, parent: 2 };
    assert!(ahead.is_transient(), "valid later: must be checked again");
    assert!(!before_parent.is_transient());
}

#[test]
fn n4_a_reply_fits_its_byte_budget() {
    // Replies were bounded by count only: 4,096 certificates or large
    // transactions could exceed a frame, and the same window was asked for
    // again forever. A reply now carries what fits (and always one item).
    let core = consensus::CoreConfig {
        tick_interval_ms: 250,
        max_reply_bytes: 1_500,
        ..consensus::CoreConfig::default()
    };
    let mut sim = Sim::with_core_config(SimConfig::quiet(4, 33), core);
    sim.run_until(500).unwrap();
    // No quorum anywhere: the transactions stay pending at node 0.
    sim.partition(&[&[0, 1], &[2, 3]]);
    let c = sim.client_coins();
    let txs: Vec<Transaction> = (0..10).map(|k| sim.build_tx(&[c[k]], 1, 500_000)).collect();
    let txids: Vec<TxId> = txs.into_iter().map(|tx| sim.submit(0, tx)).collect();
    sim.inject(0, observer(), Message::GetTxs(txids.clone()));
    let Some(Message::Txs(items)) = sim.sent_to_outsiders().last().cloned() else {
        panic!("no reply: {:?}", sim.sent_to_outsiders().len());
    };
    let bytes: usize = items.iter().map(|(tx, _)| tx.size()).sum();
    assert!(
        !items.is_empty() && items.len() < txids.len(),
        "{} of {} items",
        items.len(),
        txids.len()
    );
    assert!(bytes <= 1_500, "{bytes} bytes in a 1,500-byte reply");
}

#[test]
fn a_member_withholding_its_precommits_and_commit_certificates_strands_no_height() {
    // Found by the campaign: after a partition heals, the honest nodes miss
    // one honest precommit, and the only complete commit certificate is the
    // Byzantine member's, which it shows in its status but never sends as a
    // block. Its certificate's precommits are signed votes: they go into the
    // vote set, and the height commits.
    for seed in [534, 591, 599, 744, 805] {
        let config = SimConfig::random(seed, consensus::sim::Mode::Liveness);
        assert!(
            matches!(
                config.byzantine,
                Some(
                    consensus::sim::Byzantine::CorruptBodies
                        | consensus::sim::Byzantine::WithholdPrecommits
                )
            ),
            "seed {seed} is no longer the scenario: {config:?}"
        );
        if let Err(violation) = Sim::random(config).run() {
            panic!("{violation}");
        }
    }
}

#[test]
fn vote_batches_verified_ahead_are_only_those_the_core_would_verify() {
    // The node verifies live vote batches ahead of its core. That stage must
    // not verify what the core refuses before any signature (an oversized
    // batch, seq 0, a txid twice, a voter outside the committee), nor the
    // same batch twice in a cycle: else a peer buys signature checks, and
    // merkle roots of huge batches, that the core never pays.
    let sim = Sim::new(SimConfig::quiet(4, 3));
    let core = sim.core(0).expect("node 0 runs");
    let mut seed = [0u8; 32];
    seed[0] = 0xa0; // the simulator's member keys
    seed[1] = 1;
    let member = SecretKey::from_seed(seed);
    assert_eq!(NodeId::from(member.public()), sim.node_id(1));
    let txid = |i: u32| {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        TxId(bytes)
    };
    let good = VoteBatch::sign(CHAIN, &member, 1, vec![txid(1)]);
    let too_big = VoteBatch::sign(CHAIN, &member, 2, (0..5_000).map(txid).collect());
    let twice = VoteBatch::sign(CHAIN, &member, 3, vec![txid(2), txid(2)]);
    let zero = VoteBatch::sign(CHAIN, &member, 0, vec![txid(3)]);
    let stranger = VoteBatch::sign(CHAIN, &SecretKey::from_seed([0xee; 32]), 1, vec![txid(4)]);
    let pending = core.pending_votes([&good, &good, &too_big, &twice, &zero, &stranger]);
    assert_eq!(pending.len(), 1, "only the good batch, once");
}
