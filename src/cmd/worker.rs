//! `faxsim __worker`: the child side of crash-safe hosting (`faxsim_worker`). Started by
//! faxsim itself with a private channel; hidden from help.

use std::path::PathBuf;

use clap::Args;
use faxsim_trace::ExtensionKind;

use crate::cli::{CliError, Outcome};
use crate::cmd::validate::KindArg;

/// Arguments of `faxsim __worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Host every library as this kind.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// The libraries, in order.
    #[arg(value_name = "LIB", last = true)]
    pub libs: Vec<PathBuf>,
}

/// Runs the worker until its parent is done with it.
pub fn run(args: &WorkerArgs) -> Result<Outcome, CliError> {
    match faxsim_worker::child::serve(&args.libs, args.kind.map(ExtensionKind::from)) {
        Ok(true) => Ok(Outcome::Clean),
        Ok(false) => Ok(Outcome::BadInput),
        Err(e) => Err(CliError::Input(e.0)),
    }
}
