//! `raptor`: serves the Raxx API and carries every operator command.

mod cli;
mod logging;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system's malloc: a request allocates and frees many small blocks
/// across threads, where glibc's malloc spent about a tenth of a `/healthz` answer's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if !cli.runs_until_stopped() {
        end_quietly_when_the_reader_goes();
    }
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A one-shot command whose reader has gone (`raptor db check | head -1`) ends at its next
/// write, as Unix tools do, rather than panicking in `println!`: Rust starts every program with
/// SIGPIPE ignored. `serve` and `worker` keep it ignored: a closed pipe must never stop them.
#[cfg(unix)]
fn end_quietly_when_the_reader_goes() {
    // SAFETY: runs before the runtime starts any thread, and only sets SIGPIPE back to the
    // disposition every process starts with.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_when_the_reader_goes() {}
