//! The `scangate-load` binary: parse, run, print. Exit status 0 when the
//! check passed (or was skipped), 1 when it found a violation or could not
//! read every pass back, 2 when the run could not be done.

use anyhow::Context;
use clap::Parser;
use scangate_load::cli::Args;
use std::io::IsTerminal;
use std::process::ExitCode;

/// mimalloc, as in the gateway: the load generator shares the cores it measures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = std::env::var("SCANGATE_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("scangate-load: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<bool> {
    if let Some(n) = args.connect_flood {
        return connect_flood(&args, n);
    }
    let plan = args.plan()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(scangate_load::run(&plan))?;
    if let Some(path) = &args.plot {
        std::fs::write(path, scangate_load::svg::plot(&report))
            .with_context(|| format!("cannot write the chart to {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        if !report.passed() {
            // Scripts often keep stdout and drop stderr, or the reverse: a
            // violation must not be lost with the JSON line.
            eprint!("{}", report.check_summary());
        }
    } else {
        print!("{}", report.human());
    }
    Ok(report.passed())
}

/// `--connect-flood N`: the attempts' figures, one JSON object with `--json`.
fn connect_flood(args: &Args, n: u32) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let f = runtime.block_on(scangate_load::connect_flood::run(args, n))?;
    if args.json {
        println!("{}", serde_json::to_string(&f)?);
    } else {
        println!(
            "connection attempts {} in {:.1} s: completed {} (p50 {:.0} ms, p99 {:.0}), refused {} ({} valid), timed out {}, completed with another CA {}",
            f.attempts,
            f.elapsed_s,
            f.completed,
            f.completed_p50_ms,
            f.completed_p99_ms,
            f.refused,
            f.valid_refused,
            f.timed_out,
            f.foreign_completed
        );
    }
    Ok(f.foreign_completed == 0)
}
