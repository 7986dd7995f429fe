//! `faxsim`: test Windows fax extensions against a deterministic model of the fax service.
use std::process::ExitCode;

mod cli;
mod cmd;
mod report;

fn main() -> ExitCode {
    cli::main()
}
