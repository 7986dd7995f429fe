//! A recording as a scenario file: what came from outside the extensions (the inputs
//! model replay re-enacts, [`crate::model`]) written as the steps of a scenario that
//! hosts the real libraries, and the decisions the recorded service took (injected
//! failures, delivery waits and orders) as its `[[decision]]`s. `faxsim shrink TRACE`
//! starts from this and deletes what the finding does not need: a customer's trace
//! becomes a regression test.
//!
//! The file is built as a TOML table (the scenario crate parses it as any file). Each
//! step remembers the event it was made from, so decisions are keyed to the step whose
//! events they fell in, counted from that step's start, as the scenario runner counts
//! them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use faxsim_abi::Callback;
use faxsim_sim::options::{DeliveryPolicy, ServiceOptions};
use faxsim_trace::{
    Direction, Event, EventKind, ExtId, ExtensionKind, Half, HandleId, Header, to_hex,
};
use toml::{Table, Value};

use crate::model::Analysis;

/// A recording written as a scenario.
#[derive(Clone, Debug)]
pub struct RecordedScenario {
    /// The scenario file, as a TOML table (`[[decision]]`s keyed to its steps).
    pub table: Table,
    /// What could not be written as a step (one line each).
    pub notes: Vec<String>,
}

/// The scenario of recording `events` (with `header`), hosting `libraries` in place of
/// the recorded extensions they match (by name, then by build). Extensions
/// without a library become scripted extensions that repeat the calls they made outside
/// any call from the service (a peer's writes); what they did inside the service's calls
/// is not repeated (a note says so).
pub fn scenario_of(
    header: &Header,
    events: &[Event],
    libraries: &[PathBuf],
) -> Result<RecordedScenario, String> {
    let names = header.extension_names();
    let libraries = match_recorded(header, libraries)?;
    let hosted = |x: ExtId| {
        names
            .get(x.index())
            .is_some_and(|n| libraries.contains_key(n))
    };
    let proxy = header.origin == "recorder";
    let a = Analysis::of(events, |x| !hosted(x), proxy);
    let opts: ServiceOptions = serde_json::from_value(header.options.clone()).unwrap_or_default();
    let mut b = Builder {
        events,
        names: &names,
        a: &a,
        steps: Vec::new(),
        step_events: Vec::new(),
        notes: Vec::new(),
        clock: 0,
        running: false,
    };
    b.walk(&hosted, proxy);

    let mut doc = Table::new();
    doc.insert("service".into(), Value::Table(service_table(header, &opts)));
    let mut devices = Vec::new();
    // A recording proxy's trace names TAPI lines the proxy never saw as devices: each
    // gets the logical id model replay gives it.
    let lines = a
        .tapi_lines
        .iter()
        .map(|(&line, &logical)| (logical, Some(line)));
    for (id, tapi) in a.machine.iter().copied().chain(lines) {
        let mut t = Table::new();
        t.insert("id".into(), int(id));
        if let Some(l) = tapi {
            t.insert("tapi".into(), int(l));
        }
        devices.push(Value::Table(t));
    }
    if !devices.is_empty() {
        doc.insert("device".into(), Value::Array(devices));
    }
    let mut values = Vec::new();
    for (device, guid, data) in &a.seeds {
        let mut t = Table::new();
        t.insert("device".into(), int(*device));
        t.insert("guid".into(), Value::String(guid.clone()));
        t.insert("hex".into(), Value::String(to_hex(data)));
        values.push(Value::Table(t));
    }
    if !values.is_empty() {
        doc.insert("value".into(), Value::Array(values));
    }
    let mut exts = Vec::new();
    for (i, info) in header.extensions.iter().enumerate() {
        let mut t = Table::new();
        t.insert("name".into(), Value::String(info.name.clone()));
        t.insert("kind".into(), Value::String(info.kind.name().into()));
        match libraries.get(&info.name) {
            Some(path) => {
                t.insert("library".into(), Value::String(path.display().to_string()));
            }
            None => {
                if info.kind == ExtensionKind::VirtualFsp {
                    b.notes.push(format!(
                        "{} is a virtual FSP without a library: it is scripted with one device",
                        info.name
                    ));
                    let mut v = Table::new();
                    v.insert("count".into(), int(1u32));
                    v.insert("prefix".into(), int(0x7E00_0000u32 + i as u32 * 0x100));
                    t.insert("virtual_devices".into(), Value::Table(v));
                }
            }
        }
        exts.push(Value::Table(t));
    }
    doc.insert("extension".into(), Value::Array(exts));
    let decisions = b.decisions(&opts);
    let Builder { steps, notes, .. } = b;
    doc.insert("step".into(), Value::Array(steps));
    if !decisions.is_empty() {
        doc.insert("decision".into(), Value::Array(decisions));
    }
    Ok(RecordedScenario { table: doc, notes })
}

