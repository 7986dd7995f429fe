//! Running a hosted run in a child process, so an extension that crashes or hangs takes
//! down the child, not faxsim.
//!
//! The child is any command (faxsim itself, with the run's arguments) that writes the
//! run as a trace file flushed after every event. The parent watches that file: an event
//! written is progress; no new event within the time limit is a hang (the child's whole
//! process group is killed); an exit by a signal or an exception is a crash. Either way
//! the trace holds every event up to the failure, for the salvaging reader. The child's
//! own output streams are its own: the parent never reads a protocol from them, so an
//! extension printing cannot forge an outcome.

use std::io;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How a supervised child ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited on its own with this status (any exit code: the command's own).
    Exited(ExitStatus),
    /// It died of a signal or an exception; the words say which.
    Crashed(String),
    /// Its trace did not grow for the time limit; it was killed.
    Hung,
}

/// Starts `cmd` in a process group of its own and waits for it, watching `progress` (the
/// trace it writes): see the module docs. `limit` is how long it may go without writing
/// an event.
pub fn supervise(mut cmd: Command, progress: &Path, limit: Duration) -> io::Result<Ended> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Its own group: a hang kills every process the extension started too.
        cmd.process_group(0);
    }
    let mut child = cmd.spawn()?;
    let mut size = file_len(progress);
    let mut last_progress = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(if crashed(&status) {
                Ended::Crashed(describe_exit(&status))
            } else {
                Ended::Exited(status)
            });
        }
        let now_size = file_len(progress);
        if now_size != size {
            size = now_size;
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= limit {
            kill_group(&mut child);
            let _ = child.wait();
            return Ok(Ended::Hung);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// Whether an exit status is a crash rather than an exit.
fn crashed(status: &ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if status.signal().is_some() {
            return true;
        }
    }
    // NTSTATUS exception codes come back as negative exit codes on Windows.
    status.code().is_none_or(|c| c < 0)
}

#[cfg(unix)]
fn kill_group(child: &mut Child) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        let _ = child.kill();
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the process group the child leads (it
    // was started with `process_group(0)`); no memory is involved.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(child: &mut Child) {
    let _ = child.kill();
}

/// A process's end in words: the signal's name (`SIGSEGV (signal 11)`), the exception
/// code, or the exit code.
pub fn describe_exit(status: &ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(sig) = status.signal() {
            let name = match sig {
                libc::SIGILL => "SIGILL",
                libc::SIGABRT => "SIGABRT",
                libc::SIGBUS => "SIGBUS",
                libc::SIGFPE => "SIGFPE",
                libc::SIGKILL => "SIGKILL",
                libc::SIGSEGV => "SIGSEGV",
                libc::SIGTERM => "SIGTERM",
                _ => "signal",
            };
            return format!("{name} (signal {sig})");
        }
    }
    match status.code() {
        Some(c) if c < 0 => format!("exception {:#010x}", c as u32),
        Some(c) => format!("the process exited with code {c}"),
        None => "the process ended abnormally".into(),
    }
}
