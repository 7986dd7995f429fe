//! The simulated fax service: lifecycle, the five callbacks, notification dispatch.
//!
//! A [`Service`] owns the machine (devices, the configuration store) and one service
//! instance at a time (extensions' lifecycle state, registrations, buffers, pending
//! notifications). Drivers (tests, scenarios, the validate battery, the FFI host) call
//! its public operations; extensions call back through [`Callbacks`]. Every crossing of
//! the boundary becomes an [`Event`]; the live [`Checker`] judges each one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use faxsim_abi::{
    Callback, ERROR_ALREADY_ASSIGNED, ERROR_BADDB, ERROR_BUSY, ERROR_FILE_NOT_FOUND,
    ERROR_GEN_FAILURE, ERROR_INVALID_PARAMETER, ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_FOUND,
    ERROR_SHUTDOWN_IN_PROGRESS, ERROR_SUCCESS, MAX_EXTERNAL_WRITE_BYTES,
};
pub use faxsim_trace::EventSink;
use faxsim_trace::{
    BufferArg, BufferId, CallbackId, Crossing, Damage, Event, EventKind, Exports, ExtId,
    ExtensionInfo, ExtensionKind, ForeignId, HInstArg, HandleArg, HandleId, Header, ServiceInput,
    TraceError,
};

use crate::checker::{Checker, CheckerConfig};
use crate::choices::{CallPoint, Choices, SeededChoices, WritePoint};

mod routing;
mod scripted;
use crate::devices::{Device, DeviceTable, Resolved};
use crate::extension::{ConfigChange, Extension, ExtensionSpec, RoutingInfo, VirtualDevices};
use crate::faults::{Fault, Trigger};
use crate::guid::parse_braced_guid;
use crate::ledger::{FreeOutcome, OwnershipLedger};
use crate::options::{
    DeliveryPolicy, LoadOrder, MAX_STORED_VALUE, ServiceOptions, VirtualFspInitOrder,
};
use crate::registry::{FxSet, HInst, Recipient, Registration, RegistrationTable};
use crate::rules::Finding;
use crate::store::{ConfigStore, Key};
pub use routing::{
    ENUM_FILE_FUNCTION, RECEIVED_FAX_FOLDER, RouteFileAnswer, RouteFileArgs, RoutedFile,
    received_fax_name,
};
pub use scripted::{Oracle, Refused};

/// The most extensions one service hosts (the host's trampoline pool is sized to match).
pub const MAX_EXTENSIONS: usize = 4096;

/// Which limit a run hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// `limits.events`.
    Events,
    /// `limits.steps`.
    Steps,
}

/// Errors of the service's driver API (extension misbehaviour is never an error: it is
/// a finding).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// `start` while running.
    #[error("the service is already running")]
    AlreadyRunning,
    /// An operation that needs a running service.
    #[error("the service is not running")]
    NotRunning,
    /// Extensions can only be added while the service is stopped.
    #[error("extensions can only be added while the service is stopped")]
    AddWhileRunning,
    /// More than [`MAX_EXTENSIONS`].
    #[error("too many extensions (at most {MAX_EXTENSIONS})")]
    TooManyExtensions,
    /// Two extensions with one name.
    #[error("an extension named {0:?} already exists")]
    DuplicateName(String),
    /// A device id already in use, or 0.
    #[error("device {0} cannot be added: its logical or TAPI id is 0 or already in use")]
    DeviceIdTaken(u32),
    /// No such device.
    #[error("there is no device {0}")]
    UnknownDevice(u32),
    /// No such extension.
    #[error("there is no extension #{0}")]
    UnknownExtension(u16),
    /// The extension is not one the running service calls this way (another kind, not
    /// loaded, or not recognised after a failed initialisation).
    #[error("{0} is not a routing extension the running service uses")]
    NotInService(String),
    /// A GUID given to the driver API is not in braced form.
    #[error("{0:?} is not a braced GUID string")]
    InvalidGuid(String),
    /// A fault whose code the callback does not document.
    #[error("{code} is not a documented error code of {callback}")]
    UndocumentedFaultCode {
        /// The callback.
        callback: &'static str,
        /// The code.
        code: u32,
    },
    /// An extension crashed or hung (a scripted one, or a host that saw it): the service
    /// is gone with it; the events so far are kept.
    #[error("extension {ext} {what}")]
    ExtensionFailed {
        /// Its name.
        ext: String,
        /// "crashed (…)" or "hung".
        what: String,
    },
    /// A limit of the run was exceeded; the events so far are kept.
    #[error("the run exceeded its {kind:?} limit of {limit}")]
    LimitExceeded {
        /// Which limit.
        kind: LimitKind,
        /// Its value.
        limit: u64,
    },
}

/// What an extension exports, as the service sees it: only providers shut down, only
/// routing extensions hear of devices.
fn exports_of(kind: ExtensionKind, imp: &dyn Extension) -> Exports {
    let mut exports = imp.exports();
    if kind == ExtensionKind::Routing {
        exports.dev_shutdown = false;
    } else {
        exports.route_device_change = false;
    }
    exports
}

/// The index of a callback in per-callback counters (FaxExtInitializeConfig's order).
fn callback_index(c: Callback) -> usize {
    match c {
        Callback::GetData => 0,
        Callback::SetData => 1,
        Callback::RegisterForEvents => 2,
        Callback::UnregisterForEvents => 3,
        Callback::FreeBuffer => 4,
    }
}

/// The argument of FreeBuffer, from the extension's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeArg {
    /// NULL.
    Null,
    /// A buffer GetData returned.
    Buffer(BufferId),
    /// The `lpData` of the ConfigChange call whose event index this is.
    ChangeData(u64),
    /// Any other pointer value.
    Foreign(u64),
}

/// The argument of Unregister, from the extension's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnregisterArg {
    /// NULL.
    Null,
    /// `INVALID_HANDLE_VALUE`.
    InvalidValue,
    /// A handle Register returned.
    Handle(HandleId),
    /// Any other value.
    Foreign(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// Not loaded in this service instance, or unloaded.
    Unloaded,
    /// Loaded, `FaxExtInitializeConfig` not called yet (or not exported).
    Loaded,
    /// Inside `FaxExtInitializeConfig`.
    InConfigInit,
    /// Config init succeeded: the callbacks are usable.
    Ready,
    /// Config init failed: the service does not recognise it.
    ConfigFailed,
    /// The general init (`FaxDevInitialize`, `FaxRouteInitialize`) returned FALSE: the
    /// service does not use it for the rest of this run.
    InitFailed,
    /// Virtual device creation failed: the provider is not used.
    ProviderFailed,
}

struct ExtSlot {
    name: String,
    kind: ExtensionKind,
    exports: Exports,
    imp: Rc<dyn Extension>,
    hinst: HInst,
    life: Life,
    shutting_down: bool,
}

#[derive(Clone, Debug)]
struct Pending {
    handle: HandleId,
    cause: Option<u64>,
    data: Arc<[u8]>,
    depth: u32,
    due: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Stopped,
    Starting,
    Running,
    Stopping,
}

