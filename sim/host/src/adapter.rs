//! The FFI adapter: one loaded library as a [`faxsim_sim::Extension`]. Each entry point
//! the service calls becomes a call into the library's export, with the callbacks
//! published for the trampolines while C runs.

use std::cell::RefCell;
use std::path::PathBuf;

use faxsim_abi::{
    E_FAIL, FALSE, FAX_ROUTE_CALLBACKROUTINES, MAX_DEVICE_NAME_PREFIX_CHARS, NOERROR,
    PFAX_LINECALLBACK, S_OK, TRUE,
};
use faxsim_sim::{Callbacks, ConfigChange, Extension, RoutingInfo, VirtualDevices};
use faxsim_trace::{Exports, ServiceInput};

use crate::load::{self, EntryPoints, Instance};
use crate::memory::{GUARD_BYTE, GUARD_LEN, POISON_BYTE};
use crate::platform::ExtensionHeap;
use crate::shared::{call_c, call_c_with, lock};
use crate::trampolines::POOL;

/// A real library, hosted as an extension of the simulated service.
#[derive(Debug)]
pub struct FfiExtension {
    pub(crate) path: PathBuf,
    /// An address inside the library at its first load, and the module base there.
    pub(crate) first_mapping: Option<(usize, u64)>,
    pub(crate) slot: usize,
    pub(crate) exports: Exports,
    pub(crate) instance: RefCell<Option<Instance>>,
    /// Unloaded by the service, to be closed by the host with the callbacks published
    /// (a library's unload-time code, `DllMain` detach or a destructor, may call back).
    pub(crate) closing: RefCell<Option<Instance>>,
    /// Scratch for ConfigChange calls, reused so a delivery allocates nothing once warm:
    /// the last GUID string passed with its NUL-terminated UTF-16 form, and a pool of
    /// guarded `lpData` copies (one per nesting level in use).
    pub(crate) change_scratch: RefCell<ChangeScratch>,
    /// The heap given at the general init of the loaded instance (one per load, dropped
    /// when the library is closed: see `Host::close_unloaded`).
    pub(crate) heap: RefCell<Option<ExtensionHeap>>,
    /// The routing callback table handed to `FaxRouteInitialize`: the extension may keep
    /// the pointer rather than a copy, so it lives as long as the extension.
    pub(crate) route_table: Box<std::cell::UnsafeCell<FAX_ROUTE_CALLBACKROUTINES>>,
    /// The fax job in progress, if the library is a provider with a job side.
    pub(crate) job: crate::jobs::JobState,
    /// The job entry points it exports (`jobs::exported`).
    pub(crate) job_exports: u8,
    /// The faxes its routing methods were given so far (a recording without routing
    /// jobs numbers them itself).
    pub(crate) routed: crate::methods::RoutedFaxes,
    /// Hosted as a routing extension.
    pub(crate) routing: bool,
}

/// See [`FfiExtension::change_scratch`].
#[derive(Debug, Default)]
pub(crate) struct ChangeScratch {
    /// The last GUID text, its UTF-16 form as sent, and the copy the library gets (which
    /// it must not write; compared with the first after each call).
    guid: Option<(String, Vec<u16>, Vec<u16>)>,
    /// `lpData` copies, taken from the front and returned to the back: once two exist,
    /// consecutive deliveries alternate between them, so a pointer kept from the last
    /// call points at poison, not at the next call's value.
    buffers: std::collections::VecDeque<Vec<u8>>,
}

/// The `lpData` copies kept in rotation (see [`ChangeScratch::buffers`]).
const ROTATION: usize = 2;

impl FfiExtension {
    /// Whether the library is still mapped where its first load put it, although it may
    /// be closed: a lookup in the loader's tables (`dladdr` / `GetModuleHandleExW`), no
    /// system call, so it is cheap enough for every seed.
    pub(crate) fn still_mapped(&self) -> bool {
        self.first_mapping.is_some_and(|(addr, base)| {
            crate::platform::module_base(addr as *const std::ffi::c_void) == Some(base)
        })
    }

    /// Whether a loaded instance exists (open, or unloaded but not yet closed).
    pub(crate) fn is_open(&self) -> bool {
        self.instance.borrow().is_some() || self.closing.borrow().is_some()
    }

