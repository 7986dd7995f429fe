//! The real extension library: loading it, resolving every entry point the proxy
//! forwards to, and its identity in the trace header.

use std::ffi::c_void;
use std::path::Path;

use faxsim_abi::{
    BOOL, FAX_DEV_INITIALIZE_SYMBOL, FAX_DEV_SHUTDOWN_SYMBOL,
    FAX_DEV_VIRTUAL_DEVICE_CREATION_SYMBOL, FAX_EXT_INITIALIZE_CONFIG_SYMBOL,
    FAX_ROUTE_CALLBACKROUTINES, FAX_ROUTE_DEVICE_CHANGE_NOTIFICATION_SYMBOL,
    FAX_ROUTE_DEVICE_ENABLE_SYMBOL, FAX_ROUTE_GET_ROUTING_INFO_SYMBOL, FAX_ROUTE_INITIALIZE_SYMBOL,
    FAX_ROUTE_SET_ROUTING_INFO_SYMBOL, HANDLE, HLINEAPP, HRESULT, PCWSTR, PFAX_EXT_FREE_BUFFER,
    PFAX_EXT_GET_DATA, PFAX_EXT_INITIALIZE_CONFIG, PFAX_EXT_REGISTER_FOR_EVENTS, PFAX_EXT_SET_DATA,
    PFAX_EXT_UNREGISTER_FOR_EVENTS, PFAX_LINECALLBACK, PFAX_SERVICE_CALLBACK, PFAXDEVINITIALIZE,
    PFAXDEVSHUTDOWN, PFAXDEVVIRTUALDEVICECREATION, PFAXROUTEDEVICECHANGENOTIFICATION,
    PFAXROUTEDEVICEENABLE, PFAXROUTEGETROUTINGINFO, PFAXROUTEINITIALIZE, PFAXROUTESETROUTINGINFO,
    PWSTR,
};
use faxsim_trace::{Exports, ExtensionKind};

use crate::platform;

// ---- the job side of faxdev.h and the routing methods of faxroute.h ----------------
//
// faxsim-abi models only what the configuration protocol touches; these entry points
// are forwarded unchanged, so the structures they point to (FAX_SEND, FAX_RECEIVE,
// FAX_DEV_STATUS, FAX_ROUTE) are passed through as opaque pointers. TAPI's HLINE and
// HCALL are 32-bit values (windows-sys spells them u32).

/// `FaxDevStartJob(HLINE, DWORD DeviceId, PHANDLE FaxHandle, HANDLE CompletionPort,
/// ULONG_PTR CompletionKey)`.
pub type PFAXDEVSTARTJOB =
    Option<unsafe extern "system" fn(u32, u32, *mut HANDLE, HANDLE, usize) -> BOOL>;
/// `FaxDevEndJob(HANDLE FaxHandle)`.
pub type PFAXDEVENDJOB = Option<unsafe extern "system" fn(HANDLE) -> BOOL>;
/// The service's send callback handed to `FaxDevSend` (`HANDLE, HCALL, DWORD, DWORD`).
pub type PFAX_SEND_CALLBACK = Option<unsafe extern "system" fn(HANDLE, u32, u32, u32) -> BOOL>;
/// `FaxDevSend(HANDLE FaxHandle, PFAX_SEND, PFAX_SEND_CALLBACK)`.
pub type PFAXDEVSEND =
    Option<unsafe extern "system" fn(HANDLE, *mut c_void, PFAX_SEND_CALLBACK) -> BOOL>;
/// `FaxDevReceive(HANDLE FaxHandle, HCALL, PFAX_RECEIVE)`.
pub type PFAXDEVRECEIVE = Option<unsafe extern "system" fn(HANDLE, u32, *mut c_void) -> BOOL>;
/// `FaxDevReportStatus(HANDLE FaxHandle, PFAX_DEV_STATUS, DWORD size, LPDWORD required)`.
pub type PFAXDEVREPORTSTATUS =
    Option<unsafe extern "system" fn(HANDLE, *mut c_void, u32, *mut u32) -> BOOL>;
