//! `raptor`: serves the Raxx API and carries every operator command.

/// `println!` for a command's results: see [`output::write`].
macro_rules! out {
    () => {
        $crate::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cli;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system's malloc: a request allocates and frees many small blocks
/// across threads, where glibc's malloc spent about a tenth of a `/healthz` answer's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
