//! `timectl doctor`: checks for what commonly breaks local clusters, each
//! finding with the command or step that fixes it. The checks live here;
//! `timectl` only renders the [`DoctorReport`].

use std::path::Path;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::control::{self, NodeState, Request};
use crate::health::ClusterView;
use crate::layout::Layout;
use crate::process;
use crate::status::Verdict;

/// One problem `doctor` found. [`Finding::problem`] says what is wrong and
/// [`Finding::fix`] what to do; serialized as `{"problem", "fix"}`.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// No `timed` binary to be found.
    NoTimed {
        /// Why (names where it looked).
        error: String,
    },
    /// A node runs another build of `timed` than the one on disk.
    StaleBinary {
        /// The cluster directory.
        dir: String,
        /// The node.
        node: String,
        /// The version it runs.
        running: String,
        /// `timed --version` of the binary on disk.
        on_disk: String,
    },
    /// The directory exists but holds no `cluster.json`.
    NotACluster {
        /// The directory.
        dir: String,
    },
    /// The agent and every node are gone without a `timectl down`.
    Vanished {
        /// The cluster directory.
        dir: String,
    },
    /// The agent is gone but nodes still run.
    AgentGone {
        /// The cluster directory.
        dir: String,
        /// True when its pid file is left behind.
        stale_pid: bool,
    },
    /// A port one of the agent's proxies needs is taken.
    PortInUse {
        /// The proxy's address.
        proxy: String,
        /// Dialling node.
        from: String,
        /// Node dialled.
        to: String,
    },
    /// A node is paused (SIGSTOP).
    Paused {
        /// The cluster directory.
        dir: String,
        /// The node.
        node: String,
    },
    /// Link faults are set.
    LinkFaults {
        /// The cluster directory.
        dir: String,
        /// `from→to faults` per faulty link.
        links: Vec<String>,
    },
    /// A node's pid file names a process that is not its `timed`.
    ForeignPid {
        /// The cluster directory.
        dir: String,
        /// The node.
        node: String,
        /// The pid in the file.
        pid: u32,
    },
    /// The status verdict is stalled, for this reason.
    Stalled {
        /// The cluster directory.
        dir: String,
        /// The status reason.
        reason: String,
    },
    /// A node's newest block is in the future.
    ClockSkew {
        /// The node.
        node: String,
        /// Seconds ahead of local time.
        ahead_s: f64,
    },
    /// Little disk left.
    LowDisk {
        /// Bytes free.
        free_bytes: u64,
    },
}

impl Finding {
    /// What is wrong.
    pub fn problem(&self) -> String {
        match self {
            Finding::NoTimed { error } => error.clone(),
            Finding::StaleBinary { node, running, on_disk, .. } => {
                format!("{node} runs timed {running} but the binary on disk is {on_disk}")
            }
            Finding::NotACluster { dir } => format!("{dir} exists but holds no cluster.json"),
            Finding::Vanished { .. } => "the agent and every node are gone without a `timectl down` (killed, or the machine restarted)".into(),
            Finding::AgentGone { stale_pid, .. } => format!(
                "the agent is not running{}, but nodes are: their exits are not recorded and links cannot be changed",
                if *stale_pid { " (a stale agent.pid is left)" } else { "" }
            ),
            Finding::PortInUse { proxy, from, to } => {
                format!("port {proxy} ({from}→{to} proxy) is in use by another process")
            }
            Finding::Paused { node, .. } => format!("{node} is paused (SIGSTOP)"),
            Finding::LinkFaults { links, .. } => {
                format!("link faults are on: {}", links.join("; "))
            }
            Finding::ForeignPid { node, pid, .. } => {
                format!("{node}'s pid file names pid {pid}, which is not its timed")
            }
            Finding::Stalled { reason, .. } => format!("no quorum / no progress: {reason}"),
            Finding::ClockSkew { node, ahead_s } => {
                format!("{node}'s last block is {ahead_s:.1} s in the future: clock skew")
            }
            Finding::LowDisk { free_bytes } => {
                format!("only {:.0} MB of disk free", *free_bytes as f64 / 1e6)
            }
        }
    }

