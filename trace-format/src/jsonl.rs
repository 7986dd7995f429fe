//! The JSON Lines form: lossless, one JSON object per line, and its conversion back to
//! the binary form.
//!
//! - line 1: `{"faxsim_trace": "1.0", "trace_id": …, "faxsim": …, "platform": {…},
//!   "seed": …, "origin": …, "options": {…}, "extensions": [{"name", "kind", "sha256"}]}`
//! - then one event per line, the serde form of [`Event`]: `{"seq", "time", "thread",
//!   "ext", "kind": {"type": "config-change-call", …}}`, payload bytes as lowercase hex;
//! - last: `{"end": {"events": N, "hash": "0123456789abcdef"}}` (optional on input;
//!   checked when present).
//!
//! Input without the header line (bare event lines) is read too, with a placeholder
//! header ([`JsonlReader::is_headerless`]).

use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use crate::error::TraceError;
use crate::event::Event;
use crate::header::Header;
use crate::version::{CURRENT, Compatibility, FormatVersion};
use crate::writer::{FlushPolicy, TraceWriter};

/// The longest line accepted: the largest event ([`MAX_EVENT_LEN`](crate::MAX_EVENT_LEN)
/// bytes, its payload written as an array of byte values, up to four characters a byte)
/// with room to spare.
pub const MAX_LINE: usize = 4 * crate::MAX_EVENT_LEN as usize + (16 << 20);

#[derive(Serialize, Deserialize)]
struct HeaderLine {
    faxsim_trace: String,
    #[serde(flatten)]
    header: Header,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndLine {
    end: EndRecord,
}

#[derive(Serialize, Deserialize)]
struct EndRecord {
    events: u64,
    /// The binary form's rolling hash, as 16 hex digits (absent in redacted output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
}

/// Writes the JSON Lines form, streaming.
pub struct JsonlWriter<W: Write> {
    out: W,
    /// Computes the binary form's rolling hash for the end line.
    shadow: TraceWriter<std::io::Sink>,
    redact: bool,
}

impl<W: Write> std::fmt::Debug for JsonlWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlWriter")
            .field("redact", &self.redact)
            .finish_non_exhaustive()
    }
}

impl<W: Write> JsonlWriter<W> {
    /// Writes the header line. With `redact`, every payload becomes its length and a
    /// short digest (see [`redact_payload`](crate::render::redact_payload)), and the end
    /// line carries no hash; such output cannot be converted back.
    pub fn new(mut out: W, header: &Header, redact: bool) -> Result<JsonlWriter<W>, TraceError> {
        let line = HeaderLine {
            faxsim_trace: CURRENT.to_string(),
            header: header.clone(),
        };
        serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(JsonlWriter {
            out,
            shadow: TraceWriter::with_policy(std::io::sink(), header, FlushPolicy::Batched)?,
            redact,
        })
    }

    /// Writes one event line.
    pub fn write_event(&mut self, event: &Event) -> Result<(), TraceError> {
        self.shadow.write_event(event)?;
        if self.redact {
            serde_json::to_writer(&mut self.out, &crate::render::event_json(event, true))
        } else {
            serde_json::to_writer(&mut self.out, event)
        }
        .map_err(std::io::Error::from)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.out.flush()?;
        Ok(())
    }

