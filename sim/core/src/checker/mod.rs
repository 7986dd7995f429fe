//! The rule checker: judges an event stream against the rule catalog (protocol section 7).
//!
//! The stream may come from the simulator (live, on the notification hot path), from a
//! trace file, or from a recorder on a real service, so the checker rebuilds everything it
//! needs from the events alone: extension lifecycles, devices, GetData buffers,
//! registrations, open calls per thread, and the notifications each successful write owes.
//!
//! Steady state is allocation-free per event: state lives in maps keyed by small ids whose
//! capacity is reused, GUID strings are shared `Arc`s, and message text is only formatted
//! when a finding is made.
//!
//! Where the rule catalog leaves room, the checker chooses:
//! - A write owes a delivery to every registration live at its *call* that matches its
//!   (logical device, GUID value), whose hInst argument differs from the writer's (external
//!   writes exclude no one), and whose extension is neither shut down nor failed its config
//!   init. Nothing is owed for a write with an invalid GUID, a failed write, or a write made
//!   while the service is stopping. Owed deliveries are settled by a ConfigChange with that
//!   cause (a ConfigChange without a cause settles the oldest delivery owed to its handle)
//!   or a `DeliveryCut`, and cancelled (under every policy) by the registration's
//!   Unregister, `ServiceStopping`, the registrant's `FaxDevShutdown` call, unload or config
//!   failure. Sync/shuffled: what is still owed at the write's return is missed; deferred:
//!   what is still owed at [`Checker::finish`].
//! - Registrations are dropped at `ServiceStopped`, at a new `ServiceStart`, and at their
//!   extension's `Unload`; a ConfigChange to a dropped handle is `notify-after-shutdown`.
//! - A ConfigChange to another extension than the registrant is `notify-mismatch`; the
//!   device it passes must be the id the registrant registered with.
//! - After an `Unload`, a callback call is only `call-after-unload` (argument rules still
//!   apply); an extension with no `Load` in the current run gets no lifecycle finding.
//! - Under `BeforeDeviceCreation`, a virtual FSP's `FaxDevInitialize` may come first of
//!   all or after `FaxExtInitializeConfig` returned; in between is `init-order`. General
//!   init after a failed config init is `init-failure-ignored`, not `init-order`.
//! - `notification-storm` is reported once per outermost write chain (the chain follows
//!   ConfigChange causes; without causes, the outermost open write on the thread) and once
//!   per thread until its nesting depth returns to 0. The finding names the extension that
//!   would have been notified. A nesting limit of 0 means the service default.
//! - Freeing a buffer already reported as leaked is silent. Details are kept for the last
//!   4096 finished writes and 65536 dead buffers; freeing an older buffer again is still a
//!   `double-free` (buffer ids are never reused).
//!
//! # Where things are
//!
//! The checker is split by the state each part keeps, not by rule: the delivery rules all
//! share the owed-delivery ledger, and the hot path must not pay for a boundary. This file
//! holds the public API, the [`Checker`] with all its state, and the routing table
//! ([`Checker::observe`]): one match on the event kind that hands each event to a method
//! in one of these files:
//!
//! | file | state it keeps | rules |
//! |---|---|---|
//! | `lifecycle.rs` | the service's run; each extension's lifecycle (`ExtState`) | `init-order`, `config-init-failed`, `init-failure-ignored`, `call-after-unload`, `call-after-init-failure`, `call-before-config-init`, `registration-leak`, `extension-crashed`, `extension-hung` |
//! | `deliveries.rs` | the owed-delivery ledger (writes, what each registration is owed) and the ConfigChange calls that settle it | `missed-notification`, `notify-self`, `notify-mismatch`, `notify-after-unregister`, `notify-after-shutdown`, `notification-storm`, `change-buffer-written`; the context of `busy-reentry` |
//! | `registrations.rs` | the handles Register issued and the live ones by key | `duplicate-registration`, `stale-unregister`, `busy-reentry` |
//! | `buffers.rs` | the GetData buffer ledger (live, freed and leaked buffers) | `buffer-leak`, `double-free`, `foreign-free`, `free-null`, `buffer-overrun`, `write-after-free` |
//! | `routing.rs` | the last routing entry point called | `input-written`; lifecycle rules of routing calls |
//! | `arguments.rs` | the TAPI <-> logical device mapping; the GUID value cache | `invalid-guid`, `foreign-hinst`, `wrong-id-source` |
//! | `threads.rs` | open calls per thread (call frames, ConfigChange calls being delivered) | none of its own |
//! | `messages.rs` | none: how findings name extensions, devices, GUIDs, hInst values and calls | |
//!
//! Every file adds methods to the one [`Checker`]; the state they share is its fields.
//! Text that describes a piece of state lives with that state (`write_text` and
//! `describe_delivery` in `deliveries.rs`, `registration_text` in `registrations.rs`,
//! `buffer_text` in `buffers.rs`). `tests.rs` holds the rule-by-rule tests.

