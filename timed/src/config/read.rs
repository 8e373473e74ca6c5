//! Pass 2, reading: a file is parsed into toml's spanned tree, vetted
//! ([`super::vet`]), then every row of the key table is read into a
//! [`Config`] that starts from [`Config::default`], each value checked for
//! its type and range. Cross-key checks come last; all problems are
//! returned together, in file order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::keys::{Kind, ROWS, Row};
use super::problems::position;
use super::vet::Shape;
use super::{Config, MAX_DAYS_365_SECONDS, MAX_MEGABYTES, MIB, Problem};

pub(super) fn parse(text: &str, base_dir: &Path) -> Result<Config, Vec<Problem>> {
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        // The tree is partial after a syntax error: vetting it would report
        // keys as missing or misplaced that are merely unparsed.
        return Err(syntax_errors
            .iter()
            .map(|err| {
                let (line, column) = match err.span() {
                    Some(span) => {
                        let (line, column) = position(text, span.start);
                        (Some(line), Some(column))
                    }
                    None => (None, None),
                };
                Problem {
                    key: None,
                    line,
                    column,
                    message: format!("invalid TOML: {}", err.message()),
                }
            })
            .collect());
    }
    let mut doc = Doc { text, root: root.get_ref(), problems: Vec::new(), lines: BTreeMap::new() };
    doc.vet(root.get_ref(), "", "");
    let mut config = doc.read();
    config.resolve_paths(base_dir);
    for mut problem in config.cross_key_problems() {
        // An array element (`network.bootstrap_peers[1]`) is placed at its array.
        problem.line = problem
            .key
            .as_ref()
            .and_then(|key| doc.lines.get(key).or_else(|| doc.lines.get(key.rsplit_once('[')?.0)))
            .copied();
        doc.problems.push(problem);
    }
    if doc.problems.is_empty() {
        Ok(config)
    } else {
        let mut problems = doc.problems;
        problems.sort_by_key(|p| (p.line.is_none(), p.line));
        Err(problems)
    }
}

/// The document being read, and what has been found wrong with it.
#[derive(Debug)]
pub(super) struct Doc<'a> {
    text: &'a str,
    root: &'a DeTable<'a>,
    problems: Vec<Problem>,
    /// The line of every key that was read, for problems found later.
    lines: BTreeMap<String, usize>,
}

/// A value found in the document, with the key it was found under.
#[derive(Debug)]
pub(super) struct Found<'a> {
    pub(super) key: String,
    pub(super) value: &'a Spanned<DeValue<'a>>,
}

impl<'a> Doc<'a> {
    pub(super) fn problem(&mut self, key: &str, span: Range<usize>, message: String) {
        self.problems.push(Problem {
            key: Some(key.to_owned()),
            line: Some(position(self.text, span.start).0),
            column: None,
            message,
        });
    }

    /// Reads every row of the key table, in table order.
    fn read(&mut self) -> Config {
        let mut c = Config::default();
        for row in ROWS {
            self.read_row(row, &mut c);
        }
        c
    }

    /// Sets the field of `row` when the file has its key and the value is
    /// good; reports the problem otherwise.
    fn read_row(&mut self, row: &Row, c: &mut Config) {
        let key = row.key;
        match &row.kind {
            Kind::Number { noun, range, field } => {
                if let Some(n) = self.number(key, noun, range.clone()) {
                    field.set(c, n);
                }
            }
            Kind::Millis(field) => set(field(c), self.millis(key)),
            Kind::Seconds(field) => set(field(c), self.seconds(key)),
            Kind::Megabytes(field) => {
                if let Some(bytes) = self.megabytes(key) {
                    field.set(c, bytes);
                }
            }
            Kind::Bool(field) => set(field(c), self.boolean(key)),
            Kind::Path { example, field } => set(field(c), self.path(key, example)),
            Kind::OptionalPath { example, field } => {
                set(field(c), self.path(key, example).map(Some));
            }
            Kind::Addr { example, field } => set(field(c), self.socket_addr(key, example)),
            Kind::OptionalAddr { example, field } => {
                set(field(c), self.socket_addr(key, example).map(Some));
            }
            Kind::Custom { read, .. } => read(self, key, c),
            // Read by the row it names, together with that row's key.
            Kind::ReadBy { by, .. } => debug_assert!(
                ROWS.iter().any(|r| r.key == *by && matches!(r.kind, Kind::Custom { .. })),
                "{key} is read by {by}, which has no reader of its own"
            ),
        }
    }

