//! What operators are given, checked with the tools they would use:
//!
//! - `/metrics` passes `packaging/check_metrics.py` (prometheus-client's
//!   parser and the Prometheus naming rules), and the checker fails on a
//!   bad exposition;
//! - `packaging/systemd/timed.service` passes `systemd-analyze verify`, and
//!   a broken copy does not;
//! - `packaging/container/entrypoint.sh` refuses to start without a volume,
//!   a config or the key file it names, and starts `timed` when all are
//!   there; the image builds where podman is installed.
//!
//! The outside tools come from `make test` (`TIMECOIN_PYTHON`, a venv with
//! `packaging/test-requirements.txt`; `TIMECOIN_REQUIRE_TOOLS=1` makes a
//! missing tool a failure); a plain `cargo test` skips what it lacks, saying
//! so. Temp dirs only, ports chosen by the OS, waits for conditions.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::RpcClient;
use client::rpc::read_node_info;
use client::wallet::{Chain, Payment, Wallet};
use cluster::testing::{ClusterLock, exclusive};
use e2e::{on_path, python_tools, required_tool};
use protocol::genesis::{Allocation, GenesisMasternode};
use protocol::rpc::{NodeInfoFile, TxState};
use protocol::{
    Address, Amount, ChainId, ConsensusParams, Genesis, Network, NodeId, SecretKey, Tier,
};
use tokio::process::{Child, Command};

/// The longest one condition is waited for (a loaded two-core machine).
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn timed_binary() -> PathBuf {
    cluster::binaries::timed().unwrap_or_else(|e| panic!("{e}"))
}

fn lock() -> ClusterLock {
    exclusive().expect("the cluster test lock")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_else(|e| format!("({e})"));
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs `command` to completion within [`WAIT`].
async fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).kill_on_drop(true);
    tokio::time::timeout(WAIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} still running after {WAIT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Spawns `command` with its output appended to `log`, and waits for the
/// `node.json` this very process writes in `data_dir` (a node started
/// through `exec` keeps the pid).
async fn start_node(mut command: Command, data_dir: &Path, log: &Path) -> (Child, NodeInfoFile) {
    let out = std::fs::File::create(log).expect("create the node log");
    let err = out.try_clone().expect("clone the log handle");
    let mut child = command
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the node");
    let pid = child.id().expect("a running child has a pid");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(info) = read_node_info(data_dir)
            && info.pid == pid
        {
            return (child, info);
        }
        if let Some(status) = child.try_wait().expect("poll the child") {
            panic!("the node exited ({status}) before writing node.json\n{}", tail(log));
        }
        assert!(Instant::now() < deadline, "no node.json within {WAIT:?}\n{}", tail(log));
        tokio::time::sleep(POLL).await;
    }
}

// ---------------------------------------------------------------------------
// /metrics and packaging/check_metrics.py
// ---------------------------------------------------------------------------

fn check_metrics_script() -> PathBuf {
    repo().join("packaging/check_metrics.py")
}

