//! Example extensions written in Rust: careful ones that follow every rule, and a buggy
//! one with the mistakes the checker exists to catch. Tests, the example program and
//! users writing their own in-process extensions start from these.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use faxsim_abi::{E_FAIL, ERROR_FILE_NOT_FOUND, ERROR_SUCCESS, NOERROR, S_OK};
use faxsim_trace::{CallbackId, HandleId, SOURCE_FAX, SOURCE_TAPI};

use crate::extension::{ConfigChange, Extension, VirtualDevices};
use crate::service::{Callbacks, FreeArg};

/// The GUID the examples keep their routing flags under (as Microsoft's routing sample
/// does, a 4-byte "enabled" flag; mixed case on purpose: GUIDs compare by value).
pub const FLAGS_GUID: &str = "{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}";
/// The GUID the virtual FSP example publishes its line status under.
pub const STATUS_GUID: &str = "{6f1c2a7e-93b4-4d0e-8a55-2b7c9e4d1f60}";

/// Reads a value the careful way: copy it, free the buffer exactly once, treat "no data"
/// as "use the default".
fn read_value(cb: &mut Callbacks<'_>, device: u32, source: i32, guid: &str) -> Option<Vec<u8>> {
    match cb.get_data(device, source, guid) {
        Ok(buffer) => {
            let copy = cb.buffer_copy(buffer);
            cb.free_buffer(FreeArg::Buffer(buffer));
            copy
        }
        Err(ERROR_FILE_NOT_FOUND) => None,
        Err(_) => None,
    }
}

/// A careful routing extension: reads its flags for every device it hears of (falling
/// back to the global value on device 0), registers for changes per device and for the
/// global value, keeps copies, frees every buffer once, never re-registers from inside a
/// notification, and drops a device's registration when the device goes away.
#[derive(Debug, Default)]
pub struct CarefulRouting {
    callback: Cell<Option<CallbackId>>,
    flags: RefCell<BTreeMap<u32, Vec<u8>>>,
    handles: RefCell<BTreeMap<u32, HandleId>>,
}

impl CarefulRouting {
    /// The flags it currently believes for `device`.
    pub fn flags(&self, device: u32) -> Option<Vec<u8>> {
        self.flags.borrow().get(&device).cloned()
    }

    fn watch(&self, cb: &mut Callbacks<'_>, device: u32) {
        let value = read_value(cb, device, SOURCE_FAX, FLAGS_GUID)
            .or_else(|| read_value(cb, 0, SOURCE_FAX, FLAGS_GUID));
        if let Some(v) = value {
            self.flags.borrow_mut().insert(device, v);
        }
        let callback = self.callback.get().unwrap_or_else(|| {
            let c = cb.new_callback();
            self.callback.set(Some(c));
            c
        });
        if !self.handles.borrow().contains_key(&device)
            && let Ok(h) = cb.register(device, SOURCE_FAX, FLAGS_GUID, callback)
        {
            self.handles.borrow_mut().insert(device, h);
        }
    }
}

impl Extension for CarefulRouting {
    fn route_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        self.watch(cb, 0);
        true
    }

    fn route_device_change(&self, cb: &mut Callbacks<'_>, device: u32, new: bool) -> bool {
        if new {
            self.watch(cb, device);
        } else {
            let handle = self.handles.borrow_mut().remove(&device);
            if let Some(h) = handle {
                cb.unregister(h);
            }
            self.flags.borrow_mut().remove(&device);
        }
        true
    }

    fn config_change(&self, _cb: &mut Callbacks<'_>, change: &mut ConfigChange<'_>) -> i32 {
        self.flags
            .borrow_mut()
            .insert(change.device, change.data.to_vec());
        NOERROR
    }

    fn unloaded(&self) {
        self.callback.set(None);
        self.flags.borrow_mut().clear();
        self.handles.borrow_mut().clear();
    }
}

/// A careful TAPI FSP: talks TAPI permanent line ids, reads and registers per line in
/// `FaxDevInitialize`, and unregisters everything in `FaxDevShutdown`.
#[derive(Debug, Default)]
pub struct CarefulTapiFsp {
    lines: Vec<u32>,
    handles: RefCell<Vec<HandleId>>,
    settings: RefCell<BTreeMap<u32, Vec<u8>>>,
}

impl CarefulTapiFsp {
    /// An FSP serving these TAPI permanent line ids.
    pub fn new(lines: Vec<u32>) -> CarefulTapiFsp {
        CarefulTapiFsp {
            lines,
            ..CarefulTapiFsp::default()
        }
    }

    /// What it last saw for `line`.
    pub fn settings(&self, line: u32) -> Option<Vec<u8>> {
        self.settings.borrow().get(&line).cloned()
    }
}

