//! Lifecycles: the service's run (start, stopping, a crash or hang that ends it) and each
//! extension's, rebuilt from its `Load` and lifecycle events (config init, general init,
//! virtual device creation, FaxDevShutdown, unload), and the rules about them:
//! `init-order`, `config-init-failed`, `init-failure-ignored`, the lifecycle rules of a
//! callback call (`call-after-unload`, `call-after-init-failure`,
//! `call-before-config-init`), `registration-leak` at FaxDevShutdown's return,
//! `extension-crashed` and `extension-hung`.

use faxsim_trace::text::hresult_name;
use faxsim_trace::{Event, Exports, ExtId, ExtensionKind, HandleId};

use super::Checker;
use super::messages::{describe_call, failed_how};
use crate::options::VirtualFspInitOrder;
use crate::rules::Rule;

/// Where an extension's `FaxExtInitializeConfig` stands in its current lifecycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ConfigInit {
    #[default]
    NotCalled,
    Running,
    Returned,
}

/// Once-per-lifecycle findings already made for an extension.
const REPORTED_INIT_ORDER: u8 = 1;
const REPORTED_INIT_FAILURE_IGNORED: u8 = 2;
const REPORTED_CALL_AFTER_INIT_FAILURE: u8 = 4;
const REPORTED_CALL_BEFORE_CONFIG_INIT: u8 = 8;

/// One extension, rebuilt from its `Load` and lifecycle events.
#[derive(Clone, Debug, Default)]
pub(super) struct ExtState {
    /// Kind and exports from the last `Load` (`None`: never loaded in this stream).
    pub(super) kind: Option<ExtensionKind>,
    exports: Exports,
    /// Loaded in the current run and not unloaded since.
    pub(super) loaded: bool,
    /// `seq` of the `Load` that began the current lifecycle.
    loaded_at: u64,
    /// `seq` of the `Unload` that ended the last lifecycle, until the next `Load`.
    pub(super) unloaded_at: Option<u64>,
    config: ConfigInit,
    /// `seq` of a failing `InitializeConfigReturn` in this lifecycle.
    config_failed_at: Option<u64>,
    /// `seq` of a general init that returned FALSE in this lifecycle, and its name.
    init_failed_at: Option<(u64, &'static str)>,
    vdc_called: bool,
    vdc_returned: bool,
    /// `seq` of `DevShutdownCall` in this lifecycle.
    pub(super) shutdown_at: Option<u64>,
    reported: u8,
}

impl ExtState {
    /// The init failure that took the extension out of this run: where, and which entry
    /// point failed (the config init's failure wins: it came first).
    pub(super) fn init_failure(&self) -> Option<(u64, &'static str)> {
        match self.config_failed_at {
            Some(at) => Some((at, "FaxExtInitializeConfig")),
            None => self.init_failed_at,
        }
    }
}

impl Checker {
    fn ext_mut(&mut self, e: ExtId) -> &mut ExtState {
        if self.exts.len() <= e.index() {
            self.exts.resize_with(e.index() + 1, ExtState::default);
        }
        &mut self.exts[e.index()]
    }

    pub(super) fn ext_state(&self, e: Option<ExtId>) -> Option<&ExtState> {
        e.and_then(|e| self.exts.get(e.index()))
    }

    // ---- the service's run ---------------------------------------------------------------

    pub(super) fn on_service_start(&mut self, seq: u64) {
        self.drop_registrations(seq, |_| true);
        self.cancel_pending(|_| true);
        self.stopping_at = None;
        self.storm_roots.clear();
        self.threads.clear();
        for s in &mut self.exts {
            s.loaded = false;
        }
    }

    pub(super) fn on_service_stopping(&mut self, seq: u64) {
        self.stopping_at = Some(seq);
        self.cancel_pending(|_| true);
    }

    pub(super) fn on_extension_crashed(&mut self, ext: Option<ExtId>, seq: u64, detail: &str) {
        let msg = format!("{} crashed: {detail}", self.name(ext));
        self.report(Rule::ExtensionCrashed, ext, seq, msg);
        self.service_gone();
    }

    pub(super) fn on_extension_hung(&mut self, ext: Option<ExtId>, seq: u64, limit_ms: u64) {
        let msg = format!(
            "a call into {} did not return within {limit_ms} ms",
            self.name(ext)
        );
        self.report(Rule::ExtensionHung, ext, seq, msg);
        self.service_gone();
    }

