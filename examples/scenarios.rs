//! The chaos scenarios (`make chaos`, and a short set in `make test`): each
//! is a fault schedule in `chaos/` (the format of `timectl faults run
//! --help`) run by the real `timectl` against a fresh cluster of real
//! processes while loadgen keeps a steady load on it; afterwards
//! `loadgen verify`'s checker ([`loadgen::verify`]) judges every node's
//! state against the run's history.
//!
//! A scenario passes when loadgen's own safety checks and the checker pass
//! (nothing final lost, no conflicting pair final, same blocks, no double
//! spend, supply conserved, no equivocation, no height went back), every
//! node that was restarted, resumed or healed finalizes again within
//! [`REJOIN_LIMIT`], and, where the scenario says so, finality never
//! stalled longer than its limit and every transaction sent became final.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use client::RpcClient;
use cluster::Layout;
use loadgen::verify::{VerifyConfig, VerifyReport};
use loadgen::{RunConfig, Stop, Target};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// A restarted, resumed or healed node must finalize again within this.
pub const REJOIN_LIMIT: Duration = Duration::from_secs(30);

/// One scenario.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Its name; the schedule is `chaos/<schedule>.faults`.
    pub name: &'static str,
    /// The schedule file's stem (`None`: no faults).
    pub schedule: Option<&'static str>,
    /// How long the load runs.
    pub load_s: u64,
    /// Percent of slots sent as a conflicting pair to two nodes.
    pub double_spend_pct: f64,
    /// Longest time without a new final transaction that passes (`None`:
    /// reported only, e.g. when a partition leaves no quorum).
    pub max_no_final_s: Option<f64>,
    /// Every transaction sent must become final (nothing lost or timed
    /// out): scenarios where no process dies with transactions in flight.
    pub all_final: bool,
    /// loadgen's `--timeout`: a transaction without a fate this long after
    /// its intended time is timed out (longer than any partition).
    pub timeout_s: u64,
    /// Hostile traffic aimed at the last node from 5 s into the load; the
    /// load then goes to the other nodes only.
    pub hostile: Hostile,
    /// The last node runs `timed --byzantine` of this mode (`timectl up
    /// --byzantine`): a Byzantine masternode, which the checker leaves out,
    /// or a process-level fault of an honest node (`clock-*`: a skewed
    /// clock), which it checks. The row's throughput must be at least half
    /// of the `byz-baseline` row's.
    pub byzantine: Option<&'static str>,
    /// A second process with the last node's key, peering with the first
    /// two nodes, whose links to the original the schedule cuts: Twins
    /// ([`crate::twins`]). The checker leaves that member out.
    pub twin: bool,
    /// The last node's data dir on a small filesystem that fills under the
    /// load ([`crate::disk_full`]); grown once the node stops, then the node
    /// is started again. Needs root to mount (otherwise not run).
    pub disk_full: bool,
    /// Runs the test build's `timed` (`make build`: it carries
    /// `--byzantine`; release builds never do), at [`TEST_BUILD_TPS`].
    pub test_build: bool,
    /// What it proves, for the docs and the table's notes.
    pub proves: &'static str,
}

/// Hostile traffic during a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// None.
    None,
    /// P2P: hostile messages, garbage and oversized frames, half-open
    /// connections, a connection flood ([`crate::hostile_traffic::p2p`]).
    P2p,
    /// JSON-RPC: this many malformed requests ([`crate::hostile_traffic::rpc`]).
    Rpc(usize),
}

const fn scenario(name: &'static str, schedule: Option<&'static str>, load_s: u64) -> Scenario {
    Scenario {
        name,
        schedule,
        load_s,
        double_spend_pct: 0.0,
        max_no_final_s: None,
        all_final: false,
        timeout_s: 30,
        hostile: Hostile::None,
        byzantine: None,
        twin: false,
        disk_full: false,
        test_build: false,
        proves: "",
    }
}

/// The load of the rows that run the test build (unoptimised `timed`).
pub const TEST_BUILD_TPS: f64 = 200.0;

/// A row with one Byzantine member of `mode`, on the test build.
const fn byzantine(name: &'static str, mode: &'static str, proves: &'static str) -> Scenario {
    Scenario {
        byzantine: Some(mode),
        test_build: true,
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves,
        ..scenario(name, None, 30)
    }
}

