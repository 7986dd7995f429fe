//! What the real extension gets instead of the service's pointers: the five service
//! callbacks as recording wrappers, and a pool of ConfigChange wrappers (one per
//! distinct ConfigChange pointer the extension registers) that the service gets
//! instead of the extension's.
//!
//! Each wrapper records the call, forwards it unchanged (but for the hInst translation,
//! see [`translate_hinst`]), records the return, and leaves the thread's last error as
//! the callee left it. No lock is held while the service or the extension runs.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use faxsim_abi::{
    E_FAIL, ERROR_GEN_FAILURE, ERROR_SUCCESS, HANDLE, HINSTANCE, HRESULT, PCWSTR,
    PFAX_EXT_CONFIG_CHANGE, PFAX_EXT_FREE_BUFFER, PFAX_EXT_GET_DATA, PFAX_EXT_REGISTER_FOR_EVENTS,
    PFAX_EXT_SET_DATA, PFAX_EXT_UNREGISTER_FOR_EVENTS,
};
use faxsim_trace::{EventKind, HInstArg, ServiceInput};

use crate::instance::{Instance, current, guarded};
use crate::log;
use crate::platform::{last_error, set_last_error};
use crate::record::State;

/// Longest GUID string read from C, in UTF-16 units, as faxsim's host reads it (a braced
/// GUID is 38): an unterminated string is cut there.
pub const MAX_GUID_UNITS: usize = 256;

/// A UTF-16 string read from C into a fixed buffer (no allocation on the hot path).
pub struct Wide {
    buf: [u16; MAX_GUID_UNITS],
    len: usize,
}

impl Wide {
    /// The units read.
    pub fn units(&self) -> &[u16] {
        &self.buf[..self.len]
    }
}

/// The first byte at which the GUID string at `p` now differs from `before` (read before
/// the call): the extension wrote into the service's read-only string.
///
/// # Safety
///
/// As [`read_wide`] with `max` = [`MAX_GUID_UNITS`].
pub unsafe fn guid_written(p: *const u16, before: Option<&Wide>) -> Option<u32> {
    let before = before?;
    // SAFETY: per the contract.
    let after = unsafe { read_wide(p, MAX_GUID_UNITS) }?;
    let (a, b) = (after.units(), before.units());
    if a == b {
        return None;
    }
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Some((i * 2) as u32)
}

/// Reads a NUL-terminated UTF-16 string of at most `max` units (`None` for NULL).
///
/// # Safety
///
/// `p` is NULL or points to readable UTF-16 units up to a NUL or `max` units, and `max`
/// is at most [`MAX_GUID_UNITS`].
pub unsafe fn read_wide(p: *const u16, max: usize) -> Option<Wide> {
    if p.is_null() {
        return None;
    }
    let mut w = Wide {
        buf: [0; MAX_GUID_UNITS],
        len: 0,
    };
    for i in 0..max.min(MAX_GUID_UNITS) {
        // SAFETY: per the contract, every unit up to the NUL (or `max`) is readable.
        let u = unsafe { *p.add(i) };
        if u == 0 {
            break;
        }
        w.buf[i] = u;
        w.len = i + 1;
    }
    Some(w)
}

/// A copy of `len` bytes at `p` (`None` for NULL).
///
/// # Safety
///
/// `p` is NULL or readable for `len` bytes.
pub unsafe fn read_bytes(p: *const u8, len: usize) -> Option<Arc<[u8]>> {
    if p.is_null() {
        return None;
    }
    if len == 0 {
        return Some(Arc::from(&[][..]));
    }
    // SAFETY: per the contract.
    Some(Arc::from(unsafe { std::slice::from_raw_parts(p, len) }))
}

/// The hInst the extension passed, as recorded and as forwarded: its own module handle
/// (the real library's) becomes the proxy's, which is how the service knows the
/// extension, so the service's self-exclusion works as it would without the proxy;
/// NULL stays NULL (the extension's bug is kept); any other value is forwarded as is.
pub fn translate_hinst(st: &mut State, inst: &Instance, hinst: HINSTANCE) -> (HInstArg, HINSTANCE) {
    let value = hinst as usize;
    let arg = st.hinst(value, inst.real_hinst);
    let forwarded = match arg {
        HInstArg::Ext(_) => inst.proxy_hinst as HINSTANCE,
        _ => hinst,
    };
    (arg, forwarded)
}