    /// What fixes it.
    pub fn fix(&self) -> String {
        match self {
            Finding::NoTimed { .. } => "cargo build --workspace".into(),
            Finding::StaleBinary { dir, node, .. } | Finding::ForeignPid { dir, node, .. } => {
                format!("timectl --dir {dir} restart {node}")
            }
            Finding::NotACluster { .. } => "remove it or pass another --dir".into(),
            Finding::Vanished { dir } | Finding::AgentGone { dir, .. } => {
                format!("timectl --dir {dir} up")
            }
            Finding::PortInUse { .. } => {
                "stop that process, or `timectl down --wipe` and `timectl up` for new ports".into()
            }
            Finding::Paused { dir, node } => format!("timectl --dir {dir} resume {node}"),
            Finding::LinkFaults { dir, .. } => format!("timectl --dir {dir} heal"),
            Finding::Stalled { dir, .. } => {
                format!("timectl --dir {dir} status; timectl --dir {dir} logs")
            }
            Finding::ClockSkew { .. } => "check the system clock (timedatectl)".into(),
            Finding::LowDisk { .. } => "free disk space; each node's store grows with load".into(),
        }
    }
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire {
            problem: String,
            fix: String,
        }
        Wire { problem: self.problem(), fix: self.fix() }.serialize(serializer)
    }
}

/// What `doctor` found: notes (what is fine, and facts such as the `timed`
/// binary and free disk) and problems.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DoctorReport {
    /// What is fine.
    pub notes: Vec<String>,
    /// What is wrong, each with its fix.
    pub problems: Vec<Finding>,
}

impl DoctorReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The last event of the cluster's faults.log (`down` after a clean stop).
pub fn last_fault_event(layout: &Layout) -> Option<String> {
    let text = std::fs::read_to_string(layout.dir().join(control::FAULTS_FILE)).ok()?;
    let last: serde_json::Value = serde_json::from_str(text.lines().last()?).ok()?;
    last["event"].as_str().map(str::to_string)
}

/// Runs every check on the cluster in `layout` (which need not exist).
pub async fn check(layout: &Layout) -> DoctorReport {
    let mut report = DoctorReport::default();
    let dir = layout.dir().display().to_string();
    match crate::binaries::timed() {
        Ok(path) => {
            let version = std::process::Command::new(&path)
                .arg("--version")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
            report.notes.push(format!(
                "timed: {} ({})",
                path.display(),
                version.clone().unwrap_or_default()
            ));
            if let (Some(version), Ok(view)) = (version, ClusterView::load(layout)) {
                for name in view.names() {
                    if let Some(info) = crate::cluster::read_node_info(layout, &name)
                        && process::is_our_timed(info.pid, &layout.config(&name))
                        && !version.contains(&info.version)
                    {
                        report.problems.push(Finding::StaleBinary {
                            dir: dir.clone(),
                            node: name,
                            running: info.version,
                            on_disk: version.clone(),
                        });
                    }
                }
            }
        }
        Err(e) => report.problems.push(Finding::NoTimed { error: e.to_string() }),
    }
    if !layout.cluster_file().exists() {
        if layout.dir().exists() {
            report.problems.push(Finding::NotACluster { dir: dir.clone() });
        } else {
            report.notes.push(format!("no cluster in {dir} yet (timectl up creates one)"));
        }
    } else if let Ok(view) = ClusterView::load(layout) {
        check_cluster(layout, &view, &dir, &mut report).await;
    }
    match nix::sys::statvfs::statvfs(if layout.dir().exists() {
        layout.dir()
    } else {
        Path::new(".")
    }) {
        Ok(stat) => {
            let free = stat.blocks_available() * stat.fragment_size();
            report.notes.push(format!("disk: {:.1} GB free", free as f64 / 1e9));
            if free < 1 << 30 {
                report.problems.push(Finding::LowDisk { free_bytes: free });
            }
        }
        Err(e) => report.notes.push(format!("disk: cannot check ({e})")),
    }
    report
}