/// Two block intervals at the cluster's default 1 s blocks: the longest
/// finality stall a single-node fault or a 1|4 partition may cause.
const TWO_BLOCKS_S: f64 = 2.0;

/// `make chaos`: every scenario.
pub const FULL: &[Scenario] = &[
    Scenario {
        all_final: true,
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "the fault-free baseline the other rows compare with",
        ..scenario("baseline", None, 30)
    },
    Scenario {
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "kill -9 of one node loses nothing final; it restarts from its store and finalizes again",
        ..scenario("kill-one", Some("kill-one"), 40)
    },
    Scenario {
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "kill -9 of the current proposer: the round moves on, nothing final is lost",
        ..scenario("kill-proposer", Some("kill-proposer"), 40)
    },
    Scenario {
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "a node down for 60 s under load catches up (blocks it missed) and votes again",
        ..scenario("down-60s", Some("down-60s"), 100)
    },
    Scenario {
        proves: "20 kill -9s of random nodes, one at a time: nothing final lost, every node back",
        ..scenario("crash-loop", Some("crash-loop"), 100)
    },
    Scenario {
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "SIGSTOP for 10 s: the other four keep finalizing; the paused node catches up (what was sent to it while frozen may time out)",
        ..scenario("pause-10s", Some("pause-10s"), 40)
    },
    Scenario {
        all_final: true,
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "partition 1|4 for 20 s: the majority keeps finalizing, the one rejoins",
        ..scenario("partition-1-4", Some("partition-1-4"), 50)
    },
    Scenario {
        all_final: true,
        timeout_s: 60,
        proves: "partition 2|3 for 30 s: no side has a quorum, nothing conflicting is final; after the heal everything sent finalizes",
        ..scenario("partition-2-3", Some("partition-2-3"), 70)
    },
    Scenario {
        proves: "kill -9 of all five, restart: every node resumes from its store, nothing final lost",
        ..scenario("kill-all", Some("kill-all"), 45)
    },
    Scenario {
        disk_full: true,
        proves: "disk filling on node5: it stops with a clear error and exit 4 while its reserve is free, never corrupts; once space returns it restarts and has lost nothing",
        ..scenario("disk-full", None, 45)
    },
    Scenario {
        twin: true,
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "Twins: a second process with node5's key talks to node1 and node2, the original to node3 and node4: nothing conflicting final, no halt",
        ..scenario("twins", Some("twins"), 40)
    },
    Scenario {
        all_final: false,
        double_spend_pct: 5.0,
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "5 % of slots are conflicting pairs sent to two nodes: never both final",
        ..scenario("double-spend", None, 30)
    },
    Scenario {
        all_final: true,
        max_no_final_s: Some(TWO_BLOCKS_S),
        hostile: Hostile::P2p,
        proves: "hostile P2P traffic at one node (hostile messages, garbage and 4 GiB frames, 200 half-open connections, a connection flood): it and the others keep finalizing",
        ..scenario("hostile-p2p", None, 40)
    },
    Scenario {
        all_final: true,
        max_no_final_s: Some(TWO_BLOCKS_S),
        hostile: Hostile::Rpc(10_000),
        proves: "10,000 malformed JSON-RPC requests at one node during load (32 with bodies that never complete): answered with HTTP errors, nothing stalls",
        ..scenario("malformed-rpc", None, 40)
    },
    Scenario {
        test_build: true,
        all_final: true,
        max_no_final_s: Some(TWO_BLOCKS_S),
        proves: "the honest test build at the Byzantine rows' rate: their throughput yardstick",
        ..scenario("byz-baseline", None, 30)
    },
    byzantine(
        "byz-equivocate",
        "equivocate",
        "a member signs two different proposals and votes per step: evidence recorded, nothing conflicting final",
    ),
    byzantine(
        "byz-withhold-votes",
        "withhold-votes",
        "a member never sends finality votes: the other four are a quorum",
    ),
    byzantine(
        "byz-withhold-precommits",
        "withhold-precommits",
        "a member never precommits: blocks still commit",
    ),
    byzantine(
        "byz-conflicting-proposals",
        "conflicting-proposals",
        "a proposer names a non-final conflicting spend: its blocks are refused",
    ),
    byzantine(
        "byz-corrupt-bodies",
        "corrupt-bodies",
        "a proposer sends bodies that do not match the header: refused, the round moves on",
    ),
    byzantine("byz-replay", "replay", "a member replays old messages and forged copies: ignored"),
    byzantine("byz-chaos", "chaos", "a member picks a misbehaviour at random per message"),
    byzantine(
        "clock-ahead",
        "clock-ahead",
        "an honest node's wall clock 5 s ahead: its blocks' timestamps are refused, finality goes on; it is checked like the others",
    ),
    byzantine(
        "clock-behind",
        "clock-behind",
        "an honest node's wall clock 5 s behind: it refuses the others' blocks as from the future until they are old enough; it is checked like the others",
    ),
];

