//! The rule catalog: every kind of finding, with its stable id and severity.

use std::fmt;

use faxsim_trace::ExtId;
use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Legal, but almost certainly a bug, or relies on a modelling choice.
    Warning,
    /// Breaks a documented rule.
    Error,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whose bug a rule describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// A bug in the extension under test.
    Extension,
    /// The service broke its side of the contract (traces from a real service, or a
    /// simulated service deviation).
    Service,
}

macro_rules! rules {
    ($( $variant:ident = $id:literal, $sev:ident, $side:ident, $desc:literal; )*) => {
        /// One rule of the catalog.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Rule {
            $( #[doc = $desc] $variant, )*
        }

        impl Rule {
            /// Every rule, in catalog order.
            pub const ALL: &'static [Rule] = &[ $( Rule::$variant, )* ];

            /// The stable kebab-case id.
            pub fn id(self) -> &'static str {
                match self { $( Rule::$variant => $id, )* }
            }

            /// The severity.
            pub fn severity(self) -> Severity {
                match self { $( Rule::$variant => Severity::$sev, )* }
            }

            /// Whose bug it is.
            pub fn side(self) -> Side {
                match self { $( Rule::$variant => Side::$side, )* }
            }

            /// One line saying what the rule catches.
            pub fn description(self) -> &'static str {
                match self { $( Rule::$variant => $desc, )* }
            }
        }
    };
}

rules! {
    BufferLeak = "buffer-leak", Error, Extension,
        "a GetData buffer was still not freed when the extension was unloaded";
    DoubleFree = "double-free", Error, Extension,
        "FreeBuffer was called on a buffer that was already freed";
    ForeignFree = "foreign-free", Error, Extension,
        "FreeBuffer was called on a pointer GetData never returned (a ConfigChange lpData, the extension's own memory)";
    FreeNull = "free-null", Warning, Extension,
        "FreeBuffer was called with NULL";
    BufferOverrun = "buffer-overrun", Error, Extension,
        "bytes past the end of a GetData buffer were written";
    WriteAfterFree = "write-after-free", Error, Extension,
        "a GetData buffer was written after it was freed";
    ChangeBufferWritten = "change-buffer-written", Error, Extension,
        "the extension wrote into the lpData of a ConfigChange call";
    InputWritten = "input-written", Error, Extension,
        "the extension wrote into read-only input the service passed: a GUID string or the routing info of FaxRouteSetRoutingInfo";
    CallBeforeConfigInit = "call-before-config-init", Error, Extension,
        "a callback was used before FaxExtInitializeConfig handed the callbacks out";
    CallAfterUnload = "call-after-unload", Error, Extension,
        "a callback was used after the extension was unloaded";
    CallAfterInitFailure = "call-after-init-failure", Warning, Extension,
        "an extension whose FaxExtInitializeConfig failed, or whose general init returned FALSE, kept calling the service";
    InvalidGuid = "invalid-guid", Error, Extension,
        "a GUID string was NULL or not in braced form";
    ForeignHinst = "foreign-hinst", Warning, Extension,
        "SetData or Register got an hInst that is not the calling extension's own, which defeats self-exclusion";
    WrongIdSource = "wrong-id-source", Warning, Extension,
        "a routing extension or virtual FSP used DEV_ID_SRC_TAPI, or a TAPI FSP used DEV_ID_SRC_FAX for a non-zero device";
    BusyReentry = "busy-reentry", Warning, Extension,
        "Register or Unregister was called while a notification was being delivered (ERROR_BUSY)";
    DuplicateRegistration = "duplicate-registration", Warning, Extension,
        "Register for a (device, GUID) the extension already holds (ERROR_ALREADY_ASSIGNED)";
    StaleUnregister = "stale-unregister", Warning, Extension,
        "Unregister of a handle that is unknown or already unregistered";
    RegistrationLeak = "registration-leak", Warning, Extension,
        "an FSP still held registrations when its FaxDevShutdown returned";
    ConfigInitFailed = "config-init-failed", Error, Extension,
        "FaxExtInitializeConfig returned a failure HRESULT, so the service will not recognise the extension";
    ExtensionCrashed = "extension-crashed", Error, Extension,
        "the extension crashed or aborted (isolated hosting)";
    ExtensionHung = "extension-hung", Error, Extension,
        "a call into the extension did not return within the time limit (isolated hosting)";
    NotificationStorm = "notification-storm", Error, Extension,
        "nested notifications went deeper than the service's limit (extensions echoing each other's writes)";
    InitOrder = "init-order", Error, Service,
        "general init, or virtual device creation, happened in the wrong place relative to FaxExtInitializeConfig";
    InitFailureIgnored = "init-failure-ignored", Error, Service,
        "an extension whose FaxExtInitializeConfig failed, or whose general init returned FALSE, was still initialised, notified or called";
    NotifySelf = "notify-self", Error, Service,
        "a ConfigChange was delivered to the writer's own registration";
    NotifyMismatch = "notify-mismatch", Error, Service,
        "a ConfigChange was delivered for a (device, GUID) the registration did not ask for";
    NotifyAfterUnregister = "notify-after-unregister", Error, Service,
        "a ConfigChange arrived after the registration's Unregister returned";
    NotifyAfterShutdown = "notify-after-shutdown", Error, Service,
        "a ConfigChange arrived after the extension's shutdown began";
    MissedNotification = "missed-notification", Error, Service,
        "a matching registration (not the writer's) got no ConfigChange for a successful write";
}

impl Rule {
    /// Looks a rule up by its id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One violation found in a run or a trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// The rule's severity (kept so JSON consumers need no catalog).
    pub severity: Severity,
    /// The extension it concerns, when one does.
    pub ext: Option<ExtId>,
    /// Index of the event where it was detected.
    pub event: u64,
    /// What happened, naming the buffer, handle, device, GUID and earlier event involved.
    pub message: String,
}

impl Finding {
    /// A finding of `rule` at `event`.
    pub fn new(rule: Rule, ext: Option<ExtId>, event: u64, message: String) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            ext,
            event,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Rule::ALL {
            assert!(seen.insert(r.id()), "duplicate id {}", r.id());
            assert!(
                r.id().chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} is not kebab-case",
                r.id()
            );
            assert_eq!(Rule::from_id(r.id()), Some(*r));
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.id()));
        }
        assert_eq!(Rule::ALL.len(), 29);
    }
}