    /// The heap of the loaded instance, created at its first general init.
    fn heap(&self) -> *mut std::ffi::c_void {
        self.heap
            .borrow_mut()
            .get_or_insert_with(|| ExtensionHeap::new(self.slot))
            .handle()
    }

    /// The entry points of the loaded instance. If the service calls it after an unload
    /// without the host's `start` (a driver that restarts the service itself), the
    /// unloaded instance is used again, or the library reloaded, with a note.
    fn entry(&self) -> EntryPoints {
        if let Some(i) = self.instance.borrow().as_ref() {
            return i.entry;
        }
        if let Some(i) = self.closing.borrow_mut().take() {
            let e = i.entry;
            *self.instance.borrow_mut() = Some(i);
            lock().notes.push(format!(
                "{} was started again without Host::start; it keeps its globals",
                self.path.display()
            ));
            return e;
        }
        match load::open(&self.path) {
            Ok(i) => {
                let e = i.entry;
                *self.instance.borrow_mut() = Some(i);
                lock().notes.push(format!(
                    "{} was reloaded outside Host::start; its hInst may be stale",
                    self.path.display()
                ));
                e
            }
            Err(e) => {
                lock().notes.push(format!("reloading failed: {e}"));
                EntryPoints::default()
            }
        }
    }

    /// A provider: its job side is what the service calls without arguments (a routing
    /// extension's are its routing methods).
    fn exports_jobs(&self) -> bool {
        !self.routing
    }

    /// The module handle of the loaded instance (0 when unloaded).
    pub fn hinst(&self) -> u64 {
        self.instance.borrow().as_ref().map_or(0, |i| i.hinst)
    }
}

impl Extension for FfiExtension {
    fn exports(&self) -> Exports {
        self.exports
    }

    fn virtual_device_creation(&self, cb: &mut Callbacks<'_>) -> VirtualDevices {
        let failed = VirtualDevices {
            ok: false,
            count: 0,
            id_prefix: 0,
            name_prefix: String::new(),
        };
        let Some(f) = self.entry().virtual_device_creation else {
            return failed;
        };
        let mut count = 0u32;
        let mut id_prefix = 0u32;
        let mut prefix = [0u16; MAX_DEVICE_NAME_PREFIX_CHARS];
        let ok = call_c(cb, || {
            // SAFETY: the export has the FaxDevVirtualDeviceCreation signature (resolved
            // by name); every pointer is valid for the call, the prefix buffer holds the
            // documented 128 WCHARs, and the completion port is the documented NULL
            // placeholder (no transmission side).
            unsafe {
                f(
                    &mut count,
                    prefix.as_mut_ptr(),
                    &mut id_prefix,
                    std::ptr::null_mut(),
                    0,
                )
            }
        });
        let end = prefix.iter().position(|&u| u == 0).unwrap_or(prefix.len());
        self.job
            .virtual_prefix
            .set((ok != FALSE && count > 0).then_some(id_prefix));
        VirtualDevices {
            ok: ok != FALSE,
            count,
            id_prefix,
            name_prefix: String::from_utf16_lossy(&prefix[..end]),
        }
    }

    fn initialize_config(&self, cb: &mut Callbacks<'_>) -> i32 {
        let Some(f) = self.entry().initialize_config else {
            return NOERROR;
        };
        let fns = POOL[self.slot];
        call_c(cb, || {
            // SAFETY: the export has the FaxExtInitializeConfig signature; the five
            // arguments are this slot's trampolines, valid for the process's life.
            unsafe {
                f(
                    fns.get_data,
                    fns.set_data,
                    fns.register,
                    fns.unregister,
                    fns.free_buffer,
                )
            }
        })
    }

