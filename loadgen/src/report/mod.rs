//! What a run leaves behind: the summary on stdout, and with `--out DIR`
//! the files below, all written from one [`RunOutcome`].
//!
//! | file | module |
//! |---|---|
//! | the human summary (stdout) | [`summary`] |
//! | `summary.json`: every metric, the accounting, health, safety, metadata | [`json`] |
//! | `per_second.csv`, `history.csv` | [`csv`] |
//! | `accepted.hgrm`, `final_first.hgrm`, `final_all.hgrm` | [`hgrm`] |
//! | `interval.hlog` (HdrHistogram interval log, one histogram per second) | [`hlog`] |
//! | `histograms.hlog` (each stage's histogram of the whole run) | [`hlog`] |
//! | `report.html` (self-contained: inline SVG, no network) | [`html`] |

pub mod csv;
pub mod hgrm;
pub mod hlog;
pub mod html;
pub mod json;
pub mod summary;

use std::path::Path;

use crate::error::LoadgenError;
use crate::metrics::STAGES;
use crate::outcome::RunOutcome;

/// The files `--out` writes, in the order written.
pub const FILES: [&str; 10] = [
    "summary.json",
    "per_second.csv",
    "history.csv",
    "accepted.hgrm",
    "final_first.hgrm",
    "final_all.hgrm",
    "interval.hlog",
    "histograms.hlog",
    "report.html",
    "summary.txt",
];

fn write(path: &Path, contents: &[u8]) -> Result<(), LoadgenError> {
    std::fs::write(path, contents).map_err(|e| LoadgenError::output(path, e))
}