/// `FaxDevAbortOperation(HANDLE FaxHandle)`.
pub type PFAXDEVABORTOPERATION = Option<unsafe extern "system" fn(HANDLE) -> BOOL>;
/// A routing method: `BOOL (const FAX_ROUTE *, PVOID *FailureData, LPDWORD
/// FailureDataSize)`.
pub type PFAXROUTEMETHOD =
    Option<unsafe extern "system" fn(*const c_void, *mut *mut c_void, *mut u32) -> BOOL>;

/// The job-side export names, in the order of [`JobEntryPoints`]' fields.
pub const JOB_SYMBOLS: [&str; 6] = [
    "FaxDevStartJob",
    "FaxDevEndJob",
    "FaxDevSend",
    "FaxDevReceive",
    "FaxDevReportStatus",
    "FaxDevAbortOperation",
];

/// The kind of extension a proxy poses as (what its exports tell the service).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// `faxsim_recorder_fsp`.
    Fsp,
    /// `faxsim_recorder_vfsp`.
    VirtualFsp,
    /// `faxsim_recorder_routing`.
    Routing,
}

impl ProxyKind {
    /// The extension kind the service sees.
    pub fn kind(self) -> ExtensionKind {
        match self {
            ProxyKind::Fsp => ExtensionKind::Fsp,
            ProxyKind::VirtualFsp => ExtensionKind::VirtualFsp,
            ProxyKind::Routing => ExtensionKind::Routing,
        }
    }
}

/// Every configuration-side entry point of the real library (`None`: not exported).
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryPoints {
    pub initialize_config: PFAX_EXT_INITIALIZE_CONFIG,
    pub dev_initialize: PFAXDEVINITIALIZE,
    pub virtual_device_creation: PFAXDEVVIRTUALDEVICECREATION,
    pub dev_shutdown: PFAXDEVSHUTDOWN,
    pub route_initialize: PFAXROUTEINITIALIZE,
    pub route_device_change: PFAXROUTEDEVICECHANGENOTIFICATION,
    pub route_device_enable: PFAXROUTEDEVICEENABLE,
    pub route_get_routing_info: PFAXROUTEGETROUTINGINFO,
    pub route_set_routing_info: PFAXROUTESETROUTINGINFO,
    pub job: JobEntryPoints,
}

/// The job side of a provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobEntryPoints {
    pub start_job: PFAXDEVSTARTJOB,
    pub end_job: PFAXDEVENDJOB,
    pub send: PFAXDEVSEND,
    pub receive: PFAXDEVRECEIVE,
    pub report_status: PFAXDEVREPORTSTATUS,
    pub abort_operation: PFAXDEVABORTOPERATION,
}

/// The real library, loaded.
#[derive(Debug)]
pub struct RealLibrary {
    /// The loader's handle; dropping it unloads the library.
    pub library: libloading::Library,
    /// Its entry points.
    pub entry: EntryPoints,
    /// The routing methods the configuration binds, by forwarder number: the export's
    /// name and address (`None` when the library lacks it).
    pub methods: Vec<(String, PFAXROUTEMETHOD)>,
    /// Its module handle (what it passes as hInst when it is careful).
    pub hinst: usize,
}

impl RealLibrary {
    /// Which optional entry points it exports, as the service of a proxy of `kind`
    /// would see them without the proxy.
    pub fn exports(&self, kind: ProxyKind) -> Exports {
        Exports {
            initialize_config: self.entry.initialize_config.is_some(),
            dev_shutdown: kind != ProxyKind::Routing && self.entry.dev_shutdown.is_some(),
            route_device_change: kind == ProxyKind::Routing
                && self.entry.route_device_change.is_some(),
        }
    }
}

/// A library's name in a trace: its file stem, without a `lib` prefix off Windows (as
/// `faxsim validate` names it).
pub fn extension_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "extension".into());
    match stem.strip_prefix("lib") {
        Some(rest) if !cfg!(windows) && !rest.is_empty() => rest.to_string(),
        _ => stem,
    }
}