/// The short set in `make test`.
pub const SHORT: &[Scenario] = &[
    Scenario {
        proves: "kill -9 of one node and its restart, short",
        ..scenario("kill-one-short", Some("short/kill-one"), 15)
    },
    Scenario {
        double_spend_pct: 5.0,
        proves: "partition 1|4 with conflicting pairs, short",
        ..scenario("partition-1-4-short", Some("short/partition-1-4"), 15)
    },
    Scenario { twin: true, proves: "Twins, short", ..scenario("twins-short", Some("twins"), 15) },
];

/// Where the schedules are.
pub fn schedules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("chaos")
}

/// A scenario's result: one row of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The scenario.
    pub scenario: String,
    /// Offered load, tx/s.
    pub tps: f64,
    /// Fault steps in its schedule.
    pub faults: usize,
    /// Transactions sent, final (loadgen).
    pub sent: u64,
    /// Became final.
    pub final_: u64,
    /// Sent but without a final fate: timed out or lost (loadgen).
    pub not_final: u64,
    /// Refused by the node that was asked (loadgen's fates; the kinds are
    /// in the run's report).
    pub rejected: u64,
    /// The checker's verdict.
    pub verify: Option<VerifyReport>,
    /// Longest time without a new final transaction / block, s.
    pub max_no_final_s: Option<f64>,
    /// Longest time without a new block, s.
    pub max_no_block_s: Option<f64>,
    /// Longest time from a start, resume or heal until the node finalized
    /// again, s (`None`: no such event).
    pub rejoin_s: Option<f64>,
    /// Nodes that never finalized again after their event.
    pub never_rejoined: Vec<String>,
    /// What the row's extra actor did: the hostile traffic sent, the
    /// twin's links.
    pub account: Option<String>,
    /// The cluster started and the load ran (otherwise the row says why it
    /// was not run; never a pass).
    pub ran: bool,
    /// Passed.
    pub passed: bool,
    /// Why it failed (or could not run).
    pub why: Vec<String>,
    /// Where loadgen's report is.
    pub run_dir: PathBuf,
}

/// The programs a scenario runs.
#[derive(Clone, Debug)]
pub struct Bins {
    /// `timectl`.
    pub timectl: PathBuf,
    /// The directory of the test build (`make build`: a `timed` that
    /// carries `--byzantine`), for the rows that need it.
    pub test_build: Option<PathBuf>,
}

/// Runs `scenario` at `tps` (or [`TEST_BUILD_TPS`] on the test build) on a
/// fresh cluster of `nodes` in `work/NAME`. A cluster that cannot start is
/// a row marked not run, naming why, never a pass.
pub async fn run(scenario: &Scenario, tps: f64, nodes: usize, work: &Path, bins: &Bins) -> Row {
    let tps = if scenario.test_build { TEST_BUILD_TPS } else { tps };
    let dir = work.join(scenario.name).join("cluster");
    let run_dir = work.join(scenario.name).join("run");
    let mut row = Row {
        scenario: scenario.name.to_string(),
        tps,
        faults: 0,
        sent: 0,
        final_: 0,
        not_final: 0,
        rejected: 0,
        verify: None,
        max_no_final_s: None,
        max_no_block_s: None,
        rejoin_s: None,
        never_rejoined: Vec::new(),
        account: None,
        ran: false,
        passed: false,
        why: Vec::new(),
        run_dir: run_dir.clone(),
    };
    if let Err(e) = run_inner(scenario, tps, nodes, &dir, bins, &mut row).await {
        row.why.push(format!("{e:#}"));
    }
    crate::stop_cluster(&bins.timectl, &dir);
    row.passed = row.why.is_empty();
    row
}

