//! The two things that differ per system: a library's module handle (hInst) and how a
//! failure reason reaches C code after Register returns NULL.

use std::ffi::c_void;

/// The module handle of the library containing `addr`: on Windows its `HINSTANCE`, from
/// `GetModuleHandleExW(FROM_ADDRESS)`; elsewhere the base address `dladdr` reports
/// (`dli_fbase`), which is what `faxsim_module_handle()` in the C header returns.
#[cfg(unix)]
pub(crate) fn module_base(addr: *const c_void) -> Option<u64> {
    // SAFETY: `Dl_info` is plain data (pointers and integers); all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only looks `addr` up in the loader's tables and fills `info`, which
    // lives for the call.
    let found = unsafe { libc::dladdr(addr, &mut info) };
    (found != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize as u64)
}

/// See the Unix variant.
#[cfg(windows)]
pub(crate) fn module_base(addr: *const c_void) -> Option<u64> {
    use windows_sys::Win32::System::LibraryLoader::{
        GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
        GetModuleHandleExW,
    };
    let mut module = std::ptr::null_mut();
    // SAFETY: with FROM_ADDRESS the "name" is an address inside a module, which is how the
    // API is documented to be used; `module` is a valid out-pointer for the call and the
    // reference count is left alone.
    let ok = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            addr.cast::<u16>(),
            &mut module,
        )
    };
    (ok != 0).then_some(module as usize as u64)
}

/// Systems with neither: the service's made-up handle stays.
#[cfg(not(any(unix, windows)))]
pub(crate) fn module_base(_addr: *const c_void) -> Option<u64> {
    None
}

/// Makes `code` the calling thread's last error: `SetLastError` on Windows; elsewhere
/// `errno`, which C code reads right after Register returned NULL (`errno == ERROR_BUSY`;
/// the values are the Win32 codes, not errno constants).
#[cfg(windows)]
pub(crate) fn set_last_error(code: u32) {
    // SAFETY: SetLastError has no preconditions; it writes the calling thread's TEB.
    unsafe { windows_sys::Win32::Foundation::SetLastError(code) }
}

/// See the Windows variant.
#[cfg(unix)]
pub(crate) fn set_last_error(code: u32) {
    errno::set_errno(errno::Errno(code as i32));
}

/// See the Windows variant.
#[cfg(not(any(unix, windows)))]
pub(crate) fn set_last_error(_code: u32) {}
