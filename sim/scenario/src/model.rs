//! The scenario file format (TOML), as serde types. `docs/scenario-format.md` documents
//! every field with an example; parsing is strict (unknown keys are errors).

use serde::Deserialize;

use faxsim_sim::options::{DeliveryPolicy, Deviations, LoadOrder, VirtualFspInitOrder};

/// A whole scenario file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name and description.
    #[serde(default)]
    pub scenario: Meta,
    /// Service options.
    #[serde(default)]
    pub service: ServiceSection,
    /// The machine's devices.
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceDecl>,
    /// The extensions.
    #[serde(default, rename = "extension")]
    pub extensions: Vec<ExtensionDecl>,
    /// The store's values before the run (what the machine held; the service reads
    /// them from the registry).
    #[serde(default, rename = "value")]
    pub values: Vec<ValueDecl>,
    /// What happens, in order. Without steps: start, settle, stop. A run whose last step
    /// leaves the service running (or stopping) is stopped at the end.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    /// Decisions the service takes at given points of given steps instead of its seeded
    /// ones: which callback call fails, how long a notification waits, who hears of a
    /// write first. `faxsim shrink` writes them from a recording, so its scenario takes
    /// the decisions the recorded service took.
    #[serde(default, rename = "decision")]
    pub decisions: Vec<Decision>,
    /// What must hold afterwards.
    #[serde(default)]
    pub expect: Expect,
}

/// `[scenario]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Defaults to the file's stem.
    pub name: Option<String>,
    /// One or two sentences: what the scenario shows.
    pub description: Option<String>,
}

/// `[service]`: every field optional, defaults as in `docs/choices.md`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// The seed (`faxsim run --seed` overrides it).
    pub seed: Option<u64>,
    /// `sync`, `shuffled` or `deferred`.
    pub delivery: Option<DeliveryPolicy>,
    /// Longest wait of a deferred notification, in scheduling points.
    pub max_defer_steps: Option<u32>,
    /// `after-config-init` or `before-device-creation`.
    pub virtual_fsp_init: Option<VirtualFspInitOrder>,
    /// `providers-first` or `as-added`.
    pub load_order: Option<LoadOrder>,
    /// Routing extensions hear of existing devices at start.
    pub announce_devices_at_start: Option<bool>,
    /// Cap on one in-process SetData value, in bytes.
    pub in_process_value_cap: Option<u32>,
    /// Limits.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Deliberate service-side breaches.
    #[serde(default)]
    pub deviations: Deviations,
}

/// `[service.limits]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Notification nesting depth.
    pub nesting: Option<u32>,
    /// Events per run.
    pub events: Option<u64>,
    /// Scheduling steps per run.
    pub steps: Option<u64>,
}

/// `[[value]]`: a value in the store before the run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueDecl {
    /// Logical device id (default 0: global data).
    #[serde(default)]
    pub device: u32,
    /// GUID string.
    pub guid: String,
    /// Hex bytes.
    pub hex: Option<String>,
    /// UTF-8 text.
    pub text: Option<String>,
    /// Size (pattern bytes).
    pub size: Option<u32>,
}

/// `[[decision]]`: one decision of the service, keyed to a step and to a point of that
/// step (counted from the step's start, so it stays with its step when others are
/// added or removed). Either a failed callback call (`fail`, `ext`, `call`, `code`) or
/// the delivery of a write to one extension (`write`, `ext`, and `wait`, `never` or
/// `rank`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The step (1-based).
    pub step: usize,
    /// The extension: the caller of a failed call, the registrant of a delivery.
    pub ext: String,
    /// A failure: the callback (`get-data`, `set-data`, `register`, `unregister`).
    pub fail: Option<String>,
    /// With `fail`: the how-many-th call of it by `ext` during the step (1-based).
    pub call: Option<u64>,
    /// With `fail`: the documented code it fails with, by name.
    pub code: Option<String>,
    /// A delivery: the how-many-th successful write during the step (1-based).
    pub write: Option<u64>,
    /// With `write`, under `deferred` delivery: the scheduling points its notification
    /// to `ext` waits.
    pub wait: Option<u64>,
    /// With `write`, under `deferred` delivery: the notification is never due (the
    /// service stops first).
    #[serde(default)]
    pub never: bool,
    /// With `write`, under `shuffled` delivery: `ext`'s place in the visiting order
    /// (0 first; registrants without a rank come after those with one).
    pub rank: Option<u32>,
}

