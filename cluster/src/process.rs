//! Starting `timed` processes and signalling them, safely: a pid is
//! signalled only after checking that it is a `timed` running this node's
//! config, so a stale pid file never kills another process.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::error::ClusterError;
use crate::layout::Layout;

/// Where a node is to listen again: the ports of its previous run, for
/// each listener its config leaves to the system (port 0, as the cluster's
/// configs do), so its RPC URL and P2P address survive a restart. A port
/// the config names itself is left to the config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Listen {
    /// P2P.
    pub p2p: Option<SocketAddr>,
    /// JSON-RPC.
    pub rpc: Option<SocketAddr>,
}

impl Listen {
    /// From the node's last `node.json` and its config; `None` when there
    /// is nothing to keep.
    pub fn previous(layout: &Layout, name: &str) -> Option<Listen> {
        let info = crate::cluster::read_node_info(layout, name)?;
        let config: toml::Table =
            std::fs::read_to_string(layout.config(name)).ok()?.parse().ok()?;
        let ephemeral = |section: &str| {
            config
                .get(section)
                .and_then(|s| s.get("listen_address"))
                .and_then(toml::Value::as_str)
                .and_then(|text| text.parse::<SocketAddr>().ok())
                .is_some_and(|address| address.port() == 0)
        };
        let listen = Listen {
            p2p: ephemeral("network").then(|| info.p2p_address.parse().ok()).flatten(),
            rpc: ephemeral("rpc")
                .then(|| info.rpc_url.strip_prefix("http://")?.parse().ok())
                .flatten(),
        };
        (listen != Listen::default()).then_some(listen)
    }
}

/// Starts `timed --config <node>/config.toml` for node `name` (with
/// `--byzantine MODE` when the node's `byzantine` file names one, and
/// `--p2p-listen` / `--rpc-listen` for `listen`), logging to
/// `<node>/timed.log` (appended) and writing `<node>/timed.pid`. The node
/// runs in its own process group, so a Ctrl-C meant for the launcher does
/// not reach it.
pub fn spawn_timed(
    timed: &Path,
    layout: &Layout,
    name: &str,
    listen: Option<Listen>,
) -> Result<Child, ClusterError> {
    let log_path = layout.log(name);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| ClusterError::Io { path: log_path.clone(), source })?;
    let err =
        log.try_clone().map_err(|source| ClusterError::Io { path: log_path.clone(), source })?;
    // node.json of a previous run must not be mistaken for this one's.
    let _ = std::fs::remove_file(layout.node_json(name));
    let mut command = Command::new(timed);
    command.arg("--config").arg(layout.config(name));
    if let Ok(mode) = std::fs::read_to_string(layout.byzantine_file(name)) {
        command.arg("--byzantine").arg(mode.trim());
    }
    let listen = listen.unwrap_or_default();
    if let Some(p2p) = listen.p2p {
        command.arg("--p2p-listen").arg(p2p.to_string());
    }
    if let Some(rpc) = listen.rpc {
        command.arg("--rpc-listen").arg(rpc.to_string());
    }
    command
        .current_dir(layout.node_dir(name))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let child =
        command.spawn().map_err(|source| ClusterError::Spawn { node: name.to_string(), source })?;
    if let Some(pid) = child.id() {
        let pid_file = layout.pid_file(name);
        std::fs::write(&pid_file, format!("{pid}\n"))
            .map_err(|source| ClusterError::Io { path: pid_file, source })?;
    }
    Ok(child)
}

/// The pid in a node's pid file, if any.
pub fn read_pid(layout: &Layout, name: &str) -> Option<u32> {
    std::fs::read_to_string(layout.pid_file(name)).ok()?.trim().parse().ok()
}

/// True when `pid` is alive and is a `timed` started with `config`.
pub fn is_our_timed(pid: u32, config: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let Some(program) = args.first() else { return false };
    use std::os::unix::ffi::OsStrExt;
    let is_timed = Path::new(std::ffi::OsStr::from_bytes(program)).file_name()
        == Some(std::ffi::OsStr::new("timed"));
    let config = config.as_os_str().as_encoded_bytes();
    is_timed && args.contains(&config) && !is_zombie(pid)
}