/// The simulated fax service and the machine it runs on.
pub struct Service {
    sinks: Vec<Box<dyn EventSink>>,
    opts: ServiceOptions,
    exts: Vec<ExtSlot>,
    devices: DeviceTable,
    store: ConfigStore,
    regs: RegistrationTable,
    ledger: OwnershipLedger,
    faults: Vec<Fault>,
    shutdown_at_event: Option<u64>,
    choices: Box<dyn Choices>,
    /// Scripted operation (strict replay): answers callbacks instead of the model.
    oracle: Option<Rc<dyn Oracle>>,
    /// Callback calls so far per extension, by `Callback` (the `nth` of a [`CallPoint`]).
    calls: Vec<[u64; 5]>,
    /// Successful writes while running so far (the `nth` of a [`WritePoint`]).
    writes: u64,
    /// The run replays one extension's side of a real service (see
    /// [`CheckerConfig::one_sided`]).
    one_sided: bool,
    pending: VecDeque<Pending>,
    last_due: HashMap<HandleId, u64>,
    scratch: Vec<Vec<usize>>,
    guids: FxSet<Arc<str>>,
    foreign: BTreeMap<u64, ForeignId>,
    callback_ids: Vec<u32>,
    events: Vec<Event>,
    checker: Option<Checker>,
    seq: u64,
    step: u64,
    thread: u16,
    run: u32,
    state: State,
    delivering: u32,
    depth: u32,
    /// Per-thread last error, as Windows keeps it.
    last_error: BTreeMap<u16, u32>,
    abort: Option<SimError>,
    /// Read-only input a host saw written during the current call into an extension
    /// (`Callbacks::report_input_written`), reported when that call returns.
    written_inputs: Vec<(ServiceInput, u32)>,
    /// The received fax being routed (`Service::routing_start`).
    routing: Option<routing::RoutedFax>,
    /// The last routing job id handed out.
    next_job: u32,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("run", &self.run)
            .field("state", &self.state)
            .field("extensions", &self.exts.len())
            .field("events", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A stopped service on a machine with no devices.
    pub fn new(opts: ServiceOptions) -> Service {
        let seed = opts.seed;
        Service {
            sinks: Vec::new(),
            exts: Vec::new(),
            devices: DeviceTable::default(),
            store: ConfigStore::default(),
            regs: RegistrationTable::default(),
            ledger: OwnershipLedger::default(),
            faults: Vec::new(),
            shutdown_at_event: None,
            choices: Box::new(SeededChoices::new(seed)),
            oracle: None,
            calls: Vec::new(),
            writes: 0,
            one_sided: false,
            pending: VecDeque::new(),
            last_due: HashMap::new(),
            scratch: Vec::new(),
            guids: FxSet::default(),
            foreign: BTreeMap::new(),
            callback_ids: Vec::new(),
            events: Vec::new(),
            checker: None,
            seq: 0,
            step: 0,
            thread: 0,
            run: 0,
            state: State::Stopped,
            delivering: 0,
            depth: 0,
            last_error: BTreeMap::new(),
            abort: None,
            written_inputs: Vec::new(),
            routing: None,
            next_job: 0,
            opts,
        }
    }

    /// Takes the service's open decisions (delivery order, deferral, probabilistic
    /// faults, injected failures) from `choices` instead of the seeded streams of
    /// `options.seed` (see [`crate::choices`]). Set it before the run starts.
    pub fn set_choices(&mut self, choices: Box<dyn Choices>) {
        self.choices = choices;
    }

    /// Judges the run as one extension's side of a real service (a replay of a recording
    /// proxy's trace): see [`CheckerConfig::one_sided`]. Set it before the run starts.
    pub fn set_one_sided(&mut self, one_sided: bool) {
        self.one_sided = one_sided;
    }

    /// The options the service was made with.
    pub fn options(&self) -> &ServiceOptions {
        &self.opts
    }

    // ---- setting up the machine -------------------------------------------------------

    /// Adds an extension (while stopped). Its hInst is a made-up module address unless
    /// the host sets the real one with [`Service::set_hinst`].
    pub fn add_extension(
        &mut self,
        spec: ExtensionSpec,
        imp: Rc<dyn Extension>,
    ) -> Result<ExtId, SimError> {
        if self.state != State::Stopped {
            return Err(SimError::AddWhileRunning);
        }
        if self.exts.len() >= MAX_EXTENSIONS {
            return Err(SimError::TooManyExtensions);
        }
        if self.exts.iter().any(|e| e.name == spec.name) {
            return Err(SimError::DuplicateName(spec.name));
        }
        let id = ExtId(self.exts.len() as u16);
        let exports = exports_of(spec.kind, &*imp);
        self.exts.push(ExtSlot {
            name: spec.name,
            kind: spec.kind,
            exports,
            imp,
            hinst: HInst(0x1000_0000 + (u64::from(id.0) + 1) * 0x0100_0000),
            life: Life::Unloaded,
            shutting_down: false,
        });
        self.callback_ids.push(0);
        self.calls.push([0; 5]);
        Ok(id)
    }

    /// Sets the module handle the service knows `ext` by (the host's real base address).
    pub fn set_hinst(&mut self, ext: ExtId, hinst: HInst) {
        self.exts[ext.index()].hinst = hinst;
    }

    /// The module handle of `ext`.
    pub fn hinst(&self, ext: ExtId) -> HInst {
        self.exts[ext.index()].hinst
    }

    /// The kind of `ext`.
    pub fn extension_kind(&self, ext: ExtId) -> ExtensionKind {
        self.exts[ext.index()].kind
    }

    /// Extension names, indexed by `ExtId`.
    pub fn extension_names(&self) -> Vec<String> {
        self.exts.iter().map(|e| e.name.clone()).collect()
    }

    /// The extension named `name`.
    pub fn extension_id(&self, name: &str) -> Option<ExtId> {
        self.exts
            .iter()
            .position(|e| e.name == name)
            .map(|i| ExtId(i as u16))
    }

    /// Adds a device with a logical id and, for TAPI devices, a permanent line id. While
    /// the service runs, routing extensions are told with
    /// `FaxRouteDeviceChangeNotification(TRUE)`.
    pub fn add_device(&mut self, logical: u32, tapi: Option<u32>) -> Result<(), SimError> {
        let dev = Device {
            logical,
            tapi,
            owner: None,
        };
        if !self.devices.add(dev) {
            return Err(SimError::DeviceIdTaken(logical));
        }
        if self.state != State::Stopped {
            self.emit(
                None,
                EventKind::DeviceAdded {
                    device: logical,
                    tapi,
                    owner: None,
                },
            );
            if self.state == State::Running {
                self.announce_device(logical, true);
            }
            self.tick()?;
        }
        Ok(())
    }

    /// Removes a device; routing extensions are told while the service runs.
    pub fn remove_device(&mut self, logical: u32) -> Result<(), SimError> {
        if self.devices.remove(logical).is_none() {
            return Err(SimError::UnknownDevice(logical));
        }
        if self.state != State::Stopped {
            if self.state == State::Running {
                self.announce_device(logical, false);
            }
            self.emit(None, EventKind::DeviceRemoved { device: logical });
            self.tick()?;
        }
        Ok(())
    }

    /// Plans a fault. The code must be one the callback documents.
    pub fn add_fault(&mut self, fault: Fault) -> Result<(), SimError> {
        if !fault.callback.documented_errors().contains(&fault.code) {
            return Err(SimError::UndocumentedFaultCode {
                callback: fault.callback.name(),
                code: fault.code,
            });
        }
        self.faults.push(fault);
        Ok(())
    }

    /// The planned faults, with how often each fired.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Begins shutdown as soon as the run reaches event `seq` (at the next callback).
    pub fn shutdown_at_event(&mut self, seq: u64) {
        self.shutdown_at_event = Some(seq);
    }

    /// Marks the stored value of (`device`, `guid`) corrupt: GetData gives `ERROR_BADDB`.
    pub fn corrupt_value(&mut self, device: u32, guid: &str) -> Result<(), SimError> {
        let value = parse_braced_guid(guid).ok_or_else(|| SimError::InvalidGuid(guid.into()))?;
        self.store.corrupt((device, value));
        let guid = self.intern(guid);
        self.emit(None, EventKind::ValueCorrupted { device, guid });
        Ok(())
    }

    /// Virtual time: the scheduling points so far.
    pub fn now(&self) -> u64 {
        self.step
    }

    /// The successful writes while running so far: a write's [`WritePoint::nth`] is this
    /// count after it. A driver that keys decisions to its own steps reads it when a step
    /// begins.
    pub fn writes_so_far(&self) -> u64 {
        self.writes
    }

    /// The calls of `callback` by `ext` so far: a call's [`CallPoint::nth`] is this count
    /// after it (0 for an extension the service does not have).
    pub fn calls_so_far(&self, ext: ExtId, callback: Callback) -> u64 {
        self.calls
            .get(ext.index())
            .map_or(0, |c| c[callback_index(callback)])
    }

    /// Puts a value in the store without any event: what the machine held before the
    /// run (a replay seeds the values a recording shows being read before anyone wrote
    /// them).
    pub fn seed_store(&mut self, device: u32, guid: &str, data: &[u8]) -> Result<(), SimError> {
        let value = parse_braced_guid(guid).ok_or_else(|| SimError::InvalidGuid(guid.into()))?;
        self.store.put((device, value), Arc::from(data));
        Ok(())
    }

    /// The configuration store (persistent across restarts).
    pub fn store(&self) -> &ConfigStore {
        &self.store
    }

    /// The stored bytes of (`device`, `guid`), if any.
    pub fn stored(&self, device: u32, guid: &str) -> Option<&[u8]> {
        let value = parse_braced_guid(guid)?;
        self.store.get((device, value)).map(|v| &*v.data)
    }

    /// The buffer ledger.
    pub fn ledger(&self) -> &OwnershipLedger {
        &self.ledger
    }

    // ---- running ------------------------------------------------------------------------

    /// Starts the service: loads every extension and initialises it in the documented
    /// order (virtual device creation, then `FaxExtInitializeConfig`, then general init).
    pub fn start(&mut self) -> Result<(), SimError> {
        if self.state != State::Stopped {
            return Err(SimError::AlreadyRunning);
        }
        if self.checker.is_none() && self.opts.live_check {
            self.checker = Some(Checker::new(self.checker_config()));
        }
        self.run += 1;
        self.state = State::Starting;
        self.regs.reset();
        self.routing = None;
        self.emit(None, EventKind::ServiceStart { run: self.run });
        let devices: Vec<Device> = self.devices.iter().copied().collect();
        for d in devices {
            self.emit(
                None,
                EventKind::DeviceAdded {
                    device: d.logical,
                    tapi: d.tapi,
                    owner: d.owner,
                },
            );
        }
        for ext in self.load_order() {
            if self.abort.is_some() {
                break;
            }
            self.load_and_initialise(ext);
        }
        if self.state == State::Starting {
            self.state = State::Running;
        }
        if self.opts.announce_devices_at_start && self.state == State::Running {
            let ids: Vec<u32> = self.devices.iter().map(|d| d.logical).collect();
            for id in ids {
                self.announce_device(id, true);
            }
        }
        self.tick()
    }

    /// Stops the service: shutdown begins (callbacks return `ERROR_SHUTDOWN_IN_PROGRESS`),
    /// providers get `FaxDevShutdown`, every extension is unloaded.
    pub fn stop(&mut self) -> Result<(), SimError> {
        if self.state == State::Stopped {
            return Err(SimError::NotRunning);
        }
        if self.state != State::Stopping {
            self.begin_stopping();
        }
        let mut order = self.load_order();
        order.reverse();
        for ext in &order {
            let slot = &self.exts[ext.index()];
            if slot.life == Life::Unloaded {
                continue;
            }
            // FaxDevShutdown releases what FaxDevInitialize set up: a provider that never
            // got that far (or failed it) is not called (choice L4).
            let initialised = match slot.life {
                Life::ProviderFailed | Life::InitFailed => false,
                Life::ConfigFailed => self.opts.deviations.init_after_config_failure,
                _ => true,
            };
            if slot.kind.is_provider() && slot.exports.dev_shutdown && initialised {
                self.call_dev_shutdown(*ext);
            }
        }
        for ext in order {
            if self.exts[ext.index()].life == Life::Unloaded {
                continue;
            }
            self.unload(ext);
        }
        self.pending.clear();
        self.last_due.clear();
        self.regs.reset();
        self.emit(None, EventKind::ServiceStopped);
        self.state = State::Stopped;
        self.delivering = 0;
        self.depth = 0;
        match self.abort.clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stops and starts again: registrations and buffers are gone, stored data stays.
    pub fn restart(&mut self) -> Result<(), SimError> {
        self.stop()?;
        self.start()
    }

    /// Begins shutdown now without unloading anything: from here every callback returns
    /// `ERROR_SHUTDOWN_IN_PROGRESS` (a fault that stops the service mid-run).
    pub fn begin_shutdown(&mut self) -> Result<(), SimError> {
        match self.state {
            State::Stopped => Err(SimError::NotRunning),
            State::Stopping => Ok(()),
            _ => {
                self.begin_stopping();
                Ok(())
            }
        }
    }

    /// Whether extension `ext` takes calls to entry point `function` without arguments
    /// from the service (its host makes them: a provider's job side, a routing method
    /// function it exports; see [`Extension::drives_entry_point`]).
    pub fn drives_entry_point(&self, ext: ExtId, function: &str) -> bool {
        self.exts
            .get(ext.index())
            .is_some_and(|s| s.imp.drives_entry_point(function))
    }

    /// Entry point `function` of `ext` (`FaxDevStartJob`, `FaxDevSend`, …, or a routing
    /// method), as a running service calls it for a fax job; the extension's side supplies
    /// the arguments (see [`Extension::entry_point`]). Returns its BOOL.
    pub fn entry_point_call(&mut self, ext: ExtId, function: &str) -> Result<i32, SimError> {
        self.entry_call_allowed(ext, |_| true)?;
        let function = self.intern(function);
        let result = self.call_entry_point(ext, function);
        self.status().map(|()| result)
    }

    /// Calls entry point `function` of `ext` by name: the call event, the extension's
    /// side (which makes the arguments), the return event. Returns its result.
    fn call_entry_point(&mut self, ext: ExtId, function: Arc<str>) -> i32 {
        let imp = self.exts[ext.index()].imp.clone();
        self.emit(
            Some(ext),
            EventKind::EntryPointCall {
                function: function.clone(),
            },
        );
        let result = imp.entry_point(&mut self.callbacks_for(ext), &function);
        self.emit(Some(ext), EventKind::EntryPointReturn { result });
        result
    }

    /// `FaxRouteDeviceEnable` on routing extension `ext`, as a running service calls it
    /// when an administrator queries or switches routing method `guid` on `device`
    /// (`enabled`: `QUERY_STATUS`, `STATUS_DISABLE` or `STATUS_ENABLE`). Returns its BOOL.
    pub fn route_device_enable(
        &mut self,
        ext: ExtId,
        guid: &str,
        device: u32,
        enabled: i32,
    ) -> Result<i32, SimError> {
        self.routing_call_allowed(ext)?;
        let guid = self.intern(guid);
        let r = self.call_route_device_enable(ext, Some(guid), device, enabled);
        self.status().map(|()| r)
    }

    /// `FaxRouteGetRoutingInfo` on routing extension `ext`: routing method `guid`'s data
    /// for `device`, into a buffer of `capacity` bytes (`None`: the size query the
    /// service makes first).
    pub fn route_get_routing_info(
        &mut self,
        ext: ExtId,
        guid: &str,
        device: u32,
        capacity: Option<u32>,
    ) -> Result<RoutingInfo, SimError> {
        self.routing_call_allowed(ext)?;
        let guid = self.intern(guid);
        let r = self.call_route_get_routing_info(ext, Some(guid), device, capacity);
        self.status().map(|()| r)
    }

    /// `FaxRouteSetRoutingInfo` on routing extension `ext`: new data for routing method
    /// `guid` on `device`.
    pub fn route_set_routing_info(
        &mut self,
        ext: ExtId,
        guid: &str,
        device: u32,
        data: &[u8],
    ) -> Result<bool, SimError> {
        self.routing_call_allowed(ext)?;
        let guid = self.intern(guid);
        let r = self.call_route_set_routing_info(
            ext,
            Some(guid),
            device,
            Some(Arc::from(data)),
            data.len() as u32,
        );
        self.status().map(|()| r)
    }

    /// A running service calls a routing extension's entry points only if it recognised
    /// the extension.
    fn routing_call_allowed(&self, ext: ExtId) -> Result<(), SimError> {
        self.entry_call_allowed(ext, |k| k == ExtensionKind::Routing)
    }

    /// A running service calls an entry point of `ext` (of a kind `kind_ok` accepts) only
    /// if it recognised the extension and uses it.
    fn entry_call_allowed(
        &self,
        ext: ExtId,
        kind_ok: impl Fn(ExtensionKind) -> bool,
    ) -> Result<(), SimError> {
        if self.state != State::Running {
            return Err(SimError::NotRunning);
        }
        let s = self
            .exts
            .get(ext.index())
            .ok_or(SimError::UnknownExtension(ext.0))?;
        if !kind_ok(s.kind) || !matches!(s.life, Life::Ready | Life::Loaded) {
            return Err(SimError::NotInService(s.name.clone()));
        }
        Ok(())
    }

    /// The service thread the calls the service makes from now on are recorded on (0:
    /// the thread that starts and stops it). A driver that makes some calls from a
    /// worker thread of its own, as a real service makes administration calls, sets it
    /// around them.
    pub fn set_thread(&mut self, thread: u16) {
        self.thread = thread;
    }

    /// Whether the service runs (started, not stopping).
    pub fn is_running(&self) -> bool {
        self.state == State::Running
    }

    /// An administration client writes data (COM `SetExtensionProperty`, RPC
    /// `FAX_SetExtensionData`): at most 1 MiB, logical ids only, every matching
    /// registration is notified. While the service is stopped the value is only stored.
    pub fn external_write(
        &mut self,
        device: u32,
        guid: &str,
        data: &[u8],
    ) -> Result<u32, SimError> {
        let guid_arc = self.intern(guid);
        let payload: Arc<[u8]> = Arc::from(data);
        self.thread = 0;
        let call = self.emit(
            None,
            EventKind::ExternalWriteCall {
                device,
                guid: Some(guid_arc),
                data: Some(payload.clone()),
                size: data.len() as u32,
            },
        );
        let key = parse_braced_guid(guid).map(|g| (device, g));
        let code = match key {
            _ if self.state == State::Stopping => ERROR_SHUTDOWN_IN_PROGRESS,
            None => ERROR_INVALID_PARAMETER,
            Some(_) if data.is_empty() || data.len() > MAX_EXTERNAL_WRITE_BYTES as usize => {
                ERROR_INVALID_PARAMETER
            }
            Some(key) => {
                self.store.put(key, payload.clone());
                if self.state != State::Stopped {
                    self.dispatch(call, None, key, &payload);
                }
                ERROR_SUCCESS
            }
        };
        self.emit(None, EventKind::ExternalWriteReturn { code });
        if self.state != State::Stopped {
            self.tick()?;
        }
        self.status()?;
        Ok(code)
    }

    /// A scheduling point: virtual time advances and due deferred notifications are
    /// delivered.
    pub fn tick(&mut self) -> Result<(), SimError> {
        self.step += 1;
        if self.step > self.opts.limits.steps {
            self.fail(SimError::LimitExceeded {
                kind: LimitKind::Steps,
                limit: self.opts.limits.steps,
            });
        }
        while self.abort.is_none()
            && let Some(pos) = self.pending.iter().position(|p| p.due <= self.step)
        {
            let p = self.pending.remove(pos).expect("position is in range");
            self.deliver_pending(p);
        }
        self.status()
    }

    /// Before a driver's next step (`index`): the scheduling points the service's
    /// [`Choices::pause`] decides pass first (none under the seeded defaults), each
    /// delivering the deferred notifications that fall due. Asked only when a
    /// notification is pending (otherwise nothing could happen first).
    pub fn pause_before_step(&mut self, index: u64) -> Result<(), SimError> {
        if self.pending.is_empty() {
            // Nothing could happen first: no decision to make.
            return Ok(());
        }
        let n = self.choices.pause(index, self.opts.max_defer_steps);
        for _ in 0..n {
            if self.pending.is_empty() {
                break;
            }
            self.tick()?;
        }
        Ok(())
    }

    /// Runs scheduling points until no notification is pending.
    pub fn settle(&mut self) -> Result<(), SimError> {
        while !self.pending.is_empty() && self.abort.is_none() {
            self.tick()?;
        }
        self.status()
    }

    /// The callbacks of `ext`, called from one of its own threads (`thread` > 0) or from
    /// a driver acting for it outside any call from the service. Call [`Service::tick`]
    /// afterwards to give deferred notifications their scheduling point.
    pub fn callbacks(&mut self, ext: ExtId, thread: u16) -> Callbacks<'_> {
        Callbacks {
            svc: self,
            ext,
            thread,
        }
    }

    /// Records that `ext` crashed or aborted (isolated hosting).
    pub fn report_crash(&mut self, ext: ExtId, detail: &str) {
        let detail: Arc<str> = Arc::from(detail);
        self.emit(Some(ext), EventKind::ExtensionCrashed { detail });
    }

    /// Records that a call into `ext` did not return within `limit_ms` (isolated hosting).
    pub fn report_hang(&mut self, ext: ExtId, limit_ms: u64) {
        self.emit(Some(ext), EventKind::ExtensionHung { limit_ms });
    }

    /// Adds a sink that sees every later event (add it before `start` to see them all).
    pub fn add_sink(&mut self, sink: Box<dyn EventSink>) {
        self.sinks.push(sink);
    }

    /// Removes and returns every sink (to finish a trace file, say).
    pub fn take_sinks(&mut self) -> Vec<Box<dyn EventSink>> {
        std::mem::take(&mut self.sinks)
    }

    /// Ends every sink's stream ([`EventSink::finish`]) and removes them; the first error
    /// of any recording.
    pub fn finish_sinks(&mut self) -> Result<(), TraceError> {
        let mut first = Ok(());
        for mut sink in std::mem::take(&mut self.sinks) {
            if let Err(e) = sink.finish()
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }

    /// The header of a trace of this service: its seed, its options and `extensions`
    /// (one entry per extension, in `ExtId` order: see [`ExtensionInfo::new`]).
    pub fn trace_header(&self, extensions: Vec<ExtensionInfo>) -> Header {
        Header::for_options(self.opts.seed, &self.opts, extensions)
    }

    // ---- results ---------------------------------------------------------------------

    /// The events so far (empty when `record_events` is off).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Reserves room for `additional` more events, so recording them allocates nothing.
    pub fn reserve_events(&mut self, additional: usize) {
        self.events.reserve(additional);
    }

    /// Takes the events recorded so far, leaving none.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// How many events the run produced.
    pub fn event_count(&self) -> u64 {
        self.seq
    }

    /// The live checker's findings so far.
    pub fn findings(&self) -> &[Finding] {
        self.checker.as_ref().map(Checker::findings).unwrap_or(&[])
    }

    /// Ends the stream for the live checker (reports what only the end can show) and
    /// returns every finding.
    pub fn finish(&mut self) -> Vec<Finding> {
        match self.checker.as_mut() {
            Some(c) => {
                c.finish();
                c.findings().to_vec()
            }
            None => Vec::new(),
        }
    }

    /// The checker configuration matching this service's options.
    pub fn checker_config(&self) -> CheckerConfig {
        CheckerConfig {
            one_sided: self.one_sided,
            names: self.extension_names(),
            nesting_limit: self.opts.limits.nesting,
            delivery: self.opts.delivery,
            virtual_fsp_init: self.opts.virtual_fsp_init,
        }
    }

    /// The error that aborted the run, if a limit was hit.
    pub fn aborted(&self) -> Option<&SimError> {
        self.abort.as_ref()
    }

    // ---- internals: events ----------------------------------------------------------

    fn emit(&mut self, ext: Option<ExtId>, kind: EventKind) -> u64 {
        if matches!(self.abort, Some(SimError::ExtensionFailed { .. })) {
            // The service died with the extension: nothing after the crash happened.
            return self.seq;
        }
        let seq = self.seq;
        self.seq += 1;
        if seq >= self.opts.limits.events {
            if self.abort.is_none() {
                self.abort = Some(SimError::LimitExceeded {
                    kind: LimitKind::Events,
                    limit: self.opts.limits.events,
                });
            }
            return seq;
        }
        if !self.observing() {
            return seq;
        }
        let event = Event {
            seq,
            time: self.step,
            thread: self.thread,
            ext,
            kind,
        };
        if let Some(c) = self.checker.as_mut() {
            c.observe(&event);
        }
        for sink in &mut self.sinks {
            sink.event(&event);
        }
        if self.opts.record_events {
            self.events.push(event);
        }
        seq
    }

    fn observing(&self) -> bool {
        self.opts.record_events || self.checker.is_some() || !self.sinks.is_empty()
    }

    fn fail(&mut self, e: SimError) {
        if self.abort.is_none() {
            self.abort = Some(e);
        }
    }

    fn status(&self) -> Result<(), SimError> {
        match &self.abort {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.guids.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.guids.insert(a.clone());
        a
    }

    fn foreign_id(&mut self, raw: u64) -> ForeignId {
        let next = ForeignId(self.foreign.len() as u32 + 1);
        *self.foreign.entry(raw).or_insert(next)
    }

    fn hinst_arg(&mut self, hinst: HInst) -> HInstArg {
        if hinst == HInst::NULL {
            return HInstArg::Null;
        }
        match self.exts.iter().position(|e| e.hinst == hinst) {
            Some(i) => HInstArg::Ext(ExtId(i as u16)),
            None => HInstArg::Foreign(self.foreign_id(hinst.0)),
        }
    }

    fn callbacks_for(&mut self, ext: ExtId) -> Callbacks<'_> {
        let thread = self.thread;
        Callbacks {
            svc: self,
            ext,
            thread,
        }
    }

    // ---- internals: lifecycle -------------------------------------------------------

    fn load_order(&self) -> Vec<ExtId> {
        let ids = (0..self.exts.len()).map(|i| ExtId(i as u16));
        match self.opts.load_order {
            LoadOrder::AsAdded => ids.collect(),
            LoadOrder::ProvidersFirst => {
                let (mut providers, routing): (Vec<ExtId>, Vec<ExtId>) =
                    ids.partition(|e| self.exts[e.index()].kind.is_provider());
                providers.extend(routing);
                providers
            }
        }
    }

    fn load_and_initialise(&mut self, ext: ExtId) {
        let (kind, exports) = {
            let s = &mut self.exts[ext.index()];
            s.life = Life::Loaded;
            s.shutting_down = false;
            (s.kind, s.exports)
        };
        self.emit(Some(ext), EventKind::Load { kind, exports });
        let dev = self.opts.deviations;
        let mut general_done = false;
        if kind == ExtensionKind::VirtualFsp {
            if self.opts.virtual_fsp_init == VirtualFspInitOrder::BeforeDeviceCreation {
                self.general_init(ext);
                general_done = true;
            }
            if self.exts[ext.index()].life == Life::InitFailed {
                return;
            }
            if !self.create_virtual_devices(ext) {
                self.exts[ext.index()].life = Life::ProviderFailed;
                return;
            }
        }
        if dev.general_init_first && !general_done {
            self.general_init(ext);
            general_done = true;
            if self.exts[ext.index()].life == Life::InitFailed {
                return;
            }
        }
        if exports.initialize_config {
            self.call_initialize_config(ext);
            if self.abort.is_some() {
                return;
            }
        }
        let failed = self.exts[ext.index()].life == Life::ConfigFailed;
        if !general_done && (!failed || dev.init_after_config_failure) {
            self.general_init(ext);
        }
    }

    /// The general init. FALSE takes the extension out of this run: no notifications, no
    /// device, job or routing calls, no `FaxDevShutdown`; its registrations are dropped
    /// and its callbacks fail with `ERROR_GEN_FAILURE` (choice L9).
    fn general_init(&mut self, ext: ExtId) {
        let imp = self.exts[ext.index()].imp.clone();
        let ok = if self.exts[ext.index()].kind.is_provider() {
            self.emit(Some(ext), EventKind::DevInitializeCall);
            let ok = imp.dev_initialize(&mut self.callbacks_for(ext));
            self.emit(Some(ext), EventKind::DevInitializeReturn { ok });
            ok
        } else {
            self.emit(Some(ext), EventKind::RouteInitializeCall);
            let ok = imp.route_initialize(&mut self.callbacks_for(ext));
            self.emit(Some(ext), EventKind::RouteInitializeReturn { ok });
            ok
        };
        if !ok && self.abort.is_none() {
            self.exts[ext.index()].life = Life::InitFailed;
            self.regs.drop_ext(ext);
        }
    }

    /// `FaxExtInitializeConfig`, with the lifecycle state around it: the callbacks work
    /// from inside it, and after it only if it returned `NOERROR`.
    fn call_initialize_config(&mut self, ext: ExtId) -> i32 {
        self.exts[ext.index()].life = Life::InConfigInit;
        self.emit(Some(ext), EventKind::InitializeConfigCall);
        let imp = self.exts[ext.index()].imp.clone();
        let hr = imp.initialize_config(&mut self.callbacks_for(ext));
        self.emit(Some(ext), EventKind::InitializeConfigReturn { hr });
        if self.abort.is_none() {
            self.exts[ext.index()].life = if hr == 0 {
                Life::Ready
            } else {
                Life::ConfigFailed
            };
        }
        hr
    }

    /// `FaxDevShutdown`: from its call on, the provider hears of no more changes.
    fn call_dev_shutdown(&mut self, ext: ExtId) -> i32 {
        self.exts[ext.index()].shutting_down = true;
        self.emit(Some(ext), EventKind::DevShutdownCall);
        let imp = self.exts[ext.index()].imp.clone();
        let hr = imp.dev_shutdown(&mut self.callbacks_for(ext));
        self.emit(Some(ext), EventKind::DevShutdownReturn { hr });
        hr
    }

    /// `FaxRouteDeviceChangeNotification`.
    fn call_route_device_change(&mut self, ext: ExtId, device: u32, new_device: bool) -> bool {
        let imp = self.exts[ext.index()].imp.clone();
        self.emit(
            Some(ext),
            EventKind::RouteDeviceChangeCall { device, new_device },
        );
        let ok = imp.route_device_change(&mut self.callbacks_for(ext), device, new_device);
        self.emit(Some(ext), EventKind::RouteDeviceChangeReturn { ok });
        ok
    }

    /// `FaxRouteDeviceEnable`.
    fn call_route_device_enable(
        &mut self,
        ext: ExtId,
        guid: Option<Arc<str>>,
        device: u32,
        enabled: i32,
    ) -> i32 {
        let imp = self.exts[ext.index()].imp.clone();
        let call = self.emit(
            Some(ext),
            EventKind::RouteDeviceEnableCall {
                guid: guid.clone(),
                device,
                enabled,
            },
        );
        let result = imp.route_device_enable(
            &mut self.callbacks_for(ext),
            guid.as_deref(),
            device,
            enabled,
        );
        self.report_written_inputs(ext, call);
        self.emit(Some(ext), EventKind::RouteDeviceEnableReturn { result });
        result
    }

    /// `FaxRouteGetRoutingInfo`, into a buffer of `capacity` bytes (`None`: a size query).
    fn call_route_get_routing_info(
        &mut self,
        ext: ExtId,
        guid: Option<Arc<str>>,
        device: u32,
        capacity: Option<u32>,
    ) -> RoutingInfo {
        let imp = self.exts[ext.index()].imp.clone();
        let call = self.emit(
            Some(ext),
            EventKind::RouteGetRoutingInfoCall {
                guid: guid.clone(),
                device,
                buffer: capacity.is_some(),
                size: capacity.unwrap_or(0),
            },
        );
        let info = imp.route_get_routing_info(
            &mut self.callbacks_for(ext),
            guid.as_deref(),
            device,
            capacity,
        );
        self.report_written_inputs(ext, call);
        self.emit(
            Some(ext),
            EventKind::RouteGetRoutingInfoReturn {
                ok: info.ok,
                size: info.size,
                data: info.data.as_deref().map(Arc::from),
            },
        );
        info
    }

    /// `FaxRouteSetRoutingInfo`.
    fn call_route_set_routing_info(
        &mut self,
        ext: ExtId,
        guid: Option<Arc<str>>,
        device: u32,
        data: Option<Arc<[u8]>>,
        size: u32,
    ) -> bool {
        let imp = self.exts[ext.index()].imp.clone();
        let call = self.emit(
            Some(ext),
            EventKind::RouteSetRoutingInfoCall {
                guid: guid.clone(),
                device,
                data: data.clone(),
                size,
            },
        );
        let ok = imp.route_set_routing_info(
            &mut self.callbacks_for(ext),
            guid.as_deref(),
            device,
            data.as_deref(),
            size,
        );
        self.report_written_inputs(ext, call);
        self.emit(Some(ext), EventKind::RouteSetRoutingInfoReturn { ok });
        ok
    }

    /// `FaxDevVirtualDeviceCreation`, as the provider answered (its name prefix cut to
    /// the 127 characters the buffer holds).
    fn call_virtual_device_creation(&mut self, ext: ExtId) -> (bool, u32, u32) {
        self.emit(Some(ext), EventKind::VirtualDeviceCreationCall);
        let imp = self.exts[ext.index()].imp.clone();
        let VirtualDevices {
            ok,
            count,
            id_prefix,
            name_prefix,
        } = imp.virtual_device_creation(&mut self.callbacks_for(ext));
        let name_prefix: Arc<str> = name_prefix.chars().take(127).collect::<String>().into();
        self.emit(
            Some(ext),
            EventKind::VirtualDeviceCreationReturn {
                ok,
                count,
                id_prefix,
                name_prefix,
            },
        );
        (ok, count, id_prefix)
    }

    /// `FaxDevVirtualDeviceCreation`: false if the provider failed (FALSE, count 0,
    /// prefix 0, or ids that collide with existing devices).
    fn create_virtual_devices(&mut self, ext: ExtId) -> bool {
        let (ok, count, id_prefix) = self.call_virtual_device_creation(ext);
        let ids = || (0..count).map(|i| id_prefix.checked_add(i));
        let fits = ok
            && count > 0
            && id_prefix != 0
            && ids().all(|id| id.is_some_and(|id| self.devices.get(id).is_none()));
        if !fits {
            return false;
        }
        for id in ids().flatten() {
            self.devices.add(Device {
                logical: id,
                tapi: None,
                owner: Some(ext),
            });
            self.emit(
                None,
                EventKind::DeviceAdded {
                    device: id,
                    tapi: None,
                    owner: Some(ext),
                },
            );
        }
        true
    }

    fn announce_device(&mut self, device: u32, new_device: bool) {
        for ext in self.load_order() {
            let s = &self.exts[ext.index()];
            let recognised = matches!(s.life, Life::Ready | Life::Loaded);
            if s.kind != ExtensionKind::Routing || !s.exports.route_device_change || !recognised {
                continue;
            }
            self.call_route_device_change(ext, device, new_device);
        }
    }

    fn begin_stopping(&mut self) {
        self.state = State::Stopping;
        self.emit(None, EventKind::ServiceStopping);
        let pending = std::mem::take(&mut self.pending);
        self.last_due.clear();
        if self.opts.deviations.notify_after_shutdown {
            // A racing service: what was in flight still arrives, and every live
            // registration with a stored value hears of it once more.
            for p in pending {
                self.deliver_pending(p);
            }
            let late: Vec<(HandleId, Key)> = self
                .exts
                .iter()
                .enumerate()
                .flat_map(|(i, _)| self.regs.live_of(ExtId(i as u16)))
                .map(|r| (r.handle, r.key))
                .collect();
            for (handle, key) in late {
                if let Some(v) = self.store.get(key)
                    && let Some(r) = self.regs.recipient(handle)
                {
                    let data = v.data.clone();
                    self.call_config_change(&r, None, &data, 1);
                }
            }
        }
    }

    /// Unloads `ext`; the devices a virtual FSP created go with it.
    fn unload(&mut self, ext: ExtId) {
        self.unload_library(ext);
        let gone = self.devices.remove_owned_by(ext);
        for d in gone {
            self.emit(None, EventKind::DeviceRemoved { device: d.logical });
        }
    }

    /// The unload itself: damage the host finds in real memory and unreported damage of
    /// its buffers, its registrations dropped, the library's globals forgotten.
    fn unload_library(&mut self, ext: ExtId) {
        let imp = self.exts[ext.index()].imp.clone();
        imp.unloading(&mut self.callbacks_for(ext));
        for (buffer, damage) in self.ledger.unload_checks(ext) {
            self.emit(Some(ext), EventKind::BufferDamaged { buffer, damage });
        }
        self.regs.drop_ext(ext);
        self.emit(Some(ext), EventKind::Unload);
        let slot = &mut self.exts[ext.index()];
        slot.life = Life::Unloaded;
        slot.shutting_down = false;
        slot.imp.clone().unloaded();
    }

    // ---- internals: the callbacks ---------------------------------------------------

    /// Whether `ext` may use its callbacks now; the code it gets if not.
    fn gate(&mut self, ext: ExtId) -> Result<(), u32> {
        if let Some(at) = self.shutdown_at_event
            && self.seq >= at
            && matches!(self.state, State::Starting | State::Running)
        {
            self.shutdown_at_event = None;
            self.begin_stopping();
        }
        match self.exts[ext.index()].life {
            Life::InConfigInit | Life::Ready => {}
            Life::Unloaded
            | Life::Loaded
            | Life::ConfigFailed
            | Life::InitFailed
            | Life::ProviderFailed => {
                return Err(ERROR_GEN_FAILURE);
            }
        }
        if self.abort.is_some() {
            return Err(ERROR_GEN_FAILURE);
        }
        if self.state == State::Stopping {
            return Err(ERROR_SHUTDOWN_IN_PROGRESS);
        }
        Ok(())
    }

    /// The planned fault for this call, if one fires. Every matching fault counts the
    /// call, so n-th-call triggers count the same whatever else is planned.
    fn fault(&mut self, call: &CallPoint, key: Option<Key>) -> Option<u32> {
        let mut code = None;
        for f in &mut self.faults {
            if f.callback != call.callback || f.ext.is_some_and(|e| e != call.ext) {
                continue;
            }
            f.calls += 1;
            if f.times.is_some_and(|t| f.fired >= t) || code.is_some() {
                continue;
            }
            let fire = match f.trigger {
                Trigger::NthCall(n) => f.calls == n,
                Trigger::Key(k) => key == Some(k),
                Trigger::PerMillion(p) => self.choices.fires(call, p),
                Trigger::Always => true,
            };
            if fire {
                f.fired += 1;
                code = Some(f.code);
            }
        }
        code.or_else(|| self.choices.inject(call))
    }

    /// What every callback checks first: may the extension call now, and does a planned
    /// or injected fault fire (then `injected` is set). `seq` is the call event's.
    fn admit(
        &mut self,
        ext: ExtId,
        callback: Callback,
        seq: u64,
        key: Option<Key>,
        injected: &mut bool,
    ) -> Result<(), u32> {
        let counter = &mut self.calls[ext.index()][callback_index(callback)];
        *counter += 1;
        let call = CallPoint {
            ext,
            callback,
            nth: *counter,
            seq,
        };
        self.gate(ext)?;
        match self.fault(&call, key) {
            Some(code) => {
                *injected = true;
                Err(code)
            }
            None => Ok(()),
        }
    }

    /// The key a call with a valid GUID names: a bad source is `ERROR_INVALID_PARAMETER`,
    /// a TAPI id that maps to no device `ERROR_FILE_NOT_FOUND`.
    fn key_of(&self, device: u32, source: i32, key: Option<Key>) -> Result<Key, u32> {
        match self.devices.resolve(device, source) {
            Resolved::BadSource => Err(ERROR_INVALID_PARAMETER),
            Resolved::UnknownTapi => Err(ERROR_FILE_NOT_FOUND),
            Resolved::Logical(_) => Ok(key.expect("resolved with a valid GUID")),
        }
    }

    fn guid_key(&self, device: u32, source: i32, guid: Option<&str>) -> Option<Key> {
        match self.devices.resolve(device, source) {
            Resolved::Logical(l) => Some((l, parse_braced_guid(guid?)?)),
            _ => None,
        }
    }

    fn get_data(
        &mut self,
        ext: ExtId,
        device: u32,
        source: i32,
        guid: Option<&str>,
        null_out: bool,
    ) -> Result<BufferId, u32> {
        let guid_arc = guid.map(|g| self.intern(g));
        let call = self.emit(
            Some(ext),
            EventKind::GetDataCall {
                device,
                source,
                guid: guid_arc.clone(),
                null_out,
            },
        );
        if let Some(oracle) = self.oracle.clone() {
            let answer = oracle.answer(self, ext, Crossing::GetData);
            return self.answer_get_data(ext, device, guid_arc, call, answer);
        }
        let key = self.guid_key(device, source, guid);
        let mut injected = false;
        let outcome = (|| {
            self.admit(ext, Callback::GetData, call, key, &mut injected)?;
            let Some(guid_arc) = guid_arc.filter(|g| parse_braced_guid(g).is_some()) else {
                return Err(ERROR_INVALID_PARAMETER);
            };
            if null_out {
                return Err(ERROR_INVALID_PARAMETER);
            }
            let key = self.key_of(device, source, key)?;
            let value = self.store.get(key).ok_or(ERROR_FILE_NOT_FOUND)?;
            if value.corrupt {
                return Err(ERROR_BADDB);
            }
            let data = value.data.clone();
            let id = self.ledger.allocate(ext, device, guid_arc, call, &data);
            Ok((id, data))
        })();
        let (code, buffer, data) = match outcome {
            Ok((id, data)) => (ERROR_SUCCESS, Some(id), Some(data)),
            Err(code) => (code, None, None),
        };
        self.emit(
            Some(ext),
            EventKind::GetDataReturn {
                code,
                buffer,
                data,
                injected,
            },
        );
        buffer.ok_or(code)
    }

    fn free_buffer(&mut self, ext: ExtId, arg: FreeArg) {
        let buffer = match arg {
            FreeArg::Null => BufferArg::Null,
            // A buffer the service issued, even one whose record it has since forgotten.
            FreeArg::Buffer(id) if id.0 >= 1 && id.0 <= self.ledger.issued() => {
                BufferArg::Buffer(id)
            }
            FreeArg::Buffer(id) => {
                BufferArg::Foreign(self.foreign_id(0xB0F0_0000_0000 | u64::from(id.0)))
            }
            FreeArg::ChangeData(delivery) => BufferArg::ChangeData { delivery },
            FreeArg::Foreign(raw) => BufferArg::Foreign(self.foreign_id(raw)),
        };
        let call = self.emit(Some(ext), EventKind::FreeBufferCall { buffer });
        if let BufferArg::Buffer(id) = buffer
            && self.exts[ext.index()].life != Life::Unloaded
            && let FreeOutcome::Freed(Some(damage)) = self.ledger.free(id, call)
        {
            self.emit(Some(ext), EventKind::BufferDamaged { buffer: id, damage });
        }
        let evicted: Vec<_> = self.ledger.drain_evicted_damage().collect();
        for (buffer, owner, damage) in evicted {
            self.emit(Some(owner), EventKind::BufferDamaged { buffer, damage });
        }
        self.emit(Some(ext), EventKind::FreeBufferReturn);
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the C signature's six arguments plus the caller and the pointer/size split"
    )]
    fn set_data(
        &mut self,
        ext: ExtId,
        hinst: HInst,
        device: u32,
        source: i32,
        guid: Option<&str>,
        data: Option<&[u8]>,
        size: u32,
    ) -> u32 {
        let hinst_arg = self.hinst_arg(hinst);
        let guid_arc = guid.map(|g| self.intern(g));
        let payload: Option<Arc<[u8]>> = data.map(|d| Arc::from(&d[..d.len().min(size as usize)]));
        let call = self.emit(
            Some(ext),
            EventKind::SetDataCall {
                hinst: hinst_arg,
                device,
                source,
                guid: guid_arc.clone(),
                data: payload.clone(),
                size,
            },
        );
        if let Some(oracle) = self.oracle.clone() {
            let answer = oracle.answer(self, ext, Crossing::SetData);
            return self.answer_set_data(ext, answer);
        }
        let key = self.guid_key(device, source, guid);
        let mut injected = false;
        let outcome = (|| {
            self.admit(ext, Callback::SetData, call, key, &mut injected)?;
            if guid_arc.is_none_or(|g| parse_braced_guid(&g).is_none()) {
                return Err(ERROR_INVALID_PARAMETER);
            }
            let payload = payload.filter(|p| size > 0 && p.len() == size as usize);
            let Some(payload) = payload else {
                return Err(ERROR_INVALID_PARAMETER);
            };
            let key = self.key_of(device, source, key)?;
            let cap = self
                .opts
                .in_process_value_cap
                .map_or(MAX_STORED_VALUE, |c| c.min(MAX_STORED_VALUE));
            if size > cap {
                return Err(ERROR_NOT_ENOUGH_MEMORY);
            }
            Ok((key, payload))
        })();
        let code = match outcome {
            Ok((key, payload)) => {
                self.store.put(key, payload.clone());
                self.dispatch(call, Some(hinst), key, &payload);
                ERROR_SUCCESS
            }
            Err(code) => code,
        };
        self.emit(Some(ext), EventKind::SetDataReturn { code, injected });
        code
    }

    fn register(
        &mut self,
        ext: ExtId,
        hinst: HInst,
        device: u32,
        source: i32,
        guid: Option<&str>,
        callback: Option<CallbackId>,
    ) -> Result<HandleId, u32> {
        let hinst_arg = self.hinst_arg(hinst);
        let guid_arc = guid.map(|g| self.intern(g));
        let call = self.emit(
            Some(ext),
            EventKind::RegisterCall {
                hinst: hinst_arg,
                device,
                source,
                guid: guid_arc.clone(),
                callback,
            },
        );
        if let Some(oracle) = self.oracle.clone() {
            let answer = oracle.answer(self, ext, Crossing::Register);
            return self.answer_register(ext, answer);
        }
        let key = self.guid_key(device, source, guid);
        let mut injected = false;
        let outcome = (|| {
            self.admit(ext, Callback::RegisterForEvents, call, key, &mut injected)?;
            if self.delivering > 0 {
                return Err(ERROR_BUSY);
            }
            let (Some(guid_arc), Some(callback)) = (guid_arc, callback) else {
                return Err(ERROR_INVALID_PARAMETER);
            };
            if parse_braced_guid(&guid_arc).is_none() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            let key = self.key_of(device, source, key)?;
            if self.regs.find(ext, key).is_some() {
                return Err(ERROR_ALREADY_ASSIGNED);
            }
            Ok(self.regs.add(Registration {
                handle: HandleId(0),
                ext,
                hinst,
                key,
                device,
                source,
                guid: guid_arc,
                callback,
                registered_at: call,
                live: true,
                imp: self.exts[ext.index()].imp.clone(),
            }))
        })();
        let (handle, last_error) = match outcome {
            Ok(h) => (Some(h), ERROR_SUCCESS),
            Err(code) => (None, code),
        };
        self.last_error.insert(self.thread, last_error);
        self.emit(
            Some(ext),
            EventKind::RegisterReturn {
                handle,
                last_error,
                injected,
            },
        );
        handle.ok_or(last_error)
    }

    fn unregister(&mut self, ext: ExtId, arg: UnregisterArg) -> u32 {
        let handle = match arg {
            UnregisterArg::Null => HandleArg::Null,
            UnregisterArg::InvalidValue => HandleArg::InvalidValue,
            UnregisterArg::Handle(h) => HandleArg::Handle(h),
            UnregisterArg::Foreign(raw) => HandleArg::Foreign(self.foreign_id(raw)),
        };
        let call = self.emit(Some(ext), EventKind::UnregisterCall { handle });
        if let Some(oracle) = self.oracle.clone() {
            let answer = oracle.answer(self, ext, Crossing::Unregister);
            return self.answer_unregister(ext, answer);
        }
        let mut injected = false;
        let outcome = (|| {
            self.admit(
                ext,
                Callback::UnregisterForEvents,
                call,
                None,
                &mut injected,
            )?;
            if self.delivering > 0 {
                return Err(ERROR_BUSY);
            }
            let h = match handle {
                HandleArg::Null | HandleArg::InvalidValue => return Err(ERROR_INVALID_PARAMETER),
                HandleArg::Foreign(_) => return Err(ERROR_NOT_FOUND),
                HandleArg::Handle(h) => h,
            };
            if !self.regs.remove(h) {
                return Err(ERROR_NOT_FOUND);
            }
            Ok(h)
        })();
        let code = match outcome {
            Ok(h) => {
                self.after_unregister(h);
                ERROR_SUCCESS
            }
            Err(code) => {
                // Choice: an FSP that unregisters from its FaxDevShutdown is told the
                // service is stopping, but its registration is released all the same, so
                // a careful FSP can end with no registration held.
                if code == ERROR_SHUTDOWN_IN_PROGRESS
                    && self.exts[ext.index()].shutting_down
                    && let HandleArg::Handle(h) = handle
                    && self.regs.get(h).is_some_and(|r| r.ext == ext)
                {
                    self.regs.remove(h);
                }
                code
            }
        };
        self.emit(Some(ext), EventKind::UnregisterReturn { code, injected });
        code
    }

    /// Drops what was pending for `h`, unless the service races (deviation): then what was
    /// in flight, or failing that the current value, still arrives at the next
    /// scheduling point.
    fn after_unregister(&mut self, h: HandleId) {
        if !self.opts.deviations.notify_after_unregister {
            self.pending.retain(|p| p.handle != h);
            self.last_due.remove(&h);
            return;
        }
        if self.pending.iter().any(|p| p.handle == h) {
            return;
        }
        let Some(reg) = self.regs.get(h) else { return };
        if let Some(v) = self.store.get(reg.key) {
            let data = v.data.clone();
            self.pending.push_back(Pending {
                handle: h,
                cause: None,
                data,
                depth: 1,
                due: self.step + 1,
            });
        }
    }

    // ---- internals: notification dispatch -------------------------------------------

    /// Notifies every registration for `key` except the writer's own (`writer` is `None`
    /// for external writers, who exclude no one), per the delivery policy.
    fn dispatch(&mut self, cause: u64, writer: Option<HInst>, key: Key, data: &Arc<[u8]>) {
        self.writes += 1;
        let nth = self.writes;
        // The key's recipients, shared with the table (one count increment, no copy). The
        // list cannot change during a synchronous delivery anyway: Register and
        // Unregister answer ERROR_BUSY until it ends.
        let Some(shared) = self.regs.for_key(key) else {
            return;
        };
        let plan: &[Recipient] = &shared;
        let dev = self.opts.deviations;
        let excluded = |r: &Recipient| !dev.notify_writer && writer == Some(r.hinst);
        let deferred = self.opts.delivery == DeliveryPolicy::Deferred;
        if self.opts.delivery == DeliveryPolicy::Sync && !dev.skip_registrant {
            // The hot path: registration order, nothing to copy.
            self.delivering += 1;
            for r in plan.iter() {
                if !excluded(r) && !self.deliver_one(plan, r, cause, nth, data) {
                    break;
                }
            }
            self.delivering -= 1;
            return;
        }
        // Other policies visit a permutation of the recipients, built in a per-depth
        // scratch list (no allocation once warm).
        let level = self.depth as usize;
        if self.scratch.len() <= level {
            self.scratch.resize_with(level + 1, Vec::new);
        }
        let mut order = std::mem::take(&mut self.scratch[level]);
        order.clear();
        order.extend((0..plan.len()).filter(|&i| !excluded(&plan[i])));
        if dev.skip_registrant {
            order.pop();
        }
        if self.opts.delivery == DeliveryPolicy::Shuffled {
            let write = WritePoint {
                cause,
                nth,
                recipients: plan,
            };
            self.choices.order(&write, &mut order);
        }
        if !deferred {
            self.delivering += 1;
        }
        for &i in &order {
            if !self.deliver_one(plan, &plan[i], cause, nth, data) {
                break;
            }
        }
        if !deferred {
            self.delivering -= 1;
        }
        self.scratch[level] = order;
    }

    /// One recipient of write `cause`: delivered now, queued (deferred policy) or cut
    /// (nesting limit). False when the rest of the write's recipients hear nothing.
    #[inline(always)]
    fn deliver_one(
        &mut self,
        plan: &[Recipient],
        r: &Recipient,
        cause: u64,
        nth: u64,
        data: &Arc<[u8]>,
    ) -> bool {
        if self.state == State::Stopping && !self.opts.deviations.notify_after_shutdown {
            // Shutdown began inside an earlier handler: nobody else hears of it.
            return false;
        }
        let depth = self.depth + 1;
        if depth > self.opts.limits.nesting {
            self.emit(
                Some(r.ext),
                EventKind::DeliveryCut {
                    depth,
                    handle: r.handle,
                    cause,
                },
            );
        } else if self.opts.delivery == DeliveryPolicy::Deferred {
            let write = WritePoint {
                cause,
                nth,
                recipients: plan,
            };
            let wait = self.choices.defer(&write, r, self.opts.max_defer_steps);
            let mut due = self.step + 1 + wait;
            let last = self.last_due.entry(r.handle).or_insert(0);
            due = due.max(*last);
            *last = due;
            self.pending.push_back(Pending {
                handle: r.handle,
                cause: Some(cause),
                data: data.clone(),
                depth,
                due,
            });
        } else {
            self.call_config_change(r, Some(cause), data, depth);
        }
        self.abort.is_none()
    }

    fn deliver_pending(&mut self, p: Pending) {
        let Some(r) = self.regs.get(p.handle) else {
            return;
        };
        if !r.live && !self.opts.deviations.notify_after_unregister {
            return;
        }
        let r = Recipient::of(r);
        self.delivering += 1;
        self.call_config_change(&r, p.cause, &p.data, p.depth);
        self.delivering -= 1;
    }

    #[inline(always)]
    fn call_config_change(
        &mut self,
        r: &Recipient,
        cause: Option<u64>,
        data: &Arc<[u8]>,
        depth: u32,
    ) {
        // Each registrant hears of the change in the id space it registered with: the id
        // it passed (a TAPI id for TAPI registrants, even if the device has since gone).
        let (h, ext, callback) = (r.handle, r.ext, r.callback);
        let device = if self.opts.deviations.logical_ids_to_tapi_registrants {
            r.key.0
        } else {
            r.device
        };
        let slot = &self.exts[ext.index()];
        // Only a recognised extension hears of changes: not one whose init failed (its
        // registrations from inside that init are void), nor one unloaded.
        let recognised = match slot.life {
            Life::Ready | Life::Loaded | Life::InConfigInit => true,
            Life::ConfigFailed | Life::Unloaded | Life::InitFailed | Life::ProviderFailed => false,
        };
        if !recognised || (slot.shutting_down && !self.opts.deviations.notify_after_shutdown) {
            return;
        }
        let delivery = if self.observing() {
            self.emit(
                Some(ext),
                EventKind::ConfigChangeCall {
                    handle: h,
                    callback,
                    device,
                    guid: r.guid.clone(),
                    data: data.clone(),
                    cause,
                },
            )
        } else {
            self.emit_unobserved()
        };
        let mut change = ConfigChange {
            callback,
            device,
            guid: &r.guid,
            data,
            delivery,
            scribble: None,
        };
        let outer = std::mem::replace(&mut self.depth, depth);
        let hr = r
            .imp
            .config_change(&mut self.callbacks_for(ext), &mut change);
        self.depth = outer;
        self.report_written_inputs(ext, delivery);
        if let Some(offset) = change.scribble {
            self.emit(Some(ext), EventKind::ChangeDataWritten { delivery, offset });
        }
        if self.observing() {
            self.emit(Some(ext), EventKind::ConfigChangeReturn { handle: h, hr });
        } else {
            self.emit_unobserved();
        }
    }

    /// Records the read-only input written during the call at `call` (see
    /// [`Callbacks::report_input_written`]).
    fn report_written_inputs(&mut self, ext: ExtId, call: u64) {
        if self.written_inputs.is_empty() {
            return;
        }
        for (input, offset) in std::mem::take(&mut self.written_inputs) {
            self.emit(
                Some(ext),
                EventKind::InputWritten {
                    call,
                    input,
                    offset,
                },
            );
        }
    }

    /// Counts an event that nobody observes (the bare model), keeping `seq` meaningful.
    fn emit_unobserved(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    fn next_callback_id(&mut self, ext: ExtId) -> CallbackId {
        let n = &mut self.callback_ids[ext.index()];
        *n += 1;
        CallbackId(*n)
    }
}

/// The five service callbacks as one extension sees them: what `FaxExtInitializeConfig`
/// hands out, bound to the calling extension (as the host's per-extension trampolines
/// are). Obtained inside any hook, or from [`Service::callbacks`] for calls from an
/// extension's own threads.
pub struct Callbacks<'a> {
    svc: &'a mut Service,
    ext: ExtId,
    thread: u16,
}

impl std::fmt::Debug for Callbacks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callbacks")
            .field("ext", &self.ext)
            .field("thread", &self.thread)
            .finish()
    }
}

