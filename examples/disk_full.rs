//! Disk full: one node's data dir on a small filesystem (a tmpfs mounted
//! over it, so mounting needs root; without it the row is not run, and
//! says so). Under load the filesystem fills: the node must stop with a
//! clear error and exit 4 while its reserve (`storage.min_free_mb`) is
//! still free, never corrupt what it wrote, and once space returns (the
//! filesystem grown) restart and lose nothing, which the checker then
//! verifies on every node, this one included.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use cluster::Layout;
use cluster::control::{EXITS_FILE, ExitRecord};

/// Room on the small filesystem beyond what the node's data already uses:
/// the node's reserve (`storage.min_free_mb`, 64 MiB by default) and 24 MiB
/// that the load fills within seconds at the chaos rate.
const HEADROOM_MB: u64 = 64 + 24;

/// The node's data dir on a small tmpfs; unmounted when dropped.
#[derive(Debug)]
pub struct SmallDisk {
    mount: PathBuf,
    node: String,
}

/// How the node stopped when its disk filled.
#[derive(Debug)]
pub struct Stop {
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// The log line that says why, if one names the full disk.
    pub reason: Option<String>,
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output =
        Command::new(program).args(args).output().with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// `timectl --dir DIR ARGS...`, failing with its stderr.
pub fn timectl(timectl: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(timectl)
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .with_context(|| format!("running {}", timectl.display()))?;
    if !output.status.success() {
        bail!("timectl {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

fn used_mb(path: &Path) -> anyhow::Result<u64> {
    let output = Command::new("du").arg("-sm").arg(path).output().context("running du")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("du -sm {}: {text}", path.display()))
}

impl SmallDisk {
    /// Stops `node`, mounts a tmpfs with [`HEADROOM_MB`] to spare over its
    /// data dir (the data copied onto it), and starts the node again.
    pub fn prepare(timectl_bin: &Path, dir: &Path, node: &str) -> anyhow::Result<SmallDisk> {
        let layout = Layout::new(dir);
        let data = layout.node_dir(node).join("data");
        timectl(timectl_bin, dir, &["stop", node])?;
        let size = used_mb(&data)? + HEADROOM_MB;
        let aside = layout.node_dir(node).join("data.before-mount");
        std::fs::rename(&data, &aside).context("moving the data dir aside")?;
        std::fs::create_dir(&data).context("creating the mount point")?;
        let size_arg = format!("size={size}m");
        if let Err(e) = run("mount", &["-t", "tmpfs", "-o", &size_arg, "tmpfs", &path(&data)]) {
            let _ = std::fs::remove_dir(&data);
            let _ = std::fs::rename(&aside, &data);
            bail!("cannot mount a small filesystem (needs root): {e}");
        }
        let disk = SmallDisk { mount: data.clone(), node: node.to_string() };
        run("cp", &["-a", &format!("{}/.", path(&aside)), &path(&data)])?;
        timectl(timectl_bin, dir, &["start", node])?;
        Ok(disk)
    }

    /// Waits up to `limit` for the node to exit on its own; how it stopped.
    pub async fn wait_stopped(&self, dir: &Path, since_ms: u64, limit: Duration) -> Option<Stop> {
        let layout = Layout::new(dir);
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let exits = std::fs::read_to_string(dir.join(EXITS_FILE)).unwrap_or_default();
            let exit = exits
                .lines()
                .filter_map(|l| serde_json::from_str::<ExitRecord>(l).ok())
                .find(|e| e.node == self.node && e.at_ms >= since_ms && e.cause == "itself");
            if let Some(exit) = exit {
                let log = std::fs::read_to_string(layout.log(&self.node)).unwrap_or_default();
                // The node's own line, which names the store and the cause.
                let reason = log
                    .lines()
                    .rev()
                    .find(|l| {
                        l.contains("persist failed")
                            && (l.contains("min_free_mb") || l.contains("No space left"))
                    })
                    .map(str::to_string);
                return Some(Stop { code: exit.code, reason });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }

    /// Space returns: the filesystem grows to 1 GiB.
    pub fn grow(&self) -> anyhow::Result<()> {
        run("mount", &["-o", "remount,size=1024m", &path(&self.mount)])
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a node still holding files does not keep it mounted.
        let _ = run("umount", &["-l", &path(&self.mount)]);
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}
