//! The canonical one-line-per-event text form.
//!
//! Columns: `seq` (right-aligned to 6), `t=` virtual time, `th` thread, the extension's
//! name (or `-`), then the event kind and its arguments as `key=value`. Payloads print as
//! hex up to 16 bytes, then `…(N bytes)`; redacted, as `[len=N sha256:XXXXXXXX]`. Error
//! codes print by name where the name is known. `docs/trace-format.md` lists every kind.

use std::fmt::{self, Write as _};

use crate::event::*;

/// Renders an event with extension names from `names` (indexed by [`ExtId`]).
#[derive(Debug, Clone, Copy)]
pub struct TextLine<'a> {
    /// The event.
    pub event: &'a Event,
    /// Extension names, indexed by `ExtId`; missing entries print as `ext#N`.
    pub names: &'a [String],
}

fn ext_name(names: &[String], ext: ExtId) -> String {
    names
        .get(ext.index())
        .cloned()
        .unwrap_or_else(|| format!("ext#{}", ext.0))
}

/// Hex of up to 16 bytes, then the total length.
pub fn payload(data: &[u8]) -> String {
    let mut s = String::new();
    for b in data.iter().take(16) {
        let _ = write!(s, "{b:02x}");
    }
    if data.len() > 16 {
        let _ = write!(s, "…({} bytes)", data.len());
    } else if data.is_empty() {
        s.push_str("(empty)");
    }
    s
}

fn opt_payload(data: &PayloadArg, redact: bool) -> String {
    match data {
        None => "NULL".into(),
        Some(d) => pay(d, redact),
    }
}

fn pay(data: &[u8], redact: bool) -> String {
    if redact {
        // Bracketed: the digest has a space, and the line splits on spaces.
        format!("[{}]", crate::render::redact_payload(data))
    } else {
        payload(data)
    }
}

/// Like [`TextLine`], with every payload replaced by its length and a short digest
/// (for bug reports whose configuration is private).
#[derive(Debug, Clone, Copy)]
pub struct RedactedTextLine<'a> {
    /// The event.
    pub event: &'a Event,
    /// Extension names, indexed by `ExtId`.
    pub names: &'a [String],
}

impl fmt::Display for RedactedTextLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(f, self.event, self.names, true)
    }
}

/// `FaxRouteDeviceEnable`'s third argument by name.
pub fn enable_name(enabled: i32) -> String {
    match enabled {
        -1 => "QUERY_STATUS".into(),
        0 => "STATUS_DISABLE".into(),
        1 => "STATUS_ENABLE".into(),
        other => other.to_string(),
    }
}

fn guid(g: &GuidArg) -> String {
    match g {
        None => "NULL".into(),
        Some(g) => one_line(g),
    }
}

/// Text from the trace with control characters escaped, so every event stays one line
/// whatever a crafted or damaged trace holds.
pub fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The Win32 error names the text form knows (the codes of the protocol).
pub fn win32_name(code: u32) -> String {
    let name = match code {
        0 => "ERROR_SUCCESS",
        2 => "ERROR_FILE_NOT_FOUND",
        8 => "ERROR_NOT_ENOUGH_MEMORY",
        31 => "ERROR_GEN_FAILURE",
        85 => "ERROR_ALREADY_ASSIGNED",
        87 => "ERROR_INVALID_PARAMETER",
        170 => "ERROR_BUSY",
        1009 => "ERROR_BADDB",
        1115 => "ERROR_SHUTDOWN_IN_PROGRESS",
        1168 => "ERROR_NOT_FOUND",
        other => return other.to_string(),
    };
    name.to_string()
}

/// HRESULT names the text form knows.
pub fn hresult_name(hr: i32) -> String {
    match hr {
        0 => "S_OK".into(),
        hr if hr as u32 == 0x8000_4005 => "E_FAIL".into(),
        hr => format!("0x{:08x}", hr as u32),
    }
}

/// `DEV_ID_SRC_*` by name, or the raw value.
pub fn source_name(source: i32) -> String {
    match source {
        SOURCE_FAX => "FAX".into(),
        SOURCE_TAPI => "TAPI".into(),
        other => format!("src({other})"),
    }
}

impl fmt::Display for HInstArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HInstArg::Null => f.write_str("NULL"),
            HInstArg::Ext(e) => write!(f, "hinst(ext#{})", e.0),
            HInstArg::Foreign(n) => write!(f, "foreign#{}", n.0),
        }
    }
}

impl fmt::Display for BufferArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BufferArg::Null => f.write_str("NULL"),
            BufferArg::Buffer(b) => write!(f, "buffer#{}", b.0),
            BufferArg::ChangeData { delivery } => write!(f, "change-data@{delivery}"),
            BufferArg::Foreign(n) => write!(f, "foreign#{}", n.0),
        }
    }
}