/// Loads the real library at `path` for a proxy of `kind` and resolves its entry points
/// and the routing methods named in `methods`. The message of an error names the file
/// and says what to do.
pub fn open(path: &Path, kind: ProxyKind, methods: &[String]) -> Result<RealLibrary, String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(format!("{}: not a file", path.display())),
        Err(e) => {
            return Err(format!(
                "{}: cannot use the real extension: {e}",
                path.display()
            ));
        }
    }
    #[cfg(windows)]
    platform::pending_unload::wait(path);
    // SAFETY: loading runs the library's initialisers (DllMain, constructors): that is
    // what the service would do with it without the proxy, and why it was configured.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        format!("{}: the system loader refused it: {reason}", path.display())
    })?;
    type InitConfig = unsafe extern "system" fn(
        PFAX_EXT_GET_DATA,
        PFAX_EXT_SET_DATA,
        PFAX_EXT_REGISTER_FOR_EVENTS,
        PFAX_EXT_UNREGISTER_FOR_EVENTS,
        PFAX_EXT_FREE_BUFFER,
    ) -> HRESULT;
    type DevInit = unsafe extern "system" fn(
        HLINEAPP,
        HANDLE,
        *mut PFAX_LINECALLBACK,
        PFAX_SERVICE_CALLBACK,
    ) -> BOOL;
    type Vdc = unsafe extern "system" fn(*mut u32, PWSTR, *mut u32, HANDLE, usize) -> BOOL;
    type Shutdown = unsafe extern "system" fn() -> HRESULT;
    type RouteInit = unsafe extern "system" fn(HANDLE, *mut FAX_ROUTE_CALLBACKROUTINES) -> BOOL;
    type RouteDev = unsafe extern "system" fn(u32, BOOL) -> BOOL;
    type RouteEnable = unsafe extern "system" fn(PCWSTR, u32, i32) -> BOOL;
    type RouteGetInfo = unsafe extern "system" fn(PCWSTR, u32, *mut u8, *mut u32) -> BOOL;
    type RouteSetInfo = unsafe extern "system" fn(PCWSTR, u32, *const u8, u32) -> BOOL;
    type StartJob = unsafe extern "system" fn(u32, u32, *mut HANDLE, HANDLE, usize) -> BOOL;
    type OneHandle = unsafe extern "system" fn(HANDLE) -> BOOL;
    type Send = unsafe extern "system" fn(HANDLE, *mut c_void, PFAX_SEND_CALLBACK) -> BOOL;
    type Receive = unsafe extern "system" fn(HANDLE, u32, *mut c_void) -> BOOL;
    type Report = unsafe extern "system" fn(HANDLE, *mut c_void, u32, *mut u32) -> BOOL;
    type Method = unsafe extern "system" fn(*const c_void, *mut *mut c_void, *mut u32) -> BOOL;
    macro_rules! sym {
        ($ty:ty, $name:expr) => {{
            // SAFETY: the symbol is one of the fax ABI's documented entry points, whose C
            // type is `$ty` (the service itself relies on that signature); the pointer is
            // used only while `library` is loaded (the instance keeps it until unload).
            let s = unsafe { library.get::<$ty>($name.as_bytes()) };
            s.ok().map(|s| *s)
        }};
    }
    let entry = EntryPoints {
        initialize_config: sym!(InitConfig, FAX_EXT_INITIALIZE_CONFIG_SYMBOL),
        dev_initialize: sym!(DevInit, FAX_DEV_INITIALIZE_SYMBOL),
        virtual_device_creation: sym!(Vdc, FAX_DEV_VIRTUAL_DEVICE_CREATION_SYMBOL),
        dev_shutdown: sym!(Shutdown, FAX_DEV_SHUTDOWN_SYMBOL),
        route_initialize: sym!(RouteInit, FAX_ROUTE_INITIALIZE_SYMBOL),
        route_device_change: sym!(RouteDev, FAX_ROUTE_DEVICE_CHANGE_NOTIFICATION_SYMBOL),
        route_device_enable: sym!(RouteEnable, FAX_ROUTE_DEVICE_ENABLE_SYMBOL),
        route_get_routing_info: sym!(RouteGetInfo, FAX_ROUTE_GET_ROUTING_INFO_SYMBOL),
        route_set_routing_info: sym!(RouteSetInfo, FAX_ROUTE_SET_ROUTING_INFO_SYMBOL),
        job: JobEntryPoints {
            start_job: sym!(StartJob, JOB_SYMBOLS[0]),
            end_job: sym!(OneHandle, JOB_SYMBOLS[1]),
            send: sym!(Send, JOB_SYMBOLS[2]),
            receive: sym!(Receive, JOB_SYMBOLS[3]),
            report_status: sym!(Report, JOB_SYMBOLS[4]),
            abort_operation: sym!(OneHandle, JOB_SYMBOLS[5]),
        },
    };
    let required: &[(&str, bool)] = match kind {
        ProxyKind::Fsp => &[(FAX_DEV_INITIALIZE_SYMBOL, entry.dev_initialize.is_some())],
        ProxyKind::VirtualFsp => &[
            (FAX_DEV_INITIALIZE_SYMBOL, entry.dev_initialize.is_some()),
            (
                FAX_DEV_VIRTUAL_DEVICE_CREATION_SYMBOL,
                entry.virtual_device_creation.is_some(),
            ),
        ],
        ProxyKind::Routing => &[(
            FAX_ROUTE_INITIALIZE_SYMBOL,
            entry.route_initialize.is_some(),
        )],
    };
    if let Some((symbol, _)) = required.iter().find(|(_, present)| !present) {
        let hint = match entry_kind(&entry) {
            Some(k) if k != kind.kind() => {
                format!("; it looks like a {} (use the {} proxy)", k, proxy_for(k))
            }
            _ => String::new(),
        };
        return Err(format!(
            "{}: a {} proxy needs the export {symbol}, which the library lacks{hint}",
            path.display(),
            kind.kind()
        ));
    }
    let methods = methods
        .iter()
        .map(|name| (name.clone(), sym!(Method, name)))
        .collect();
    let any = [
        entry.initialize_config.map(|f| f as *const c_void),
        entry.dev_initialize.map(|f| f as *const c_void),
        entry.route_initialize.map(|f| f as *const c_void),
    ]
    .into_iter()
    .flatten()
    .next();
    let hinst = any.and_then(platform::module_base).unwrap_or(0);
    Ok(RealLibrary {
        library,
        entry,
        methods,
        hinst,
    })
}

