//! What differs per system: a library's module handle (hInst), how a failure reason
//! reaches C code after Register returns NULL, and the heap the service gives an
//! extension at its general init.

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

/// The heap the service gives one extension at `FaxDevInitialize`/`FaxRouteInitialize`:
/// on Windows a private heap (`HeapCreate`), destroyed when the library is closed, as the
/// service creates one for each extension; elsewhere a non-NULL handle of faxsim's own
/// that the C header's `HeapAlloc`/`HeapFree` helpers accept (they allocate with malloc).
#[derive(Debug)]
pub(crate) struct ExtensionHeap(usize);

impl ExtensionHeap {
    /// A heap for the extension in trampoline slot `slot`.
    #[cfg(windows)]
    pub(crate) fn new(_slot: usize) -> ExtensionHeap {
        // SAFETY: HeapCreate with no flags and growable size has no preconditions; a
        // NULL result (out of memory) is passed on as the service would have nothing to
        // give either.
        let h = unsafe { windows_sys::Win32::System::Memory::HeapCreate(0, 0, 0) };
        ExtensionHeap(h as usize)
    }

    /// See the Windows variant: the address of the slot's marker byte.
    #[cfg(not(windows))]
    pub(crate) fn new(slot: usize) -> ExtensionHeap {
        static MARKERS: [u8; crate::POOL_SIZE] = [0; crate::POOL_SIZE];
        ExtensionHeap(std::ptr::from_ref(&MARKERS[slot.min(crate::POOL_SIZE - 1)]) as usize)
    }

    /// The handle to pass.
    pub(crate) fn handle(&self) -> *mut c_void {
        self.0 as *mut c_void
    }
}

#[cfg(windows)]
impl Drop for ExtensionHeap {
    fn drop(&mut self) {
        if self.0 != 0 {
            // SAFETY: a heap this value created with HeapCreate, destroyed once; the
            // library that allocated from it is closed (or never ran).
            unsafe {
                windows_sys::Win32::System::Memory::HeapDestroy(self.0 as _);
            }
        }
    }
}
