//! The trampoline pool: [`POOL_SIZE`] slots, each a set of the five service callbacks as
//! monomorphised `extern "system"` functions. A library bound to slot `S` gets
//! `get_data::<S>` and friends, so each call names its extension by the function it
//! entered through, whatever thread makes it.
//!
//! No panic crosses back into C: every body runs under `catch_unwind`, and a panic
//! becomes `ERROR_GEN_FAILURE` (NULL for Register) plus a host note.

use std::panic::{AssertUnwindSafe, catch_unwind};

use faxsim_abi::{
    ERROR_GEN_FAILURE, ERROR_SUCCESS, HANDLE, HINSTANCE, PCWSTR, PFAX_EXT_CONFIG_CHANGE,
    PFAX_EXT_FREE_BUFFER, PFAX_EXT_GET_DATA, PFAX_EXT_REGISTER_FOR_EVENTS, PFAX_EXT_SET_DATA,
    PFAX_EXT_UNREGISTER_FOR_EVENTS, is_invalid_handle_value,
};
use faxsim_sim::{Callbacks, HInst, UnregisterArg};
use faxsim_trace::CallbackId;

use crate::platform::set_last_error;
use crate::shared::{EnterError, POOL_SIZE, enter, lock};

/// The five callbacks of one slot, as `FaxExtInitializeConfig` receives them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotFns {
    pub get_data: PFAX_EXT_GET_DATA,
    pub set_data: PFAX_EXT_SET_DATA,
    pub register: PFAX_EXT_REGISTER_FOR_EVENTS,
    pub unregister: PFAX_EXT_UNREGISTER_FOR_EVENTS,
    pub free_buffer: PFAX_EXT_FREE_BUFFER,
}

macro_rules! pool {
    ($($n:literal)*) => {
        [$(SlotFns {
            get_data: Some(get_data::<$n>),
            set_data: Some(set_data::<$n>),
            register: Some(register::<$n>),
            unregister: Some(unregister::<$n>),
            free_buffer: Some(free_buffer::<$n>),
        },)*]
    };
}

/// Every slot's callbacks.
pub(crate) static POOL: [SlotFns; POOL_SIZE] = pool!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
    62 63
);

/// Longest GUID string read from C, in UTF-16 units (a braced GUID is 38); anything
/// longer is invalid whatever follows, so reading stops there.
const MAX_GUID_UNITS: usize = 256;

/// Reads a NUL-terminated UTF-16 GUID string from C (`None` for NULL); see
/// [`read_wide_upto`].
///
/// # Safety
///
/// As for [`read_wide_upto`] with `MAX_GUID_UNITS`.
unsafe fn read_wide(p: PCWSTR) -> Option<String> {
    // SAFETY: this function's contract.
    unsafe { read_wide_upto(p, MAX_GUID_UNITS) }
}

/// Reads a NUL-terminated UTF-16 string from C (`None` for NULL); bad UTF-16 becomes
/// U+FFFD and an unterminated string is cut at `max` units.
///
/// # Safety
///
/// `p` is NULL or points to readable UTF-16 units up to a NUL or `max` units.
pub(crate) unsafe fn read_wide_upto(p: PCWSTR, max: usize) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut units = Vec::new();
    for i in 0..max {
        // SAFETY: per this function's contract, every unit up to the NUL is readable.
        let u = unsafe { *p.add(i) };
        if u == 0 {
            break;
        }
        units.push(u);
    }
    Some(String::from_utf16_lossy(&units))
}

/// Runs a trampoline body, turning a panic into `fallback` and a note.
pub(crate) fn guarded<R>(what: &str, fallback: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            lock().notes.push(format!(
                "internal error in {what} (answered ERROR_GEN_FAILURE): {msg}"
            ));
            fallback
        }
    }
}

fn code_of(e: EnterError) -> u32 {
    match e {
        EnterError::Unbound | EnterError::Timeout => ERROR_GEN_FAILURE,
    }
}