/// Which recorded extension each library stands for: the one of its name (its file
/// stem, as faxsim names libraries), else the one recorded from the same build.
fn match_recorded(
    header: &Header,
    libraries: &[PathBuf],
) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut out = BTreeMap::new();
    for path in libraries {
        let name = faxsim_host::extension_name(path, &[]);
        let taken = |n: &String| out.contains_key(n);
        let by_name = header
            .extensions
            .iter()
            .find(|e| e.name == name && !taken(&e.name));
        let by_build = || {
            let hash = faxsim_trace::sha256_file(path).ok()?;
            header
                .extensions
                .iter()
                .find(|e| e.sha256 == Some(hash) && !taken(&e.name))
        };
        let Some(e) = by_name.or_else(by_build) else {
            return Err(format!(
                "{}: no extension of the recording is this library, by name or by build (it has {})",
                path.display(),
                header.extension_names().join(", ")
            ));
        };
        out.insert(e.name.clone(), path.clone());
    }
    Ok(out)
}

fn int(v: impl Into<i64>) -> Value {
    Value::Integer(v.into())
}

/// `[service]`: the recorded run's seed and options (what differs from a scenario's
/// defaults is written; the rest is the same).
fn service_table(header: &Header, opts: &ServiceOptions) -> Table {
    let mut t = Table::new();
    let d = ServiceOptions::default();
    t.insert("seed".into(), Value::Integer(header.seed as i64));
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            t.insert(key.into(), v);
        }
    };
    // Only what differs from a scenario's defaults (the delivery policy always: it says
    // which decisions the file holds).
    put("delivery", as_value(&opts.delivery));
    if opts.max_defer_steps != d.max_defer_steps {
        put("max_defer_steps", Some(int(opts.max_defer_steps)));
    }
    if opts.virtual_fsp_init != d.virtual_fsp_init {
        put("virtual_fsp_init", as_value(&opts.virtual_fsp_init));
    }
    if opts.load_order != d.load_order {
        put("load_order", as_value(&opts.load_order));
    }
    if opts.announce_devices_at_start != d.announce_devices_at_start {
        put(
            "announce_devices_at_start",
            Some(Value::Boolean(opts.announce_devices_at_start)),
        );
    }
    put("in_process_value_cap", opts.in_process_value_cap.map(int));
    let mut limits = Table::new();
    if opts.limits.nesting != d.limits.nesting {
        limits.insert("nesting".into(), int(opts.limits.nesting));
    }
    if opts.limits.events != d.limits.events {
        limits.insert("events".into(), Value::Integer(opts.limits.events as i64));
    }
    if opts.limits.steps != d.limits.steps {
        limits.insert("steps".into(), Value::Integer(opts.limits.steps as i64));
    }
    if !limits.is_empty() {
        put("limits", Some(Value::Table(limits)));
    }
    if opts.deviations != d.deviations {
        put("deviations", as_value(&opts.deviations));
    }
    t
}

/// One of the options' values as TOML.
fn as_value<T: serde::Serialize>(x: &T) -> Option<Value> {
    Value::try_from(x).ok()
}

struct Builder<'a> {
    events: &'a [Event],
    names: &'a [String],
    a: &'a Analysis,
    steps: Vec<Value>,
    step_events: Vec<usize>,
    notes: Vec<String>,
    /// The service's time once the steps so far have run (a start, and a write or a
    /// device arriving or leaving while the service runs, pass one scheduling point of
    /// their own).
    clock: u64,
    /// Whether the service runs after the steps so far.
    running: bool,
}

