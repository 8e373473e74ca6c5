//! `report.html`: one self-contained page (inline CSS and SVG, no script,
//! no network reference) with the summary tables, latency over time (p50
//! and p99 of final-on-first-node, p99 of final-on-every-node and of
//! acceptance, per intended second), throughput (offered, sent, final per
//! second), the warm-up shaded, and the cluster's faults and node events as
//! numbered vertical lines, listed by number in time order under the charts
//! (labels on the chart would overlap).

use std::fmt::Write as _;

use crate::metrics::{METRICS, PERCENTILES, STAGES};
use crate::outcome::RunOutcome;
use crate::recorder::quantile_ms;
use crate::report::summary::format_value;

/// Escapes text for HTML; `//` is written as entities so that no URL in a
/// command line or event reads as a reference.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace("//", "&#47;&#47;")
}

/// One line of a chart.
struct Line<'a> {
    name: &'a str,
    color: &'a str,
    points: Vec<(f64, Option<f64>)>,
}

/// A vertical marker.
struct Marker {
    /// Its number on the chart and in the list under it.
    number: usize,
    x: f64,
    label: String,
    color: &'static str,
}

/// Faults and events listed (and marked) at most.
const MAX_MARKERS: usize = 200;

fn nice_step(range: f64, ticks: f64) -> f64 {
    let raw = (range / ticks).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    step * mag
}

