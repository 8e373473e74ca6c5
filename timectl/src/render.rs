//! Output: the tables, lines and JSON objects the commands print for the
//! typed results of the `cluster` library, and `up`'s spinner.

use std::io::IsTerminal;
use std::time::Duration;

use cluster::ClusterView;
use cluster::control::{AgentNode, LinkState, NodeState};
use cluster::doctor::DoctorReport;
use cluster::fault_run::{StepOutcome, StepReport};
use cluster::faults::{self, Step};
use cluster::fund::FundReceipt;
use cluster::status::{ClusterStatus, NodeStatus, Verdict};
use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::ask_failure;
use crate::{EXIT_FAILED, Failure, failure};

/// A spinner on stderr with `message`; hidden for `--json` and when stderr
/// is not a terminal.
pub(crate) fn spinner(message: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(80));
    bar
}

/// `up --json`'s nodes.
pub(crate) fn node_rows(view: &ClusterView, nodes: &[AgentNode]) -> Vec<serde_json::Value> {
    view.file
        .nodes
        .iter()
        .map(|entry| {
            let info = cluster::read_node_info(&view.layout, &entry.name);
            let agent = nodes.iter().find(|n| n.name == entry.name);
            serde_json::json!({
                "node": entry.name,
                "id": entry.id,
                "rpc_url": info.as_ref().map(|i| i.rpc_url.clone()),
                "p2p_address": info.as_ref().map(|i| i.p2p_address.clone()),
                "pid": agent.and_then(|a| a.pid),
                "state": agent.map(|a| a.state),
            })
        })
        .collect()
}

/// `up`'s table of nodes.
pub(crate) fn print_node_table(view: &ClusterView, nodes: &[AgentNode]) {
    let mut table = client::table::table(&["NODE", "ID", "RPC", "P2P", "PID", "STATE"], &[4]);
    for entry in &view.file.nodes {
        let info = cluster::read_node_info(&view.layout, &entry.name);
        let agent = nodes.iter().find(|n| n.name == entry.name);
        table.add_row([
            entry.name.clone(),
            entry.id.short(),
            info.as_ref().map_or("-".to_string(), |i| i.rpc_url.clone()),
            info.as_ref().map_or("-".to_string(), |i| i.p2p_address.clone()),
            agent.and_then(|a| a.pid).map_or("-".to_string(), |p| p.to_string()),
            agent.map_or(NodeState::Unknown, |a| a.state).to_string(),
        ]);
    }
    client::out!("{}", client::table::render(&table, ""));
}

/// The NOTE column: why a node does not answer, else its last exit (for a
/// node running again: that it restarted, which is also why its FINAL
/// count, kept since it started, is below its peers').
fn note(n: &NodeStatus) -> String {
    match (&n.error, &n.last_exit) {
        (Some(error), _) => error.clone(),
        (None, Some(exit)) if n.alive => format!("restarted after {exit}"),
        (None, Some(exit)) => exit.clone(),
        (None, None) => String::new(),
    }
}

/// `status`'s table, verdict and reasons.
pub(crate) fn print_status(status: &ClusterStatus) {
    let mut table = client::table::table(
        &[
            "NODE", "STATE", "HEIGHT", "ROUND", "PEERS", "MEMPL", "FINAL", "LASTFIN", "LASTBLK",
            "RSS", "NOTE",
        ],
        &[2, 3, 4, 5, 6, 7, 8, 9],
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for n in &status.nodes {
        table.add_row([
            n.name.clone(),
            if n.alive { "up".to_string() } else { n.state.to_string() },
            opt(n.height.map(|v| v.to_string())),
            opt(n.round.map(|v| v.to_string())),
            opt(n.peers.map(|v| v.to_string())),
            opt(n.mempool.map(|v| v.to_string())),
            opt(n.final_count.map(|v| v.to_string())),
            opt(n.since_final_s.map(|v| format!("{v:.1}s"))),
            opt(n.since_block_s.map(|v| format!("{v:.1}s"))),
            opt(n.rss_bytes.map(|v| format!("{:.1}M", v as f64 / 1048576.0))),
            note(n),
        ]);
    }
    client::out!("{}", client::table::render(&table, ""));
    let verdict = match status.verdict {
        Verdict::Healthy => "healthy",
        Verdict::Degraded => "degraded",
        Verdict::Stalled => "stalled",
    };
    client::outln!("\n{verdict}{}", if status.agent { "" } else { " (agent not running)" });
    for reason in &status.reasons {
        client::outln!("  - {reason}");
    }
}

/// One log line as `logs` prints it: prefixed with its node, or with
/// `--json` one JSON object: the line's own object with `node` added when
/// the node logs JSON (`logging.format = "json"`), else `{node, line}`.
pub(crate) fn log_line(name: &str, line: &str, json: bool) -> String {
    if !json {
        return format!("{name:<7}| {line}");
    }
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(mut fields)) => {
            fields.insert("node".into(), name.into());
            serde_json::Value::Object(fields).to_string()
        }
        _ => serde_json::json!({ "node": name, "line": line }).to_string(),
    }
}