use std::collections::VecDeque;

use faxsim_trace::{BufferId, Event, EventKind, ExtId, GuidArg, HandleId, SOURCE_FAX};

use crate::idtable::IdTable;
// Maps keyed by small ids: only looked up, never iterated where order shows, so a fast
// non-keyed hasher is safe (and deterministic).
use crate::registry::{FxMap as HashMap, FxSet as HashSet};

use crate::options::{DeliveryPolicy, VirtualFspInitOrder};
use crate::rules::{Finding, Rule};

use arguments::Key;
use buffers::{BufferEnd, BufferInfo};
use deliveries::Write;
use lifecycle::ExtState;
use registrations::Registration;
use threads::Threads;

mod arguments;
mod buffers;
mod deliveries;
mod lifecycle;
mod messages;
mod registrations;
mod routing;
mod threads;

/// What the checker needs to know about the service that produced the events.
#[derive(Clone, Debug, Default)]
pub struct CheckerConfig {
    /// Extension names, indexed by `ExtId`, for messages.
    pub names: Vec<String>,
    /// The service's nesting limit (`notification-storm` above it). 0 means the service
    /// default ([`Limits::default`](crate::options::Limits::default)).
    pub nesting_limit: u32,
    /// The delivery policy, which decides when a missing notification is final.
    pub delivery: DeliveryPolicy,
    /// Where a virtual FSP's FaxDevInitialize may go.
    pub virtual_fsp_init: VirtualFspInitOrder,
    /// The events show one extension's side of a real service (a recording proxy's
    /// trace): other writers and the service's delivery policy are unseen, so a
    /// notification missing from the events is no finding (`missed-notification` is not
    /// judged).
    pub one_sided: bool,
}

impl CheckerConfig {
    /// The configuration a trace's header implies: extension names, and the nesting
    /// limit, delivery policy and virtual FSP init order from the stored service options.
    /// Each option falls back to the default when absent or unreadable (traces from a
    /// recorder on a real service carry no options).
    pub fn for_header(header: &faxsim_trace::Header) -> CheckerConfig {
        let opts = &header.options;
        let field = |name: &str| opts.get(name).cloned();
        CheckerConfig {
            names: header.extension_names(),
            nesting_limit: opts
                .pointer("/limits/nesting")
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            delivery: field("delivery")
                .and_then(|v| serde_json::from_value::<DeliveryPolicy>(v).ok())
                .unwrap_or_default(),
            virtual_fsp_init: field("virtual_fsp_init")
                .and_then(|v| serde_json::from_value::<VirtualFspInitOrder>(v).ok())
                .unwrap_or_default(),
            one_sided: header.origin == "recorder",
        }
    }
}