/// True while a process `pid` exists (any process: this does not check
/// what it is; [`is_our_timed`] does).
pub fn pid_exists(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|raw| {
        raw > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None).is_ok()
    })
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// The signals the cluster sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Ask to stop (flush and exit 0).
    Term,
    /// Kill at once.
    Kill,
    /// Pause.
    Stop,
    /// Resume.
    Cont,
}

impl Signal {
    fn nix(self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal as S;
        match self {
            Signal::Term => S::SIGTERM,
            Signal::Kill => S::SIGKILL,
            Signal::Stop => S::SIGSTOP,
            Signal::Cont => S::SIGCONT,
        }
    }
}

/// Signals `pid` after checking it is node `name`'s `timed`.
pub fn signal_node(
    layout: &Layout,
    name: &str,
    pid: u32,
    signal: Signal,
) -> Result<(), ClusterError> {
    if !is_our_timed(pid, &layout.config(name)) {
        return Err(ClusterError::Process(format!(
            "pid {pid} is not {name}'s timed (stale pid file?); not signalling it"
        )));
    }
    let raw =
        i32::try_from(pid).map_err(|_| ClusterError::Process(format!("pid {pid} out of range")))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), signal.nix())
        .map_err(|e| ClusterError::Process(format!("cannot signal {name} (pid {pid}): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE_ID: &str = "8f0cbb2a0d1e9a3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901a2b";

    fn node_json(p2p: &str, rpc: &str) -> String {
        serde_json::json!({
            "version": "0", "pid": 1, "node_id": NODE_ID, "network": "dev", "chain_id": 1,
            "genesis_hash": NODE_ID, "p2p_address": p2p, "rpc_url": rpc,
        })
        .to_string()
    }

    /// A node directory holding this config and node.json (None: absent).
    fn layout(config: &str, info: Option<&str>) -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.data_dir("node1")).expect("data dir");
        std::fs::write(layout.config("node1"), config).expect("config");
        if let Some(info) = info {
            std::fs::write(layout.node_json("node1"), info).expect("node.json");
        }
        (dir, layout)
    }

    #[test]
    fn this_process_exists_and_no_pid_zero_or_out_of_range_does() {
        assert!(pid_exists(std::process::id()));
        assert!(!pid_exists(0));
        assert!(!pid_exists(u32::MAX));
    }

    const EPHEMERAL: &str =
        "[network]\nlisten_address = \"127.0.0.1:0\"\n[rpc]\nlisten_address = \"127.0.0.1:0\"\n";

    #[test]
    fn a_restart_keeps_the_ports_of_the_last_run() {
        let info = node_json("127.0.0.1:41000", "http://127.0.0.1:41001");
        let (_dir, layout) = layout(EPHEMERAL, Some(&info));
        let kept = Listen::previous(&layout, "node1").expect("ports to keep");
        assert_eq!(kept.p2p, Some("127.0.0.1:41000".parse().unwrap()));
        assert_eq!(kept.rpc, Some("127.0.0.1:41001".parse().unwrap()));
    }

    #[test]
    fn a_damaged_node_json_or_config_means_new_ports_not_a_failure() {
        let good = node_json("127.0.0.1:41000", "http://127.0.0.1:41001");
        let cases: [(&str, Option<&str>); 6] = [
            (EPHEMERAL, None),
            (EPHEMERAL, Some("{\"version\": ")),
            (EPHEMERAL, Some("\u{0}\u{ff}binary")),
            (EPHEMERAL, Some(&node_json("not an address", "ftp://x"))),
            ("[network\nlisten_address = ", Some(&good)),
            // Fixed ports in the config: nothing to keep.
            (
                "[network]\nlisten_address = \"127.0.0.1:24100\"\n[rpc]\nlisten_address = \"127.0.0.1:24101\"\n",
                Some(&good),
            ),
        ];
        for (config, info) in cases {
            let (_dir, layout) = layout(config, info);
            assert_eq!(Listen::previous(&layout, "node1"), None, "{config:?} {info:?}");
        }
    }
}
