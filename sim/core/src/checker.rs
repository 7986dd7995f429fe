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

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use faxsim_trace::text::{hresult_name, win32_name};
use faxsim_trace::{
    BufferArg, BufferId, Damage, Event, EventKind, Exports, ExtId, ExtensionKind, GuidArg,
    HInstArg, Half, HandleArg, HandleId, SOURCE_FAX, SOURCE_TAPI, ServiceInput,
};

use crate::idtable::IdTable;
// Maps keyed by small ids: only looked up, never iterated where order shows, so a fast
// non-keyed hasher is safe (and deterministic).
use crate::registry::{FxMap as HashMap, FxSet as HashSet};

use crate::guid::parse_braced_guid;
use crate::options::{DeliveryPolicy, Limits, VirtualFspInitOrder};
use crate::rules::{Finding, Rule};

use faxsim_abi::{
    ERROR_ALREADY_ASSIGNED, ERROR_BUSY, ERROR_NOT_FOUND, ERROR_SHUTDOWN_IN_PROGRESS, ERROR_SUCCESS,
};

/// Finished writes whose details are kept for late ConfigChange calls (a service that
/// delivers after the write completed) before they are forgotten.
const RETAINED_WRITES: usize = 4096;

/// Freed buffers whose details are kept for `double-free` and `write-after-free` messages.
/// An older one freed again is still a `double-free` (ids are never reused), with fewer
/// details.
const RETAINED_DEAD_BUFFERS: usize = 1 << 16;

/// What the checker needs to know about the service that produced the events.
#[derive(Clone, Debug, Default)]
pub struct CheckerConfig {
    /// Extension names, indexed by `ExtId`, for messages.
    pub names: Vec<String>,
    /// The service's nesting limit (`notification-storm` above it). 0 means the service
    /// default ([`Limits::default`]).
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

// ---- state ----------------------------------------------------------------------------

/// A device as the data store keys it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Dev {
    /// A logical (`DEV_ID_SRC_FAX`) id; 0 is global data.
    Logical(u32),
    /// A TAPI id that mapped to no known device when it was used.
    UnmappedTapi(u32),
}

/// The (device, GUID value) a registration or a write is about.
type Key = (Dev, Option<u128>);

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
struct ExtState {
    /// Kind and exports from the last `Load` (`None`: never loaded in this stream).
    kind: Option<ExtensionKind>,
    exports: Exports,
    /// Loaded in the current run and not unloaded since.
    loaded: bool,
    /// `seq` of the `Load` that began the current lifecycle.
    loaded_at: u64,
    /// `seq` of the `Unload` that ended the last lifecycle, until the next `Load`.
    unloaded_at: Option<u64>,
    config: ConfigInit,
    /// `seq` of a failing `InitializeConfigReturn` in this lifecycle.
    config_failed_at: Option<u64>,
    /// `seq` of a general init that returned FALSE in this lifecycle, and its name.
    init_failed_at: Option<(u64, &'static str)>,
    vdc_called: bool,
    vdc_returned: bool,
    /// `seq` of `DevShutdownCall` in this lifecycle.
    shutdown_at: Option<u64>,
    reported: u8,
}

/// How an init entry point failed: a config init returns a failing HRESULT, a general
/// init FALSE.
fn failed_how(entry: &str) -> &'static str {
    if entry == "FaxExtInitializeConfig" {
        "failed"
    } else {
        "returned FALSE"
    }
}

impl ExtState {
    /// The init failure that took the extension out of this run: where, and which entry
    /// point failed (the config init's failure wins: it came first).
    fn init_failure(&self) -> Option<(u64, &'static str)> {
        match self.config_failed_at {
            Some(at) => Some((at, "FaxExtInitializeConfig")),
            None => self.init_failed_at,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RegState {
    Live,
    /// Unregistered by a successful Unregister that returned at this event.
    Unregistered(u64),
    /// Dropped by the service (stop, restart, the extension's unload) at this event.
    Dropped(u64),
}

/// A registration handle the service issued.
#[derive(Clone, Debug)]
struct Registration {
    ext: Option<ExtId>,
    hinst: HInstArg,
    key: Key,
    /// The id the extension registered with (the id space ConfigChange must use).
    device: u32,
    source: i32,
    guid: GuidArg,
    /// `seq` of the RegisterCall.
    at: u64,
    state: RegState,
    /// Writes (by `seq` of their call) that owe this registration a ConfigChange. Kept
    /// with the registration so a delivery settles it without a hash lookup; it keeps its
    /// capacity, so steady-state deliveries never allocate.
    owed: Vec<u64>,
}

impl Registration {
    /// Takes write `w`'s delivery off what is owed; false if it owed none.
    fn take_owed(&mut self, w: u64) -> bool {
        match self.owed.iter().position(|&x| x == w) {
            Some(i) => {
                self.owed.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

/// What judging a delivery needs of the write that caused it (one lookup, copied out).
#[derive(Clone, Copy)]
struct Cause {
    root: u64,
    hinst: Option<HInstArg>,
    key: Key,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteState {
    Open,
    Succeeded(u64),
    Failed,
}

/// A SetData or an external write.
#[derive(Clone, Debug)]
struct Write {
    ext: Option<ExtId>,
    /// The hInst argument; `None` for an external write.
    hinst: Option<HInstArg>,
    device: u32,
    source: i32,
    guid: GuidArg,
    key: Key,
    /// `seq` of the outermost write of the chain this write belongs to.
    root: u64,
    /// Expected deliveries not yet delivered, cut or cancelled.
    outstanding: u32,
    state: WriteState,
}

impl Write {
    /// One expected delivery is accounted for (made, cut or cancelled); true when the
    /// write now owes nothing and has returned, so it can be retired.
    fn settle_one(&mut self) -> bool {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.outstanding == 0 && self.state != WriteState::Open
    }
}

/// A buffer a successful GetData handed out.
#[derive(Clone, Debug)]
struct BufferInfo {
    owner: Option<ExtId>,
    /// `seq` of the GetDataCall.
    at: u64,
    device: u32,
    source: i32,
    guid: GuidArg,
}

#[derive(Clone, Copy, Debug)]
enum BufferEnd {
    Freed(u64),
    /// Reported as `buffer-leak` at this Unload.
    Leaked(u64),
}

/// A callback call waiting for its return.
#[derive(Clone, Debug)]
enum Frame {
    GetData {
        at: u64,
        device: u32,
        source: i32,
        guid: GuidArg,
    },
    Write {
        at: u64,
        external: bool,
    },
    Register {
        at: u64,
        hinst: HInstArg,
        device: u32,
        source: i32,
        guid: GuidArg,
        key: Key,
    },
    Unregister {
        at: u64,
        handle: HandleArg,
    },
    FreeBuffer,
}

/// An open ConfigChange call.
#[derive(Clone, Debug)]
struct Delivery {
    at: u64,
    handle: HandleId,
    device: u32,
    /// The GUID string passed, kept only when it is not the registration's own (the
    /// common case shares the registration's, sparing a reference count per delivery).
    guid: Option<Arc<str>>,
    /// The outermost write of the chain that caused it, when known.
    root: Option<u64>,
}

#[derive(Clone, Debug, Default)]
struct ThreadState {
    calls: Vec<Frame>,
    deliveries: Vec<Delivery>,
    /// The ConfigChange call that returned last (ChangeDataWritten comes after its return).
    last_delivery: Option<Delivery>,
    /// A storm was reported; quiet until the nesting depth returns to 0.
    storm_reported: bool,
}

// ---- message helpers ----------------------------------------------------------------

/// An extension's name from the config, or `ext#N`.
struct Name<'a>(&'a [String], Option<ExtId>);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            None => f.write_str("an unknown extension"),
            Some(e) => match self.0.get(e.index()) {
                Some(n) => f.write_str(n),
                None => write!(f, "ext#{}", e.0),
            },
        }
    }
}

/// `device D`, with the id space when it is not the logical one.
struct DevArg(u32, i32);

impl fmt::Display for DevArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device {}", self.0)?;
        match self.1 {
            _ if self.0 == 0 => Ok(()),
            SOURCE_FAX => Ok(()),
            SOURCE_TAPI => f.write_str(" (TAPI)"),
            other => write!(f, " (source {other})"),
        }
    }
}

/// A GUID argument as passed: `NULL`, or the string (quoted when not a braced GUID).
struct GuidText<'a>(Option<&'a str>);

impl fmt::Display for GuidText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("NULL"),
            Some(g) if parse_braced_guid(g).is_some() => f.write_str(g),
            Some(g) => write!(f, "{g:?}"),
        }
    }
}