    fn dev_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        let Some(f) = self.entry().dev_initialize else {
            return false;
        };
        let mut line_callback: PFAX_LINECALLBACK = None;
        let heap = self.heap();
        let ok = call_c(cb, || {
            // SAFETY: FaxDevInitialize's signature; the heap is this extension's, the line
            // app handle and service callback are the documented placeholders (0/NULL: no
            // TAPI, no jobs) and the out-pointer is valid for the call.
            unsafe { f(0, heap, &mut line_callback, None) }
        });
        ok != FALSE
    }

    fn route_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        let Some(f) = self.entry().route_initialize else {
            return false;
        };
        let heap = self.heap();
        let table = self.route_table.get();
        // SAFETY: the table is this extension's, written only here, before the call that
        // hands it out (a previous instance of the library is closed).
        unsafe { *table = crate::routines::table(self.slot) };
        let ok = call_c(cb, || {
            // SAFETY: FaxRouteInitialize's signature; the heap is this extension's and the
            // table a valid callback table that lives as long as the extension (the
            // job-side routines it holds are static functions of its slot).
            unsafe { f(heap, table) }
        });
        ok != FALSE
    }

    fn route_device_change(&self, cb: &mut Callbacks<'_>, device: u32, new: bool) -> bool {
        let Some(f) = self.entry().route_device_change else {
            return true;
        };
        let flag = if new { TRUE } else { FALSE };
        // SAFETY: FaxRouteDeviceChangeNotification's signature; plain values.
        call_c(cb, || unsafe { f(device, flag) }) != FALSE
    }

    fn route_device_enable(
        &self,
        cb: &mut Callbacks<'_>,
        guid: Option<&str>,
        device: u32,
        enabled: i32,
    ) -> i32 {
        let Some(f) = self.entry().route_device_enable else {
            return FALSE;
        };
        let sent = guid;
        let mut guid = sent.map(wide);
        // Mutable on purpose: the library may write through it (a bug we report).
        let g = guid
            .as_mut()
            .map_or(std::ptr::null_mut(), |g| g.as_mut_ptr()) as *const u16;
        // SAFETY: FaxRouteDeviceEnable's signature; the GUID string is NUL-terminated (or
        // NULL, as recorded) and outlives the call.
        let r = call_c(cb, || unsafe { f(g, device, enabled) });
        check_guid(cb, sent, guid.as_deref());
        r
    }

    fn route_get_routing_info(
        &self,
        cb: &mut Callbacks<'_>,
        guid: Option<&str>,
        device: u32,
        capacity: Option<u32>,
    ) -> RoutingInfo {
        let failed = RoutingInfo {
            ok: false,
            size: 0,
            data: None,
        };
        let Some(f) = self.entry().route_get_routing_info else {
            return failed;
        };
        let sent = guid;
        let mut guid = sent.map(wide);
        let g = guid
            .as_mut()
            .map_or(std::ptr::null_mut(), |g| g.as_mut_ptr()) as *const u16;
        // The buffer with a guard zone after it, like every buffer the host hands out.
        let mut buffer = capacity.map(|n| vec![GUARD_BYTE; n as usize + GUARD_LEN]);
        let ptr = buffer
            .as_mut()
            .map_or(std::ptr::null_mut(), |b| b.as_mut_ptr());
        let mut size = capacity.unwrap_or(0);
        // SAFETY: FaxRouteGetRoutingInfo's signature; the GUID is NUL-terminated, `ptr`
        // is NULL (a size query) or holds `size` writable bytes, `size` is a valid
        // in/out pointer; all outlive the call.
        let ok = call_c(cb, || unsafe { f(g, device, ptr, &mut size) }) != FALSE;
        check_guid(cb, sent, guid.as_deref());
        let data = match (ok, buffer) {
            (true, Some(mut b)) => {
                b.truncate((size as usize).min(capacity.unwrap_or(0) as usize));
                Some(b)
            }
            _ => None,
        };
        RoutingInfo { ok, size, data }
    }

    fn route_set_routing_info(
        &self,
        cb: &mut Callbacks<'_>,
        guid: Option<&str>,
        device: u32,
        data: Option<&[u8]>,
        size: u32,
    ) -> bool {
        let Some(f) = self.entry().route_set_routing_info else {
            return false;
        };
        let sent = guid;
        let mut guid = sent.map(wide);
        let g = guid
            .as_mut()
            .map_or(std::ptr::null_mut(), |g| g.as_mut_ptr()) as *const u16;
        // A copy the size the service says, so the library reads only host memory (and a
        // write into it is seen).
        let mut copy = data.map(|d| {
            let mut v = d.to_vec();
            v.resize(size as usize, 0);
            v
        });
        let p = copy
            .as_mut()
            .map_or(std::ptr::null_mut(), |c| c.as_mut_ptr()) as *const u8;
        // SAFETY: FaxRouteSetRoutingInfo's signature; the GUID is NUL-terminated and
        // `p` is NULL or holds `size` readable bytes, both alive for the call.
        let ok = call_c(cb, || unsafe { f(g, device, p, size) }) != FALSE;
        check_guid(cb, sent, guid.as_deref());
        // The info is passed as `const BYTE *`: the copy must come back as it went.
        if let (Some(copy), Some(d)) = (&copy, data) {
            let mut original = d.to_vec();
            original.resize(size as usize, 0);
            if let Some(at) = first_difference(copy, &original) {
                cb.report_input_written(ServiceInput::RoutingInfo, at as u32);
            }
        }
        ok
    }

    fn dev_shutdown(&self, cb: &mut Callbacks<'_>) -> i32 {
        let Some(f) = self.entry().dev_shutdown else {
            return S_OK;
        };
        // SAFETY: FaxDevShutdown's signature; no arguments.
        call_c(cb, || unsafe { f() })
    }

    fn drives_entry_point(&self, function: &str) -> bool {
        if function == faxsim_sim::ENUM_FILE_FUNCTION {
            return crate::routines::enumerating(self.slot);
        }
        if self.exports_jobs() {
            return crate::jobs::drives(self.job_exports, function);
        }
        // A routing method: any other function the loaded library exports by that name.
        crate::methods::may_be_method(function)
            && self
                .instance
                .borrow()
                .as_ref()
                .is_some_and(|i| i.routing_method(function).is_some())
    }

    fn entry_point(&self, cb: &mut Callbacks<'_>, function: &str) -> i32 {
        if function == faxsim_sim::ENUM_FILE_FUNCTION {
            return crate::routines::call_enumerator(self.slot, cb);
        }
        if self.exports_jobs() {
            return crate::jobs::call(
                &self.entry().job,
                &self.job,
                self.slot,
                crate::battery::BATTERY_DEVICES[0].1,
                cb,
                function,
            );
        }
        if !crate::methods::may_be_method(function) {
            return FALSE;
        }
        let method = self
            .instance
            .borrow()
            .as_ref()
            .and_then(|i| i.routing_method(function));
        let guid = cb.routing_method_guid(function);
        crate::methods::call(method, &self.routed, self.slot, guid.as_deref(), cb)
    }

    fn config_change(&self, cb: &mut Callbacks<'_>, change: &mut ConfigChange<'_>) -> i32 {
        // A host-owned copy with a guard zone: writes into it (or past it) are seen.
        let len = change.data.len();
        let (mut data, guid) = {
            let mut scratch = self.change_scratch.borrow_mut();
            let mut data = if scratch.buffers.len() >= ROTATION {
                scratch.buffers.pop_front().unwrap_or_default()
            } else {
                Vec::new()
            };
            data.clear();
            data.extend_from_slice(change.data);
            data.resize(len + GUARD_LEN, GUARD_BYTE);
            // Taken out for the call (a nested delivery finds none and encodes its own).
            let guid = match scratch.guid.take() {
                Some(g) if g.0 == change.guid => g,
                _ => {
                    let sent: Vec<u16> = change.guid.encode_utf16().chain([0]).collect();
                    (change.guid.to_string(), sent.clone(), sent)
                }
            };
            (data, guid)
        };
        let (guid_text, guid_sent, mut guid) = guid;
        // Mutable on purpose: the library may write through it (a bug we report).
        let guid_ptr = guid.as_mut_ptr() as *const u16;
        let ptr = data.as_mut_ptr();
        let device = change.device;
        // The callback's address and the lpData bookkeeping ride on the crossing's locks.
        let called = call_c_with(
            cb,
            |g| {
                let f = g
                    .slots
                    .get(self.slot)
                    .and_then(|s| s.as_ref())
                    .and_then(|s| s.callback_fn(change.callback));
                if f.is_some() {
                    g.heap.begin_change(ptr as usize, change.delivery);
                }
                f
            },
            |f| {
                // SAFETY: `f` is a ConfigChange pointer this library passed to Register;
                // its library is loaded (registrations end at unload). The GUID is
                // NUL-terminated and `ptr` holds `len` bytes (plus a guard zone), both
                // alive for the call.
                unsafe { f(device, guid_ptr, ptr, len as u32) }
            },
            |g| g.heap.end_change(ptr as usize),
        );
        let Some(hr) = called else {
            lock().notes.push(format!(
                "no function pointer known for callback #{} of {}; the notification was answered E_FAIL",
                change.callback.0,
                self.path.display()
            ));
            let mut scratch = self.change_scratch.borrow_mut();
            scratch.buffers.push_back(data);
            scratch.guid = Some((guid_text, guid_sent, guid));
            return E_FAIL;
        };
        // The GUID string is the service's too: one comparison of the copy with what was
        // sent (this runs for every notification); restored if the library wrote into it.
        if guid != guid_sent {
            let at = first_difference(&guid, &guid_sent).unwrap_or(0);
            cb.report_input_written(ServiceInput::Guid, (at * 2) as u32);
            guid.copy_from_slice(&guid_sent);
        }
        // One memcmp in the common case; the offset is searched only when something changed.
        let unchanged = data[..len] == *change.data;
        let written = (!unchanged)
            .then(|| {
                data[..len]
                    .iter()
                    .zip(change.data)
                    .position(|(a, b)| a != b)
            })
            .flatten()
            .or_else(|| {
                data[len..]
                    .iter()
                    .position(|&b| b != GUARD_BYTE)
                    .map(|i| len + i)
            });
        if let Some(offset) = written {
            change.write_into_data(offset as u32);
        }
        // lpData is valid only during the call: a library that kept the pointer reads
        // poison (0xDD bytes) from now on, not the next call's value, which would hide the
        // bug. No allocation: the buffers are reused.
        data[..len].fill(POISON_BYTE);
        let mut scratch = self.change_scratch.borrow_mut();
        scratch.buffers.push_back(data);
        scratch.guid = Some((guid_text, guid_sent, guid));
        hr
    }

    fn unloading(&self, cb: &mut Callbacks<'_>) {
        let damage = lock().heap.unload(cb.ext());
        for (id, d) in damage {
            cb.report_buffer_damage(id, d);
        }
    }

    fn unloaded(&self) {
        // Closed for real by `Host::close_unloaded`, so the next load starts with fresh
        // globals as a service restart would (a library that pinned itself stays mapped
        // and keeps them, as on Windows).
        let instance = self.instance.borrow_mut().take();
        if instance.is_some() {
            *self.closing.borrow_mut() = instance;
        }
        if let Some(Some(s)) = lock().slots.get_mut(self.slot) {
            s.callback_ids.clear();
            s.callback_fns.clear();
        }
    }
}