/// `[[device]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDecl {
    /// Logical id (non-zero).
    pub id: u32,
    /// TAPI permanent line id, for TAPI devices.
    pub tapi: Option<u32>,
}

/// The kind of an extension, as the file spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KindDecl {
    /// A TAPI FSP.
    Fsp,
    /// A virtual FSP.
    VirtualFsp,
    /// A routing extension.
    Routing,
}

/// `[[extension]]`: a scripted extension whose behaviour the file states.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionDecl {
    /// Its name in reports and in references (`ext = "..."`).
    pub name: String,
    /// Its kind.
    pub kind: KindDecl,
    /// A real library to host instead of a script (needs a build with library hosting).
    pub library: Option<String>,
    /// Whether it exports `FaxExtInitializeConfig` (default true).
    pub exports_config: Option<bool>,
    /// Whether a provider exports `FaxDevShutdown` (default true).
    pub exports_shutdown: Option<bool>,
    /// `FaxDevVirtualDeviceCreation`'s answer (virtual FSPs).
    pub virtual_devices: Option<VirtualDevicesDecl>,
    /// `FaxExtInitializeConfig`.
    pub config_init: Option<Hook>,
    /// `FaxDevInitialize` / `FaxRouteInitialize`.
    pub general_init: Option<Hook>,
    /// Every ConfigChange.
    pub on_change: Option<Hook>,
    /// `FaxRouteDeviceChangeNotification(TRUE)`.
    pub on_device_arrival: Option<Hook>,
    /// `FaxRouteDeviceChangeNotification(FALSE)`.
    pub on_device_removal: Option<Hook>,
    /// `FaxDevShutdown`.
    pub shutdown: Option<Hook>,
}

/// `virtual_devices = { count = 2, prefix = 0x100 }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualDevicesDecl {
    /// `*DeviceCount` (0 fails the provider).
    pub count: u32,
    /// `*DeviceIdPrefix`.
    pub prefix: u32,
    /// The BOOL result (default true).
    pub ok: Option<bool>,
}

/// What a hook does and returns.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The result: an HRESULT (`"S_OK"`, `"E_FAIL"`, or a number) for config init,
    /// ConfigChange and shutdown; `true`/`false` for the BOOL entry points.
    pub result: Option<ResultDecl>,
    /// Run the actions only the first `times` calls (default: every call).
    pub times: Option<u32>,
    /// Run the actions only for ConfigChange calls with this GUID (by value).
    pub guid: Option<String>,
    /// The actions, in order.
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// A hook's result.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum ResultDecl {
    /// A BOOL.
    Bool(bool),
    /// An HRESULT as a number.
    Number(i64),
    /// An HRESULT by name.
    Name(String),
}

/// A device-id source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceDecl {
    /// `DEV_ID_SRC_FAX`.
    Fax,
    /// `DEV_ID_SRC_TAPI`.
    Tapi,
}

/// Data as the file gives it: hex, UTF-8 text, or a size (filled with a pattern).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataDecl {
    /// Hex bytes, e.g. `"01000000"`.
    pub hex: Option<String>,
    /// UTF-8 text.
    pub text: Option<String>,
    /// A size: that many bytes `0x00, 0x01, …`.
    pub size: Option<u32>,
}

/// Which module handle a call passes.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HInstDecl {
    /// The extension's own (default).
    Own,
    /// NULL.
    Null,
    /// A value no extension has.
    Bogus,
}