fn guid_text(g: &GuidArg) -> GuidText<'_> {
    GuidText(g.as_deref())
}

/// An hInst argument, naming the extension whose module handle it is.
struct HInstText<'a>(&'a [String], HInstArg);

impl fmt::Display for HInstText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            HInstArg::Null => f.write_str("NULL"),
            HInstArg::Ext(e) => write!(f, "the module handle of {}", Name(self.0, Some(e))),
            HInstArg::Foreign(n) => write!(f, "foreign value #{}", n.0),
        }
    }
}

/// A callback call and its arguments, for lifecycle findings.
fn describe_call(kind: &EventKind) -> String {
    match kind {
        EventKind::GetDataCall {
            device,
            source,
            guid,
            ..
        } => format!("GetData({}, {})", DevArg(*device, *source), guid_text(guid)),
        EventKind::SetDataCall {
            device,
            source,
            guid,
            ..
        } => format!("SetData({}, {})", DevArg(*device, *source), guid_text(guid)),
        EventKind::RegisterCall {
            device,
            source,
            guid,
            ..
        } => format!(
            "Register({}, {})",
            DevArg(*device, *source),
            guid_text(guid)
        ),
        EventKind::UnregisterCall { handle } => match handle {
            HandleArg::Handle(h) => format!("Unregister(handle #{})", h.0),
            other => format!("Unregister({other})"),
        },
        EventKind::FreeBufferCall { buffer } => match buffer {
            BufferArg::Buffer(b) => format!("FreeBuffer(buffer #{})", b.0),
            other => format!("FreeBuffer({other})"),
        },
        EventKind::RouteFileCall { routine, job, .. } => {
            format!("{}(job {job})", routine.function())
        }
        other => other.name().to_string(),
    }
}

// ---- the checker ----------------------------------------------------------------------

/// Per-thread state, indexed by the small thread id (ids are dense: 0 is the service's
/// thread, others count up in first-seen order), so the hot path indexes a `Vec`.
#[derive(Debug, Default)]
struct Threads(Vec<ThreadState>);

impl Threads {
    fn at(&mut self, thread: u16) -> &mut ThreadState {
        let i = usize::from(thread);
        if self.0.len() <= i {
            self.0.resize_with(i + 1, ThreadState::default);
        }
        &mut self.0[i]
    }

    fn get(&self, thread: u16) -> Option<&ThreadState> {
        self.0.get(usize::from(thread))
    }

