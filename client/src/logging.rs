//! The diagnostics of timectl's agent and loadgen on stderr, as text or as
//! JSON lines (`--log-format json`, as `timed --log-format json`), through
//! tracing. `RUST_LOG` overrides the level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How diagnostics are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Pretty,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

impl LogFormat {
    /// The name `--log-format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        }
    }
}

/// Installs the subscriber: `RUST_LOG` if set, else `default_filter`
/// (e.g. `"warn"`); colours only on a terminal. A second call does nothing.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal());
    // Err only when a subscriber is already installed: that one stays.
    match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    }
    .ok();
}
