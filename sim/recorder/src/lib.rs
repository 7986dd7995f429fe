//! faxsim-recorder: the recording proxy. A real fax service loads a proxy library in
//! place of an extension; the proxy loads the real extension, forwards every call
//! unchanged, and writes a faxsim trace of every call across the boundary, which
//! `faxsim check`, `faxsim show` and `faxsim replay` read like any other.
//!
//! This crate holds all of the logic and exports nothing itself (a `#[no_mangle]`
//! function of an rlib would be exported by every library linking it). Three small
//! cdylibs under `proxies/` expand [`proxy!`] into the exports the service looks for,
//! one per kind, because the service tells the kinds apart by their exports:
//!
//! | library | poses as | exports |
//! |---|---|---|
//! | `faxsim_recorder_fsp` | FSP | `FaxExtInitializeConfig`, `FaxDevInitialize`, `FaxDevShutdown`, `FaxDevStartJob`, `FaxDevEndJob`, `FaxDevSend`, `FaxDevReceive`, `FaxDevReportStatus`, `FaxDevAbortOperation` |
//! | `faxsim_recorder_vfsp` | virtual FSP | the same and `FaxDevVirtualDeviceCreation` |
//! | `faxsim_recorder_routing` | routing extension | `FaxExtInitializeConfig`, `FaxRouteInitialize`, `FaxRouteDeviceChangeNotification`, `FaxRouteDeviceEnable`, `FaxRouteGetRoutingInfo`, `FaxRouteSetRoutingInfo`, `FaxsimRouteMethod0` … `FaxsimRouteMethod15` |
//!
//! How it works, in short (`docs/recorder.md` is the user's guide):
//!
//! - **Start**: lazily, at the first entry point the service calls (never in the
//!   loader's initialisers): find the configuration ([`config`]), load the real library,
//!   create the trace, record `ServiceStart { run: 1 }` and `Load`. Without a
//!   configuration, or when the real library does not load, the proxy fails the
//!   extension's initialisation (`FaxExtInitializeConfig` → `E_FAIL`, the general inits
//!   and `FaxDevVirtualDeviceCreation` → FALSE) and logs why.
//! - **Calls**: every entry point is recorded as its call and return events around the
//!   real one; the service's five callbacks reach the extension as recording wrappers,
//!   its ConfigChange pointers reach the service as wrappers from a pool of
//!   monomorphised functions. The extension's own module handle, passed as hInst, is
//!   translated to the proxy's, which is the one the service knows.
//! - **Unload**: when the proxy is unloaded it records `Unload`, finishes the trace and
//!   closes the real library (a `.fini_array` destructor; on Windows
//!   `DllMain(DLL_PROCESS_DETACH)`, which hands the unload to a kernel32 thread).
//!
//! `unsafe` is the FFI itself: every block says why it is sound.

#![allow(non_snake_case, non_camel_case_types, clippy::upper_case_acronyms)]

pub mod config;
mod entries;
mod instance;
mod log;
mod platform;
mod real;
mod record;
mod wrappers;

/// What the exports of [`proxy!`] call. Not a stable API: only for the macro.
#[doc(hidden)]
pub mod __private {
    pub use crate::entries::job::*;
    pub use crate::entries::{
        dev_initialize, dev_shutdown, initialize_config, route_device_change, route_device_enable,
        route_get_routing_info, route_initialize, route_method, route_set_routing_info,
        virtual_device_creation,
    };
    pub use crate::real::{PFAX_SEND_CALLBACK, ProxyKind};
    pub use faxsim_abi as abi;

    /// The proxy's destructor (a `.fini_array` / `__mod_term_func` entry): it is being
    /// unloaded, or the process is exiting.
    pub extern "C" fn on_unload() {
        crate::instance::unload(true);
    }

