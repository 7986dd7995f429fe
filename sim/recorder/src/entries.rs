//! The bodies of the proxy's exports. Each records the call and its return around the
//! real library's entry point, forwarding the service's arguments unchanged (the five
//! service callbacks replaced by their recording wrappers).
//!
//! An entry point the real library lacks answers what the service gets from an
//! extension without it, and is not recorded: `FaxExtInitializeConfig` → `NOERROR`
//! (nothing handed over), `FaxDevShutdown` → `S_OK`,
//! `FaxRouteDeviceChangeNotification` → TRUE. The entry points a service requires of
//! its kind (`FaxRouteDeviceEnable`, the job side of a provider, …) answer FALSE with
//! `ERROR_PROC_NOT_FOUND` as last error, and the first such call is logged.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use faxsim_abi::{
    BOOL, E_FAIL, FALSE, FAX_ROUTE_CALLBACKROUTINES, HANDLE, HLINEAPP, HRESULT,
    MAX_DEVICE_NAME_PREFIX_CHARS, NOERROR, PCWSTR, PFAX_EXT_FREE_BUFFER, PFAX_EXT_GET_DATA,
    PFAX_EXT_REGISTER_FOR_EVENTS, PFAX_EXT_SET_DATA, PFAX_EXT_UNREGISTER_FOR_EVENTS,
    PFAX_LINECALLBACK, PFAX_SERVICE_CALLBACK, PWSTR, S_OK, TRUE,
};
use faxsim_trace::{EventKind, ServiceInput};

use crate::config::ROUTE_METHODS;
use crate::instance::{Instance, guarded, instance};
use crate::log;
use crate::platform::{last_error, set_last_error};
use crate::real::{JOB_SYMBOLS, PFAX_SEND_CALLBACK, ProxyKind};
use crate::wrappers::{self, MAX_GUID_UNITS, Wide, guid_written, read_bytes, read_wide};

/// `ERROR_PROC_NOT_FOUND`: what `GetProcAddress` leaves for a missing export.
const ERROR_PROC_NOT_FOUND: u32 = 127;

/// Records `call`, runs `f`, records `ret(result)`; the thread's last error is kept as
/// the service set it before the call and as the extension left it after.
fn crossing<R: Copy>(
    inst: &Instance,
    call: EventKind,
    f: impl FnOnce() -> R,
    ret: impl FnOnce(R) -> EventKind,
) -> R {
    crossing_checked(inst, call, f, || [None, None], ret)
}

/// [`crossing`], with `written` telling, after the call, which read-only input the
/// extension wrote into (recorded as `InputWritten` before the return).
fn crossing_checked<R: Copy>(
    inst: &Instance,
    call: EventKind,
    f: impl FnOnce() -> R,
    written: impl FnOnce() -> [Option<(ServiceInput, u32)>; 2],
    ret: impl FnOnce(R) -> EventKind,
) -> R {
    let e = last_error();
    let seq = inst.rec.lock().emit(call);
    set_last_error(e);
    let r = f();
    let e = last_error();
    let inputs = written();
    let event = ret(r);
    {
        let mut st = inst.rec.lock();
        for (input, offset) in inputs.into_iter().flatten() {
            st.emit(EventKind::InputWritten {
                call: seq,
                input,
                offset,
            });
        }
        st.emit(event);
    }
    set_last_error(e);
    r
}

/// The GUID string as the service passed it, to compare after the call.
fn guid_before(guid: PCWSTR) -> Option<Wide> {
    // SAFETY: the ABI makes the routing GUID NULL or a NUL-terminated UTF-16 string.
    unsafe { read_wide(guid, MAX_GUID_UNITS) }
}

/// Whether the extension wrote into the GUID string (see [`guid_before`]).
fn guid_check(guid: PCWSTR, before: &Option<Wide>) -> Option<(ServiceInput, u32)> {
    // SAFETY: as for `guid_before`: the service's string is still valid in the call.
    unsafe { guid_written(guid, before.as_ref()) }.map(|o| (ServiceInput::Guid, o))
}

/// The required entry points that may be missing, for "logged once".
#[derive(Clone, Copy)]
enum Missing {
    RouteDeviceEnable,
    RouteGetRoutingInfo,
    RouteSetRoutingInfo,
    Job(usize),
    Method(usize),
}

static MISSING_LOGGED: [AtomicBool; 3 + JOB_SYMBOLS.len() + ROUTE_METHODS] =
    [const { AtomicBool::new(false) }; 3 + JOB_SYMBOLS.len() + ROUTE_METHODS];

