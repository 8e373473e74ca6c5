//! The one table style of timectl and loadgen: plain text, no borders, a
//! header row, columns two spaces apart and each as wide as its widest
//! cell (nothing is cut or wrapped), numbers right-aligned and text
//! left-aligned.
//!
//! ```
//! let mut t = client::table::table(&["NODE", "HEIGHT", "NOTE"], &[1]);
//! t.add_row(["node1", "12", ""]);
//! t.add_row(["node10", "1234", "restarted"]);
//! assert_eq!(
//!     client::table::render(&t, ""),
//!     "NODE    HEIGHT  NOTE\nnode1       12\nnode10    1234  restarted\n"
//! );
//! ```
//!
//! Built on `comfy-table` without its `tty` feature: no terminal probing,
//! no colours, no escape codes, the same text on a terminal and in a pipe.

pub use comfy_table::Table;
use comfy_table::{CellAlignment, ContentArrangement, presets};

/// Spaces between two columns.
const GAP: u16 = 2;

/// An empty table with `header` as its first row; the columns whose index
/// is in `right_aligned` are right-aligned (numbers), the others
/// left-aligned (text). Add rows with [`Table::add_row`], print it with
/// [`render`].
pub fn table(header: &[&str], right_aligned: &[usize]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        // Columns as wide as their content: never wrapped to a terminal width.
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    for (i, column) in t.column_iter_mut().enumerate() {
        // The gap between columns is the left padding; no right padding, so
        // the last column ends at its text.
        column.set_padding((if i == 0 { 0 } else { GAP }, 0));
        column.set_cell_alignment(if right_aligned.contains(&i) {
            CellAlignment::Right
        } else {
            CellAlignment::Left
        });
    }
    t
}

/// `table` as text: every line prefixed with `indent`, without trailing
/// spaces, and ended by a newline.
pub fn render(table: &Table, indent: &str) -> String {
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(indent);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell_and_nothing_is_cut() {
        let url = "http://127.0.0.1:18443/a/very/long/rpc/url/that/used/to/misalign";
        let mut t = table(&["NODE", "RPC", "PID"], &[2]);
        t.add_row(["node1", url, "123"]);
        t.add_row(["a-much-longer-node-name", "-", "4194304"]);
        let text = render(&t, "  ");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].contains(url), "{text}");
        // Every row's last column ends at the same place (right-aligned).
        let ends: Vec<usize> = lines.iter().map(|l| l.len()).collect();
        assert!(ends.iter().all(|&e| e == ends[0]), "{text}");
        // The text columns start at the same place in every row.
        let rpc = lines[0].find("RPC").unwrap();
        assert_eq!(lines[1].find("http").unwrap(), rpc, "{text}");
        assert_eq!(&lines[2][rpc..rpc + 1], "-", "{text}");
        assert!(lines.iter().all(|l| l.starts_with("  ") && !l.starts_with("   ")), "{text}");
    }

    #[test]
    fn plain_text_without_escape_codes_or_trailing_spaces() {
        let mut t = table(&["metric", "A", "verdict"], &[1]);
        t.add_row(["achieved_tps", "1000.0", ""]);
        let text = render(&t, "");
        assert_eq!(text, "metric             A  verdict\nachieved_tps  1000.0\n");
        assert!(text.is_ascii());
    }
}
