//! The command-line edge: argument parsing, exit codes and output files. No analysis
//! logic lives here; every subcommand calls into the `whohosts` library.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "whohosts",
    version,
    about = "Find who hosts the services seen in a packet capture"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse capture files: conversations, endpoints and the capture hashes.
    Analyze(cli::analyze::Args),
    /// Draft notices to the providers hosting the services of a report; `init`, `lint`.
    Letter(cli::letter::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => cli::analyze::run(args),
        Command::Letter(args) => cli::letter::run(args),
    };
    cli::finish(result)
}
