//! The scripted extension: an [`Extension`] whose every hook runs a list of actions
//! from a scenario file, covering the whole callback surface so every rule of the catalog
//! can be provoked without compiling anything.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use faxsim_abi::{ERROR_SUCCESS, S_OK};
use faxsim_trace::{
    BufferId, CallbackId, Exports, ExtensionKind, HandleId, SOURCE_FAX, SOURCE_TAPI,
};

use faxsim_sim::extension::{ConfigChange, Extension, VirtualDevices};
use faxsim_sim::guid::parse_braced_guid;
use faxsim_sim::ledger::GUARD_LEN;
use faxsim_sim::registry::HInst;
use faxsim_sim::service::{Callbacks, FreeArg, UnregisterArg};

use crate::model::{Action, SourceDecl};

/// A pointer value no extension or service ever hands out.
pub const BOGUS_POINTER: u64 = 0x0BAD_F00D_0000_0010;

/// One hook's script.
#[derive(Clone, Debug, Default)]
pub struct HookScript {
    /// HRESULT (or BOOL as 0/1) the hook returns.
    pub result: i64,
    /// Run the actions only this many times.
    pub times: Option<u32>,
    /// Only for ConfigChange calls with this GUID value.
    pub guid: Option<u128>,
    /// The actions.
    pub actions: Vec<Action>,
    calls: Cell<u32>,
}

impl HookScript {
    /// A hook returning `result` that runs `actions`.
    pub fn new(result: i64, times: Option<u32>, guid: Option<u128>, actions: Vec<Action>) -> Self {
        HookScript {
            result,
            times,
            guid,
            actions,
            calls: Cell::new(0),
        }
    }
}

/// What the runner shares with every scripted extension.
#[derive(Debug, Default)]
pub struct ScriptShared {
    /// Module handles by extension name (for `hinst = "other-extension"`).
    pub hinsts: RefCell<BTreeMap<String, HInst>>,
    /// Expectations that failed inside hooks (an action's `expect`).
    pub failures: RefCell<Vec<String>>,
}

/// An extension driven by a scenario's action lists.
#[derive(Debug)]
pub struct ScriptedExtension {
    name: String,
    kind: ExtensionKind,
    exports: Exports,
    virtual_devices: VirtualDevices,
    pub(crate) config_init: HookScript,
    pub(crate) general_init: HookScript,
    pub(crate) on_change: HookScript,
    pub(crate) on_arrival: HookScript,
    pub(crate) on_removal: HookScript,
    pub(crate) shutdown: HookScript,
    shared: Rc<ScriptShared>,
    buffers: RefCell<BTreeMap<String, BufferId>>,
    handles: RefCell<BTreeMap<String, HandleId>>,
    callback: Cell<Option<CallbackId>>,
}

/// Builds a [`ScriptedExtension`].
#[derive(Debug)]
pub struct ScriptBuilder {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: ExtensionKind,
    /// Its exports.
    pub exports: Exports,
    /// Its virtual devices (virtual FSPs).
    pub virtual_devices: VirtualDevices,
    /// The hooks.
    pub config_init: HookScript,
    /// `FaxDevInitialize` / `FaxRouteInitialize` (result is a BOOL as 0/1).
    pub general_init: HookScript,
    /// ConfigChange.
    pub on_change: HookScript,
    /// Device arrival.
    pub on_arrival: HookScript,
    /// Device removal.
    pub on_removal: HookScript,
    /// `FaxDevShutdown`.
    pub shutdown: HookScript,
}

impl ScriptBuilder {
    /// The extension, sharing `shared` with the runner.
    pub fn build(self, shared: Rc<ScriptShared>) -> ScriptedExtension {
        ScriptedExtension {
            name: self.name,
            kind: self.kind,
            exports: self.exports,
            virtual_devices: self.virtual_devices,
            config_init: self.config_init,
            general_init: self.general_init,
            on_change: self.on_change,
            on_arrival: self.on_arrival,
            on_removal: self.on_removal,
            shutdown: self.shutdown,
            shared,
            buffers: RefCell::default(),
            handles: RefCell::default(),
            callback: Cell::new(None),
        }
    }
}

/// Decodes a hex string (whitespace allowed between bytes).
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("hex {s:?} has an odd number of digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).map_err(|_| format!("bad hex {s:?}"))?;
            u8::from_str_radix(text, 16).map_err(|_| format!("bad hex {s:?}"))
        })
        .collect()
}

/// The pattern bytes a `size = N` stands for.
pub fn pattern(size: u32) -> Vec<u8> {
    (0..size).map(|i| i as u8).collect()
}

/// A Win32 code by name or number.
pub fn code_by_name(name: &str) -> Option<u32> {
    faxsim_abi::win32_error_from_name(name).or_else(|| name.parse().ok())
}

impl ScriptedExtension {
    fn fail(&self, msg: String) {
        self.shared
            .failures
            .borrow_mut()
            .push(format!("extension {:?}: {msg}", self.name));
    }

