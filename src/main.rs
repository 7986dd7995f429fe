//! `faxsim`: test Windows fax extensions against a deterministic model of the fax service.
use std::process::ExitCode;

mod cli;
mod cmd;
mod report;

/// The stack of the thread that runs the service: nested notifications are nested calls
/// on it (a scenario may allow up to `faxsim_scenario::MAX_NESTING` levels, each with a hosted
/// library's own frames), so its size is fixed here, the same on every OS, rather than
/// left to the platform's main-thread default (1 MiB on Windows). Only touched pages are
/// committed.
const SERVICE_STACK: usize = 256 << 20;

fn main() -> ExitCode {
    match std::thread::Builder::new()
        .name("faxsim".into())
        .stack_size(SERVICE_STACK)
        .spawn(cli::main)
    {
        Ok(t) => t.join().unwrap_or(ExitCode::from(101)),
        // No thread of that size (a tight address-space limit): run here instead.
        Err(_) => cli::main(),
    }
}