    fn get_mut(&mut self, thread: u16) -> Option<&mut ThreadState> {
        self.0.get_mut(usize::from(thread))
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg(test)]
    fn values(&self) -> impl Iterator<Item = &ThreadState> {
        self.0.iter()
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
    /// Finished writes, oldest first, forgotten beyond [`RETAINED_WRITES`].
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
    /// Freed (or leaked) buffers, oldest first, forgotten beyond [`RETAINED_DEAD_BUFFERS`].
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
        let writes = &self.writes;
        let mut owed: Vec<(u64, HandleId)> = self
            .registrations
            .iter_mut()
            .flat_map(|(h, r)| r.owed.iter().map(move |&w| (w, HandleId(h))))
            .filter(|(w, _)| {
                matches!(
                    writes.get(w).map(|w| w.state),
                    Some(WriteState::Succeeded(_))
                )
            })
            .collect();
        owed.sort_unstable();
        for (w, h) in owed {
            self.take_owed(h, w);
            self.missed(w, h, last);
            self.settle(w);
        }
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

    fn on_config_change_return(&mut self, thread: u16, handle: HandleId) {
        let t = self.threads.at(thread);
        if t.deliveries.last().is_some_and(|d| d.handle == handle) {
            // The innermost delivery returns: the usual case.
            t.last_delivery = t.deliveries.pop();
        } else if let Some(i) = t.deliveries.iter().rposition(|d| d.handle == handle) {
            t.deliveries.truncate(i + 1);
            t.last_delivery = t.deliveries.pop();
        }
        if t.deliveries.is_empty() {
            t.storm_reported = false;
        }
    }

    /// Any event (the notification path included).
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
            K::ServiceStart { .. } => self.on_service_start(seq),
            K::ServiceStopping => {
                self.stopping_at = Some(seq);
                self.cancel_pending(|_| true);
            }
            K::ServiceStopped => self.drop_registrations(seq, |_| true),
            K::DeviceAdded { device, tapi, .. } => {
                if let Some(t) = tapi {
                    if let Some(old) = self.logical_to_tapi.insert(*device, *t) {
                        self.tapi_to_logical.remove(&old);
                    }
                    self.tapi_to_logical.insert(*t, *device);
                }
            }
            K::DeviceRemoved { device } => {
                if let Some(t) = self.logical_to_tapi.remove(device) {
                    self.tapi_to_logical.remove(&t);
                }
            }
            K::DevInitializeReturn { ok: false } | K::RouteInitializeReturn { ok: false } => {
                if let Some(e) = ext {
                    let entry = if matches!(event.kind, K::DevInitializeReturn { .. }) {
                        "FaxDevInitialize"
                    } else {
                        "FaxRouteInitialize"
                    };
                    let s = self.ext_mut(e);
                    if s.loaded && s.init_failed_at.is_none() {
                        s.init_failed_at = Some((seq, entry));
                    }
                }
            }
            K::ValueCorrupted { .. }
            | K::DevInitializeReturn { .. }
            | K::RouteInitializeReturn { .. }
            | K::RouteDeviceChangeReturn { .. } => {}
            K::Load { kind, exports } => {
                if let Some(e) = ext {
                    *self.ext_mut(e) = ExtState {
                        kind: Some(*kind),
                        exports: *exports,
                        loaded: true,
                        loaded_at: seq,
                        ..ExtState::default()
                    };
                }
            }
            K::Unload => self.on_unload(ext, seq),
            K::VirtualDeviceCreationCall => {
                if let Some(e) = ext {
                    self.ext_mut(e).vdc_called = true;
                }
            }
            K::VirtualDeviceCreationReturn { .. } => {
                if let Some(e) = ext {
                    self.ext_mut(e).vdc_returned = true;
                }
            }
            K::InitializeConfigCall => self.on_config_init_call(ext, seq),
            K::InitializeConfigReturn { hr } => self.on_config_init_return(ext, seq, *hr),
            K::DevInitializeCall => self.on_general_init(ext, seq, true),
            K::RouteInitializeCall => self.on_general_init(ext, seq, false),
            K::RouteDeviceChangeCall { device, new_device } => {
                if let Some(e) = ext {
                    self.init_failure_ignored(e, seq, || {
                        format!(
                            "FaxRouteDeviceChangeNotification(device {device}, {})",
                            if *new_device { "TRUE" } else { "FALSE" }
                        )
                    });
                }
            }
            K::RouteDeviceEnableCall { .. }
            | K::RouteGetRoutingInfoCall { .. }
            | K::RouteSetRoutingInfoCall { .. }
            | K::EntryPointCall { .. } => {
                if let K::RouteDeviceEnableCall { guid, device, .. }
                | K::RouteGetRoutingInfoCall { guid, device, .. }
                | K::RouteSetRoutingInfoCall { guid, device, .. } = &event.kind
                    && let Some(Half::Call(c)) = event.kind.half()
                {
                    self.last_routing_call = Some((seq, c.function(), *device, guid.clone()));
                }
                if let (Some(e), Some(Half::Call(c))) = (ext, event.kind.half()) {
                    self.init_failure_ignored(e, seq, || {
                        event.kind.function().unwrap_or(c.function()).to_string()
                    });
                }
            }
            K::RouteDeviceEnableReturn { .. }
            | K::RouteGetRoutingInfoReturn { .. }
            | K::RouteSetRoutingInfoReturn { .. }
            | K::EntryPointReturn { .. }
            | K::RoutingStart { .. }
            | K::RoutingEnd { .. }
            | K::RouteFileReturn { .. } => {}
            K::RouteFileCall { .. } => {
                // The routines come with FaxRouteInitialize's table, not with
                // FaxExtInitializeConfig: only a call from unloaded code is judged.
                if let Some(e) = ext
                    && let Some(u) = self.exts.get(e.index()).and_then(|s| s.unloaded_at)
                {
                    let msg = format!(
                        "{} called {} after it was unloaded at event {u}",
                        self.name(Some(e)),
                        describe_call(&event.kind)
                    );
                    self.report(Rule::CallAfterUnload, Some(e), seq, msg);
                }
            }
            K::DevShutdownCall => {
                if let Some(e) = ext {
                    self.init_failure_ignored(e, seq, || "FaxDevShutdown".to_string());
                    self.ext_mut(e).shutdown_at = Some(seq);
                    self.cancel_pending_where(|_, r| r.ext == ext);
                }
            }
            K::DevShutdownReturn { .. } => self.on_shutdown_return(ext, seq),
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
            K::GetDataCall {
                device,
                source,
                guid,
                ..
            } => {
                self.callback_lifecycle(event);
                self.check_guid(event, "GetData", *device, *source, guid);
                self.check_source(event, "GetData", *device, *source, guid);
                self.thread(event.thread).calls.push(Frame::GetData {
                    at: seq,
                    device: *device,
                    source: *source,
                    guid: guid.clone(),
                });
            }
            K::GetDataReturn { code, buffer, .. } => {
                let frame = self.pop_frame(event.thread, |f| matches!(f, Frame::GetData { .. }));
                if let (ERROR_SUCCESS, Some(b)) = (*code, buffer) {
                    let (at, device, source, guid) = match frame {
                        Some(Frame::GetData {
                            at,
                            device,
                            source,
                            guid,
                        }) => (at, device, source, guid),
                        _ => (seq, 0, SOURCE_FAX, None),
                    };
                    self.dead_buffers.remove(b);
                    self.max_buffer = self.max_buffer.max(Some(*b));
                    self.live_buffers.insert(
                        *b,
                        BufferInfo {
                            owner: ext,
                            at,
                            device,
                            source,
                            guid,
                        },
                    );
                }
            }
            K::SetDataCall {
                hinst,
                device,
                source,
                guid,
                ..
            } => {
                self.callback_lifecycle(event);
                self.check_guid(event, "SetData", *device, *source, guid);
                self.check_hinst(event, "SetData", *hinst, *device, *source, guid);
                self.check_source(event, "SetData", *device, *source, guid);
                self.on_write_call(event, Some(*hinst), *device, *source, guid);
            }
            K::SetDataReturn { code, .. } => self.on_write_return(event, *code, false),
            K::ExternalWriteCall { device, guid, .. } => {
                self.on_write_call(event, None, *device, SOURCE_FAX, guid);
            }
            K::ExternalWriteReturn { code } => self.on_write_return(event, *code, true),
            K::RegisterCall {
                hinst,
                device,
                source,
                guid,
                ..
            } => {
                self.callback_lifecycle(event);
                self.check_guid(event, "Register", *device, *source, guid);
                self.check_hinst(event, "Register", *hinst, *device, *source, guid);
                self.check_source(event, "Register", *device, *source, guid);
                let key = (self.resolve(*device, *source), self.guid_arg_value(guid));
                self.thread(event.thread).calls.push(Frame::Register {
                    at: seq,
                    hinst: *hinst,
                    device: *device,
                    source: *source,
                    guid: guid.clone(),
                    key,
                });
            }
            K::RegisterReturn {
                handle,
                last_error,
                injected,
            } => self.on_register_return(event, *handle, *last_error, *injected),
            K::UnregisterCall { handle } => {
                self.callback_lifecycle(event);
                self.thread(event.thread).calls.push(Frame::Unregister {
                    at: seq,
                    handle: *handle,
                });
            }
            K::UnregisterReturn { code, injected } => {
                self.on_unregister_return(event, *code, *injected);
            }
            K::FreeBufferCall { buffer } => {
                self.callback_lifecycle(event);
                self.on_free(event, *buffer);
                self.thread(event.thread).calls.push(Frame::FreeBuffer);
            }
            K::FreeBufferReturn => {
                self.pop_frame(event.thread, |f| matches!(f, Frame::FreeBuffer));
            }
            K::BufferDamaged { buffer, damage } => self.on_damage(ext, seq, *buffer, *damage),
            K::InputWritten {
                call,
                input,
                offset,
            } => {
                let what = match input {
                    ServiceInput::Guid => "the GUID string",
                    ServiceInput::RoutingInfo => "the routing info",
                };
                let to = match &self.last_routing_call {
                    Some((at, function, device, guid)) if at == call => format!(
                        "{function} at event {call} (device {device}, {})",
                        guid.as_deref().unwrap_or("NULL")
                    ),
                    _ => self.describe_delivery(event.thread, *call),
                };
                let msg = format!(
                    "{} wrote into {what} the service passed to {to}, which is the service's read-only input (first changed byte at offset {offset})",
                    self.name(ext)
                );
                self.report(Rule::InputWritten, ext, seq, msg);
            }
            K::ChangeDataWritten { delivery, offset } => {
                let what = self.describe_delivery(event.thread, *delivery);
                let msg = format!(
                    "{} wrote into the lpData of {what} (first changed byte at offset {offset})",
                    self.name(ext)
                );
                self.report(Rule::ChangeBufferWritten, ext, seq, msg);
            }
            K::DeliveryCut {
                depth,
                handle,
                cause,
            } => {
                if self.take_owed(*handle, *cause) {
                    self.settle(*cause);
                }
                let root = self.writes.get(cause).map_or(*cause, |w| w.root);
                let who = self.registrations.get(handle.0).and_then(|r| r.ext).or(ext);
                self.storm(event.thread, Some(root), seq, who, || {
                    format!(
                        "the delivery to handle #{} for the write at event {cause} was cut at nesting depth {depth}",
                        handle.0
                    )
                });
            }
            K::ExtensionCrashed { detail } => {
                let msg = format!("{} crashed: {detail}", self.name(ext));
                self.report(Rule::ExtensionCrashed, ext, seq, msg);
                self.service_gone();
            }
            K::ExtensionHung { limit_ms } => {
                let msg = format!(
                    "a call into {} did not return within {limit_ms} ms",
                    self.name(ext)
                );
                self.report(Rule::ExtensionHung, ext, seq, msg);
                self.service_gone();
            }
        }
    }

    // ---- small helpers ------------------------------------------------------------------

    fn report(&mut self, rule: Rule, ext: Option<ExtId>, event: u64, message: String) {
        self.findings.push(Finding::new(rule, ext, event, message));
    }

    fn name(&self, ext: Option<ExtId>) -> Name<'_> {
        Name(&self.config.names, ext)
    }

    fn nesting_limit(&self) -> u32 {
        match self.config.nesting_limit {
            0 => Limits::default().nesting,
            n => n,
        }
    }

    fn ext_mut(&mut self, e: ExtId) -> &mut ExtState {
        if self.exts.len() <= e.index() {
            self.exts.resize_with(e.index() + 1, ExtState::default);
        }
        &mut self.exts[e.index()]
    }

    fn ext_state(&self, e: Option<ExtId>) -> Option<&ExtState> {
        e.and_then(|e| self.exts.get(e.index()))
    }

    fn thread(&mut self, thread: u16) -> &mut ThreadState {
        self.threads.at(thread)
    }

    /// Pops the innermost open call matching `pred`, dropping calls above it (their
    /// returns were lost, e.g. to a crash). `None` if no open call matches.
    fn pop_frame(&mut self, thread: u16, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let t = self.threads.get_mut(thread)?;
        let i = t.calls.iter().rposition(pred)?;
        t.calls.truncate(i + 1);
        t.calls.pop()
    }

    /// The logical device an id names.
    fn resolve(&self, device: u32, source: i32) -> Dev {
        if device != 0 && source == SOURCE_TAPI {
            match self.tapi_to_logical.get(&device) {
                Some(l) => Dev::Logical(*l),
                None => Dev::UnmappedTapi(device),
            }
        } else {
            Dev::Logical(device)
        }
    }

    /// The outermost write of the chain a write or delivery on `thread` belongs to.
    fn current_root(&self, thread: u16) -> Option<u64> {
        let t = self.threads.get(thread)?;
        if let Some(r) = t.deliveries.last().and_then(|d| d.root) {
            return Some(r);
        }
        t.calls.iter().find_map(|f| match f {
            Frame::Write { at, .. } => Some(self.writes.get(at).map_or(*at, |w| w.root)),
            _ => None,
        })
    }

    fn write_text(&self, w: u64) -> String {
        match self.writes.get(&w) {
            Some(wr) => match wr.hinst {
                Some(_) => format!(
                    "{}'s SetData({}, {}) at event {w}",
                    self.name(wr.ext),
                    DevArg(wr.device, wr.source),
                    guid_text(&wr.guid)
                ),
                None => format!(
                    "an external write to {}, {} at event {w}",
                    DevArg(wr.device, wr.source),
                    guid_text(&wr.guid)
                ),
            },
            None => format!("the write at event {w}"),
        }
    }

    fn registration_text(&self, h: HandleId) -> String {
        match self.registrations.get(h.0) {
            Some(r) => format!(
                "handle #{} of {} ({}, {}, registered at event {})",
                h.0,
                self.name(r.ext),
                DevArg(r.device, r.source),
                guid_text(&r.guid),
                r.at
            ),
            None => format!("handle #{}", h.0),
        }
    }

    fn buffer_text(&self, b: BufferId) -> String {
        let info = self
            .live_buffers
            .get(&b)
            .or_else(|| self.dead_buffers.get(&b).map(|(i, _)| i));
        match info {
            Some(i) => format!(
                "buffer #{} from GetData at event {} ({}, {})",
                b.0,
                i.at,
                DevArg(i.device, i.source),
                guid_text(&i.guid)
            ),
            None => format!("buffer #{}", b.0),
        }
    }

    /// The GUID string a delivery passed.
    fn delivery_guid<'a>(&'a self, d: &'a Delivery) -> &'a str {
        d.guid
            .as_deref()
            .or_else(|| self.registrations.get(d.handle.0)?.guid.as_deref())
            .unwrap_or("NULL")
    }

    fn describe_delivery(&self, thread: u16, delivery: u64) -> String {
        let d = self.threads.get(thread).and_then(|t| {
            t.deliveries
                .iter()
                .rev()
                .chain(t.last_delivery.iter())
                .find(|d| d.at == delivery)
        });
        match d {
            Some(d) => format!(
                "the ConfigChange at event {delivery} (handle #{}, device {}, {})",
                d.handle.0,
                d.device,
                self.delivery_guid(d)
            ),
            None => format!("the ConfigChange at event {delivery}"),
        }
    }

    // ---- expected deliveries -------------------------------------------------------------

    /// One delivery of write `w` was made, cut or cancelled: forget the write once it owes
    /// nothing and has returned. Returns the root of `w`'s chain.
    fn settle(&mut self, w: u64) -> Option<u64> {
        let wr = self.writes.get_mut(&w)?;
        let done = wr.settle_one();
        let root = wr.root;
        if done {
            self.retire(w);
        }
        Some(root)
    }

    fn retire(&mut self, w: u64) {
        self.finished_writes.push_back(w);
        if self.finished_writes.len() > RETAINED_WRITES
            && let Some(old) = self.finished_writes.pop_front()
        {
            self.writes.remove(&old);
        }
    }

    /// Takes write `w`'s delivery to `h` off what is owed; false if none was owed.
    fn take_owed(&mut self, h: HandleId, w: u64) -> bool {
        let taken = self
            .registrations
            .get_mut(h.0)
            .is_some_and(|r| r.take_owed(w));
        if taken {
            self.owed_total -= 1;
        }
        taken
    }

    /// Cancels what is owed to `h` alone (its Unregister): touches that registration only,
    /// where [`Checker::cancel`] walks them all.
    fn cancel_owed_to(&mut self, h: HandleId) {
        let Some(r) = self.registrations.get_mut(h.0) else {
            return;
        };
        let mut owed = std::mem::take(&mut r.owed);
        if owed.is_empty() {
            r.owed = owed;
            return;
        }
        owed.sort_unstable();
        self.owed_total -= owed.len();
        for &w in &owed {
            if let Some(wr) = self.writes.get_mut(&w)
                && wr.settle_one()
            {
                self.retire(w);
            }
        }
        owed.clear();
        if let Some(r) = self.registrations.get_mut(h.0) {
            r.owed = owed;
        }
    }

    /// Cancels owed deliveries whose write matches `pred`.
    fn cancel_pending(&mut self, pred: impl Fn(u64) -> bool) {
        self.cancel(|w, _, _| pred(w));
    }

    /// Cancels owed deliveries to registrations matching `pred`.
    fn cancel_pending_where(&mut self, pred: impl Fn(HandleId, &Registration) -> bool) {
        self.cancel(|_, h, r| pred(h, r));
    }

    /// Cancels the owed deliveries `pred` selects, retiring writes that then owe nothing
    /// (in the order of their `seq`).
    fn cancel(&mut self, pred: impl Fn(u64, HandleId, &Registration) -> bool) {
        if self.owed_total == 0 {
            return;
        }
        let writes = &mut self.writes;
        let settled = &mut self.scratch;
        settled.clear();
        let mut cancelled = 0;
        for (h, r) in self.registrations.iter_mut() {
            if r.owed.is_empty() {
                continue;
            }
            let mut owed = std::mem::take(&mut r.owed);
            owed.retain(|&w| {
                if !pred(w, HandleId(h), r) {
                    return true;
                }
                cancelled += 1;
                if let Some(wr) = writes.get_mut(&w)
                    && wr.settle_one()
                {
                    settled.push(w);
                }
                false
            });
            r.owed = owed;
        }
        self.owed_total -= cancelled;
        if !self.scratch.is_empty() {
            let mut settled = std::mem::take(&mut self.scratch);
            settled.sort_unstable();
            for &w in &settled {
                self.retire(w);
            }
            settled.clear();
            self.scratch = settled;
        }
    }

    fn missed(&mut self, w: u64, h: HandleId, at: u64) {
        if self.config.one_sided {
            return;
        }
        let ret = match self.writes.get(&w).map(|wr| wr.state) {
            Some(WriteState::Succeeded(r)) => format!(" (it returned at event {r})"),
            _ => String::new(),
        };
        let who = self.registrations.get(h.0).and_then(|r| r.ext);
        let msg = format!(
            "{} got no ConfigChange for {}{ret}",
            self.registration_text(h),
            self.write_text(w)
        );
        self.report(Rule::MissedNotification, who, at, msg);
    }

    fn on_write_call(
        &mut self,
        event: &Event,
        hinst: Option<HInstArg>,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        let seq = event.seq;
        let key = (self.resolve(device, source), self.guid_arg_value(guid));
        let root = self.current_root(event.thread).unwrap_or(seq);
        let mut outstanding = 0;
        if self.stopping_at.is_none() && key.1.is_some() {
            let matching = self.live_by_key.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            for h in matching {
                let Some(r) = self.registrations.get_mut(h.0) else {
                    continue;
                };
                if r.key != key || hinst == Some(r.hinst) {
                    continue;
                }
                // The service owes nothing to an extension it no longer recognises or
                // that is shutting down.
                let gone = r
                    .ext
                    .and_then(|e| self.exts.get(e.index()))
                    .is_some_and(|s| s.init_failure().is_some() || s.shutdown_at.is_some());
                if !gone && !r.owed.contains(&seq) {
                    r.owed.push(seq);
                    outstanding += 1;
                }
            }
            self.owed_total += outstanding as usize;
        }
        self.writes.insert(
            seq,
            Write {
                ext: event.ext,
                hinst,
                device,
                source,
                guid: guid.clone(),
                key,
                root,
                outstanding,
                state: WriteState::Open,
            },
        );
        self.thread(event.thread).calls.push(Frame::Write {
            at: seq,
            external: hinst.is_none(),
        });
    }

    fn on_write_return(&mut self, event: &Event, code: u32, external: bool) {
        let Some(Frame::Write { at: w, .. }) = self.pop_frame(
            event.thread,
            |f| matches!(f, Frame::Write { external: x, .. } if *x == external),
        ) else {
            return;
        };
        let Some(wr) = self.writes.get_mut(&w) else {
            return;
        };
        let owed = wr.outstanding;
        let ok = code == ERROR_SUCCESS;
        wr.state = if ok {
            WriteState::Succeeded(event.seq)
        } else {
            WriteState::Failed
        };
        if owed == 0 {
            self.retire(w);
        } else if !ok {
            self.cancel_pending(|pw| pw == w);
        } else if self.config.delivery != DeliveryPolicy::Deferred {
            // Synchronous delivery ends with the write: whatever it still owes was missed.
            let missed: Vec<HandleId> = self
                .registrations
                .iter_mut()
                .filter(|(_, r)| r.owed.contains(&w))
                .map(|(h, _)| HandleId(h))
                .collect();
            for h in missed {
                self.take_owed(h, w);
                self.missed(w, h, event.seq);
                self.settle(w);
            }
        }
    }

    // ---- notifications --------------------------------------------------------------------

    fn on_config_change(
        &mut self,
        event: &Event,
        handle: HandleId,
        device: u32,
        guid: &Arc<str>,
        cause: Option<u64>,
    ) {
        let seq = event.seq;
        let ext = event.ext;
        if let Some(e) = ext {
            self.init_failure_ignored(e, seq, || {
                format!(
                    "a ConfigChange (handle #{}, device {device}, {guid})",
                    handle.0
                )
            });
        }

        // The delivery is made: it settles what the write owed. Without a cause (a
        // recorder on a real service), it settles the oldest delivery owed to the handle.
        let facts = match cause {
            Some(c) => {
                let settled = self.take_owed(handle, c);
                // One lookup of the write: settle it and copy out what judging needs.
                let mut retire = false;
                let facts = self.writes.get_mut(&c).map(|wr| {
                    if settled {
                        retire = wr.settle_one();
                    }
                    Cause {
                        root: wr.root,
                        hinst: wr.hinst,
                        key: wr.key,
                    }
                });
                if retire {
                    self.retire(c);
                }
                facts
            }
            None => {
                let oldest = self
                    .registrations
                    .get(handle.0)
                    .and_then(|r| r.owed.iter().copied().min());
                if let Some(w) = oldest {
                    self.take_owed(handle, w);
                    self.settle(w);
                }
                None
            }
        };
        let root = match cause {
            Some(c) => Some(facts.map_or(c, |f| f.root)),
            None => self.current_root(event.thread),
        };
        let registrations_own = self
            .registrations
            .get(handle.0)
            .and_then(|r| r.guid.as_ref())
            .is_some_and(|g| Arc::ptr_eq(g, guid));
        let depth = {
            let t = self.thread(event.thread);
            t.deliveries.push(Delivery {
                at: seq,
                handle,
                device,
                guid: (!registrations_own).then(|| guid.clone()),
                root,
            });
            t.deliveries.len()
        };

        if !self.delivery_is_clean(event.ext, handle, device, registrations_own, facts) {
            self.judge_delivery(event, handle, device, guid, cause, facts);
        } else if cfg!(debug_assertions) {
            // Every test run in a debug build proves the shortcut hides nothing.
            let before = self.findings.len();
            self.judge_delivery(event, handle, device, guid, cause, facts);
            debug_assert_eq!(
                self.findings.len(),
                before,
                "a delivery judged clean at event {seq} had findings: {:?}",
                &self.findings[before..]
            );
        }

        if u64::try_from(depth).unwrap_or(u64::MAX) > u64::from(self.nesting_limit()) {
            let limit = self.nesting_limit();
            self.storm(event.thread, root, seq, ext, || {
                format!(
                    "the ConfigChange to handle #{} (device {device}, {guid}) was nested {depth} deep, past the limit of {limit}",
                    handle.0
                )
            });
        }
    }

    /// The common case, decided from the fields at hand: a ConfigChange to a live
    /// registration of the extension that receives it, for a write by someone else to the
    /// registration's own key, passing the registration's own device id and GUID string
    /// (`registrations_own`: the same string, by pointer), before any shutdown. Anything
    /// else goes to [`Checker::judge_delivery`], which finds what is wrong and says so
    /// (and may find nothing).
    fn delivery_is_clean(
        &self,
        ext: Option<ExtId>,
        handle: HandleId,
        device: u32,
        registrations_own: bool,
        facts: Option<Cause>,
    ) -> bool {
        let Some(reg) = self.registrations.get(handle.0) else {
            return false;
        };
        let shutting_down =
            |e: Option<ExtId>| self.ext_state(e).is_some_and(|s| s.shutdown_at.is_some());
        reg.state == RegState::Live
            && self.stopping_at.is_none()
            && !shutting_down(reg.ext)
            && device == reg.device
            && registrations_own
            && (ext.is_none() || reg.ext.is_none() || ext == reg.ext)
            && facts.is_none_or(|w| w.hinst != Some(reg.hinst) && w.key == reg.key)
    }

    /// The service-side rules of one ConfigChange call.
    #[cold]
    #[inline(never)]
    fn judge_delivery(
        &mut self,
        event: &Event,
        handle: HandleId,
        device: u32,
        guid: &Arc<str>,
        cause: Option<u64>,
        facts: Option<Cause>,
    ) {
        let seq = event.seq;
        let ext = event.ext;
        let Some(reg) = self.registrations.get(handle.0) else {
            let msg = format!(
                "{} got a ConfigChange for handle #{} (device {device}, {guid}), but handle #{} was never registered",
                self.name(ext),
                handle.0,
                handle.0
            );
            self.report(Rule::NotifyMismatch, ext, seq, msg);
            return;
        };
        // One lookup on the hot path: the fields judged below, copied out. The service
        // passes the registration's own string, so the same pointer means the same GUID.
        let (reg_ext, reg_hinst, reg_key, reg_device, reg_state) =
            (reg.ext, reg.hinst, reg.key, reg.device, reg.state);
        let same_guid_string = reg.guid.as_ref().is_some_and(|g| Arc::ptr_eq(g, guid));
        let who = reg_ext.or(ext);
        let cause_text = |cause: Option<u64>| match cause {
            Some(c) => format!(" caused by the write at event {c}"),
            None => String::new(),
        };

        let mut after_shutdown = None;
        match reg_state {
            RegState::Live => {}
            RegState::Unregistered(at) => {
                let msg = format!(
                    "ConfigChange{} delivered to {} after its Unregister returned at event {at}",
                    cause_text(cause),
                    self.registration_text(handle)
                );
                self.report(Rule::NotifyAfterUnregister, who, seq, msg);
            }
            RegState::Dropped(at) => {
                after_shutdown = Some(format!("after the registration was dropped at event {at}"));
            }
        }
        if after_shutdown.is_none() {
            let shutdown_at = self.ext_state(reg_ext).and_then(|s| s.shutdown_at);
            if let Some(at) = self.stopping_at {
                after_shutdown = Some(format!("after the service began stopping at event {at}"));
            } else if let Some(at) = shutdown_at {
                after_shutdown = Some(format!(
                    "after {}'s FaxDevShutdown was called at event {at}",
                    self.name(reg_ext)
                ));
            }
        }
        if let Some(when) = after_shutdown {
            let msg = format!(
                "ConfigChange{} delivered to {} {when}",
                cause_text(cause),
                self.registration_text(handle)
            );
            self.report(Rule::NotifyAfterShutdown, who, seq, msg);
        }

        let (is_self, wrong_key, writer_hinst) = match facts {
            Some(w) => (w.hinst == Some(reg_hinst), w.key != reg_key, w.hinst),
            None => (false, false, None),
        };
        let wrong_device = device != reg_device;
        let wrong_guid = !same_guid_string && self.guid_value(guid) != reg_key.1;
        let wrong_ext = ext.is_some() && reg_ext.is_some() && ext != reg_ext;

        if is_self && let Some(c) = cause {
            let msg = format!(
                "{} was notified of its own write: {} passed the same hInst ({})",
                self.registration_text(handle),
                self.write_text(c),
                HInstText(&self.config.names, writer_hinst.unwrap_or(HInstArg::Null))
            );
            self.report(Rule::NotifySelf, who, seq, msg);
        }

        if wrong_key || wrong_device || wrong_guid || wrong_ext {
            let Some(reg) = self.registrations.get(handle.0) else {
                return;
            };
            let mut reasons = Vec::new();
            if wrong_key && let Some(c) = cause {
                reasons.push(format!(
                    "it was caused by {}, which is not the registration's device and GUID",
                    self.write_text(c)
                ));
            }
            if wrong_device {
                reasons.push(format!(
                    "it passed device {device} instead of {}",
                    reg.device
                ));
            }
            if wrong_guid {
                reasons.push(format!(
                    "it passed GUID {} instead of {}",
                    GuidText(Some(guid)),
                    guid_text(&reg.guid)
                ));
            }
            if wrong_ext {
                reasons.push(format!(
                    "it was delivered to {}, not the registrant",
                    self.name(ext)
                ));
            }
            let msg = format!(
                "ConfigChange to {} does not match the registration: {}",
                self.registration_text(handle),
                reasons.join("; ")
            );
            self.report(Rule::NotifyMismatch, who, seq, msg);
        }
    }

    /// Reports a notification storm, once per outermost write chain and, on one thread,
    /// once until the nesting depth returns to 0.
    fn storm(
        &mut self,
        thread: u16,
        root: Option<u64>,
        seq: u64,
        ext: Option<ExtId>,
        what: impl FnOnce() -> String,
    ) {
        let t = self.threads.at(thread);
        if t.storm_reported {
            return;
        }
        if !t.deliveries.is_empty() {
            t.storm_reported = true;
        }
        if let Some(r) = root
            && !self.storm_roots.insert(r)
        {
            return;
        }
        let chain = match root {
            Some(r) => format!("; the chain started with {}", self.write_text(r)),
            None => String::new(),
        };
        let msg = format!("notification storm: {}{chain}", what());
        self.report(Rule::NotificationStorm, ext, seq, msg);
    }

    // ---- registrations ----------------------------------------------------------------------

    fn on_register_return(
        &mut self,
        event: &Event,
        handle: Option<HandleId>,
        last_error: u32,
        injected: bool,
    ) {
        let seq = event.seq;
        let ext = event.ext;
        let Some(Frame::Register {
            at,
            hinst,
            device,
            source,
            guid,
            key,
        }) = self.pop_frame(event.thread, |f| matches!(f, Frame::Register { .. }))
        else {
            return;
        };
        if let Some(h) = handle {
            if let Some(old) = self.registrations.get(h.0)
                && old.state == RegState::Live
            {
                self.remove_live(h);
            }
            // A handle issued twice (a broken trace): what was owed to it stays owed.
            let owed = self
                .registrations
                .get_mut(h.0)
                .map(|old| std::mem::take(&mut old.owed))
                .unwrap_or_default();
            self.registrations.insert(
                h.0,
                Registration {
                    ext,
                    hinst,
                    key,
                    device,
                    source,
                    guid,
                    at,
                    state: RegState::Live,
                    owed,
                },
            );
            self.live_handles.push(h);
            self.live_by_key.entry(key).or_default().push(h);
            return;
        }
        if injected {
            return;
        }
        let call = format!(
            "{}'s Register({}, {}) at event {at}",
            self.name(ext),
            DevArg(device, source),
            guid_text(&guid)
        );
        match last_error {
            ERROR_BUSY => {
                let msg = format!("{call} got ERROR_BUSY{}", self.busy_context(event.thread));
                self.report(Rule::BusyReentry, ext, seq, msg);
            }
            ERROR_ALREADY_ASSIGNED => {
                let earlier = self.live_by_key.get(&key).and_then(|live| {
                    live.iter()
                        .copied()
                        .find(|h| self.registrations.get(h.0).is_some_and(|r| r.ext == ext))
                });
                let holds = match earlier {
                    Some(h) => format!(
                        "it already holds handle #{} for that device and GUID (registered at event {})",
                        h.0,
                        self.registrations.get(h.0).map_or(0, |r| r.at)
                    ),
                    None => "it already holds a registration for that device and GUID".to_string(),
                };
                let msg = format!("{call} got ERROR_ALREADY_ASSIGNED: {holds}");
                self.report(Rule::DuplicateRegistration, ext, seq, msg);
            }
            _ => {}
        }
    }

    /// ": called while the ConfigChange at event N (handle #h) was being delivered".
    fn busy_context(&self, thread: u16) -> String {
        match self.threads.get(thread).and_then(|t| t.deliveries.last()) {
            Some(d) => format!(
                ": it was called while the ConfigChange at event {} (handle #{}, device {}, {}) was being delivered",
                d.at,
                d.handle.0,
                d.device,
                self.delivery_guid(d)
            ),
            None => ": it was called while a notification was being delivered".to_string(),
        }
    }

    fn on_unregister_return(&mut self, event: &Event, code: u32, injected: bool) {
        let seq = event.seq;
        let ext = event.ext;
        let Some(Frame::Unregister { at, handle }) =
            self.pop_frame(event.thread, |f| matches!(f, Frame::Unregister { .. }))
        else {
            return;
        };
        // Choice (docs/choices.md): an FSP that unregisters its own handle from inside its
        // FaxDevShutdown is told ERROR_SHUTDOWN_IN_PROGRESS, yet the registration is
        // released, so a careful FSP ends with none held.
        let released_in_shutdown = code == ERROR_SHUTDOWN_IN_PROGRESS
            && !injected
            && self
                .ext_state(ext)
                .is_some_and(|s| s.shutdown_at.is_some() && s.loaded)
            && matches!(handle, HandleArg::Handle(h)
                if self.registrations.get(h.0).is_some_and(|r| r.ext == ext));
        // The same handle unregistered again in FaxDevShutdown gets the same answer, but
        // the first call released it: the second is as stale as after any release.
        if released_in_shutdown
            && let HandleArg::Handle(h) = handle
            && let Some(RegState::Unregistered(u) | RegState::Dropped(u)) =
                self.registrations.get(h.0).map(|r| r.state)
        {
            let how = match self.registrations.get(h.0).map(|r| r.state) {
                Some(RegState::Dropped(_)) => "dropped by the service",
                _ => "released by an Unregister",
            };
            let msg = format!(
                "{}'s Unregister(handle #{}) at event {at} in FaxDevShutdown got {}, but {} was already {how} at event {u}",
                self.name(ext),
                h.0,
                win32_name(code),
                self.registration_text(h)
            );
            self.report(Rule::StaleUnregister, ext, seq, msg);
            return;
        }
        if code == ERROR_SUCCESS || released_in_shutdown {
            if let HandleArg::Handle(h) = handle
                && let Some(r) = self.registrations.get_mut(h.0)
                && r.state == RegState::Live
            {
                r.state = RegState::Unregistered(seq);
                self.remove_live(h);
                self.cancel_owed_to(h);
            }
            return;
        }
        if injected {
            return;
        }
        let call = match handle {
            HandleArg::Handle(h) => format!(
                "{}'s Unregister(handle #{}) at event {at}",
                self.name(ext),
                h.0
            ),
            other => format!("{}'s Unregister({other}) at event {at}", self.name(ext)),
        };
        match code {
            ERROR_BUSY => {
                let msg = format!("{call} got ERROR_BUSY{}", self.busy_context(event.thread));
                self.report(Rule::BusyReentry, ext, seq, msg);
            }
            ERROR_NOT_FOUND => {
                let why = match handle {
                    HandleArg::Handle(h) => match self.registrations.get(h.0).map(|r| r.state) {
                        Some(RegState::Unregistered(u)) => format!(
                            "{} was already unregistered at event {u}",
                            self.registration_text(h)
                        ),
                        Some(RegState::Dropped(d)) => format!(
                            "{} was dropped by the service at event {d}",
                            self.registration_text(h)
                        ),
                        Some(RegState::Live) => format!(
                            "{} is live, yet the service answered ERROR_NOT_FOUND",
                            self.registration_text(h)
                        ),
                        None => format!("handle #{} was never issued", h.0),
                    },
                    HandleArg::Foreign(n) => {
                        format!("foreign value #{} was never issued by Register", n.0)
                    }
                    HandleArg::Null | HandleArg::InvalidValue => {
                        format!("{handle} was never issued by Register")
                    }
                };
                let msg = format!("{call} got {}: {why}", win32_name(code));
                self.report(Rule::StaleUnregister, ext, seq, msg);
            }
            _ => {}
        }
    }

    /// The service went down with a crashed or hung extension: nothing is owed any more,
    /// nothing later is judged.
    fn service_gone(&mut self) {
        self.gone = true;
        self.cancel_pending(|_| true);
    }

    /// Takes `h` out of the live lists (its registration is over or replaced).
    fn remove_live(&mut self, h: HandleId) {
        self.live_handles.retain(|x| *x != h);
        if let Some(key) = self.registrations.get(h.0).map(|r| r.key)
            && let Some(list) = self.live_by_key.get_mut(&key)
        {
            list.retain(|x| *x != h);
        }
    }

    /// Drops the registrations matching `pred` (service stop, restart, unload).
    fn drop_registrations(&mut self, seq: u64, pred: impl Fn(&Registration) -> bool) {
        let mut dropped = false;
        for h in &self.live_handles {
            if let Some(r) = self.registrations.get_mut(h.0)
                && pred(r)
            {
                r.state = RegState::Dropped(seq);
                dropped = true;
            }
        }
        if dropped {
            let regs = &self.registrations;
            self.live_handles
                .retain(|h| regs.get(h.0).is_some_and(|r| r.state == RegState::Live));
            for list in self.live_by_key.values_mut() {
                list.retain(|h| regs.get(h.0).is_some_and(|r| r.state == RegState::Live));
            }
            self.cancel_pending_where(|_, r| r.state != RegState::Live);
        }
    }

    // ---- lifecycle ----------------------------------------------------------------------------

    fn on_service_start(&mut self, seq: u64) {
        self.drop_registrations(seq, |_| true);
        self.cancel_pending(|_| true);
        self.stopping_at = None;
        self.storm_roots.clear();
        self.threads.clear();
        for s in &mut self.exts {
            s.loaded = false;
        }
    }

    fn on_unload(&mut self, ext: Option<ExtId>, seq: u64) {
        let Some(e) = ext else {
            return;
        };
        let mut leaked: Vec<BufferId> = self
            .live_buffers
            .iter()
            .filter(|(_, b)| b.owner == ext)
            .map(|(id, _)| *id)
            .collect();
        leaked.sort_unstable();
        for b in leaked {
            let msg = format!(
                "{} was never freed before {} was unloaded",
                self.buffer_text(b),
                self.name(ext)
            );
            self.report(Rule::BufferLeak, ext, seq, msg);
            if let Some(info) = self.live_buffers.remove(&b) {
                self.bury(b, info, BufferEnd::Leaked(seq));
            }
        }
        self.drop_registrations(seq, |r| r.ext == ext);
        let s = self.ext_mut(e);
        s.loaded = false;
        s.unloaded_at = Some(seq);
    }

    fn on_config_init_call(&mut self, ext: Option<ExtId>, seq: u64) {
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

    fn on_config_init_return(&mut self, ext: Option<ExtId>, seq: u64, hr: i32) {
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
    fn init_failure_ignored(&mut self, e: ExtId, seq: u64, what: impl FnOnce() -> String) {
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

    fn on_general_init(&mut self, ext: Option<ExtId>, seq: u64, dev: bool) {
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

    fn on_shutdown_return(&mut self, ext: Option<ExtId>, seq: u64) {
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
    fn callback_lifecycle(&mut self, event: &Event) {
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

    // ---- argument checks ---------------------------------------------------------------------

    /// The value of a GUID string, through the one-entry cache.
    fn guid_value(&self, g: &std::sync::Arc<str>) -> Option<u128> {
        let mut cache = self.guid_cache.borrow_mut();
        if let Some((cached, value)) = cache.as_ref()
            && std::sync::Arc::ptr_eq(cached, g)
        {
            return *value;
        }
        let value = parse_braced_guid(g);
        *cache = Some((g.clone(), value));
        value
    }

    fn guid_arg_value(&self, g: &GuidArg) -> Option<u128> {
        g.as_ref().and_then(|g| self.guid_value(g))
    }

    fn check_guid(&mut self, event: &Event, call: &str, device: u32, source: i32, guid: &GuidArg) {
        if self.guid_arg_value(guid).is_some() {
            return;
        }
        let msg = format!(
            "{} called {call}({}) with GUID {}, which is not in braced form {{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}}",
            self.name(event.ext),
            DevArg(device, source),
            guid_text(guid)
        );
        self.report(Rule::InvalidGuid, event.ext, event.seq, msg);
    }

    fn check_hinst(
        &mut self,
        event: &Event,
        call: &str,
        hinst: HInstArg,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        let Some(e) = event.ext else {
            return;
        };
        if hinst == HInstArg::Ext(e) {
            return;
        }
        let msg = format!(
            "{} called {call}({}, {}) with hInst {} instead of its own module handle",
            self.name(event.ext),
            DevArg(device, source),
            guid_text(guid),
            HInstText(&self.config.names, hinst)
        );
        self.report(Rule::ForeignHinst, event.ext, event.seq, msg);
    }

    fn check_source(
        &mut self,
        event: &Event,
        call: &str,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        if device == 0 {
            return;
        }
        let Some(kind) = self.ext_state(event.ext).and_then(|s| s.kind) else {
            return;
        };
        let wrong = match kind {
            ExtensionKind::Fsp => source == SOURCE_FAX,
            ExtensionKind::VirtualFsp | ExtensionKind::Routing => source == SOURCE_TAPI,
        };
        if !wrong {
            return;
        }
        let (used, should) = match kind {
            ExtensionKind::Fsp => ("DEV_ID_SRC_FAX", "DEV_ID_SRC_TAPI"),
            _ => ("DEV_ID_SRC_TAPI", "DEV_ID_SRC_FAX"),
        };
        let msg = format!(
            "{} ({kind}) called {call}(device {device}, {}) with {used}; {kind} extensions should use {should}",
            self.name(event.ext),
            guid_text(guid)
        );
        self.report(Rule::WrongIdSource, event.ext, event.seq, msg);
    }

    // ---- buffers ---------------------------------------------------------------------------

    fn on_free(&mut self, event: &Event, arg: BufferArg) {
        let seq = event.seq;
        let ext = event.ext;
        match arg {
            BufferArg::Null => {
                let msg = format!("{} called FreeBuffer(NULL)", self.name(ext));
                self.report(Rule::FreeNull, ext, seq, msg);
            }
            BufferArg::Buffer(b) => {
                if let Some(info) = self.live_buffers.remove(&b) {
                    self.bury(b, info, BufferEnd::Freed(seq));
                    return;
                }
                match self.dead_buffers.get(&b).map(|(_, end)| *end) {
                    Some(BufferEnd::Freed(f)) => {
                        let msg = format!(
                            "{} freed {} again: it was already freed by FreeBuffer at event {f}",
                            self.name(ext),
                            self.buffer_text(b)
                        );
                        self.report(Rule::DoubleFree, ext, seq, msg);
                    }
                    Some(BufferEnd::Leaked(_)) => {
                        // Reported as a leak when its owner was unloaded; the free comes
                        // from a later life (call-after-unload covers the call itself).
                        if let Some((_, end)) = self.dead_buffers.get_mut(&b) {
                            *end = BufferEnd::Freed(seq);
                        }
                    }
                    None if self.max_buffer.is_some_and(|m| b <= m) => {
                        let msg = format!(
                            "{} freed buffer #{} again: it was freed long before (more than {RETAINED_DEAD_BUFFERS} buffers ago, so its details are no longer kept)",
                            self.name(ext),
                            b.0
                        );
                        self.report(Rule::DoubleFree, ext, seq, msg);
                    }
                    None => {
                        let msg = format!(
                            "{} called FreeBuffer on buffer #{}, which no successful GetData returned",
                            self.name(ext),
                            b.0
                        );
                        self.report(Rule::ForeignFree, ext, seq, msg);
                    }
                }
            }
            BufferArg::ChangeData { delivery } => {
                let msg = format!(
                    "{} called FreeBuffer on the lpData of {}; it belongs to the service",
                    self.name(ext),
                    self.describe_delivery(event.thread, delivery)
                );
                self.report(Rule::ForeignFree, ext, seq, msg);
            }
            BufferArg::Foreign(n) => {
                let msg = format!(
                    "{} called FreeBuffer on foreign pointer #{}, which no GetData returned",
                    self.name(ext),
                    n.0
                );
                self.report(Rule::ForeignFree, ext, seq, msg);
            }
        }
    }

    /// Records a buffer that is no longer live, forgetting the oldest beyond the bound.
    fn bury(&mut self, b: BufferId, info: BufferInfo, end: BufferEnd) {
        self.dead_buffers.insert(b, (info, end));
        self.dead_order.push_back(b);
        if self.dead_order.len() > RETAINED_DEAD_BUFFERS
            && let Some(old) = self.dead_order.pop_front()
        {
            self.dead_buffers.remove(&old);
        }
    }

    fn on_damage(&mut self, ext: Option<ExtId>, seq: u64, b: BufferId, damage: Damage) {
        let (owner, end) = match self.live_buffers.get(&b) {
            Some(i) => (i.owner, None),
            None => match self.dead_buffers.get(&b) {
                Some((i, end)) => (i.owner, Some(*end)),
                None => (None, None),
            },
        };
        let who = ext.or(owner);
        let (rule, msg) = match damage {
            Damage::Overrun { offset } => (
                Rule::BufferOverrun,
                format!(
                    "bytes past the end of {} were written (first damaged byte at offset {offset})",
                    self.buffer_text(b)
                ),
            ),
            Damage::WriteAfterFree { offset } => {
                let freed = match end {
                    Some(BufferEnd::Freed(f)) => format!(" after FreeBuffer at event {f}"),
                    Some(BufferEnd::Leaked(u)) => {
                        format!(" after its owner was unloaded at event {u}")
                    }
                    None => " after it was freed".to_string(),
                };
                (
                    Rule::WriteAfterFree,
                    format!(
                        "{} was written{freed} (first changed byte at offset {offset})",
                        self.buffer_text(b)
                    ),
                )
            }
        };
        self.report(rule, who, seq, msg);
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