/// A required entry point is missing: FALSE, `ERROR_PROC_NOT_FOUND`, logged once.
fn missing(inst: &Instance, which: Missing, name: &str) -> BOOL {
    let index = match which {
        Missing::RouteDeviceEnable => 0,
        Missing::RouteGetRoutingInfo => 1,
        Missing::RouteSetRoutingInfo => 2,
        Missing::Job(i) => 3 + i,
        Missing::Method(i) => 3 + JOB_SYMBOLS.len() + i,
    };
    if !MISSING_LOGGED[index].swap(true, Ordering::Relaxed) {
        log::problem(&format!(
            "{}: the service called {name}, which the library does not export (or the configuration does not bind); answered FALSE (not recorded)",
            inst.real_path.display()
        ));
    }
    set_last_error(ERROR_PROC_NOT_FOUND);
    FALSE
}

/// `FaxExtInitializeConfig`.
///
/// # Safety
///
/// Called by the fax service with five callback pointers valid for the extension's life.
pub unsafe fn initialize_config(
    kind: ProxyKind,
    get: PFAX_EXT_GET_DATA,
    set: PFAX_EXT_SET_DATA,
    reg: PFAX_EXT_REGISTER_FOR_EVENTS,
    unreg: PFAX_EXT_UNREGISTER_FOR_EVENTS,
    free: PFAX_EXT_FREE_BUFFER,
) -> HRESULT {
    guarded("FaxExtInitializeConfig", E_FAIL, || {
        let Some(inst) = instance(kind) else {
            return E_FAIL;
        };
        let Some(f) = inst.entry.initialize_config else {
            return NOERROR;
        };
        inst.service.set(get, set, reg, unreg, free);
        let (g, s, r, u, b) = wrappers::for_extension(inst);
        crossing(
            inst,
            EventKind::InitializeConfigCall,
            // SAFETY: the real library's export of this very signature, given recording
            // wrappers that live as long as the proxy (the library goes first).
            || unsafe { f(g, s, r, u, b) },
            |hr| EventKind::InitializeConfigReturn { hr },
        )
    })
}

/// `FaxDevInitialize`.
///
/// # Safety
///
/// Called by the fax service with `FaxDevInitialize`'s arguments.
pub unsafe fn dev_initialize(
    kind: ProxyKind,
    line_app: HLINEAPP,
    heap: HANDLE,
    line_callback: *mut PFAX_LINECALLBACK,
    service_callback: PFAX_SERVICE_CALLBACK,
) -> BOOL {
    guarded("FaxDevInitialize", FALSE, || {
        let Some(inst) = instance(kind) else {
            return FALSE;
        };
        let Some(f) = inst.entry.dev_initialize else {
            return FALSE;
        };
        crossing(
            inst,
            EventKind::DevInitializeCall,
            // SAFETY: the real export, with the service's arguments unchanged.
            || unsafe { f(line_app, heap, line_callback, service_callback) },
            |ok| EventKind::DevInitializeReturn { ok: ok != FALSE },
        )
    })
}

/// `FaxDevVirtualDeviceCreation`.
///
/// # Safety
///
/// Called by the fax service with `FaxDevVirtualDeviceCreation`'s arguments: writable
/// count and prefix pointers and a name buffer of 128 UTF-16 units.
pub unsafe fn virtual_device_creation(
    kind: ProxyKind,
    count: *mut u32,
    name_prefix: PWSTR,
    id_prefix: *mut u32,
    port: HANDLE,
    key: usize,
) -> BOOL {
    guarded("FaxDevVirtualDeviceCreation", FALSE, || {
        let Some(inst) = instance(kind) else {
            return FALSE;
        };
        let Some(f) = inst.entry.virtual_device_creation else {
            return FALSE;
        };
        crossing(
            inst,
            EventKind::VirtualDeviceCreationCall,
            // SAFETY: the real export, with the service's arguments unchanged.
            || unsafe { f(count, name_prefix, id_prefix, port, key) },
            |ok| {
                // SAFETY: the service's out-pointers (NULL-checked) and its name buffer
                // of MAX_DEVICE_NAME_PREFIX_CHARS units, read up to a NUL.
                let (count, id_prefix, name) = unsafe {
                    (
                        if count.is_null() { 0 } else { *count },
                        if id_prefix.is_null() { 0 } else { *id_prefix },
                        read_wide(name_prefix, MAX_DEVICE_NAME_PREFIX_CHARS),
                    )
                };
                let name_prefix: Arc<str> = name
                    .map(|w| String::from_utf16_lossy(w.units()))
                    .unwrap_or_default()
                    .into();
                EventKind::VirtualDeviceCreationReturn {
                    ok: ok != FALSE,
                    count,
                    id_prefix,
                    name_prefix,
                }
            },
        )
    })
}

