//! Extensions of a recording that the replay has no build of (the validate battery's
//! in-service peer, another vendor's extension on the customer's server): a stand-in makes
//! the calls the recording shows it making, with the arguments recorded, and answers the
//! service's calls with the values recorded. So a replay needs a build of only the
//! extension under test; the others behave exactly as they did.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use faxsim_abi::{E_FAIL, FALSE, NOERROR, S_OK};
use faxsim_sim::{
    Callbacks, ConfigChange, Extension, FreeArg, HInst, RoutingInfo, UnregisterArg, VirtualDevices,
};
use faxsim_trace::{
    BufferArg, Crossing, Direction, Event, EventKind, Exports, ExtId, HInstArg, Half, HandleArg,
};

use crate::cursor::Cursor;

/// Raw pointer values a stand-in passes where the recording shows a foreign one: far from
/// any real module or buffer, one per foreign id, so the service numbers them as recorded.
const FOREIGN_BASE: u64 = 0x7F5A_0000_0000;

/// One recorded extension, played back.
pub(crate) struct StandIn {
    ext: ExtId,
    cursor: Rc<RefCell<Cursor>>,
    /// What it exports: learned from each recorded `load` before the service loads it.
    pub exports: Cell<Exports>,
}

impl StandIn {
    pub fn new(ext: ExtId, cursor: Rc<RefCell<Cursor>>) -> StandIn {
        StandIn {
            ext,
            cursor,
            exports: Cell::new(Exports {
                initialize_config: true,
                dev_shutdown: true,
                route_device_change: true,
            }),
        }
    }

    /// Makes the calls recorded inside this extension's `crossing` until its return;
    /// returns the recorded return (`None` when the replay diverged or the recording
    /// ended: the comparison reports why).
    fn play(&self, cb: &mut Callbacks<'_>, crossing: Crossing) -> Option<EventKind> {
        loop {
            let next = {
                let mut c = self.cursor.borrow_mut();
                if !c.live() {
                    return None;
                }
                c.next_event()?
            };
            if next.ext != Some(self.ext) {
                return None;
            }
            match next.kind.half() {
                Some(Half::Return(c)) if c == crossing => return Some(next.kind),
                Some(Half::Call(c)) if c.direction() == Direction::ToService => {
                    if !make_call(&self.cursor, cb, &next) {
                        return None;
                    }
                }
                _ => return self.observed_at_return(cb, crossing),
            }
        }
    }

    /// What the service records as the call returns, after the calls made inside it:
    /// input the extension wrote into is reported now (the service records it when the
    /// call returns, and the comparison checks it then), up to the recorded return,
    /// which is given back. `None` when something else comes first (the ConfigChange's
    /// `lpData` written: see `config_change`).
    fn observed_at_return(&self, cb: &mut Callbacks<'_>, crossing: Crossing) -> Option<EventKind> {
        let mut c = self.cursor.borrow_mut();
        for k in 0..8 {
            let e = c.peek_nth(k)?;
            if e.ext != Some(self.ext) {
                return None;
            }
            match &e.kind {
                EventKind::InputWritten { input, offset, .. } => {
                    cb.report_input_written(*input, *offset)
                }
                kind if kind.half() == Some(Half::Return(crossing)) => return Some(kind.clone()),
                _ => return None,
            }
        }
        None
    }
}

/// Makes the recorded callback call `e` through `cb`; false if it was not reproduced
/// (the comparison did not move on).
pub(crate) fn make_call(cursor: &Rc<RefCell<Cursor>>, cb: &mut Callbacks<'_>, e: &Event) -> bool {
    let before = cursor.borrow().matched;
    issue(cb, e);
    let mut c = cursor.borrow_mut();
    if c.matched == before && c.live() {
        c.diverge(None, "the service did not take the recorded call".into());
    }
    c.matched > before
}

fn hinst_value(cb: &Callbacks<'_>, h: HInstArg) -> HInst {
    match h {
        HInstArg::Null => HInst::NULL,
        HInstArg::Ext(x) => cb.hinst_of(x),
        HInstArg::Foreign(f) => HInst(FOREIGN_BASE + u64::from(f.0)),
    }
}

