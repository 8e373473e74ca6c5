//! `loadgen compare A B`: two `--out` directories side by side, every
//! metric with its absolute and relative difference, marked better or
//! worse by the metric's direction (a change under 1% is "same").

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::error::LoadgenError;
use crate::metrics::{Better, METRICS, Metrics};
use crate::report::json::metrics_of;
use crate::report::summary::format_value;

/// One metric of both runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The metric.
    pub name: &'static str,
    /// Run A's value.
    pub a: Option<f64>,
    /// Run B's value.
    pub b: Option<f64>,
    /// B − A.
    pub diff: Option<f64>,
    /// (B − A) / A, percent.
    pub rel_pct: Option<f64>,
    /// `better`, `worse`, `same`, or empty when it has no direction.
    pub verdict: &'static str,
}

/// Reads `<dir>/summary.json`'s metrics.
pub fn read_metrics(dir: &Path) -> Result<Metrics, LoadgenError> {
    let path = if dir.is_dir() { dir.join("summary.json") } else { dir.to_path_buf() };
    let text = std::fs::read_to_string(&path).map_err(|e| LoadgenError::Input {
        path: path.clone(),
        reason: format!("{e} (pass a directory written by loadgen --out)"),
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| LoadgenError::Input {
        path: path.clone(),
        reason: format!("not JSON: {e}"),
    })?;
    Ok(metrics_of(&doc))
}

/// Compares every metric: a change below `threshold_pct` percent (of A)
/// is noise ("same"); from A = 0 any change counts.
pub fn compare(a: &Metrics, b: &Metrics, threshold_pct: f64) -> Vec<Row> {
    METRICS
        .iter()
        .map(|def| {
            let (va, vb) = (a.get(def.name), b.get(def.name));
            let diff = va.zip(vb).map(|(x, y)| y - x);
            let rel_pct = va.zip(diff).and_then(|(x, d)| (x != 0.0).then(|| d / x.abs() * 100.0));
            let changed = match (diff, rel_pct) {
                (Some(d), Some(r)) => d != 0.0 && r.abs() >= threshold_pct,
                (Some(d), None) => d != 0.0,
                _ => false,
            };
            let verdict = match (def.better, diff) {
                (Better::Neither, _) | (_, None) => "",
                _ if !changed => "same",
                (Better::Higher, Some(d)) => {
                    if d > 0.0 {
                        "better"
                    } else {
                        "worse"
                    }
                }
                (Better::Lower, Some(d)) => {
                    if d < 0.0 {
                        "better"
                    } else {
                        "worse"
                    }
                }
            };
            Row { name: def.name, a: va, b: vb, diff, rel_pct, verdict }
        })
        .collect()
}

/// The metrics B got worse in (beyond the threshold).
pub fn regressions(rows: &[Row]) -> Vec<&'static str> {
    rows.iter().filter(|r| r.verdict == "worse").map(|r| r.name).collect()
}

/// The comparison as a table.
pub fn table(rows: &[Row], a: &str, b: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A = {a}\nB = {b}\n");
    let mut table =
        client::table::table(&["metric", "A", "B", "B-A", "B/A-1", "verdict"], &[1, 2, 3, 4]);
    for r in rows {
        table.add_row([
            r.name.to_string(),
            format_value(r.name, r.a),
            format_value(r.name, r.b),
            r.diff.map_or("n/a".into(), |d| format!("{d:+.3}")),
            r.rel_pct.map_or("n/a".into(), |p| format!("{p:+.1}%")),
            r.verdict.to_string(),
        ]);
    }
    out.push_str(&client::table::render(&table, ""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_decide_better_and_worse() {
        let mut a = Metrics::default();
        let mut b = Metrics::default();
        a.set("achieved_tps", Some(1_000.0));
        b.set("achieved_tps", Some(1_200.0));
        a.set("final_first.p99", Some(10.0));
        b.set("final_first.p99", Some(20.0));
        a.set("final_ratio", Some(1.0));
        b.set("final_ratio", Some(0.999));
        a.set("sent", Some(5.0));
        b.set("sent", Some(6.0));
        let rows = compare(&a, &b, 1.0);
        let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
        assert_eq!(row("achieved_tps").verdict, "better");
        assert_eq!(row("final_first.p99").verdict, "worse");
        assert_eq!(row("final_first.p99").rel_pct, Some(100.0));
        assert_eq!(row("final_ratio").verdict, "same", "0.1% is within noise");
        assert_eq!(regressions(&rows), ["final_first.p99"]);
        // A looser threshold: +20 % throughput is noise, +100 % latency is not.
        let loose = compare(&a, &b, 25.0);
        assert_eq!(loose.iter().find(|r| r.name == "achieved_tps").unwrap().verdict, "same");
        assert_eq!(regressions(&loose), ["final_first.p99"]);
        assert!(regressions(&compare(&a, &b, 150.0)).is_empty());
        assert_eq!(row("sent").verdict, "");
        assert_eq!(row("final_all.p50").diff, None);
        let text = table(&rows, "a", "b");
        assert!(text.contains("final_first.p99") && text.contains("+100.0%"), "{text}");
    }
}
