//! The event schema: one [`Event`] per crossing of the service/extension boundary.
//!
//! Every call is two events, the call and its return, in both directions: the service
//! calling into an extension (`FaxExtInitializeConfig`, a ConfigChange callback, the
//! lifecycle entry points) and an extension calling one of the five service callbacks.
//! A few events record what the service or the host observed without a call (a device
//! arriving, a damaged guard zone, a crash).
//!
//! Pointers never appear as addresses. Buffers, registration handles, callback pointers
//! and module handles are symbolic ids, numbered in the order the service issued them,
//! so a trace recorded on one machine compares equal to one recorded on another.
//! Payload bytes and GUID strings are shared (`Arc`), so building an event for a
//! notification copies no bytes.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Index of an extension in the run's extension table (the order extensions were added).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExtId(pub u16);

impl ExtId {
    /// The table index.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A buffer handed out by a successful `FaxExtGetData`, numbered from 1 for the whole
/// simulated machine (numbers keep counting across service restarts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BufferId(pub u32);

/// A registration handle returned by `FaxExtRegisterForEvents`, numbered from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HandleId(pub u32);

/// A ConfigChange function pointer of one extension, numbered from 1 per extension in the
/// order the extension first passed it to Register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallbackId(pub u32);

/// A pointer or handle value the service never issued, numbered from 1 in first-seen order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ForeignId(pub u32);

/// The three kinds of extension the fax service loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtensionKind {
    /// A TAPI-based fax service provider (`FaxDevInitialize`).
    Fsp,
    /// A provider that creates its own devices (`FaxDevVirtualDeviceCreation`).
    VirtualFsp,
    /// An inbound routing extension (`FaxRouteInitialize`).
    Routing,
}

impl ExtensionKind {
    /// The kebab-case name used on the command line and in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            ExtensionKind::Fsp => "fsp",
            ExtensionKind::VirtualFsp => "virtual-fsp",
            ExtensionKind::Routing => "routing",
        }
    }

    /// Providers (FSPs and virtual FSPs) as opposed to routing extensions.
    pub fn is_provider(self) -> bool {
        !matches!(self, ExtensionKind::Routing)
    }

    /// The device-id source this kind is expected to use for non-zero devices.
    pub fn expected_source(self) -> i32 {
        match self {
            ExtensionKind::Fsp => SOURCE_TAPI,
            ExtensionKind::VirtualFsp | ExtensionKind::Routing => SOURCE_FAX,
        }
    }
}

impl fmt::Display for ExtensionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `DEV_ID_SRC_FAX`: a logical device id (the schema keeps the raw `int` the caller passed).
pub const SOURCE_FAX: i32 = 0;
/// `DEV_ID_SRC_TAPI`: a TAPI permanent line id.
pub const SOURCE_TAPI: i32 = 1;

/// Which of the optional entry points an extension library exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Exports {
    /// `FaxExtInitializeConfig`: without it the extension takes no part in the protocol.
    pub initialize_config: bool,
    /// `FaxDevShutdown` (providers only).
    pub dev_shutdown: bool,
    /// `FaxRouteDeviceChangeNotification` (routing extensions only).
    pub route_device_change: bool,
}

/// The module handle an extension passed to SetData or Register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HInstArg {
    /// `NULL`.
    Null,
    /// The module handle of this extension (its own, or another loaded extension's).
    Ext(ExtId),
    /// A value that is no loaded extension's module handle.
    Foreign(ForeignId),
}

/// The pointer an extension passed to `FaxExtFreeBuffer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BufferArg {
    /// `NULL`.
    Null,
    /// A buffer that GetData handed out (live or already freed).
    Buffer(BufferId),
    /// The `lpData` of the ConfigChange call at this event index.
    ChangeData {
        /// `seq` of the [`EventKind::ConfigChangeCall`].
        delivery: u64,
    },
    /// Any other pointer (the extension's own memory, garbage).
    Foreign(ForeignId),
}

/// The handle an extension passed to `FaxExtUnregisterForEvents`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandleArg {
    /// `NULL`.
    Null,
    /// `INVALID_HANDLE_VALUE` (all bits set).
    InvalidValue,
    /// A handle Register returned (live or already unregistered).
    Handle(HandleId),
    /// Any other value.
    Foreign(ForeignId),
}

/// What a guard check found wrong with a GetData buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Damage {
    /// Bytes past the end were written; `offset` is the first damaged byte past the start.
    Overrun {
        /// Offset from the buffer's start of the first damaged guard byte.
        offset: u32,
    },
    /// The buffer was written after it was freed; `offset` is the first changed byte.
    WriteAfterFree {
        /// Offset from the buffer's start of the first changed poison byte.
        offset: u32,
    },
}