/// Removes the node stores of `scenario`'s cluster in `work` (see
/// [`crate::drop_stores`]).
pub fn drop_stores(work: &Path, scenario: &Scenario) {
    crate::drop_stores(&work.join(scenario.name).join("cluster"));
}

async fn run_inner(
    scenario: &Scenario,
    tps: f64,
    nodes: usize,
    dir: &Path,
    bins: &Bins,
    row: &mut Row,
) -> anyhow::Result<()> {
    let timectl = bins.timectl.as_path();
    let schedule = scenario.schedule.map(|s| schedules_dir().join(format!("{s}.faults")));
    let names: Vec<String> = (1..=nodes).map(|i| format!("node{i}")).collect();
    if let Some(path) = &schedule {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let steps = cluster::faults::parse_schedule(&text, &names, 0)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        row.faults = steps.len();
    }
    // Coins a partition or a frozen node holds for its duration (spent in
    // transactions that wait) must not starve the load: 40 per tx/s.
    let coins = (tps * 40.0).clamp(2_000.0, 256_000.0) as u32;
    let last = names[nodes - 1].clone();
    let mut up = vec!["--pool-coins".to_string(), coins.to_string()];
    if let Some(mode) = scenario.byzantine {
        up.extend(["--byzantine".to_string(), format!("{last}={mode}")]);
    }
    let up: Vec<&str> = up.iter().map(String::as_str).collect();
    let bin_dir = match (scenario.test_build, &bins.test_build) {
        (false, _) => None,
        (true, Some(dir)) => Some(dir.as_path()),
        (true, None) => bail!("needs the test build's timed (make build) for --byzantine"),
    };
    crate::fresh_cluster_in(timectl, dir, nodes, &up, bin_dir)?;
    let disk = match scenario.disk_full {
        true => Some(crate::disk_full::SmallDisk::prepare(timectl, dir, &last)?),
        false => None,
    };
    row.ran = true;

    let mut config = RunConfig::new(Target::ClusterDir {
        dir: dir.to_path_buf(),
        dev_wallet: false,
        only: Vec::new(),
    });
    config.tps = tps;
    config.stop = Stop::Duration(Duration::from_secs(scenario.load_s));
    config.double_spend_pct = scenario.double_spend_pct;
    config.timeout = Duration::from_secs(scenario.timeout_s);
    config.out = Some(row.run_dir.clone());
    config.command_line = vec![format!("chaos scenario {}", scenario.name)];

    let started_ms = hostio::now_ms();
    let watching = CancellationToken::new();
    let watcher = tokio::spawn(watch(Layout::new(dir), names.clone(), watching.clone()));
    let faults = match &schedule {
        Some(path) => Some(
            tokio::process::Command::new(timectl)
                .args(["faults", "run", "--dir"])
                .arg(dir)
                .arg(path)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .context("starting timectl faults run")?,
        ),
        None => None,
    };
    let hostile = match scenario.hostile {
        Hostile::None => None,
        kind => {
            let target = names.last().expect("nodes").clone();
            config.target = Target::ClusterDir {
                dir: dir.to_path_buf(),
                dev_wallet: false,
                only: names[..names.len() - 1].to_vec(),
            };
            let info = cluster::read_node_info(&Layout::new(dir), &target)
                .with_context(|| format!("{target} has no node.json"))?;
            let genesis = cluster::load_files(&Layout::new(dir))?.1;
            Some(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                match kind {
                    Hostile::P2p => match info.p2p_address.parse() {
                        Ok(addr) => (crate::hostile_traffic::p2p(addr, &genesis, 7).await, None),
                        Err(e) => (String::new(), Some(format!("{target}'s P2P address: {e}"))),
                    },
                    Hostile::Rpc(count) => {
                        let addr = info.rpc_url.trim_start_matches("http://").trim_end_matches('/');
                        match addr.parse() {
                            Ok(addr) => crate::hostile_traffic::rpc(addr, count).await,
                            Err(e) => (String::new(), Some(format!("{target}'s RPC address: {e}"))),
                        }
                    }
                    Hostile::None => (String::new(), None),
                }
            }))
        }
    };
    let twin = if scenario.twin {
        let timed = match bin_dir {
            Some(dir) => dir.join("timed"),
            None => cluster::binaries::find("timed")?,
        };
        let peers: Vec<&str> = names.iter().take(2).map(String::as_str).collect();
        Some(crate::twins::start(&timed, dir, &last, &peers).await?)
    } else {
        None
    };
    // Disk full: once the node stops, space returns and it is started again
    // (logged as a fault, so the report marks it and rejoin is measured).
    let disk_watch = disk.as_ref().map(|disk| {
        let layout = Layout::new(dir);
        let node = last.clone();
        let limit = Duration::from_secs(scenario.load_s);
        async move {
            let stop = disk.wait_stopped(dir, started_ms, limit).await.with_context(|| {
                format!("{node} never stopped: its disk did not fill during the load")
            })?;
            cluster::agent::log_fault(&layout, &format!("{node} stopped: disk full"));
            disk.grow()?;
            cluster::agent::log_fault(&layout, &format!("start {node}"));
            crate::disk_full::timectl(timectl, dir, &["start", &node])?;
            anyhow::Ok(stop)
        }
    });
    let (outcome, disk_stop) = match disk_watch {
        Some(watch) => {
            let (outcome, stop) =
                tokio::join!(loadgen::run(&config, CancellationToken::new()), watch);
            (outcome, Some(stop))
        }
        None => (loadgen::run(&config, CancellationToken::new()).await, None),
    };
    match disk_stop {
        None => {}
        Some(Err(e)) => row.why.push(format!("{e:#}")),
        Some(Ok(stop)) => {
            let code = stop.code.map_or("a signal".to_string(), |c| format!("exit {c}"));
            if stop.code != Some(4) {
                row.why.push(format!(
                    "{last} stopped with {code} when its disk filled, not exit 4 (a store write failed)"
                ));
            }
            match &stop.reason {
                Some(line) => {
                    row.account = Some(format!(
                        "{last} stopped ({code}) when its disk filled, logging: {}",
                        line.trim()
                    ))
                }
                None => row.why.push(format!("{last}'s log does not say its disk was full")),
            }
        }
    }
    if let Some(mut twin) = twin {
        let log = std::fs::read_to_string(&twin.log).unwrap_or_default();
        let connected = log.lines().filter(|l| l.contains("peer connected")).count();
        if !twin.running() {
            row.why.push(format!("the twin exited during the run (see {})", twin.log.display()));
        }
        if connected == 0 {
            row.why.push(format!(
                "the twin never connected to a peer, so it tested nothing (see {})",
                twin.log.display()
            ));
        }
        row.account = Some(format!(
            "the twin of {last} made {connected} connections (its log: {})",
            twin.log.display()
        ));
        twin.stop().await;
    }
    if let Some(task) = hostile {
        let (account, problem) = task
            .await
            .unwrap_or_else(|e| (String::new(), Some(format!("the hostile task failed: {e}"))));
        row.account = Some(account);
        row.why.extend(problem);
    }
    if let Some(child) = faults {
        let output = child.wait_with_output().await?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || text.contains("FAILED") {
            row.why.push(format!(
                "the fault schedule did not run cleanly: {}{}",
                text.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    let outcome = outcome.context("loadgen's run")?;
    let metric = |name: &str| outcome.metrics.get(name);
    let count = |name: &str| metric(name).unwrap_or(0.0) as u64;
    row.sent = count("sent");
    row.final_ = count("final");
    row.not_final = count("lost") + count("timed_out");
    row.rejected = count("rejected");
    row.max_no_final_s = metric("max_no_final_s");
    row.max_no_block_s = metric("max_no_block_s");
    if !outcome.safety.ok {
        row.why.extend(outcome.safety.violations.iter().map(|v| format!("loadgen: {v}")));
    }

    let report = loadgen::verify::verify(&VerifyConfig {
        run_dir: row.run_dir.clone(),
        target: Target::ClusterDir { dir: dir.to_path_buf(), dev_wallet: false, only: Vec::new() },
        wait: REJOIN_LIMIT,
        byzantine: (scenario.byzantine.is_some_and(|mode| !mode.starts_with("clock-"))
            || scenario.twin)
            .then(|| last.clone())
            .into_iter()
            .collect(),
    })
    .await;
    watching.cancel();
    let samples = watcher.await.unwrap_or_default();
    match report {
        Ok(report) => {
            row.why.extend(report.violations.iter().map(|v| format!("verify: {v}")));
            row.verify = Some(report);
        }
        Err(e) => row.why.push(format!("verify could not run: {e}")),
    }

    let events =
        loadgen::faults::read(&Layout::new(dir).dir().join("faults.log"), started_ms, u64::MAX);
    let (rejoin, never) = rejoin_times(&events, &samples, &names);
    row.rejoin_s = rejoin.map(|d| d.as_secs_f64());
    row.never_rejoined = never;
    for node in &row.never_rejoined {
        row.why.push(format!("{node} never finalized again after its restart, resume or heal"));
    }
    if let Some(r) = rejoin
        && r > REJOIN_LIMIT
    {
        row.why.push(format!(
            "a node took {:.1} s to finalize again (limit {} s)",
            r.as_secs_f64(),
            REJOIN_LIMIT.as_secs()
        ));
    }
    if let (Some(limit), Some(seen)) = (scenario.max_no_final_s, row.max_no_final_s)
        && seen > limit
    {
        row.why.push(format!("finality stalled {seen:.2} s (limit {limit} s)"));
    }
    if scenario.all_final && row.not_final > 0 {
        row.why.push(format!("{} transactions sent never became final", row.not_final));
    }
    Ok(())
}

/// One poll of one node: when, and the unix ms of its last finalization.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Unix ms of the poll.
    pub at_ms: u64,
    /// Node index.
    pub node: usize,
    /// `getconsensusinfo`'s `last_final_ms` (`None`: no answer).
    pub last_final_ms: Option<u64>,
}

/// Polls every node's `getconsensusinfo` every 250 ms until `done`,
/// following restarted nodes to their new RPC address.
async fn watch(layout: Layout, names: Vec<String>, done: CancellationToken) -> Vec<Sample> {
    let mut clients: Vec<Option<(String, RpcClient)>> = vec![None; names.len()];
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = done.cancelled() => break,
            _ = tick.tick() => {}
        }
        for (i, name) in names.iter().enumerate() {
            let url = cluster::read_node_info(&layout, name).map(|info| info.rpc_url);
            if url.as_ref() != clients[i].as_ref().map(|(u, _)| u) {
                clients[i] = url.and_then(|url| {
                    RpcClient::from_data_dir(&layout.data_dir(name)).ok().map(|c| (url, c))
                });
            }
            let mut last_final_ms = None;
            if let Some((_, client)) = &clients[i] {
                let asked =
                    tokio::time::timeout(Duration::from_millis(500), client.getconsensusinfo());
                if let Ok(Ok(info)) = asked.await {
                    last_final_ms = Some(info.last_final_ms);
                }
            }
            samples.push(Sample { at_ms: hostio::now_ms(), node: i, last_final_ms });
        }
    }
    samples
}

