//! Blocks by reference (issue [2/5]): a proposal carries the header, the
//! coinbase and txids; each node rebuilds the body from its own final set,
//! fetches what it lacks, and never prevotes a block naming a transaction it
//! cannot see final.

use consensus::message::Message;
use consensus::sim::{Sim, SimConfig};
use consensus::{SubmitOutcome, TxState};
use protocol::bft::{Proposal, VoteKind};
use protocol::coinbase::expected_coinbase;
use protocol::finality::FinalityCertificate;
use protocol::{Amount, ChainId, OutPoint, SecretKey, TxOut};

/// The simulator's chain.
const CHAIN: ChainId = ChainId(0x51);

/// Two coins of different owners (six coins per client key, in genesis order).
fn two_keys(coins: &[(OutPoint, TxOut)], k: usize) -> [(OutPoint, TxOut); 2] {
    [coins[k], coins[6 + k]]
}

/// The simulator's key of masternode `i` (its fixed seed).
fn member_key(sim: &Sim, i: usize) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[0] = 0xa0;
    seed[1] = i as u8;
    let key = SecretKey::from_seed(seed);
    assert_eq!(protocol::NodeId::from(key.public()), sim.node_id(i), "the simulator's key");
    key
}

#[test]
fn a_node_that_missed_a_transactions_finality_fetches_it_to_vote_for_the_block() {
    let mut sim = Sim::new(SimConfig::quiet(5, 31));
    sim.run_until(500).unwrap();
    // Node 3 is down, so no block commits without node 4; node 4 hears of
    // finality only through what it fetches (no votes, no anti-entropy, no
    // committed blocks reach it).
    sim.crash(3);
    for kind in ["vote_batch", "vote_batches", "status", "final", "blocks"] {
        sim.mute(4, kind);
    }
    let c = sim.client_coins();
    let tx = sim.build_tx(&two_keys(&c, 0), 1, 900_000);
    let t = sim.submit(0, tx);
    let live = [0, 1, 2, 4];
    let committed = sim
        .run_until_condition(10_000, |s| {
            live.iter().all(|i| s.state(*i, &t) == Some(TxState::Committed))
        })
        .unwrap();
    assert!(committed, "{}", sim.describe(&t));
    let asked: usize = [0, 1, 2].iter().map(|j| sim.sent_count(4, *j, "get_txs")).sum();
    let answered: usize = [0, 1, 2].iter().map(|j| sim.sent_count(*j, 4, "txs")).sum();
    assert!(asked > 0 && answered > 0, "node 4 fetched the body and certificate");
}

#[test]
fn a_proposal_naming_a_transaction_that_is_not_final_gets_a_nil_prevote() {
    let mut sim = Sim::new(SimConfig::quiet(5, 33));
    sim.run_until(500).unwrap();
    // Node 4 is down (its rounds are the ones forged below); only node 0
    // holds the transaction's body (it is neither gossiped nor fetched), so
    // only node 0 votes for it: never final.
    sim.crash(4);
    for i in [1, 2, 3] {
        sim.mute(i, "tx");
        sim.mute(i, "txs");
    }
    let c = sim.client_coins();
    let inputs = two_keys(&c, 0);
    let tx = sim.build_tx(&inputs, 1, 900_000);
    let t = sim.submit(0, tx.clone());
    let id4 = sim.node_id(4);
    let in_round_of_4 = sim
        .run_until_condition(20_000, |s| {
            let info = s.core(0).unwrap().info();
            info.proposer == id4 && info.step == "propose"
        })
        .unwrap();
    assert!(in_round_of_4);
    assert_eq!(sim.state(0, &t), Some(TxState::Pending));
    // Node 4's proposal for this round, right in every way but one: the
    // transaction it names is not final (the "certificate" is empty).
    let core = sim.core(0).unwrap();
    let info = core.info();
    let ledger = core.ledger();
    let committee = core.committee_ref();
    let timestamp = ledger.tip_header().timestamp + 1;
    let total_in: u64 = inputs.iter().map(|(_, o)| o.value.sat()).sum();
    let total_out: u64 = tx.outputs.iter().map(|o| o.value.sat()).sum();
    let coinbase = expected_coinbase(
        committee,
        Amount::from_sat(ledger.params().block_reward_sat),
        info.current_height,
        timestamp,
        committee.proposer(info.current_height, info.round),
        Amount::from_sat(total_in - total_out),
    )
    .unwrap();
    let block = ledger.assemble(
        info.current_height,
        vec![coinbase, tx],
        vec![FinalityCertificate { txid: t, votes: Vec::new() }],
        timestamp,
        id4,
        info.round,
    );
    let proposal =
        Proposal::sign(CHAIN, &member_key(&sim, 4), info.round, None, block.reference(CHAIN));
    sim.inject(0, id4, Message::Proposal(Box::new(proposal)));
    let (height, round) = (info.current_height, info.round);
    let voted = sim
        .run_until_condition(10_000, |s| {
            s.block_vote_of(0, height, round, VoteKind::Prevote).is_some()
        })
        .unwrap();
    assert!(voted);
    assert_eq!(
        sim.block_vote_of(0, height, round, VoteKind::Prevote),
        Some(None),
        "node 0 prevoted a block naming a transaction it does not hold final"
    );
    assert!(sim.sent_count(0, 4, "get_txs") > 0, "node 0 asked the proposer for it");
}

