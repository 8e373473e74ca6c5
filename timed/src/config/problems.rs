//! What is wrong with a configuration: [`ConfigErrors`] for a whole file,
//! [`Problem`] for one key or line.

use std::fmt;
use std::path::PathBuf;

/// Everything wrong with one configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file, when the configuration came from one.
    pub path: Option<PathBuf>,
    /// Every problem found, in file order.
    pub problems: Vec<Problem>,
}

/// One line per problem: `<file>:<line>: <message>` (with `:<column>` for
/// TOML syntax errors); without a file, `line <line>: <message>`.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match &self.path {
                Some(path) => {
                    write!(f, "{}", path.display())?;
                    if let Some(line) = problem.line {
                        write!(f, ":{line}")?;
                    }
                    if let Some(column) = problem.column {
                        write!(f, ":{column}")?;
                    }
                    write!(f, ": {}", problem.message)?;
                }
                None => write!(f, "{problem}")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// One problem in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key it is about (`network.listen_address`,
    /// `network.peers[0].id`); `None` for TOML syntax errors and unreadable
    /// files.
    pub key: Option<String>,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// 1-based column, for TOML syntax errors.
    pub column: Option<usize>,
    /// A complete one-line sentence that names the key, for example
    /// `unknown key network.listen_adress (did you mean network.listen_address?)`.
    pub message: String,
}

impl Problem {
    pub(super) fn about(key: &str, message: String) -> Problem {
        Problem { key: Some(key.to_owned()), line: None, column: None, message }
    }

    pub(super) fn general(message: String) -> Problem {
        Problem { key: None, line: None, column: None, message }
    }
}

/// `line <line>[, column <column>]: <message>`, or just the message.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}