impl Callbacks<'_> {
    fn enter(&mut self) {
        self.svc.thread = self.thread;
    }

    /// The calling extension.
    pub fn ext(&self) -> ExtId {
        self.ext
    }

    /// Runs `f` with the callbacks of `ext` as called from `thread`, then restores the
    /// service's current thread. A host uses it while the service thread is inside an
    /// extension: a call arriving from another extension's trampoline, or from a thread
    /// an extension started, is made through whatever `Callbacks` is current.
    pub fn with_caller<R>(
        &mut self,
        ext: ExtId,
        thread: u16,
        f: impl FnOnce(&mut Callbacks<'_>) -> R,
    ) -> R {
        let saved = self.svc.thread;
        let mut other = Callbacks {
            svc: &mut *self.svc,
            ext,
            thread,
        };
        let r = f(&mut other);
        self.svc.thread = saved;
        r
    }

    /// The calling extension's own module handle (what SetData and Register expect).
    pub fn hinst(&self) -> HInst {
        self.svc.hinst(self.ext)
    }

    /// The module handle of any extension of the service.
    pub fn hinst_of(&self, ext: ExtId) -> HInst {
        self.svc.hinst(ext)
    }

    /// A new ConfigChange callback id for this extension (a distinct function pointer).
    pub fn new_callback(&mut self) -> CallbackId {
        self.svc.next_callback_id(self.ext)
    }

    /// `FaxExtGetData`: on success a ledger-tracked buffer that must be freed with
    /// [`Callbacks::free_buffer`].
    pub fn get_data(&mut self, device: u32, source: i32, guid: &str) -> Result<BufferId, u32> {
        self.get_data_raw(device, source, Some(guid), false)
    }

    /// `FaxExtGetData` with every argument as C could pass it (`guid: None` is NULL,
    /// `null_out` passes NULL for `ppData`).
    pub fn get_data_raw(
        &mut self,
        device: u32,
        source: i32,
        guid: Option<&str>,
        null_out: bool,
    ) -> Result<BufferId, u32> {
        self.enter();
        self.svc.get_data(self.ext, device, source, guid, null_out)
    }

    /// The bytes of a live buffer.
    pub fn buffer(&self, id: BufferId) -> Option<&[u8]> {
        let b = self.svc.ledger.get(id)?;
        (b.state == crate::ledger::BufferState::Live && b.owner == self.ext).then(|| b.data())
    }

    /// Copies a live buffer's bytes.
    pub fn buffer_copy(&self, id: BufferId) -> Option<Vec<u8>> {
        self.buffer(id).map(<[u8]>::to_vec)
    }

    /// Writes into a buffer's memory as a C extension could: past its end (an overrun,
    /// found by the guard check) or after it was freed (found at unload).
    pub fn write_buffer_raw(&mut self, id: BufferId, offset: usize, bytes: &[u8]) -> bool {
        self.svc.ledger.write_raw(id, offset, bytes)
    }

    /// `FaxExtFreeBuffer`.
    pub fn free_buffer(&mut self, arg: FreeArg) {
        self.enter();
        self.svc.free_buffer(self.ext, arg);
    }

    /// `FaxExtSetData` with this extension's own hInst.
    pub fn set_data(&mut self, device: u32, source: i32, guid: &str, data: &[u8]) -> u32 {
        let hinst = self.hinst();
        self.set_data_raw(
            hinst,
            device,
            source,
            Some(guid),
            Some(data),
            data.len() as u32,
        )
    }

    /// `FaxExtSetData` with every argument as C could pass it (`data: None` is NULL).
    pub fn set_data_raw(
        &mut self,
        hinst: HInst,
        device: u32,
        source: i32,
        guid: Option<&str>,
        data: Option<&[u8]>,
        size: u32,
    ) -> u32 {
        self.enter();
        self.svc
            .set_data(self.ext, hinst, device, source, guid, data, size)
    }

    /// `FaxExtRegisterForEvents` with this extension's own hInst.
    pub fn register(
        &mut self,
        device: u32,
        source: i32,
        guid: &str,
        callback: CallbackId,
    ) -> Result<HandleId, u32> {
        let hinst = self.hinst();
        self.register_raw(hinst, device, source, Some(guid), Some(callback))
    }

    /// `FaxExtRegisterForEvents` with every argument as C could pass it. On failure the
    /// code is also the thread's last error ([`Callbacks::last_error`]).
    pub fn register_raw(
        &mut self,
        hinst: HInst,
        device: u32,
        source: i32,
        guid: Option<&str>,
        callback: Option<CallbackId>,
    ) -> Result<HandleId, u32> {
        self.enter();
        self.svc
            .register(self.ext, hinst, device, source, guid, callback)
    }

    /// `FaxExtUnregisterForEvents`.
    pub fn unregister(&mut self, handle: HandleId) -> u32 {
        self.unregister_raw(UnregisterArg::Handle(handle))
    }

    /// `FaxExtUnregisterForEvents` with any handle value.
    pub fn unregister_raw(&mut self, arg: UnregisterArg) -> u32 {
        self.enter();
        self.svc.unregister(self.ext, arg)
    }

    /// The last error Register set (`GetLastError` after a NULL return).
    pub fn last_error(&self) -> u32 {
        self.svc
            .last_error
            .get(&self.thread)
            .copied()
            .unwrap_or(ERROR_SUCCESS)
    }

    /// The extension crashes here (a scripted `crash`): `extension-crashed` is recorded
    /// and the service goes down with it, as a real one would; the run ends.
    pub fn crash(&mut self, detail: &str) {
        self.enter();
        let name = self.svc.exts[self.ext.index()].name.clone();
        self.svc.report_crash(self.ext, detail);
        self.svc.fail(SimError::ExtensionFailed {
            ext: name,
            what: format!("crashed ({detail})"),
        });
    }

    /// The extension stops answering here (a scripted `hang`): `extension-hung` is
    /// recorded with the time limit an isolating host would have waited; the run ends.
    pub fn hang(&mut self, limit_ms: u64) {
        self.enter();
        let name = self.svc.exts[self.ext.index()].name.clone();
        self.svc.report_hang(self.ext, limit_ms);
        self.svc.fail(SimError::ExtensionFailed {
            ext: name,
            what: "hung".into(),
        });
    }

    /// Reports that the extension wrote into read-only input the service passed to the
    /// call it is in (a host compares its copies when the call returns): the service
    /// records `input-written` when that call returns, before its return event.
    pub fn report_input_written(&mut self, input: ServiceInput, offset: u32) {
        self.svc.written_inputs.push((input, offset));
    }

    /// Reports damage a host found in the real memory behind a buffer (its own guard
    /// zones), which the model's copy cannot see.
    pub fn report_buffer_damage(&mut self, buffer: BufferId, damage: Damage) {
        self.enter();
        self.svc
            .emit(Some(self.ext), EventKind::BufferDamaged { buffer, damage });
    }
}