    /// The service went down with a crashed or hung extension: nothing is owed any more,
    /// nothing later is judged.
    fn service_gone(&mut self) {
        self.gone = true;
        self.cancel_pending(|_| true);
    }

    // ---- an extension's lifecycle ----------------------------------------------------------

    pub(super) fn on_load(
        &mut self,
        ext: Option<ExtId>,
        seq: u64,
        kind: ExtensionKind,
        exports: Exports,
    ) {
        if let Some(e) = ext {
            *self.ext_mut(e) = ExtState {
                kind: Some(kind),
                exports,
                loaded: true,
                loaded_at: seq,
                ..ExtState::default()
            };
        }
    }

    pub(super) fn on_unload(&mut self, ext: Option<ExtId>, seq: u64) {
        let Some(e) = ext else {
            return;
        };
        self.leak_buffers_of(ext, seq);
        self.drop_registrations(seq, |r| r.ext == ext);
        let s = self.ext_mut(e);
        s.loaded = false;
        s.unloaded_at = Some(seq);
    }

    pub(super) fn on_virtual_device_creation_call(&mut self, ext: Option<ExtId>) {
        if let Some(e) = ext {
            self.ext_mut(e).vdc_called = true;
        }
    }

    pub(super) fn on_virtual_device_creation_return(&mut self, ext: Option<ExtId>) {
        if let Some(e) = ext {
            self.ext_mut(e).vdc_returned = true;
        }
    }

    pub(super) fn on_config_init_call(&mut self, ext: Option<ExtId>, seq: u64) {
        let Some(e) = ext else {
            return;
        };
        let s = self.ext_mut(e);
        s.config = ConfigInit::Running;
        if s.kind == Some(ExtensionKind::VirtualFsp)
            && !s.vdc_returned
            && s.reported & REPORTED_INIT_ORDER == 0
        {
            s.reported |= REPORTED_INIT_ORDER;
            let detail = if s.vdc_called {
                "before its FaxDevVirtualDeviceCreation returned"
            } else {
                "before FaxDevVirtualDeviceCreation"
            };
            let msg = format!(
                "FaxExtInitializeConfig was called on virtual FSP {} {detail}",
                self.name(ext)
            );
            self.report(Rule::InitOrder, ext, seq, msg);
        }
    }

    pub(super) fn on_config_init_return(&mut self, ext: Option<ExtId>, seq: u64, hr: i32) {
        let Some(e) = ext else {
            return;
        };
        let s = self.ext_mut(e);
        s.config = ConfigInit::Returned;
        if hr == 0 {
            return;
        }
        s.config_failed_at = Some(seq);
        let msg = format!(
            "{}'s FaxExtInitializeConfig returned {}: the service will not recognise it",
            self.name(ext),
            hresult_name(hr)
        );
        self.report(Rule::ConfigInitFailed, ext, seq, msg);
        self.cancel_pending_where(|_, r| r.ext == ext);
    }

    /// `init-failure-ignored`, once per lifecycle, if `e`'s config init or general init
    /// failed.
    pub(super) fn init_failure_ignored(
        &mut self,
        e: ExtId,
        seq: u64,
        what: impl FnOnce() -> String,
    ) {
        let Some(s) = self.exts.get_mut(e.index()) else {
            return;
        };
        let Some((failed, entry)) = s.init_failure() else {
            return;
        };
        if s.reported & REPORTED_INIT_FAILURE_IGNORED != 0 {
            return;
        }
        s.reported |= REPORTED_INIT_FAILURE_IGNORED;
        let msg = format!(
            "the service called {} on {} although its {entry} {} at event {failed}",
            what(),
            self.name(Some(e)),
            failed_how(entry)
        );
        self.report(Rule::InitFailureIgnored, Some(e), seq, msg);
    }

