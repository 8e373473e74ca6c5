//! The nodes' logs as `timectl logs` shows them: the last lines of each,
//! merged by their leading timestamp, then what the nodes append (a log
//! that shrank, rotated or truncated, is read again from its start).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::time::Duration;

use crate::layout::Layout;

/// How often a follower should [`poll`](LogFollower::poll).
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// The leading bytes of a line that order a merge: the timestamp `timed`
/// starts each line with (`2025-01-02T03:04:05.678901Z`).
const TIMESTAMP_LEN: usize = 27;

/// One line of a node's log, without its newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The node.
    pub node: String,
    /// The line.
    pub line: String,
}

/// Where reading stopped in each log, to read on from there.
#[derive(Debug)]
pub struct LogFollower {
    layout: Layout,
    nodes: Vec<String>,
    offsets: Vec<u64>,
}

/// The last `lines` lines of each of `nodes`' logs, merged by timestamp (a
/// missing log has none), and a follower that reads on from their ends.
pub fn tail(layout: &Layout, nodes: Vec<String>, lines: usize) -> (Vec<LogLine>, LogFollower) {
    let mut merged: Vec<LogLine> = Vec::new();
    let mut offsets = Vec::new();
    for node in &nodes {
        let text = std::fs::read_to_string(layout.log(node)).unwrap_or_default();
        offsets.push(text.len() as u64);
        let all: Vec<&str> = text.lines().collect();
        for line in &all[all.len().saturating_sub(lines)..] {
            merged.push(LogLine { node: node.clone(), line: (*line).to_string() });
        }
    }
    merged.sort_by(|a, b| a.line.get(..TIMESTAMP_LEN).cmp(&b.line.get(..TIMESTAMP_LEN)));
    (merged, LogFollower { layout: layout.clone(), nodes, offsets })
}

impl LogFollower {
    /// The lines appended since the last read, node by node in the order
    /// given to [`tail`]. A log that is gone or unreadable is skipped until
    /// it is back; a log shorter than what was read is read from its start.
    pub fn poll(&mut self) -> Vec<LogLine> {
        let mut new = Vec::new();
        for (node, offset) in self.nodes.iter().zip(self.offsets.iter_mut()) {
            let Ok(mut file) = std::fs::File::open(self.layout.log(node)) else { continue };
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if len < *offset {
                *offset = 0;
            }
            if len == *offset || file.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                *offset += line.len() as u64;
                new.push(LogLine {
                    node: node.clone(),
                    line: line.trim_end_matches('\n').to_string(),
                });
                line.clear();
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(layout: &Layout, node: &str, text: &str) {
        let path = layout.log(node);
        std::fs::create_dir_all(path.parent().expect("a node directory")).expect("dir");
        std::fs::write(path, text).expect("log");
    }

    fn append(layout: &Layout, node: &str, text: &str) {
        use std::io::Write;
        let mut file =
            std::fs::OpenOptions::new().append(true).open(layout.log(node)).expect("open log");
        file.write_all(text.as_bytes()).expect("append");
    }

    #[test]
    fn the_last_lines_merge_by_timestamp_then_new_lines_follow() {
        let temp = tempfile::tempdir().expect("temp dir");
        let layout = Layout::new(temp.path());
        write(&layout, "node1", "2025-01-01T00:00:01.000000Z a1\n2025-01-01T00:00:03.000000Z a3\n");
        write(&layout, "node2", "2025-01-01T00:00:00.000000Z b0\n2025-01-01T00:00:02.000000Z b2\n");
        let nodes = vec!["node1".to_string(), "node2".to_string(), "node3".to_string()];
        let (lines, mut follower) = tail(&layout, nodes, 1);
        let text: Vec<(&str, &str)> =
            lines.iter().map(|l| (l.node.as_str(), &l.line[28..])).collect();
        assert_eq!(text, [("node2", "b2"), ("node1", "a3")]);
        assert!(follower.poll().is_empty(), "nothing appended yet");

        append(&layout, "node2", "2025-01-01T00:00:04.000000Z b4\npartial");
        write(&layout, "node3", "c\n");
        let new = follower.poll();
        let text: Vec<(&str, &str)> =
            new.iter().map(|l| (l.node.as_str(), l.line.as_str())).collect();
        assert_eq!(
            text,
            [("node2", "2025-01-01T00:00:04.000000Z b4"), ("node2", "partial"), ("node3", "c")]
        );
        // A truncated log is read again from its start.
        write(&layout, "node1", "x\n");
        let new = follower.poll();
        assert_eq!(new, [LogLine { node: "node1".into(), line: "x".into() }]);
    }
}