/// The kind a library's exports say.
fn entry_kind(e: &EntryPoints) -> Option<ExtensionKind> {
    if e.virtual_device_creation.is_some() {
        Some(ExtensionKind::VirtualFsp)
    } else if e.dev_initialize.is_some() {
        Some(ExtensionKind::Fsp)
    } else if e.route_initialize.is_some() {
        Some(ExtensionKind::Routing)
    } else {
        None
    }
}

/// The proxy's file stem for a kind.
pub fn proxy_for(kind: ExtensionKind) -> &'static str {
    match kind {
        ExtensionKind::Fsp => "faxsim_recorder_fsp",
        ExtensionKind::VirtualFsp => "faxsim_recorder_vfsp",
        ExtensionKind::Routing => "faxsim_recorder_routing",
    }
}

/// Whether a virtual FSP sits behind a plain FSP proxy (allowed: the service treats the
/// library as the proxy's kind; worth a line in the log).
pub fn kind_note(real: &RealLibrary, kind: ProxyKind) -> Option<String> {
    let k = entry_kind(&real.entry)?;
    (k != kind.kind()).then(|| {
        format!(
            "the library's exports make it a {k}, but the {} proxy presents it as a {}: the service calls only that kind's entry points",
            proxy_for(kind.kind()),
            kind.kind()
        )
    })
}