/// Judges an event stream, live or offline.
///
/// Feed events in `seq` order with [`Checker::observe`], then call [`Checker::finish`] at
/// the end of the stream. Findings accumulate in event order (findings made at one event
/// are ordered by buffer or handle number).
#[derive(Debug, Default)]
pub struct Checker {
    config: CheckerConfig,
    findings: Vec<Finding>,
    /// The last `seq` observed (findings made at the end of the stream use it).
    last_seq: Option<u64>,
    /// `ServiceStopping` of the current run.
    stopping_at: Option<u64>,
    exts: Vec<ExtState>,
    /// TAPI permanent line id -> logical id, and back.
    tapi_to_logical: HashMap<u32, u32>,
    logical_to_tapi: HashMap<u32, u32>,
    live_buffers: HashMap<BufferId, BufferInfo>,
    dead_buffers: HashMap<BufferId, (BufferInfo, BufferEnd)>,
    registrations: IdTable<Registration>,
    /// Live handles in the order they were issued.
    live_handles: Vec<HandleId>,
    /// The live handles again, by key (what a write looks up), in registration order.
    live_by_key: HashMap<Key, Vec<HandleId>>,
    writes: HashMap<u64, Write>,
    /// Finished writes, oldest first, forgotten beyond
    /// [`RETAINED_WRITES`](deliveries::RETAINED_WRITES).
    finished_writes: VecDeque<u64>,
    /// How many deliveries are owed in all (each registration lists its own).
    owed_total: usize,
    threads: Threads,
    /// Outermost writes whose storm was reported.
    storm_roots: HashSet<u64>,
    /// A crash or hang ended the service (see [`Checker::observe`]).
    gone: bool,
    /// The last GUID string parsed and its value: a write's notifications all pass the
    /// same shared string, so this spares re-parsing it per notification. Holding the
    /// `Arc` keeps its address from being reused by another string.
    guid_cache: std::cell::RefCell<Option<(std::sync::Arc<str>, Option<u128>)>>,
    /// Reused buffer for writes settled by a bulk cancel.
    scratch: Vec<u64>,
    /// Freed (or leaked) buffers, oldest first, forgotten beyond
    /// [`RETAINED_DEAD_BUFFERS`](buffers::RETAINED_DEAD_BUFFERS).
    dead_order: VecDeque<BufferId>,
    /// The highest buffer id a GetData returned (ids are never reused).
    max_buffer: Option<BufferId>,
    /// The last routing entry point called (its input-written comes before its return):
    /// its event, function, device and GUID.
    last_routing_call: Option<(u64, &'static str, u32, GuidArg)>,
}

impl Checker {
    /// A checker for a service configured as `config`.
    pub fn new(config: CheckerConfig) -> Checker {
        Checker {
            config,
            ..Checker::default()
        }
    }

    /// The configuration the checker was built with.
    pub fn config(&self) -> &CheckerConfig {
        &self.config
    }

    /// The findings so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Takes the findings made so far, leaving the checker's list empty (for live use:
    /// report findings as they come without copying).
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// The end of the stream: reports what can only be judged at the end (deferred
    /// notifications that never arrived). Calling it again reports nothing new.
    pub fn finish(&mut self) {
        let Some(last) = self.last_seq else {
            return;
        };
        self.miss_still_owed(last);
    }

    /// Feeds one event (in `seq` order).
    pub fn observe(&mut self, event: &Event) {
        use EventKind as K;
        // The notification path first, in a small function; everything else in
        // `observe_any`, whose large frame it does not pay for.
        match &event.kind {
            K::ConfigChangeCall {
                handle,
                device,
                guid,
                cause,
                ..
            } if !self.gone => {
                self.last_seq = Some(event.seq);
                self.on_config_change(event, *handle, *device, guid, *cause);
            }
            K::ConfigChangeReturn { handle, .. } if !self.gone => {
                self.last_seq = Some(event.seq);
                self.on_config_change_return(event.thread, *handle);
            }
            _ => self.observe_any(event),
        }
    }

