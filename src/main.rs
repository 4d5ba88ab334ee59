//! The command-line edge: argument parsing, exit codes and output files. No analysis
//! logic lives here; every subcommand calls into the `whohosts` library.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc rather than the system's malloc: the analysis of a large capture takes an
/// eighth to a fifth less time (`benches/RESULTS.md`, 2026-12-06, late night).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `--version`: the program's version and the attribution its bundled data requires.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\n",
    "Bundled data: ASN data: @ip-location-db/asn (CC BY 4.0) by RouteViews (routeviews.org), \
     DB-IP (db-ip.com, IP Geolocation by DB-IP) and the NRO (nro.net). Country data: \
     @ip-location-db/geo-whois-asn-country-mmdb (CC0-1.0), from RIR data by the NRO (nro.net). \
     Details: data/README.md."
);

#[derive(Parser)]
#[command(
    name = "whohosts",
    version,
    long_version = LONG_VERSION,
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
    /// Capture live from interfaces into pcapng files (alone or into a case), with a
    /// live view of the services seen; `-D` lists the interfaces.
    Capture(cli::capture::Args),
    /// Attribute addresses offline: ASN, country, hosting provider, region.
    Lookup(cli::lookup::Args),
    /// Manage attribution data: import feeds, list what is loaded.
    Data(cli::data::Args),
    /// Evidence case directories: new, add, seal, sheet, timestamp import.
    Case(cli::case::Args),
    /// A notary-assisted evidence session: start (case, time-stamp, capture), run
    /// clients, status, stop (reports, letters, seal, the notary's summary).
    Session(cli::session::Args),
    /// Re-check a case directory (or one file) offline; exit 3 on any difference.
    Verify(cli::verify::Args),
    /// Draft notices to the providers hosting the services of a report; `init`, `lint`.
    Letter(cli::letter::Args),
    /// Compare the objects a report extracted with your original files (exact and
    /// similar, archives entry by entry) and write a match result.
    Match(cli::matching::Args),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (whohosts.1 and one per subcommand) into DIR.
    Manpages {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => cli::analyze::run(args),
        Command::Capture(args) => cli::capture::run(args),
        Command::Lookup(args) => cli::lookup::run(args),
        Command::Data(args) => cli::data::run(args),
        Command::Case(args) => cli::case::run(args),
        Command::Session(args) => cli::session::run(args),
        Command::Verify(args) => cli::verify::run(args),
        Command::Letter(args) => cli::letter::run(args),
        Command::Match(args) => cli::matching::run(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Built in memory, then written as every other output is (a closed pipe
            // is not an error).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "whohosts", &mut script);
            cli::write_output(std::path::Path::new("-"), &script).map(|()| 0)
        }
        Command::Manpages { dir } => {
            use clap::CommandFactory;
            std::fs::create_dir_all(&dir)
                .and_then(|()| clap_mangen::generate_to(Cli::command(), &dir))
                .map(|()| 0)
                .map_err(|e| anyhow::anyhow!("writing man pages into {}: {e}", dir.display()))
        }
    };
    cli::finish(result)
}
