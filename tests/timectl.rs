//! `timectl` end to end: the real binary, its agent, real `timed`
//! processes, in a temp dir.

// Test helpers: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::wallet::Wallet;
use cluster::layout::Layout;
use cluster::testing::exclusive;
use cluster::{ClusterView, binaries};
use protocol::rpc::TxState;
use protocol::{Amount, Network, OutPoint, TxId, TxOut};

const WAIT: Duration = Duration::from_secs(30);

fn timectl(dir: &Path, args: &[&str]) -> Output {
    let exe = binaries::find("timectl").expect("timectl binary");
    std::process::Command::new(exe).arg("--dir").arg(dir).args(args).output().expect("run timectl")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = timectl(dir, args);
    assert!(
        out.status.success(),
        "timectl {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn status(dir: &Path) -> serde_json::Value {
    let out = timectl(dir, &["--json", "status"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn node_field<'a>(status: &'a serde_json::Value, node: &str, field: &str) -> &'a serde_json::Value {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .map(|n| &n[field])
        .unwrap()
}

async fn wait_for(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A one-input spend of the `k`-th coin of pool key `key`, to itself.
async fn spend(view: &ClusterView, wallet: &Wallet, key: usize, k: usize) -> protocol::Transaction {
    let address = wallet.addresses()[key];
    let coins = view.rpc(0).unwrap().listunspent(&[address]).await.unwrap();
    let coin = &coins[k];
    let params = &view.genesis().params;
    let fee = params.required_fee(1, Amount::from_sat(coin.value_sat)).unwrap().sat();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    wallet
        .build_and_sign(
            view.genesis().chain_id,
            &[(
                OutPoint { txid: coin.txid, vout: coin.vout },
                TxOut { value: Amount::from_sat(coin.value_sat), address: address.payload },
            )],
            vec![TxOut { value: Amount::from_sat(coin.value_sat - fee), address: address.payload }],
            now,
        )
        .unwrap()
}

/// `None`: the node does not know `txid`. A node that does not answer fails
/// the test ("not final" is never concluded from a dead node).
async fn state(view: &ClusterView, i: usize, txid: &TxId) -> Option<TxState> {
    let answer = view.rpc(i).unwrap().gettransactionfinality(txid).await.map(|f| f.state);
    e2e::known_state(answer).unwrap_or_else(|e| panic!("node{} did not answer: {e}", i + 1))
}

async fn is_final(view: &ClusterView, i: usize, txid: &TxId) -> bool {
    state(view, i, txid).await.is_some_and(TxState::is_final)
}

async fn height(view: &ClusterView, i: usize) -> u64 {
    view.rpc(i).unwrap().getblockcount().await.unwrap_or(0)
}

fn pid_alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
}

/// The pids of the cluster's nodes (from `node.json`) and of its agent.
fn cluster_pids(view: &ClusterView) -> Vec<u64> {
    view.names()
        .iter()
        .filter_map(|n| cluster::read_node_info(view.layout(), n).map(|i| u64::from(i.pid)))
        .chain(
            std::fs::read_to_string(view.layout().dir().join("agent.pid"))
                .ok()
                .and_then(|s| s.trim().parse().ok()),
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timectl_up_status_faults_partitions_and_down() {
    let _lock = exclusive().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c4");
    let dir = dir.as_path();

    // Bad input first: a node count of 0 and a foreign directory.
    let zero = timectl(dir, &["up", "--nodes", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{}", String::from_utf8_lossy(&zero.stderr));
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let refused = timectl(&foreign, &["up", "--nodes", "4"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(foreign.join("notes.txt").exists());

    // up with a relative --dir (as `timectl up` with the default `.timecluster`
    // is), and up again (idempotent).
    let exe = binaries::find("timectl").unwrap();
    let first = std::process::Command::new(exe)
        .current_dir(tmp.path())
        .args(["--dir", "c4", "--json", "up", "--nodes", "4"])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let up: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(up["nodes"].as_array().unwrap().len(), 4);
    ok(dir, &["up"]);
    let s = status(dir);
    assert_eq!(s["verdict"], "healthy", "{s}");
    assert!(
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["alive"] == true && n["rpc_url"].is_string())
    );

    let view = ClusterView::load(&Layout::new(dir)).unwrap();
    let keys: Vec<_> =
        view.file().pool.key_files.iter().map(|f| view.layout().resolve(f)).collect();
    let wallet = Wallet::load(Network::Dev, &keys).unwrap();

    // kill and start.
    ok(dir, &["kill", "node3"]);
    let s = status(dir);
    assert_eq!(node_field(&s, "node3", "alive"), false);
    assert_eq!(s["verdict"], "degraded");
    assert_eq!(node_field(&s, "node1", "alive"), true);
    ok(dir, &["start", "node3"]);
    let tip = height(&view, 0).await;
    wait_for("node3 back at the tip", async || height(&view, 2).await >= tip).await;

    // pause and resume.
    ok(dir, &["pause", "node2"]);
    assert_eq!(node_field(&status(dir), "node2", "state"), "paused");
    ok(dir, &["resume", "node2"]);
    wait_for("node2 answering again", async || node_field(&status(dir), "node2", "alive") == true)
        .await;

    // 1 | 3: the three keep finalizing, the one does not; after heal it catches up.
    ok(dir, &["partition", "node1", "/", "node2,node3,node4"]);
    let majority = spend(&view, &wallet, 0, 0).await;
    let majority_id = view.rpc(1).unwrap().sendrawtransaction(&majority).await.unwrap().txid;
    let lonely = spend(&view, &wallet, 1, 0).await;
    let lonely_id = view.rpc(0).unwrap().sendrawtransaction(&lonely).await.unwrap().txid;
    for i in 1..4 {
        wait_for("final on the majority side", async || is_final(&view, i, &majority_id).await)
            .await;
    }
    assert!(!is_final(&view, 0, &lonely_id).await, "the lone node finalized alone");
    assert!(
        !is_final(&view, 0, &majority_id).await,
        "the lone node saw the majority's finality through a cut link"
    );
    ok(dir, &["heal"]);
    for i in 0..4 {
        wait_for("everything final everywhere after heal", async || {
            is_final(&view, i, &majority_id).await && is_final(&view, i, &lonely_id).await
        })
        .await;
    }
    let tip = height(&view, 1).await;
    wait_for("node1 caught up", async || height(&view, 0).await >= tip).await;

    // 2 | 2: nothing finalizes (q = 3); after heal, what was sent finalizes.
    ok(dir, &["partition", "node1,node2", "/", "node3,node4"]);
    let left = spend(&view, &wallet, 2, 0).await;
    let right = spend(&view, &wallet, 3, 0).await;
    let left_id = view.rpc(0).unwrap().sendrawtransaction(&left).await.unwrap().txid;
    let right_id = view.rpc(2).unwrap().sendrawtransaction(&right).await.unwrap().txid;
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        for i in 0..4 {
            assert!(
                !is_final(&view, i, &left_id).await && !is_final(&view, i, &right_id).await,
                "finality without a quorum"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ok(dir, &["heal"]);
    for i in 0..4 {
        wait_for("transactions sent during the 2|2 partition final after heal", async || {
            is_final(&view, i, &left_id).await && is_final(&view, i, &right_id).await
        })
        .await;
    }

    // One cut link: node1 and node2 stop hearing each other directly; the
    // rest of the mesh still carries everything, so finality goes on.
    ok(dir, &["cut", "node1-node2"]);
    let reasons = status(dir)["reasons"].to_string();
    assert!(reasons.contains("2 link(s) have faults set"), "{reasons}");
    let around = spend(&view, &wallet, 2, 1).await;
    let around_id = view.rpc(0).unwrap().sendrawtransaction(&around).await.unwrap().txid;
    for i in 0..4 {
        wait_for("final everywhere with one link cut", async || {
            is_final(&view, i, &around_id).await
        })
        .await;
    }
    ok(dir, &["heal"]);

    // The fault log has what happened, with timestamps.
    let faults = std::fs::read_to_string(dir.join("faults.log")).unwrap();
    assert!(
        faults.contains("kill node3")
            && faults.contains("partition node1 / node2,node3,node4")
            && faults.contains("cut")
            && faults.contains("heal"),
        "{faults}"
    );

    // down leaves no process.
    let pids = cluster_pids(&view);
    assert_eq!(pids.len(), 5, "four nodes and the agent");
    ok(dir, &["down"]);
    for pid in pids {
        assert!(!pid_alive(pid), "pid {pid} still running after down");
    }
    let after = timectl(dir, &["status"]);
    assert_ne!(after.status.code(), Some(0), "status of a cluster that is down is not healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_cluster_dir_stops_its_agent_and_nodes() {
    let _lock = exclusive().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c1");
    ok(&dir, &["up", "--nodes", "1"]);
    let pids = cluster_pids(&ClusterView::load(&Layout::new(&dir)).unwrap());
    assert_eq!(pids.len(), 2, "one node and the agent");
    std::fs::remove_dir_all(&dir).unwrap();
    wait_for("the agent and its node to exit", async || !pids.iter().any(|p| pid_alive(*p))).await;
}

/// `down` is answered before the agent exits: the agent used to break out
/// of its loop as soon as it had handed the answer to the connection, and
/// the process ended before the answer was written about half the time
/// ("the agent answered something unreadable", exit 1, with the cluster
/// down). Ten rounds make a regression show (without the fix, 1 run in 2 failed here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_is_always_answered() {
    let _lock = exclusive().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c1");
    for _ in 0..10 {
        ok(&dir, &["up", "--nodes", "1"]);
        let out = ok(&dir, &["down"]);
        assert!(out.contains("is down"), "{out}");
    }
}

/// `completions SHELL` of the three interactive tools prints a script that
/// bash accepts and that registers the tool's completion, naming its
/// subcommands; an unknown shell is a usage error (exit 2).
#[test]
fn every_tool_prints_completions_bash_can_load() {
    for (tool, subcommand) in
        [("timectl", "partition"), ("loadgen", "sweep"), ("time-cli", "getblockchaininfo")]
    {
        let exe = binaries::find(tool).expect("binary");
        let script =
            std::process::Command::new(&exe).args(["completions", "bash"]).output().unwrap();
        assert!(script.status.success(), "{tool} completions bash: {}", script.status);
        let text = String::from_utf8(script.stdout).unwrap();
        assert!(text.contains(subcommand), "{tool}'s script does not name {subcommand}");
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("completion.bash");
        std::fs::write(&file, &text).unwrap();
        let loaded = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("source {} && complete -p {tool}", file.display()))
            .output()
            .unwrap();
        assert!(
            loaded.status.success() && String::from_utf8_lossy(&loaded.stdout).contains(tool),
            "bash did not load {tool}'s completions: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let bad = std::process::Command::new(&exe).args(["completions", "tcsh"]).output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{tool} completions tcsh");
    }
}

/// `--log-format json`: the agent's log and loadgen's diagnostics are JSON
/// lines, and `timectl --json logs` prints one JSON object per line naming
/// its node.
#[test]
fn log_format_json_and_logs_json() {
    let _lock = exclusive().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c1");
    ok(&dir, &["--log-format", "json", "up", "--nodes", "1"]);
    let agent_log = std::fs::read_to_string(dir.join("agent.log")).unwrap();
    assert!(agent_log.lines().count() >= 1, "empty agent.log");
    for line in agent_log.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("agent.log line is not JSON ({e}): {line}"));
        assert!(entry["level"].is_string() && entry["fields"].is_object(), "{line}");
    }

    let logs = ok(&dir, &["--json", "logs", "node1", "--lines", "5"]);
    assert!(logs.lines().count() >= 1, "no log lines");
    for line in logs.lines() {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("logs --json line is not JSON ({e}): {line}"));
        assert_eq!(entry["node"], "node1", "{line}");
        assert!(entry["line"].is_string(), "{line}");
    }

    let loadgen = binaries::find("loadgen").expect("loadgen binary");
    let run = std::process::Command::new(loadgen)
        .args(["--dir".as_ref(), dir.as_os_str()])
        .args(["--tps", "10", "--duration", "1s", "--log-format", "json"])
        .env("RUST_LOG", "loadgen=trace")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "loadgen: {stderr}");
    let diagnostics: Vec<&str> = stderr.lines().filter(|l| l.contains("\"level\"")).collect();
    assert!(!diagnostics.is_empty(), "no JSON diagnostics from loadgen at trace level: {stderr}");
    for line in diagnostics {
        let entry: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("loadgen diagnostic is not JSON ({e}): {line}"));
        assert!(entry["target"].as_str().is_some_and(|t| t.starts_with("loadgen")), "{line}");
    }
    ok(&dir, &["down"]);
}

/// A node restarted (`restart`, `stop` + `start`, `down` + `up`) keeps its
/// RPC URL and P2P address; when its old port was taken meanwhile it starts
/// on a new one rather than not at all.
#[test]
fn a_restarted_node_keeps_its_ports_unless_they_were_taken() {
    let _lock = exclusive().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c1");
    let addresses = || {
        let info = cluster::read_node_info(&Layout::new(&dir), "node1").expect("node.json");
        (info.rpc_url, info.p2p_address)
    };
    ok(&dir, &["up", "--nodes", "1"]);
    let first = addresses();
    ok(&dir, &["restart", "node1"]);
    assert_eq!(addresses(), first, "after restart");
    let table = ok(&dir, &["status"]);
    assert!(table.contains("restarted after exit 0"), "NOTE of a restarted node:\n{table}");
    ok(&dir, &["stop", "node1"]);
    ok(&dir, &["start", "node1"]);
    assert_eq!(addresses(), first, "after stop and start");
    ok(&dir, &["down"]);
    ok(&dir, &["up"]);
    assert_eq!(addresses(), first, "after down and up");

    ok(&dir, &["stop", "node1"]);
    let rpc_port = first.0.strip_prefix("http://").unwrap();
    let squatter = std::net::TcpListener::bind(rpc_port).expect("the stopped node's port");
    ok(&dir, &["start", "node1"]);
    let moved = addresses();
    assert_ne!(moved.0, first.0, "the node cannot have bound a port held by another");
    drop(squatter);
    let health = status(&dir);
    assert_eq!(node_field(&health, "node1", "state"), "running", "{health}");

    // A port the config names is the config's to choose, not the last run's.
    let chosen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = Layout::new(&dir).config("node1");
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = text.replacen(
        "[rpc]\nlisten_address = \"127.0.0.1:0\"",
        &format!("[rpc]\nlisten_address = \"{chosen}\""),
        1,
    );
    assert_ne!(edited, text, "the cluster's config has an [rpc] listen_address of port 0");
    std::fs::write(&config, edited).unwrap();
    ok(&dir, &["restart", "node1"]);
    assert_eq!(addresses().0, format!("http://{chosen}"), "the config's port");
    assert_eq!(addresses().1, moved.1, "the P2P port, still the last run's");
    ok(&dir, &["down"]);
}

/// `loadgen merge`: two generators side by side with disjoint keys merge
/// into one report whose counts add up and whose latency extremes are the
/// generators' own (histograms add exactly); runs that shared keys, or a
/// directory without histograms, are refused naming the problem.
#[test]
fn loadgen_merge_adds_two_generators_exactly() {
    let _lock = exclusive().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c1");
    ok(&dir, &["up", "--nodes", "1"]);
    let loadgen = binaries::find("loadgen").expect("loadgen binary");
    let run = |keys: &str, out: &Path| {
        std::process::Command::new(&loadgen)
            .args(["--dir".as_ref(), dir.as_os_str(), "--out".as_ref(), out.as_os_str()])
            .args(["--tps", "20", "--duration", "2s", "--quiet", "--keys", keys])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let runs = [run("1/2", &a), run("2/2", &b)];
    for child in runs {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "loadgen: {}", String::from_utf8_lossy(&out.stderr));
    }
    let summary = |path: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path.join("summary.json")).unwrap()).unwrap()
    };
    let merged_dir = tmp.path().join("merged");
    let merge = std::process::Command::new(&loadgen)
        .args(["merge".as_ref(), a.as_os_str(), b.as_os_str()])
        .args(["--out".as_ref(), merged_dir.as_os_str()])
        .output()
        .unwrap();
    assert!(merge.status.success(), "merge: {}", String::from_utf8_lossy(&merge.stderr));
    let text = String::from_utf8_lossy(&merge.stdout);
    assert!(text.contains("2 generators") && text.contains("final_first"), "{text}");
    let (sa, sb, m) = (summary(&a), summary(&b), summary(&merged_dir));
    let n = |doc: &serde_json::Value, name: &str| doc[name].as_f64().unwrap();
    for name in ["sent", "final", "offered_tps"] {
        assert_eq!(n(&m, name), n(&sa, name) + n(&sb, name), "{name} adds up");
    }
    assert!(n(&m, "sent") >= 60.0, "both generators sent");
    for stage in ["accepted", "final_first"] {
        let max = format!("{stage}.max");
        assert_eq!(n(&m, &max), n(&sa, &max).max(n(&sb, &max)), "{max} of the summed histogram");
        let p50 = format!("{stage}.p50");
        let (lo, hi) = (n(&sa, &p50).min(n(&sb, &p50)), n(&sa, &p50).max(n(&sb, &p50)));
        assert!((lo..=hi).contains(&n(&m, &p50)), "{p50} {} outside {lo}..{hi}", n(&m, &p50));
    }
    assert_eq!(m["merged_from"].as_array().unwrap().len(), 2);

    let same_keys = std::process::Command::new(&loadgen)
        .args(["merge".as_ref(), a.as_os_str(), a.as_os_str()])
        .output()
        .unwrap();
    assert!(!same_keys.status.success());
    assert!(String::from_utf8_lossy(&same_keys.stderr).contains("both used --keys 1/2"));
    std::fs::remove_file(b.join("histograms.hlog")).unwrap();
    let no_histograms = std::process::Command::new(&loadgen)
        .args(["merge".as_ref(), a.as_os_str(), b.as_os_str()])
        .output()
        .unwrap();
    assert!(!no_histograms.status.success());
    assert!(String::from_utf8_lossy(&no_histograms.stderr).contains("histograms.hlog"));

    // compare: a run against itself is no regression; against a copy whose
    // p99 doubled it is (exit 5, naming the metric) unless the threshold
    // is above +100 %.
    let compare = |b: &Path, threshold: &str| {
        std::process::Command::new(&loadgen)
            .args(["compare".as_ref(), a.as_os_str(), b.as_os_str()])
            .args(["--threshold", threshold])
            .output()
            .unwrap()
    };
    assert_eq!(compare(&a, "0").status.code(), Some(0));
    let slower = tmp.path().join("slower");
    std::fs::create_dir_all(&slower).unwrap();
    let mut doc = sa.clone();
    doc["final_first.p99"] = serde_json::json!(2.0 * n(&sa, "final_first.p99"));
    std::fs::write(slower.join("summary.json"), doc.to_string()).unwrap();
    let regressed = compare(&slower, "5");
    assert_eq!(regressed.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&regressed.stderr).contains("final_first.p99"));
    assert_eq!(compare(&slower, "150").status.code(), Some(0));
    ok(&dir, &["down"]);
}