/// One callback-level action of a scripted extension.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// `FaxExtGetData`; binds the buffer to `bind`.
    Get {
        /// Device id (default 0).
        #[serde(default)]
        device: u32,
        /// Id source (default: the kind's own).
        source: Option<SourceDecl>,
        /// Raw source value (overrides `source`; for invalid values).
        source_value: Option<i32>,
        /// GUID string (absent: NULL).
        guid: Option<String>,
        /// Pass NULL for `ppData`.
        #[serde(default)]
        null_out: bool,
        /// Name for the buffer (a failed call leaves the name naming nothing).
        bind: Option<String>,
        /// The code it must return.
        expect: Option<String>,
    },
    /// `FaxExtFreeBuffer`.
    Free {
        /// A bound buffer (skipped, with no call, while the name names nothing).
        buffer: Option<String>,
        /// Or: `change-data` (the current ConfigChange's lpData), `null`, `bogus`.
        target: Option<String>,
    },
    /// `FaxExtSetData`.
    Set {
        /// Device id (default 0).
        #[serde(default)]
        device: u32,
        /// Id source.
        source: Option<SourceDecl>,
        /// Raw source value.
        source_value: Option<i32>,
        /// GUID string (absent: NULL).
        guid: Option<String>,
        /// Hex bytes.
        hex: Option<String>,
        /// UTF-8 text.
        text: Option<String>,
        /// A size (pattern bytes), or with `null_data` the size passed with NULL.
        size: Option<u32>,
        /// Pass NULL for `pData`.
        #[serde(default)]
        null_data: bool,
        /// `own` (default), `null`, `bogus`, or another extension's name.
        hinst: Option<String>,
        /// Copy the current ConfigChange's data (with `append_hex` appended).
        #[serde(default)]
        echo: bool,
        /// With `echo`: hex bytes appended to the echoed data.
        append_hex: Option<String>,
        /// The code it must return.
        expect: Option<String>,
    },
    /// `FaxExtRegisterForEvents`; binds the handle to `bind`.
    Register {
        /// Device id (default 0).
        #[serde(default)]
        device: u32,
        /// Id source.
        source: Option<SourceDecl>,
        /// Raw source value.
        source_value: Option<i32>,
        /// GUID string (absent: NULL).
        guid: Option<String>,
        /// Pass NULL for the callback.
        #[serde(default)]
        null_callback: bool,
        /// `own` (default), `null`, `bogus`, or another extension's name.
        hinst: Option<String>,
        /// Name for the handle (a failed call leaves the name naming nothing).
        bind: Option<String>,
        /// The last error it must set (`"ERROR_SUCCESS"` for success).
        expect: Option<String>,
    },
    /// `FaxExtUnregisterForEvents`.
    Unregister {
        /// A bound handle (skipped, with no call, while the name names nothing).
        handle: Option<String>,
        /// Or: `null`, `invalid` (INVALID_HANDLE_VALUE), `bogus`.
        target: Option<String>,
        /// The code it must return.
        expect: Option<String>,
    },
    /// Write `by` bytes past the end of a bound buffer (`buffer-overrun`).
    Overrun {
        /// The buffer.
        buffer: String,
        /// How many bytes past the end (default 1, at most 16).
        by: Option<u32>,
    },
    /// Write bytes into a bound buffer at an offset, as C code could: inside a live
    /// buffer this is legal (it is the extension's until freed); past its end it is an
    /// overrun, after its free a write after free.
    WriteBuffer {
        /// The buffer.
        buffer: String,
        /// Where to write, in bytes from the start (default 0).
        #[serde(default)]
        offset: u32,
        /// The bytes, as hex (default `"5a"`).
        hex: Option<String>,
    },
    /// Write into a bound buffer after freeing it (`write-after-free`).
    WriteAfterFree {
        /// The buffer.
        buffer: String,
    },
    /// Write into the current ConfigChange's lpData (`change-buffer-written`).
    WriteChangeData,
    /// Write into the current ConfigChange's GUID string, as code that lower-cases it in
    /// place does (`input-written`).
    WriteChangeGuid,
    /// The extension crashes here (`extension-crashed`); the service goes down with it and
    /// the run ends (what isolated hosting reports for a real library).
    Crash {
        /// What crashed, as the report says it (default `"scripted crash"`).
        detail: Option<String>,
    },
    /// The extension stops answering here (`extension-hung`); the run ends.
    Hang {
        /// The time limit an isolating host would have waited, in ms (default 10000).
        limit_ms: Option<u64>,
    },
}

