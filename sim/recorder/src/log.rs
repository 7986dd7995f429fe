//! The proxy's own log: why it did not start, where its traces go, what it could not
//! record. Lines go to `<proxy stem>.log` beside the proxy (appended; a folder the
//! service cannot write to just loses them), to the debugger (`OutputDebugStringW`, on
//! Windows) and, for problems, to standard error.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::platform;

/// How much a line matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Where traces go and similar: the log file and the debugger only.
    Info,
    /// Something the user must fix or know: standard error as well.
    Problem,
}

/// The log file beside the proxy (`None` when the proxy cannot find itself).
fn log_path() -> Option<&'static PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let (_, proxy) = platform::this_module()?;
        let stem = proxy.file_stem()?.to_string_lossy().into_owned();
        Some(proxy.with_file_name(format!("{stem}.log")))
    })
    .as_ref()
}

/// Logs one line.
pub fn log(level: Level, message: &str) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let line = format!(
        "{} faxsim-recorder[{}]: {message}\n",
        crate::config::utc_stamp(secs),
        std::process::id()
    );
    if let Some(path) = log_path() {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
    platform::debug_output(&line);
    if level == Level::Problem {
        platform::stderr_write(line.as_bytes());
    }
}

/// Logs a problem.
pub fn problem(message: &str) {
    log(Level::Problem, message);
}

/// Logs an informational line.
pub fn info(message: &str) {
    log(Level::Info, message);
}
