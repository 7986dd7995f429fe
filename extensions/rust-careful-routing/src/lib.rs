//! A careful routing extension in Rust, on `faxsim-abi`: a template to copy.
//!
//! It keeps a 4-byte "enabled" flag per device under [`FLAGS_GUID`] (global data on device
//! 0 is the default), the way Microsoft's routing sample does. It follows every rule
//! `faxsim validate` checks:
//! - it uses the callbacks only after `FaxExtInitializeConfig` handed them out;
//! - it copies every GetData buffer and frees it exactly once, through FreeBuffer;
//! - it talks logical device ids (`DEV_ID_SRC_FAX`), passes its own module handle;
//! - it never registers twice for one key, never registers or unregisters from inside a
//!   notification, and never writes into (or frees) a notification's `lpData`;
//! - it never holds its lock while calling the service (a notification can arrive on
//!   the calling thread, from inside a callback).
//!
//! Build it with `cargo build -p rust-careful-routing` and run
//! `faxsim validate target/debug/librust_careful_routing.so`.
//!
//! The `unsafe` here is the extension's side of the C ABI (exports called by the
//! service, service callbacks called through pointers), documented block by block.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard, PoisonError};

use faxsim_abi::{
    BOOL, DEV_ID_SRC_FAX, ERROR_SUCCESS, FALSE, FAX_ROUTE_CALLBACKROUTINES, HANDLE, HINSTANCE,
    HRESULT, NOERROR, PCWSTR, PFAX_EXT_FREE_BUFFER, PFAX_EXT_GET_DATA,
    PFAX_EXT_REGISTER_FOR_EVENTS, PFAX_EXT_SET_DATA, PFAX_EXT_UNREGISTER_FOR_EVENTS, S_OK, TRUE,
    is_null_or_invalid_handle,
};

/// The GUID the flags live under.
pub const FLAGS_GUID: &str = "{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}";

/// The service callbacks, as FaxExtInitializeConfig handed them out.
#[derive(Clone, Copy)]
struct Service {
    get_data: PFAX_EXT_GET_DATA,
    register: PFAX_EXT_REGISTER_FOR_EVENTS,
    unregister: PFAX_EXT_UNREGISTER_FOR_EVENTS,
    free_buffer: PFAX_EXT_FREE_BUFFER,
}

struct State {
    service: Option<Service>,
    /// Registration handles per device, as addresses (HANDLE is not Send).
    handles: BTreeMap<u32, usize>,
    flags: BTreeMap<u32, Vec<u8>>,
}