/// A GUID string as the caller passed it: `None` is a NULL pointer. Text that was not
/// valid UTF-16 is stored with U+FFFD in place of the bad units (it is invalid as a GUID
/// either way).
pub type GuidArg = Option<Arc<str>>;

/// Payload bytes as the caller passed them: `None` is a NULL pointer.
pub type PayloadArg = Option<Arc<[u8]>>;

/// The job-side routines of `FAX_ROUTE_CALLBACKROUTINES`, which a routing method calls
/// to manage the file list of the fax it routes, and to change a later method's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteRoutine {
    /// `FaxRouteAddFile`: adds a file to the job's file list.
    AddFile,
    /// `FaxRouteDeleteFile`: removes a file a routing method added.
    DeleteFile,
    /// `FaxRouteGetFile`: the name of file number `index`.
    GetFile,
    /// `FaxRouteEnumFiles`: calls the extension's enumerator for each file.
    EnumFiles,
    /// `FaxRouteModifyRoutingData`: new routing data for a later routing method.
    ModifyRoutingData,
}

impl RouteRoutine {
    /// The routine's documented name.
    pub fn function(self) -> &'static str {
        match self {
            RouteRoutine::AddFile => "FaxRouteAddFile",
            RouteRoutine::DeleteFile => "FaxRouteDeleteFile",
            RouteRoutine::GetFile => "FaxRouteGetFile",
            RouteRoutine::EnumFiles => "FaxRouteEnumFiles",
            RouteRoutine::ModifyRoutingData => "FaxRouteModifyRoutingData",
        }
    }

    /// Every routine, in wire order.
    pub const ALL: [RouteRoutine; 5] = [
        RouteRoutine::AddFile,
        RouteRoutine::DeleteFile,
        RouteRoutine::GetFile,
        RouteRoutine::EnumFiles,
        RouteRoutine::ModifyRoutingData,
    ];
}

/// A routing method: its GUID (braced) and the function of its extension that implements
/// it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteMethod {
    /// The method's GUID.
    pub guid: Arc<str>,
    /// The exported function's name.
    pub function: Arc<str>,
}

/// The file name buffer given to `FaxRouteGetFile`, measured against the name it asks
/// for (the size itself depends on where the host keeps the fax, so it is not recorded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameBuffer {
    /// No buffer (NULL): the size query; also what every other routine records.
    None,
    /// A buffer large enough for the name.
    Fits,
    /// A buffer too small for the name.
    TooSmall,
}

/// One crossing of the boundary, or one observation of the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Index of this event in the run, from 0: findings name events by it.
    pub seq: u64,
    /// Virtual time in ticks: advanced by the service's scheduler, never read from a clock.
    pub time: u64,
    /// A small thread id: 0 is the service's own thread; others number extension threads
    /// in first-seen order.
    pub thread: u16,
    /// The extension on the other side of the boundary (`None` for service-wide events and
    /// external writers).
    pub ext: Option<ExtId>,
    /// What happened.
    pub kind: EventKind,
}