extern "system" fn get_data<const S: usize>(
    device: u32,
    source: i32,
    guid: PCWSTR,
    pp_data: *mut *mut u8,
    pdw_size: *mut u32,
) -> u32 {
    guarded("FaxExtGetData", ERROR_GEN_FAILURE, || {
        // SAFETY: the ABI requires NULL or a NUL-terminated UTF-16 GUID string.
        let guid = unsafe { read_wide(guid) };
        let null_out = pp_data.is_null() || pdw_size.is_null();
        let r = enter(S, |cb| {
            let r = cb.get_data_raw(device, source, guid.as_deref(), null_out);
            r.map(|id| (cb.ext(), id, cb.buffer_copy(id).unwrap_or_default()))
        });
        match r {
            Ok(Ok((ext, id, bytes))) if !null_out => {
                let ptr = lock().heap.allocate(ext, id, &bytes);
                // SAFETY: both out-pointers were checked non-NULL; the ABI makes them
                // writable for the call.
                unsafe {
                    *pp_data = ptr;
                    *pdw_size = bytes.len() as u32;
                }
                ERROR_SUCCESS
            }
            Ok(Ok(_)) => ERROR_GEN_FAILURE,
            Ok(Err(code)) => code,
            Err(e) => code_of(e),
        }
    })
}

extern "system" fn set_data<const S: usize>(
    hinst: HINSTANCE,
    device: u32,
    source: i32,
    guid: PCWSTR,
    data: *mut u8,
    size: u32,
) -> u32 {
    guarded("FaxExtSetData", ERROR_GEN_FAILURE, || {
        // SAFETY: the ABI requires NULL or a NUL-terminated UTF-16 GUID string.
        let guid = unsafe { read_wide(guid) };
        let bytes = (!data.is_null()).then(|| {
            // SAFETY: the ABI makes `pData` readable for `dwDataSize` bytes; the service
            // copies it before returning, as here.
            unsafe { std::slice::from_raw_parts(data, size as usize) }.to_vec()
        });
        let hinst = HInst(hinst as usize as u64);
        enter(S, |cb| {
            cb.set_data_raw(
                hinst,
                device,
                source,
                guid.as_deref(),
                bytes.as_deref(),
                size,
            )
        })
        .unwrap_or_else(code_of)
    })
}

/// The id of ConfigChange pointer `f` of the calling extension (a new one the first time).
fn callback_id(
    slot: usize,
    cb: &mut Callbacks<'_>,
    f: PFAX_EXT_CONFIG_CHANGE,
) -> Option<CallbackId> {
    let f = f?;
    let addr = f as usize;
    let known = lock()
        .slots
        .get(slot)
        .and_then(|s| s.as_ref())
        .and_then(|s| s.callback_ids.get(&addr).copied());
    if let Some(id) = known {
        return Some(id);
    }
    let id = cb.new_callback();
    if let Some(Some(s)) = lock().slots.get_mut(slot) {
        s.callback_ids.insert(addr, id);
        s.callback_fns.insert(id, f);
    }
    Some(id)
}

extern "system" fn register<const S: usize>(
    hinst: HINSTANCE,
    device: u32,
    source: i32,
    guid: PCWSTR,
    callback: PFAX_EXT_CONFIG_CHANGE,
) -> HANDLE {
    let fail = |code: u32| {
        set_last_error(code);
        std::ptr::null_mut()
    };
    guarded("FaxExtRegisterForEvents", std::ptr::null_mut(), || {
        // SAFETY: the ABI requires NULL or a NUL-terminated UTF-16 GUID string.
        let guid = unsafe { read_wide(guid) };
        let hinst = HInst(hinst as usize as u64);
        let r = enter(S, |cb| {
            let id = callback_id(S, cb, callback);
            cb.register_raw(hinst, device, source, guid.as_deref(), id)
        });
        match r {
            Ok(Ok(handle)) => {
                let value = lock().handles.issue(handle);
                std::ptr::without_provenance_mut(value)
            }
            Ok(Err(code)) => fail(code),
            Err(e) => fail(code_of(e)),
        }
    })
}

extern "system" fn unregister<const S: usize>(handle: HANDLE) -> u32 {
    guarded("FaxExtUnregisterForEvents", ERROR_GEN_FAILURE, || {
        let value = handle.addr();
        let arg = if handle.is_null() {
            UnregisterArg::Null
        } else if is_invalid_handle_value(handle) {
            UnregisterArg::InvalidValue
        } else {
            match lock().handles.lookup(value) {
                Some(id) => UnregisterArg::Handle(id),
                None => UnregisterArg::Foreign(value as u64),
            }
        };
        enter(S, |cb| cb.unregister_raw(arg)).unwrap_or_else(code_of)
    })
}

extern "system" fn free_buffer<const S: usize>(buffer: *mut core::ffi::c_void) {
    guarded("FaxExtFreeBuffer", (), || {
        let freed = lock().heap.free(buffer.addr());
        let _ = enter(S, |cb| {
            cb.free_buffer(freed.arg);
            // Reported by the caller: the finding goes to whoever freed (or evicted) it.
            for (_, id, damage) in freed.damage {
                cb.report_buffer_damage(id, damage);
            }
        });
    });
}