    /// The value at an accepted dotted path, if the file sets it. Shape
    /// errors on the way were reported while vetting.
    pub(super) fn find(&mut self, key: &'static str) -> Option<Found<'a>> {
        debug_assert!(
            Shape::of(key) != Shape::Unaccepted,
            "{key} is read but not in ACCEPTED_KEYS"
        );
        let (parents, name) = match key.rsplit_once('.') {
            Some((parents, name)) => (Some(parents), name),
            None => (None, key),
        };
        let mut table = self.root;
        for part in parents.into_iter().flat_map(|p| p.split('.')) {
            match table.get(part).map(Spanned::get_ref) {
                Some(DeValue::Table(inner)) => table = inner,
                _ => return None,
            }
        }
        self.find_in(table, name, key.to_owned())
    }

    pub(super) fn find_in(
        &mut self,
        table: &'a DeTable<'a>,
        name: &str,
        shown: String,
    ) -> Option<Found<'a>> {
        let value = table.get(name)?;
        self.lines.insert(shown.clone(), position(self.text, value.span().start).0);
        Some(Found { key: shown, value })
    }

    /// Reports that `found` is not of the expected form.
    pub(super) fn expected(&mut self, found: &Found<'a>, form: &str) {
        let message =
            format!("{}: expected {form}, got {}", found.key, show(found.value.get_ref()));
        self.problem(&found.key.clone(), found.value.span(), message);
    }

    pub(super) fn string_in(&mut self, found: &Found<'a>, form: &str) -> Option<&'a str> {
        match found.value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.expected(found, form);
                None
            }
        }
    }

    pub(super) fn string(&mut self, key: &'static str, form: &str) -> Option<(Found<'a>, &'a str)> {
        let found = self.find(key)?;
        let s = self.string_in(&found, form)?;
        Some((found, s))
    }

    pub(super) fn number(
        &mut self,
        key: &'static str,
        noun: &str,
        range: RangeInclusive<u64>,
    ) -> Option<u64> {
        let found = self.find(key)?;
        let n = match found.value.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        let in_range = n.filter(|n| range.contains(n));
        if in_range.is_none() {
            let form = if *range.end() == u64::MAX {
                format!("{noun} of at least {}", range.start())
            } else {
                format!("{noun} from {} to {}", range.start(), range.end())
            };
            self.expected(&found, &form);
        }
        in_range
    }

    pub(super) fn millis(&mut self, key: &'static str) -> Option<Duration> {
        self.number(key, "a number of milliseconds", 1..=MAX_DAYS_365_SECONDS * 1000)
            .map(Duration::from_millis)
    }

    pub(super) fn seconds(&mut self, key: &'static str) -> Option<Duration> {
        self.number(key, "a number of seconds", 1..=MAX_DAYS_365_SECONDS).map(Duration::from_secs)
    }

    /// A size in MiB, returned in bytes.
    pub(super) fn megabytes(&mut self, key: &'static str) -> Option<u64> {
        self.number(key, "a number of megabytes", 1..=MAX_MEGABYTES).map(|mb| mb * MIB)
    }

    pub(super) fn boolean(&mut self, key: &'static str) -> Option<bool> {
        let found = self.find(key)?;
        match found.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.expected(&found, "true or false");
                None
            }
        }
    }

    pub(super) fn path(&mut self, key: &'static str, example: &str) -> Option<PathBuf> {
        let form = format!("a path such as {example}");
        let (found, s) = self.string(key, &form)?;
        if s.is_empty() {
            self.expected(&found, &form);
            return None;
        }
        Some(PathBuf::from(s))
    }

    pub(super) fn socket_addr(&mut self, key: &'static str, example: &str) -> Option<SocketAddr> {
        let form = format!("ip:port such as {example}");
        let (found, s) = self.string(key, &form)?;
        let addr = s.parse().ok();
        if addr.is_none() {
            self.expected(&found, &form);
        }
        addr
    }

    /// One of `options`, as written.
    pub(super) fn choice(
        &mut self,
        key: &'static str,
        options: &[&'static str],
    ) -> Option<&'static str> {
        let form = one_of(options);
        let (found, s) = self.string(key, &form)?;
        let chosen = options.iter().find(|o| **o == s).copied();
        if chosen.is_none() {
            self.expected(&found, &form);
        }
        chosen
    }
}

pub(super) fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// `a, b or c`
fn one_of(options: &[&str]) -> String {
    match options {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A value as the user wrote it, for "got ..." (strings quoted).
pub(super) fn show(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("{s:?}"),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(x) => x.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}