/// What an [`Event`] records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum EventKind {
    // ---- the service as a whole -------------------------------------------------------
    /// The service starts (run 1 is the first start, each restart adds one).
    ServiceStart {
        /// 1-based run number.
        run: u32,
    },
    /// The service begins stopping: from here the callbacks return `ERROR_SHUTDOWN_IN_PROGRESS`.
    ServiceStopping,
    /// Every extension has been unloaded.
    ServiceStopped,
    /// A device exists from here on.
    DeviceAdded {
        /// Logical (`DEV_ID_SRC_FAX`) id.
        device: u32,
        /// TAPI permanent line id, for TAPI devices.
        tapi: Option<u32>,
        /// The virtual FSP that created it.
        owner: Option<ExtId>,
    },
    /// A device was removed.
    DeviceRemoved {
        /// Logical id.
        device: u32,
    },
    /// A stored value was marked corrupt: GetData on it returns `ERROR_BADDB`.
    ValueCorrupted {
        /// Logical id.
        device: u32,
        /// GUID string as the scenario spelled it.
        guid: Arc<str>,
    },

    // ---- service -> extension: lifecycle --------------------------------------------
    /// The library was loaded.
    Load {
        /// Its kind.
        kind: ExtensionKind,
        /// Its optional exports.
        exports: Exports,
    },
    /// The library was unloaded; any call through a retained pointer is now a violation.
    Unload,
    /// `FaxDevVirtualDeviceCreation` was called.
    VirtualDeviceCreationCall,
    /// `FaxDevVirtualDeviceCreation` returned.
    VirtualDeviceCreationReturn {
        /// The BOOL result.
        ok: bool,
        /// `*DeviceCount`.
        count: u32,
        /// `*DeviceIdPrefix`.
        id_prefix: u32,
        /// `DeviceNamePrefix`.
        name_prefix: Arc<str>,
    },
    /// `FaxExtInitializeConfig` was called (with the five callbacks).
    InitializeConfigCall,
    /// `FaxExtInitializeConfig` returned.
    InitializeConfigReturn {
        /// The HRESULT.
        hr: i32,
    },
    /// `FaxDevInitialize` was called.
    DevInitializeCall,
    /// `FaxDevInitialize` returned.
    DevInitializeReturn {
        /// The BOOL result.
        ok: bool,
    },
    /// `FaxRouteInitialize` was called.
    RouteInitializeCall,
    /// `FaxRouteInitialize` returned.
    RouteInitializeReturn {
        /// The BOOL result.
        ok: bool,
    },
    /// `FaxRouteDeviceChangeNotification` was called.
    RouteDeviceChangeCall {
        /// Logical id.
        device: u32,
        /// TRUE for an arrival, FALSE for a removal.
        new_device: bool,
    },
    /// `FaxRouteDeviceChangeNotification` returned.
    RouteDeviceChangeReturn {
        /// The BOOL result.
        ok: bool,
    },
    /// `FaxDevShutdown` was called.
    DevShutdownCall,
    /// `FaxDevShutdown` returned.
    DevShutdownReturn {
        /// The HRESULT.
        hr: i32,
    },
    /// A registration's ConfigChange callback was called.
    ConfigChangeCall {
        /// The registration being notified.
        handle: HandleId,
        /// Which of the extension's callback pointers was called.
        callback: CallbackId,
        /// `dwDeviceId`, in the id space the registrant used.
        device: u32,
        /// `lpcwstrDataGUID`, in the exact form the registrant used.
        guid: Arc<str>,
        /// `lpData` (`dwDataSize` is its length).
        #[serde(with = "crate::bytes::payload")]
        data: Arc<[u8]>,
        /// `seq` of the write that caused it, when known (a recorder on a real service
        /// does not see other writers).
        cause: Option<u64>,
    },
    /// The ConfigChange callback returned.
    ConfigChangeReturn {
        /// The registration that was notified.
        handle: HandleId,
        /// The HRESULT.
        hr: i32,
    },
    /// `FaxRouteDeviceEnable` was called: the service asks whether a routing method is
    /// enabled on a device, or enables or disables it (since format 1.1).
    RouteDeviceEnableCall {
        /// `RoutingGuid`: the routing method's GUID string.
        guid: GuidArg,
        /// `DeviceId` (logical).
        device: u32,
        /// `Enabled`: `QUERY_STATUS` (-1), `STATUS_DISABLE` (0) or `STATUS_ENABLE` (1), as
        /// passed.
        enabled: i32,
    },
    /// `FaxRouteDeviceEnable` returned.
    RouteDeviceEnableReturn {
        /// The BOOL as returned (for a query, the method's state).
        result: i32,
    },
    /// `FaxRouteGetRoutingInfo` was called: the service reads a routing method's data for
    /// a device, first asking for its size (no buffer), then into a buffer (since 1.1).
    RouteGetRoutingInfoCall {
        /// `RoutingGuid`.
        guid: GuidArg,
        /// `DeviceId`.
        device: u32,
        /// `RoutingInfo` was a buffer (not NULL).
        buffer: bool,
        /// `*RoutingInfoSize` on entry: the buffer's size.
        size: u32,
    },
    /// `FaxRouteGetRoutingInfo` returned.
    RouteGetRoutingInfoReturn {
        /// The BOOL result.
        ok: bool,
        /// `*RoutingInfoSize` on return: the data's size.
        size: u32,
        /// The bytes it wrote into the buffer (the first `size` of them; `None` without a
        /// buffer or on failure).
        #[serde(with = "crate::bytes::opt_payload")]
        data: PayloadArg,
    },
    /// `FaxRouteSetRoutingInfo` was called: the service hands a routing method new data
    /// for a device (since 1.1).
    RouteSetRoutingInfoCall {
        /// `RoutingGuid`.
        guid: GuidArg,
        /// `DeviceId`.
        device: u32,
        /// `RoutingInfo` (its first `size` bytes).
        #[serde(with = "crate::bytes::opt_payload")]
        data: PayloadArg,
        /// `RoutingInfoSize`.
        size: u32,
    },
    /// `FaxRouteSetRoutingInfo` returned.
    RouteSetRoutingInfoReturn {
        /// The BOOL result.
        ok: bool,
    },
    /// Another entry point of the extension was called, one faxsim forwards (the
    /// recording proxy) but does not model: the job side of `faxdev.h`
    /// (`FaxDevStartJob`, `FaxDevSend`, …) and routing methods. Callbacks made inside it
    /// are attributed to it (since 1.1).
    EntryPointCall {
        /// The exported function's name.
        function: Arc<str>,
    },
    /// That entry point returned.
    EntryPointReturn {
        /// Its result (a BOOL for every such entry point `faxdev.h` and `faxroute.h`
        /// define).
        result: i32,
    },
    /// The service routes a received fax (since 1.2): job `job`, received on `device`,
    /// whose file list holds the received TIFF as file 1. The routing methods called
    /// until [`EventKind::RoutingEnd`] are given this job.
    RoutingStart {
        /// The fax job's id (`FAX_ROUTE.JobId`).
        job: u32,
        /// The device that received it.
        device: u32,
        /// The routing methods the service routes it through, in order: each method's
        /// GUID and the function that implements it.
        methods: Vec<RouteMethod>,
    },
    /// Routing of job `job` is over: its file list is gone, and the routines fail for it
    /// (since 1.2).
    RoutingEnd {
        /// The fax job's id.
        job: u32,
    },

    // ---- extension -> service: the five callbacks -------------------------------------
    /// A routing extension called a job-side routine of `FAX_ROUTE_CALLBACKROUTINES`
    /// (since 1.2). Fields a routine does not take are 0/`None`.
    RouteFileCall {
        /// Which routine.
        routine: RouteRoutine,
        /// `JobId`.
        job: u32,
        /// `Index` (`FaxRouteGetFile`).
        index: u32,
        /// `FileName` (`FaxRouteAddFile`, `FaxRouteDeleteFile`), as passed; a path in the
        /// folder where the host keeps the fax is written `%FAXSIM_QUEUE%\NAME`.
        file: GuidArg,
        /// The routing method's GUID: `Guid` of `FaxRouteAddFile` and `FaxRouteEnumFiles`
        /// (a `GUID*`, written braced), `RoutingGuid` of `FaxRouteModifyRoutingData`.
        guid: GuidArg,
        /// `RoutingData` of `FaxRouteModifyRoutingData` (its first `RoutingDataSize`
        /// bytes).
        #[serde(with = "crate::bytes::opt_payload")]
        data: PayloadArg,
        /// `FileNameBuffer` of `FaxRouteGetFile`, against the name's size.
        buffer: NameBuffer,
    },
    /// That routine returned.
    RouteFileReturn {
        /// The LONG file number (-1 for a failure) of `FaxRouteAddFile` and
        /// `FaxRouteDeleteFile`; the BOOL of the others.
        result: i32,
        /// The error the service set on failure (0 on success).
        code: u32,
        /// The file name `FaxRouteGetFile` answers (also on the size query).
        file: GuidArg,
    },
    /// `FaxExtGetData` was called.
    GetDataCall {
        /// `dwDeviceId`.
        device: u32,
        /// `DevIdSrc` as passed.
        source: i32,
        /// `lpcwstrDataGUID`.
        guid: GuidArg,
        /// `ppData` or `lpdwDataSize` was NULL.
        null_out: bool,
    },
    /// `FaxExtGetData` returned.
    GetDataReturn {
        /// The Win32 code.
        code: u32,
        /// The buffer handed out (on success).
        buffer: Option<BufferId>,
        /// Its bytes (on success).
        #[serde(with = "crate::bytes::opt_payload")]
        data: PayloadArg,
        /// The failure was injected by a fault plan.
        injected: bool,
    },
    /// `FaxExtSetData` was called.
    SetDataCall {
        /// `hInst`.
        hinst: HInstArg,
        /// `dwDeviceId`.
        device: u32,
        /// `DevIdSrc` as passed.
        source: i32,
        /// `lpcwstrDataGUID`.
        guid: GuidArg,
        /// `pData` (its first `size` bytes).
        #[serde(with = "crate::bytes::opt_payload")]
        data: PayloadArg,
        /// `dwDataSize`.
        size: u32,
    },
    /// `FaxExtSetData` returned (after synchronous notifications were delivered).
    SetDataReturn {
        /// The Win32 code.
        code: u32,
        /// The failure was injected by a fault plan.
        injected: bool,
    },
    /// `FaxExtRegisterForEvents` was called.
    RegisterCall {
        /// `hInst`.
        hinst: HInstArg,
        /// `dwDeviceId`.
        device: u32,
        /// `DevIdSrc` as passed.
        source: i32,
        /// `lpcwstrDataGUID`.
        guid: GuidArg,
        /// `lpConfigChangeCallback` (`None` for NULL).
        callback: Option<CallbackId>,
    },
    /// `FaxExtRegisterForEvents` returned.
    RegisterReturn {
        /// The new handle, or `None` for a NULL return.
        handle: Option<HandleId>,
        /// The thread's last error after the call (`ERROR_SUCCESS` on success).
        last_error: u32,
        /// The failure was injected by a fault plan.
        injected: bool,
    },
    /// `FaxExtUnregisterForEvents` was called.
    UnregisterCall {
        /// `hNotification`.
        handle: HandleArg,
    },
    /// `FaxExtUnregisterForEvents` returned.
    UnregisterReturn {
        /// The Win32 code.
        code: u32,
        /// The failure was injected by a fault plan.
        injected: bool,
    },
    /// `FaxExtFreeBuffer` was called.
    FreeBufferCall {
        /// `lpvBuffer`.
        buffer: BufferArg,
    },
    /// `FaxExtFreeBuffer` returned.
    FreeBufferReturn,

    // ---- an administration client outside the service --------------------------------
    /// An external writer (COM `SetExtensionProperty`, RPC `FAX_SetExtensionData`) wrote data.
    ExternalWriteCall {
        /// Logical id (external writers have no TAPI ids).
        device: u32,
        /// The GUID string.
        guid: GuidArg,
        /// The bytes.
        #[serde(with = "crate::bytes::opt_payload")]
        data: PayloadArg,
        /// The size.
        size: u32,
    },
    /// The external write returned.
    ExternalWriteReturn {
        /// The Win32 code.
        code: u32,
    },

    // ---- observations ---------------------------------------------------------------
    /// A guard check found a GetData buffer damaged (at FreeBuffer, or at unload).
    BufferDamaged {
        /// The buffer.
        buffer: BufferId,
        /// What was found.
        damage: Damage,
    },
    /// The extension wrote into a ConfigChange `lpData` (found when the call returned).
    ChangeDataWritten {
        /// `seq` of the ConfigChangeCall.
        delivery: u64,
        /// First changed byte.
        offset: u32,
    },
    /// The extension wrote into read-only input the service passed to one of its entry
    /// points (found when the call returned; format 1.1).
    InputWritten {
        /// `seq` of the call that received the input.
        call: u64,
        /// Which input.
        input: ServiceInput,
        /// First changed byte.
        offset: u32,
    },
    /// A notification was not delivered because nesting reached the service's depth limit.
    DeliveryCut {
        /// The nesting depth it would have been delivered at.
        depth: u32,
        /// The registration that would have been notified.
        handle: HandleId,
        /// `seq` of the write that caused it.
        cause: u64,
    },
    /// The extension crashed or aborted (isolated hosting).
    ExtensionCrashed {
        /// Signal or exception, as text.
        detail: Arc<str>,
    },
    /// A call into the extension did not return within the time limit (isolated hosting).
    ExtensionHung {
        /// The limit, in milliseconds of real time.
        limit_ms: u64,
    },
}