/// One recorded callback call, with its recorded arguments.
fn issue(cb: &mut Callbacks<'_>, e: &Event) {
    match &e.kind {
        EventKind::GetDataCall {
            device,
            source,
            guid,
            null_out,
        } => {
            if let Ok(id) = cb.get_data_raw(*device, *source, guid.as_deref(), *null_out) {
                // Only the service's copy exists: nothing to hand to anyone.
                let _ = id;
            }
        }
        EventKind::SetDataCall {
            hinst,
            device,
            source,
            guid,
            data,
            size,
        } => {
            let hinst = hinst_value(cb, *hinst);
            cb.set_data_raw(
                hinst,
                *device,
                *source,
                guid.as_deref(),
                data.as_deref(),
                *size,
            );
        }
        EventKind::RegisterCall {
            hinst,
            device,
            source,
            guid,
            callback,
        } => {
            let hinst = hinst_value(cb, *hinst);
            let _ = cb.register_raw(hinst, *device, *source, guid.as_deref(), *callback);
        }
        EventKind::UnregisterCall { handle } => {
            let arg = match handle {
                HandleArg::Null => UnregisterArg::Null,
                HandleArg::InvalidValue => UnregisterArg::InvalidValue,
                HandleArg::Handle(h) => UnregisterArg::Handle(*h),
                HandleArg::Foreign(f) => UnregisterArg::Foreign(FOREIGN_BASE + u64::from(f.0)),
            };
            cb.unregister_raw(arg);
        }
        EventKind::FreeBufferCall { buffer } => {
            let arg = match buffer {
                BufferArg::Null => FreeArg::Null,
                BufferArg::Buffer(b) => FreeArg::Buffer(*b),
                BufferArg::ChangeData { delivery } => FreeArg::ChangeData(*delivery),
                BufferArg::Foreign(f) => FreeArg::Foreign(FOREIGN_BASE + u64::from(f.0)),
            };
            cb.free_buffer(arg);
        }
        _ => {}
    }
}

/// A recorded extension played back: for each crossing the service makes into it, it
/// makes the calls recorded inside and gives the recorded return. [`PlayedBack`] makes
/// one an [`Extension`].
pub(crate) trait Playback {
    /// What it exports.
    fn exports(&self) -> Exports;

    /// Makes the calls recorded inside this extension's `crossing` until its return;
    /// returns the recorded return (`None`: there is none to give).
    fn play(&self, cb: &mut Callbacks<'_>, crossing: Crossing) -> Option<EventKind>;

    /// Whether it answers the job and routing-method entry point `function`.
    fn drives_entry_point(&self, _function: &str) -> bool {
        false
    }

    /// A job or routing-method entry point: the recorded result.
    fn entry_point(&self, cb: &mut Callbacks<'_>, _function: &str) -> i32 {
        match self.play(cb, Crossing::EntryPoint) {
            Some(EventKind::EntryPointReturn { result }) => result,
            _ => FALSE,
        }
    }

    /// A notification: the recorded return.
    fn config_change(&self, cb: &mut Callbacks<'_>, _change: &mut ConfigChange<'_>) -> i32 {
        match self.play(cb, Crossing::ConfigChange) {
            Some(EventKind::ConfigChangeReturn { hr, .. }) => hr,
            _ => E_FAIL,
        }
    }
}

/// A [`Playback`] as the service sees it. Each crossing's answer when the recording has
/// none (the replay diverged or ended) is the harmless one: a failed or empty result.
pub(crate) struct PlayedBack<P>(pub P);

impl<P: Playback> Extension for PlayedBack<P> {
    fn exports(&self) -> Exports {
        self.0.exports()
    }

    fn virtual_device_creation(&self, cb: &mut Callbacks<'_>) -> VirtualDevices {
        match self.0.play(cb, Crossing::VirtualDeviceCreation) {
            Some(EventKind::VirtualDeviceCreationReturn {
                ok,
                count,
                id_prefix,
                name_prefix,
            }) => VirtualDevices {
                ok,
                count,
                id_prefix,
                name_prefix: name_prefix.to_string(),
            },
            _ => VirtualDevices {
                ok: false,
                count: 0,
                id_prefix: 0,
                name_prefix: String::new(),
            },
        }
    }

    fn initialize_config(&self, cb: &mut Callbacks<'_>) -> i32 {
        match self.0.play(cb, Crossing::InitializeConfig) {
            Some(EventKind::InitializeConfigReturn { hr }) => hr,
            _ => NOERROR,
        }
    }

