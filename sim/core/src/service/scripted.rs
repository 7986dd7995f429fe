//! Scripted operation: a driver performs the service's side of a run event by event, and
//! an [`Oracle`] answers the extensions' callback calls, instead of the model deciding.
//!
//! This is how strict replay works. The driver reads a recorded trace and hands each event
//! the service initiated (a service start, a device, a lifecycle call, a ConfigChange
//! delivery, an external write) to [`Service::perform`], which makes exactly that call or
//! emits exactly that event. When an extension calls one of the five callbacks, the
//! service emits the call as usual and asks the oracle for the answer: the oracle may
//! perform nested events first (the deliveries a recorded SetData made) and then gives the
//! recorded return. Everything else is the service as always: events, the live checker,
//! guarded buffers, the host's trampolines, so a replayed run is judged like any other.

use std::rc::Rc;
use std::sync::Arc;

use faxsim_abi::ERROR_GEN_FAILURE;
use faxsim_trace::{Crossing, Event, EventKind, ExtId, ExtensionKind, HandleId};

use super::{Life, Service, State};
use crate::checker::Checker;
use crate::devices::Device;
use crate::extension::ConfigChange;
use crate::guid::parse_braced_guid;

/// Answers callback calls in scripted operation (see the module docs).
pub trait Oracle {
    /// Extension `ext` made a call of `crossing`, whose event was just emitted; returns
    /// the return event to answer with (a `GetDataReturn` for GetData, and so on). It may
    /// perform nested events through `svc` first. An answer of another kind makes the
    /// call fail with `ERROR_GEN_FAILURE`.
    fn answer(&self, svc: &mut Service, ext: ExtId, crossing: Crossing) -> EventKind;
}

/// Why [`Service::perform`] did not perform an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The event is one an extension makes (a callback call, the return of an entry
    /// point, damage it did), not one the service initiates.
    #[error("the event is the extension's, not the service's")]
    ExtensionSide,
    /// The event names an extension the service does not have.
    #[error("the event names extension #{0}, which this run does not have")]
    NoSuchExtension(u16),
    /// A call into an extension without an extension.
    #[error("the event is a call into an extension but names none")]
    NoExtension,
    /// An entry point faxsim does not model, into an extension that cannot be driven
    /// through it without its arguments (only a stand-in played from a recording can).
    #[error("faxsim cannot drive this entry point: its arguments are not recorded")]
    NotDriven,
}

impl Service {
    /// Answers callback calls from `oracle` (scripted operation) or, with `None`, from the
    /// model again.
    pub fn set_oracle(&mut self, oracle: Option<Rc<dyn Oracle>>) {
        self.oracle = oracle;
    }

    /// Sets the `seq` and virtual time of the next event (a driver about to make a
    /// recorded call on an extension's behalf).
    pub fn set_clock(&mut self, seq: u64, time: u64) {
        self.seq = seq;
        self.step = time;
    }

    /// Whether an oracle answers the callbacks.
    pub fn is_scripted(&self) -> bool {
        self.oracle.is_some()
    }