static STATE: Mutex<State> = Mutex::new(State {
    service: None,
    handles: BTreeMap::new(),
    flags: BTreeMap::new(),
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

/// This library's module handle: what SetData and Register expect as hInst.
fn module_handle() -> HINSTANCE {
    let addr = module_handle as *const c_void;
    #[cfg(unix)]
    {
        // SAFETY: Dl_info is plain data; all-zero is valid.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the loader's tables and fills `info`.
        if unsafe { libc::dladdr(addr, &mut info) } != 0 {
            return info.dli_fbase;
        }
        std::ptr::null_mut()
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::LibraryLoader::{
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            GetModuleHandleExW,
        };
        let mut module = std::ptr::null_mut();
        // SAFETY: FROM_ADDRESS takes an address inside a module; `module` is a valid out
        // pointer.
        let ok = unsafe {
            GetModuleHandleExW(
                GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                    | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                addr.cast(),
                &mut module,
            )
        };
        if ok != 0 {
            module
        } else {
            std::ptr::null_mut()
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = addr;
        std::ptr::null_mut()
    }
}

/// Reads (device, FLAGS_GUID): a copy of the bytes, the buffer freed once. `None` when
/// there is no value (ERROR_FILE_NOT_FOUND) or the read failed.
fn read_flags(svc: Service, device: u32) -> Option<Vec<u8>> {
    let (get_data, free_buffer) = (svc.get_data?, svc.free_buffer?);
    let guid = wide(FLAGS_GUID);
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size = 0u32;
    // SAFETY: a service callback with valid arguments: a NUL-terminated GUID and two
    // out-pointers that live for the call.
    let code = unsafe { get_data(device, DEV_ID_SRC_FAX, guid.as_ptr(), &mut data, &mut size) };
    if code != ERROR_SUCCESS || data.is_null() {
        return None;
    }
    // SAFETY: on success the service's buffer holds `size` bytes until FreeBuffer.
    let copy = unsafe { std::slice::from_raw_parts(data, size as usize) }.to_vec();
    // SAFETY: a buffer GetData returned, freed exactly once.
    unsafe { free_buffer(data.cast()) };
    Some(copy)
}

/// Reads and registers for `device` (once).
fn watch(device: u32) {
    let Some(svc) = state().service else { return };
    let value = read_flags(svc, device).or_else(|| read_flags(svc, 0));
    let mut st = state();
    if let Some(v) = value {
        st.flags.insert(device, v);
    }
    if st.handles.contains_key(&device) {
        return;
    }
    drop(st);
    let Some(register) = svc.register else { return };
    let guid = wide(FLAGS_GUID);
    // SAFETY: a service callback: our own module handle, a NUL-terminated GUID, and a
    // handler with the ConfigChange signature that lives as long as the library.
    let h = unsafe {
        register(
            module_handle(),
            device,
            DEV_ID_SRC_FAX,
            guid.as_ptr(),
            Some(config_change),
        )
    };
    if !is_null_or_invalid_handle(h) {
        state().handles.insert(device, h as usize);
    }
}

/// The ConfigChange handler: keeps a copy; never writes into or frees `lpData`.
unsafe extern "system" fn config_change(
    device: u32,
    _guid: PCWSTR,
    data: *mut u8,
    size: u32,
) -> HRESULT {
    if !data.is_null() {
        // SAFETY: the service passes `size` readable bytes for the call's duration.
        let copy = unsafe { std::slice::from_raw_parts(data, size as usize) }.to_vec();
        state().flags.insert(device, copy);
    }
    NOERROR
}

/// Receives the five service callbacks.
///
/// # Safety
///
/// Called by the fax service with valid callback pointers.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FaxExtInitializeConfig(
    get_data: PFAX_EXT_GET_DATA,
    _set_data: PFAX_EXT_SET_DATA,
    register: PFAX_EXT_REGISTER_FOR_EVENTS,
    unregister: PFAX_EXT_UNREGISTER_FOR_EVENTS,
    free_buffer: PFAX_EXT_FREE_BUFFER,
) -> HRESULT {
    let mut st = state();
    st.service = Some(Service {
        get_data,
        register,
        unregister,
        free_buffer,
    });
    st.handles.clear();
    st.flags.clear();
    S_OK
}

/// General init: watch the global value.
///
/// # Safety
///
/// Called by the fax service.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FaxRouteInitialize(
    _heap: HANDLE,
    _callbacks: *mut FAX_ROUTE_CALLBACKROUTINES,
) -> BOOL {
    watch(0);
    TRUE
}

/// A device arrived (watch it) or went away (stop watching it).
///
/// # Safety
///
/// Called by the fax service.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FaxRouteDeviceChangeNotification(device: u32, new: BOOL) -> BOOL {
    if new != FALSE {
        watch(device);
        return TRUE;
    }
    let (handle, svc) = {
        let mut st = state();
        st.flags.remove(&device);
        (st.handles.remove(&device), st.service)
    };
    if let (
        Some(h),
        Some(Service {
            unregister: Some(unregister),
            ..
        }),
    ) = (handle, svc)
    {
        // SAFETY: a handle Register returned to us, unregistered once.
        unsafe { unregister(std::ptr::without_provenance_mut(h)) };
    }
    TRUE
}

/// The routing method's state on a device (this template has one method, always on).
///
/// # Safety
///
/// Called by the fax service.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FaxRouteDeviceEnable(
    _routing_guid: PCWSTR,
    _device: u32,
    _enabled: i32,
) -> BOOL {
    TRUE
}

/// No per-method routing info in this template.
///
/// # Safety
///
/// Called by the fax service.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FaxRouteGetRoutingInfo(
    _routing_guid: PCWSTR,
    _device: u32,
    _info: *mut u8,
    _size: *mut u32,
) -> BOOL {
    FALSE
}

/// No per-method routing info in this template.
///
/// # Safety
///
/// Called by the fax service.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn FaxRouteSetRoutingInfo(
    _routing_guid: PCWSTR,
    _device: u32,
    _info: *const u8,
    _size: u32,
) -> BOOL {
    FALSE
}

/// What the extension currently believes for `device` (for tests of your own).
pub fn flags(device: u32) -> Option<Vec<u8>> {
    state().flags.get(&device).cloned()
}
