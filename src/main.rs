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
    /// Evidence case directories: new, add, seal, sheet, timestamp import.
    Case(cli::case::Args),
    /// Re-check a case directory (or one file) offline; exit 3 on any difference.
    Verify(cli::verify::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => cli::analyze::run(args),
        Command::Case(args) => cli::case::run(args),
        Command::Verify(args) => cli::verify::run(args),
    };
    cli::finish(result)
}