/// One step of the scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// Start the service.
    Start,
    /// Stop the service.
    Stop,
    /// Stop and start.
    Restart,
    /// Begin shutdown without unloading (callbacks return ERROR_SHUTDOWN_IN_PROGRESS).
    BeginShutdown,
    /// Begin shutdown when the run reaches this event index.
    ShutdownAt {
        /// Event index.
        event: u64,
    },
    /// An external writer (administration client) writes data.
    Write {
        /// Logical device id (default 0).
        #[serde(default)]
        device: u32,
        /// GUID string.
        guid: String,
        /// Hex bytes.
        hex: Option<String>,
        /// UTF-8 text.
        text: Option<String>,
        /// Size (pattern bytes).
        size: Option<u32>,
        /// The code it must return.
        expect: Option<String>,
    },
    /// A scripted extension acts from one of its own threads.
    Run {
        /// The extension.
        ext: String,
        /// Its thread number (default 1).
        thread: Option<u16>,
        /// The actions.
        actions: Vec<Action>,
        /// Give deferred notifications their scheduling point after the actions (default
        /// true). `false` leaves what the actions queued in flight, so a later step can
        /// act before it arrives (unregister, shut down).
        tick: Option<bool>,
    },
    /// A device arrives.
    AddDevice {
        /// Logical id.
        id: u32,
        /// TAPI id.
        tapi: Option<u32>,
    },
    /// A device is removed.
    RemoveDevice {
        /// Logical id.
        id: u32,
    },
    /// Plan a fault.
    Fault {
        /// `get-data`, `set-data`, `register`, `unregister`.
        callback: String,
        /// A documented code of that callback, by name.
        code: String,
        /// Fire on the n-th matching call (1-based).
        nth: Option<u64>,
        /// Fire for this key.
        device: Option<u32>,
        /// With `device`: the GUID of the key.
        guid: Option<String>,
        /// Fire with this probability (per million), from the seeded fault stream.
        per_million: Option<u32>,
        /// Only for calls from this extension.
        ext: Option<String>,
        /// At most this many times.
        times: Option<u32>,
    },
    /// Mark a stored value corrupt (GetData gives ERROR_BADDB).
    Corrupt {
        /// Logical device id (default 0).
        #[serde(default)]
        device: u32,
        /// GUID string.
        guid: String,
    },
    /// Scheduling points (`count`, default 1).
    Tick {
        /// How many.
        count: Option<u32>,
    },
    /// `FaxRouteDeviceEnable` on a routing extension, as an administrator's console
    /// queries or switches one of its routing methods on a device through the service.
    DeviceEnable {
        /// The routing extension.
        ext: String,
        /// The routing method's GUID.
        guid: String,
        /// The device.
        device: u32,
        /// `query`, `enable` or `disable`.
        enabled: EnableDecl,
        /// The service thread it comes from (default 1).
        thread: Option<u16>,
    },
    /// `FaxRouteGetRoutingInfo` on a routing extension: the size query (no `size`), or a
    /// buffer of `size` bytes.
    GetRoutingInfo {
        /// The routing extension.
        ext: String,
        /// The routing method's GUID.
        guid: String,
        /// The device.
        device: u32,
        /// The buffer's size (absent: the size query, a NULL buffer).
        size: Option<u32>,
        /// The service thread it comes from (default 1).
        thread: Option<u16>,
    },
    /// `FaxRouteSetRoutingInfo` on a routing extension: new data for a routing method.
    SetRoutingInfo {
        /// The routing extension.
        ext: String,
        /// The routing method's GUID.
        guid: String,
        /// The device.
        device: u32,
        /// Hex bytes.
        hex: Option<String>,
        /// UTF-8 text.
        text: Option<String>,
        /// Size (pattern bytes).
        size: Option<u32>,
        /// The service thread it comes from (default 1).
        thread: Option<u16>,
    },
    /// A library's entry point, as the service calls it for a fax job (`FaxDevStartJob`,
    /// `FaxDevSend`, `FaxDevReceive`, `FaxDevReportStatus`, `FaxDevAbortOperation`,
    /// `FaxDevEndJob`) or, between `routing-start` and `routing-end`, a routing method's
    /// function; the host supplies the arguments as the battery does.
    Call {
        /// The extension (a library).
        ext: String,
        /// The exported function.
        function: String,
        /// The service thread it comes from (default 2).
        thread: Option<u16>,
    },
    /// The service begins routing a fax received on `device` through `methods`, in
    /// order: a job whose file list holds the received TIFF.
    RoutingStart {
        /// The receiving device.
        device: u32,
        /// The routing methods.
        methods: Vec<MethodDecl>,
        /// The service thread (default 2).
        thread: Option<u16>,
    },
    /// The routed job ends.
    RoutingEnd {
        /// The service thread (default 2).
        thread: Option<u16>,
    },
    /// Scheduling points until no notification is pending.
    Settle,
}

