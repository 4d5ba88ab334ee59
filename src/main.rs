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

/// `mi_option_purge_delay` in mimalloc 2.x's `mi_option_e` (libmimalloc-sys gives no
/// constant for it): milliseconds before freed memory goes back to the system.
#[cfg(feature = "mimalloc")]
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system after 1 ms instead of mimalloc's 10. After the
/// pass the report's stages each allocate and free in a burst, and with 10 ms the
/// pages one stage had freed were still held when the next one peaked: the 1 GiB
/// benchmark's peak resident set was 48 to 56 MiB, and is 40 to 42 MiB with 1 ms, in
/// the same time (`benches/RESULTS.md`, 2026-12-08). `MIMALLOC_PURGE_DELAY` in the
/// environment still decides when set.
#[cfg(feature = "mimalloc")]
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a numeric option mimalloc reads whenever it schedules a
        // purge; called first thing in `main`, before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 1) };
    }
}

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
    #[cfg(feature = "mimalloc")]
    tune_allocator();
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

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // Its default, 10 ms, tells it from its neighbours in mimalloc's list (the
        // eager commit delay, 1; NUMA nodes, 0): a mimalloc whose list moved fails here.
        // With the variable set, mimalloc read it and the program leaves it.
        // SAFETY: reads and sets a numeric option; no other test touches options.
        let set = std::env::var("MIMALLOC_PURGE_DELAY").ok();
        let expected = |default| set.as_deref().map_or(default, |v| v.parse().unwrap());
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) },
            expected(10)
        );
        tune_allocator();
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) },
            expected(1)
        );
    }
}