/// A node after a node action: `node3 is running, pid 123 (last exit: …)`.
pub(crate) fn print_node(node: Option<&AgentNode>, json: bool) -> Result<(), Failure> {
    if json {
        client::outln!(
            "{}",
            serde_json::to_string(&node).map_err(|e| failure(EXIT_FAILED, e.into()))?
        );
    } else if let Some(node) = node {
        let exit =
            node.last_exit.as_ref().map(|e| format!(" (last exit: {e})")).unwrap_or_default();
        client::outln!(
            "{} is {}{}{}",
            node.name,
            node.state,
            node.pid.map(|p| format!(", pid {p}")).unwrap_or_default(),
            exit
        );
    }
    Ok(())
}

/// The links a link action left faulty (every link with `--json`).
pub(crate) fn print_links(links: &[LinkState], json: bool) -> Result<(), Failure> {
    if json {
        client::outln!(
            "{}",
            serde_json::to_string(links).map_err(|e| failure(EXIT_FAILED, e.into()))?
        );
        return Ok(());
    }
    let faulty: Vec<&LinkState> = links.iter().filter(|l| !l.faults.is_clear()).collect();
    if faulty.is_empty() {
        client::outln!("all {} links clear", links.len());
    }
    for link in faulty {
        client::outln!("{} -> {}: {}", link.from, link.to, link.faults);
    }
    Ok(())
}

/// A fault schedule before it runs.
pub(crate) fn print_schedule(steps: &[Step], seed: u64) {
    client::outln!("schedule ({} steps, seed {seed}):", steps.len());
    for step in steps {
        client::outln!("  {}", faults::describe(step));
    }
}

/// A step of a fault schedule as it ran (`--json`: the steps done as JSON
/// objects, failures as text).
pub(crate) fn print_step(report: StepReport, json: bool) {
    let elapsed = report.elapsed.as_secs_f64();
    let step = faults::describe(&report.step);
    match report.outcome {
        StepOutcome::NoProposer => {
            client::outln!("[{elapsed:>7.2}s] {step} FAILED: no node named the proposer")
        }
        StepOutcome::Done if json => client::outln!(
            "{}",
            serde_json::json!({"at_ms": report.at_ms, "step": step, "ok": true})
        ),
        StepOutcome::Done => client::outln!("[{elapsed:>7.2}s] {step}"),
        StepOutcome::Failed(e) => {
            let failed = ask_failure(e);
            client::outln!("[{elapsed:>7.2}s] {step} FAILED: {:#}", failed.error)
        }
    }
}

/// `fund`'s txid (stdout) and the state it reached (stderr), or with
/// `--json` both in one object.
pub(crate) fn print_fund_receipt(receipt: &FundReceipt, json: bool) {
    let state = match &receipt.outcome {
        client::finality::WaitOutcome::Settled(s) => s.state.to_string(),
        client::finality::WaitOutcome::TimedOut { last_state } => {
            format!("not final yet ({last_state:?})")
        }
    };
    if json {
        client::outln!("{}", serde_json::json!({"txid": receipt.txid, "state": state}));
    } else {
        client::outln!("{}", receipt.txid);
        eprintln!("{state}");
    }
}

/// `doctor`'s findings: each problem with its fix, and the notes.
pub(crate) fn print_doctor(report: &DoctorReport, json: bool) {
    if json {
        let value = serde_json::json!({
            "ok": report.ok(),
            "problems": report.problems,
            "notes": report.notes,
        });
        client::outln!("{value}");
    } else {
        for note in &report.notes {
            client::outln!("  ok   {note}");
        }
        for finding in &report.problems {
            client::outln!("  FAIL {}\n       fix: {}", finding.problem(), finding.fix());
        }
        client::outln!("{}", if report.ok() { "no problems found" } else { "problems found" });
    }
}
