//! A replayed run as a normalised transcript: what crossed the boundary, one line per
//! call (its return on the same line when nothing happened in between), nested calls
//! indented, with the names the documentation uses. No event indices, times, addresses or
//! paths: a snapshot of it changes only where the extension's behaviour does, and a diff
//! of two shows just the calls that differ.
//!
//! It serialises (serde) for `insta::assert_yaml_snapshot!`, and [`Transcript::to_yaml`]
//! gives the stable YAML that `faxsim replay --snapshot` writes.

use std::fmt::Write as _;

use faxsim_sim::Finding;
use faxsim_trace::text::{enable_name, hresult_name, payload, source_name, win32_name};
use faxsim_trace::{
    BufferArg, Crossing, Damage, Direction, Event, EventKind, Exports, ExtId, ExtensionKind,
    GuidArg, HInstArg, Half, HandleArg,
};
use serde::Serialize;

use crate::{Played, ReplayOutcome};

/// One extension of the transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TranscriptExtension {
    /// Its name in the recording.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// `library`, `in-process` or `recording` (no path: snapshots must not depend on
    /// where the build lives).
    pub played_by: String,
}

/// A normalised transcript of a run (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transcript {
    /// The extensions, in the recording's order.
    pub extensions: Vec<TranscriptExtension>,
    /// `reproduced`, `diverged: …`, or `reproduced up to a cut: …`.
    pub outcome: String,
    /// The calls, one per line.
    pub calls: Vec<String>,
    /// The rule checker's findings on the run.
    pub findings: Vec<String>,
}

impl Transcript {
    /// The transcript of a replay.
    pub fn of(outcome: &ReplayOutcome, kinds: &[ExtensionKind]) -> Transcript {
        let names = &outcome.names;
        let extensions = names
            .iter()
            .enumerate()
            .map(|(i, name)| TranscriptExtension {
                name: name.clone(),
                kind: kinds.get(i).map_or("?", |k| k.name()).to_string(),
                played_by: match outcome.played.get(i) {
                    Some(Played::Library { .. }) => "library",
                    Some(Played::InProcess) => "in-process",
                    Some(Played::Recording) | None => "recording",
                }
                .to_string(),
            })
            .collect();
        let state = match (&outcome.divergence, &outcome.truncated) {
            (Some(d), _) => {
                let line = |e: &Option<Event>| {
                    e.as_ref().map_or_else(
                        || "nothing".to_string(),
                        |e| one_event(e, names).trim().to_string(),
                    )
                };
                format!(
                    "diverged: expected {}; the replay did {}",
                    line(&d.expected),
                    line(&d.actual)
                )
            }
            (None, Some(cut)) => format!("reproduced up to a cut: {cut}"),
            (None, None) => "reproduced".to_string(),
        };
        Transcript {
            extensions,
            outcome: state,
            calls: calls(&outcome.events, names),
            findings: findings(&outcome.findings, names),
        }
    }

    /// The stable YAML form: every string double-quoted (JSON escapes), two-space
    /// indentation, fields in declaration order. This is what `faxsim replay
    /// --snapshot` writes as the body of a `.snap` file.
    pub fn to_yaml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
        let mut y = String::new();
        y.push_str(if self.extensions.is_empty() {
            "extensions: []\n"
        } else {
            "extensions:\n"
        });
        for e in &self.extensions {
            let _ = writeln!(y, "  - name: {}", q(&e.name));
            let _ = writeln!(y, "    kind: {}", q(&e.kind));
            let _ = writeln!(y, "    played_by: {}", q(&e.played_by));
        }
        let _ = writeln!(y, "outcome: {}", q(&self.outcome));
        for (key, list) in [("calls", &self.calls), ("findings", &self.findings)] {
            if list.is_empty() {
                let _ = writeln!(y, "{key}: []");
                continue;
            }
            let _ = writeln!(y, "{key}:");
            for line in list {
                let _ = writeln!(y, "  - {}", q(line));
            }
        }
        y
    }
}

fn findings(findings: &[Finding], names: &[String]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}: {}",
                f.severity.name(),
                f.rule.id(),
                f.ext.map_or("-".into(), |x| name(names, x)),
                f.message
            )
        })
        .collect()
}

