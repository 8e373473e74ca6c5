//! The cluster's fault log (`<cluster dir>/faults.log`, written by
//! `timectl`'s fault commands): one JSON object per line,
//! `{"at_ms": <unix ms>, "event": "<text>"}`. The report marks the faults
//! that fall within the run. A missing file means no faults.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One fault, at a time relative to the run's origin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// When, ms since the run's origin (negative: before the run).
    pub at_ms: i64,
    /// When, ms since the Unix epoch.
    pub unix_ms: u64,
    /// What.
    pub event: String,
}

#[derive(Deserialize)]
struct Line {
    at_ms: u64,
    event: String,
}

/// Reads the faults of `path` between `start_unix_ms` and `end_unix_ms`
/// (lines that do not parse are skipped).
pub fn read(path: &Path, start_unix_ms: u64, end_unix_ms: u64) -> Vec<Fault> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines()
        .filter_map(|line| serde_json::from_str::<Line>(line.trim()).ok())
        .filter(|l| l.at_ms >= start_unix_ms && l.at_ms <= end_unix_ms)
        .map(|l| Fault {
            at_ms: l.at_ms as i64 - start_unix_ms as i64,
            unix_ms: l.at_ms,
            event: l.event,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_in_the_window_are_read_and_bad_lines_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults.log");
        std::fs::write(
            &path,
            "{\"at_ms\": 1000, \"event\": \"before\"}\nnot json\n{\"at_ms\": 5000, \"event\": \"kill node3\"}\n{\"at_ms\": 99000, \"event\": \"after\"}\n",
        )
        .unwrap();
        let faults = read(&path, 2_000, 10_000);
        assert_eq!(
            faults,
            vec![Fault { at_ms: 3_000, unix_ms: 5_000, event: "kill node3".into() }]
        );
        assert!(read(&dir.path().join("missing"), 0, u64::MAX).is_empty());
    }
}