    fn source(&self, source: Option<SourceDecl>, raw: Option<i32>) -> i32 {
        raw.unwrap_or(match source {
            Some(SourceDecl::Fax) => SOURCE_FAX,
            Some(SourceDecl::Tapi) => SOURCE_TAPI,
            None => self.kind.expected_source(),
        })
    }

    fn hinst(&self, cb: &Callbacks<'_>, name: Option<&str>) -> HInst {
        match name {
            None | Some("own") => cb.hinst(),
            Some("null") => HInst::NULL,
            Some("bogus") => HInst(BOGUS_POINTER),
            Some(other) => self
                .shared
                .hinsts
                .borrow()
                .get(other)
                .copied()
                .unwrap_or(HInst(BOGUS_POINTER)),
        }
    }

    fn check(&self, what: &str, expect: &Option<String>, got: u32) {
        if let Some(e) = expect {
            let want = code_by_name(e);
            if want != Some(got) {
                let got_name = faxsim_abi::win32_error_name(got).unwrap_or("?");
                self.fail(format!("{what} returned {got_name} ({got}), expected {e}"));
            }
        }
    }

    fn callback_id(&self, cb: &mut Callbacks<'_>) -> CallbackId {
        self.callback.get().unwrap_or_else(|| {
            let c = cb.new_callback();
            self.callback.set(Some(c));
            c
        })
    }

    /// Runs actions for the extension (from a hook, or from a `run` step).
    pub fn run_actions(
        &self,
        cb: &mut Callbacks<'_>,
        actions: &[Action],
        mut change: Option<&mut ConfigChange<'_>>,
    ) {
        for action in actions {
            self.run_action(cb, action, change.as_deref_mut());
        }
    }

    fn run_action(
        &self,
        cb: &mut Callbacks<'_>,
        action: &Action,
        change: Option<&mut ConfigChange<'_>>,
    ) {
        match action {
            Action::Get {
                device,
                source,
                source_value,
                guid,
                null_out,
                bind,
                expect,
            } => {
                let src = self.source(*source, *source_value);
                let r = cb.get_data_raw(*device, src, guid.as_deref(), *null_out);
                let code = r.err().unwrap_or(ERROR_SUCCESS);
                self.check("get", expect, code);
                if let Some(name) = bind {
                    // A failed GetData hands out nothing: the name names no buffer until
                    // the next successful `get` binds it again.
                    match r {
                        Ok(id) => self.buffers.borrow_mut().insert(name.clone(), id),
                        Err(_) => self.buffers.borrow_mut().remove(name),
                    };
                }
            }
            Action::Free { buffer, target } => {
                let arg = match (buffer, target.as_deref()) {
                    (Some(name), _) => match self.buffers.borrow().get(name) {
                        Some(id) => FreeArg::Buffer(*id),
                        // Careful C code frees only what it got (`if (p) free(p)`).
                        None => return,
                    },
                    (None, Some("change-data")) => match &change {
                        Some(ch) => FreeArg::ChangeData(ch.delivery),
                        None => {
                            self.fail("free change-data outside a ConfigChange".into());
                            return;
                        }
                    },
                    (None, Some("null")) => FreeArg::Null,
                    (None, _) => FreeArg::Foreign(BOGUS_POINTER),
                };
                cb.free_buffer(arg);
            }
            Action::Set {
                device,
                source,
                source_value,
                guid,
                hex,
                text,
                size,
                null_data,
                hinst,
                echo,
                append_hex,
                expect,
            } => {
                let src = self.source(*source, *source_value);
                let hinst = self.hinst(cb, hinst.as_deref());
                let mut data = if *null_data {
                    // NULL is passed: nothing to build, whatever the size.
                    Vec::new()
                } else if *echo {
                    change.as_ref().map(|c| c.data.to_vec()).unwrap_or_default()
                } else if let Some(h) = hex {
                    decode_hex(h).unwrap_or_default()
                } else if let Some(t) = text {
                    t.as_bytes().to_vec()
                } else {
                    pattern(size.unwrap_or(0))
                };
                if let Some(a) = append_hex {
                    data.extend(decode_hex(a).unwrap_or_default());
                }
                let code = if *null_data {
                    cb.set_data_raw(
                        hinst,
                        *device,
                        src,
                        guid.as_deref(),
                        None,
                        size.unwrap_or(0),
                    )
                } else {
                    let len = data.len() as u32;
                    cb.set_data_raw(hinst, *device, src, guid.as_deref(), Some(&data), len)
                };
                self.check("set", expect, code);
            }
            Action::Register {
                device,
                source,
                source_value,
                guid,
                null_callback,
                hinst,
                bind,
                expect,
            } => {
                let src = self.source(*source, *source_value);
                let hinst = self.hinst(cb, hinst.as_deref());
                let callback = (!null_callback).then(|| self.callback_id(cb));
                let r = cb.register_raw(hinst, *device, src, guid.as_deref(), callback);
                let code = r.err().unwrap_or(ERROR_SUCCESS);
                self.check("register", expect, code);
                if let Some(name) = bind {
                    match r {
                        Ok(h) => self.handles.borrow_mut().insert(name.clone(), h),
                        Err(_) => self.handles.borrow_mut().remove(name),
                    };
                }
            }
            Action::Unregister {
                handle,
                target,
                expect,
            } => {
                let arg = match (handle, target.as_deref()) {
                    (Some(name), _) => match self.handles.borrow().get(name) {
                        Some(h) => UnregisterArg::Handle(*h),
                        // Careful C code unregisters only a handle it got (`if (h) ...`).
                        None => {
                            if let Some(e) = expect {
                                self.fail(format!(
                                    "unregister of {name:?} expected {e}, but no successful register bound {name:?}, so it was skipped"
                                ));
                            }
                            return;
                        }
                    },
                    (None, Some("null")) => UnregisterArg::Null,
                    (None, Some("invalid")) => UnregisterArg::InvalidValue,
                    (None, _) => UnregisterArg::Foreign(BOGUS_POINTER),
                };
                let code = cb.unregister_raw(arg);
                self.check("unregister", expect, code);
            }
            Action::Overrun { buffer, by } => {
                if let Some(id) = self.buffers.borrow().get(buffer).copied() {
                    let size = cb.buffer(id).map_or(0, <[u8]>::len);
                    let by = by.unwrap_or(1).clamp(1, GUARD_LEN as u32) as usize;
                    cb.write_buffer_raw(id, size, &vec![0x5A; by]);
                }
            }
            Action::WriteBuffer {
                buffer,
                offset,
                hex,
            } => {
                if let Some(id) = self.buffers.borrow().get(buffer).copied() {
                    let bytes = hex.as_deref().map_or(Ok(vec![0x5A]), decode_hex);
                    cb.write_buffer_raw(id, *offset as usize, &bytes.unwrap_or_default());
                }
            }
            Action::WriteAfterFree { buffer } => {
                if let Some(id) = self.buffers.borrow().get(buffer).copied() {
                    cb.write_buffer_raw(id, 0, &[0x5A]);
                }
            }
            Action::Crash { detail } => cb.crash(detail.as_deref().unwrap_or("scripted crash")),
            Action::Hang { limit_ms } => cb.hang(limit_ms.unwrap_or(10_000)),
            Action::WriteChangeData => match change {
                Some(ch) => ch.write_into_data(0),
                None => self.fail("write-change-data outside a ConfigChange".into()),
            },
            Action::WriteChangeGuid => match change {
                // The first character (a brace stays a brace; a letter after it is what
                // lower-casing changes): offset 2 in bytes.
                Some(_) => cb.report_input_written(faxsim_trace::ServiceInput::Guid, 2),
                None => self.fail("write-change-guid outside a ConfigChange".into()),
            },
        }
    }