    /// Performs one event the service initiates, exactly as given: its `seq`, `time` and
    /// `thread` become the service's, then the call is made (and the extension's answer
    /// recorded as the return event) or the observation emitted. Extension-side events are
    /// refused.
    pub fn perform(&mut self, event: &Event) -> Result<(), Refused> {
        use EventKind as K;
        let ext = match event.ext {
            Some(x) if x.index() >= self.exts.len() => return Err(Refused::NoSuchExtension(x.0)),
            x => x,
        };
        let needs_ext = || ext.ok_or(Refused::NoExtension);
        match &event.kind {
            K::ServiceStart { .. }
            | K::ServiceStopping
            | K::ServiceStopped
            | K::DeviceAdded { .. }
            | K::DeviceRemoved { .. }
            | K::ValueCorrupted { .. }
            | K::ExternalWriteCall { .. }
            | K::ExternalWriteReturn { .. }
            | K::RoutingStart { .. }
            | K::RoutingEnd { .. }
            | K::DeliveryCut { .. } => {}
            K::Load { .. }
            | K::Unload
            | K::VirtualDeviceCreationCall
            | K::InitializeConfigCall
            | K::DevInitializeCall
            | K::RouteInitializeCall
            | K::RouteDeviceChangeCall { .. }
            | K::DevShutdownCall
            | K::ConfigChangeCall { .. }
            | K::RouteDeviceEnableCall { .. }
            | K::RouteGetRoutingInfoCall { .. }
            | K::RouteSetRoutingInfoCall { .. } => {
                needs_ext()?;
            }
            K::EntryPointCall { function } => {
                let x = needs_ext()?;
                if !self.exts[x.index()].imp.drives_entry_point(function) {
                    return Err(Refused::NotDriven);
                }
            }
            _ => return Err(Refused::ExtensionSide),
        }
        self.seq = event.seq;
        self.step = event.time;
        self.thread = event.thread;
        match &event.kind {
            K::ServiceStart { run } => {
                if self.checker.is_none() && self.opts.live_check {
                    self.checker = Some(Checker::new(self.checker_config()));
                }
                self.run = *run;
                self.state = State::Running;
                self.regs.reset();
                self.routing = None;
                self.emit(None, event.kind.clone());
            }
            K::ServiceStopping => {
                self.state = State::Stopping;
                self.emit(None, event.kind.clone());
            }
            K::ServiceStopped => {
                self.pending.clear();
                self.last_due.clear();
                self.regs.reset();
                self.emit(None, event.kind.clone());
                self.state = State::Stopped;
                self.delivering = 0;
                self.depth = 0;
            }
            K::DeviceAdded {
                device,
                tapi,
                owner,
            } => {
                self.devices.add(Device {
                    logical: *device,
                    tapi: *tapi,
                    owner: *owner,
                });
                self.emit(ext, event.kind.clone());
            }
            K::DeviceRemoved { device } => {
                self.devices.remove(*device);
                self.emit(ext, event.kind.clone());
            }
            K::ValueCorrupted { device, guid } => {
                if let Some(g) = parse_braced_guid(guid) {
                    self.store.corrupt((*device, g));
                }
                self.emit(ext, event.kind.clone());
            }
            K::RoutingStart {
                job,
                device,
                methods,
            } => {
                self.emit(ext, event.kind.clone());
                self.begin_routing(*job, *device, methods.clone());
            }
            K::RoutingEnd { .. } => {
                self.routing = None;
                self.emit(ext, event.kind.clone());
            }
            K::ExternalWriteCall { .. } | K::ExternalWriteReturn { .. } | K::DeliveryCut { .. } => {
                self.emit(ext, event.kind.clone());
            }
            K::Load { .. } => {
                let x = needs_ext()?;
                let (kind, exports) = {
                    let s = &mut self.exts[x.index()];
                    s.life = Life::Loaded;
                    s.shutting_down = false;
                    // Asked again at every load: a stand-in learns its exports from the
                    // recording as it goes.
                    s.exports = super::exports_of(s.kind, &*s.imp);
                    (s.kind, s.exports)
                };
                self.emit(Some(x), EventKind::Load { kind, exports });
            }
            K::Unload => self.unload_library(needs_ext()?),
            K::VirtualDeviceCreationCall => {
                let x = needs_ext()?;
                let (ok, count, prefix) = self.call_virtual_device_creation(x);
                if !ok || count == 0 || prefix == 0 {
                    self.exts[x.index()].life = Life::ProviderFailed;
                }
            }
            K::InitializeConfigCall => {
                self.call_initialize_config(needs_ext()?);
            }
            K::DevInitializeCall | K::RouteInitializeCall => self.general_init(needs_ext()?),
            K::RouteDeviceChangeCall { device, new_device } => {
                self.call_route_device_change(needs_ext()?, *device, *new_device);
            }
            K::DevShutdownCall => {
                self.call_dev_shutdown(needs_ext()?);
            }
            K::RouteDeviceEnableCall {
                guid,
                device,
                enabled,
            } => {
                self.call_route_device_enable(needs_ext()?, guid.clone(), *device, *enabled);
            }
            K::RouteGetRoutingInfoCall {
                guid,
                device,
                buffer,
                size,
            } => {
                let capacity = buffer.then_some(*size);
                self.call_route_get_routing_info(needs_ext()?, guid.clone(), *device, capacity);
            }
            K::RouteSetRoutingInfoCall {
                guid,
                device,
                data,
                size,
            } => {
                self.call_route_set_routing_info(
                    needs_ext()?,
                    guid.clone(),
                    *device,
                    data.clone(),
                    *size,
                );
            }
            K::EntryPointCall { function } => {
                self.call_entry_point(needs_ext()?, function.clone());
            }
            K::ConfigChangeCall {
                handle,
                callback,
                device,
                guid,
                data,
                ..
            } => {
                let x = needs_ext()?;
                let delivery = self.emit(Some(x), event.kind.clone());
                let mut change = ConfigChange {
                    callback: *callback,
                    device: *device,
                    guid,
                    data,
                    delivery,
                    scribble: None,
                };
                let imp = self.exts[x.index()].imp.clone();
                self.depth += 1;
                self.delivering += 1;
                let hr = imp.config_change(&mut self.callbacks_for(x), &mut change);
                self.delivering -= 1;
                self.depth -= 1;
                self.report_written_inputs(x, delivery);
                if let Some(offset) = change.scribble {
                    self.emit(Some(x), EventKind::ChangeDataWritten { delivery, offset });
                }
                self.emit(
                    Some(x),
                    EventKind::ConfigChangeReturn {
                        handle: *handle,
                        hr,
                    },
                );
            }
            _ => unreachable!("refused above"),
        }
        Ok(())
    }

