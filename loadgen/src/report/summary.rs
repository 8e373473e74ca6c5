//! The human summary printed on stdout (and saved as `summary.txt`), every
//! metric under its exact name from the metric table.

use std::fmt::Write as _;

use crate::metrics::{self, Kind, PERCENTILES, STAGES};
use crate::run::RunOutcome;

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

fn row(out: &mut String, o: &RunOutcome, names: &[&str]) {
    out.push(' ');
    for name in names {
        let cell = format!("{name} {}", format_value(name, o.metrics.get(name)));
        let _ = write!(out, " {cell:<26}");
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
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
    let _ = writeln!(
        out,
        "coins: {} usable at start on {} keys; {}",
        o.plan.available, o.plan.keys_with_coins, o.plan.note
    );
    out.push_str("\nthroughput\n");
    row(&mut out, o, &["offered_tps", "achieved_tps", "send_tps", "final_ratio"]);
    out.push_str("\nfates of the measured transactions\n");
    let _ = writeln!(out, "  {}", o.accounting.regular.line());
    row(
        &mut out,
        o,
        &["sent", "final", "rejected", "conflicted", "lost", "timed_out", "warmup_excluded"],
    );
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
    for stage in STAGES {
        let names: Vec<String> = PERCENTILES.iter().map(|(s, _)| format!("{stage}.{s}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        row(&mut out, o, &refs);
    }
    row(&mut out, o, &["send_lag.p99", "send_lag.max"]);
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
        let _ = writeln!(
            out,
            "  ok: no conflicting pair final twice; {} final transactions agree on every node that answered; {} block heights agree on {} nodes",
            o.safety.final_checked,
            o.safety.blocks_compared,
            o.nodes.len()
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
        let _ = writeln!(
            out,
            "  {} sends went to the next node because theirs was down or had not yet seen a parent final elsewhere",
            o.sender.failovers
        );
    }
    if o.diagnosis.reasons.is_empty() {
        out.push_str("  kept the offered rate\n");
    } else {
        for reason in &o.diagnosis.reasons {
            let _ = writeln!(out, "  {reason}");
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
            let value = c.value.map_or("n/a".to_string(), |v| format!("{v:.3}"));
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
            "\nfiles: {} (report.html, summary.json, per_second.csv, history.csv, *.hgrm, interval.hlog)",
            dir.display()
        );
    }
    out
}