/// The callbacks to hand the real extension for the service's `service` callbacks:
/// a wrapper for each non-NULL one (a NULL the service passed is passed on).
pub fn for_extension(
    inst: &Instance,
) -> (
    PFAX_EXT_GET_DATA,
    PFAX_EXT_SET_DATA,
    PFAX_EXT_REGISTER_FOR_EVENTS,
    PFAX_EXT_UNREGISTER_FOR_EVENTS,
    PFAX_EXT_FREE_BUFFER,
) {
    let s = &inst.service;
    (
        s.get_data().map(|_| get_data as _),
        s.set_data().map(|_| set_data as _),
        s.register().map(|_| register as _),
        s.unregister().map(|_| unregister as _),
        s.free_buffer().map(|_| free_buffer as _),
    )
}

unsafe extern "system" fn get_data(
    device: u32,
    source: i32,
    guid: PCWSTR,
    pp_data: *mut *mut u8,
    pdw_size: *mut u32,
) -> u32 {
    guarded("FaxExtGetData", ERROR_GEN_FAILURE, || {
        let Some(inst) = current() else {
            return ERROR_GEN_FAILURE;
        };
        let Some(f) = inst.service.get_data() else {
            return ERROR_GEN_FAILURE;
        };
        let e = last_error();
        // SAFETY: the ABI makes the GUID NULL or a NUL-terminated UTF-16 string.
        let units = unsafe { read_wide(guid, MAX_GUID_UNITS) };
        let null_out = pp_data.is_null() || pdw_size.is_null();
        {
            let mut st = inst.rec.lock();
            let guid = st.guid(units.as_ref().map(Wide::units));
            st.emit(EventKind::GetDataCall {
                device,
                source,
                guid,
                null_out,
            });
        }
        set_last_error(e);
        // SAFETY: the service's own GetData, called with the extension's arguments.
        let code = unsafe { f(device, source, guid, pp_data, pdw_size) };
        let e = last_error();
        let handed = (code == ERROR_SUCCESS && !null_out).then(|| {
            // SAFETY: on success the service wrote a buffer pointer and its size through
            // the (checked non-NULL) out-pointers, and the buffer holds that many bytes.
            unsafe {
                let ptr = *pp_data;
                (ptr, read_bytes(ptr, *pdw_size as usize))
            }
        });
        {
            let mut st = inst.rec.lock();
            let (buffer, data) = match handed {
                Some((ptr, bytes)) => (
                    Some(st.new_buffer(ptr as usize)),
                    Some(bytes.unwrap_or_else(|| Arc::from(&[][..]))),
                ),
                None => (None, None),
            };
            st.emit(EventKind::GetDataReturn {
                code,
                buffer,
                data,
                injected: false,
            });
        }
        set_last_error(e);
        code
    })
}

unsafe extern "system" fn set_data(
    hinst: HINSTANCE,
    device: u32,
    source: i32,
    guid: PCWSTR,
    data: *mut u8,
    size: u32,
) -> u32 {
    guarded("FaxExtSetData", ERROR_GEN_FAILURE, || {
        let Some(inst) = current() else {
            return ERROR_GEN_FAILURE;
        };
        let Some(f) = inst.service.set_data() else {
            return ERROR_GEN_FAILURE;
        };
        let e = last_error();
        // SAFETY: the ABI makes the GUID NULL or a NUL-terminated UTF-16 string.
        let units = unsafe { read_wide(guid, MAX_GUID_UNITS) };
        // SAFETY: the ABI makes `pData` readable for `dwDataSize` bytes (the service
        // copies it too).
        let bytes = unsafe { read_bytes(data, size as usize) };
        let forwarded = {
            let mut st = inst.rec.lock();
            let (arg, forwarded) = translate_hinst(&mut st, inst, hinst);
            let guid = st.guid(units.as_ref().map(Wide::units));
            st.emit(EventKind::SetDataCall {
                hinst: arg,
                device,
                source,
                guid,
                data: bytes,
                size,
            });
            forwarded
        };
        set_last_error(e);
        // SAFETY: the service's own SetData with the extension's arguments (the hInst
        // translated to the module handle the service knows).
        let code = unsafe { f(forwarded, device, source, guid, data, size) };
        let e = last_error();
        inst.rec.lock().emit(EventKind::SetDataReturn {
            code,
            injected: false,
        });
        set_last_error(e);
        code
    })
}

