//! The `scangate` binary: parse the command line, run, map errors to an exit code.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SCANGATE_LOG")
                .unwrap_or_else(|_| "scangate=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = scangate::cli::Cli::parse();
    match scangate::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