    pub(super) fn on_general_init(&mut self, ext: Option<ExtId>, seq: u64, dev: bool) {
        let Some(e) = ext else {
            return;
        };
        let entry = if dev {
            "FaxDevInitialize"
        } else {
            "FaxRouteInitialize"
        };
        if self
            .ext_state(ext)
            .is_some_and(|s| s.config_failed_at.is_some())
        {
            self.init_failure_ignored(e, seq, || entry.to_string());
            return;
        }
        let before_creation =
            self.config.virtual_fsp_init == VirtualFspInitOrder::BeforeDeviceCreation;
        let s = self.ext_mut(e);
        if !s.exports.initialize_config
            || s.config == ConfigInit::Returned
            || s.reported & REPORTED_INIT_ORDER != 0
        {
            return;
        }
        // The option that puts a virtual FSP's FaxDevInitialize first of all.
        let legal_first = dev
            && before_creation
            && s.kind == Some(ExtensionKind::VirtualFsp)
            && !s.vdc_called
            && s.config == ConfigInit::NotCalled;
        if legal_first {
            return;
        }
        s.reported |= REPORTED_INIT_ORDER;
        let when = match s.config {
            ConfigInit::NotCalled => "before FaxExtInitializeConfig",
            _ => "before its FaxExtInitializeConfig returned",
        };
        let msg = format!("{entry} was called on {} {when}", self.name(ext));
        self.report(Rule::InitOrder, ext, seq, msg);
    }

    /// A general init (`entry`) returned FALSE.
    pub(super) fn on_general_init_failed(
        &mut self,
        ext: Option<ExtId>,
        seq: u64,
        entry: &'static str,
    ) {
        if let Some(e) = ext {
            let s = self.ext_mut(e);
            if s.loaded && s.init_failed_at.is_none() {
                s.init_failed_at = Some((seq, entry));
            }
        }
    }

    pub(super) fn on_dev_shutdown_call(&mut self, ext: Option<ExtId>, seq: u64) {
        if let Some(e) = ext {
            self.init_failure_ignored(e, seq, || "FaxDevShutdown".to_string());
            self.ext_mut(e).shutdown_at = Some(seq);
            self.cancel_pending_where(|_, r| r.ext == ext);
        }
    }

    pub(super) fn on_shutdown_return(&mut self, ext: Option<ExtId>, seq: u64) {
        let Some(s) = self.ext_state(ext) else {
            return;
        };
        if !s.exports.dev_shutdown || !s.kind.is_some_and(|k| k.is_provider()) {
            return;
        }
        let held: Vec<HandleId> = self
            .live_handles
            .iter()
            .copied()
            .filter(|h| self.registrations.get(h.0).is_some_and(|r| r.ext == ext))
            .collect();
        if held.is_empty() {
            return;
        }
        let list: Vec<String> = held.iter().map(|h| self.registration_text(*h)).collect();
        let msg = format!(
            "{} still held {} registration{} when FaxDevShutdown returned: {}",
            self.name(ext),
            held.len(),
            if held.len() == 1 { "" } else { "s" },
            list.join(", ")
        );
        self.report(Rule::RegistrationLeak, ext, seq, msg);
    }

    /// The lifecycle rules of a callback call (`call-after-unload`,
    /// `call-after-init-failure`, `call-before-config-init`).
    pub(super) fn callback_lifecycle(&mut self, event: &Event) {
        let Some(e) = event.ext else {
            return;
        };
        let Some(s) = self.exts.get_mut(e.index()) else {
            return;
        };
        let (rule, detail) = if let Some(u) = s.unloaded_at {
            (
                Rule::CallAfterUnload,
                format!("after it was unloaded at event {u}"),
            )
        } else if !s.loaded {
            return;
        } else if let Some((f, entry)) = s.init_failure() {
            if s.reported & REPORTED_CALL_AFTER_INIT_FAILURE != 0 {
                return;
            }
            s.reported |= REPORTED_CALL_AFTER_INIT_FAILURE;
            let how = failed_how(entry);
            (
                Rule::CallAfterInitFailure,
                format!("after its {entry} {how} at event {f}"),
            )
        } else if !s.exports.initialize_config || s.config == ConfigInit::NotCalled {
            if s.reported & REPORTED_CALL_BEFORE_CONFIG_INIT != 0 {
                return;
            }
            s.reported |= REPORTED_CALL_BEFORE_CONFIG_INIT;
            let d = if s.exports.initialize_config {
                format!(
                    "before FaxExtInitializeConfig handed out the callbacks (loaded at event {})",
                    s.loaded_at
                )
            } else {
                "although it does not export FaxExtInitializeConfig, so the callbacks were never handed to it"
                    .to_string()
            };
            (Rule::CallBeforeConfigInit, d)
        } else {
            return;
        };
        let msg = format!(
            "{} called {} {detail}",
            self.name(Some(e)),
            describe_call(&event.kind)
        );
        self.report(rule, Some(e), event.seq, msg);
    }
}