fn name(names: &[String], x: ExtId) -> String {
    names
        .get(x.index())
        .cloned()
        .unwrap_or_else(|| format!("ext#{}", x.0))
}

/// An open call on some thread: its line, kept back until the next event shows whether
/// anything happens inside it.
struct Open {
    line: String,
    /// The function called, to label its return when lines came in between.
    function: String,
    crossing: Crossing,
    pending: bool,
}

/// Renders events as transcript lines (see the module docs).
pub fn calls(events: &[Event], names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Open calls per thread, innermost last.
    let mut stacks: std::collections::BTreeMap<u16, Vec<Open>> = Default::default();
    for e in events {
        let indent = |depth: usize| "  ".repeat(depth);
        let tag = if e.thread == 0 {
            String::new()
        } else {
            format!("[thread {}] ", e.thread)
        };
        let closes = matches!(
            (e.kind.half(), stacks.get(&e.thread).and_then(|s| s.last())),
            (Some(Half::Return(c)), Some(top)) if top.crossing == c
        );
        // Anything but the return of the innermost call flushes the lines kept back, on
        // every thread, so the transcript stays in the order things happened (a call one
        // thread makes while another is inside the service shows inside it).
        for (&thread, stack) in stacks.iter_mut() {
            if closes && thread == e.thread {
                continue;
            }
            if let Some(top) = stack.last_mut().filter(|t| t.pending) {
                out.push(std::mem::take(&mut top.line));
                top.pending = false;
            }
        }
        let stack = stacks.entry(e.thread).or_default();
        match e.kind.half() {
            Some(Half::Call(c)) => {
                let depth = stack.len();
                stack.push(Open {
                    line: format!("{}{tag}{}", indent(depth), call_text(e, names)),
                    function: function_of(e, c),
                    crossing: c,
                    pending: true,
                });
            }
            Some(Half::Return(_)) if closes => {
                let top = stack.pop().expect("closes");
                let result = return_text(&e.kind);
                if top.pending {
                    out.push(format!("{} = {result}", top.line));
                } else {
                    out.push(format!(
                        "{}{tag}= {result} ({} returns)",
                        indent(stack.len()),
                        top.function
                    ));
                }
            }
            Some(Half::Return(_)) => {
                // A return with no open call (a recording that starts mid-call).
                out.push(format!(
                    "{}{tag}(return of a call before the recording) = {}",
                    indent(stack.len()),
                    return_text(&e.kind)
                ));
            }
            None => out.push(format!(
                "{}{tag}{}",
                indent(stack.len()),
                observation(e, names)
            )),
        }
    }
    // Calls still open at the end (a cut recording, a crash).
    for stack in stacks.into_values() {
        for open in stack {
            if open.pending {
                out.push(format!("{} … (never returned)", open.line));
            }
        }
    }
    out
}

/// The name of the function a call event calls.
fn function_of(e: &Event, c: Crossing) -> String {
    match &e.kind {
        EventKind::EntryPointCall { function } => function.to_string(),
        EventKind::ExternalWriteCall { .. } => "the write".into(),
        _ => c.function().to_string(),
    }
}

fn guid(g: &GuidArg) -> String {
    g.as_deref().map_or_else(|| "NULL".into(), str::to_string)
}

fn hinst(h: &HInstArg, names: &[String]) -> String {
    match h {
        HInstArg::Null => "NULL".into(),
        HInstArg::Ext(x) => format!("hInst of {}", name(names, *x)),
        HInstArg::Foreign(f) => format!("foreign hInst #{}", f.0),
    }
}

fn exports_text(kind: ExtensionKind, e: &Exports) -> String {
    let mut v = Vec::new();
    if e.initialize_config {
        v.push("FaxExtInitializeConfig");
    }
    if e.dev_shutdown && kind.is_provider() {
        v.push("FaxDevShutdown");
    }
    if e.route_device_change && !kind.is_provider() {
        v.push("FaxRouteDeviceChangeNotification");
    }
    if v.is_empty() {
        "no optional entry point".into()
    } else {
        v.join(", ")
    }
}