    /// Any event (the notification path included): the routing table.
    #[inline(never)]
    fn observe_any(&mut self, event: &Event) {
        use EventKind as K;
        if self.gone {
            // A crash or hang took the service down: what a dying process still wrote
            // judges nothing.
            return;
        }
        let seq = event.seq;
        self.last_seq = Some(seq);
        let ext = event.ext;
        match &event.kind {
            // The service's run and its devices (lifecycle.rs, arguments.rs).
            K::ServiceStart { .. } => self.on_service_start(seq),
            K::ServiceStopping => self.on_service_stopping(seq),
            K::ServiceStopped => self.drop_registrations(seq, |_| true),
            K::DeviceAdded { device, tapi, .. } => self.on_device_added(*device, *tapi),
            K::DeviceRemoved { device } => self.on_device_removed(*device),
            K::ExtensionCrashed { detail } => self.on_extension_crashed(ext, seq, detail),
            K::ExtensionHung { limit_ms } => self.on_extension_hung(ext, seq, *limit_ms),

            // An extension's lifecycle (lifecycle.rs).
            K::Load { kind, exports } => self.on_load(ext, seq, *kind, *exports),
            K::Unload => self.on_unload(ext, seq),
            K::VirtualDeviceCreationCall => self.on_virtual_device_creation_call(ext),
            K::VirtualDeviceCreationReturn { .. } => self.on_virtual_device_creation_return(ext),
            K::InitializeConfigCall => self.on_config_init_call(ext, seq),
            K::InitializeConfigReturn { hr } => self.on_config_init_return(ext, seq, *hr),
            K::DevInitializeCall => self.on_general_init(ext, seq, true),
            K::RouteInitializeCall => self.on_general_init(ext, seq, false),
            K::DevInitializeReturn { ok: false } => {
                self.on_general_init_failed(ext, seq, "FaxDevInitialize");
            }
            K::RouteInitializeReturn { ok: false } => {
                self.on_general_init_failed(ext, seq, "FaxRouteInitialize");
            }
            K::DevShutdownCall => self.on_dev_shutdown_call(ext, seq),
            K::DevShutdownReturn { .. } => self.on_shutdown_return(ext, seq),
            K::ValueCorrupted { .. }
            | K::DevInitializeReturn { .. }
            | K::RouteInitializeReturn { .. }
            | K::RouteDeviceChangeReturn { .. } => {}

            // A routing extension's entry points (routing.rs).
            K::RouteDeviceChangeCall { device, new_device } => {
                self.on_route_device_change_call(ext, seq, *device, *new_device);
            }
            K::RouteDeviceEnableCall { .. }
            | K::RouteGetRoutingInfoCall { .. }
            | K::RouteSetRoutingInfoCall { .. }
            | K::EntryPointCall { .. } => self.on_routing_call(event),
            K::RouteFileCall { .. } => self.on_route_file_call(event),
            K::RouteDeviceEnableReturn { .. }
            | K::RouteGetRoutingInfoReturn { .. }
            | K::RouteSetRoutingInfoReturn { .. }
            | K::EntryPointReturn { .. }
            | K::RoutingStart { .. }
            | K::RoutingEnd { .. }
            | K::RouteFileReturn { .. } => {}
            K::InputWritten {
                call,
                input,
                offset,
            } => self.on_input_written(event, *call, *input, *offset),

            // Writes and their deliveries (deliveries.rs).
            K::SetDataCall {
                hinst,
                device,
                source,
                guid,
                ..
            } => self.on_set_data_call(event, *hinst, *device, *source, guid),
            K::SetDataReturn { code, .. } => self.on_write_return(event, *code, false),
            K::ExternalWriteCall { device, guid, .. } => {
                self.on_write_call(event, None, *device, SOURCE_FAX, guid);
            }
            K::ExternalWriteReturn { code } => self.on_write_return(event, *code, true),
            K::ConfigChangeCall {
                handle,
                device,
                guid,
                cause,
                ..
            } => self.on_config_change(event, *handle, *device, guid, *cause),
            K::ConfigChangeReturn { handle, .. } => {
                self.on_config_change_return(event.thread, *handle);
            }
            K::DeliveryCut {
                depth,
                handle,
                cause,
            } => self.on_delivery_cut(event, *depth, *handle, *cause),
            K::ChangeDataWritten { delivery, offset } => {
                self.on_change_data_written(event, *delivery, *offset);
            }

            // Registrations (registrations.rs).
            K::RegisterCall {
                hinst,
                device,
                source,
                guid,
                ..
            } => self.on_register_call(event, *hinst, *device, *source, guid),
            K::RegisterReturn {
                handle,
                last_error,
                injected,
            } => self.on_register_return(event, *handle, *last_error, *injected),
            K::UnregisterCall { handle } => self.on_unregister_call(event, *handle),
            K::UnregisterReturn { code, injected } => {
                self.on_unregister_return(event, *code, *injected);
            }

            // GetData buffers (buffers.rs).
            K::GetDataCall {
                device,
                source,
                guid,
                ..
            } => self.on_get_data_call(event, *device, *source, guid),
            K::GetDataReturn { code, buffer, .. } => {
                self.on_get_data_return(event, *code, *buffer);
            }
            K::FreeBufferCall { buffer } => self.on_free_buffer_call(event, *buffer),
            K::FreeBufferReturn => self.on_free_buffer_return(event.thread),
            K::BufferDamaged { buffer, damage } => self.on_damage(ext, seq, *buffer, *damage),
        }
    }

    fn report(&mut self, rule: Rule, ext: Option<ExtId>, event: u64, message: String) {
        self.findings.push(Finding::new(rule, ext, event, message));
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

#[cfg(test)]
mod tests;
