//! What differs per system: module handles and paths, thread ids, the thread's last
//! error, debug output, and (Windows) handing the real library's unload to the next
//! instance of the proxy.

use std::ffi::c_void;
use std::path::PathBuf;

/// The module handle of the library containing `addr`: on Windows its `HMODULE` (from
/// `GetModuleHandleExW(FROM_ADDRESS)`), elsewhere the base address `dladdr` reports
/// (`dli_fbase`), which is what faxsim's host and `faxsim_module_handle()` use as hInst.
#[cfg(unix)]
pub fn module_base(addr: *const c_void) -> Option<usize> {
    // SAFETY: `Dl_info` is plain data (pointers and integers); all-zero is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only looks `addr` up in the loader's tables and fills `info`, which
    // lives for the call.
    let found = unsafe { libc::dladdr(addr, &mut info) };
    (found != 0 && !info.dli_fbase.is_null()).then_some(info.dli_fbase as usize)
}

/// The module handle and file of the library containing `addr`.
#[cfg(unix)]
pub fn module_of(addr: *const c_void) -> Option<(usize, PathBuf)> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: as in `module_base`.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: as in `module_base`.
    let found = unsafe { libc::dladdr(addr, &mut info) };
    if found == 0 || info.dli_fbase.is_null() || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr returned a NUL-terminated file name owned by the loader, valid while
    // the module is loaded (it is: it contains `addr`, our own code); copied at once.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    let path = std::path::absolute(&path).unwrap_or(path);
    Some((info.dli_fbase as usize, path))
}

/// See the Unix variant.
#[cfg(windows)]
pub fn module_base(addr: *const c_void) -> Option<usize> {
    use windows_sys::Win32::System::LibraryLoader::{
        GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
        GetModuleHandleExW,
    };
    let mut module = std::ptr::null_mut();
    // SAFETY: with FROM_ADDRESS the "name" is an address inside a module, as documented;
    // `module` is a valid out-pointer for the call; the reference count is left alone.
    let ok = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            addr.cast::<u16>(),
            &mut module,
        )
    };
    (ok != 0).then_some(module as usize)
}

