//! Soft checks: a test of many independent facts reports every one that
//! fails, not only the first.

use std::fmt::Display;

use client::ClientError;

#[derive(Default)]
pub(crate) struct Findings(pub(crate) Vec<String>);

impl Findings {
    pub(crate) fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    pub(crate) fn eq<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        actual: T,
        expected: T,
    ) {
        if actual != expected {
            self.0.push(format!("{what}: got {actual:?}, expected {expected:?}"));
        }
    }

    /// The result of a call, or `None` with the error recorded.
    pub(crate) fn ok<T>(
        &mut self,
        what: impl Display,
        result: Result<T, ClientError>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(format!("{what} failed: {e}"));
                None
            }
        }
    }

    pub(crate) fn assert_none(self, context: &str) {
        assert!(
            self.0.is_empty(),
            "{context}: {} problem(s):\n  - {}",
            self.0.len(),
            self.0.join("\n  - ")
        );
    }
}
