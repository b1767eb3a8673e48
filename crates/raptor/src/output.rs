//! A command's results on stdout.

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};

/// The status a shell reports for a process that SIGPIPE ended (128 + 13).
const READER_GONE: i32 = 141;

/// Writes `args` to stdout. When the reader has gone (`raptor db check | head -1`), the command
/// ends there, quietly, with the status a Unix tool ended by SIGPIPE has; `println!` would
/// panic. SIGPIPE itself stays ignored, so a peer closing a socket is an error to handle, never
/// the end of the process. Any other failure to write ends the command with an error.
pub fn write(args: Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if err.kind() == ErrorKind::BrokenPipe {
            std::process::exit(READER_GONE);
        }
        eprintln!("error: could not write to stdout: {err}");
        std::process::exit(1);
    }
}
