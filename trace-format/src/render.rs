//! Renderings for people and tools: redaction, a header summary, and Chrome/Perfetto
//! trace-event JSON (the Mermaid diagram is [`crate::mermaid`]). Each renderer streams: it
//! takes the header, then one event at a time.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::bytes::to_hex;
use crate::event::*;
use crate::header::{Header, sha256};
use crate::marks::Mark;
use crate::text::one_line;

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

/// `TRUE` or `FALSE`.
pub(crate) fn bool_name(b: bool) -> &'static str {
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

    /// Writes a finding at event `e` (call it after [`ChromeWriter::event`] of `e`): an
    /// instant event named after its severity and rule, on the thread of the extension it
    /// concerns, with the message in its `args`.
    pub fn mark(&mut self, e: &Event, m: &Mark) -> io::Result<()> {
        let tid = m.ext.map_or(0, |x| 1 + u32::from(x.0));
        let ts = e.time.saturating_mul(1000).saturating_add(e.seq);
        self.put(&json!({
            "name": format!("{} {}", m.level.name(), m.rule),
            "cat": "finding",
            "ph": "i",
            "s": "t",
            "ts": ts,
            "pid": 1,
            "tid": tid,
            "args": {"rule": m.rule, "severity": m.level.name(), "event": m.event,
                     "message": m.message},
        }))
    }

    /// Closes the JSON, flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"\n],\"displayTimeUnit\":\"ms\"}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}