    fn hook(
        &self,
        hook: &HookScript,
        cb: &mut Callbacks<'_>,
        change: Option<&mut ConfigChange<'_>>,
    ) -> i64 {
        if let (Some(g), Some(ch)) = (hook.guid, change.as_ref())
            && parse_braced_guid(ch.guid) != Some(g)
        {
            return hook.result;
        }
        let n = hook.calls.get();
        hook.calls.set(n + 1);
        if hook.times.is_none_or(|t| n < t) {
            self.run_actions(cb, &hook.actions, change);
        }
        hook.result
    }
}

impl Extension for ScriptedExtension {
    fn exports(&self) -> Exports {
        self.exports
    }

    fn virtual_device_creation(&self, _cb: &mut Callbacks<'_>) -> VirtualDevices {
        self.virtual_devices.clone()
    }

    fn initialize_config(&self, cb: &mut Callbacks<'_>) -> i32 {
        self.hook(&self.config_init, cb, None) as i32
    }

    fn dev_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        self.hook(&self.general_init, cb, None) != 0
    }

    fn route_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        self.hook(&self.general_init, cb, None) != 0
    }

    fn route_device_change(&self, cb: &mut Callbacks<'_>, _device: u32, new: bool) -> bool {
        let hook = if new {
            &self.on_arrival
        } else {
            &self.on_removal
        };
        self.hook(hook, cb, None) != 0
    }

    fn dev_shutdown(&self, cb: &mut Callbacks<'_>) -> i32 {
        self.hook(&self.shutdown, cb, None) as i32
    }

    fn config_change(&self, cb: &mut Callbacks<'_>, change: &mut ConfigChange<'_>) -> i32 {
        self.hook(&self.on_change, cb, Some(change)) as i32
    }

    /// Bindings survive unload on purpose: a `run` step after `stop` models a call
    /// through a pointer the extension kept (`call-after-unload`).
    fn unloaded(&self) {
        self.callback.set(None);
    }
}

/// The default result of a hook: TRUE for the BOOL entry points, `S_OK` for the others.
pub fn default_result(bool_hook: bool) -> i64 {
    if bool_hook { 1 } else { i64::from(S_OK) }
}
