//! The `scangate` binary: parse the command line, run, map errors to an exit code.

use clap::Parser;
use scangate::cli::{Cli, Command};
use std::io::IsTerminal;
use std::process::ExitCode;

/// mimalloc, not the system allocator: a scan allocates and frees on every
/// tokio worker, which mimalloc serves from per-thread heaps without glibc
/// malloc's arena locks (what they cost: docs/benchmarks/history.md, second
/// round).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The gateway reports what it does; client commands print only their
    // answer (and warnings). `SCANGATE_LOG` overrides either.
    let default_filter = match cli.command {
        Command::Serve(_) => "scangate=info,warn",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SCANGATE_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file or journald gets plain text.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    match scangate::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", scangate::terminal::Shown(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}