impl fmt::Display for HandleArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleArg::Null => f.write_str("NULL"),
            HandleArg::InvalidValue => f.write_str("INVALID_HANDLE_VALUE"),
            HandleArg::Handle(h) => write!(f, "handle#{}", h.0),
            HandleArg::Foreign(n) => write!(f, "foreign#{}", n.0),
        }
    }
}

impl fmt::Display for TextLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(f, self.event, self.names, false)
    }
}

fn render(f: &mut fmt::Formatter<'_>, e: &Event, names: &[String], redact: bool) -> fmt::Result {
    use EventKind::*;
    let who = match e.ext {
        Some(x) => ext_name(names, x),
        None => "-".into(),
    };
    write!(
        f,
        "{:>6} t={:<6} th{:<2} {:<12} {}",
        e.seq,
        e.time,
        e.thread,
        who,
        e.kind.name()
    )?;
    match &e.kind {
        ServiceStart { run } => write!(f, " run={run}"),
        DeviceAdded {
            device,
            tapi,
            owner,
        } => {
            write!(f, " device={device}")?;
            if let Some(t) = tapi {
                write!(f, " tapi={t}")?;
            }
            if let Some(o) = owner {
                write!(f, " owner={}", ext_name(names, *o))?;
            }
            Ok(())
        }
        DeviceRemoved { device } => write!(f, " device={device}"),
        ValueCorrupted { device, guid } => {
            write!(f, " device={device} guid={}", one_line(guid))
        }
        Load { kind, exports } => write!(
            f,
            " kind={kind} config={} shutdown={}",
            exports.initialize_config, exports.dev_shutdown
        ),
        VirtualDeviceCreationReturn {
            ok,
            count,
            id_prefix,
            name_prefix,
        } => write!(
            f,
            " ok={ok} count={count} id_prefix={id_prefix} name_prefix={name_prefix:?}"
        ),
        InitializeConfigReturn { hr } | DevShutdownReturn { hr } => {
            write!(f, " hr={}", hresult_name(*hr))
        }
        DevInitializeReturn { ok }
        | RouteInitializeReturn { ok }
        | RouteDeviceChangeReturn { ok } => write!(f, " ok={ok}"),
        RouteDeviceChangeCall { device, new_device } => {
            write!(f, " device={device} new={new_device}")
        }
        ConfigChangeCall {
            handle,
            callback,
            device,
            guid,
            data,
            cause,
        } => {
            write!(
                f,
                " handle#{} callback#{} device={device} guid={} data={}",
                handle.0,
                callback.0,
                one_line(guid),
                pay(data, redact)
            )?;
            if let Some(c) = cause {
                write!(f, " cause={c}")?;
            }
            Ok(())
        }
        ConfigChangeReturn { handle, hr } => {
            write!(f, " handle#{} hr={}", handle.0, hresult_name(*hr))
        }
        RouteDeviceEnableCall {
            guid: g,
            device,
            enabled,
        } => write!(
            f,
            " guid={} device={device} enabled={}",
            guid(g),
            enable_name(*enabled)
        ),
        RouteDeviceEnableReturn { result } => write!(f, " result={result}"),
        RouteGetRoutingInfoCall {
            guid: g,
            device,
            buffer,
            size,
        } => {
            write!(f, " guid={} device={device}", guid(g))?;
            if *buffer {
                write!(f, " buffer size={size}")
            } else {
                write!(f, " buffer=NULL size={size}")
            }
        }
        RouteGetRoutingInfoReturn { ok, size, data } => {
            write!(f, " ok={ok} size={size}")?;
            if let Some(d) = data {
                write!(f, " data={}", pay(d, redact))?;
            }
            Ok(())
        }
        RouteSetRoutingInfoCall {
            guid: g,
            device,
            data,
            size,
        } => write!(
            f,
            " guid={} device={device} size={size} data={}",
            guid(g),
            opt_payload(data, redact)
        ),
        RouteSetRoutingInfoReturn { ok } => write!(f, " ok={ok}"),
        EntryPointCall { function } => write!(f, " {}", one_line(function)),
        EntryPointReturn { result } => write!(f, " result={result}"),
        RoutingStart {
            job,
            device,
            methods,
        } => {
            write!(f, " job={job} device={device}")?;
            for m in methods {
                write!(
                    f,
                    " method={}={}",
                    guid(&Some(m.guid.clone())),
                    one_line(&m.function)
                )?;
            }
            Ok(())
        }
        RoutingEnd { job } => write!(f, " job={job}"),
        RouteFileCall {
            routine,
            job,
            index,
            file,
            guid: g,
            data,
            buffer,
        } => {
            write!(f, " {} job={job}", routine.function())?;
            match routine {
                RouteRoutine::AddFile => write!(f, " file={} guid={}", guid(file), guid(g)),
                RouteRoutine::DeleteFile => write!(f, " file={}", guid(file)),
                RouteRoutine::GetFile => write!(
                    f,
                    " index={index} buffer={}",
                    match buffer {
                        NameBuffer::None => "NULL",
                        NameBuffer::Fits => "fits",
                        NameBuffer::TooSmall => "too-small",
                    }
                ),
                RouteRoutine::EnumFiles => write!(f, " guid={}", guid(g)),
                RouteRoutine::ModifyRoutingData => {
                    write!(f, " guid={} data={}", guid(g), opt_payload(data, redact))
                }
            }
        }
        RouteFileReturn { result, code, file } => {
            write!(f, " result={result}")?;
            if *code != 0 {
                write!(f, " {}", win32_name(*code))?;
            }
            if let Some(name) = file {
                write!(f, " file={}", one_line(name))?;
            }
            Ok(())
        }
        GetDataCall {
            device,
            source,
            guid: g,
            null_out,
        } => {
            write!(
                f,
                " device={device} src={} guid={}",
                source_name(*source),
                guid(g)
            )?;
            if *null_out {
                f.write_str(" out=NULL")?;
            }
            Ok(())
        }
        GetDataReturn {
            code,
            buffer,
            data,
            injected,
        } => {
            write!(f, " {}", win32_name(*code))?;
            if let Some(b) = buffer {
                write!(f, " buffer#{} data={}", b.0, opt_payload(data, redact))?;
            }
            if *injected {
                f.write_str(" (injected)")?;
            }
            Ok(())
        }
        SetDataCall {
            hinst,
            device,
            source,
            guid: g,
            data,
            size,
        } => write!(
            f,
            " hinst={hinst} device={device} src={} guid={} size={size} data={}",
            source_name(*source),
            guid(g),
            opt_payload(data, redact)
        ),
        SetDataReturn { code, injected } | UnregisterReturn { code, injected } => {
            write!(f, " {}", win32_name(*code))?;
            if *injected {
                f.write_str(" (injected)")?;
            }
            Ok(())
        }
        RegisterCall {
            hinst,
            device,
            source,
            guid: g,
            callback,
        } => {
            write!(
                f,
                " hinst={hinst} device={device} src={} guid={}",
                source_name(*source),
                guid(g)
            )?;
            match callback {
                Some(c) => write!(f, " callback#{}", c.0),
                None => f.write_str(" callback=NULL"),
            }
        }
        RegisterReturn {
            handle,
            last_error,
            injected,
        } => {
            match handle {
                Some(h) => write!(f, " handle#{}", h.0)?,
                None => write!(f, " NULL last_error={}", win32_name(*last_error))?,
            }
            if *injected {
                f.write_str(" (injected)")?;
            }
            Ok(())
        }
        UnregisterCall { handle } => write!(f, " {handle}"),
        FreeBufferCall { buffer } => write!(f, " {buffer}"),
        ExternalWriteCall {
            device,
            guid: g,
            data,
            size,
        } => write!(
            f,
            " device={device} guid={} size={size} data={}",
            guid(g),
            opt_payload(data, redact)
        ),
        ExternalWriteReturn { code } => write!(f, " {}", win32_name(*code)),
        BufferDamaged { buffer, damage } => match damage {
            Damage::Overrun { offset } => {
                write!(f, " buffer#{} overrun at +{offset}", buffer.0)
            }
            Damage::WriteAfterFree { offset } => {
                write!(f, " buffer#{} written after free at +{offset}", buffer.0)
            }
        },
        ChangeDataWritten { delivery, offset } => {
            write!(f, " delivery={delivery} at +{offset}")
        }
        InputWritten {
            call,
            input,
            offset,
        } => write!(f, " {} call={call} at +{offset}", input.name()),
        DeliveryCut {
            depth,
            handle,
            cause,
        } => write!(f, " depth={depth} handle#{} cause={cause}", handle.0),
        ExtensionCrashed { detail } => write!(f, " {}", one_line(detail)),
        ExtensionHung { limit_ms } => write!(f, " limit={limit_ms}ms"),
        ServiceStopping
        | ServiceStopped
        | Unload
        | VirtualDeviceCreationCall
        | InitializeConfigCall
        | DevInitializeCall
        | RouteInitializeCall
        | DevShutdownCall
        | FreeBufferReturn => Ok(()),
    }
}