/// The checks of an existing cluster.
async fn check_cluster(layout: &Layout, view: &ClusterView, dir: &str, report: &mut DoctorReport) {
    let dir = dir.to_string();
    let agent = control::request(layout, &Request::Ping, Duration::from_secs(3)).await.ok();
    let running = view.names().into_iter().any(|name| {
        process::read_pid(layout, &name)
            .is_some_and(|pid| process::is_our_timed(pid, &layout.config(&name)))
    });
    if agent.is_none() {
        if !running && last_fault_event(layout).as_deref() == Some("down") {
            report.notes.push(format!(
                "the cluster is down (stopped by `timectl down`); `timectl --dir {dir} up` starts it"
            ));
        } else if !running {
            report.problems.push(Finding::Vanished { dir: dir.clone() });
        } else {
            let stale_pid = std::fs::read_to_string(layout.dir().join(control::PID_FILE)).is_ok();
            report.problems.push(Finding::AgentGone { dir: dir.clone(), stale_pid });
        }
        // Ports its proxies need: is someone else holding them?
        for link in &view.file.links {
            if std::net::TcpListener::bind(&link.proxy).is_err() {
                report.problems.push(Finding::PortInUse {
                    proxy: link.proxy.to_string(),
                    from: link.from.clone(),
                    to: link.to.clone(),
                });
            }
        }
    }
    if let Some(agent) = &agent {
        for node in agent.nodes.iter().filter(|n| n.state == NodeState::Paused) {
            report.problems.push(Finding::Paused { dir: dir.clone(), node: node.name.clone() });
        }
        if let Ok(links) = control::request(layout, &Request::Links, Duration::from_secs(3)).await {
            let faulty: Vec<String> = links
                .links
                .iter()
                .filter(|l| !l.faults.is_clear())
                .map(|l| format!("{}→{} {}", l.from, l.to, l.faults))
                .collect();
            if !faulty.is_empty() {
                report.problems.push(Finding::LinkFaults { dir: dir.clone(), links: faulty });
            }
        }
    }
    for name in view.names() {
        if let Some(pid) = process::read_pid(layout, &name)
            && !process::is_our_timed(pid, &layout.config(&name))
            && agent.as_ref().is_some_and(|a| {
                a.nodes.iter().any(|n| n.name == name && n.state != NodeState::Stopped)
            })
        {
            report.problems.push(Finding::ForeignPid { dir: dir.clone(), node: name, pid });
        }
    }
    let status =
        crate::status::collect(view, agent.as_ref().map(|a| a.nodes.as_slice()), &[]).await;
    // A stopped cluster is not stalled; and a reason already reported
    // above (the agent, a paused node) is not reported twice.
    if status.verdict == Verdict::Stalled && (agent.is_some() || running) {
        for reason in &status.reasons {
            let said = reason.starts_with("the agent is not running")
                || reason.ends_with("is down: paused");
            if !said {
                report.problems.push(Finding::Stalled { dir: dir.clone(), reason: reason.clone() });
            }
        }
    }
    // Clock: the newest block should not be far from local time.
    for n in &status.nodes {
        if let Some(since) = n.since_block_s
            && since < -2.0
        {
            report.problems.push(Finding::ClockSkew { node: n.name.clone(), ahead_s: -since });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_reads_as_its_problem_and_fix() {
        let paused = Finding::Paused { dir: "/c".into(), node: "node2".into() };
        assert_eq!(paused.problem(), "node2 is paused (SIGSTOP)");
        assert_eq!(paused.fix(), "timectl --dir /c resume node2");
        assert_eq!(
            serde_json::to_value(&paused).unwrap(),
            serde_json::json!({"problem": "node2 is paused (SIGSTOP)", "fix": "timectl --dir /c resume node2"})
        );
        let agent = Finding::AgentGone { dir: "/c".into(), stale_pid: true };
        assert!(
            agent.problem().starts_with("the agent is not running (a stale agent.pid is left)")
        );
        assert_eq!(agent.fix(), "timectl --dir /c up");
    }

    #[tokio::test]
    async fn an_empty_directory_is_no_cluster_and_a_missing_one_is_a_note() {
        let temp = tempfile::tempdir().expect("temp dir");
        let report = check(&Layout::new(temp.path())).await;
        assert!(
            report.problems.iter().any(|p| matches!(p, Finding::NotACluster { .. })),
            "{report:?}"
        );
        let report = check(&Layout::new(temp.path().join("absent"))).await;
        assert!(report.notes.iter().any(|n| n.starts_with("no cluster in ")), "{report:?}");
        assert!(!report.problems.iter().any(|p| matches!(p, Finding::NotACluster { .. })));
    }
}
