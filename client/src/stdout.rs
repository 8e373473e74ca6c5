//! A command's output on stdout. `println!` panics when stdout is a pipe
//! whose reader has gone (`time-cli getblock … | head`); [`outln!`] and
//! [`out!`] end the program quietly instead, as command-line tools do.
//!
//! [`outln!`]: crate::outln
//! [`out!`]: crate::out

use std::io::{self, Write};

/// Writes `args` to stdout and flushes. A closed pipe ends the program with
/// exit code 0; any other write error ends it with exit code 1 and the
/// reason on stderr.
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` for a command's output: a closed stdout ends the program
/// quietly (see [`write`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for a command's output: a closed stdout ends the program
/// quietly (see [`write`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*))
    };
}

/// Writes the completion script of `command` for `shell` (the
/// `completions SHELL` subcommand of timectl, loadgen and time-cli), as
/// [`write`] does.
pub fn completions(shell: clap_complete::Shell, mut command: clap::Command) {
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    write(format_args!("{}", String::from_utf8_lossy(&script)));
}

/// Writes the man page of `command` (roff, for `man -l -` or a `man1`
/// directory), as [`write`] does.
pub fn man_page(command: clap::Command) {
    let mut page = Vec::new();
    if let Err(e) = clap_mangen::Man::new(command).render(&mut page) {
        eprintln!("cannot render the man page: {e}");
        std::process::exit(1);
    }
    write(format_args!("{}", String::from_utf8_lossy(&page)));
}
