//! The `scangate` binary: parse the command line, run, map errors to an exit code.
//!
//! `scangate serve` runs the gateway, which lives in `scangate-gateway`; every
//! other command is a thin client (the admin API through `scangate-api`, one
//! scan through the scanner SDK, or the data directory's files through the
//! gateway library's own functions). No server logic lives here.
//!
//! Modules: [`cli`] (clap arguments and dispatch), [`pass_cmd`], [`scan_cmd`],
//! [`audit_cmd`], [`conflicts_cmd`] and [`revoke_cmd`] (client commands,
//! over [`admin_client`]), [`scanner_cmd`] (a scanner's offline snapshot
//! and upload queue, which `scan --offline-dir` decides from),
//! [`terminal`] (stored text made safe to print).

// Client-controlled input never reaches a panic: no `panic!`/`expect` outside tests.
#![cfg_attr(not(test), deny(clippy::panic, clippy::expect_used))]

mod admin_client;
mod audit_cmd;
mod card_args;
mod cli;
mod conflicts_cmd;
mod event_cmd;
mod flags_cmd;
mod gate_cmd;
mod link_cmd;
mod occupancy_cmd;
mod paging;
mod pass_cmd;
mod public_args;
mod revoke_cmd;
mod scan_cmd;
mod scanner_cmd;
mod serve_config;
mod terminal;

use clap::Parser;
use cli::{Cli, Command};
use std::io::IsTerminal;
use std::process::ExitCode;

/// mimalloc, not the system allocator: a scan allocates and frees on every
/// tokio worker, which mimalloc serves from per-thread heaps without glibc
/// malloc's arena locks (what they cost: docs/benchmarks/history.md, second
/// round).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Threads tokio may start for blocking work (store queries, journal
/// appends, snapshot builds). Each reserves a 2 MiB stack: tokio's default
/// of 512 could take 1 GiB of address space in a burst, and a thread it
/// cannot start under a memory cap is a panic. Past this many, blocking
/// work waits for a free thread.
const MAX_BLOCKING_THREADS: usize = 64;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> ExitCode {
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
    match crate::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            let text = crate::terminal::error_chain(&e);
            eprintln!("error: {}", crate::terminal::Shown(&text));
            ExitCode::from(2)
        }
    }
}