    fn dev_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        !matches!(
            self.0.play(cb, Crossing::DevInitialize),
            Some(EventKind::DevInitializeReturn { ok: false })
        )
    }

    fn route_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        !matches!(
            self.0.play(cb, Crossing::RouteInitialize),
            Some(EventKind::RouteInitializeReturn { ok: false })
        )
    }

    fn route_device_change(&self, cb: &mut Callbacks<'_>, _device: u32, _new: bool) -> bool {
        !matches!(
            self.0.play(cb, Crossing::RouteDeviceChange),
            Some(EventKind::RouteDeviceChangeReturn { ok: false })
        )
    }

    fn dev_shutdown(&self, cb: &mut Callbacks<'_>) -> i32 {
        match self.0.play(cb, Crossing::DevShutdown) {
            Some(EventKind::DevShutdownReturn { hr }) => hr,
            _ => S_OK,
        }
    }

    fn route_device_enable(
        &self,
        cb: &mut Callbacks<'_>,
        _guid: Option<&str>,
        _device: u32,
        _enabled: i32,
    ) -> i32 {
        match self.0.play(cb, Crossing::RouteDeviceEnable) {
            Some(EventKind::RouteDeviceEnableReturn { result }) => result,
            _ => FALSE,
        }
    }

    fn route_get_routing_info(
        &self,
        cb: &mut Callbacks<'_>,
        _guid: Option<&str>,
        _device: u32,
        _capacity: Option<u32>,
    ) -> RoutingInfo {
        match self.0.play(cb, Crossing::RouteGetRoutingInfo) {
            Some(EventKind::RouteGetRoutingInfoReturn { ok, size, data }) => RoutingInfo {
                ok,
                size,
                data: data.map(|d| d.to_vec()),
            },
            _ => RoutingInfo {
                ok: false,
                size: 0,
                data: None,
            },
        }
    }

    fn route_set_routing_info(
        &self,
        cb: &mut Callbacks<'_>,
        _guid: Option<&str>,
        _device: u32,
        _data: Option<&[u8]>,
        _size: u32,
    ) -> bool {
        matches!(
            self.0.play(cb, Crossing::RouteSetRoutingInfo),
            Some(EventKind::RouteSetRoutingInfoReturn { ok: true })
        )
    }

    fn drives_entry_point(&self, function: &str) -> bool {
        self.0.drives_entry_point(function)
    }

    fn entry_point(&self, cb: &mut Callbacks<'_>, function: &str) -> i32 {
        self.0.entry_point(cb, function)
    }

    fn config_change(&self, cb: &mut Callbacks<'_>, change: &mut ConfigChange<'_>) -> i32 {
        self.0.config_change(cb, change)
    }
}

impl Playback for StandIn {
    fn exports(&self) -> Exports {
        self.exports.get()
    }

    fn play(&self, cb: &mut Callbacks<'_>, crossing: Crossing) -> Option<EventKind> {
        StandIn::play(self, cb, crossing)
    }

    fn drives_entry_point(&self, _function: &str) -> bool {
        true
    }

    fn config_change(&self, cb: &mut Callbacks<'_>, change: &mut ConfigChange<'_>) -> i32 {
        if let Some(EventKind::ConfigChangeReturn { hr, .. }) =
            self.play(cb, Crossing::ConfigChange)
        {
            return hr;
        }
        // It wrote into lpData: the service reports that when the call returns, before
        // the return itself (after any input written, already reported by `play`).
        let mut c = self.cursor.borrow_mut();
        let mut k = 0;
        while let Some(Event {
            ext,
            kind: EventKind::InputWritten { .. },
            ..
        }) = c.peek_nth(k)
            && *ext == Some(self.ext)
            && k < 8
        {
            k += 1;
        }
        if let Some(Event {
            ext,
            kind: EventKind::ChangeDataWritten { offset, .. },
            ..
        }) = c.peek_nth(k)
            && *ext == Some(self.ext)
        {
            change.write_into_data(*offset);
            if let Some(Event {
                kind: EventKind::ConfigChangeReturn { hr, .. },
                ..
            }) = c.peek_nth(k + 1)
            {
                return *hr;
            }
        }
        E_FAIL
    }
}
