//! The short chaos set (`examples::scenarios::SHORT`, the same code and
//! schedule format `make chaos` runs): real processes, real faults from
//! `timectl faults run`, load from loadgen, and `loadgen verify`'s checker
//! judging every node afterwards. Each scenario must pass, and must show
//! that its hard case happened: the faults ran, a node came back and
//! finalized again, and the checker compared real blocks and transactions.

use examples::scenarios::{self, SHORT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_short_chaos_scenarios_keep_every_promise() {
    let work = tempfile::tempdir().expect("temp dir");
    let bins = scenarios::Bins {
        timectl: cluster::binaries::find("timectl").expect("timectl is built"),
        test_build: None,
    };
    for scenario in SHORT {
        let row = scenarios::run(scenario, 100.0, 5, work.path(), &bins).await;
        let table = scenarios::table(std::slice::from_ref(&row), 5, Default::default());
        assert!(row.passed, "{table}");
        assert_eq!(row.faults, 2, "both steps of the schedule ran\n{table}");
        let verify = row.verify.as_ref().expect("the checker ran");
        assert!(verify.final_in_history > 500, "the load was final\n{table}");
        assert!(verify.blocks_compared > 3, "blocks were compared\n{table}");
        if scenario.twin {
            // Both twins spoke: the honest nodes that heard the twin caught
            // node5 signing conflicting vote batches. The four honest nodes
            // are checked; node5 (two processes) is the faulty member.
            assert!(!verify.equivocations.is_empty(), "the twins were caught\n{table}");
            assert_eq!(verify.nodes.len(), 4, "every honest node was checked\n{table}");
        } else {
            assert!(row.rejoin_s.is_some(), "a node came back and finalized again\n{table}");
            assert_eq!(verify.nodes.len(), 5, "every node was checked\n{table}");
        }
        if scenario.double_spend_pct > 0.0 {
            assert!(verify.pairs > 0, "conflicting pairs were sent\n{table}");
        }
    }
}