pub(crate) fn call_text(e: &Event, names: &[String]) -> String {
    use EventKind as K;
    let who = e.ext.map_or("-".into(), |x| name(names, x));
    let Some(Half::Call(c)) = e.kind.half() else {
        return String::new();
    };
    let args = match &e.kind {
        K::RouteDeviceChangeCall { device, new_device } => format!(
            "(device {device}, {})",
            if *new_device { "arrived" } else { "removed" }
        ),
        K::ConfigChangeCall {
            handle,
            callback,
            device,
            guid,
            data,
            ..
        } => format!(
            "(handle#{} through callback#{}, device {device}, {guid}, {})",
            handle.0,
            callback.0,
            payload(data)
        ),
        K::RouteDeviceEnableCall {
            guid: g,
            device,
            enabled,
        } => format!("({}, device {device}, {})", guid(g), enable_name(*enabled)),
        K::RouteGetRoutingInfoCall {
            guid: g,
            device,
            buffer,
            size,
        } => format!(
            "({}, device {device}, {})",
            guid(g),
            if *buffer {
                format!("a {size}-byte buffer")
            } else {
                "size query".into()
            }
        ),
        K::RouteSetRoutingInfoCall {
            guid: g,
            device,
            data,
            size,
        } => format!(
            "({}, device {device}, {size} bytes: {})",
            guid(g),
            data.as_deref().map_or("NULL".into(), payload)
        ),
        K::GetDataCall {
            device,
            source,
            guid: g,
            null_out,
        } => format!(
            "(device {device}, {}, {}{})",
            source_name(*source),
            guid(g),
            if *null_out { ", NULL out-pointer" } else { "" }
        ),
        K::SetDataCall {
            hinst: h,
            device,
            source,
            guid: g,
            data,
            size,
        } => format!(
            "({}, device {device}, {}, {}, {size} bytes: {})",
            hinst(h, names),
            source_name(*source),
            guid(g),
            data.as_deref().map_or("NULL".into(), payload)
        ),
        K::RegisterCall {
            hinst: h,
            device,
            source,
            guid: g,
            callback,
        } => format!(
            "({}, device {device}, {}, {}, {})",
            hinst(h, names),
            source_name(*source),
            guid(g),
            callback.map_or("NULL callback".into(), |c| format!("callback#{}", c.0))
        ),
        K::UnregisterCall { handle } => format!(
            "({})",
            match handle {
                HandleArg::Null => "NULL".into(),
                HandleArg::InvalidValue => "INVALID_HANDLE_VALUE".into(),
                HandleArg::Handle(h) => format!("handle#{}", h.0),
                HandleArg::Foreign(f) => format!("foreign handle #{}", f.0),
            }
        ),
        K::FreeBufferCall { buffer } => format!(
            "({})",
            match buffer {
                BufferArg::Null => "NULL".into(),
                BufferArg::Buffer(b) => format!("buffer#{}", b.0),
                BufferArg::ChangeData { .. } => "the lpData of a ConfigChange".into(),
                BufferArg::Foreign(f) => format!("foreign pointer #{}", f.0),
            }
        ),
        K::ExternalWriteCall {
            device,
            guid: g,
            data,
            size,
        } => format!(
            "(device {device}, {}, {size} bytes: {})",
            guid(g),
            data.as_deref().map_or("NULL".into(), payload)
        ),
        _ => String::new(),
    };
    let function = function_of(e, c);
    match c.direction() {
        Direction::ToExtension => format!("service → {who}: {function}{args}"),
        Direction::ToService => format!("{who} → service: {function}{args}"),
        Direction::External => format!("administrator → service: write{args}"),
    }
}