/// For every `start N`, `resume N`, `restart N` (node N) and `heal` (every
/// node) in the fault log: how long until that node reported a transaction
/// finalized after the event. Returns the longest, and the nodes that never
/// did.
pub fn rejoin_times(
    events: &[loadgen::faults::Fault],
    samples: &[Sample],
    names: &[String],
) -> (Option<Duration>, Vec<String>) {
    let mut longest: Option<Duration> = None;
    let mut never = Vec::new();
    for event in events {
        let mut words = event.event.split_whitespace();
        let nodes: Vec<usize> = match (words.next(), words.next()) {
            (Some("start" | "resume" | "restart"), Some(node)) => {
                names.iter().position(|n| n == node).into_iter().collect()
            }
            (Some("heal"), _) => (0..names.len()).collect(),
            _ => continue,
        };
        for node in nodes {
            let back = samples.iter().find(|s| {
                s.node == node
                    && s.at_ms >= event.unix_ms
                    && s.last_final_ms.is_some_and(|f| f > event.unix_ms)
            });
            match back {
                Some(s) => {
                    let took = Duration::from_millis(s.at_ms - event.unix_ms);
                    longest = Some(longest.map_or(took, |l| l.max(took)));
                }
                None => {
                    if !never.contains(&names[node]) {
                        never.push(names[node].clone());
                    }
                }
            }
        }
    }
    (longest, never)
}