/// Pays one dev-wallet coin and waits until the payment is in a block, so
/// the transaction, latency and block families have samples.
async fn commit_a_payment(rpc: &RpcClient, info: &NodeInfoFile) {
    let dev = info.dev_wallet.as_ref().expect("node.json of --dev names the dev wallet");
    let wallet = Wallet::load(Network::Dev, &[&dev.key_file]).expect("the dev wallet");
    let chain = Chain::from(&rpc.getgenesis().await.expect("getgenesis"));
    let coins = rpc.listunspent(&wallet.addresses()).await.expect("listunspent");
    let to = Address::from_public_key(&SecretKey::from_seed([0x51; 32]).public(), Network::Dev);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let payment = Payment {
        to,
        amount: Amount::from_sat(protocol::amount::SAT_PER_TIME),
        change: wallet.addresses()[0],
        timestamp_ms: now_ms,
    };
    let tx = wallet.pay(&chain, &payment, &coins).expect("the dev wallet pays");
    let txid = rpc.sendrawtransaction(&tx).await.expect("sendrawtransaction").txid;
    let deadline = Instant::now() + WAIT;
    loop {
        let finality = rpc.gettransactionfinality(&txid).await;
        if finality.as_ref().is_ok_and(|f| f.state == TxState::Committed) {
            return;
        }
        assert!(Instant::now() < deadline, "{txid} not committed in {WAIT:?}: {finality:?}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_metrics_pass_the_prometheus_checker() {
    let Some(python) = python_tools() else { return };
    let _lock = lock();
    let dir = tempfile::tempdir().expect("temp dir");
    // The credential-free metrics listener, as an operator's scraper uses it.
    let config = dir.path().join("timed.toml");
    std::fs::write(&config, "[metrics]\nlisten_address = \"127.0.0.1:0\"\n").expect("config");
    let data_dir = dir.path().join("data");
    let log = dir.path().join("timed.log");
    let mut command = Command::new(timed_binary());
    command.arg("--dev").arg("--config").arg(&config).arg("--data-dir").arg(&data_dir).args([
        "--rpc-listen",
        "127.0.0.1:0",
        "--p2p-listen",
        "127.0.0.1:0",
    ]);
    let (_node, info) = start_node(command, &data_dir, &log).await;
    let rpc = RpcClient::from_data_dir(&data_dir).expect("an RPC client from node.json");
    commit_a_payment(&rpc, &info).await;
    let _ = rpc.call("nosuchmethod", serde_json::json!([])).await; // an RPC error, counted

    let url = format!("{}/metrics", info.metrics_url.as_deref().expect("node.json: metrics_url"));
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let response = http.get(&url).send().await.expect("GET /metrics");
    assert!(response.status().is_success(), "GET {url}: HTTP {}", response.status());
    let body = response.text().await.expect("the metrics text");
    // The families the checker must see with samples, not just declared.
    for series in ["timed_transactions_total{", "timed_finality_latency_seconds_bucket{"] {
        assert!(body.contains(series), "no {series} sample in /metrics:\n{body}");
    }

    // The script fetches the URL itself, as an operator runs it, and
    // parses by the Content-Type timed declares (OpenMetrics).
    let checked = run(Command::new(&python).arg(check_metrics_script()).arg(&url)).await;
    assert!(
        checked.status.success(),
        "check_metrics.py {url} found problems ({}):\n{}\n/metrics was:\n{body}\nnode log:\n{}",
        checked.status,
        text(&checked.stderr),
        tail(&log)
    );
    let stdout = text(&checked.stdout);
    assert!(stdout.contains("families ok (openmetrics)"), "check_metrics.py said: {stdout}");
}

#[tokio::test]
async fn the_metrics_checker_fails_on_a_bad_exposition() {
    let Some(python) = python_tools() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    // (what, the exposition, whether it passes, names stderr must give)
    let cases: &[(&str, &str, bool, &[&str])] = &[
        (
            "Prometheus text: no HELP, a counter without _total, milliseconds",
            "# TYPE bad_requests counter\nbad_requests 3\n\
             # HELP good_requests_total Requests.\n# TYPE good_requests_total counter\n\
             good_requests_total 1\n\
             # HELP bad_flush_ms Flush time.\n# TYPE bad_flush_ms gauge\nbad_flush_ms 5\n",
            false,
            &["bad_requests: no # HELP line", "bad_requests: a counter", "bad_flush_ms: unit 'ms'"],
        ),
        (
            "OpenMetrics: no HELP, a unit not last, a time without _seconds",
            "# TYPE bad_reads counter\nbad_reads_total 1\n\
             # HELP bad_bytes_read Read.\n# TYPE bad_bytes_read gauge\nbad_bytes_read 1\n\
             # HELP bad_block_latency Latency.\n# TYPE bad_block_latency gauge\n\
             bad_block_latency 1\n# EOF\n",
            false,
            &["bad_reads: no # HELP line", "bad_bytes_read: the unit", "bad_block_latency:"],
        ),
        (
            "OpenMetrics: a counter sample without _total does not even parse",
            "# HELP bad_total_less Things.\n# TYPE bad_total_less counter\n\
             bad_total_less 1\n# EOF\n",
            false,
            &["bad_total_less"],
        ),
        (
            "both formats, named by the rules: passes",
            "# HELP ok_requests_total Requests.\n# TYPE ok_requests_total counter\n\
             ok_requests_total 2\n\
             # HELP ok_uptime_seconds Uptime.\n# TYPE ok_uptime_seconds gauge\n\
             ok_uptime_seconds 9\n# HELP ok_peers Peers.\n# TYPE ok_peers gauge\nok_peers 3\n",
            true,
            &[],
        ),
    ];
    for (i, (what, exposition, passes, names)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("case{i}.txt"));
        std::fs::write(&file, exposition).expect("write the exposition");
        let out = run(Command::new(&python).arg(check_metrics_script()).arg(&file)).await;
        let stderr = text(&out.stderr);
        if *passes {
            assert!(out.status.success(), "{what}: {} {stderr}", out.status);
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{what}: exit {}; stderr: {stderr}", out.status);
        for name in *names {
            assert!(stderr.contains(name), "{what}: {name:?} not named; stderr: {stderr}");
        }
    }
}

// ---------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------

const UNIT: &str = "packaging/systemd/timed.service";
const EXEC_START: &str = "ExecStart=/usr/local/bin/timed ";

/// `systemd-analyze verify` on `unit` (the text of timed.service), in a
/// temp dir as `timed.service`: Ok, or every problem it reported about
/// this unit. `None` when systemd-analyze is not installed (and not
/// required).
///
/// The copy's ExecStart runs the timed this test run built: verify refuses
/// a unit whose ExecStart binary does not exist ("Command
/// /usr/local/bin/timed is not executable"), and this machine has not
/// installed timed there.
fn verify_unit(unit: &str) -> Option<Result<(), String>> {
    let analyze = required_tool("systemd-analyze", "apt-get install systemd")?;
    assert_eq!(unit.matches(EXEC_START).count(), 1, "timed.service has one {EXEC_START}...");
    let timed = format!("ExecStart={} ", timed_binary().display());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("timed.service");
    std::fs::write(&path, unit.replace(EXEC_START, &timed)).expect("write the unit");
    // --recursive-errors=no: problems of the units it depends on (this
    // machine's network-online.target, multi-user.target) are not ours.
    let out = std::process::Command::new(analyze)
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(&path)
        .env("SYSTEMD_LOG_COLOR", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run systemd-analyze");
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    // Unknown keys, values that do not parse and the like are reported
    // only as "/path/timed.service:LINE: ..., ignoring" with exit 0, so any
    // line about this unit is a problem; lines about other units are not.
    // (systemd 252 prints nothing for User=timed, a user this machine does
    // not have: verify does not look users up.)
    let ours: Vec<&str> = report.lines().filter(|line| line.contains("timed.service")).collect();
    Some(if out.status.success() && ours.is_empty() {
        Ok(())
    } else {
        Err(format!("systemd-analyze verify: {}\n{report}", out.status))
    })
}

fn unit_text() -> String {
    std::fs::read_to_string(repo().join(UNIT)).expect("read timed.service")
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    if let Some(verdict) = verify_unit(&unit_text()) {
        verdict.unwrap_or_else(|e| panic!("{UNIT}: {e}"));
    }
}

#[test]
fn systemd_analyze_catches_a_broken_unit() {
    let unit = unit_text();
    for (from, to, named) in [
        ("\nRestart=on-failure", "\nRestrat=on-failure", "Restrat"),
        ("\nType=notify", "\nType=notfy", "notfy"),
        ("\n[Service]", "\n[Servce]", "Servce"),
    ] {
        assert!(unit.contains(from), "timed.service has no {from:?}");
        let broken = unit.replacen(from, to, 1);
        let Some(verdict) = verify_unit(&broken) else { return };
        match verdict {
            Ok(()) => panic!("{to:?} passed systemd-analyze verify"),
            Err(e) => assert!(e.contains(named), "{to:?}: {named} not named: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The container: entrypoint.sh and the image
// ---------------------------------------------------------------------------

fn entrypoint() -> PathBuf {
    repo().join("packaging/container/entrypoint.sh")
}

/// A one-masternode chain's files in `dir`: genesis.json, masternode.key
/// (unless `with_key` is false) and timed.toml naming them, listening on
/// ports the OS picks.
fn node_files(dir: &Path, with_key: bool) -> PathBuf {
    let key = SecretKey::from_seed([0x52; 32]);
    let reward = Address::from_public_key(&key.public(), Network::Dev);
    let genesis = Genesis {
        chain_id: ChainId(0xC0DE_0052),
        network: Network::Dev,
        timestamp_ms: 1_700_000_000_000,
        committee: vec![GenesisMasternode {
            id: NodeId::from(key.public()),
            p2p_address: "127.0.0.1:0".into(),
            tier: Tier::Free,
            reward_address: reward,
        }],
        min_masternodes: 1,
        params: ConsensusParams::default(),
        allocations: vec![Allocation { address: reward, value: Amount::from_sat(1_000_000) }],
    };
    genesis.validate().expect("the test genesis is valid");
    let json = serde_json::to_vec_pretty(&genesis).expect("genesis JSON");
    std::fs::write(dir.join("genesis.json"), json).expect("write genesis.json");
    if with_key {
        client::wallet::write_key_file(&dir.join("masternode.key"), &key, Network::Dev)
            .expect("write masternode.key");
    }
    let config = dir.join("timed.toml");
    std::fs::write(
        &config,
        "[node]\ngenesis_file = \"genesis.json\"\n\
         [network]\nlisten_address = \"127.0.0.1:0\"\n\
         [rpc]\nlisten_address = \"127.0.0.1:0\"\n\
         [masternode]\nkey_file = \"masternode.key\"\n",
    )
    .expect("write timed.toml");
    config
}

/// `sh entrypoint.sh ARGS` with the image's paths pointed at `config` and
/// `data_dir` (and `env` added).
fn entrypoint_command(config: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg(entrypoint())
        .env("TIMED_CONFIG", config)
        .env("TIMED_DATA_DIR", data_dir)
        .env("TIMED_BIN", timed_binary())
        .env_remove("TIMED_ALLOW_EPHEMERAL")
        .envs(env.iter().copied());
    command
}

#[tokio::test]
async fn the_entrypoint_refuses_without_a_volume_a_config_or_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).expect("mkdir etc");
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).expect("mkdir data");
    let ephemeral = [("TIMED_ALLOW_EPHEMERAL", "1")];
    let config = etc.join("timed.toml");
    let data = data_dir.display().to_string();
    let conf = config.display().to_string();

    let refused = |out: &Output, code: i32, what: &str, named: &[&str]| {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{what}: {}; stderr: {stderr}", out.status);
        assert!(stderr.contains("refusing to start"), "{what}: {stderr}");
        for name in named {
            assert!(stderr.contains(name), "{what}: {name:?} not named: {stderr}");
        }
    };

    // A temp dir is not a mount point (this process's real mountinfo): no
    // volume, no start (exit 4).
    let out = run(&mut entrypoint_command(&config, &data_dir, &[])).await;
    refused(&out, 4, "no volume", &[&data, "not a mounted volume", "TIMED_ALLOW_EPHEMERAL=1"]);

    // The anonymous volume podman and docker make for the image's VOLUME
    // when none is given is refused too (`--rm` deletes it); a named one is
    // a volume, and the missing config is next. Their mounts as
    // /proc/self/mountinfo shows them inside the container, at the data
    // dir's path with symlinks resolved (as the kernel and the entrypoint
    // give it).
    let real = std::fs::canonicalize(&data_dir).expect("canonical data dir");
    let real = real.display();
    let mounted = |root: &str| {
        let mountinfo = dir.path().join("mountinfo");
        let line = format!(
            "1 0 0:1 / / rw - overlay overlay rw\n1311 1 8:1 {root} {real} rw,relatime - ext4 /dev/sda1 rw\n"
        );
        std::fs::write(&mountinfo, line).expect("write mountinfo");
        mountinfo.display().to_string()
    };
    let anonymous =
        mounted(&format!("/var/lib/containers/storage/volumes/{}/_data", "3f".repeat(32)));
    let out =
        run(&mut entrypoint_command(&config, &data_dir, &[("TIMED_MOUNTINFO", &anonymous)])).await;
    refused(
        &out,
        4,
        "an anonymous volume",
        &[&data, "anonymous volume", "TIMED_ALLOW_EPHEMERAL=1"],
    );
    let named = mounted("/var/lib/containers/storage/volumes/timed-data/_data");
    let out =
        run(&mut entrypoint_command(&config, &data_dir, &[("TIMED_MOUNTINFO", &named)])).await;
    refused(&out, 3, "a named volume, no config", &[&conf, "no config file"]);

    // With the override, the missing config is next (exit 3).
    let out = run(&mut entrypoint_command(&config, &data_dir, &ephemeral)).await;
    refused(&out, 3, "no config", &[&conf, "no config file"]);

    // A config whose key file is missing: timed --check-config only warns
    // (it may not exist yet on a host); the container refuses.
    node_files(&etc, false);
    let key = etc.join("masternode.key").display().to_string();
    let out = run(&mut entrypoint_command(&config, &data_dir, &ephemeral)).await;
    refused(&out, 3, "no key file", &["masternode.key_file", &key]);

    // A config with a misspelled key: timed's own message, exit 3.
    let good = std::fs::read_to_string(&config).expect("read timed.toml");
    std::fs::write(&config, good.replace("key_file", "keyfile")).expect("write timed.toml");
    let out = run(&mut entrypoint_command(&config, &data_dir, &ephemeral)).await;
    refused(&out, 3, "a misspelled key", &["--check-config", "masternode.keyfile"]);

    // --generate-config runs timed directly: no volume or config needed.
    let out = run(entrypoint_command(&config, &data_dir, &[]).arg("--generate-config")).await;
    assert!(out.status.success(), "--generate-config: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("[masternode]"), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entrypoint_starts_timed_when_everything_is_in_place() {
    let _lock = lock();
    let dir = tempfile::tempdir().expect("temp dir");
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).expect("mkdir etc");
    let config = node_files(&etc, true);
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).expect("mkdir data");
    let log = dir.path().join("timed.log");
    // No mount point in a temp dir: the documented override.
    let command = entrypoint_command(&config, &data_dir, &[("TIMED_ALLOW_EPHEMERAL", "1")]);
    // node.json with the shell's pid: the entrypoint exec'd timed, which
    // serves with this config and data dir.
    let (mut node, info) = start_node(command, &data_dir, &log).await;
    let rpc = RpcClient::from_data_dir(&data_dir).expect("an RPC client from node.json");
    let genesis = rpc.getgenesis().await.expect("getgenesis");
    assert_eq!(genesis.chain_id, ChainId(0xC0DE_0052), "not the mounted genesis");
    assert!(info.dev_wallet.is_none(), "a dev chain, not the config's");
    node.start_kill().expect("SIGKILL timed");
    let _ = tokio::time::timeout(WAIT, node.wait()).await;
}

/// Where podman is installed: the image builds, refuses to start without a
/// volume, and runs `timed --version`. It pulls its base images and the
/// crates, so it needs those registries.
#[test]
fn the_container_image_builds_with_podman() {
    let Some(podman) = on_path("podman") else {
        eprintln!("skipped: podman not installed");
        return;
    };
    let tag = format!("localhost/timecoin-timed-test:{}", std::process::id());
    let podman_run = |args: &[&str]| {
        let mut command = std::process::Command::new(&podman);
        command.args(args).stdin(Stdio::null());
        let out = command.output().unwrap_or_else(|e| panic!("podman {args:?}: {e}"));
        (out.status, text(&out.stdout), text(&out.stderr))
    };
    let root = repo();
    let containerfile = root.join("packaging/container/Containerfile");
    let (status, _, stderr) = podman_run(&[
        "build",
        "--format",
        "docker",
        "-f",
        containerfile.to_str().expect("a UTF-8 repo path"),
        "-t",
        &tag,
        root.to_str().expect("a UTF-8 repo path"),
    ]);
    assert!(status.success(), "podman build: {status}\n{stderr}");
    let (status, stdout, stderr) = podman_run(&["run", "--rm", &tag, "--version"]);
    assert!(status.success() && stdout.starts_with("timed "), "--version: {stdout}{stderr}");
    // No volume given: podman mounts an anonymous one for VOLUME, refused.
    let (status, _, stderr) = podman_run(&["run", "--rm", &tag]);
    assert_eq!(status.code(), Some(4), "started without a volume: {stderr}");
    assert!(stderr.contains("anonymous volume"), "{stderr}");
    // A named volume passes; no config is mounted, which is refused next.
    let volume = format!("timecoin-timed-test-{}", std::process::id());
    let (status, _, stderr) =
        podman_run(&["run", "--rm", "-v", &format!("{volume}:/var/lib/timed"), &tag]);
    let _ = podman_run(&["volume", "rm", "--force", &volume]);
    assert_eq!(status.code(), Some(3), "started without a config: {stderr}");
    assert!(stderr.contains("no config file at /etc/timed/timed.toml"), "{stderr}");
    let (status, stdout, _) =
        podman_run(&["image", "inspect", "--format", "{{.Config.Healthcheck.Test}}", &tag]);
    assert!(status.success() && stdout.contains("time-cli"), "no HEALTHCHECK: {stdout}");
    let _ = podman_run(&["rmi", "--force", &tag]);
}
