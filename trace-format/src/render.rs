//! Renderings for people and tools: redaction, a header summary, a Mermaid sequence
//! diagram, and Chrome/Perfetto trace-event JSON. Each renderer streams: it takes the
//! header, then one event at a time.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::bytes::to_hex;
use crate::event::*;
use crate::header::{Header, sha256};
use crate::text::{hresult_name, one_line, source_name, win32_name};

/// A payload as its length and the first 4 bytes of its SHA-256 (`len=4 sha256:1a2b3c4d`):
/// enough to tell two values apart in a bug report without disclosing either.
pub fn redact_payload(data: &[u8]) -> String {
    format!("len={} sha256:{}", data.len(), to_hex(&sha256(data)[..4]))
}

/// The serde JSON form of an event; with `redact`, every payload (`data`) is replaced by
/// [`redact_payload`]'s text.
pub fn event_json(e: &Event, redact: bool) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    if redact {
        let data = match &e.kind {
            EventKind::ConfigChangeCall { data, .. } => Some(&**data),
            EventKind::GetDataReturn { data, .. }
            | EventKind::SetDataCall { data, .. }
            | EventKind::ExternalWriteCall { data, .. } => data.as_deref(),
            _ => None,
        };
        if let (Some(d), Some(kind)) = (data, v.get_mut("kind").and_then(Value::as_object_mut)) {
            kind.insert("data".into(), Value::String(redact_payload(d)));
        }
    }
    v
}

/// The header as `# `-prefixed lines (the top of `faxsim show`'s text form).
pub fn header_summary(h: &Header, version: &str, written_by: &str) -> String {
    let mut s = one_line(&format!(
        "# faxsim trace {} (format {version}, written by faxsim {written_by})",
        h.trace_id
    ));
    s.push('\n');
    s += &one_line(&format!(
        "# recorded by faxsim {} ({}) on {}/{}, seed {}",
        h.faxsim, h.origin, h.platform.os, h.platform.arch, h.seed
    ));
    s += &format!("\n# options {}\n", h.options);
    for (i, e) in h.extensions.iter().enumerate() {
        s += &format!("# extension {i}: {} ({})", one_line(&e.name), e.kind);
        if let Some(d) = &e.sha256 {
            s += &format!(" sha256:{}", to_hex(d));
        }
        s.push('\n');
    }
    s
}

// ---- Mermaid -------------------------------------------------------------------------

/// Escapes text for a Mermaid message or note (`;` ends a statement, `#` starts an
/// entity, `<>` would be HTML) and keeps it to one line.
fn mm(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ';' => s.push_str("#59;"),
            '#' => s.push_str("#35;"),
            '<' => s.push_str("#60;"),
            '>' => s.push_str("#62;"),
            '\n' | '\r' | '\t' => s.push(' '),
            c => s.push(c),
        }
    }
    s
}

/// A GUID string shortened to its first group (`{0A9D7B3A…}`); other text is cut at 40
/// characters.
fn short_guid(g: &GuidArg) -> String {
    match g {
        None => "NULL".into(),
        Some(g) if g.len() == 38 && g.starts_with('{') && g.is_char_boundary(9) => {
            format!("{}…}}", &g[..9])
        }
        Some(g) if g.chars().count() > 40 => format!("{}…", g.chars().take(40).collect::<String>()),
        Some(g) => g.to_string(),
    }
}

/// A payload collapsed to 8 bytes of hex (or redacted).
fn short_payload(d: Option<&[u8]>, redact: bool) -> String {
    match d {
        None => "NULL".into(),
        Some(d) if redact => redact_payload(d),
        Some([]) => "empty".into(),
        Some(d) if d.len() > 8 => format!("{}…({} bytes)", to_hex(&d[..8]), d.len()),
        Some(d) => to_hex(d),
    }
}

/// Writes a Mermaid `sequenceDiagram`: participants Service, each extension, and the
/// external writer; calls are solid arrows, returns dashed, observations notes. Each
/// message starts with its event index.
pub struct MermaidWriter<W: Write> {
    out: W,
    redact: bool,
}