impl Extension for CarefulTapiFsp {
    fn dev_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        let callback = cb.new_callback();
        for &line in &self.lines {
            if let Some(v) = read_value(cb, line, SOURCE_TAPI, FLAGS_GUID) {
                self.settings.borrow_mut().insert(line, v);
            }
            if let Ok(h) = cb.register(line, SOURCE_TAPI, FLAGS_GUID, callback) {
                self.handles.borrow_mut().push(h);
            }
        }
        true
    }

    fn dev_shutdown(&self, cb: &mut Callbacks<'_>) -> i32 {
        let handles = std::mem::take(&mut *self.handles.borrow_mut());
        let mut hr = S_OK;
        for h in handles {
            // While stopping the service answers ERROR_SHUTDOWN_IN_PROGRESS and drops the
            // registration itself; anything else is worth reporting.
            let code = cb.unregister(h);
            if code != ERROR_SUCCESS && code != faxsim_abi::ERROR_SHUTDOWN_IN_PROGRESS {
                hr = E_FAIL;
            }
        }
        hr
    }

    fn config_change(&self, _cb: &mut Callbacks<'_>, change: &mut ConfigChange<'_>) -> i32 {
        self.settings
            .borrow_mut()
            .insert(change.device, change.data.to_vec());
        NOERROR
    }

    fn unloaded(&self) {
        self.handles.borrow_mut().clear();
        self.settings.borrow_mut().clear();
    }
}

/// A careful virtual FSP: creates `count` devices from `prefix`, publishes a status value
/// per device during config init (callbacks from inside `FaxExtInitializeConfig` are
/// allowed), registers per device with logical ids, and unregisters in `FaxDevShutdown`
/// before the service stops answering.
#[derive(Debug)]
pub struct CarefulVirtualFsp {
    count: u32,
    prefix: u32,
    handles: RefCell<Vec<HandleId>>,
    changes: Cell<u32>,
}

impl CarefulVirtualFsp {
    /// A provider with `count` devices numbered from `prefix`.
    pub fn new(count: u32, prefix: u32) -> CarefulVirtualFsp {
        CarefulVirtualFsp {
            count,
            prefix,
            handles: RefCell::new(Vec::new()),
            changes: Cell::new(0),
        }
    }

    /// How many notifications it received.
    pub fn changes(&self) -> u32 {
        self.changes.get()
    }
}

impl Extension for CarefulVirtualFsp {
    fn virtual_device_creation(&self, _cb: &mut Callbacks<'_>) -> VirtualDevices {
        VirtualDevices {
            ok: true,
            count: self.count,
            id_prefix: self.prefix,
            name_prefix: "Careful virtual line".into(),
        }
    }

    fn initialize_config(&self, cb: &mut Callbacks<'_>) -> i32 {
        for i in 0..self.count {
            cb.set_data(self.prefix + i, SOURCE_FAX, STATUS_GUID, b"idle");
        }
        NOERROR
    }

    fn dev_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        let callback = cb.new_callback();
        for i in 0..self.count {
            if let Ok(h) = cb.register(self.prefix + i, SOURCE_FAX, FLAGS_GUID, callback) {
                self.handles.borrow_mut().push(h);
            }
        }
        true
    }

    fn config_change(&self, _cb: &mut Callbacks<'_>, _change: &mut ConfigChange<'_>) -> i32 {
        self.changes.set(self.changes.get() + 1);
        NOERROR
    }

    fn dev_shutdown(&self, cb: &mut Callbacks<'_>) -> i32 {
        for h in std::mem::take(&mut *self.handles.borrow_mut()) {
            cb.unregister(h);
        }
        S_OK
    }

    fn unloaded(&self) {
        self.handles.borrow_mut().clear();
        self.changes.set(0);
    }
}

/// A routing extension with the classic mistakes: it re-reads its flags on every
/// notification and forgets to free the buffer (`buffer-leak`), frees the notification's
/// own `lpData` (`foreign-free`), registers with the TAPI id source although routing
/// extensions talk logical ids (`wrong-id-source`), tries to register again from inside
/// the notification (`busy-reentry`), and registers twice for the same key
/// (`duplicate-registration`).
#[derive(Debug, Default)]
pub struct BuggyRouting {
    callback: Cell<Option<CallbackId>>,
}

impl Extension for BuggyRouting {
    fn route_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        let callback = cb.new_callback();
        self.callback.set(Some(callback));
        let _ = cb.register(0, SOURCE_FAX, FLAGS_GUID, callback);
        let _ = cb.register(0, SOURCE_FAX, FLAGS_GUID, callback);
        true
    }

    fn route_device_change(&self, cb: &mut Callbacks<'_>, device: u32, new: bool) -> bool {
        if new && let Some(callback) = self.callback.get() {
            let _ = cb.register(device, SOURCE_TAPI, FLAGS_GUID, callback);
        }
        true
    }

    fn config_change(&self, cb: &mut Callbacks<'_>, change: &mut ConfigChange<'_>) -> i32 {
        let _leaked = cb.get_data(0, SOURCE_FAX, FLAGS_GUID);
        cb.free_buffer(FreeArg::ChangeData(change.delivery));
        if let Some(callback) = self.callback.get() {
            let _ = cb.register(change.device, SOURCE_FAX, STATUS_GUID, callback);
        }
        NOERROR
    }

    fn unloaded(&self) {
        self.callback.set(None);
    }
}
