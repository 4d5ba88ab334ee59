//! One file per subcommand, plus the shared exit-code handling.

pub(crate) mod analyze;
pub(crate) mod capture;
pub(crate) mod case;
pub(crate) mod data;
pub(crate) mod embedded;
pub(crate) mod letter;
pub(crate) mod lookup;
pub(crate) mod matching;
pub(crate) mod online;
pub(crate) mod session;
pub(crate) mod verify;

use std::process::ExitCode;

/// Documented exit codes (see README.md).
pub(crate) mod exit {
    /// Everything completed and nothing odd was found.
    pub(crate) const OK: u8 = 0;
    /// The work completed, but anomalies were recorded (damaged or odd input).
    pub(crate) const ANOMALIES: u8 = 1;
    /// A usage error or an environment error (unreadable input, unwritable output).
    pub(crate) const ERROR: u8 = 2;
    /// A check failed: verification found a difference, a letter is incomplete.
    pub(crate) const CHECK_FAILED: u8 = 3;
}

/// Turns a subcommand's outcome into the process exit code, printing errors with
/// their whole context chain.
pub(crate) fn finish(result: anyhow::Result<u8>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("whohosts: error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `bytes` to standard output (`-`) or atomically to a new file: a temporary
/// file in the same directory, synced, then renamed into place.
pub(crate) fn write_output(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()?;
        return Ok(());
    }
    whohosts::report::write_atomic(path, bytes)?;
    Ok(())
}