    /// The proxy's `DllMain`: on `DLL_PROCESS_DETACH` it records the unload and finishes
    /// the trace; when the detach is a `FreeLibrary` (not process exit) it also hands the
    /// real library's unload to a kernel32 thread.
    ///
    /// # Safety
    ///
    /// Called by the Windows loader, with its loader lock held.
    #[cfg(windows)]
    pub unsafe fn dll_main(
        _module: *mut core::ffi::c_void,
        reason: u32,
        reserved: *mut core::ffi::c_void,
    ) -> i32 {
        /// `DLL_PROCESS_DETACH`.
        const PROCESS_DETACH: u32 = 0;
        if reason == PROCESS_DETACH {
            crate::instance::unload(reserved.is_null());
        }
        1
    }
}

/// The exports of one proxy library: `faxsim_recorder::proxy!(fsp)`,
/// `faxsim_recorder::proxy!(virtual_fsp)` or `faxsim_recorder::proxy!(routing)`, once,
/// at the root of a cdylib. Also installs the unload hook (a `.fini_array` entry, or
/// `DllMain` on Windows).
#[macro_export]
macro_rules! proxy {
    (fsp) => {
        $crate::__proxy_common!(Fsp);
        $crate::__proxy_provider!(Fsp);
    };
    (virtual_fsp) => {
        $crate::__proxy_common!(VirtualFsp);
        $crate::__proxy_provider!(VirtualFsp);
        $crate::__proxy_virtual!();
    };
    (routing) => {
        $crate::__proxy_common!(Routing);
        $crate::__proxy_routing!();
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proxy_common {
    ($kind:ident) => {
        const __FAXSIM_RECORDER_KIND: $crate::__private::ProxyKind =
            $crate::__private::ProxyKind::$kind;

        /// `FaxExtInitializeConfig`, recorded and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with its five callbacks.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxExtInitializeConfig(
            get: $crate::__private::abi::PFAX_EXT_GET_DATA,
            set: $crate::__private::abi::PFAX_EXT_SET_DATA,
            reg: $crate::__private::abi::PFAX_EXT_REGISTER_FOR_EVENTS,
            unreg: $crate::__private::abi::PFAX_EXT_UNREGISTER_FOR_EVENTS,
            free: $crate::__private::abi::PFAX_EXT_FREE_BUFFER,
        ) -> $crate::__private::abi::HRESULT {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::initialize_config(
                    __FAXSIM_RECORDER_KIND,
                    get,
                    set,
                    reg,
                    unreg,
                    free,
                )
            }
        }

        // SAFETY: an array of destructors the loader runs when this library is unloaded
        // (or the process exits); the entry is a plain `extern "C" fn()`.
        #[cfg(all(unix, not(target_vendor = "apple")))]
        #[used]
        #[unsafe(link_section = ".fini_array")]
        static __FAXSIM_RECORDER_FINI: extern "C" fn() = $crate::__private::on_unload;

        // SAFETY: the Mach-O counterpart of `.fini_array`.
        #[cfg(target_vendor = "apple")]
        #[used]
        #[unsafe(link_section = "__DATA,__mod_term_func")]
        static __FAXSIM_RECORDER_FINI: extern "C" fn() = $crate::__private::on_unload;

        /// The library's entry point for the Windows loader.
        ///
        /// # Safety
        ///
        /// Called by the Windows loader only.
        #[cfg(windows)]
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn DllMain(
            module: *mut ::core::ffi::c_void,
            reason: u32,
            reserved: *mut ::core::ffi::c_void,
        ) -> i32 {
            // SAFETY: the loader's arguments, passed on.
            unsafe { $crate::__private::dll_main(module, reason, reserved) }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proxy_provider {
    ($kind:ident) => {
        /// `FaxDevInitialize`, recorded and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with `FaxDevInitialize`'s arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevInitialize(
            line_app: $crate::__private::abi::HLINEAPP,
            heap: $crate::__private::abi::HANDLE,
            line_callback: *mut $crate::__private::abi::PFAX_LINECALLBACK,
            service_callback: $crate::__private::abi::PFAX_SERVICE_CALLBACK,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::dev_initialize(
                    __FAXSIM_RECORDER_KIND,
                    line_app,
                    heap,
                    line_callback,
                    service_callback,
                )
            }
        }

        /// `FaxDevShutdown`, recorded and forwarded (`S_OK`, unrecorded, when the real
        /// library lacks it).
        ///
        /// # Safety
        ///
        /// Called by the fax service.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevShutdown() -> $crate::__private::abi::HRESULT {
            // SAFETY: no arguments.
            unsafe { $crate::__private::dev_shutdown(__FAXSIM_RECORDER_KIND) }
        }

        /// `FaxDevStartJob`, recorded as an entry point and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with `FaxDevStartJob`'s arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevStartJob(
            line: u32,
            device: u32,
            fax_handle: *mut $crate::__private::abi::HANDLE,
            port: $crate::__private::abi::HANDLE,
            key: usize,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::start_job(
                    __FAXSIM_RECORDER_KIND,
                    line,
                    device,
                    fax_handle,
                    port,
                    key,
                )
            }
        }

        /// `FaxDevEndJob`, recorded as an entry point and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with a job handle.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevEndJob(
            fax_handle: $crate::__private::abi::HANDLE,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe { $crate::__private::end_job(__FAXSIM_RECORDER_KIND, fax_handle) }
        }

        /// `FaxDevSend`, recorded as an entry point and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with `FaxDevSend`'s arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevSend(
            fax_handle: $crate::__private::abi::HANDLE,
            fax_send: *mut ::core::ffi::c_void,
            callback: $crate::__private::PFAX_SEND_CALLBACK,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::send(__FAXSIM_RECORDER_KIND, fax_handle, fax_send, callback)
            }
        }

        /// `FaxDevReceive`, recorded as an entry point and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with `FaxDevReceive`'s arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevReceive(
            fax_handle: $crate::__private::abi::HANDLE,
            call: u32,
            fax_receive: *mut ::core::ffi::c_void,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::receive(__FAXSIM_RECORDER_KIND, fax_handle, call, fax_receive)
            }
        }

        /// `FaxDevReportStatus`, recorded as an entry point and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with `FaxDevReportStatus`'s arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevReportStatus(
            fax_handle: $crate::__private::abi::HANDLE,
            status: *mut ::core::ffi::c_void,
            size: u32,
            required: *mut u32,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::report_status(
                    __FAXSIM_RECORDER_KIND,
                    fax_handle,
                    status,
                    size,
                    required,
                )
            }
        }

        /// `FaxDevAbortOperation`, recorded as an entry point and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with a job handle.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevAbortOperation(
            fax_handle: $crate::__private::abi::HANDLE,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe { $crate::__private::abort_operation(__FAXSIM_RECORDER_KIND, fax_handle) }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proxy_virtual {
    () => {
        /// `FaxDevVirtualDeviceCreation`, recorded and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with `FaxDevVirtualDeviceCreation`'s arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxDevVirtualDeviceCreation(
            count: *mut u32,
            name_prefix: $crate::__private::abi::PWSTR,
            id_prefix: *mut u32,
            port: $crate::__private::abi::HANDLE,
            key: usize,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::virtual_device_creation(
                    __FAXSIM_RECORDER_KIND,
                    count,
                    name_prefix,
                    id_prefix,
                    port,
                    key,
                )
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proxy_routing {
    () => {
        /// `FaxRouteInitialize`, recorded and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with a heap and its callback table.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxRouteInitialize(
            heap: $crate::__private::abi::HANDLE,
            callbacks: *mut $crate::__private::abi::FAX_ROUTE_CALLBACKROUTINES,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe { $crate::__private::route_initialize(__FAXSIM_RECORDER_KIND, heap, callbacks) }
        }

        /// `FaxRouteDeviceChangeNotification`, recorded and forwarded (TRUE, unrecorded,
        /// when the real library lacks it).
        ///
        /// # Safety
        ///
        /// Called by the fax service.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxRouteDeviceChangeNotification(
            device: u32,
            new_device: $crate::__private::abi::BOOL,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: plain values.
            unsafe {
                $crate::__private::route_device_change(__FAXSIM_RECORDER_KIND, device, new_device)
            }
        }

        /// `FaxRouteDeviceEnable`, recorded and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with a NUL-terminated routing GUID.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxRouteDeviceEnable(
            guid: $crate::__private::abi::PCWSTR,
            device: u32,
            enabled: i32,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::route_device_enable(
                    __FAXSIM_RECORDER_KIND,
                    guid,
                    device,
                    enabled,
                )
            }
        }

        /// `FaxRouteGetRoutingInfo`, recorded and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with `FaxRouteGetRoutingInfo`'s arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxRouteGetRoutingInfo(
            guid: $crate::__private::abi::PCWSTR,
            device: u32,
            info: *mut u8,
            size: *mut u32,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::route_get_routing_info(
                    __FAXSIM_RECORDER_KIND,
                    guid,
                    device,
                    info,
                    size,
                )
            }
        }

        /// `FaxRouteSetRoutingInfo`, recorded and forwarded.
        ///
        /// # Safety
        ///
        /// Called by the fax service with `FaxRouteSetRoutingInfo`'s arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn FaxRouteSetRoutingInfo(
            guid: $crate::__private::abi::PCWSTR,
            device: u32,
            info: *const u8,
            size: u32,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::route_set_routing_info(
                    __FAXSIM_RECORDER_KIND,
                    guid,
                    device,
                    info,
                    size,
                )
            }
        }

        $crate::__proxy_route_method!(FaxsimRouteMethod0, 0);
        $crate::__proxy_route_method!(FaxsimRouteMethod1, 1);
        $crate::__proxy_route_method!(FaxsimRouteMethod2, 2);
        $crate::__proxy_route_method!(FaxsimRouteMethod3, 3);
        $crate::__proxy_route_method!(FaxsimRouteMethod4, 4);
        $crate::__proxy_route_method!(FaxsimRouteMethod5, 5);
        $crate::__proxy_route_method!(FaxsimRouteMethod6, 6);
        $crate::__proxy_route_method!(FaxsimRouteMethod7, 7);
        $crate::__proxy_route_method!(FaxsimRouteMethod8, 8);
        $crate::__proxy_route_method!(FaxsimRouteMethod9, 9);
        $crate::__proxy_route_method!(FaxsimRouteMethod10, 10);
        $crate::__proxy_route_method!(FaxsimRouteMethod11, 11);
        $crate::__proxy_route_method!(FaxsimRouteMethod12, 12);
        $crate::__proxy_route_method!(FaxsimRouteMethod13, 13);
        $crate::__proxy_route_method!(FaxsimRouteMethod14, 14);
        $crate::__proxy_route_method!(FaxsimRouteMethod15, 15);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proxy_route_method {
    ($name:ident, $n:literal) => {
        /// A routing-method forwarder: calls the export the configuration's `methods`
        /// binds to this number (point a routing method's registered function name here).
        ///
        /// # Safety
        ///
        /// Called by the fax service with a routing method's arguments.
        #[unsafe(no_mangle)]
        pub unsafe extern "system" fn $name(
            route: *const ::core::ffi::c_void,
            failure_data: *mut *mut ::core::ffi::c_void,
            failure_size: *mut u32,
        ) -> $crate::__private::abi::BOOL {
            // SAFETY: the service's arguments, passed on under the same contract.
            unsafe {
                $crate::__private::route_method(
                    __FAXSIM_RECORDER_KIND,
                    $n,
                    route,
                    failure_data,
                    failure_size,
                )
            }
        }
    };
}
