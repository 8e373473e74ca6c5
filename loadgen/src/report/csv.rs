//! The CSV files: `per_second.csv` (one row per second of the run, warm-up
//! included and marked) and `history.csv` (one row per transaction, so the
//! safety checks can be re-run afterwards). Times are milliseconds since
//! the run's origin (the intended time of the first slot); an empty cell
//! means "never".

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::recorder::{NONE, quantile_ms};
use crate::run::RunOutcome;

/// The header of `per_second.csv`.
pub const PER_SECOND_HEADER: &str = "second,warmup,offered,sent,accepted,final,rejected,final_first_p50_ms,final_first_p99_ms,accepted_p99_ms,send_lag_max_ms,max_height,height_spread,max_mempool";

/// The header of `history.csv`.
pub const HISTORY_HEADER: &str = "txid,intended_ms,sent_ms,node,fate,accepted_ms,final_first_ms,final_all_ms,reason,role,measured,late_fate,final_on_nodes";

fn opt(value: Option<f64>) -> String {
    value.map_or(String::new(), |v| format!("{v:.3}"))
}

/// `per_second.csv`.
pub fn per_second(o: &RunOutcome) -> String {
    let mut out = String::with_capacity(64 * (o.recorder.seconds().len() + 1));
    out.push_str(PER_SECOND_HEADER);
    out.push('\n');
    let warmup_s = o.meta.options.warmup_s;
    let seconds = o.recorder.seconds();
    let samples = &o.health.samples;
    let rows = seconds.len().max(samples.last().map_or(0, |s| (s.at_ms / 1_000) as usize + 1));
    for i in 0..rows {
        let sample = samples.iter().rev().find(|s| (s.at_ms / 1_000) as usize == i);
        let (height, spread, mempool) = match sample {
            Some(s) => (
                s.max_height().map_or(String::new(), |h| h.to_string()),
                s.height_spread().to_string(),
                s.max_mempool().map_or(String::new(), |m| m.to_string()),
            ),
            None => Default::default(),
        };
        let _ = match seconds.get(i) {
            Some(s) => writeln!(
                out,
                "{i},{},{},{},{},{},{},{},{},{},{:.3},{height},{spread},{mempool}",
                u8::from((i as f64) < warmup_s),
                s.offered,
                s.sent,
                s.accepted,
                s.finals,
                s.rejected,
                opt(quantile_ms(&s.final_first, 0.5)),
                opt(quantile_ms(&s.final_first, 0.99)),
                opt(quantile_ms(&s.accepted_hist, 0.99)),
                s.lag_max_us as f64 / 1_000.0,
            ),
            None => writeln!(
                out,
                "{i},{},0,0,0,0,0,,,,,{height},{spread},{mempool}",
                u8::from((i as f64) < warmup_s)
            ),
        };
    }
    out
}

fn ms(us: u64) -> String {
    if us == NONE { String::new() } else { format!("{:.3}", us as f64 / 1_000.0) }
}

fn quoted(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\"").replace('\n', " "))
    } else {
        text.to_string()
    }
}

/// Splits one line written by this module into its fields, undoing
/// [`quoted`] (a field in double quotes may hold commas and doubled quotes).
pub fn split_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => in_quotes = false,
            ('"', false) if field.is_empty() => in_quotes = true,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Writes `history.csv`.
pub fn history(o: &RunOutcome, mut w: impl Write) -> io::Result<()> {
    writeln!(w, "{HISTORY_HEADER}")?;
    for r in &o.records {
        let node = o.nodes.get(usize::from(r.node)).map_or("?", String::as_str);
        writeln!(
            w,
            "{},{},{},{node},{},{},{},{},{},{},{},{},{}",
            r.txid,
            ms(r.intended_us),
            ms(r.sent_us),
            r.fate.as_str(),
            ms(r.accepted_us),
            ms(r.final_first_us),
            ms(r.final_all_us),
            quoted(r.reason.as_deref().unwrap_or("")),
            r.role.as_str(),
            u8::from(r.measured),
            r.late_fate.map_or("", |f| f.as_str()),
            r.final_mask.count_ones(),
        )?;
    }
    w.flush()
}