impl EventKind {
    /// The kebab-case name of the event kind (the `type` field of its JSON form).
    pub fn name(&self) -> &'static str {
        use EventKind::*;
        match self {
            ServiceStart { .. } => "service-start",
            ServiceStopping => "service-stopping",
            ServiceStopped => "service-stopped",
            DeviceAdded { .. } => "device-added",
            DeviceRemoved { .. } => "device-removed",
            ValueCorrupted { .. } => "value-corrupted",
            Load { .. } => "load",
            Unload => "unload",
            VirtualDeviceCreationCall => "virtual-device-creation-call",
            VirtualDeviceCreationReturn { .. } => "virtual-device-creation-return",
            InitializeConfigCall => "initialize-config-call",
            InitializeConfigReturn { .. } => "initialize-config-return",
            DevInitializeCall => "dev-initialize-call",
            DevInitializeReturn { .. } => "dev-initialize-return",
            RouteInitializeCall => "route-initialize-call",
            RouteInitializeReturn { .. } => "route-initialize-return",
            RouteDeviceChangeCall { .. } => "route-device-change-call",
            RouteDeviceChangeReturn { .. } => "route-device-change-return",
            DevShutdownCall => "dev-shutdown-call",
            DevShutdownReturn { .. } => "dev-shutdown-return",
            ConfigChangeCall { .. } => "config-change-call",
            ConfigChangeReturn { .. } => "config-change-return",
            RouteDeviceEnableCall { .. } => "route-device-enable-call",
            RouteDeviceEnableReturn { .. } => "route-device-enable-return",
            RouteGetRoutingInfoCall { .. } => "route-get-routing-info-call",
            RouteGetRoutingInfoReturn { .. } => "route-get-routing-info-return",
            RouteSetRoutingInfoCall { .. } => "route-set-routing-info-call",
            RouteSetRoutingInfoReturn { .. } => "route-set-routing-info-return",
            EntryPointCall { .. } => "entry-point-call",
            EntryPointReturn { .. } => "entry-point-return",
            RoutingStart { .. } => "routing-start",
            RoutingEnd { .. } => "routing-end",
            RouteFileCall { .. } => "route-file-call",
            RouteFileReturn { .. } => "route-file-return",
            GetDataCall { .. } => "get-data-call",
            GetDataReturn { .. } => "get-data-return",
            SetDataCall { .. } => "set-data-call",
            SetDataReturn { .. } => "set-data-return",
            RegisterCall { .. } => "register-call",
            RegisterReturn { .. } => "register-return",
            UnregisterCall { .. } => "unregister-call",
            UnregisterReturn { .. } => "unregister-return",
            FreeBufferCall { .. } => "free-buffer-call",
            FreeBufferReturn => "free-buffer-return",
            ExternalWriteCall { .. } => "external-write-call",
            ExternalWriteReturn { .. } => "external-write-return",
            BufferDamaged { .. } => "buffer-damaged",
            ChangeDataWritten { .. } => "change-data-written",
            InputWritten { .. } => "input-written",
            DeliveryCut { .. } => "delivery-cut",
            ExtensionCrashed { .. } => "extension-crashed",
            ExtensionHung { .. } => "extension-hung",
        }
    }

    /// The documented name of the function a call event calls (`None` for other events):
    /// the crossing's, or for an entry point and a routing callback routine, the one the
    /// event names.
    pub fn function(&self) -> Option<&str> {
        match (self, self.half()?) {
            (EventKind::EntryPointCall { function }, _) => Some(function),
            (EventKind::RouteFileCall { routine, .. }, _) => Some(routine.function()),
            (_, Half::Call(c)) => Some(c.function()),
            (_, Half::Return(_)) => None,
        }
    }

    /// An extension calling one of the five service callbacks (the call half).
    pub fn is_callback_call(&self) -> bool {
        matches!(
            self.half(),
            Some(Half::Call(c)) if c.direction() == Direction::ToService
        )
    }

    /// Which half of which crossing this event is (`None` for observations). The one
    /// place that pairs every call with the return that closes it: the checker, the
    /// renderers, scenario lifecycles and replay all go through it.
    pub fn half(&self) -> Option<Half> {
        use EventKind::*;
        let (crossing, call) = match self {
            VirtualDeviceCreationCall => (Crossing::VirtualDeviceCreation, true),
            VirtualDeviceCreationReturn { .. } => (Crossing::VirtualDeviceCreation, false),
            InitializeConfigCall => (Crossing::InitializeConfig, true),
            InitializeConfigReturn { .. } => (Crossing::InitializeConfig, false),
            DevInitializeCall => (Crossing::DevInitialize, true),
            DevInitializeReturn { .. } => (Crossing::DevInitialize, false),
            RouteInitializeCall => (Crossing::RouteInitialize, true),
            RouteInitializeReturn { .. } => (Crossing::RouteInitialize, false),
            RouteDeviceChangeCall { .. } => (Crossing::RouteDeviceChange, true),
            RouteDeviceChangeReturn { .. } => (Crossing::RouteDeviceChange, false),
            DevShutdownCall => (Crossing::DevShutdown, true),
            DevShutdownReturn { .. } => (Crossing::DevShutdown, false),
            ConfigChangeCall { .. } => (Crossing::ConfigChange, true),
            ConfigChangeReturn { .. } => (Crossing::ConfigChange, false),
            RouteDeviceEnableCall { .. } => (Crossing::RouteDeviceEnable, true),
            RouteDeviceEnableReturn { .. } => (Crossing::RouteDeviceEnable, false),
            RouteGetRoutingInfoCall { .. } => (Crossing::RouteGetRoutingInfo, true),
            RouteGetRoutingInfoReturn { .. } => (Crossing::RouteGetRoutingInfo, false),
            RouteSetRoutingInfoCall { .. } => (Crossing::RouteSetRoutingInfo, true),
            RouteSetRoutingInfoReturn { .. } => (Crossing::RouteSetRoutingInfo, false),
            EntryPointCall { .. } => (Crossing::EntryPoint, true),
            EntryPointReturn { .. } => (Crossing::EntryPoint, false),
            RouteFileCall { .. } => (Crossing::RouteFile, true),
            RouteFileReturn { .. } => (Crossing::RouteFile, false),
            GetDataCall { .. } => (Crossing::GetData, true),
            GetDataReturn { .. } => (Crossing::GetData, false),
            SetDataCall { .. } => (Crossing::SetData, true),
            SetDataReturn { .. } => (Crossing::SetData, false),
            RegisterCall { .. } => (Crossing::Register, true),
            RegisterReturn { .. } => (Crossing::Register, false),
            UnregisterCall { .. } => (Crossing::Unregister, true),
            UnregisterReturn { .. } => (Crossing::Unregister, false),
            FreeBufferCall { .. } => (Crossing::FreeBuffer, true),
            FreeBufferReturn => (Crossing::FreeBuffer, false),
            ExternalWriteCall { .. } => (Crossing::ExternalWrite, true),
            ExternalWriteReturn { .. } => (Crossing::ExternalWrite, false),
            ServiceStart { .. }
            | ServiceStopping
            | ServiceStopped
            | DeviceAdded { .. }
            | DeviceRemoved { .. }
            | ValueCorrupted { .. }
            | RoutingStart { .. }
            | RoutingEnd { .. }
            | Load { .. }
            | Unload
            | BufferDamaged { .. }
            | ChangeDataWritten { .. }
            | InputWritten { .. }
            | DeliveryCut { .. }
            | ExtensionCrashed { .. }
            | ExtensionHung { .. } => return None,
        };
        Some(if call {
            Half::Call(crossing)
        } else {
            Half::Return(crossing)
        })
    }
}