/// `FaxDevShutdown`.
///
/// # Safety
///
/// Called by the fax service.
pub unsafe fn dev_shutdown(kind: ProxyKind) -> HRESULT {
    guarded("FaxDevShutdown", S_OK, || {
        let Some(inst) = instance(kind) else {
            return S_OK;
        };
        let Some(f) = inst.entry.dev_shutdown else {
            return S_OK;
        };
        crossing(
            inst,
            EventKind::DevShutdownCall,
            // SAFETY: the real export; no arguments.
            || unsafe { f() },
            |hr| EventKind::DevShutdownReturn { hr },
        )
    })
}

/// `FaxRouteInitialize`.
///
/// # Safety
///
/// Called by the fax service with a heap and a callback table valid for the
/// extension's life.
pub unsafe fn route_initialize(
    kind: ProxyKind,
    heap: HANDLE,
    callbacks: *mut FAX_ROUTE_CALLBACKROUTINES,
) -> BOOL {
    guarded("FaxRouteInitialize", FALSE, || {
        let Some(inst) = instance(kind) else {
            return FALSE;
        };
        let Some(f) = inst.entry.route_initialize else {
            return FALSE;
        };
        crossing(
            inst,
            EventKind::RouteInitializeCall,
            // SAFETY: the real export, with the service's arguments unchanged.
            || unsafe { f(heap, callbacks) },
            |ok| EventKind::RouteInitializeReturn { ok: ok != FALSE },
        )
    })
}

/// `FaxRouteDeviceChangeNotification`.
///
/// # Safety
///
/// Called by the fax service.
pub unsafe fn route_device_change(kind: ProxyKind, device: u32, new_device: BOOL) -> BOOL {
    guarded("FaxRouteDeviceChangeNotification", FALSE, || {
        let Some(inst) = instance(kind) else {
            return FALSE;
        };
        let Some(f) = inst.entry.route_device_change else {
            return TRUE;
        };
        crossing(
            inst,
            EventKind::RouteDeviceChangeCall {
                device,
                new_device: new_device != FALSE,
            },
            // SAFETY: the real export, with the service's arguments unchanged.
            || unsafe { f(device, new_device) },
            |ok| EventKind::RouteDeviceChangeReturn { ok: ok != FALSE },
        )
    })
}

/// A GUID argument as recorded.
fn guid_arg(inst: &Instance, guid: PCWSTR) -> Option<Arc<str>> {
    // SAFETY: the ABI makes the routing GUID NULL or a NUL-terminated UTF-16 string.
    let units = unsafe { read_wide(guid, MAX_GUID_UNITS) };
    inst.rec.lock().guid(units.as_ref().map(Wide::units))
}

/// `FaxRouteDeviceEnable`.
///
/// # Safety
///
/// Called by the fax service with a NUL-terminated routing GUID.
pub unsafe fn route_device_enable(
    kind: ProxyKind,
    guid: PCWSTR,
    device: u32,
    enabled: i32,
) -> BOOL {
    guarded("FaxRouteDeviceEnable", FALSE, || {
        let Some(inst) = instance(kind) else {
            return FALSE;
        };
        let Some(f) = inst.entry.route_device_enable else {
            return missing(inst, Missing::RouteDeviceEnable, "FaxRouteDeviceEnable");
        };
        let e = last_error();
        let call = EventKind::RouteDeviceEnableCall {
            guid: guid_arg(inst, guid),
            device,
            enabled,
        };
        let before = guid_before(guid);
        set_last_error(e);
        crossing_checked(
            inst,
            call,
            // SAFETY: the real export, with the service's arguments unchanged.
            || unsafe { f(guid, device, enabled) },
            || [guid_check(guid, &before), None],
            |result| EventKind::RouteDeviceEnableReturn { result },
        )
    })
}