impl<W: Write> std::fmt::Debug for MermaidWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MermaidWriter").finish_non_exhaustive()
    }
}

impl<W: Write> MermaidWriter<W> {
    /// Writes the diagram's opening and participants.
    pub fn new(mut out: W, header: &Header, redact: bool) -> io::Result<Self> {
        writeln!(out, "sequenceDiagram")?;
        writeln!(out, "    participant S as Service")?;
        for (i, e) in header.extensions.iter().enumerate() {
            writeln!(out, "    participant E{i} as {}", mm(&e.name))?;
        }
        writeln!(out, "    participant W as External writer")?;
        Ok(MermaidWriter { out, redact })
    }

    /// Writes one event.
    pub fn event(&mut self, e: &Event) -> io::Result<()> {
        use EventKind::*;
        let x = match e.ext {
            Some(x) => format!("E{}", x.0),
            None => "S".into(),
        };
        let n = e.seq;
        let r = self.redact;
        let all = "S,W";
        let (line, text) = match &e.kind {
            ServiceStart { run } => (
                format!("Note over {all}"),
                format!("{n}: service start, run {run}"),
            ),
            ServiceStopping => (format!("Note over {all}"), format!("{n}: service stopping")),
            ServiceStopped => (format!("Note over {all}"), format!("{n}: service stopped")),
            DeviceAdded { device, tapi, .. } => (
                "Note over S".into(),
                match tapi {
                    Some(t) => format!("{n}: device {device} added (TAPI {t})"),
                    None => format!("{n}: device {device} added"),
                },
            ),
            DeviceRemoved { device } => (
                "Note over S".into(),
                format!("{n}: device {device} removed"),
            ),
            ValueCorrupted { device, guid } => (
                "Note over S".into(),
                format!(
                    "{n}: value {} of device {device} corrupted",
                    short_guid(&Some(guid.clone()))
                ),
            ),
            Load { kind, .. } => (format!("Note over {x}"), format!("{n}: loaded ({kind})")),
            Unload => (format!("Note over {x}"), format!("{n}: unloaded")),
            VirtualDeviceCreationCall => (
                format!("S->>{x}"),
                format!("{n}: FaxDevVirtualDeviceCreation"),
            ),
            VirtualDeviceCreationReturn {
                ok,
                count,
                id_prefix,
                ..
            } => (
                format!("{x}-->>S"),
                format!("{n}: {} ({count} devices from {id_prefix})", bool_name(*ok)),
            ),
            InitializeConfigCall => (format!("S->>{x}"), format!("{n}: FaxExtInitializeConfig")),
            InitializeConfigReturn { hr } | DevShutdownReturn { hr } => {
                (format!("{x}-->>S"), format!("{n}: {}", hresult_name(*hr)))
            }
            DevInitializeCall => (format!("S->>{x}"), format!("{n}: FaxDevInitialize")),
            RouteInitializeCall => (format!("S->>{x}"), format!("{n}: FaxRouteInitialize")),
            DevInitializeReturn { ok }
            | RouteInitializeReturn { ok }
            | RouteDeviceChangeReturn { ok } => {
                (format!("{x}-->>S"), format!("{n}: {}", bool_name(*ok)))
            }
            RouteDeviceChangeCall { device, new_device } => (
                format!("S->>{x}"),
                format!(
                    "{n}: FaxRouteDeviceChangeNotification(device {device}, {})",
                    if *new_device { "arrived" } else { "removed" }
                ),
            ),
            DevShutdownCall => (format!("S->>{x}"), format!("{n}: FaxDevShutdown")),
            ConfigChangeCall {
                handle,
                device,
                guid,
                data,
                cause,
                ..
            } => (
                format!("S->>{x}"),
                format!(
                    "{n}: ConfigChange(handle {}, device {device}, {}, {}){}",
                    handle.0,
                    short_guid(&Some(guid.clone())),
                    short_payload(Some(data), r),
                    cause.map_or(String::new(), |c| format!(" for write {c}"))
                ),
            ),
            ConfigChangeReturn { hr, .. } => {
                (format!("{x}-->>S"), format!("{n}: {}", hresult_name(*hr)))
            }
            GetDataCall {
                device,
                source,
                guid,
                ..
            } => (
                format!("{x}->>S"),
                format!(
                    "{n}: GetData(device {device}, {}, {})",
                    source_name(*source),
                    short_guid(guid)
                ),
            ),
            GetDataReturn {
                code,
                buffer,
                data,
                injected,
            } => (
                format!("S-->>{x}"),
                format!(
                    "{n}: {}{}{}",
                    win32_name(*code),
                    buffer.map_or(String::new(), |b| format!(
                        ", buffer {} = {}",
                        b.0,
                        short_payload(data.as_deref(), r)
                    )),
                    if *injected { " (injected)" } else { "" }
                ),
            ),
            SetDataCall {
                device,
                source,
                guid,
                data,
                ..
            } => (
                format!("{x}->>S"),
                format!(
                    "{n}: SetData(device {device}, {}, {}, {})",
                    source_name(*source),
                    short_guid(guid),
                    short_payload(data.as_deref(), r)
                ),
            ),
            SetDataReturn { code, injected } | UnregisterReturn { code, injected } => (
                format!("S-->>{x}"),
                format!(
                    "{n}: {}{}",
                    win32_name(*code),
                    if *injected { " (injected)" } else { "" }
                ),
            ),
            RegisterCall {
                device,
                source,
                guid,
                ..
            } => (
                format!("{x}->>S"),
                format!(
                    "{n}: Register(device {device}, {}, {})",
                    source_name(*source),
                    short_guid(guid)
                ),
            ),
            RegisterReturn {
                handle,
                last_error,
                injected,
            } => (
                format!("S-->>{x}"),
                format!(
                    "{n}: {}{}",
                    match handle {
                        Some(h) => format!("handle {}", h.0),
                        None => format!("NULL, {}", win32_name(*last_error)),
                    },
                    if *injected { " (injected)" } else { "" }
                ),
            ),
            UnregisterCall { handle } => (format!("{x}->>S"), format!("{n}: Unregister({handle})")),
            FreeBufferCall { buffer } => (format!("{x}->>S"), format!("{n}: FreeBuffer({buffer})")),
            FreeBufferReturn => (format!("S-->>{x}"), format!("{n}: done")),
            ExternalWriteCall {
                device, guid, data, ..
            } => (
                "W->>S".into(),
                format!(
                    "{n}: write(device {device}, {}, {})",
                    short_guid(guid),
                    short_payload(data.as_deref(), r)
                ),
            ),
            ExternalWriteReturn { code } => {
                ("S-->>W".into(), format!("{n}: {}", win32_name(*code)))
            }
            BufferDamaged { buffer, damage } => (
                format!("Note over {x}"),
                match damage {
                    Damage::Overrun { offset } => {
                        format!("{n}: buffer {} overrun at +{offset}", buffer.0)
                    }
                    Damage::WriteAfterFree { offset } => {
                        format!("{n}: buffer {} written after free at +{offset}", buffer.0)
                    }
                },
            ),
            ChangeDataWritten { delivery, offset } => (
                format!("Note over {x}"),
                format!("{n}: wrote into the lpData of event {delivery} at +{offset}"),
            ),
            InputWritten {
                call,
                input,
                offset,
            } => (
                format!("Note over {x}"),
                format!(
                    "{n}: wrote into the {} passed at event {call}, at +{offset}",
                    input.name()
                ),
            ),
            DeliveryCut {
                depth,
                handle,
                cause,
            } => (
                "Note over S".into(),
                format!(
                    "{n}: delivery to handle {} for write {cause} cut at depth {depth}",
                    handle.0
                ),
            ),
            ExtensionCrashed { detail } => {
                (format!("Note over {x}"), format!("{n}: crashed: {detail}"))
            }
            ExtensionHung { limit_ms } => (
                format!("Note over {x}"),
                format!("{n}: hung past {limit_ms} ms"),
            ),
            RouteDeviceEnableCall {
                guid,
                device,
                enabled,
            } => (
                format!("S->>{x}"),
                format!(
                    "{n}: FaxRouteDeviceEnable({}, device {device}, {})",
                    short_guid(guid),
                    crate::text::enable_name(*enabled)
                ),
            ),
            RouteDeviceEnableReturn { result } => (format!("{x}-->>S"), format!("{n}: {result}")),
            RouteGetRoutingInfoCall {
                guid,
                device,
                buffer,
                size,
            } => (
                format!("S->>{x}"),
                format!(
                    "{n}: FaxRouteGetRoutingInfo({}, device {device}, {})",
                    short_guid(guid),
                    if *buffer {
                        format!("{size} bytes")
                    } else {
                        "size query".into()
                    }
                ),
            ),
            RouteGetRoutingInfoReturn { ok, size, data } => (
                format!("{x}-->>S"),
                format!(
                    "{n}: {}, {size} bytes{}",
                    bool_name(*ok),
                    data.as_deref().map_or(String::new(), |d| format!(
                        " = {}",
                        short_payload(Some(d), r)
                    ))
                ),
            ),
            RouteSetRoutingInfoCall {
                guid, device, data, ..
            } => (
                format!("S->>{x}"),
                format!(
                    "{n}: FaxRouteSetRoutingInfo({}, device {device}, {})",
                    short_guid(guid),
                    short_payload(data.as_deref(), r)
                ),
            ),
            RouteSetRoutingInfoReturn { ok } => {
                (format!("{x}-->>S"), format!("{n}: {}", bool_name(*ok)))
            }
            EntryPointCall { function } => (format!("S->>{x}"), format!("{n}: {function}")),
            EntryPointReturn { result } => (format!("{x}-->>S"), format!("{n}: {result}")),
            RoutingStart {
                job,
                device,
                methods,
            } => (
                "Note over S".into(),
                format!(
                    "{n}: routing fax job {job} received on device {device} through {}",
                    methods
                        .iter()
                        .map(|m| m.function.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            RoutingEnd { job } => (
                "Note over S".into(),
                format!("{n}: routing of job {job} over"),
            ),
            RouteFileCall {
                routine,
                job,
                index,
                file,
                guid,
                ..
            } => (
                format!("{x}->>S"),
                format!(
                    "{n}: {}(job {job}{})",
                    routine.function(),
                    match routine {
                        RouteRoutine::GetFile => format!(", file {index}"),
                        RouteRoutine::AddFile | RouteRoutine::DeleteFile =>
                            format!(", {}", file.as_deref().unwrap_or("NULL")),
                        RouteRoutine::EnumFiles | RouteRoutine::ModifyRoutingData =>
                            format!(", {}", short_guid(guid)),
                    }
                ),
            ),
            RouteFileReturn { result, code, file } => (
                format!("S-->>{x}"),
                format!(
                    "{n}: {result}{}{}",
                    if *code != 0 {
                        format!(", {}", win32_name(*code))
                    } else {
                        String::new()
                    },
                    file.as_deref().map_or(String::new(), |f| format!(", {f}"))
                ),
            ),
        };
        // An extension index the header does not list still renders: Mermaid creates
        // the participant on first use.
        writeln!(self.out, "    {line}: {}", mm(&text))
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn bool_name(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

// ---- Chrome trace-event JSON -----------------------------------------------------------

/// The Chrome thread id of the external writer (after every possible extension).
const EXTERNAL_TID: u32 = 1 + 65536;

/// Writes Chrome/Perfetto trace-event JSON (`{"traceEvents": [...]}`): one thread for
/// the service, one per extension, one for the external writer; each call/return pair a
/// `B`/`E` duration on the extension's thread (the callee's for calls into it, the
/// caller's for callbacks), observations instant events. `ts` (µs) is
/// `time * 1000 + seq`, which keeps order and shows virtual time as milliseconds.
pub struct ChromeWriter<W: Write> {
    out: W,
    redact: bool,
    first: bool,
    /// Open `B` events per thread: a return with none open (a trace that starts mid-call,
    /// or a crafted one) becomes an instant event, so the output always nests.
    open: std::collections::HashMap<u32, u32>,
}

impl<W: Write> std::fmt::Debug for ChromeWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromeWriter").finish_non_exhaustive()
    }
}

impl<W: Write> ChromeWriter<W> {
    /// Writes the opening and the thread names.
    pub fn new(mut out: W, header: &Header, redact: bool) -> io::Result<Self> {
        out.write_all(b"{\"traceEvents\":[\n")?;
        let mut w = ChromeWriter {
            out,
            redact,
            first: true,
            open: Default::default(),
        };
        w.put(
            &json!({"name": "process_name", "ph": "M", "pid": 1, "tid": 0,
                      "args": {"name": format!("faxsim trace {}", header.trace_id)}}),
        )?;
        let thread = |w: &mut Self, tid: u32, name: &str| {
            w.put(&json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}}))?;
            w.put(&json!({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid, "args": {"sort_index": tid}}))
        };
        thread(&mut w, 0, "Service")?;
        for (i, e) in header.extensions.iter().enumerate() {
            thread(&mut w, 1 + i as u32, &format!("{} ({})", e.name, e.kind))?;
        }
        thread(&mut w, EXTERNAL_TID, "External writer")?;
        Ok(w)
    }

    fn put(&mut self, v: &Value) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, v).map_err(io::Error::from)
    }

    /// Writes one event.
    pub fn event(&mut self, e: &Event) -> io::Result<()> {
        use EventKind::*;
        let tid = match (&e.kind, e.ext) {
            (ExternalWriteCall { .. } | ExternalWriteReturn { .. }, _) => EXTERNAL_TID,
            (_, Some(x)) => 1 + u32::from(x.0),
            (_, None) => 0,
        };
        let (ph, name, cat) = match e.kind.half() {
            Some(Half::Call(c)) => {
                let cat = match c.direction() {
                    _ if c.is_lifecycle() => "lifecycle",
                    _ if c == Crossing::ConfigChange => "notification",
                    Direction::ToExtension => "entry point",
                    Direction::ToService => "callback",
                    Direction::External => "external",
                };
                let name = e.kind.function().unwrap_or(c.function());
                ("B", name, cat)
            }
            Some(Half::Return(_)) => ("E", "", "return"),
            None => ("i", e.kind.name(), "observation"),
        };
        let depth = self.open.entry(tid).or_default();
        let (ph, name, cat) = match ph {
            "B" => {
                *depth += 1;
                (ph, name, cat)
            }
            "E" if *depth > 0 => {
                *depth -= 1;
                (ph, name, cat)
            }
            "E" => ("i", e.kind.name(), "unmatched-return"),
            _ => (ph, name, cat),
        };
        let mut args = event_json(e, self.redact)
            .get_mut("kind")
            .map(Value::take)
            .unwrap_or(Value::Null);
        if let Some(a) = args.as_object_mut() {
            a.insert("seq".into(), json!(e.seq));
            a.insert("time".into(), json!(e.time));
            a.insert("thread".into(), json!(e.thread));
        }
        let ts = e.time.saturating_mul(1000).saturating_add(e.seq);
        let mut v = json!({"ph": ph, "ts": ts, "pid": 1, "tid": tid, "args": args});
        if let Some(o) = v.as_object_mut() {
            if !name.is_empty() {
                o.insert("name".into(), json!(name));
                o.insert("cat".into(), json!(cat));
            }
            if ph == "i" {
                o.insert("s".into(), json!("t"));
            }
        }
        self.put(&v)
    }

    /// Closes the JSON, flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"\n],\"displayTimeUnit\":\"ms\"}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}
