//! The HdrHistogram percentile distribution format (`.hgrm`), as Java's
//! `outputPercentileDistribution` prints it, with values in milliseconds
//! (recorded in microseconds): plotted by the usual HdrHistogram plotter.

use std::fmt::Write as _;

use crate::recorder::Hist;

/// Ticks per half-distance to 100%, as the Java default.
const TICKS: u32 = 5;
/// Microseconds per reported unit (ms).
const SCALE: f64 = 1_000.0;

/// The distribution of `h`.
pub fn distribution(h: &Hist) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if !h.is_empty() {
        let mut total = 0u64;
        for v in h.iter_quantiles(TICKS) {
            total += v.count_since_last_iteration();
            let value = h.highest_equivalent(v.value_iterated_to()) as f64 / SCALE;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ =
                    writeln!(out, "{value:>12.3} {q:>2.12} {total:>10} {:>14.2}", 1.0 / (1.0 - q));
            } else {
                let _ = writeln!(out, "{value:>12.3} {q:>2.12} {total:>10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / SCALE, h.stdev() / SCALE, h.max() as f64 / SCALE)
    };
    let _ = writeln!(out, "#[Mean    = {mean:>12.3}, StdDeviation   = {stdev:>12.3}]");
    let _ = writeln!(out, "#[Max     = {max:>12.3}, Total count    = {:>12}]", h.len());
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::new_hist;

    #[test]
    fn the_distribution_has_the_hdr_layout() {
        let mut h = new_hist(3);
        for us in 1..=10_000u64 {
            h.record(us).unwrap();
        }
        let text = distribution(&h);
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(header.contains("Value") && header.contains("1/(1-Percentile)"));
        assert!(
            text.contains("#[Max     =       10.007, Total count    =        10000]"),
            "{text}"
        );
        let median = text.lines().find(|l| l.contains(" 0.500000000000 ")).unwrap();
        assert!(median.trim_start().starts_with("5.0"), "{median}");
        let last = text.lines().rfind(|l| !l.starts_with('#') && !l.is_empty()).unwrap();
        assert!(last.contains("1.000000000000"), "{last}");
    }
}