/// A transaction submitted again once it is in a block is answered
/// "committed" (from the chain index), not admitted again nor refused for
/// its spent inputs: admission skips the index read only for a transaction
/// one of whose inputs is still unspent, which a committed one never has.
#[test]
fn a_committed_transaction_submitted_again_is_reported_committed() {
    let mut sim = Sim::new(SimConfig::quiet(5, 35));
    sim.run_until(500).unwrap();
    let c = sim.client_coins();
    let tx = sim.build_tx(&two_keys(&c, 0), 1, 900_000);
    let t = sim.submit(0, tx.clone());
    let committed = sim
        .run_until_condition(10_000, |s| (0..5).all(|i| s.state(i, &t) == Some(TxState::Committed)))
        .unwrap();
    assert!(committed, "{}", sim.describe(&t));
    let before = sim.replies(1).len();
    sim.submit(1, tx);
    let answered = sim.run_until_condition(5_000, |s| s.replies(1).len() > before).unwrap();
    assert!(answered, "node 1 did not answer the resubmission");
    let again = sim.replies(1)[before].clone();
    assert_eq!(
        again,
        SubmitOutcome::Accepted { txid: t, state: TxState::Committed, already_known: true }
    );
}

/// The committed coins a transaction spends whose commitment elements the
/// ledger lacks are what the stage ahead computes (so a block spending
/// them subtracts known elements): each coin once per call, even when
/// conflicting spends name it.
#[test]
fn the_spent_coins_without_an_element_are_named_once_per_call() {
    let mut sim = Sim::new(SimConfig::quiet(5, 35));
    sim.run_until(500).unwrap();
    let c = sim.client_coins();
    let coins = two_keys(&c, 0);
    let tx = sim.build_tx(&coins, 1, 900_000);
    let conflicting = sim.build_tx(&coins[..1], 2, 400_000);
    let txs = [(tx.clone(), tx.txid(CHAIN)), (conflicting.clone(), conflicting.txid(CHAIN))];
    let core = sim.core(0).expect("node 0 runs");
    let named = core.spent_without_element(&txs);
    assert_eq!(named, vec![coins.to_vec(), vec![]], "both coins for the first, none twice");
}

/// A node pushes the block it committed last to a peer whose message of
/// that height arrives late, at most once per peer and height: the late
/// votes of peers that committed too are most of them (pushing a block for
/// each cost about two and a half blocks per peer per height).
#[test]
fn a_node_pushes_its_last_block_at_most_once_per_peer_and_height() {
    let mut config = SimConfig::quiet(5, 41);
    config.max_delay_ms = 30;
    let mut sim = Sim::new(config);
    sim.run_until(500).unwrap();
    let c = sim.client_coins();
    let mut at = 500;
    for k in 0..6 {
        let tx = sim.build_tx(&two_keys(&c, k), 1, 900_000);
        sim.submit(k % 5, tx);
        at += 1_500;
        sim.run_until(at).unwrap();
    }
    sim.run_until(at + 20_000).unwrap();
    let pairs = 5 * 4;
    let pushed: usize = (0..5)
        .flat_map(|i| (0..5).map(move |j| (i, j)))
        .map(|(i, j)| sim.sent_count(i, j, "blocks"))
        .sum();
    let heights = sim.height(0) as usize;
    assert!(heights > 50, "the chain moved: {heights}");
    assert!(
        pushed <= heights * pairs,
        "{pushed} blocks sent over {heights} heights of {pairs} peer pairs"
    );
}