unsafe extern "system" fn register(
    hinst: HINSTANCE,
    device: u32,
    source: i32,
    guid: PCWSTR,
    callback: PFAX_EXT_CONFIG_CHANGE,
) -> HANDLE {
    guarded("FaxExtRegisterForEvents", std::ptr::null_mut(), || {
        let Some(inst) = current() else {
            set_last_error(ERROR_GEN_FAILURE);
            return std::ptr::null_mut();
        };
        let Some(f) = inst.service.register() else {
            set_last_error(ERROR_GEN_FAILURE);
            return std::ptr::null_mut();
        };
        let e = last_error();
        // SAFETY: the ABI makes the GUID NULL or a NUL-terminated UTF-16 string.
        let units = unsafe { read_wide(guid, MAX_GUID_UNITS) };
        let (forwarded, forwarded_cb, guid_arc) = {
            let mut st = inst.rec.lock();
            let (arg, forwarded) = translate_hinst(&mut st, inst, hinst);
            let guid_arc = st.guid(units.as_ref().map(Wide::units));
            let id = callback.map(|cb| st.callback(cb as usize));
            let forwarded_cb = callback.map(|cb| pool::wrapper_for(cb).unwrap_or(cb));
            st.emit(EventKind::RegisterCall {
                hinst: arg,
                device,
                source,
                guid: guid_arc.clone(),
                callback: id,
            });
            (forwarded, forwarded_cb, guid_arc)
        };
        set_last_error(e);
        // SAFETY: the service's own Register with the extension's arguments (the hInst
        // translated, the ConfigChange pointer replaced by its recording wrapper, which
        // calls the extension's).
        let h = unsafe { f(forwarded, device, source, guid, forwarded_cb) };
        let e = last_error();
        {
            let mut st = inst.rec.lock();
            let handle = (!h.is_null()).then(|| {
                st.new_handle(
                    h as usize,
                    callback.map_or(0, |cb| cb as usize),
                    device,
                    guid_arc,
                )
            });
            st.emit(EventKind::RegisterReturn {
                handle,
                last_error: if h.is_null() { e } else { ERROR_SUCCESS },
                injected: false,
            });
        }
        // The failure reason the service set, whatever recording did meanwhile.
        set_last_error(e);
        h
    })
}

unsafe extern "system" fn unregister(handle: HANDLE) -> u32 {
    guarded("FaxExtUnregisterForEvents", ERROR_GEN_FAILURE, || {
        let Some(inst) = current() else {
            return ERROR_GEN_FAILURE;
        };
        let Some(f) = inst.service.unregister() else {
            return ERROR_GEN_FAILURE;
        };
        let e = last_error();
        let arg = {
            let mut st = inst.rec.lock();
            let arg = st.handle_arg(handle as usize);
            st.emit(EventKind::UnregisterCall { handle: arg });
            arg
        };
        set_last_error(e);
        // SAFETY: the service's own Unregister with the extension's handle.
        let code = unsafe { f(handle) };
        let e = last_error();
        {
            let mut st = inst.rec.lock();
            if code == ERROR_SUCCESS {
                st.unregistered(arg);
            }
            st.emit(EventKind::UnregisterReturn {
                code,
                injected: false,
            });
        }
        set_last_error(e);
        code
    })
}

unsafe extern "system" fn free_buffer(buffer: *mut c_void) {
    guarded("FaxExtFreeBuffer", (), || {
        let Some(inst) = current() else { return };
        let Some(f) = inst.service.free_buffer() else {
            return;
        };
        let e = last_error();
        {
            let mut st = inst.rec.lock();
            let arg = st.buffer_arg(buffer as usize);
            st.emit(EventKind::FreeBufferCall { buffer: arg });
        }
        set_last_error(e);
        // SAFETY: the service's own FreeBuffer with the extension's pointer, whatever it
        // is: the service decides what to do with it, as without the proxy.
        unsafe { f(buffer) };
        let e = last_error();
        inst.rec.lock().emit(EventKind::FreeBufferReturn);
        set_last_error(e);
    })
}

/// The ConfigChange wrappers: [`pool::SIZE`] monomorphised functions, each bound to one
/// distinct ConfigChange pointer of the extension the first time it is registered.
pub mod pool {
    use super::*;

    /// How many distinct ConfigChange pointers are recorded; more are passed to the
    /// service unwrapped (and their notifications go unrecorded).
    pub const SIZE: usize = 64;

    type ChangeFn = unsafe extern "system" fn(u32, PCWSTR, *mut u8, u32) -> HRESULT;

