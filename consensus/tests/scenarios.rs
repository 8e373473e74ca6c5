//! Named scenarios of the consensus core on the simulator (topology in the
//! name: n4 = four masternodes). Each checks its own claim; every run also
//! checks the simulator's safety invariants after every step.

use consensus::TxState;
use consensus::sim::{Byzantine, Sim, SimConfig};
use protocol::{OutPoint, TxId, TxOut};

fn coins(sim: &Sim) -> Vec<(OutPoint, TxOut)> {
    sim.client_coins()
}

fn all_final(sim: &Sim, nodes: &[usize], txid: &TxId) -> bool {
    nodes.iter().all(|i| sim.is_final(*i, txid))
}

fn min_height(sim: &Sim, nodes: &[usize]) -> u64 {
    nodes.iter().map(|i| sim.height(*i)).min().unwrap_or(0)
}

/// Two coins of different owners (the client keys own six coins each, in
/// genesis order), for a two-input, two-key transaction.
fn two_keys(coins: &[(OutPoint, TxOut)], k: usize) -> [(OutPoint, TxOut); 2] {
    [coins[k], coins[6 + k]]
}

#[test]
fn n4_double_spend_then_blocks_keep_committing() {
    let mut sim = Sim::new(SimConfig::quiet(4, 1));
    sim.run_until(500).unwrap();
    let c = coins(&sim);
    let a = sim.build_tx(&[c[0]], 1, 500_000);
    let b = sim.build_tx(&[c[0]], 2, 400_000);
    let (ta, tb) = (sim.submit(0, a), sim.submit(2, b));
    let start = min_height(&sim, &[0, 1, 2, 3]);
    sim.run_until(4_000).unwrap();
    for i in 0..4 {
        assert!(!(sim.is_final(i, &ta) && sim.is_final(i, &tb)), "both sides final at node {i}");
    }
    assert!(min_height(&sim, &[0, 1, 2, 3]) >= start + 5, "blocks kept committing");
    // Later honest transactions are unaffected.
    let honest = sim.build_tx(&two_keys(&c, 1), 3, 600_000);
    let th = sim.submit(1, honest);
    assert!(sim.run_until_condition(8_000, |s| all_final(s, &[0, 1, 2, 3], &th)).unwrap());
}

#[test]
fn n5_byzantine_proposer_conflicting_tx_no_halt() {
    let mut config = SimConfig::quiet(5, 2);
    config.byzantine = Some(Byzantine::ConflictingProposals);
    let mut sim = Sim::new(config);
    let honest = [0, 1, 2, 3];
    sim.run_until(300).unwrap();
    let c = coins(&sim);
    // Once a transaction is final, the Byzantine proposer (node 4, with a
    // double spender's key) puts a conflicting spend of its input in every
    // block it proposes, and sends that spend's body with its own vote as
    // the "certificate".
    let tx = sim.build_tx(&two_keys(&c, 3), 4, 700_000);
    let t = sim.submit(2, tx);
    assert!(sim.run_until_condition(3_000, |s| all_final(s, &honest, &t)).unwrap());
    let start = min_height(&sim, &honest);
    let byzantine = sim.node_id(4);
    let (proposed, bodies) = (sim.sent_count(4, 0, "proposal"), sim.sent_count(4, 0, "txs"));
    sim.run_until(10_000).unwrap();
    let top = min_height(&sim, &honest);
    assert!(top >= start + 10, "no halt: heights {start}..{top}");
    assert!(sim.sent_count(4, 0, "proposal") > proposed, "the Byzantine member proposed");
    assert!(sim.sent_count(4, 0, "txs") > bodies, "with the conflicting spend's body");
    // Every one of its proposals was rejected: no block after `start` is
    // its, and every committed transaction is final at the honest nodes.
    let chain = sim.genesis().chain_id;
    for height in start + 1..=top {
        let block = sim.committed_block(0, height).expect("committed");
        assert_ne!(block.header.proposer, byzantine, "its block at {height} was committed");
        for txid in block.txids(chain).into_iter().skip(1) {
            assert!(all_final(&sim, &honest, &txid), "{txid} in block {height} is not final");
        }
    }
}

#[test]
fn n5_byzantine_withholds_precommit_no_halt() {
    let mut config = SimConfig::quiet(5, 3);
    config.byzantine = Some(Byzantine::WithholdPrecommits);
    let mut sim = Sim::new(config);
    let honest = [0, 1, 2, 3];
    sim.run_until(500).unwrap();
    let start = min_height(&sim, &honest);
    let c = coins(&sim);
    let tx = sim.build_tx(&two_keys(&c, 0), 2, 800_000);
    let t = sim.submit(4, tx);
    sim.run_until(6_000).unwrap();
    assert!(all_final(&sim, &honest, &t));
    assert!(min_height(&sim, &honest) >= start + 10, "heights advance without its precommits");
}

#[test]
fn n5_partition_2_3_inflight_txs_finalize_after_heal() {
    let mut sim = Sim::new(SimConfig::quiet(5, 4));
    let all = [0, 1, 2, 3, 4];
    sim.run_until(500).unwrap();
    sim.partition(&[&[0, 1], &[2, 3, 4]]);
    sim.run_until(700).unwrap();
    let height_at_cut = (0..5).map(|i| sim.height(i)).max().unwrap();
    let c = coins(&sim);
    let left = sim.build_tx(&two_keys(&c, 0), 1, 500_000);
    let right = sim.build_tx(&two_keys(&c, 1), 2, 500_000);
    let (tl, tr) = (sim.submit(0, left), sim.submit(3, right));
    sim.run_until(4_000).unwrap();
    for i in all {
        assert!(
            !sim.is_final(i, &tl) && !sim.is_final(i, &tr),
            "q = 4 needs both sides (node {i})"
        );
        assert!(sim.height(i) <= height_at_cut + 1, "no blocks without a quorum (node {i})");
    }
    sim.heal();
    assert!(
        sim.run_until_condition(15_000, |s| all_final(s, &all, &tl) && all_final(s, &all, &tr))
            .unwrap()
    );
    let resumed =
        sim.run_until_condition(20_000, |s| min_height(s, &all) > height_at_cut + 1).unwrap();
    assert!(resumed, "blocks resume after heal");
}