/// `FaxRouteGetRoutingInfo`.
///
/// # Safety
///
/// Called by the fax service with a NUL-terminated routing GUID, a buffer (or NULL) and
/// a size pointer holding the buffer's size.
pub unsafe fn route_get_routing_info(
    kind: ProxyKind,
    guid: PCWSTR,
    device: u32,
    info: *mut u8,
    size: *mut u32,
) -> BOOL {
    guarded("FaxRouteGetRoutingInfo", FALSE, || {
        let Some(inst) = instance(kind) else {
            return FALSE;
        };
        let Some(f) = inst.entry.route_get_routing_info else {
            return missing(inst, Missing::RouteGetRoutingInfo, "FaxRouteGetRoutingInfo");
        };
        let e = last_error();
        // SAFETY: the service's size pointer (NULL-checked).
        let capacity = if size.is_null() { 0 } else { unsafe { *size } };
        let call = EventKind::RouteGetRoutingInfoCall {
            guid: guid_arg(inst, guid),
            device,
            buffer: !info.is_null(),
            size: capacity,
        };
        let before = guid_before(guid);
        set_last_error(e);
        crossing_checked(
            inst,
            call,
            // SAFETY: the real export, with the service's arguments unchanged.
            || unsafe { f(guid, device, info, size) },
            || [guid_check(guid, &before), None],
            |ok| {
                // SAFETY: the size pointer (NULL-checked) and the service's buffer of
                // `capacity` bytes, never read past.
                let (out, data) = unsafe {
                    let out = if size.is_null() { 0 } else { *size };
                    let data = if ok != FALSE && !info.is_null() {
                        read_bytes(info, out.min(capacity) as usize)
                    } else {
                        None
                    };
                    (out, data)
                };
                EventKind::RouteGetRoutingInfoReturn {
                    ok: ok != FALSE,
                    size: out,
                    data,
                }
            },
        )
    })
}

/// `FaxRouteSetRoutingInfo`.
///
/// # Safety
///
/// Called by the fax service with a NUL-terminated routing GUID and `size` readable
/// bytes (or NULL).
pub unsafe fn route_set_routing_info(
    kind: ProxyKind,
    guid: PCWSTR,
    device: u32,
    info: *const u8,
    size: u32,
) -> BOOL {
    guarded("FaxRouteSetRoutingInfo", FALSE, || {
        let Some(inst) = instance(kind) else {
            return FALSE;
        };
        let Some(f) = inst.entry.route_set_routing_info else {
            return missing(inst, Missing::RouteSetRoutingInfo, "FaxRouteSetRoutingInfo");
        };
        let e = last_error();
        // SAFETY: the service's data, readable for `size` bytes.
        let data = unsafe { read_bytes(info, size as usize) };
        let call = EventKind::RouteSetRoutingInfoCall {
            guid: guid_arg(inst, guid),
            device,
            data: data.clone(),
            size,
        };
        let before = guid_before(guid);
        set_last_error(e);
        crossing_checked(
            inst,
            call,
            // SAFETY: the real export, with the service's arguments unchanged.
            || unsafe { f(guid, device, info, size) },
            || {
                // SAFETY: the service's data, still readable for `size` bytes.
                let now = unsafe { read_bytes(info, size as usize) };
                let data_written = match (&data, &now) {
                    (Some(was), Some(now)) if was != now => was
                        .iter()
                        .zip(now.iter())
                        .position(|(a, b)| a != b)
                        .map(|i| (ServiceInput::RoutingInfo, i as u32)),
                    _ => None,
                };
                [guid_check(guid, &before), data_written]
            },
            |ok| EventKind::RouteSetRoutingInfoReturn { ok: ok != FALSE },
        )
    })
}

/// A forwarded entry point the trace does not model: `EntryPointCall`/`Return`.
fn generic(inst: &Instance, name: &str, f: impl FnOnce() -> BOOL) -> BOOL {
    crossing(
        inst,
        EventKind::EntryPointCall {
            function: Arc::from(name),
        },
        f,
        |result| EventKind::EntryPointReturn { result },
    )
}

/// The job side of a provider, forwarded unchanged.
pub mod job {
    use super::*;

    /// `FaxDevStartJob`.
    ///
    /// # Safety
    ///
    /// Called by the fax service with `FaxDevStartJob`'s arguments.
    pub unsafe fn start_job(
        kind: ProxyKind,
        line: u32,
        device: u32,
        fax_handle: *mut HANDLE,
        port: HANDLE,
        key: usize,
    ) -> BOOL {
        guarded(JOB_SYMBOLS[0], FALSE, || {
            let Some(inst) = instance(kind) else {
                return FALSE;
            };
            match inst.entry.job.start_job {
                // SAFETY: the real export, with the service's arguments unchanged.
                Some(f) => generic(inst, JOB_SYMBOLS[0], || unsafe {
                    f(line, device, fax_handle, port, key)
                }),
                None => missing(inst, Missing::Job(0), JOB_SYMBOLS[0]),
            }
        })
    }

    /// `FaxDevEndJob`.
    ///
    /// # Safety
    ///
    /// Called by the fax service with a job handle.
    pub unsafe fn end_job(kind: ProxyKind, fax_handle: HANDLE) -> BOOL {
        guarded(JOB_SYMBOLS[1], FALSE, || {
            let Some(inst) = instance(kind) else {
                return FALSE;
            };
            match inst.entry.job.end_job {
                // SAFETY: the real export, with the service's arguments unchanged.
                Some(f) => generic(inst, JOB_SYMBOLS[1], || unsafe { f(fax_handle) }),
                None => missing(inst, Missing::Job(1), JOB_SYMBOLS[1]),
            }
        })
    }

