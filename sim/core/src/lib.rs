//! faxsim-sim: a deterministic model of the fax service's side of the extension
//! configuration protocol (`faxext.h`), and the rule checker that judges event streams.
//!
//! See `README.md` beside this crate for the determinism contract, and `docs/choices.md`
//! at the root of the repository for every modelling choice.
#![forbid(unsafe_code)]

pub mod checker;
pub mod choices;
pub mod devices;
pub mod example_extensions;
pub mod explain;
pub mod exploring;
pub mod extension;
pub mod faults;
pub mod guid;
pub mod hooks;
mod idtable;
pub mod ledger;
pub mod options;
pub mod registry;
pub mod rules;
pub mod seed;
pub mod service;
pub mod store;

pub use checker::{Checker, CheckerConfig, check_events};
pub use choices::{CallPoint, Choice, Choices, LoggedChoices, SeededChoices, WritePoint};
pub use exploring::{ExploringChoices, Strategy};
pub use extension::{ConfigChange, Extension, ExtensionSpec, RoutingInfo, VirtualDevices};
pub use faults::{Fault, Trigger};
pub use faxsim_trace as trace;
pub use hooks::HookExtension;
pub use options::*;
pub use registry::HInst;
pub use rules::{Finding, Rule, Severity, Side};
pub use service::{
    Callbacks, ENUM_FILE_FUNCTION, EventSink, FreeArg, LimitKind, Oracle, RECEIVED_FAX_FOLDER,
    Refused, RouteFileAnswer, RouteFileArgs, RoutedFile, Service, SimError, UnregisterArg,
    received_fax_name,
};