    /// The extension's function behind each wrapper.
    static BOUND: [AtomicPtr<c_void>; SIZE] =
        [const { AtomicPtr::new(std::ptr::null_mut()) }; SIZE];
    static USED: AtomicUsize = AtomicUsize::new(0);
    static EXHAUSTED_LOGGED: AtomicBool = AtomicBool::new(false);

    macro_rules! wrappers {
        ($($n:literal)*) => { [$(change::<$n> as ChangeFn,)*] };
    }

    static WRAPPERS: [ChangeFn; SIZE] = wrappers!(
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
        61 62 63
    );

    /// The wrapper for `f` (bound now if it is new); `None` when the pool is exhausted.
    /// Callers hold the recording lock, which serialises binding.
    pub fn wrapper_for(f: ChangeFn) -> Option<ChangeFn> {
        let p = f as *mut c_void;
        let used = USED.load(Ordering::Acquire);
        if let Some(i) = (0..used).find(|&i| BOUND[i].load(Ordering::Acquire) == p) {
            return Some(WRAPPERS[i]);
        }
        if used == SIZE {
            if !EXHAUSTED_LOGGED.swap(true, Ordering::Relaxed) {
                log::problem(&format!(
                    "the extension registered more than {SIZE} distinct ConfigChange functions; the others are passed to the service unwrapped and their notifications are not recorded"
                ));
            }
            return None;
        }
        BOUND[used].store(p, Ordering::Release);
        USED.store(used + 1, Ordering::Release);
        Some(WRAPPERS[used])
    }

    unsafe extern "system" fn change<const K: usize>(
        device: u32,
        guid: PCWSTR,
        data: *mut u8,
        size: u32,
    ) -> HRESULT {
        let p = BOUND[K].load(Ordering::Acquire);
        if p.is_null() {
            return E_FAIL; // never handed out unbound
        }
        // SAFETY: `p` was stored from a `ChangeFn` by `wrapper_for`.
        let f = unsafe { std::mem::transmute::<*mut c_void, ChangeFn>(p) };
        guarded("a ConfigChange wrapper", E_FAIL, || {
            let Some(inst) = current() else {
                // SAFETY: the extension's ConfigChange, called as the service called us.
                return unsafe { f(device, guid, data, size) };
            };
            let e = last_error();
            // SAFETY: the ABI makes the GUID a NUL-terminated UTF-16 string.
            let units = unsafe { read_wide(guid, MAX_GUID_UNITS) };
            // SAFETY: `lpData` is the service's, readable for `dwDataSize` bytes for the
            // call; never read past that.
            let before = unsafe { read_bytes(data, size as usize) };
            let (handle, delivery) = {
                let mut st = inst.rec.lock();
                let guid = st
                    .guid(units.as_ref().map(Wide::units))
                    .unwrap_or_else(|| Arc::from(""));
                let handle = st.registration_for(f as usize, device, &guid);
                let callback = st.callback(f as usize);
                let delivery = st.emit(EventKind::ConfigChangeCall {
                    handle,
                    callback,
                    device,
                    guid,
                    data: before.clone().unwrap_or_else(|| Arc::from(&[][..])),
                    cause: None,
                });
                if !data.is_null() {
                    st.change_begins(data as usize, delivery);
                }
                (handle, delivery)
            };
            set_last_error(e);
            // SAFETY: the extension's ConfigChange with the service's arguments.
            let hr = unsafe { f(device, guid, data, size) };
            let e = last_error();
            // SAFETY: as above: the GUID is still the service's NUL-terminated string.
            let guid_written = unsafe { guid_written(guid, units.as_ref()) };
            let written = before.as_ref().and_then(|b| {
                // SAFETY: as above: `lpData` is still valid (the service's call to us
                // has not returned) for `dwDataSize` bytes.
                let after = unsafe { std::slice::from_raw_parts(data, size as usize) };
                after.iter().zip(b.iter()).position(|(a, b)| a != b)
            });
            {
                let mut st = inst.rec.lock();
                st.change_ends(delivery);
                if let Some(offset) = guid_written {
                    st.emit(EventKind::InputWritten {
                        call: delivery,
                        input: ServiceInput::Guid,
                        offset,
                    });
                }
                if let Some(offset) = written {
                    st.emit(EventKind::ChangeDataWritten {
                        delivery,
                        offset: offset as u32,
                    });
                }
                st.emit(EventKind::ConfigChangeReturn { handle, hr });
            }
            set_last_error(e);
            hr
        })
    }
}