#[test]
fn n4_crash_between_lock_and_vote_recovers() {
    let mut sim = Sim::new(SimConfig::quiet(4, 5));
    sim.run_until(500).unwrap();
    // With node 3 down, q = 3 needs node 1's vote.
    sim.crash(3);
    sim.crash_after_next_own_votes(1);
    let c = coins(&sim);
    let tx = sim.build_tx(&two_keys(&c, 2), 0, 900_000);
    let t = sim.submit(1, tx);
    sim.run_until(1_500).unwrap();
    assert!(sim.core(1).is_none(), "node 1 crashed after persisting its lock");
    assert!(!sim.is_final(0, &t) && !sim.is_final(2, &t), "its vote never left");
    sim.restart(1);
    assert!(sim.run_until_condition(6_000, |s| all_final(s, &[0, 1, 2], &t)).unwrap());
    // The restarted node re-announced the same vote: q = 3 needed it, and
    // `run_until_condition` fails the run on any honest double vote.
}

#[test]
fn n4_child_before_parent_final_waits_then_finalizes() {
    let mut sim = Sim::new(SimConfig::quiet(4, 6));
    sim.run_until(500).unwrap();
    let c = coins(&sim);
    let parent = sim.build_tx(&two_keys(&c, 3), 2, 900_000);
    let parent_id = sim.submit(0, parent.clone());
    let child_input = (OutPoint { txid: parent_id, vout: 0 }, parent.outputs[0]);
    let child = sim.build_tx(&[child_input], 1, 400_000);
    let child_id = sim.submit(0, child);
    assert_eq!(sim.state(0, &child_id), Some(TxState::WaitingForParent));
    let all = [0, 1, 2, 3];
    assert!(
        sim.run_until_condition(5_000, |s| all_final(s, &all, &parent_id)
            && all_final(s, &all, &child_id))
            .unwrap()
    );
}

#[test]
fn n4_lagging_node_with_conflicting_lock_catches_up() {
    let mut sim = Sim::new(SimConfig::quiet(4, 7));
    sim.run_until(500).unwrap();
    sim.partition(&[&[0, 1, 2], &[3]]);
    let c = coins(&sim);
    let a = sim.build_tx(&[c[4]], 1, 500_000);
    let b = sim.build_tx(&[c[4]], 2, 400_000);
    let (ta, tb) = (sim.submit(3, a), sim.submit(0, b));
    sim.run_until(3_000).unwrap();
    assert_eq!(sim.state(3, &ta), Some(TxState::Pending), "node 3 locked the loser");
    assert!(all_final(&sim, &[0, 1, 2], &tb), "the majority finalized the winner");
    let majority_height = sim.height(0);
    assert!(majority_height > sim.height(3) + 2, "node 3 lags");
    sim.heal();
    assert!(
        sim.run_until_condition(8_000, |s| s.height(3) >= majority_height && s.is_final(3, &tb))
            .unwrap()
    );
    assert_ne!(sim.state(3, &ta), Some(TxState::Pending), "its conflicting lock is released");
    // And it votes again: with node 0 down, q = 3 needs node 3.
    sim.crash(0);
    let tx = sim.build_tx(&two_keys(&c, 5), 0, 800_000);
    let t = sim.submit(3, tx);
    assert!(sim.run_until_condition(15_000, |s| all_final(s, &[1, 2, 3], &t)).unwrap());
}

#[test]
fn n4_lost_double_spender_coins_stay_frozen() {
    let mut sim = Sim::new(SimConfig::quiet(4, 8));
    sim.run_until(500).unwrap();
    let c = coins(&sim);
    // Node 3 alone locks a two-input spend; the others finalize a spend of
    // one of its inputs.
    sim.partition(&[&[0, 1, 2], &[3]]);
    let loser = sim.build_tx(&[c[7], c[8]], 1, 1_500_000);
    let winner = sim.build_tx(&[c[7]], 2, 500_000);
    let (tl, tw) = (sim.submit(3, loser), sim.submit(0, winner));
    sim.run_until(1_500).unwrap();
    sim.heal();
    assert!(sim.run_until_condition(6_000, |s| s.is_final(3, &tw)).unwrap());
    assert_eq!(sim.state(3, &tl), Some(TxState::Lost));
    // A new spend of the loser's other input: node 3 voted for the loser on
    // that outpoint, so it must never vote again there (the simulator fails
    // the run if it does). It says so to a client instead of holding a
    // transaction it will never vote for; the other three finalize it, and
    // node 3 takes their certificate.
    let again = sim.build_tx(&[c[8]], 3, 500_000);
    let ta = sim.submit(3, again.clone());
    assert_eq!(sim.state(3, &ta), None, "refused (input frozen), not held");
    sim.submit(0, again);
    // `run_until_condition` fails the run if node 3 ever votes for it.
    assert!(sim.run_until_condition(10_000, |s| all_final(s, &[0, 1, 2, 3], &ta)).unwrap());
}
