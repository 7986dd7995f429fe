//! The rule checker (being written).
use crate::options::{DeliveryPolicy, VirtualFspInitOrder};
use crate::rules::Finding;
use faxsim_trace::Event;

/// What the checker needs to know about the service that produced the events.
#[derive(Clone, Debug, Default)]
pub struct CheckerConfig {
    /// Extension names, indexed by `ExtId`, for messages.
    pub names: Vec<String>,
    /// The service's nesting limit (`notification-storm` above it).
    pub nesting_limit: u32,
    /// The delivery policy, which decides when a missing notification is final.
    pub delivery: DeliveryPolicy,
    /// Where a virtual FSP's FaxDevInitialize may go.
    pub virtual_fsp_init: VirtualFspInitOrder,
}

/// Judges an event stream, live or offline.
#[derive(Debug, Default)]
pub struct Checker {
    findings: Vec<Finding>,
}

impl Checker {
    /// A checker for a service configured as `config`.
    pub fn new(_config: CheckerConfig) -> Checker {
        Checker::default()
    }
    /// Feeds one event (in `seq` order).
    pub fn observe(&mut self, _event: &Event) {}
    /// The end of the stream: reports what can only be judged at the end.
    pub fn finish(&mut self) {}
    /// The findings so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
}

/// Checks a whole event stream.
pub fn check_events(events: &[Event], config: CheckerConfig) -> Vec<Finding> {
    let mut c = Checker::new(config);
    for e in events {
        c.observe(e);
    }
    c.finish();
    c.findings
}
