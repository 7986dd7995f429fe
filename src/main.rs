//! `faxsim`: test Windows fax extensions against a deterministic model of the fax service.
use std::process::ExitCode;

mod cli;
mod cmd;
#[allow(
    dead_code,
    reason = "the recorder is for run/validate --record; tested in place"
)]
mod record;
mod report;

fn main() -> ExitCode {
    cli::main()
}