/// `status --watch` into a pipe refreshes without terminal escape codes.
#[test]
fn status_watch_into_a_pipe_writes_no_escape_codes() {
    use std::io::BufRead;
    let _lock = exclusive().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c1");
    ok(&dir, &["up", "--nodes", "1"]);
    let exe = binaries::find("timectl").expect("timectl binary");
    let mut watch = std::process::Command::new(exe)
        .arg("--dir")
        .arg(&dir)
        .args(["status", "--watch"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| l.starts_with("NODE")).count() < 2 {
        let line = lines.next().expect("status --watch ended").unwrap();
        seen.push(line);
    }
    watch.kill().unwrap();
    watch.wait().unwrap();
    let text = seen.join("\n");
    assert!(!text.contains('\x1b'), "escape codes in a pipe:\n{text:?}");
    ok(&dir, &["down"]);
}

/// `timectl faults --help` shows the schedule format one step per line
/// (clap used to reflow the example into a paragraph).
#[test]
fn faults_help_shows_the_schedule_format_line_by_line() {
    for args in [&["faults", "--help"][..], &["faults", "run", "--help"][..]] {
        let exe = binaries::find("timectl").expect("timectl binary");
        let help =
            std::process::Command::new(exe).args(args).env("COLUMNS", "100").output().unwrap();
        let text = String::from_utf8_lossy(&help.stdout);
        for step in ["at 15s start node3", "at 60s heal", "at 40s partition node1,node2 / node3"] {
            assert!(
                text.lines().any(|line| line.trim_start().starts_with(step)),
                "{args:?}: no line starts with {step:?}:\n{text}"
            );
        }
    }
}

/// `timectl doctor` names a paused node and active link faults with their
/// fixes (resume, heal), reports nothing twice, and takes a cluster stopped
/// by `down` for what it is: one note saying how to start it, no alarm.
#[test]
fn doctor_names_paused_nodes_and_link_faults_and_knows_a_cluster_that_is_down() {
    let _lock = exclusive().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c2");
    let doctor = || {
        let out = timectl(&dir, &["--json", "doctor"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), report)
    };
    ok(&dir, &["up", "--nodes", "2"]);
    ok(&dir, &["pause", "node2"]);
    ok(&dir, &["cut", "node1-node2"]);
    let (code, report) = doctor();
    assert_eq!(code, Some(5), "{report}");
    let problems = report["problems"].as_array().unwrap();
    let fixes: Vec<&str> = problems.iter().map(|p| p["fix"].as_str().unwrap()).collect();
    assert!(fixes.iter().any(|f| f.ends_with("resume node2")), "{report}");
    assert!(fixes.iter().any(|f| f.ends_with("heal")), "{report}");
    let texts: Vec<&str> = problems.iter().map(|p| p["problem"].as_str().unwrap()).collect();
    assert_eq!(texts.iter().filter(|t| t.contains("paused")).count(), 1, "{report}");

    ok(&dir, &["resume", "node2"]);
    ok(&dir, &["heal"]);
    ok(&dir, &["down"]);
    let (code, report) = doctor();
    assert_eq!(code, Some(0), "a cluster stopped by down is no problem: {report}");
    let notes: Vec<&str> =
        report["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.contains("is down") && n.contains("up")), "{report}");
}

/// Every program prints its man page (roff, clap_mangen): a `.TH` header
/// with its name and its options or subcommands in the body.
#[test]
fn every_program_prints_its_man_page() {
    for (tool, args, mentions) in [
        ("timed", &["--man"][..], "generate\\-config"),
        ("timectl", &["man"][..], "partition"),
        ("loadgen", &["man"][..], "sweep"),
        ("time-cli", &["man"][..], "getblockchaininfo"),
    ] {
        let exe = binaries::find(tool).expect("binary");
        let out = std::process::Command::new(&exe).args(args).output().unwrap();
        assert!(out.status.success(), "{tool} {args:?}: {}", out.status);
        let page = String::from_utf8(out.stdout).unwrap();
        assert!(page.lines().any(|l| l.starts_with(&format!(".TH {tool} 1"))), "{tool}: {page}");
        assert!(page.contains(mentions), "{tool}'s page does not mention {mentions}");
    }
}