/// A NUL-terminated UTF-16 copy of `s`, as C's `LPCWSTR` (writable, for the `PWSTR`
/// fields of the job structs too).
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

/// The index of the first element where `now` differs from `was` (`None`: equal).
fn first_difference<T: PartialEq>(now: &[T], was: &[T]) -> Option<usize> {
    if now == was {
        return None;
    }
    Some(
        now.iter()
            .zip(was)
            .position(|(a, b)| a != b)
            .unwrap_or(now.len().min(was.len())),
    )
}

/// Reports a GUID string the library wrote into: `sent` is the text the service
/// passed, `now` the NUL-terminated copy the library got, read back after the call.
/// Returns whether it was written.
fn check_guid(cb: &mut Callbacks<'_>, sent: Option<&str>, now: Option<&[u16]>) -> bool {
    let (Some(sent), Some(now)) = (sent, now) else {
        return false;
    };
    // Compared unit by unit without allocating (this runs for every notification).
    let mut was = sent.encode_utf16().chain([0]);
    let mut at = None;
    for (i, &unit) in now.iter().enumerate() {
        if was.next() != Some(unit) {
            at = Some(i);
            break;
        }
    }
    match at {
        Some(i) => {
            // A byte offset, as for every other buffer.
            cb.report_input_written(ServiceInput::Guid, (i * 2) as u32);
            true
        }
        None => false,
    }
}