/// Writes every file of `outcome` into `dir` (created if needed).
pub fn write_all(outcome: &RunOutcome, dir: &Path) -> Result<(), LoadgenError> {
    std::fs::create_dir_all(dir).map_err(|e| LoadgenError::output(dir, e))?;
    let summary = json::summary(outcome);
    let text = serde_json::to_vec_pretty(&summary).map_err(|e| LoadgenError::output(dir, e))?;
    write(&dir.join("summary.json"), &text)?;
    write(&dir.join("per_second.csv"), csv::per_second(outcome).as_bytes())?;
    let history = dir.join("history.csv");
    let file = std::fs::File::create(&history).map_err(|e| LoadgenError::output(&history, e))?;
    csv::history(outcome, std::io::BufWriter::new(file))
        .map_err(|e| LoadgenError::output(&history, e))?;
    for stage in STAGES {
        if let Some(h) = outcome.recorder.stage(stage) {
            write(&dir.join(format!("{stage}.hgrm")), hgrm::distribution(h).as_bytes())?;
        }
    }
    let hlog = dir.join("interval.hlog");
    let log = hlog::interval_log(outcome).map_err(|e| LoadgenError::output(&hlog, e))?;
    write(&hlog, &log)?;
    let stages = dir.join("histograms.hlog");
    let log = hlog::stage_log(outcome).map_err(|e| LoadgenError::output(&stages, e))?;
    write(&stages, &log)?;
    write(&dir.join("report.html"), html::report(outcome).as_bytes())?;
    write(&dir.join("summary.txt"), summary::text(outcome).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::Accounting;
    use crate::faults::Fault;
    use crate::health::{HealthReport, HealthSample, NodeSample};
    use crate::metadata;
    use crate::metrics::{METRICS, Metrics, PERCENTILES};
    use crate::outcome::RunOutcome;
    use crate::pool::PlanCheck;
    use crate::recorder::Recorder;
    use crate::safety::SafetyReport;
    use crate::tracker::{Fate, Role, RunEvent, TxRecord};

    /// A small finished run, as `run` would produce it.
    fn outcome() -> RunOutcome {
        let mut recorder = Recorder::new();
        for i in 0..300u64 {
            let intended = i * 10_000;
            recorder.record_offered(intended);
            recorder.record_sent(intended, intended + 50, i >= 100);
            recorder.record_stage_accepted(intended, intended + 2_000, i >= 100);
            recorder.record_final_first(intended, intended + 8_000 + i, i >= 100);
            recorder.record_final_all(intended, intended + 12_000, i >= 100);
        }
        let records = vec![
            TxRecord::settled(Fate::Final, Role::Regular, true, 3, None),
            TxRecord::settled(Fate::Rejected, Role::Regular, true, 0, Some("fee_too_low, really")),
        ];
        let accounting = Accounting::of(&records);
        let mut metrics = Metrics::default();
        for def in METRICS {
            metrics.set(def.name, Some(1.0));
        }
        metrics.set("final_all.p999", None);
        let node = |height| {
            Some(NodeSample { height, round: 0, view_changes: 0, mempool: 2, syncing: false })
        };
        RunOutcome {
            metrics,
            accounting,
            health: HealthReport {
                samples: vec![HealthSample { at_ms: 1_000, nodes: vec![node(5), node(4)] }],
                ..HealthReport::default()
            },
            safety: SafetyReport { ok: true, ..SafetyReport::default() },
            diagnosis: Default::default(),
            plan: PlanCheck {
                available: 10,
                keys_with_coins: 2,
                needed_without_reuse: 4,
                needed_with_reuse: 4,
                assumed_recycle_s: 2.0,
                relies_on_reuse: false,
                note: "enough".into(),
            },
            sender: Default::default(),
            slo: None,
            meta: metadata::RunMeta {
                command_line: vec!["loadgen".into(), "--rpc".into(), "http://127.0.0.1:9".into()],
                ..Default::default()
            },
            records,
            recorder,
            events: vec![RunEvent {
                at_ms: 1_500,
                node: Some("node2".into()),
                what: "stopped answering RPC".into(),
            }],
            faults: vec![Fault {
                at_ms: 2_000,
                unix_ms: 0,
                event: "kill node3 (see https://example)".into(),
            }],
            nodes: vec!["node1".into(), "node2".into()],
            out_dir: None,
        }
    }

    /// The terminal summary fits 100 columns, counts each fate once, shows
    /// latencies as a table and a distribution, and gives SLO values units.
    #[test]
    fn the_summary_fits_100_columns_with_a_latency_table_and_histogram() {
        let mut o = outcome();
        o.plan.note = "a long note about coins ".repeat(12);
        o.diagnosis.reasons = vec!["a long reason why the rate was not kept ".repeat(6)];
        let slo: crate::slo::Slo = "final_first.p99<250ms,max_no_block_s<3s".parse().unwrap();
        o.slo = Some(slo.evaluate(&o.metrics));
        let text = summary::text(&o);
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= summary::WIDTH, "a line of {widest} columns:\n{text}");
        assert!(!text.contains(" = final "), "fates printed twice:\n{text}");
        assert!(text.contains("final_first distribution"), "{text}");
        let table_row = text.lines().find(|l| l.trim_start().starts_with("final_first ")).unwrap();
        assert_eq!(table_row.split_whitespace().count(), 1 + PERCENTILES.len(), "{table_row}");
        assert!(
            text.contains("(measured 1.000 ms)") && text.contains("(measured 1.000 s)"),
            "{text}"
        );
    }

    #[test]
    fn summary_json_has_every_metric_of_targets_md() {
        let doc = json::summary(&outcome());
        let mut required: Vec<String> = [
            "achieved_tps",
            "final_ratio",
            "rejected",
            "timed_out",
            "view_changes",
            "max_height_spread",
            "max_no_block_s",
            "max_no_final_s",
        ]
        .map(String::from)
        .to_vec();
        for stage in ["accepted", "final_first", "final_all"] {
            for p in ["p50", "p90", "p99", "p999", "max"] {
                required.push(format!("{stage}.{p}"));
            }
        }
        for key in required
            .iter()
            .chain(METRICS.iter().map(|m| m.name.to_string()).collect::<Vec<_>>().iter())
        {
            assert!(doc.get(key).is_some(), "summary.json lacks {key}");
        }
        assert!(doc["final_all.p999"].is_null(), "unmeasured is null");
        for section in [
            "accounting",
            "rejected_by_reason",
            "double_spend",
            "health",
            "safety",
            "diagnosis",
            "run",
        ] {
            assert!(doc.get(section).is_some(), "summary.json lacks {section}");
        }
        for meta in ["git_hash", "binary_sha256", "machine", "cluster", "seed", "command_line"] {
            assert!(doc["run"].get(meta).is_some(), "run metadata lacks {meta}");
        }
        assert_eq!(json::metrics_of(&doc).get("achieved_tps"), Some(1.0), "compare reads it back");
    }

    #[test]
    fn the_csv_files_have_their_headers_and_a_row_per_second_and_transaction() {
        let o = outcome();
        let per_second = csv::per_second(&o);
        let mut lines = per_second.lines();
        assert_eq!(lines.next(), Some(csv::PER_SECOND_HEADER));
        assert!(csv::PER_SECOND_HEADER.starts_with("second,warmup,offered,sent,accepted,final,rejected,final_first_p50_ms,final_first_p99_ms"));
        assert_eq!(lines.count(), 3, "three seconds of slots");
        let mut history = Vec::new();
        csv::history(&o, &mut history).unwrap();
        let history = String::from_utf8(history).unwrap();
        assert!(history.starts_with(
            "txid,intended_ms,sent_ms,node,fate,accepted_ms,final_first_ms,final_all_ms,reason"
        ));
        assert_eq!(history.lines().count(), 3);
        assert!(
            history.contains(",rejected,") && history.contains("\"fee_too_low, really\""),
            "{history}"
        );
    }

    #[test]
    fn a_reason_with_quotes_commas_and_a_newline_reads_back_unchanged() {
        let mut o = outcome();
        let reason = "bad \"input\", line 1\nline 2";
        let record = o.records.iter_mut().find(|r| r.reason.is_some()).expect("a rejection");
        record.reason = Some(reason.into());
        let mut history = Vec::new();
        csv::history(&o, &mut history).unwrap();
        let mut reader = ::csv::Reader::from_reader(history.as_slice());
        let reasons: Vec<String> =
            reader.records().map(|r| r.unwrap().get(8).unwrap_or_default().to_string()).collect();
        assert_eq!(reasons.len(), o.records.len(), "one row per transaction");
        assert!(reasons.iter().any(|r| r == reason), "{reasons:?}");
        let text = String::from_utf8(history).unwrap();
        crate::verify::History::parse_csv(&text).expect("verify reads it");
    }

    #[test]
    fn report_html_is_self_contained() {
        let html = html::report(&outcome());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("http://") && !html.contains("https://"), "no network reference");
        assert!(!html.contains("<script src") && !html.contains("<link"), "nothing loaded");
        assert!(html.matches("<svg").count() >= 2, "latency and throughput plots");
        assert!(html.contains("kill node3"), "the fault is marked");
        assert!(html.contains("stroke-dasharray"), "as a vertical line");
    }

    #[test]
    fn every_file_is_written() {
        let dir = tempfile::tempdir().unwrap();
        write_all(&outcome(), dir.path()).unwrap();
        for file in FILES {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
        let hlog = std::fs::read_to_string(dir.path().join("interval.hlog")).unwrap();
        assert!(hlog.contains("Tag=final_first,") && hlog.contains("#[BaseTime:"), "{hlog}");
    }
}