pub(crate) fn return_text(k: &EventKind) -> String {
    use EventKind as K;
    let bool_name = |b: bool| if b { "TRUE" } else { "FALSE" };
    let injected = |i: bool| if i { " (injected)" } else { "" };
    match k {
        K::VirtualDeviceCreationReturn {
            ok,
            count,
            id_prefix,
            name_prefix,
        } => format!(
            "{}, {count} devices from {id_prefix}, named {name_prefix:?}",
            bool_name(*ok)
        ),
        K::InitializeConfigReturn { hr }
        | K::DevShutdownReturn { hr }
        | K::ConfigChangeReturn { hr, .. } => hresult_name(*hr),
        K::DevInitializeReturn { ok }
        | K::RouteInitializeReturn { ok }
        | K::RouteDeviceChangeReturn { ok }
        | K::RouteSetRoutingInfoReturn { ok } => bool_name(*ok).into(),
        K::RouteDeviceEnableReturn { result } | K::EntryPointReturn { result } => {
            result.to_string()
        }
        K::RouteGetRoutingInfoReturn { ok, size, data } => format!(
            "{}, {size} bytes{}",
            bool_name(*ok),
            data.as_deref()
                .map_or(String::new(), |d| format!(": {}", payload(d)))
        ),
        K::GetDataReturn {
            code,
            buffer,
            data,
            injected: i,
        } => match (buffer, data) {
            (Some(b), Some(d)) => format!(
                "{}, buffer#{} holding {}{}",
                win32_name(*code),
                b.0,
                payload(d),
                injected(*i)
            ),
            _ => format!("{}{}", win32_name(*code), injected(*i)),
        },
        K::SetDataReturn { code, injected: i } | K::UnregisterReturn { code, injected: i } => {
            format!("{}{}", win32_name(*code), injected(*i))
        }
        K::RegisterReturn {
            handle,
            last_error,
            injected: i,
        } => match handle {
            Some(h) => format!("handle#{}", h.0),
            None => format!(
                "NULL, last error {}{}",
                win32_name(*last_error),
                injected(*i)
            ),
        },
        K::FreeBufferReturn => "done".into(),
        K::ExternalWriteReturn { code } => win32_name(*code),
        other => other.name().into(),
    }
}

pub(crate) fn observation(e: &Event, names: &[String]) -> String {
    use EventKind as K;
    let who = e.ext.map_or("-".into(), |x| name(names, x));
    match &e.kind {
        K::ServiceStart { run } => format!("service start (run {run})"),
        K::ServiceStopping => "service stopping".into(),
        K::ServiceStopped => "service stopped".into(),
        K::DeviceAdded {
            device,
            tapi,
            owner,
        } => match (tapi, owner) {
            (Some(t), _) => format!("device {device} added (TAPI line {t})"),
            (None, Some(o)) => format!("device {device} added by {}", name(names, *o)),
            (None, None) => format!("device {device} added"),
        },
        K::DeviceRemoved { device } => format!("device {device} removed"),
        K::ValueCorrupted { device, guid } => {
            format!("the stored value of device {device}, {guid} is corrupt")
        }
        K::Load { kind, exports } => {
            format!("{who} loaded ({kind}; {})", exports_text(*kind, exports))
        }
        K::Unload => format!("{who} unloaded"),
        K::BufferDamaged { buffer, damage } => match damage {
            Damage::Overrun { offset } => {
                format!(
                    "! buffer#{} of {who} written past its end (at +{offset})",
                    buffer.0
                )
            }
            Damage::WriteAfterFree { offset } => {
                format!(
                    "! buffer#{} of {who} written after it was freed (at +{offset})",
                    buffer.0
                )
            }
        },
        K::ChangeDataWritten { offset, .. } => {
            format!("! {who} wrote into the ConfigChange's lpData (at +{offset})")
        }
        K::InputWritten { input, offset, .. } => format!(
            "! {who} wrote into the {} the service passed (at +{offset})",
            match input {
                faxsim_trace::ServiceInput::Guid => "GUID string",
                faxsim_trace::ServiceInput::RoutingInfo => "routing info",
            }
        ),
        K::DeliveryCut { depth, handle, .. } => format!(
            "! the notification of handle#{} was not delivered: nesting depth {depth}",
            handle.0
        ),
        K::ExtensionCrashed { detail } => format!("! {who} crashed: {detail}"),
        K::ExtensionHung { limit_ms } => {
            format!("! {who} did not return within {limit_ms} ms")
        }
        other => other.name().into(),
    }
}

/// One event as one transcript line (for the outcome of a divergence).
fn one_event(e: &Event, names: &[String]) -> String {
    match e.kind.half() {
        Some(Half::Call(_)) => call_text(e, names),
        Some(Half::Return(c)) => format!(
            "{} of {} returning {}",
            c.function(),
            e.ext.map_or("-".into(), |x| name(names, x)),
            return_text(&e.kind)
        ),
        None => observation(e, names),
    }
}