/// The table, as printed.
pub fn table(rows: &[Row], nodes: usize, elapsed: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TimeCoin chaos: {nodes} masternodes, real processes, under load; each scenario on a fresh cluster ({:.0} s in all)",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "{:<26} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>5} {:>5} {:>6} {:>9} {:>8} {:>8} {:>7}  verdict",
        "scenario",
        "tx/s",
        "faults",
        "sent",
        "final",
        "rej",
        "t/o",
        "lost",
        "conf",
        "blocks",
        "agree",
        "nofin_s",
        "noblk_s",
        "rejoin"
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    for row in rows {
        let (lost, conflicting, blocks, agree) = match &row.verify {
            Some(v) => (
                v.lost.to_string(),
                v.conflicting_final_pairs.to_string(),
                v.blocks_compared.to_string(),
                if v.block_disagreements == 0 { "yes".to_string() } else { "NO".to_string() },
            ),
            None => ("?".into(), "?".into(), "?".into(), "?".into()),
        };
        let _ = writeln!(
            out,
            "{:<26} {:>6.0} {:>6} {:>7} {:>7} {:>6} {:>6} {:>5} {:>5} {:>6} {:>9} {:>8} {:>8} {:>7}  {}",
            row.scenario,
            row.tps,
            row.faults,
            row.sent,
            row.final_,
            row.rejected,
            row.not_final,
            lost,
            conflicting,
            blocks,
            agree,
            opt(row.max_no_final_s),
            opt(row.max_no_block_s),
            opt(row.rejoin_s),
            match (row.ran, row.passed) {
                (false, _) => "NOT RUN",
                (true, true) => "pass",
                (true, false) => "FAIL",
            }
        );
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.passed).collect();
    for row in &failed {
        let what = if row.ran { "failed" } else { "was not run" };
        let _ = writeln!(out, "\n{} {what}:", row.scenario);
        for why in &row.why {
            let _ = writeln!(out, "  {why}");
        }
        let _ = writeln!(out, "  loadgen's report: {}", row.run_dir.join("report.html").display());
    }
    for row in rows {
        if let Some(account) = &row.account {
            let _ = writeln!(out, "{}: {account}", row.scenario);
        }
    }
    let _ = writeln!(out, "\nwhat each scenario proves:");
    for row in rows {
        let proves =
            FULL.iter().chain(SHORT).find(|s| s.name == row.scenario).map_or("", |s| s.proves);
        let _ = writeln!(out, "  {:<26} {proves}", row.scenario);
    }
    let _ = writeln!(
        out,
        "\nrej: refused by the node asked (kinds in the run's report: busy is load shed, unreachable a node that was down); t/o: accepted but never final (timed out);\nlost: final on some node but still not on every (checked) node 30 s after the run (loadgen verify); conf: conflicting pairs final on both sides;\nnofin_s / noblk_s: longest time without a new final transaction / block; rejoin: longest time from a restart, resume or heal until that node finalized again"
    );
    out
}