/// Read-only input the service passes to an extension's entry points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceInput {
    /// The GUID string (`LPCWSTR`) of a ConfigChange or a routing entry point.
    Guid,
    /// The routing info passed to `FaxRouteSetRoutingInfo`.
    RoutingInfo,
}

impl ServiceInput {
    /// Its name in messages and text (`guid`, `routing-info`).
    pub fn name(self) -> &'static str {
        match self {
            ServiceInput::Guid => "guid",
            ServiceInput::RoutingInfo => "routing-info",
        }
    }
}

/// A call across the boundary, named once for its call and its return event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Crossing {
    /// `FaxDevVirtualDeviceCreation`.
    VirtualDeviceCreation,
    /// `FaxExtInitializeConfig`.
    InitializeConfig,
    /// `FaxDevInitialize`.
    DevInitialize,
    /// `FaxRouteInitialize`.
    RouteInitialize,
    /// `FaxRouteDeviceChangeNotification`.
    RouteDeviceChange,
    /// `FaxDevShutdown`.
    DevShutdown,
    /// A registration's ConfigChange callback (`PFAX_EXT_CONFIG_CHANGE`).
    ConfigChange,
    /// `FaxRouteDeviceEnable`.
    RouteDeviceEnable,
    /// `FaxRouteGetRoutingInfo`.
    RouteGetRoutingInfo,
    /// `FaxRouteSetRoutingInfo`.
    RouteSetRoutingInfo,
    /// Another entry point, forwarded but not modelled (its name is in the call event).
    EntryPoint,
    /// `FaxExtGetData`.
    GetData,
    /// `FaxExtSetData`.
    SetData,
    /// `FaxExtRegisterForEvents`.
    Register,
    /// `FaxExtUnregisterForEvents`.
    Unregister,
    /// `FaxExtFreeBuffer`.
    FreeBuffer,
    /// A job-side routine of `FAX_ROUTE_CALLBACKROUTINES` (which one is in the call
    /// event).
    RouteFile,
    /// A write by an administration client outside the service.
    ExternalWrite,
}

