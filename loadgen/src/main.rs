//! `loadgen`: parses the command line, runs it on a tokio runtime, maps the
//! result to an exit code (see `loadgen --help`). Ctrl-C ends sending
//! early and still reports; a second Ctrl-C exits at once.

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use loadgen::cli::{Cli, execute};

fn main() -> ExitCode {
    let cli = Cli::parse();
    client::logging::init(cli.log_format, "warn");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: error: cannot start the runtime: {e}");
            return ExitCode::from(loadgen::error::EXIT_COULD_NOT_RUN as u8);
        }
    };
    let code = runtime.block_on(async {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("loadgen: stopping: draining and reporting (Ctrl-C again to quit now)");
                on_signal.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        execute(cli, stop).await
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