/// The Byzantine rows' throughput against the `byz-baseline` row's (final
/// transactions per second of load): below half fails the row.
pub fn judge_throughput(rows: &mut [Row]) {
    let rate = |row: &Row| {
        let load_s = FULL.iter().find(|s| s.name == row.scenario).map_or(0, |s| s.load_s);
        (load_s > 0).then(|| row.final_ as f64 / load_s as f64)
    };
    let baseline = rows.iter().find(|r| r.scenario == "byz-baseline" && r.passed).and_then(rate);
    for row in rows.iter_mut() {
        let byzantine = FULL.iter().any(|s| s.name == row.scenario && s.byzantine.is_some());
        if !byzantine || !row.ran {
            continue;
        }
        match (baseline, rate(row)) {
            (Some(base), Some(own)) if own < base / 2.0 => {
                row.why.push(format!(
                    "throughput {own:.0} tx/s is below half of the honest baseline's {base:.0} tx/s"
                ));
                row.passed = false;
            }
            (Some(_), Some(_)) => {}
            _ => {
                row.why.push("no passing byz-baseline row to compare its throughput with".into());
                row.passed = false;
            }
        }
    }
}

/// Fails with the table's failures when any row failed.
pub fn check(rows: &[Row]) -> anyhow::Result<()> {
    let failed: Vec<&str> =
        rows.iter().filter(|r| !r.passed).map(|r| r.scenario.as_str()).collect();
    if !failed.is_empty() {
        bail!("scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}