/// See the Unix variant.
#[cfg(windows)]
pub fn module_of(addr: *const c_void) -> Option<(usize, PathBuf)> {
    use std::os::windows::ffi::OsStringExt;
    use windows_sys::Win32::System::LibraryLoader::GetModuleFileNameW;
    let module = module_base(addr)?;
    let mut buf = vec![0u16; 1024];
    loop {
        // SAFETY: `module` is a loaded module (it contains `addr`); the buffer holds
        // `buf.len()` units for the call.
        let n = unsafe {
            GetModuleFileNameW(module as *mut c_void, buf.as_mut_ptr(), buf.len() as u32)
        } as usize;
        if n == 0 {
            return None;
        }
        if n < buf.len() {
            buf.truncate(n);
            return Some((module, PathBuf::from(std::ffi::OsString::from_wide(&buf))));
        }
        if buf.len() >= 1 << 15 {
            return None;
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// Systems with neither.
#[cfg(not(any(unix, windows)))]
pub fn module_base(_addr: *const c_void) -> Option<usize> {
    None
}

/// Systems with neither.
#[cfg(not(any(unix, windows)))]
pub fn module_of(_addr: *const c_void) -> Option<(usize, PathBuf)> {
    None
}

/// An address inside this library (the proxy).
fn marker() {}

/// The proxy's own module handle and file.
pub fn this_module() -> Option<(usize, PathBuf)> {
    module_of(marker as fn() as *const c_void)
}

/// The calling thread's OS id. On Linux the kernel's thread id (`gettid`), not
/// `pthread_self`: glibc hands a joined thread's `pthread_self` value to the next thread
/// created at once, so a thread the extension started and joined would be recorded as
/// the same thread as a service worker created after it (the kernel's ids cycle through
/// the whole id space first). The system call costs far less than the write of the
/// event. Never a Rust thread-local: on Windows the unload is recorded from `DllMain`,
/// where the library's thread-locals may be gone, and one with a destructor would keep
/// the proxy from unloading.
#[cfg(target_os = "linux")]
pub fn thread_id() -> u64 {
    // SAFETY: the gettid system call has no arguments and no preconditions.
    (unsafe { libc::syscall(libc::SYS_gettid) }) as u64
}

/// See the Linux variant: elsewhere on Unix, `pthread_self`.
#[cfg(all(unix, not(target_os = "linux")))]
pub fn thread_id() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    (unsafe { libc::pthread_self() }) as u64
}

/// See the Linux variant.
#[cfg(windows)]
pub fn thread_id() -> u64 {
    // SAFETY: GetCurrentThreadId has no preconditions.
    u64::from(unsafe { windows_sys::Win32::System::Threading::GetCurrentThreadId() })
}

/// See the Linux variant.
#[cfg(not(any(unix, windows)))]
pub fn thread_id() -> u64 {
    0
}

/// The calling thread's last error: `GetLastError()` on Windows, `errno` elsewhere
/// (where faxsim's host puts Register's failure reason).
#[cfg(windows)]
pub fn last_error() -> u32 {
    // SAFETY: GetLastError has no preconditions.
    unsafe { windows_sys::Win32::Foundation::GetLastError() }
}

/// See the Windows variant.
#[cfg(windows)]
pub fn set_last_error(code: u32) {
    // SAFETY: SetLastError has no preconditions.
    unsafe { windows_sys::Win32::Foundation::SetLastError(code) }
}

/// See the Windows variant.
#[cfg(unix)]
pub fn last_error() -> u32 {
    errno::errno().0 as u32
}

/// See the Windows variant.
#[cfg(unix)]
pub fn set_last_error(code: u32) {
    errno::set_errno(errno::Errno(code as i32));
}

/// See the Windows variant.
#[cfg(not(any(unix, windows)))]
pub fn last_error() -> u32 {
    0
}

/// See the Windows variant.
#[cfg(not(any(unix, windows)))]
pub fn set_last_error(_code: u32) {}

/// Sends a line to the debugger (`OutputDebugStringW`); nothing elsewhere.
#[cfg(windows)]
pub fn debug_output(line: &str) {
    let wide: Vec<u16> = line.encode_utf16().chain([0]).collect();
    // SAFETY: a NUL-terminated UTF-16 string that outlives the call.
    unsafe { windows_sys::Win32::System::Diagnostics::Debug::OutputDebugStringW(wide.as_ptr()) }
}

/// See the Windows variant.
#[cfg(not(windows))]
pub fn debug_output(_line: &str) {}

/// Writes to the process's standard error without Rust's `Stderr` (whose lock takes a
/// thread handle that a library should not create on a foreign thread).
#[cfg(unix)]
pub fn stderr_write(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: writes `rest.len()` readable bytes to file descriptor 2.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// See the Unix variant.
#[cfg(windows)]
pub fn stderr_write(bytes: &[u8]) {
    use windows_sys::Win32::Storage::FileSystem::WriteFile;
    use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE};
    // SAFETY: GetStdHandle has no preconditions.
    let h = unsafe { GetStdHandle(STD_ERROR_HANDLE) };
    if h.is_null() || h == windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE {
        return;
    }
    let mut written = 0u32;
    // SAFETY: `bytes` is readable for its length; `written` is a valid out-pointer; no
    // OVERLAPPED structure.
    unsafe {
        WriteFile(
            h,
            bytes.as_ptr(),
            bytes.len() as u32,
            &mut written,
            std::ptr::null_mut(),
        )
    };
}

/// See the Unix variant.
#[cfg(not(any(unix, windows)))]
pub fn stderr_write(_bytes: &[u8]) {}

/// Windows only: the real library cannot be unloaded from `DllMain` (nothing may call
/// `FreeLibrary` there), so the detaching proxy starts a thread whose start routine is
/// kernel32's own `FreeLibrary` (no proxy code runs in it, so it may outlive the proxy's
/// unmapping), and leaves the thread's handle in a process environment variable named
/// after the real library. The next instance of the proxy, before it loads the real
/// library again, waits for that thread: the load is then a fresh one, with fresh
/// globals, as it would be without the proxy.
#[cfg(windows)]
pub mod pending_unload {
    use std::ffi::c_void;
    use std::path::Path;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::Environment::{
        GetEnvironmentVariableW, SetEnvironmentVariableW,
    };
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    use windows_sys::Win32::System::Threading::{
        CreateThread, GetCurrentProcessId, LPTHREAD_START_ROUTINE, WaitForSingleObject,
    };

    /// How long a new instance waits for the previous instance's unload.
    const WAIT_MS: u32 = 10_000;

    fn wide(s: &str) -> Vec<u16> {
        s.encode_utf16().chain([0]).collect()
    }

    /// The variable's name for the real library at `path`.
    fn variable(path: &Path) -> Vec<u16> {
        let text = path.to_string_lossy().to_lowercase();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        wide(&format!("FAXSIM_RECORDER_UNLOADING_{h:016X}"))
    }

    /// Called from `DllMain(DLL_PROCESS_DETACH)` on a dynamic unload: unloads `module`
    /// (the real library, loaded by this proxy) from a new thread once the loader lock
    /// is released, and tells the next instance. Uses only kernel32 calls that are
    /// allowed under the loader lock.
    pub fn hand_over(module: isize, path: &Path) -> bool {
        let kernel32 = wide("kernel32.dll");
        // SAFETY: kernel32 is loaded in every process; the name is NUL-terminated.
        let k32 = unsafe { GetModuleHandleW(kernel32.as_ptr()) };
        if k32.is_null() {
            return false;
        }
        // SAFETY: a NUL-terminated ANSI export name of a loaded module.
        let Some(free) = (unsafe { GetProcAddress(k32, c"FreeLibrary".as_ptr().cast()) }) else {
            return false;
        };
        // SAFETY: FreeLibrary is `BOOL WINAPI (HMODULE)`, which has the calling
        // convention and argument of a thread start routine, `DWORD WINAPI (LPVOID)`
        // (one pointer-sized argument, a 32-bit result); its code lives in kernel32, not
        // in this proxy, so it runs safely after the proxy is unmapped.
        let start: LPTHREAD_START_ROUTINE = Some(unsafe {
            std::mem::transmute::<
                unsafe extern "system" fn() -> isize,
                unsafe extern "system" fn(*mut c_void) -> u32,
            >(free)
        });
        // SAFETY: a thread with default attributes and stack; its only argument is the
        // module handle it frees. It starts running once the loader lock is released.
        let thread: HANDLE = unsafe {
            CreateThread(
                std::ptr::null(),
                0,
                start,
                module as *const c_void,
                0,
                std::ptr::null_mut(),
            )
        };
        if thread.is_null() {
            return false;
        }
        // SAFETY: GetCurrentProcessId has no preconditions.
        let pid = unsafe { GetCurrentProcessId() };
        let value = wide(&format!("{pid}:{}", thread as usize));
        let name = variable(path);
        // SAFETY: two NUL-terminated strings that outlive the call.
        unsafe { SetEnvironmentVariableW(name.as_ptr(), value.as_ptr()) };
        true
    }

    /// Called by a new instance before it loads the real library at `path`: waits for
    /// the previous instance's unload thread, if one is pending in this process.
    pub fn wait(path: &Path) {
        let name = variable(path);
        let mut buf = [0u16; 64];
        // SAFETY: a NUL-terminated name; the buffer holds `buf.len()` units.
        let n =
            unsafe { GetEnvironmentVariableW(name.as_ptr(), buf.as_mut_ptr(), buf.len() as u32) }
                as usize;
        if n == 0 || n >= buf.len() {
            return;
        }
        // SAFETY: a NUL-terminated name; NULL deletes the variable.
        unsafe { SetEnvironmentVariableW(name.as_ptr(), std::ptr::null()) };
        let text = String::from_utf16_lossy(&buf[..n]);
        let Some((pid, handle)) = text.split_once(':') else {
            return;
        };
        // SAFETY: GetCurrentProcessId has no preconditions.
        let me = unsafe { GetCurrentProcessId() };
        let (Ok(pid), Ok(handle)) = (pid.parse::<u32>(), handle.parse::<usize>()) else {
            return;
        };
        if pid != me || handle == 0 {
            return; // inherited from a parent process: not ours
        }
        let handle = handle as HANDLE;
        // SAFETY: the handle was created by a previous instance in this process and is
        // closed only here, once (the variable is deleted above).
        unsafe {
            WaitForSingleObject(handle, WAIT_MS);
            CloseHandle(handle);
        }
    }
}
