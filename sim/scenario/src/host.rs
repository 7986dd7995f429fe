//! Real libraries in scenario files (`library = "..."`), hosted through
//! [`faxsim_host::Host`]: the few things a scenario run asks of a host.

use std::path::Path;
use std::time::Duration;

use faxsim_host::{Host, HostError};
use faxsim_sim::{Service, SimError};
use faxsim_trace::ExtensionKind;

/// How long a scheduling point serves calls from threads the libraries started.
const PUMP: Duration = Duration::from_millis(50);

/// Why a step could not be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostStepError {
    /// The simulated service refused (or hit a limit).
    Sim(SimError),
    /// Anything else (a library that no longer loads), in words.
    Other(String),
}

/// The libraries one scenario run hosts.
#[derive(Debug)]
pub(crate) struct HostedLibraries {
    host: Host,
}

fn step_error(e: HostError) -> HostStepError {
    match e {
        HostError::Sim(e) => HostStepError::Sim(e),
        HostError::Load(e) => HostStepError::Other(e.to_string()),
    }
}

impl HostedLibraries {
    /// A host with no library yet.
    pub(crate) fn new() -> HostedLibraries {
        HostedLibraries { host: Host::new() }
    }

    /// Opens `path` as the extension `name` of `kind` (not yet added to a service).
    pub(crate) fn open(
        &mut self,
        path: &Path,
        name: &str,
        kind: ExtensionKind,
    ) -> Result<(), String> {
        self.host
            .open_named(path, Some(kind), name)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Adds every opened library to `svc` (stopped), in the order opened.
    pub(crate) fn attach(&mut self, svc: &mut Service) -> Result<(), String> {
        self.host.attach(svc).map(|_| ()).map_err(|e| e.to_string())
    }

    /// Starts the service, loading again the libraries a stop unloaded.
    pub(crate) fn start(&mut self, svc: &mut Service) -> Result<(), HostStepError> {
        self.host.start(svc).map_err(step_error)
    }

    /// After the service stopped: closes the libraries it unloaded.
    pub(crate) fn stopped(&mut self, svc: &mut Service) {
        self.host.close_unloaded(svc);
    }

    /// Keeps the service thread ids `ids` (see [`Host::reserve_thread_ids`]).
    pub(crate) fn reserve_threads(&self, ids: &[u16]) {
        self.host.reserve_thread_ids(ids);
    }

    /// Runs `f` on service thread `id` (see [`Host::on_service_thread`]).
    pub(crate) fn on_service_thread<R>(&self, id: u16, f: impl FnOnce() -> R) -> R {
        self.host.on_service_thread(id, f)
    }

    /// A scheduling point for threads the libraries started.
    pub(crate) fn pump(&mut self, svc: &mut Service) {
        self.host.pump(svc, PUMP);
    }
}