    /// Writes the end line, flushes and returns the output.
    pub fn finish(mut self) -> Result<W, TraceError> {
        let end = EndLine {
            end: EndRecord {
                events: self.shadow.events_written(),
                hash: (!self.redact).then(|| format!("{:016x}", self.shadow.hash())),
            },
        };
        serde_json::to_writer(&mut self.out, &end).map_err(std::io::Error::from)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads the JSON Lines form, streaming. When the end line is present, its event count
/// and hash must match the lines before it (so a hand-edited or cut file is caught).
pub struct JsonlReader<R> {
    src: R,
    /// Computes the binary form's rolling hash of the events read, for the end line.
    shadow: TraceWriter<std::io::Sink>,
    line: u64,
    buf: Vec<u8>,
    header: Header,
    version: FormatVersion,
    /// `(events, hash)` of the end line, once read.
    end: Option<(u64, Option<u64>)>,
    /// The first event of a file without a header line.
    pending: Option<Event>,
    headerless: bool,
    done: bool,
}

impl<R> std::fmt::Debug for JsonlReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlReader")
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

fn json_error(line: u64, e: &serde_json::Error) -> TraceError {
    // serde_json ends its message with " at line 1 column N", counted within the one line
    // it was given: the file's line and column are in the error already.
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_string(),
        _ => message,
    };
    TraceError::Json {
        line,
        column: e.column() as u64,
        message,
    }
}

impl<R: BufRead> JsonlReader<R> {
    /// Reads and checks the header line.
    pub fn new(src: R) -> Result<JsonlReader<R>, TraceError> {
        let empty = Header::new(0, serde_json::Value::Null, Vec::new());
        let mut r = JsonlReader {
            shadow: TraceWriter::with_policy(std::io::sink(), &empty, FlushPolicy::Batched)?,
            src,
            line: 0,
            buf: Vec::new(),
            header: Header::new(0, serde_json::Value::Null, Vec::new()),
            version: CURRENT,
            end: None,
            pending: None,
            headerless: false,
            done: false,
        };
        if !r.read_line()? {
            return Err(TraceError::Empty);
        }
        if r.buf.starts_with(b"{\"seq\"") {
            // Bare event lines (an older `validate --record`): read them with a header
            // that knows nothing (extensions print as `ext#N`).
            let e: Event = serde_json::from_slice(&r.buf).map_err(|e| json_error(1, &e))?;
            r.shadow.write_event(&e)?;
            r.header = Header {
                trace_id: uuid::Uuid::nil(),
                faxsim: "unknown".into(),
                platform: crate::Platform {
                    os: "unknown".into(),
                    arch: "unknown".into(),
                },
                seed: 0,
                origin: "JSON Lines without a header".into(),
                options: serde_json::Value::Null,
                extensions: Vec::new(),
            };
            r.pending = Some(e);
            r.headerless = true;
            return Ok(r);
        }
        let line: HeaderLine = serde_json::from_slice(&r.buf).map_err(|e| {
            if r.buf.first() == Some(&b'{') {
                json_error(1, &e)
            } else {
                TraceError::NotATrace
            }
        })?;
        let version: FormatVersion = line.faxsim_trace.parse().map_err(|()| TraceError::Json {
            line: 1,
            column: 0,
            message: format!(
                "faxsim_trace {:?} is not a MAJOR.MINOR version",
                line.faxsim_trace
            ),
        })?;
        match version.check_readable_by(CURRENT) {
            Compatibility::NewerMajor => {
                return Err(TraceError::NewerMajor {
                    written_by: line.header.faxsim,
                    version,
                    reads: CURRENT.major,
                });
            }
            Compatibility::OlderMajor => {
                return Err(TraceError::OlderMajor {
                    written_by: line.header.faxsim,
                    version,
                });
            }
            _ => {}
        }
        r.shadow = TraceWriter::with_policy(std::io::sink(), &line.header, FlushPolicy::Batched)?;
        r.header = line.header;
        r.version = version;
        Ok(r)
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `(events, hash)` from the end line, once reached.
    pub fn end(&self) -> Option<(u64, Option<u64>)> {
        self.end
    }

    /// The format version the header line declares.
    pub fn version(&self) -> FormatVersion {
        self.version
    }

    /// The input had no header line (bare event lines): the header is a placeholder.
    pub fn is_headerless(&self) -> bool {
        self.headerless
    }

    /// Reads one line into `buf` (without the newline); false at the end of input.
    fn read_line(&mut self) -> Result<bool, TraceError> {
        self.buf.clear();
        let n = (&mut self.src)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.len() > MAX_LINE {
            return Err(TraceError::Json {
                line: self.line,
                column: 0,
                message: format!("line longer than {MAX_LINE} bytes"),
            });
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        Ok(true)
    }

    /// The next event; `Ok(None)` at the end of input.
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        if let Some(e) = self.pending.take() {
            return Ok(Some(e));
        }
        while !self.done {
            if !self.read_line()? {
                self.done = true;
                break;
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if self.end.is_some() {
                return Err(TraceError::Json {
                    line: self.line,
                    column: 1,
                    message: "text after the end line".into(),
                });
            }
            if self.buf.starts_with(b"{\"end\"") {
                let end: EndLine =
                    serde_json::from_slice(&self.buf).map_err(|e| json_error(self.line, &e))?;
                let hash = match end.end.hash {
                    None => None,
                    Some(h) => Some(u64::from_str_radix(&h, 16).map_err(|_| TraceError::Json {
                        line: self.line,
                        column: 0,
                        message: format!("end hash {h:?} is not 16 hex digits"),
                    })?),
                };
                let (events, ours) = (self.shadow.events_written(), self.shadow.hash());
                if end.end.events != events || hash.is_some_and(|h| h != ours) {
                    return Err(TraceError::Json {
                        line: self.line,
                        column: 0,
                        message: format!(
                            "the end line records {} events{}, but the lines before it hold {events} with hash {ours:016x}",
                            end.end.events,
                            hash.map_or(String::new(), |h| format!(" with hash {h:016x}")),
                        ),
                    });
                }
                self.end = Some((end.end.events, hash));
                continue;
            }
            let e: Event =
                serde_json::from_slice(&self.buf).map_err(|e| json_error(self.line, &e))?;
            self.shadow.write_event(&e)?;
            return Ok(Some(e));
        }
        Ok(None)
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_event() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Converts the JSON Lines form to the binary form (the end line, when present, is
/// checked as [`JsonlReader`] does).
pub fn jsonl_to_binary<R: BufRead, W: Write>(src: R, out: W) -> Result<W, TraceError> {
    let mut r = JsonlReader::new(src)?;
    let mut w = TraceWriter::with_policy(out, &r.header, FlushPolicy::Batched)?;
    while let Some(e) = r.next_event()? {
        w.write_event(&e)?;
    }
    w.finish()
}

/// Converts the binary form to JSON Lines (damage is an error).
pub fn binary_to_jsonl<R: Read, W: Write>(src: R, out: W) -> Result<W, TraceError> {
    let mut r = crate::TraceReader::new(src)?;
    let mut w = JsonlWriter::new(out, r.header(), false)?;
    while let Some(e) = r.next_event()? {
        w.write_event(&e)?;
    }
    w.finish()
}
