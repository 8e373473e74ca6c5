//! `timed --generate-config`: the commented template, written row by row
//! from the key table with the values of [`Config::default`].

use super::keys::{Kind, ROWS, Row, Shown, TABLE_DOCS};
use super::{Config, MIB, MIN_TOKEN_CHARS};

/// What the file is, above the first table.
const HEADER: &str = "\
# TimeCoin node configuration (timed).
#
# Local settings only: consensus rules (block time, quorum, block limits,
# masternode tiers and rewards) are fixed in genesis.json and refused here.
# Relative paths are relative to the directory of this file.
# Durations are in the unit their key ends with (_ms, _seconds), sizes in
# _bytes or _mb (MiB).
";

/// The template with `values` as the defaults: each table once, in table
/// order, and each key under its comment; a key without a value is shown
/// commented out with an example, and so is an array of tables.
pub(super) fn render(values: &Config) -> String {
    let mut values = values.clone();
    let mut out = String::from(HEADER);
    let mut table = None;
    for row in ROWS {
        let (parent, name) = split(row.key);
        if table != Some(parent) {
            out.push('\n');
            let doc = TABLE_DOCS.iter().find(|(t, _)| *t == parent).map_or("", |(_, doc)| doc);
            comment(&mut out, doc);
            out.push_str(&match parent.strip_suffix("[]") {
                Some(array) => format!("# [[{array}]]\n"),
                None => format!("[{parent}]\n"),
            });
            table = Some(parent);
        }
        comment(&mut out, row.doc);
        out.push_str(&match shown(row, &mut values) {
            Shown::Set(value) => format!("{name} = {value}\n"),
            Shown::Unset(example) => format!("# {name} = {example}\n"),
        });
    }
    out
}

/// The table of a dotted key (in [`super::ACCEPTED_KEYS`] form) and its
/// name in that table.
pub(super) fn split(key: &str) -> (&str, &str) {
    key.rsplit_once('.').unwrap_or(("", key))
}

/// `doc` as `# ` lines, with its placeholder filled in.
fn comment(out: &mut String, doc: &str) {
    let doc = doc.replace("{MIN_TOKEN_CHARS}", &MIN_TOKEN_CHARS.to_string());
    for line in doc.lines() {
        out.push_str(&format!("# {line}\n"));
    }
}

/// The row's value in `values`, as the template writes it.
pub(super) fn shown(row: &Row, values: &mut Config) -> Shown {
    let set = |value: &dyn std::fmt::Display| Shown::Set(value.to_string());
    match &row.kind {
        Kind::Number { field, .. } => set(&field.get(values)),
        Kind::Millis(field) => set(&field(values).as_millis()),
        Kind::Seconds(field) => set(&field(values).as_secs()),
        Kind::Megabytes(field) => set(&(field.get(values) / MIB)),
        Kind::Bool(field) => set(field(values)),
        Kind::Path { field, .. } => Shown::Set(quoted(&field(values).to_string_lossy())),
        Kind::OptionalPath { example, field } => match field(values) {
            Some(path) => Shown::Set(quoted(&path.to_string_lossy())),
            None => Shown::Unset(quoted(example)),
        },
        Kind::Addr { field, .. } => Shown::Set(quoted(&field(values).to_string())),
        Kind::OptionalAddr { example, field } => match field(values) {
            Some(addr) => Shown::Set(quoted(&addr.to_string())),
            None => Shown::Unset(quoted(example)),
        },
        Kind::Custom { shown, .. } | Kind::ReadBy { shown, .. } => shown(values),
    }
}

/// A TOML basic string.
pub(super) fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
