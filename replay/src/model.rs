//! Model replay: the service model answers, the recording supplies the inputs.
//!
//! The driver re-enacts what came from outside the extensions under test, at the points
//! the recording shows: service starts and stops, devices arriving and leaving, writes
//! by an administrator, the store's values before the run, the recorded extensions'
//! own calls (stand-ins), and the service's open decisions (delivery order, deferral
//! points, injected failures, taken from the recording through the [`Choices`] seam).
//! Everything else (loads, initialisation, every delivery, every answer) is the model's,
//! so the replay goes on past any difference, and the two runs are compared afterwards,
//! aligned per extension and per configuration key ([`crate::diff`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use faxsim_abi::Callback;
use faxsim_host::Host;
use faxsim_sim::{
    CallPoint, Callbacks, Choices, Extension, FreeArg, HInst, Service, UnregisterArg, WritePoint,
};
use faxsim_trace::{
    BufferArg, BufferId, Crossing, Direction, Event, EventKind, Exports, ExtId, HInstArg, Half,
    HandleArg, HandleId,
};

/// The index of the return in `events` that closes the call at `i` (its thread's, of the
/// same extension and crossing, calls nested in it skipped).
pub(crate) fn return_of(events: &[Event], i: usize) -> Option<usize> {
    let call = &events[i];
    let Some(Half::Call(c)) = call.kind.half() else {
        return None;
    };
    let mut depth = 0usize;
    for (j, e) in events.iter().enumerate().skip(i + 1) {
        if e.thread != call.thread || e.ext != call.ext {
            continue;
        }
        match e.kind.half() {
            Some(Half::Call(x)) if x == c => depth += 1,
            Some(Half::Return(x)) if x == c => {
                if depth == 0 {
                    return Some(j);
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

/// Raw pointer values for foreign arguments a stand-in passes (see `standin.rs`).
const FOREIGN_BASE: u64 = 0x7F5A_0000_0000;

/// One recorded call into an extension: the calls it made directly inside, each with
/// its recorded return, and its own return.
#[derive(Clone, Debug, Default)]
pub(crate) struct Episode {
    calls: Vec<(Event, Option<EventKind>)>,
    ret: Option<EventKind>,
}

/// A deferral that outlasts any run (a notification the recording never delivered).
const NEVER: u64 = 1 << 48;

/// A write as recorded: who heard of it, in which order, when.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteInfo {
    /// `seq` of the write's call.
    pub seq: u64,
    pub time: u64,
    pub order: Vec<HandleId>,
    pub delivered_at: HashMap<HandleId, u64>,
}

/// What the model driver needs from the recording, read once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Analysis {
    /// For each event, whether it happened outside any call on its thread.
    pub top: Vec<bool>,
    /// Devices that existed when the service first started: (logical, TAPI).
    pub machine: Vec<(u32, Option<u32>)>,
    /// Values read before anyone wrote them: the store the run started from.
    pub seeds: Vec<(u32, String, Vec<u8>)>,
    /// A recording proxy's trace: the TAPI lines the extension used successfully, with
    /// the logical id the model gives each (the proxy never sees the devices).
    pub tapi_lines: BTreeMap<u32, u32>,
    /// Registrations made with TAPI ids (their notifications name the line).
    pub tapi_handles: std::collections::HashSet<HandleId>,
    injected: HashMap<(ExtId, Callback), BTreeMap<u64, u32>>,
    /// Each injected failure: (index of the call event, caller, callback, its nth, code).
    pub injected_at: Vec<(usize, ExtId, Callback, u64, u32)>,
    /// The successful writes while the service ran, in the order the service numbers them.
    pub writes: Vec<WriteInfo>,
    pub episodes: HashMap<(ExtId, Crossing), VecDeque<Episode>>,
}

pub(crate) fn callback_of(c: Crossing) -> Option<Callback> {
    Some(match c {
        Crossing::GetData => Callback::GetData,
        Crossing::SetData => Callback::SetData,
        Crossing::Register => Callback::RegisterForEvents,
        Crossing::Unregister => Callback::UnregisterForEvents,
        Crossing::FreeBuffer => Callback::FreeBuffer,
        _ => return None,
    })
}

fn is_injected(k: &EventKind) -> Option<(u32, bool)> {
    match k {
        EventKind::GetDataReturn { code, injected, .. }
        | EventKind::SetDataReturn { code, injected }
        | EventKind::UnregisterReturn { code, injected } => Some((*code, *injected)),
        EventKind::RegisterReturn {
            last_error,
            injected,
            ..
        } => Some((*last_error, *injected)),
        _ => None,
    }
}

impl Analysis {
    /// Reads the recording once; episodes are kept only for the extensions
    /// `played_by_recording` says the recording plays (the others' behaviour is their own).
    /// With `failures_injected` (a recording proxy's trace: the service's reasons are
    /// unseen), every failed callback is replayed as a failure injected at that call, so
    /// the model answers as the real service did.
    pub fn of(
        events: &[Event],
        played_by_recording: impl Fn(ExtId) -> bool,
        failures_injected: bool,
    ) -> Analysis {
        let mut a = Analysis::default();
        // Open calls per thread: (crossing, ext, index of the call event, episode).
        let mut stacks: HashMap<u16, Vec<(Crossing, Option<ExtId>, usize)>> = HashMap::new();
        let mut episodes: HashMap<usize, Episode> = HashMap::new();
        let mut call_counts: HashMap<(ExtId, Callback), u64> = HashMap::new();
        // For each callback call on the stack, its nth.
        let mut nth_of: HashMap<usize, u64> = HashMap::new();
        let mut running = false;
        let mut started_once = false;
        let mut loaded_yet = false;
        let mut written: std::collections::HashSet<(u32, String)> = Default::default();
        // Every write in call order (the order the service numbers them in), with whether
        // it succeeded while the service ran; deliveries find theirs by the call's seq.
        let mut writes: Vec<(WriteInfo, bool)> = Vec::new();
        let mut write_of_seq: HashMap<u64, usize> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            let stack = stacks.entry(e.thread).or_default();
            a.top
                .push(stack.is_empty() && !matches!(e.kind.half(), Some(Half::Return(_))));
            match &e.kind {
                EventKind::ServiceStart { .. } => {
                    running = true;
                    loaded_yet = false;
                }
                EventKind::ServiceStopped => running = false,
                EventKind::Load { .. } => loaded_yet = true,
                EventKind::DeviceAdded {
                    device,
                    tapi,
                    owner: None,
                } if running && !started_once && !loaded_yet => a.machine.push((*device, *tapi)),
                _ => {}
            }
            if matches!(e.kind, EventKind::Load { .. }) {
                started_once = true;
            }
            match e.kind.half() {
                Some(Half::Call(c)) => {
                    // A direct child of the innermost open call into the same extension.
                    if c.direction() == Direction::ToService
                        && let Some(&(_, parent_ext, parent)) = stack.last()
                        && parent_ext == e.ext
                        && let Some(ep) = episodes.get_mut(&parent)
                    {
                        ep.calls.push((e.clone(), None));
                    }
                    if let (Some(cb), Some(x)) = (callback_of(c), e.ext) {
                        let n = call_counts.entry((x, cb)).or_default();
                        *n += 1;
                        nth_of.insert(i, *n);
                    }
                    if c.direction() == Direction::ToExtension
                        && e.ext.is_some_and(&played_by_recording)
                    {
                        episodes.insert(i, Episode::default());
                    }
                    if matches!(
                        e.kind,
                        EventKind::SetDataCall { .. } | EventKind::ExternalWriteCall { .. }
                    ) {
                        write_of_seq.insert(e.seq, writes.len());
                        writes.push((
                            WriteInfo {
                                seq: e.seq,
                                time: e.time,
                                ..WriteInfo::default()
                            },
                            false,
                        ));
                    }
                    if let EventKind::ConfigChangeCall {
                        handle,
                        cause: Some(cause),
                        ..
                    } = &e.kind
                        && let Some(&w) = write_of_seq.get(cause)
                    {
                        writes[w].0.order.push(*handle);
                        writes[w].0.delivered_at.entry(*handle).or_insert(e.time);
                    }
                    stack.push((c, e.ext, i));
                }
                Some(Half::Return(c)) => {
                    let Some(pos) = stack.iter().rposition(|(sc, x, _)| *sc == c && *x == e.ext)
                    else {
                        continue;
                    };
                    let (_, ext, at) = stack.remove(pos);
                    stack.truncate(pos);
                    if let Some(mut ep) = episodes.remove(&at)
                        && let Some(x) = ext
                    {
                        ep.ret = Some(e.kind.clone());
                        a.episodes.entry((x, c)).or_default().push_back(ep);
                    }
                    // The recorded return of a direct child call, for the stand-in.
                    if let Some(&(_, pext, parent)) = stack.last()
                        && pext == ext
                        && let Some(ep) = episodes.get_mut(&parent)
                        && let Some(slot) = ep
                            .calls
                            .iter_mut()
                            .rev()
                            .find(|(call, r)| r.is_none() && call.seq == events[at].seq)
                    {
                        slot.1 = Some(e.kind.clone());
                    }
                    if let (Some(cb), Some(x)) = (callback_of(c), ext)
                        && let Some((code, injected)) = is_injected(&e.kind)
                        && (injected || (failures_injected && code != 0))
                        && let Some(&n) = nth_of.get(&at)
                    {
                        a.injected.entry((x, cb)).or_default().insert(n, code);
                        a.injected_at.push((at, x, cb, n, code));
                    }
                    let call = &events[at];
                    if failures_injected {
                        a.note_tapi(call, &e.kind);
                    }
                    // A successful write while the service ran: its deliveries follow.
                    let ok_write = match (&call.kind, &e.kind) {
                        (
                            EventKind::SetDataCall { .. },
                            EventKind::SetDataReturn { code: 0, .. },
                        ) => true,
                        (
                            EventKind::ExternalWriteCall { .. },
                            EventKind::ExternalWriteReturn { code: 0 },
                        ) => running,
                        _ => false,
                    };
                    if ok_write && let Some(&w) = write_of_seq.get(&call.seq) {
                        writes[w].1 = true;
                    }
                    // Keys written, and values read before any write: the initial store.
                    // A write that failed changed nothing: a value read after it was
                    // there before.
                    match (&call.kind, &e.kind) {
                        (
                            EventKind::SetDataCall {
                                device,
                                guid: Some(g),
                                ..
                            }
                            | EventKind::ExternalWriteCall {
                                device,
                                guid: Some(g),
                                ..
                            },
                            EventKind::SetDataReturn { code: 0, .. }
                            | EventKind::ExternalWriteReturn { code: 0 },
                        ) => {
                            written.insert((*device, g.to_ascii_lowercase()));
                        }
                        (
                            EventKind::GetDataCall {
                                device,
                                guid: Some(g),
                                source,
                                ..
                            },
                            EventKind::GetDataReturn {
                                code: 0,
                                data: Some(d),
                                ..
                            },
                        ) => {
                            // A TAPI line's value lives under the device the model gives
                            // the line (a proxy's trace; faxsim's own name the devices).
                            let device = match *source {
                                faxsim_trace::SOURCE_FAX => Some(*device),
                                faxsim_trace::SOURCE_TAPI => a.tapi_lines.get(device).copied(),
                                _ => None,
                            };
                            if let Some(device) = device {
                                let key = (device, g.to_ascii_lowercase());
                                if written.insert(key) {
                                    a.seeds.push((device, g.to_string(), d.to_vec()));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                None => {}
            }
        }
        a.writes = writes
            .into_iter()
            .filter(|(_, ok)| *ok)
            .map(|(w, _)| w)
            .collect();
        a
    }
}

impl Analysis {
    /// Notes a TAPI line a call used successfully (see [`Analysis::tapi_lines`]).
    fn note_tapi(&mut self, call: &Event, ret: &EventKind) {
        use faxsim_trace::SOURCE_TAPI;
        let (device, ok) = match (&call.kind, ret) {
            (
                EventKind::GetDataCall {
                    device,
                    source: SOURCE_TAPI,
                    ..
                },
                EventKind::GetDataReturn { code, .. },
            )
            | (
                EventKind::SetDataCall {
                    device,
                    source: SOURCE_TAPI,
                    ..
                },
                EventKind::SetDataReturn { code, .. },
            ) => (*device, *code == 0),
            (
                EventKind::RegisterCall {
                    device,
                    source: SOURCE_TAPI,
                    ..
                },
                EventKind::RegisterReturn { handle, .. },
            ) => {
                if let Some(h) = handle {
                    self.tapi_handles.insert(*h);
                }
                (*device, handle.is_some())
            }
            _ => return,
        };
        if ok && !self.tapi_lines.contains_key(&device) {
            // Logical ids far from any a service or a virtual FSP would pick.
            let logical = 0x7000_0000 + self.tapi_lines.len() as u32;
            self.tapi_lines.insert(device, logical);
        }
    }
}

/// The recording's decisions, through the service's [`Choices`] seam.
pub(crate) struct RecordedChoices {
    injected: HashMap<(ExtId, Callback), BTreeMap<u64, u32>>,
    writes: Vec<WriteInfo>,
}

impl RecordedChoices {
    pub fn new(a: &Analysis) -> RecordedChoices {
        RecordedChoices {
            injected: a.injected.clone(),
            writes: a.writes.clone(),
        }
    }

    fn write(&self, w: &WritePoint<'_>) -> Option<&WriteInfo> {
        self.writes
            .get(usize::try_from(w.nth).ok()?.checked_sub(1)?)
    }
}

impl Choices for RecordedChoices {
    fn order(&mut self, write: &WritePoint<'_>, order: &mut [usize]) {
        // The recorded visiting order; registrations the recording did not notify keep
        // their place after the others.
        let Some(info) = self.write(write) else {
            return;
        };
        let rank = |i: &usize| {
            info.order
                .iter()
                .position(|h| *h == write.recipients[*i].handle)
                .unwrap_or(usize::MAX)
        };
        order.sort_by_key(rank);
    }

    fn defer(
        &mut self,
        write: &WritePoint<'_>,
        recipient: &faxsim_sim::registry::Recipient,
        max_wait: u32,
    ) -> u64 {
        let Some(info) = self.write(write) else {
            return u64::from(max_wait);
        };
        match info.delivered_at.get(&recipient.handle) {
            // The recorded delivery point.
            Some(&at) => at.saturating_sub(info.time + 1),
            // The recording never delivered it (the service stopped first): so late that
            // this run does not either.
            None => NEVER,
        }
    }

    fn fires(&mut self, _call: &CallPoint, _per_million: u32) -> bool {
        // Probabilistic faults are not planned in a replay: the recorded ones come
        // through `inject`.
        false
    }

    fn inject(&mut self, call: &CallPoint) -> Option<u32> {
        self.injected
            .get(&(call.ext, call.callback))?
            .get(&call.nth)
            .copied()
    }
}

/// A recorded extension without a build, in model mode: each call the model makes into
/// it plays the next recorded call of that entry point (its direct calls, its return).
pub(crate) struct ModelStandIn {
    ext: ExtId,
    episodes: RefCell<HashMap<Crossing, VecDeque<Episode>>>,
    pub exports: Cell<Exports>,
    /// Recorded handles and buffers → the ones the model issued to it.
    handles: RefCell<HashMap<HandleId, HandleId>>,
    buffers: RefCell<HashMap<BufferId, BufferId>>,
}

impl ModelStandIn {
    pub fn new(ext: ExtId, a: &mut Analysis, exports: Exports) -> ModelStandIn {
        let mut episodes = HashMap::new();
        let keys: Vec<(ExtId, Crossing)> = a
            .episodes
            .keys()
            .filter(|(x, _)| *x == ext)
            .copied()
            .collect();
        for k in keys {
            if let Some(v) = a.episodes.remove(&k) {
                episodes.insert(k.1, v);
            }
        }
        ModelStandIn {
            ext,
            episodes: RefCell::new(episodes),
            exports: Cell::new(exports),
            handles: RefCell::default(),
            buffers: RefCell::default(),
        }
    }

    fn play(&self, cb: &mut Callbacks<'_>, crossing: Crossing) -> Option<EventKind> {
        let episode = self.episodes.borrow_mut().get_mut(&crossing)?.pop_front()?;
        for (call, ret) in &episode.calls {
            self.make(cb, call, ret.as_ref());
        }
        episode.ret
    }

    /// Makes one recorded call with its recorded arguments (handles and buffers the
    /// model renumbered translated).
    pub fn make(&self, cb: &mut Callbacks<'_>, call: &Event, ret: Option<&EventKind>) {
        debug_assert_eq!(call.ext, Some(self.ext));
        let hinst = |cb: &Callbacks<'_>, h: &HInstArg| match h {
            HInstArg::Null => HInst::NULL,
            HInstArg::Ext(x) => cb.hinst_of(*x),
            HInstArg::Foreign(f) => HInst(FOREIGN_BASE + u64::from(f.0)),
        };
        match &call.kind {
            EventKind::GetDataCall {
                device,
                source,
                guid,
                null_out,
            } => {
                let got = cb.get_data_raw(*device, *source, guid.as_deref(), *null_out);
                if let (
                    Ok(id),
                    Some(EventKind::GetDataReturn {
                        buffer: Some(b), ..
                    }),
                ) = (got, ret)
                {
                    self.buffers.borrow_mut().insert(*b, id);
                }
            }
            EventKind::SetDataCall {
                hinst: h,
                device,
                source,
                guid,
                data,
                size,
            } => {
                let h = hinst(cb, h);
                cb.set_data_raw(h, *device, *source, guid.as_deref(), data.as_deref(), *size);
            }
            EventKind::RegisterCall {
                hinst: h,
                device,
                source,
                guid,
                callback,
            } => {
                let h = hinst(cb, h);
                let got = cb.register_raw(h, *device, *source, guid.as_deref(), *callback);
                if let (
                    Ok(id),
                    Some(EventKind::RegisterReturn {
                        handle: Some(r), ..
                    }),
                ) = (got, ret)
                {
                    self.handles.borrow_mut().insert(*r, id);
                }
            }
            EventKind::UnregisterCall { handle } => {
                let arg = match handle {
                    HandleArg::Null => UnregisterArg::Null,
                    HandleArg::InvalidValue => UnregisterArg::InvalidValue,
                    HandleArg::Handle(h) => {
                        UnregisterArg::Handle(self.handles.borrow().get(h).copied().unwrap_or(*h))
                    }
                    HandleArg::Foreign(f) => UnregisterArg::Foreign(FOREIGN_BASE + u64::from(f.0)),
                };
                cb.unregister_raw(arg);
            }
            EventKind::FreeBufferCall { buffer } => {
                let arg = match buffer {
                    BufferArg::Null => FreeArg::Null,
                    BufferArg::Buffer(b) => {
                        FreeArg::Buffer(self.buffers.borrow().get(b).copied().unwrap_or(*b))
                    }
                    // The model's delivery has its own index; the recorded one is only
                    // meaningful in the recording.
                    BufferArg::ChangeData { delivery } => FreeArg::ChangeData(*delivery),
                    BufferArg::Foreign(f) => FreeArg::Foreign(FOREIGN_BASE + u64::from(f.0)),
                };
                cb.free_buffer(arg);
            }
            _ => {}
        }
    }
}

impl Playback for ModelStandIn {
    fn exports(&self) -> Exports {
        self.exports.get()
    }

    fn play(&self, cb: &mut Callbacks<'_>, crossing: Crossing) -> Option<EventKind> {
        ModelStandIn::play(self, cb, crossing)
    }
}

/// Drives the model with the recording's inputs.
pub(crate) struct ModelDriver<'a> {
    pub events: &'a [Event],
    pub analysis: &'a Analysis,
    pub standins: &'a HashMap<ExtId, Rc<PlayedBack<ModelStandIn>>>,
    pub host: Option<&'a Host>,
    /// The recording shows one extension's side only (the recording proxy): a
    /// notification it got is a write by someone it could not see, a device it heard of
    /// is a device of the machine, and the model is told so.
    pub infer_inputs: bool,
}

impl ModelDriver<'_> {
    /// Runs the recording's inputs through the model; notes say what could not be
    /// re-enacted.
    pub fn run(&self, svc: &mut Service, notes: &mut Vec<String>) {
        for (device, guid, data) in &self.analysis.seeds {
            let _ = svc.seed_store(*device, guid, data);
        }
        for &(device, tapi) in &self.analysis.machine {
            let _ = svc.add_device(device, tapi);
        }
        for (&line, &logical) in &self.analysis.tapi_lines {
            let _ = svc.add_device(logical, Some(line));
        }
        let mut started = false;
        let mut skip_until: Option<usize> = None;
        for (i, e) in self.events.iter().enumerate() {
            if let Some(end) = skip_until {
                if i <= end {
                    continue;
                }
                skip_until = None;
            }
            if !self.analysis.top[i] {
                continue;
            }
            if started {
                while svc.is_running() && svc.now() < e.time {
                    if svc.tick().is_err() {
                        break;
                    }
                    self.pump(svc);
                }
            }
            match &e.kind {
                EventKind::ServiceStart { .. } => {
                    let r = match self.host {
                        Some(h) => h.start(svc).map_err(|e| e.to_string()),
                        None => svc.start().map_err(|e| e.to_string()),
                    };
                    if let Err(err) = r {
                        notes.push(format!("the model could not start the service: {err}"));
                        return;
                    }
                    started = true;
                    self.pump(svc);
                }
                EventKind::ServiceStopping => {
                    let _ = svc.stop();
                    if let Some(h) = self.host {
                        h.close_unloaded(svc);
                    }
                    skip_until = self.events[i..]
                        .iter()
                        .position(|x| matches!(x.kind, EventKind::ServiceStopped))
                        .map(|p| i + p);
                }
                EventKind::DeviceAdded {
                    device,
                    tapi,
                    owner: None,
                } if started => {
                    let _ = svc.add_device(*device, *tapi);
                    self.pump(svc);
                }
                EventKind::DeviceRemoved { device } if started => {
                    // Devices of a virtual FSP go with it; the model removes those itself.
                    let _ = svc.remove_device(*device);
                    self.pump(svc);
                }
                EventKind::ValueCorrupted { device, guid } => {
                    let _ = svc.corrupt_value(*device, guid);
                }
                EventKind::ExternalWriteCall {
                    device,
                    guid: Some(g),
                    data: Some(d),
                    ..
                } => {
                    let _ = svc.external_write(*device, g, d);
                    skip_until = self.return_of(i);
                    self.pump(svc);
                }
                // What the proxy saw of writes and devices it could not see happen.
                EventKind::ConfigChangeCall {
                    handle,
                    device,
                    guid,
                    data,
                    cause: None,
                    ..
                } if self.infer_inputs && started => {
                    // A TAPI registrant is told the line; the write names the device.
                    let device = match self.analysis.tapi_lines.get(device) {
                        Some(&logical) if self.analysis.tapi_handles.contains(handle) => logical,
                        _ => *device,
                    };
                    let _ = svc.external_write(device, guid, data);
                    skip_until = self.return_of(i);
                    self.pump(svc);
                }
                // An administrator's console through the service: the same calls, on the
                // recorded service thread.
                EventKind::RouteDeviceEnableCall {
                    guid: Some(g),
                    device,
                    enabled,
                } if started => {
                    if let Some(x) = e.ext {
                        self.on_thread(svc, e.thread, |svc| {
                            let _ = svc.route_device_enable(x, g, *device, *enabled);
                        });
                    }
                    skip_until = self.return_of(i);
                    self.pump(svc);
                }
                EventKind::RouteGetRoutingInfoCall {
                    guid: Some(g),
                    device,
                    buffer,
                    size,
                } if started => {
                    if let Some(x) = e.ext {
                        let capacity = buffer.then_some(*size);
                        self.on_thread(svc, e.thread, |svc| {
                            let _ = svc.route_get_routing_info(x, g, *device, capacity);
                        });
                    }
                    skip_until = self.return_of(i);
                    self.pump(svc);
                }
                EventKind::RouteSetRoutingInfoCall {
                    guid: Some(g),
                    device,
                    data: Some(d),
                    ..
                } if started => {
                    if let Some(x) = e.ext {
                        self.on_thread(svc, e.thread, |svc| {
                            let _ = svc.route_set_routing_info(x, g, *device, d);
                        });
                    }
                    skip_until = self.return_of(i);
                    self.pump(svc);
                }
                // A provider's fax job: the same entry point, on the recorded service
                // thread, when this side can make the call.
                // (Otherwise what the extension did inside is replayed call by call below.)
                EventKind::EntryPointCall { function }
                    if started && e.ext.is_some_and(|x| svc.drives_entry_point(x, function)) =>
                {
                    if let Some(x) = e.ext {
                        self.on_thread(svc, e.thread, |svc| {
                            let _ = svc.entry_point_call(x, function);
                        });
                    }
                    skip_until = self.return_of(i);
                    self.pump(svc);
                }
                EventKind::RouteDeviceChangeCall { device, new_device }
                    if self.infer_inputs && started =>
                {
                    let _ = if *new_device {
                        svc.add_device(*device, None)
                    } else {
                        svc.remove_device(*device)
                    };
                    skip_until = self.return_of(i);
                    self.pump(svc);
                }
                _ => {
                    let call = matches!(
                        e.kind.half(),
                        Some(Half::Call(c)) if c.direction() == Direction::ToService
                    );
                    if let (true, Some(x)) = (call, e.ext) {
                        if let Some(s) = self.standins.get(&x) {
                            // A recorded extension's own call (the battery's peer writing).
                            let ret = self.return_of(i).map(|r| self.events[r].kind.clone());
                            s.0.make(&mut svc.callbacks(x, e.thread), e, ret.as_ref());
                            skip_until = self.return_of(i);
                        } else {
                            // A call from one of the extension's own threads.
                            self.pump(svc);
                        }
                    }
                }
            }
        }
        if svc.is_running() {
            let _ = svc.stop();
        }
        if let Some(h) = self.host {
            h.close_unloaded(svc);
        }
    }

    /// Runs `f` as service thread `thread` (on an OS thread of its own when a library
    /// is hosted, as the recording had it).
    fn on_thread(&self, svc: &mut Service, thread: u16, f: impl FnOnce(&mut Service)) {
        svc.set_thread(thread);
        match self.host {
            Some(h) if thread != 0 => h.on_service_thread(thread, || f(svc)),
            _ => f(svc),
        }
        svc.set_thread(0);
    }

    fn pump(&self, svc: &mut Service) {
        if let Some(h) = self.host {
            h.pump(svc, Duration::from_millis(20));
        }
    }

    /// The index of the return that closes the call at `i`.
    fn return_of(&self, i: usize) -> Option<usize> {
        return_of(self.events, i)
    }
}

// ---- running a replay in model mode -------------------------------------------------------

use faxsim_host::Member;
use faxsim_sim::ExtensionSpec;
use faxsim_trace::{FlushPolicy, Header, TraceWriter};

use crate::standin::{Playback, PlayedBack};
use crate::{
    Plan, Played, Replay, ReplayError, ReplayOutcome, attach_members, candidates, diff::diff_runs,
    match_libraries,
};

/// One model run of the recording: the replayed events, findings, who played whom.
struct ModelRun {
    events: Vec<Event>,
    findings: Vec<faxsim_sim::Finding>,
    played: Vec<Played>,
    /// Which library path played each recorded extension.
    libraries: BTreeMap<usize, std::path::PathBuf>,
    notes: Vec<String>,
}

/// The exports each recorded extension had at its first load.
fn recorded_exports(events: &[Event], n: usize) -> Vec<Exports> {
    let mut out = vec![Exports::default(); n];
    let mut seen = vec![false; n];
    for e in events {
        if let (EventKind::Load { exports, .. }, Some(x)) = (&e.kind, e.ext)
            && x.index() < n
            && !seen[x.index()]
        {
            out[x.index()] = *exports;
            seen[x.index()] = true;
        }
    }
    out
}

fn model_run(
    header: &Header,
    events: &[Event],
    analysis: &Analysis,
    libraries: &[std::path::PathBuf],
    extensions: Vec<(String, Rc<dyn Extension>)>,
    sinks: Vec<Box<dyn faxsim_trace::EventSink>>,
    opts: faxsim_sim::ServiceOptions,
) -> Result<ModelRun, ReplayError> {
    let mut analysis = analysis.clone();
    let mut host = (!libraries.is_empty()).then(Host::new);
    let mut plan: Vec<Option<Plan>> = vec![None; header.extensions.len()];
    if let Some(host) = host.as_mut() {
        match_libraries(host, libraries, &header.extensions, &mut plan)?;
    }
    for (name, imp) in extensions {
        let Some(i) = header.extensions.iter().position(|e| e.name == name) else {
            return Err(ReplayError::Unmatched {
                library: std::path::PathBuf::from(name),
                candidates: candidates(&header.extensions),
            });
        };
        plan[i] = Some(Plan::InProcess(imp));
    }
    let exports = recorded_exports(events, header.extensions.len());
    let mut svc = Service::new(opts);
    svc.set_one_sided(header.origin == "recorder");
    svc.set_choices(Box::new(RecordedChoices::new(&analysis)));
    for s in sinks {
        svc.add_sink(s);
    }
    let mut members = Vec::new();
    let mut played = Vec::new();
    let mut standins = HashMap::new();
    let mut paths = BTreeMap::new();
    for (i, (info, p)) in header.extensions.iter().zip(plan).enumerate() {
        let spec = ExtensionSpec {
            name: info.name.clone(),
            kind: info.kind,
        };
        match p {
            Some(Plan::Library(lib, path)) => {
                let same_build = info
                    .sha256
                    .map(|h| faxsim_trace::sha256_file(&path).ok() == Some(h));
                paths.insert(i, path.clone());
                played.push(Played::Library { path, same_build });
                members.push(Member::Library(lib));
            }
            Some(Plan::InProcess(imp)) => {
                played.push(Played::InProcess);
                members.push(Member::Other(spec, imp));
            }
            None => {
                let x = ExtId(i as u16);
                let s = Rc::new(PlayedBack(ModelStandIn::new(x, &mut analysis, exports[i])));
                standins.insert(x, s.clone());
                played.push(Played::Recording);
                members.push(Member::Other(spec, s));
            }
        }
    }
    attach_members(host.as_mut(), &mut svc, members)?;
    if let Some(h) = host.as_ref() {
        // Threads the libraries start are numbered around the recorded service threads.
        h.reserve_thread_ids(&crate::strict::service_threads(events.iter().cloned()));
    }
    let mut notes = Vec::new();
    ModelDriver {
        events,
        analysis: &analysis,
        standins: &standins,
        host: host.as_ref(),
        infer_inputs: header.origin == "recorder",
    }
    .run(&mut svc, &mut notes);
    if let Some(h) = host.as_ref() {
        notes.extend(h.take_notes());
    }
    let findings = svc.finish();
    if let Err(e) = svc.finish_sinks() {
        notes.push(format!("the replayed run could not be recorded: {e}"));
    }
    Ok(ModelRun {
        events: svc.take_events(),
        findings,
        played,
        libraries: paths,
        notes,
    })
}

/// The recorded extension a second build replaces: by name, then by file hash; with one
/// library given, that one.
fn replaced_by(
    header: &Header,
    against: &std::path::Path,
    first: &ModelRun,
) -> Result<usize, ReplayError> {
    let name = faxsim_host::extension_name(against, &[]);
    if let Some(i) = header.extensions.iter().position(|e| e.name == name) {
        return Ok(i);
    }
    if let Ok(hash) = faxsim_trace::sha256_file(against)
        && let Some(i) = header
            .extensions
            .iter()
            .position(|e| e.sha256 == Some(hash))
    {
        return Ok(i);
    }
    match first.libraries.keys().collect::<Vec<_>>()[..] {
        [&only] => Ok(only),
        _ => Err(ReplayError::Unmatched {
            library: against.to_path_buf(),
            candidates: candidates(&header.extensions),
        }),
    }
}

fn rolling_hash(header: &Header, events: &[Event]) -> Option<u64> {
    let mut w = TraceWriter::with_policy(std::io::sink(), header, FlushPolicy::Batched).ok()?;
    for e in events {
        w.write_event(e).ok()?;
    }
    Some(w.hash())
}

/// Replays in model mode (see the module docs).
pub(crate) fn run(replay: Replay) -> Result<ReplayOutcome, ReplayError> {
    let mut opts = replay.service_options();
    opts.record_events = true;
    let Replay {
        header,
        path: _,
        mut recording,
        libraries,
        extensions,
        sinks,
        mode,
        against,
        verify_hash,
        ..
    } = replay;
    let mut events = Vec::new();
    let mut truncated = None;
    for e in recording.by_ref() {
        match e {
            Ok(e) => events.push(e),
            Err(e) => {
                truncated = Some(e.to_string());
                break;
            }
        }
    }
    let recorded_end = recording.end();
    // Episodes only for the extensions no build was given for. Builds are known here by
    // name (a library by its file stem); one matched another way keeps its episodes,
    // which only costs memory.
    let given: std::collections::HashSet<String> = extensions
        .iter()
        .map(|(n, _)| n.clone())
        .chain(
            libraries
                .iter()
                .map(|l| faxsim_host::extension_name(l, &[])),
        )
        .collect();
    let one_sided = header.origin == "recorder";
    let analysis = Analysis::of(
        &events,
        |x| {
            header
                .extensions
                .get(x.index())
                .is_none_or(|e| !given.contains(&e.name))
        },
        one_sided,
    );
    let (first, second) = match &against {
        None => (
            None,
            model_run(
                &header, &events, &analysis, &libraries, extensions, sinks, opts,
            )?,
        ),
        Some(path) => {
            if !extensions.is_empty() {
                return Err(ReplayError::Misfit(
                    "a replay against a second build takes libraries only".into(),
                ));
            }
            let first = model_run(
                &header,
                &events,
                &analysis,
                &libraries,
                Vec::new(),
                Vec::new(),
                opts.clone(),
            )?;
            let i = replaced_by(&header, path, &first)?;
            let mut second_libs: Vec<std::path::PathBuf> = libraries
                .iter()
                .filter(|l| first.libraries.get(&i) != Some(*l))
                .cloned()
                .collect();
            second_libs.push(path.clone());
            let second = model_run(
                &header,
                &events,
                &analysis,
                &second_libs,
                Vec::new(),
                sinks,
                opts,
            )?;
            (Some(first), second)
        }
    };
    let names = header.extension_names();
    let baseline = first.as_ref().map_or(&events, |f| &f.events);
    let differences = diff_runs(&names, baseline, &second.events);
    let reproduced = events
        .iter()
        .zip(&second.events)
        .take_while(|(a, b)| a == b)
        .count() as u64;
    let mut notes = first.map(|f| f.notes).unwrap_or_default();
    notes.extend(second.notes);
    Ok(ReplayOutcome {
        mode,
        kinds: header.extensions.iter().map(|e| e.kind).collect(),
        names,
        played: second.played,
        reproduced,
        recorded_end,
        // A recording proxy saw one extension's side only: the model's run has more (the
        // devices, the other writers, the stop), so no hash of it can match.
        hash: (verify_hash && header.origin != "recorder")
            .then(|| rolling_hash(&header, &second.events))
            .flatten(),
        divergence: None,
        truncated,
        extras: Vec::new(),
        differences: Some(differences),
        findings: second.findings,
        events: second.events,
        notes,
    })
}
