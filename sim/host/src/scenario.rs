//! Real libraries in scenario files: `faxsim-sim`'s [`LibraryHost`] on top of [`Host`].

use std::path::Path;
use std::time::Duration;

use faxsim_sim::Service;
use faxsim_sim::scenario::{HostStepError, LibraryHost};
use faxsim_trace::ExtensionKind;

use crate::{Host, HostError};

/// How long a scheduling point serves calls from threads the libraries started.
const PUMP: Duration = Duration::from_millis(50);

/// Hosts the libraries a scenario names.
#[derive(Debug, Default)]
pub struct ScenarioHost {
    host: Host,
}

impl ScenarioHost {
    /// A host with no library yet.
    pub fn new() -> ScenarioHost {
        ScenarioHost { host: Host::new() }
    }
}

fn step_error(e: HostError) -> HostStepError {
    match e {
        HostError::Sim(e) => HostStepError::Sim(e),
        HostError::Load(e) => HostStepError::Other(e.to_string()),
    }
}

impl LibraryHost for ScenarioHost {
    fn open(&mut self, path: &Path, name: &str, kind: ExtensionKind) -> Result<(), String> {
        self.host
            .open_named(path, Some(kind), name)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn attach(&mut self, svc: &mut Service) -> Result<(), String> {
        self.host.attach(svc).map(|_| ()).map_err(|e| e.to_string())
    }

    fn start(&mut self, svc: &mut Service) -> Result<(), HostStepError> {
        self.host.start(svc).map_err(step_error)
    }

    fn stopped(&mut self, svc: &mut Service) {
        self.host.close_unloaded(svc);
    }

    fn pump(&mut self, svc: &mut Service) {
        self.host.pump(svc, PUMP);
    }
}