    /// Whether the model would still recognise `ext` (loaded, its config init did not
    /// fail).
    pub fn is_loaded(&self, ext: ExtId) -> bool {
        self.exts
            .get(ext.index())
            .is_some_and(|s| s.life != Life::Unloaded)
    }

    /// The kind of every extension, by `ExtId`.
    pub fn extension_kinds(&self) -> Vec<ExtensionKind> {
        self.exts.iter().map(|e| e.kind).collect()
    }

    // ---- the callbacks' scripted answers (called by the callbacks in `mod.rs`) -----------

    pub(super) fn answer_get_data(
        &mut self,
        ext: ExtId,
        device: u32,
        guid: Option<Arc<str>>,
        call: u64,
        answer: EventKind,
    ) -> Result<faxsim_trace::BufferId, u32> {
        let answer = match answer {
            a @ EventKind::GetDataReturn { .. } => a,
            _ => EventKind::GetDataReturn {
                code: ERROR_GEN_FAILURE,
                buffer: None,
                data: None,
                injected: false,
            },
        };
        let EventKind::GetDataReturn {
            code, buffer, data, ..
        } = &answer
        else {
            unreachable!("made a GetDataReturn above")
        };
        let result = match (code, buffer, data) {
            (0, Some(id), Some(bytes)) => {
                let guid = guid.unwrap_or_else(|| Arc::from(""));
                Ok(self.ledger.allocate_as(*id, ext, device, guid, call, bytes))
            }
            (0, ..) => Err(ERROR_GEN_FAILURE),
            (code, ..) => Err(*code),
        };
        self.emit(Some(ext), answer);
        result
    }

    pub(super) fn answer_set_data(&mut self, ext: ExtId, answer: EventKind) -> u32 {
        let answer = match answer {
            a @ EventKind::SetDataReturn { .. } => a,
            _ => EventKind::SetDataReturn {
                code: ERROR_GEN_FAILURE,
                injected: false,
            },
        };
        let EventKind::SetDataReturn { code, .. } = answer else {
            unreachable!("made a SetDataReturn above")
        };
        self.emit(Some(ext), answer);
        code
    }

    pub(super) fn answer_register(
        &mut self,
        ext: ExtId,
        answer: EventKind,
    ) -> Result<HandleId, u32> {
        let answer = match answer {
            a @ EventKind::RegisterReturn { .. } => a,
            _ => EventKind::RegisterReturn {
                handle: None,
                last_error: ERROR_GEN_FAILURE,
                injected: false,
            },
        };
        let EventKind::RegisterReturn {
            handle, last_error, ..
        } = answer
        else {
            unreachable!("made a RegisterReturn above")
        };
        self.last_error.insert(self.thread, last_error);
        self.emit(Some(ext), answer);
        handle.ok_or(last_error)
    }

    pub(super) fn answer_unregister(&mut self, ext: ExtId, answer: EventKind) -> u32 {
        let answer = match answer {
            a @ EventKind::UnregisterReturn { .. } => a,
            _ => EventKind::UnregisterReturn {
                code: ERROR_GEN_FAILURE,
                injected: false,
            },
        };
        let EventKind::UnregisterReturn { code, .. } = answer else {
            unreachable!("made an UnregisterReturn above")
        };
        self.emit(Some(ext), answer);
        code
    }
}