impl Builder<'_> {
    fn name(&self, x: Option<ExtId>) -> Option<String> {
        x.and_then(|x| self.names.get(x.index()).cloned())
    }

    /// A step made from event `i` (after the scheduling points that passed before it).
    fn push(&mut self, i: usize, op: &str, fields: Vec<(&str, Value)>) {
        let time = self.events[i].time;
        if time > self.clock && !self.steps.is_empty() {
            let mut t = Table::new();
            t.insert("op".into(), Value::String("tick".into()));
            if time - self.clock > 1 {
                t.insert(
                    "count".into(),
                    int((time - self.clock).min(u64::from(u32::MAX)) as u32),
                );
            }
            self.steps.push(Value::Table(t));
            // The ticks' events are those from the first one after the time moved on.
            let last = self.step_events.last().copied().unwrap_or(0);
            let from = (last..i)
                .find(|&j| self.events[j].time > self.clock)
                .unwrap_or(i);
            self.step_events.push(from);
        }
        let ticks_itself = match op {
            "start" => true,
            "write" | "add-device" | "remove-device" => self.running,
            _ => false,
        };
        match op {
            "start" => self.running = true,
            "stop" => self.running = false,
            _ => {}
        }
        self.clock = self.clock.max(time) + u64::from(ticks_itself);
        let mut t = Table::new();
        t.insert("op".into(), Value::String(op.into()));
        for (k, v) in fields {
            t.insert(k.into(), v);
        }
        self.steps.push(Value::Table(t));
        self.step_events.push(i);
    }

    /// The index of the return that closes the call at `i`.
    fn return_of(&self, i: usize) -> Option<usize> {
        crate::model::return_of(self.events, i)
    }

    fn walk(&mut self, hosted: &dyn Fn(ExtId) -> bool, proxy: bool) {
        let events = self.events;
        let mut started = false;
        // Between a start and the first load, the service lists the devices it has.
        let mut listing = false;
        let mut skip_until: Option<usize> = None;
        for (i, e) in events.iter().enumerate() {
            if matches!(e.kind, EventKind::Load { .. }) {
                listing = false;
            }
            if let Some(end) = skip_until {
                if i <= end {
                    continue;
                }
                skip_until = None;
            }
            if !self.a.top[i] {
                continue;
            }
            let thread = int(e.thread);
            let ext = self.name(e.ext);
            match &e.kind {
                EventKind::ServiceStart { .. } => {
                    started = true;
                    listing = true;
                    self.push(i, "start", vec![]);
                }
                EventKind::ServiceStopping => {
                    self.push(i, "stop", vec![]);
                    skip_until = events[i..]
                        .iter()
                        .position(|x| matches!(x.kind, EventKind::ServiceStopped))
                        .map(|p| i + p);
                }
                EventKind::DeviceAdded {
                    device,
                    tapi,
                    owner: None,
                } if started && !listing => {
                    let mut f = vec![("id", int(*device))];
                    if let Some(t) = tapi {
                        f.push(("tapi", int(*t)));
                    }
                    self.push(i, "add-device", f);
                }
                EventKind::DeviceRemoved { device } if started => {
                    self.push(i, "remove-device", vec![("id", int(*device))]);
                }
                EventKind::ValueCorrupted { device, guid } => {
                    self.push(
                        i,
                        "corrupt",
                        vec![
                            ("device", int(*device)),
                            ("guid", Value::String(guid.to_string())),
                        ],
                    );
                }
                EventKind::ExternalWriteCall {
                    device,
                    guid: Some(g),
                    data: Some(d),
                    ..
                } => {
                    self.push(
                        i,
                        "write",
                        vec![
                            ("device", int(*device)),
                            ("guid", Value::String(g.to_string())),
                            ("hex", Value::String(to_hex(d))),
                        ],
                    );
                    skip_until = self.return_of(i);
                }
                EventKind::ConfigChangeCall {
                    handle,
                    device,
                    guid,
                    data,
                    cause: None,
                    ..
                } if proxy && started => {
                    // What a recording proxy saw of a write it could not see happen (a
                    // TAPI registrant is told the line; the write names the device).
                    let device = match self.a.tapi_lines.get(device) {
                        Some(&logical) if self.a.tapi_handles.contains(handle) => logical,
                        _ => *device,
                    };
                    self.push(
                        i,
                        "write",
                        vec![
                            ("device", int(device)),
                            ("guid", Value::String(guid.to_string())),
                            ("hex", Value::String(to_hex(data))),
                        ],
                    );
                    skip_until = self.return_of(i);
                }
                EventKind::RouteDeviceEnableCall {
                    guid: Some(g),
                    device,
                    enabled,
                } if started && e.ext.is_some_and(hosted) => {
                    let enabled = match *enabled {
                        faxsim_abi::STATUS_ENABLE => "enable",
                        faxsim_abi::STATUS_DISABLE => "disable",
                        _ => "query",
                    };
                    self.push(
                        i,
                        "device-enable",
                        vec![
                            ("ext", Value::String(ext.unwrap_or_default())),
                            ("guid", Value::String(g.to_string())),
                            ("device", int(*device)),
                            ("enabled", Value::String(enabled.into())),
                            ("thread", thread),
                        ],
                    );
                    skip_until = self.return_of(i);
                }
                EventKind::RouteGetRoutingInfoCall {
                    guid: Some(g),
                    device,
                    buffer,
                    size,
                } if started && e.ext.is_some_and(hosted) => {
                    let mut f = vec![
                        ("ext", Value::String(ext.unwrap_or_default())),
                        ("guid", Value::String(g.to_string())),
                        ("device", int(*device)),
                    ];
                    if *buffer {
                        f.push(("size", int(*size)));
                    }
                    f.push(("thread", thread));
                    self.push(i, "get-routing-info", f);
                    skip_until = self.return_of(i);
                }
                EventKind::RouteSetRoutingInfoCall {
                    guid: Some(g),
                    device,
                    data: Some(d),
                    ..
                } if started && e.ext.is_some_and(hosted) => {
                    self.push(
                        i,
                        "set-routing-info",
                        vec![
                            ("ext", Value::String(ext.unwrap_or_default())),
                            ("guid", Value::String(g.to_string())),
                            ("device", int(*device)),
                            ("hex", Value::String(to_hex(d))),
                            ("thread", thread),
                        ],
                    );
                    skip_until = self.return_of(i);
                }
                EventKind::EntryPointCall { function } if started && e.ext.is_some_and(hosted) => {
                    self.push(
                        i,
                        "call",
                        vec![
                            ("ext", Value::String(ext.unwrap_or_default())),
                            ("function", Value::String(function.to_string())),
                            ("thread", thread),
                        ],
                    );
                    skip_until = self.return_of(i);
                }
                EventKind::RoutingStart {
                    device, methods, ..
                } if started => {
                    let methods = methods
                        .iter()
                        .map(|m| {
                            let mut t = Table::new();
                            t.insert("guid".into(), Value::String(m.guid.to_string()));
                            t.insert("function".into(), Value::String(m.function.to_string()));
                            Value::Table(t)
                        })
                        .collect();
                    self.push(
                        i,
                        "routing-start",
                        vec![
                            ("device", int(*device)),
                            ("methods", Value::Array(methods)),
                            ("thread", thread),
                        ],
                    );
                }
                EventKind::RoutingEnd { .. } if started => {
                    self.push(i, "routing-end", vec![("thread", thread)]);
                }
                EventKind::RouteDeviceChangeCall { device, new_device } if proxy && started => {
                    let op = if *new_device {
                        "add-device"
                    } else {
                        "remove-device"
                    };
                    self.push(i, op, vec![("id", int(*device))]);
                    skip_until = self.return_of(i);
                }
                _ => {
                    let call = matches!(
                        e.kind.half(),
                        Some(Half::Call(c)) if c.direction() == Direction::ToService
                    );
                    if let (true, Some(x)) = (call, e.ext)
                        && !hosted(x)
                    {
                        self.scripted_call(i, x);
                        skip_until = self.return_of(i);
                    }
                }
            }
        }
    }

    /// A call a scripted extension made on its own: a `run` step with the action.
    fn scripted_call(&mut self, i: usize, x: ExtId) {
        let e = &self.events[i];
        let name = self.name(Some(x)).unwrap_or_default();
        let action = match &e.kind {
            EventKind::SetDataCall {
                device,
                source,
                guid: Some(g),
                data: Some(d),
                ..
            } => {
                let mut t = Table::new();
                t.insert("op".into(), Value::String("set".into()));
                t.insert("device".into(), int(*device));
                t.insert("source_value".into(), int(*source));
                t.insert("guid".into(), Value::String(g.to_string()));
                t.insert("hex".into(), Value::String(to_hex(d)));
                t
            }
            other => {
                self.notes.push(format!(
                    "event {}: {name}'s {} is not repeated (only the writes of extensions without a library are)",
                    e.seq,
                    other.name()
                ));
                return;
            }
        };
        self.push(
            i,
            "run",
            vec![
                ("ext", Value::String(name)),
                ("thread", int(e.thread)),
                ("actions", Value::Array(vec![Value::Table(action)])),
                ("tick", Value::Boolean(false)),
            ],
        );
    }

    /// The step whose events include event `index` (0-based), if any.
    fn step_of(&self, index: usize) -> Option<usize> {
        match self.step_events.partition_point(|&s| s <= index) {
            0 => None,
            n => Some(n - 1),
        }
    }

    /// The recorded decisions, keyed to the steps: every injected failure, and the
    /// delivery of every write (its waits under `deferred`, its order under `shuffled`).
    fn decisions(&self, opts: &ServiceOptions) -> Vec<Value> {
        let mut out = Vec::new();
        // Calls per (ext, callback) before each event, for the failures' counts.
        let mut counts: HashMap<(ExtId, Callback), u64> = HashMap::new();
        let mut base: Vec<HashMap<(ExtId, Callback), u64>> = Vec::with_capacity(self.steps.len());
        let mut next_step = 0;
        for (i, e) in self.events.iter().enumerate() {
            while next_step < self.step_events.len() && self.step_events[next_step] <= i {
                base.push(counts.clone());
                next_step += 1;
            }
            if let (Some(Half::Call(c)), Some(x)) = (e.kind.half(), e.ext)
                && let Some(cb) = crate::model::callback_of(c)
            {
                *counts.entry((x, cb)).or_default() += 1;
            }
        }
        while base.len() < self.step_events.len() {
            base.push(counts.clone());
        }
        for &(at, x, cb, nth, code) in &self.a.injected_at {
            let Some(step) = self.step_of(at) else {
                continue;
            };
            let before = base[step].get(&(x, cb)).copied().unwrap_or(0);
            let mut t = Table::new();
            t.insert("step".into(), int((step + 1) as u32));
            t.insert(
                "ext".into(),
                Value::String(self.name(Some(x)).unwrap_or_default()),
            );
            t.insert("fail".into(), Value::String(cb.kebab().into()));
            t.insert(
                "call".into(),
                Value::Integer(nth.saturating_sub(before) as i64),
            );
            t.insert(
                "code".into(),
                Value::String(
                    faxsim_abi::win32_error_name(code)
                        .map_or_else(|| code.to_string(), str::to_string),
                ),
            );
            out.push(Value::Table(t));
        }
        if opts.delivery == DeliveryPolicy::Sync {
            return out;
        }
        // Which extension each registration belongs to.
        let mut owner: HashMap<HandleId, ExtId> = HashMap::new();
        let index_of_seq: HashMap<u64, usize> = self
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.seq, i))
            .collect();
        for e in self.events {
            if let (EventKind::ConfigChangeCall { handle, .. }, Some(x)) = (&e.kind, e.ext) {
                owner.insert(*handle, x);
            }
        }
        let mut writes_before: Vec<u64> = Vec::with_capacity(self.step_events.len());
        {
            let mut k = 0u64;
            let write_index: Vec<usize> = self
                .a
                .writes
                .iter()
                .map(|w| index_of_seq.get(&w.seq).copied().unwrap_or(usize::MAX))
                .collect();
            for &start in &self.step_events {
                while (k as usize) < write_index.len() && write_index[k as usize] < start {
                    k += 1;
                }
                writes_before.push(k);
            }
        }
        let recipients = if opts.delivery == DeliveryPolicy::Deferred {
            self.recipients()
        } else {
            HashMap::new()
        };
        for (n, w) in self.a.writes.iter().enumerate() {
            let Some(&at) = index_of_seq.get(&w.seq) else {
                continue;
            };
            let Some(step) = self.step_of(at) else {
                continue;
            };
            let nth = n as u64 + 1 - writes_before[step];
            // The decision about this write's notification to `x`.
            let decision = |x: ExtId| {
                let mut t = Table::new();
                t.insert("step".into(), int((step + 1) as u32));
                t.insert("write".into(), Value::Integer(nth as i64));
                t.insert(
                    "ext".into(),
                    Value::String(self.name(Some(x)).unwrap_or_default()),
                );
                t
            };
            let mut seen = Vec::new();
            for (rank, h) in w.order.iter().enumerate() {
                let Some(&x) = owner.get(h) else {
                    continue;
                };
                if seen.contains(&x) {
                    continue;
                }
                seen.push(x);
                let mut t = decision(x);
                match opts.delivery {
                    DeliveryPolicy::Deferred => {
                        let at = w.delivered_at.get(h).copied().unwrap_or(w.time);
                        t.insert(
                            "wait".into(),
                            Value::Integer(at.saturating_sub(w.time + 1) as i64),
                        );
                    }
                    _ => {
                        t.insert("rank".into(), int(rank as u32));
                    }
                }
                out.push(Value::Table(t));
            }
            // Under `deferred`, a registrant the recording never told of this write (the
            // service stopped first) is never told in the scenario either.
            if opts.delivery == DeliveryPolicy::Deferred {
                for &(h, x) in recipients.get(&w.seq).map_or(&[][..], Vec::as_slice) {
                    if w.delivered_at.contains_key(&h) || seen.contains(&x) {
                        continue;
                    }
                    seen.push(x);
                    let mut t = decision(x);
                    t.insert("never".into(), Value::Boolean(true));
                    out.push(Value::Table(t));
                }
            }
        }
        out
    }

    /// For each write (by the `seq` of its call), the registrations live for its key
    /// when it was made, other than the writer's own: who the service had to tell.
    fn recipients(&self) -> HashMap<u64, Vec<(HandleId, ExtId)>> {
        use faxsim_sim::guid::parse_braced_guid;
        let mut tapi: HashMap<u32, u32> = HashMap::new();
        let key = |tapi: &HashMap<u32, u32>,
                   device: u32,
                   source: i32,
                   guid: &Option<std::sync::Arc<str>>| {
            let device = if source == faxsim_trace::SOURCE_TAPI {
                *tapi.get(&device)?
            } else {
                device
            };
            Some((device, parse_braced_guid(guid.as_deref()?)?))
        };
        let mut live: HashMap<HandleId, (ExtId, (u32, u128))> = HashMap::new();
        let mut registering: HashMap<u16, (ExtId, (u32, u128))> = HashMap::new();
        let mut unregistering: HashMap<u16, HandleId> = HashMap::new();
        let told = |live: &HashMap<HandleId, (ExtId, (u32, u128))>,
                    k: (u32, u128),
                    writer: Option<ExtId>| {
            live.iter()
                .filter(|(_, (x, rk))| *rk == k && Some(*x) != writer)
                .map(|(h, (x, _))| (*h, *x))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        };
        let mut out = HashMap::new();
        for e in self.events {
            match (&e.kind, e.ext) {
                (
                    EventKind::DeviceAdded {
                        device,
                        tapi: Some(line),
                        ..
                    },
                    _,
                ) => {
                    tapi.insert(*line, *device);
                }
                (
                    EventKind::RegisterCall {
                        device,
                        source,
                        guid,
                        ..
                    },
                    Some(x),
                ) => {
                    if let Some(k) = key(&tapi, *device, *source, guid) {
                        registering.insert(e.thread, (x, k));
                    }
                }
                (
                    EventKind::RegisterReturn {
                        handle: Some(h), ..
                    },
                    _,
                ) => {
                    if let Some(r) = registering.remove(&e.thread) {
                        live.insert(*h, r);
                    }
                }
                (
                    EventKind::UnregisterCall {
                        handle: faxsim_trace::HandleArg::Handle(h),
                    },
                    _,
                ) => {
                    unregistering.insert(e.thread, *h);
                }
                (EventKind::UnregisterReturn { code: 0, .. }, _) => {
                    if let Some(h) = unregistering.remove(&e.thread) {
                        live.remove(&h);
                    }
                }
                (EventKind::ServiceStopped, _) => live.clear(),
                (
                    EventKind::SetDataCall {
                        device,
                        source,
                        guid,
                        ..
                    },
                    writer,
                ) => {
                    if let Some(k) = key(&tapi, *device, *source, guid) {
                        out.insert(e.seq, told(&live, k, writer));
                    }
                }
                (EventKind::ExternalWriteCall { device, guid, .. }, _) => {
                    if let Some(k) = key(&tapi, *device, faxsim_trace::SOURCE_FAX, guid) {
                        out.insert(e.seq, told(&live, k, None));
                    }
                }
                _ => {}
            }
        }
        out
    }
}