/// `FaxRouteDeviceEnable`'s `Enabled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnableDecl {
    /// `QUERY_STATUS`.
    Query,
    /// `STATUS_ENABLE`.
    Enable,
    /// `STATUS_DISABLE`.
    Disable,
}

/// A routing method a fax is routed through.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodDecl {
    /// Its GUID.
    pub guid: String,
    /// The function that implements it.
    pub function: String,
}

/// `[expect]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exactly these rule ids fire (as a set); `[]` means no finding at all.
    pub findings: Option<Vec<String>>,
    /// At least these rule ids fire.
    pub findings_include: Option<Vec<String>>,
    /// None of these rule ids fires.
    pub findings_exclude: Option<Vec<String>>,
    /// Detailed finding expectations.
    #[serde(default, rename = "finding")]
    pub finding: Vec<FindingExpect>,
    /// Values in the store at the end.
    #[serde(default, rename = "value")]
    pub values: Vec<ValueExpect>,
    /// Notifications an extension received.
    #[serde(default, rename = "notifications")]
    pub notifications: Vec<NotificationsExpect>,
    /// Order of lifecycle calls an extension received.
    #[serde(default, rename = "lifecycle")]
    pub lifecycle: Vec<LifecycleExpect>,
}

/// `[[expect.finding]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingExpect {
    /// The rule id.
    pub rule: String,
    /// Only findings about this extension.
    pub ext: Option<String>,
    /// Exactly this many (default: at least one).
    pub count: Option<usize>,
    /// The message contains this text.
    pub message_contains: Option<String>,
}

/// `[[expect.value]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueExpect {
    /// Logical device id (default 0).
    #[serde(default)]
    pub device: u32,
    /// GUID string.
    pub guid: String,
    /// Hex bytes.
    pub hex: Option<String>,
    /// UTF-8 text.
    pub text: Option<String>,
    /// No value is stored.
    #[serde(default)]
    pub absent: bool,
}

/// `[[expect.notifications]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsExpect {
    /// The extension.
    pub ext: String,
    /// How many ConfigChange calls it received.
    pub count: Option<usize>,
    /// The device id of the last one.
    pub last_device: Option<u32>,
    /// The data of the last one, as hex.
    pub last_hex: Option<String>,
    /// The data of the last one, as text.
    pub last_text: Option<String>,
    /// The GUID string of the last one, exactly as passed (the registrant's spelling).
    pub last_guid: Option<String>,
}

/// `[[expect.lifecycle]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleExpect {
    /// The extension.
    pub ext: String,
    /// The lifecycle calls it received, in order, by event name without `-call`
    /// (`load`, `virtual-device-creation`, `initialize-config`, `dev-initialize`,
    /// `route-initialize`, `route-device-change`, `dev-shutdown`, `unload`).
    pub order: Vec<String>,
}
