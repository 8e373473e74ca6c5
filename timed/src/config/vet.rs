//! Pass 1, vetting: every key the file contains is checked against
//! [`ACCEPTED_KEYS`] (made from the key table) before anything is read.
//! Unknown keys get a "did you mean", keys of the original TimeCoin node
//! are refused with the reason, and sections of the wrong shape are named.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ACCEPTED_KEYS;
use super::read::{Doc, show};

/// What a dotted path (in [`ACCEPTED_KEYS`] form) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Key,
    Table,
    ArrayOfTables,
    Unaccepted,
}

impl Shape {
    pub(super) fn of(path: &str) -> Shape {
        let under = |suffix: &str| {
            let prefix = format!("{path}{suffix}");
            ACCEPTED_KEYS.iter().any(|key| key.starts_with(&prefix))
        };
        if ACCEPTED_KEYS.contains(&path) {
            Shape::Key
        } else if under(".") {
            Shape::Table
        } else if under("[].") {
            Shape::ArrayOfTables
        } else {
            Shape::Unaccepted
        }
    }
}

/// Why a key of the original TimeCoin node is refused.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// A consensus rule: every masternode must agree, so genesis fixes it.
    InGenesis(&'static str),
    /// A feature this node does not have, with a hint where one helps.
    NotSupported(Option<&'static str>),
}

const CONSENSUS_RULE: &str = "it is a consensus rule every masternode must agree on";
const SECURITY_HINT: &str = "use rpc.auth / rpc.token; rate limits are in [network.limits]";

/// Refused keys; `section.*` covers a section and everything in it.
const REFUSED: &[(&str, Refusal)] = &[
    ("consensus.*", Refusal::InGenesis(CONSENSUS_RULE)),
    ("block.*", Refusal::InGenesis(CONSENSUS_RULE)),
    ("masternode.tier", Refusal::InGenesis(CONSENSUS_RULE)),
    ("masternode.collateral_txid", Refusal::InGenesis(CONSENSUS_RULE)),
    ("masternode.wallet_address", Refusal::InGenesis("the reward address is in genesis")),
    ("node.network", Refusal::InGenesis("the network comes from genesis")),
    ("node.name", Refusal::NotSupported(None)),
    ("node.version", Refusal::NotSupported(Some("the version is built in; see timed --version"))),
    ("network.max_peers", Refusal::NotSupported(Some("use network.max_connections"))),
    ("network.enable_upnp", Refusal::NotSupported(None)),
    ("rpc.enabled", Refusal::NotSupported(Some("RPC is always on"))),
    ("rpc.allow_origins", Refusal::NotSupported(None)),
    ("storage.backend", Refusal::NotSupported(Some("sled is the only backend"))),
    ("logging.output", Refusal::NotSupported(Some("logs go to stderr; use your service manager"))),
    (
        "logging.file_path",
        Refusal::NotSupported(Some("logs go to stderr; use your service manager")),
    ),
    ("masternode.enabled", Refusal::NotSupported(Some("set masternode.key_file"))),
    ("security.*", Refusal::NotSupported(Some(SECURITY_HINT))),
    (
        "metrics.prometheus_port",
        Refusal::NotSupported(Some("/metrics is served on rpc.listen_address")),
    ),
];

/// The refusal of `path`, and whether it came from a whole-section entry.
fn refusal_of(path: &str) -> Option<(Refusal, bool)> {
    REFUSED.iter().find_map(|(pattern, refusal)| match pattern.strip_suffix(".*") {
        Some(section) => {
            let inside = path
                .strip_prefix(section)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            inside.then_some((*refusal, true))
        }
        None => (*pattern == path).then_some((*refusal, false)),
    })
}

impl<'a> Doc<'a> {
    /// Reports every key of `table` that is not accepted. `schema` is the
    /// table's path in [`ACCEPTED_KEYS`] form (`network.peers[]`), `shown`
    /// as the user would write it (`network.peers[2]`).
    pub(super) fn vet(&mut self, table: &'a DeTable<'a>, schema: &str, shown: &str) {
        for (name, value) in table.iter() {
            let key_span = name.span();
            let name: &str = name.get_ref();
            let schema_key = join(schema, name);
            let shown_key = join(shown, name);
            match Shape::of(&schema_key) {
                Shape::Key => {}
                Shape::Table => match value.get_ref() {
                    DeValue::Table(inner) => self.vet(inner, &schema_key, &shown_key),
                    other => self.problem(
                        &shown_key,
                        value.span(),
                        format!("{shown_key}: expected a table [{shown_key}], got {}", show(other)),
                    ),
                },
                Shape::ArrayOfTables => {
                    let expected = format!("{shown_key}: expected tables [[{shown_key}]]");
                    match value.get_ref() {
                        DeValue::Array(items) => {
                            for (i, item) in items.iter().enumerate() {
                                let shown_item = format!("{shown_key}[{i}]");
                                match item.get_ref() {
                                    DeValue::Table(inner) => {
                                        self.vet(inner, &format!("{schema_key}[]"), &shown_item)
                                    }
                                    other => self.problem(
                                        &shown_item,
                                        item.span(),
                                        format!(
                                            "{shown_item}: expected a table [[{shown_key}]], got {}",
                                            show(other)
                                        ),
                                    ),
                                }
                            }
                        }
                        other => self.problem(
                            &shown_key,
                            value.span(),
                            format!("{expected}, got {}", show(other)),
                        ),
                    }
                }
                Shape::Unaccepted => self.refuse(key_span, value, &schema_key, &shown_key, shown),
            }
        }
    }

    fn refuse(
        &mut self,
        span: Range<usize>,
        value: &'a Spanned<DeValue<'a>>,
        schema_key: &str,
        shown_key: &str,
        shown_parent: &str,
    ) {
        match refusal_of(schema_key) {
            Some((_, true)) if matches!(value.get_ref(), DeValue::Table(t) if !t.is_empty()) => {
                // A refused section: name each key in it, so the user sees
                // everything that has to go.
                if let DeValue::Table(inner) = value.get_ref() {
                    for (child, child_value) in inner.iter() {
                        let child_span = child.span();
                        let child: &str = child.get_ref();
                        self.refuse(
                            child_span,
                            child_value,
                            &join(schema_key, child),
                            &join(shown_key, child),
                            shown_key,
                        );
                    }
                }
            }
            Some((Refusal::InGenesis(reason), _)) => {
                self.problem(shown_key, span, format!("{shown_key}: set in genesis ({reason})"));
            }
            Some((Refusal::NotSupported(hint), _)) => {
                let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
                self.problem(shown_key, span, format!("not supported: {shown_key}{hint}"));
            }
            None => {
                let what =
                    if matches!(value.get_ref(), DeValue::Table(_)) { "section" } else { "key" };
                let hint = suggestion(schema_key, shown_parent)
                    .map(|s| format!(" (did you mean {s}?)"))
                    .unwrap_or_default();
                self.problem(shown_key, span, format!("unknown {what} {shown_key}{hint}"));
            }
        }
    }
}

/// The closest accepted name for an unknown key: first a near spelling in
/// the same table, then the same name in another table.
fn suggestion(schema_key: &str, shown_parent: &str) -> Option<String> {
    let (schema_parent, name) = match schema_key.rsplit_once('.') {
        Some((parent, name)) => (parent, name),
        None => ("", schema_key),
    };
    let prefix = if schema_parent.is_empty() { String::new() } else { format!("{schema_parent}.") };
    let siblings = ACCEPTED_KEYS.iter().filter_map(|key| {
        let rest = key.strip_prefix(prefix.as_str())?;
        let child = rest.split('.').next()?;
        Some(child.strip_suffix("[]").unwrap_or(child))
    });
    let near = siblings
        .map(|sibling| (edit_distance(name, sibling), sibling))
        .filter(|(distance, _)| *distance <= 2 && *distance < name.chars().count())
        .min_by_key(|(distance, _)| *distance);
    if let Some((_, sibling)) = near {
        return Some(join(shown_parent, sibling));
    }
    ACCEPTED_KEYS.iter().find(|key| key.rsplit('.').next() == Some(name)).map(|key| key.to_string())
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

pub(super) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") }
}