    /// `FaxDevSend`.
    ///
    /// # Safety
    ///
    /// Called by the fax service with `FaxDevSend`'s arguments.
    pub unsafe fn send(
        kind: ProxyKind,
        fax_handle: HANDLE,
        fax_send: *mut c_void,
        callback: PFAX_SEND_CALLBACK,
    ) -> BOOL {
        guarded(JOB_SYMBOLS[2], FALSE, || {
            let Some(inst) = instance(kind) else {
                return FALSE;
            };
            match inst.entry.job.send {
                // SAFETY: the real export, with the service's arguments unchanged.
                Some(f) => generic(inst, JOB_SYMBOLS[2], || unsafe {
                    f(fax_handle, fax_send, callback)
                }),
                None => missing(inst, Missing::Job(2), JOB_SYMBOLS[2]),
            }
        })
    }

    /// `FaxDevReceive`.
    ///
    /// # Safety
    ///
    /// Called by the fax service with `FaxDevReceive`'s arguments.
    pub unsafe fn receive(
        kind: ProxyKind,
        fax_handle: HANDLE,
        call: u32,
        fax_receive: *mut c_void,
    ) -> BOOL {
        guarded(JOB_SYMBOLS[3], FALSE, || {
            let Some(inst) = instance(kind) else {
                return FALSE;
            };
            match inst.entry.job.receive {
                // SAFETY: the real export, with the service's arguments unchanged.
                Some(f) => generic(inst, JOB_SYMBOLS[3], || unsafe {
                    f(fax_handle, call, fax_receive)
                }),
                None => missing(inst, Missing::Job(3), JOB_SYMBOLS[3]),
            }
        })
    }

    /// `FaxDevReportStatus`.
    ///
    /// # Safety
    ///
    /// Called by the fax service with `FaxDevReportStatus`'s arguments.
    pub unsafe fn report_status(
        kind: ProxyKind,
        fax_handle: HANDLE,
        status: *mut c_void,
        size: u32,
        required: *mut u32,
    ) -> BOOL {
        guarded(JOB_SYMBOLS[4], FALSE, || {
            let Some(inst) = instance(kind) else {
                return FALSE;
            };
            match inst.entry.job.report_status {
                // SAFETY: the real export, with the service's arguments unchanged.
                Some(f) => generic(inst, JOB_SYMBOLS[4], || unsafe {
                    f(fax_handle, status, size, required)
                }),
                None => missing(inst, Missing::Job(4), JOB_SYMBOLS[4]),
            }
        })
    }

    /// `FaxDevAbortOperation`.
    ///
    /// # Safety
    ///
    /// Called by the fax service with a job handle.
    pub unsafe fn abort_operation(kind: ProxyKind, fax_handle: HANDLE) -> BOOL {
        guarded(JOB_SYMBOLS[5], FALSE, || {
            let Some(inst) = instance(kind) else {
                return FALSE;
            };
            match inst.entry.job.abort_operation {
                // SAFETY: the real export, with the service's arguments unchanged.
                Some(f) => generic(inst, JOB_SYMBOLS[5], || unsafe { f(fax_handle) }),
                None => missing(inst, Missing::Job(5), JOB_SYMBOLS[5]),
            }
        })
    }
}

/// `FaxsimRouteMethod<n>`: the routing method bound to forwarder `n` by the
/// configuration's `methods`.
///
/// # Safety
///
/// Called by the fax service with a routing method's arguments.
pub unsafe fn route_method(
    kind: ProxyKind,
    n: usize,
    route: *const c_void,
    failure_data: *mut *mut c_void,
    failure_size: *mut u32,
) -> BOOL {
    guarded("a routing method forwarder", FALSE, || {
        let Some(inst) = instance(kind) else {
            return FALSE;
        };
        match inst.methods.get(n) {
            Some((name, Some(f))) => {
                let f = *f;
                // SAFETY: the export the configuration bound, with the service's
                // arguments unchanged.
                generic(inst, name, || unsafe {
                    f(route, failure_data, failure_size)
                })
            }
            Some((name, None)) => missing(inst, Missing::Method(n), name),
            None => missing(
                inst,
                Missing::Method(n.min(ROUTE_METHODS - 1)),
                &format!("FaxsimRouteMethod{n} (no `methods` entry binds it)"),
            ),
        }
    })
}
