//! The human summary printed on stdout (and saved as `summary.txt`), at
//! most 100 columns wide, every metric under its exact name from the metric
//! table (latencies as a table: stage by row, percentile by column, so
//! `final_first.p99` is row `final_first`, column `p99`).

use std::fmt::Write as _;

use crate::metrics::{self, Kind, PERCENTILES, STAGES};
use crate::outcome::RunOutcome;

/// A metric's value as printed.
pub fn format_value(name: &str, value: Option<f64>) -> String {
    let Some(v) = value else { return "n/a".into() };
    match metrics::find(name).map(|m| m.kind) {
        Some(Kind::Latency) => format!("{v:.2}"),
        Some(Kind::Seconds) => format!("{v:.2}"),
        _ if name == "final_ratio" => format!("{v:.5}"),
        _ if name.ends_with("_tps") || name == "rounds_per_block" || name == "cpu_percent" => {
            format!("{v:.1}")
        }
        _ => format!("{v:.0}"),
    }
}

/// The summary's width.
pub const WIDTH: usize = 100;

/// `name value` cells, as many to a line as fit in [`WIDTH`].
/// Hand-written, not a `client::table`: this is a flow of cells wrapped to
/// the width, not rows and columns, and a table library has no such layout.
fn row(out: &mut String, o: &RunOutcome, names: &[&str]) {
    let mut line = String::from(" ");
    for name in names {
        let cell =
            format!(" {:<26}", format!("{name} {}", format_value(name, o.metrics.get(name))));
        if line.len() + cell.trim_end().len() > WIDTH && !line.trim().is_empty() {
            let _ = writeln!(out, "{}", line.trim_end());
            line = String::from(" ");
        }
        line.push_str(&cell);
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

/// A paragraph wrapped to [`WIDTH`], indented by two spaces.
fn para(out: &mut String, text: &str) {
    let options = textwrap::Options::new(WIDTH).initial_indent("  ").subsequent_indent("    ");
    for line in textwrap::wrap(text, options) {
        let _ = writeln!(out, "{line}");
    }
}

/// The latency table: one row per stage, one column per percentile.
fn latency_table(out: &mut String, o: &RunOutcome) {
    let mut header = vec![""];
    header.extend(PERCENTILES.iter().map(|(suffix, _)| *suffix));
    let numbers: Vec<usize> = (1..=PERCENTILES.len()).collect();
    let mut table = client::table::table(&header, &numbers);
    for stage in STAGES {
        let mut row = vec![stage.to_string()];
        row.extend(PERCENTILES.iter().map(|(suffix, _)| {
            let name = format!("{stage}.{suffix}");
            format_value(&name, o.metrics.get(&name))
        }));
        table.add_row(row);
    }
    out.push_str(&client::table::render(&table, "  "));
}

/// The distribution of `final_first` as bars, one per latency band.
fn histogram(out: &mut String, o: &RunOutcome) {
    let Some(h) = o.recorder.stage("final_first").filter(|h| !h.is_empty()) else { return };
    // Band upper bounds in ms; the last band takes everything above.
    const BANDS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000];
    let mut counts = Vec::new();
    let mut below = 0;
    for upper in BANDS_MS {
        let upto = h.count_between(0, upper * 1_000);
        counts.push((format!("<= {upper} ms"), upto - below));
        below = upto;
    }
    counts.push(("more".to_string(), h.len() - below));
    // Drop empty bands at both ends.
    let first = counts.iter().position(|(_, n)| *n > 0).unwrap_or(0);
    let last = counts.iter().rposition(|(_, n)| *n > 0).unwrap_or(0);
    let most = counts.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    const BAR: u64 = 60;
    out.push_str("\nfinal_first distribution (transactions per latency band)\n");
    for (band, n) in &counts[first..=last] {
        let bar = "#".repeat(usize::try_from(n * BAR / most).unwrap_or(0));
        let pct = *n as f64 * 100.0 / h.len() as f64;
        let _ = writeln!(out, "  {band:>11} {bar:<60} {pct:5.1}%");
    }
}

/// The summary.
pub fn text(o: &RunOutcome) -> String {
    let mut out = String::new();
    let opts = &o.meta.options;
    let _ = writeln!(
        out,
        "loadgen: {} tx/s offered for {:.1} s ({} slots){}, {} inputs, {} outputs, {} nodes, seed {}",
        opts.tps,
        opts.duration_s,
        opts.slots,
        if opts.warmup_s > 0.0 {
            format!(
                " after a {:.1} s warm-up ({} transactions excluded)",
                opts.warmup_s, o.accounting.warmup_excluded
            )
        } else {
            String::new()
        },
        opts.inputs,
        opts.outputs,
        o.nodes.len(),
        o.meta.seed
    );
    let coins = format!(
        "coins: {} usable at start on {} keys; {}",
        o.plan.available, o.plan.keys_with_coins, o.plan.note
    );
    for line in textwrap::wrap(&coins, textwrap::Options::new(WIDTH).subsequent_indent("  ")) {
        let _ = writeln!(out, "{line}");
    }
    out.push_str("\nthroughput\n");
    row(&mut out, o, &["offered_tps", "achieved_tps", "send_tps", "final_ratio"]);
    out.push_str("\nfates of the measured transactions\n");
    row(
        &mut out,
        o,
        &["sent", "final", "rejected", "conflicted", "lost", "timed_out", "warmup_excluded"],
    );
    if !o.accounting.regular.closes() {
        let _ = writeln!(out, "  DOES NOT CLOSE: {}", o.accounting.regular.line());
    }
    if !o.accounting.rejected_by_reason.is_empty() {
        let reasons: Vec<String> = o
            .accounting
            .rejected_by_reason
            .iter()
            .map(|(k, v)| format!("rejected:{k} {v}"))
            .collect();
        let _ = writeln!(out, "  {}", reasons.join("  "));
    }
    if !o.accounting.late_fates.is_empty() {
        let late: Vec<String> =
            o.accounting.late_fates.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ =
            writeln!(out, "  after timing out: {} (coins released, not counted)", late.join("  "));
    }
    out.push_str("\nlatency, ms from the intended send time (no coordinated omission)\n");
    latency_table(&mut out, o);
    row(&mut out, o, &["send_lag.p99", "send_lag.max"]);
    histogram(&mut out, o);
    out.push_str("\nconsensus\n");
    row(
        &mut out,
        o,
        &[
            "view_changes",
            "rounds_per_block",
            "max_height_spread",
            "max_no_block_s",
            "max_no_final_s",
        ],
    );
    let p = &o.accounting.pairs;
    if p.pairs > 0 {
        out.push_str("\nconflicting pairs (sent to two nodes at the same intended time)\n");
        row(&mut out, o, &["double_spend_pairs", "double_spend_both_final"]);
        let _ = writeln!(
            out,
            "  one side final {}  neither final {}  both final {}; {}",
            p.one_final,
            p.none_final,
            p.both_final,
            p.fates.line()
        );
    }
    out.push_str("\nsafety\n");
    if o.safety.ok {
        para(
            &mut out,
            &format!(
                "ok: no conflicting pair final twice; {} final transactions agree on every node that answered; {} block heights agree on {} nodes",
                o.safety.final_checked,
                o.safety.blocks_compared,
                o.nodes.len()
            ),
        );
    } else {
        for v in &o.safety.violations {
            let _ = writeln!(out, "  VIOLATION: {v}");
        }
    }
    for (node, n) in &o.safety.not_yet_final {
        let _ = writeln!(out, "  {node}: {n} transactions final elsewhere not (yet) final there");
    }
    for u in &o.safety.unchecked {
        let _ = writeln!(out, "  unchecked: {u}");
    }
    out.push_str("\ngenerator\n");
    row(&mut out, o, &["cpu_percent"]);
    if o.sender.failovers > 0 {
        para(
            &mut out,
            &format!(
                "{} sends went to the next node because theirs was down or had not yet seen a parent final elsewhere",
                o.sender.failovers
            ),
        );
    }
    if o.diagnosis.reasons.is_empty() {
        out.push_str("  kept the offered rate\n");
    } else {
        for reason in &o.diagnosis.reasons {
            para(&mut out, reason);
        }
    }
    if !o.events.is_empty() || !o.faults.is_empty() {
        out.push_str("\nevents\n");
        for f in &o.faults {
            let _ = writeln!(out, "  {:>8.1} s  fault: {}", f.at_ms as f64 / 1e3, f.event);
        }
        for e in o.events.iter().take(20) {
            let _ = writeln!(
                out,
                "  {:>8.1} s  {}: {}",
                e.at_ms as f64 / 1e3,
                e.node.as_deref().unwrap_or("-"),
                e.what
            );
        }
        if o.events.len() > 20 {
            let _ = writeln!(out, "  ... {} more in summary.json", o.events.len() - 20);
        }
    }
    if let Some(slo) = &o.slo {
        let _ = writeln!(out, "\nSLO {}", if slo.ok { "met" } else { "VIOLATED" });
        for c in &slo.clauses {
            let unit = match metrics::find(c.metric).map(|m| m.kind) {
                Some(Kind::Latency) => " ms",
                Some(Kind::Seconds) => " s",
                _ => "",
            };
            let value = c.value.map_or("n/a".to_string(), |v| format!("{v:.3}{unit}"));
            let _ = writeln!(
                out,
                "  {:<4} {}  (measured {value})",
                if c.ok { "ok" } else { "FAIL" },
                c.clause
            );
        }
    }
    if let Some(dir) = &o.out_dir {
        let _ = writeln!(
            out,
            "\nfiles: {} (report.html, summary.json, per_second.csv, history.csv, *.hgrm, *.hlog)",
            dir.display()
        );
    }
    out
}