/// Which way a [`Crossing`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The service calls an extension's entry point or ConfigChange callback.
    ToExtension,
    /// An extension calls one of the five service callbacks.
    ToService,
    /// An administration client calls the service.
    External,
}

impl Crossing {
    /// The function's documented name (`FaxExtGetData`, `FaxDevInitialize`, …;
    /// `FaxExtConfigChange` for the callback the extension passes by pointer).
    pub fn function(self) -> &'static str {
        match self {
            Crossing::VirtualDeviceCreation => "FaxDevVirtualDeviceCreation",
            Crossing::InitializeConfig => "FaxExtInitializeConfig",
            Crossing::DevInitialize => "FaxDevInitialize",
            Crossing::RouteInitialize => "FaxRouteInitialize",
            Crossing::RouteDeviceChange => "FaxRouteDeviceChangeNotification",
            Crossing::DevShutdown => "FaxDevShutdown",
            Crossing::ConfigChange => "FaxExtConfigChange",
            Crossing::RouteDeviceEnable => "FaxRouteDeviceEnable",
            Crossing::RouteGetRoutingInfo => "FaxRouteGetRoutingInfo",
            Crossing::RouteSetRoutingInfo => "FaxRouteSetRoutingInfo",
            Crossing::EntryPoint => "an entry point",
            Crossing::GetData => "FaxExtGetData",
            Crossing::SetData => "FaxExtSetData",
            Crossing::Register => "FaxExtRegisterForEvents",
            Crossing::Unregister => "FaxExtUnregisterForEvents",
            Crossing::FreeBuffer => "FaxExtFreeBuffer",
            Crossing::RouteFile => "a routing callback routine",
            Crossing::ExternalWrite => "external write",
        }
    }

    /// The kebab-case name, as event kinds spell it without `-call`/`-return`
    /// (`get-data`, `initialize-config`, …).
    pub fn name(self) -> &'static str {
        match self {
            Crossing::VirtualDeviceCreation => "virtual-device-creation",
            Crossing::InitializeConfig => "initialize-config",
            Crossing::DevInitialize => "dev-initialize",
            Crossing::RouteInitialize => "route-initialize",
            Crossing::RouteDeviceChange => "route-device-change",
            Crossing::DevShutdown => "dev-shutdown",
            Crossing::ConfigChange => "config-change",
            Crossing::RouteDeviceEnable => "route-device-enable",
            Crossing::RouteGetRoutingInfo => "route-get-routing-info",
            Crossing::RouteSetRoutingInfo => "route-set-routing-info",
            Crossing::EntryPoint => "entry-point",
            Crossing::GetData => "get-data",
            Crossing::SetData => "set-data",
            Crossing::Register => "register",
            Crossing::Unregister => "unregister",
            Crossing::FreeBuffer => "free-buffer",
            Crossing::RouteFile => "route-file",
            Crossing::ExternalWrite => "external-write",
        }
    }

    /// Who calls whom.
    pub fn direction(self) -> Direction {
        match self {
            Crossing::VirtualDeviceCreation
            | Crossing::InitializeConfig
            | Crossing::DevInitialize
            | Crossing::RouteInitialize
            | Crossing::RouteDeviceChange
            | Crossing::DevShutdown
            | Crossing::ConfigChange
            | Crossing::RouteDeviceEnable
            | Crossing::RouteGetRoutingInfo
            | Crossing::RouteSetRoutingInfo
            | Crossing::EntryPoint => Direction::ToExtension,
            Crossing::GetData
            | Crossing::SetData
            | Crossing::Register
            | Crossing::Unregister
            | Crossing::FreeBuffer
            | Crossing::RouteFile => Direction::ToService,
            Crossing::ExternalWrite => Direction::External,
        }
    }

    /// A lifecycle entry point of the extension: loading, initialisation, devices,
    /// shutdown (not a ConfigChange callback, not the routing and job entry points a
    /// running service calls).
    pub fn is_lifecycle(self) -> bool {
        matches!(
            self,
            Crossing::VirtualDeviceCreation
                | Crossing::InitializeConfig
                | Crossing::DevInitialize
                | Crossing::RouteInitialize
                | Crossing::RouteDeviceChange
                | Crossing::DevShutdown
        )
    }
}

/// One half of a [`Crossing`]: the call event or the return event that closes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Half {
    /// The call.
    Call(Crossing),
    /// The return that closes the innermost open call of the same crossing on the same
    /// thread.
    Return(Crossing),
}

impl Half {
    /// The crossing, whichever half.
    pub fn crossing(self) -> Crossing {
        match self {
            Half::Call(c) | Half::Return(c) => c,
        }
    }
}
