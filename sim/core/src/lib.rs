//! faxsim-sim: a deterministic model of the fax service's side of the extension
//! configuration protocol (`faxext.h`), and the rule checker that judges event streams.
//!
//! See `README.md` beside this crate for the determinism contract.
#![forbid(unsafe_code)]

pub mod checker;
pub mod guid;
pub mod options;
pub mod rules;

pub use checker::{Checker, CheckerConfig, check_events};
pub use options::*;
pub use rules::{Finding, Rule, Severity, Side};
pub use faxsim_trace as trace;