fn chart(
    title: &str,
    y_label: &str,
    lines: &[Line<'_>],
    markers: &[Marker],
    shade_until: f64,
) -> String {
    const W: f64 = 900.0;
    const H: f64 = 300.0;
    const L: f64 = 60.0;
    const R: f64 = 20.0;
    const T: f64 = 50.0;
    const B: f64 = 40.0;
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    // The plot spans the data; markers after it (events of the drain) are
    // listed in the table, not drawn.
    let x_max = xs.fold(1.0f64, f64::max);
    let mut markers: Vec<&Marker> = markers.iter().filter(|m| m.x >= 0.0 && m.x <= x_max).collect();
    markers.sort_by(|a, b| a.x.total_cmp(&b.x));
    let y_max =
        lines.iter().flat_map(|l| l.points.iter().filter_map(|p| p.1)).fold(0.0f64, f64::max);
    let y_max = if y_max <= 0.0 { 1.0 } else { y_max * 1.1 };
    let px = |x: f64| L + x / x_max * (W - L - R);
    let py = |y: f64| H - B - y / y_max * (H - T - B);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(svg, "<text x=\"{L}\" y=\"18\" class=\"title\">{}</text>", esc(title));
    if shade_until > 0.0 {
        let _ = write!(
            svg,
            "<rect x=\"{L}\" y=\"{T}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#eee\"><title>warm-up (excluded)</title></rect>",
            px(shade_until.min(x_max)) - L,
            H - T - B
        );
    }
    let y_step = nice_step(y_max, 5.0);
    let mut y = 0.0;
    while y <= y_max {
        let _ = write!(
            svg,
            "<line x1=\"{L}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" class=\"grid\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            W - R,
            py(y),
            py(y),
            L - 5.0,
            py(y) + 4.0,
            trim_float(y)
        );
        y += y_step;
    }
    let x_step = nice_step(x_max, 10.0);
    let mut x = 0.0;
    while x <= x_max {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            px(x),
            H - B + 15.0,
            trim_float(x)
        );
        x += x_step;
    }
    let _ = write!(
        svg,
        "<line x1=\"{L}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" class=\"axis\"/><line x1=\"{L}\" x2=\"{L}\" y1=\"{T}\" y2=\"{:.1}\" class=\"axis\"/>",
        W - R,
        H - B,
        H - B,
        H - B
    );
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">seconds</text>",
        (L + W - R) / 2.0,
        H - 5.0
    );
    let _ = write!(
        svg,
        "<text x=\"12\" y=\"{:.1}\" class=\"tick\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        H / 2.0,
        H / 2.0,
        esc(y_label)
    );
    // Each marker carries its number only (the labels are listed under the
    // chart); numbers that would touch step down a row.
    let mut last_x = [f64::NEG_INFINITY; 4];
    for m in &markers {
        let x = px(m.x);
        let row = (0..last_x.len()).find(|&r| x - last_x[r] >= 16.0).unwrap_or(0);
        last_x[row] = x;
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{T}\" y2=\"{:.1}\" stroke=\"{}\" stroke-dasharray=\"4 3\"><title>{}: {}</title></line><text x=\"{:.1}\" y=\"{:.1}\" class=\"marker\" fill=\"{}\">{}</text>",
            H - B,
            m.color,
            m.number,
            esc(&m.label),
            x + 2.0,
            T + 10.0 + row as f64 * 11.0,
            m.color,
            m.number,
        );
    }
    for line in lines {
        let mut path = String::new();
        let mut pen_down = false;
        for &(x, y) in &line.points {
            match y {
                Some(y) => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        px(x),
                        py(y)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            svg,
            "<path d=\"{path}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"/>",
            line.color
        );
    }
    for (i, line) in lines.iter().enumerate() {
        let x = L + 10.0 + i as f64 * 140.0;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"3\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\">{}</text>",
            T - 14.0,
            line.color,
            x + 16.0,
            T - 10.0,
            esc(line.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn trim_float(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// The page.
pub fn report(o: &RunOutcome) -> String {
    let seconds = o.recorder.seconds();
    let mid = |i: usize| i as f64 + 0.5;
    let latency = [
        Line {
            name: "final_first p50",
            color: "#1f77b4",
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (mid(i), quantile_ms(&s.final_first, 0.5)))
                .collect(),
        },
        Line {
            name: "final_first p99",
            color: "#d62728",
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (mid(i), quantile_ms(&s.final_first, 0.99)))
                .collect(),
        },
        Line {
            name: "final_all p99",
            color: "#9467bd",
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (mid(i), quantile_ms(&s.final_all, 0.99)))
                .collect(),
        },
        Line {
            name: "accepted p99",
            color: "#7f7f7f",
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (mid(i), quantile_ms(&s.accepted_hist, 0.99)))
                .collect(),
        },
    ];
    let throughput = [
        Line {
            name: "offered",
            color: "#7f7f7f",
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (mid(i), Some(s.offered as f64)))
                .collect(),
        },
        Line {
            name: "sent",
            color: "#1f77b4",
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (mid(i), Some(s.sent as f64)))
                .collect(),
        },
        Line {
            name: "final (achieved)",
            color: "#2ca02c",
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (mid(i), Some(s.finals as f64)))
                .collect(),
        },
        Line {
            name: "rejected",
            color: "#d62728",
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, s)| (mid(i), Some(s.rejected as f64)))
                .collect(),
        },
    ];
    // Faults and events in time order, numbered: the charts mark each by
    // its number, the list under them says what it was.
    let mut markers: Vec<Marker> = o
        .faults
        .iter()
        .map(|f| Marker {
            number: 0,
            x: f.at_ms as f64 / 1e3,
            label: format!("fault: {}", f.event),
            color: "#d62728",
        })
        .chain(o.events.iter().filter(|e| !e.what.starts_with("event stream:")).map(|e| Marker {
            number: 0,
            x: e.at_ms as f64 / 1e3,
            label: format!("{}: {}", e.node.as_deref().unwrap_or("-"), e.what),
            color: "#ff7f0e",
        }))
        .take(MAX_MARKERS)
        .collect();
    markers.sort_by(|a, b| a.x.total_cmp(&b.x));
    for (i, m) in markers.iter_mut().enumerate() {
        m.number = i + 1;
    }
    let warmup = o.meta.options.warmup_s;

    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>loadgen report</title><style>");
    html.push_str(
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1000px}\
         table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
         th{background:#f4f4f4}td.name,th.name{text-align:left;font-family:monospace}\
         .title{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#555}.marker{font-size:10px}\
         .grid{stroke:#eee}.axis{stroke:#888}.bad{color:#b00;font-weight:600}.ok{color:#070;font-weight:600}\
         pre{background:#f7f7f7;padding:8px;overflow-x:auto}",
    );
    html.push_str("</style></head><body>\n");
    let opts = &o.meta.options;
    let _ = writeln!(
        html,
        "<h1>loadgen report</h1><p>{} tx/s offered for {:.1} s, {} inputs / {} outputs, {} nodes, seed {}. Latencies in ms from each transaction's <em>intended</em> send time.</p>",
        opts.tps,
        opts.duration_s,
        opts.inputs,
        opts.outputs,
        o.nodes.len(),
        o.meta.seed
    );
    let verdict = if o.safety.ok {
        "<span class=\"ok\">safety ok</span>"
    } else {
        "<span class=\"bad\">SAFETY VIOLATED</span>"
    };
    let slo = match &o.slo {
        Some(s) if s.ok => " · <span class=\"ok\">SLO met</span>".to_string(),
        Some(_) => " · <span class=\"bad\">SLO violated</span>".to_string(),
        None => String::new(),
    };
    let _ = writeln!(html, "<p>{verdict}{slo} · {}</p>", esc(&o.accounting.regular.line()));

    html.push_str("<h2>Latency over time</h2>\n");
    html.push_str(&chart(
        "final_first p50 / p99 and accepted p99 per second (by intended second)",
        "ms",
        &latency,
        &markers,
        warmup,
    ));
    html.push_str("<h2>Throughput</h2>\n");
    html.push_str(&chart(
        "offered vs sent vs final per second",
        "tx/s",
        &throughput,
        &markers,
        warmup,
    ));
    if warmup > 0.0 {
        html.push_str("<p>The shaded area is the warm-up, excluded from every statistic.</p>");
    }

    html.push_str("<h2>Latency percentiles (ms)</h2><table><tr><th class=\"name\">stage</th>");
    for (suffix, _) in PERCENTILES {
        let _ = write!(html, "<th>{suffix}</th>");
    }
    html.push_str("</tr>");
    for stage in STAGES {
        let _ = write!(html, "<tr><td class=\"name\">{stage}</td>");
        for (suffix, _) in PERCENTILES {
            let name = format!("{stage}.{suffix}");
            let _ = write!(html, "<td>{}</td>", format_value(&name, o.metrics.get(&name)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>\n<h2>Metrics</h2><table><tr><th class=\"name\">metric</th><th>value</th><th class=\"name\">meaning</th></tr>");
    for def in METRICS {
        let _ = write!(
            html,
            "<tr><td class=\"name\">{}</td><td>{}</td><td class=\"name\">{}</td></tr>",
            def.name,
            format_value(def.name, o.metrics.get(def.name)),
            esc(def.help)
        );
    }
    html.push_str("</table>\n");
    if !o.accounting.rejected_by_reason.is_empty() {
        html.push_str("<h2>Rejections by reason</h2><table><tr><th class=\"name\">reason</th><th>count</th></tr>");
        for (reason, n) in &o.accounting.rejected_by_reason {
            let _ = write!(html, "<tr><td class=\"name\">{}</td><td>{n}</td></tr>", esc(reason));
        }
        html.push_str("</table>\n");
    }
    html.push_str("<h2>Safety</h2><ul>");
    if o.safety.violations.is_empty() {
        let _ = write!(
            html,
            "<li>no conflicting pair final twice; {} final transactions checked on every node; {} block heights agree</li>",
            o.safety.final_checked, o.safety.blocks_compared
        );
    }
    for v in &o.safety.violations {
        let _ = write!(html, "<li class=\"bad\">{}</li>", esc(v));
    }
    for u in &o.safety.unchecked {
        let _ = write!(html, "<li>unchecked: {}</li>", esc(u));
    }
    html.push_str("</ul>\n<h2>Generator</h2><ul>");
    if o.diagnosis.reasons.is_empty() {
        html.push_str("<li>kept the offered rate</li>");
    }
    for r in &o.diagnosis.reasons {
        let _ = write!(html, "<li>{}</li>", esc(r));
    }
    let _ = writeln!(html, "<li>coins: {}</li></ul>", esc(&o.plan.note));
    if !markers.is_empty() {
        html.push_str(
            "<h2>Faults and events</h2><p>Numbered as on the charts, in time order (seconds from the start of the measured part; negative: before it).</p><table><tr><th>#</th><th>s</th><th class=\"name\">what</th></tr>",
        );
        for m in &markers {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{:.1}</td><td class=\"name\" style=\"color:{}\">{}</td></tr>",
                m.number,
                m.x,
                m.color,
                esc(&m.label)
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str("<h2>Run</h2><table>");
    let m = &o.meta;
    let rows = [
        ("command line", m.command_line.join(" ")),
        ("git", m.git_hash.clone().unwrap_or_else(|| "n/a".into())),
        ("loadgen sha256", m.binary_sha256.clone().unwrap_or_else(|| "n/a".into())),
        (
            "machine",
            format!(
                "{} CPUs, {}, {:.1} GiB",
                m.machine.cpus,
                m.machine.cpu_model.as_deref().unwrap_or("unknown CPU"),
                m.machine.memory_bytes.unwrap_or(0) as f64 / (1u64 << 30) as f64
            ),
        ),
        ("nodes", m.cluster.nodes.join(", ")),
        ("genesis", m.cluster.genesis_hash.clone()),
        ("block interval", format!("{} ms", m.cluster.block_interval_ms)),
        ("seed", m.seed.to_string()),
    ];
    for (k, v) in rows {
        let _ =
            write!(html, "<tr><th class=\"name\">{k}</th><td class=\"name\">{}</td></tr>", esc(&v));
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_reference() {
        let text = esc("loadgen --rpc http://127.0.0.1:1 <x>");
        assert!(!text.contains("http://") && !text.contains('<'), "{text}");
    }

    #[test]
    fn markers_show_numbers_that_do_not_overlap() {
        let line =
            Line { name: "x", color: "#000", points: vec![(0.0, Some(1.0)), (10.0, Some(2.0))] };
        let marker = |number: usize, x: f64| Marker {
            number,
            x,
            label: format!("kill node{number} with a long label"),
            color: "#d62728",
        };
        let svg =
            chart("t", "ms", &[line], &[marker(1, 5.0), marker(2, 5.01), marker(3, 9.0)], 0.0);
        assert!(!svg.contains(">kill node"), "labels only in tooltips: {svg}");
        let ys: Vec<&str> = svg
            .match_indices("class=\"marker\"")
            .map(|(at, _)| {
                let before = &svg[..at];
                let y = before.rfind("y=\"").expect("y") + 3;
                &svg[y..y + before[y..].find('"').expect("quote")]
            })
            .collect();
        assert_eq!(ys.len(), 3);
        assert_ne!(ys[0], ys[1], "two markers at almost the same time step apart");
        assert_eq!(ys[0], ys[2], "a marker far from the others uses the first row");
    }

    #[test]
    fn ticks_are_round() {
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} != {b}");
        close(nice_step(100.0, 5.0), 20.0);
        close(nice_step(7.0, 10.0), 1.0);
        close(nice_step(0.3, 5.0), 0.1);
    }
}
