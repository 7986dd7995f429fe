//! The streaming trace reader: an iterator of events with torn-tail salvage.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

use crate::error::TraceError;
use crate::event::Event;
use crate::header::{ExtensionInfo, Header, Platform};
use crate::version::{CURRENT, Compatibility, FormatVersion, V1_1, V1_2, V1_3};
use crate::wire::{
    self, WireEnd, WireEvent, WireHeader, WireKind, WireKind11, WireKind12, WireStrings, kind,
};
use crate::{MAGIC, MAX_EVENT_LEN, MAX_FRAME_LEN, MAX_STRING_BYTES, MAX_STRINGS, RollingHash};

/// Something the reader skipped or noticed without failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// The file was written in a newer minor version: unknown frames are skipped.
    NewerMinor {
        /// The file's version.
        version: FormatVersion,
        /// Who wrote it.
        written_by: String,
    },
    /// Frames of a kind this build does not know were skipped.
    SkippedFrames {
        /// The kind byte.
        kind: u8,
        /// How many.
        count: u64,
        /// Byte offset of the first one.
        first_offset: u64,
        /// Whether each carried one event (its index was counted but the event is absent).
        events: bool,
    },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::NewerMinor {
                version,
                written_by,
            } => write!(
                f,
                "written by faxsim {written_by} in format {version}; this build reads {CURRENT} and skips what it does not know"
            ),
            Note::SkippedFrames {
                kind,
                count,
                first_offset,
                events,
            } => write!(
                f,
                "skipped {count} frame(s) of unknown kind 0x{kind:02x} (first at byte {first_offset}){}",
                if *events {
                    "; each held one event of a kind this build does not know"
                } else {
                    ""
                }
            ),
        }
    }
}

/// What the end frame said, once it was read and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndSummary {
    /// Event frames in the file.
    pub events: u64,
    /// The rolling hash over them.
    pub hash: u64,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// Frames of at most this size are read straight into the buffer; larger declared
/// lengths are read incrementally, so a corrupted length allocates only what the file
/// really holds.
const DIRECT_READ: usize = 64 * 1024;

/// Reads a trace from `R` one frame at a time. Iterating yields every event in order;
/// damage ends the iteration with one `Err` after every complete event before it (see
/// [`TraceError::is_damage`]).
///
/// Wrap files in a `BufReader` (as [`TraceReader::open`] does): the reader issues small
/// reads.
pub struct TraceReader<R> {
    src: R,
    version: FormatVersion,
    written_by: String,
    header: Header,
    strings: Vec<Arc<str>>,
    /// Bytes the string table holds.
    string_bytes: usize,
    buf: Vec<u8>,
    offset: u64,
    frame: u64,
    events: u64,
    prev_seq: Option<u64>,
    prev_time: u64,
    hash: RollingHash,
    notes: Vec<Note>,
    end: Option<EndSummary>,
    done: bool,
}

impl<R> std::fmt::Debug for TraceReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceReader")
            .field("version", &self.version)
            .field("offset", &self.offset)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl TraceReader<BufReader<File>> {
    /// Opens a trace file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        TraceReader::new(BufReader::with_capacity(
            64 * 1024,
            File::open(path.as_ref())?,
        ))
    }
}

enum Fill {
    Full,
    /// Ended after this many bytes (fewer than asked).
    Short(usize),
}

/// Reads as much of `buf` as the source holds.
fn fill(src: &mut impl Read, buf: &mut [u8]) -> Result<Fill, TraceError> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => return Ok(Fill::Short(got)),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Fill::Full)
}

impl<R: Read> TraceReader<R> {
    /// Reads the preamble and the header frame, checking the magic and the version.
    pub fn new(mut src: R) -> Result<Self, TraceError> {
        let mut pre = [0u8; 13];
        match fill(&mut src, &mut pre)? {
            Fill::Full => {}
            Fill::Short(0) => return Err(TraceError::Empty),
            Fill::Short(n) => {
                return Err(if pre[..n.min(8)] == MAGIC[..n.min(8)] {
                    TraceError::Truncated {
                        events: 0,
                        offset: 0,
                    }
                } else {
                    TraceError::NotATrace
                });
            }
        }
        if pre[..8] != MAGIC {
            return Err(TraceError::NotATrace);
        }
        let version = FormatVersion {
            major: u16::from_le_bytes([pre[8], pre[9]]),
            minor: u16::from_le_bytes([pre[10], pre[11]]),
        };
        let mut who = vec![0u8; usize::from(pre[12])];
        if let Fill::Short(_) = fill(&mut src, &mut who)? {
            return Err(TraceError::Truncated {
                events: 0,
                offset: 0,
            });
        }
        let written_by = String::from_utf8_lossy(&who).into_owned();
        match version.check_readable_by(CURRENT) {
            Compatibility::NewerMajor => {
                return Err(TraceError::NewerMajor {
                    written_by,
                    version,
                    reads: CURRENT.major,
                });
            }
            Compatibility::OlderMajor => {
                return Err(TraceError::OlderMajor {
                    written_by,
                    version,
                });
            }
            Compatibility::Full | Compatibility::NewerMinor => {}
        }
        let mut r = TraceReader {
            src,
            version,
            written_by,
            header: Header {
                trace_id: Uuid::nil(),
                faxsim: String::new(),
                platform: Platform {
                    os: String::new(),
                    arch: String::new(),
                },
                seed: 0,
                origin: String::new(),
                options: serde_json::Value::Null,
                extensions: Vec::new(),
            },
            strings: Vec::new(),
            string_bytes: 0,
            buf: Vec::new(),
            offset: 13 + u64::from(pre[12]),
            frame: 0,
            events: 0,
            prev_seq: None,
            prev_time: 0,
            hash: RollingHash::new(),
            notes: Vec::new(),
            end: None,
            done: false,
        };
        if version.check_readable_by(CURRENT) == Compatibility::NewerMinor {
            r.notes.push(Note::NewerMinor {
                version,
                written_by: r.written_by.clone(),
            });
        }
        let start = r.offset;
        let Some(k) = r.read_frame()? else {
            return Err(TraceError::Truncated {
                events: 0,
                offset: start,
            });
        };
        if k != kind::HEADER {
            return Err(r.malformed(start, format!("frame 0 has kind 0x{k:02x}, not the header")));
        }
        r.header = r.decode_header(start)?;
        r.frame = 1;
        Ok(r)
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file's format version.
    pub fn version(&self) -> FormatVersion {
        self.version
    }

    /// The faxsim version that wrote the file (from the preamble).
    pub fn written_by(&self) -> &str {
        &self.written_by
    }

    /// What the reader skipped so far.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// The end frame's summary, once the iteration reached it (and it matched).
    pub fn end(&self) -> Option<EndSummary> {
        self.end
    }

    /// Events read (or skipped) so far.
    pub fn events_read(&self) -> u64 {
        self.events
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Counts a decoded event and remembers its `seq` and `time` for the next deltas.
    fn yielded(&mut self, e: Event) -> Event {
        self.prev_seq = Some(e.seq);
        self.prev_time = e.time;
        self.events += 1;
        e
    }

    /// The next event, `Ok(None)` after a good end frame.
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        if self.done {
            return Ok(None);
        }
        let r = self.next_inner();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    /// Hashes and decodes the event frame in the buffer: `decode` parses it and says
    /// whether it was whole (bytes after the event are an error up to this build's
    /// version, a newer minor version's trailing fields otherwise).
    fn event_frame(
        &mut self,
        k: u8,
        frame: u64,
        start: u64,
        decode: impl FnOnce(&Self) -> Result<(Result<Event, String>, bool), String>,
    ) -> Result<Option<Event>, TraceError> {
        self.hash.update(&[k]);
        self.hash.update(&self.buf);
        let malformed = |what: String, events: u64| TraceError::Malformed {
            frame,
            offset: start,
            what: format!("event {events}: {what}"),
        };
        let (e, whole) = decode(self).map_err(|what| malformed(what, self.events))?;
        if !whole && self.version <= CURRENT {
            return Err(self.malformed_at(frame, start, "bytes after the event"));
        }
        let e = e.map_err(|what| malformed(what, self.events))?;
        Ok(Some(self.yielded(e)))
    }

    fn next_inner(&mut self) -> Result<Option<Event>, TraceError> {
        loop {
            let start = self.offset;
            let Some(k) = self.read_frame()? else {
                return Err(TraceError::Truncated {
                    events: self.events,
                    offset: start,
                });
            };
            let frame = self.frame;
            self.frame += 1;
            match k {
                // One event per frame, each minor version with its own kind table.
                kind::EVENT => {
                    return self.event_frame(k, frame, start, |r: &Self| {
                        let (w, rest) =
                            postcard::take_from_bytes::<WireEvent<WireKind<'_>>>(&r.buf)
                                .map_err(|e| e.to_string())?;
                        let e = wire::decode_event(w, r.prev_seq, r.prev_time, &r.strings);
                        Ok((e, rest.is_empty()))
                    });
                }
                kind::EVENT_1_1 if self.version >= V1_1 => {
                    return self.event_frame(k, frame, start, |r: &Self| {
                        let (w, rest) =
                            postcard::take_from_bytes::<WireEvent<WireKind11<'_>>>(&r.buf)
                                .map_err(|e| e.to_string())?;
                        let e = wire::decode_event11(w, r.prev_seq, r.prev_time, &r.strings);
                        Ok((e, rest.is_empty()))
                    });
                }
                kind::EVENT_1_2 if self.version >= V1_2 => {
                    return self.event_frame(k, frame, start, |r: &Self| {
                        let (w, rest) =
                            postcard::take_from_bytes::<WireEvent<WireKind12<'_>>>(&r.buf)
                                .map_err(|e| e.to_string())?;
                        let e = wire::decode_event12(w, r.prev_seq, r.prev_time, &r.strings);
                        Ok((e, rest.is_empty()))
                    });
                }
                kind::STRINGS => {
                    let (w, rest) = postcard::take_from_bytes::<WireStrings<'_>>(&self.buf)
                        .map_err(|e| TraceError::Malformed {
                            frame,
                            offset: start,
                            what: format!("string table: {e}"),
                        })?;
                    if !rest.is_empty() && self.version <= CURRENT {
                        return Err(self.malformed_at(frame, start, "bytes after the strings"));
                    }
                    if w.first as usize != self.strings.len() {
                        return Err(TraceError::Malformed {
                            frame,
                            offset: start,
                            what: format!(
                                "strings frame defines id {} but {} are defined",
                                w.first,
                                self.strings.len()
                            ),
                        });
                    }
                    if self.strings.len() + w.strings.len() > MAX_STRINGS {
                        return Err(TraceError::TooManyStrings { cap: MAX_STRINGS });
                    }
                    self.string_bytes += w.strings.iter().map(|s| s.len()).sum::<usize>();
                    if self.string_bytes > MAX_STRING_BYTES {
                        return Err(TraceError::StringTableTooLarge {
                            cap: MAX_STRING_BYTES,
                        });
                    }
                    self.strings
                        .extend(w.strings.into_iter().map(Arc::<str>::from));
                }
                kind::END => {
                    let (w, rest) =
                        postcard::take_from_bytes::<WireEnd>(&self.buf).map_err(|e| {
                            TraceError::Malformed {
                                frame,
                                offset: start,
                                what: format!("end frame: {e}"),
                            }
                        })?;
                    if !rest.is_empty() && self.version <= CURRENT {
                        return Err(self.malformed_at(frame, start, "bytes after the end record"));
                    }
                    if w.events != self.events || w.hash != self.hash.value() {
                        return Err(TraceError::EndMismatch {
                            offset: start,
                            expected_events: w.events,
                            expected_hash: w.hash,
                            events: self.events,
                            hash: self.hash.value(),
                        });
                    }
                    let mut probe = [0u8; 1];
                    if let Fill::Full = fill(&mut self.src, &mut probe)? {
                        return Err(TraceError::TrailingData {
                            offset: self.offset,
                        });
                    }
                    self.end = Some(EndSummary {
                        events: w.events,
                        hash: w.hash,
                        bytes: self.offset,
                    });
                    return Ok(None);
                }
                kind::HEADER => {
                    return Err(self.malformed_at(frame, start, "a second header"));
                }
                other => {
                    if self.version <= CURRENT {
                        return Err(TraceError::UnknownFrame {
                            frame,
                            offset: start,
                            kind: other,
                            version: self.version,
                        });
                    }
                    let is_event = other & kind::EVENT_BIT != 0;
                    if is_event {
                        // Unknown events still count, so later indices match the writer's;
                        // every event frame starts with the seq and time deltas.
                        let ((gap, dt), _) = postcard::take_from_bytes::<(u64, u64)>(&self.buf)
                            .map_err(|e| TraceError::Malformed {
                                frame,
                                offset: start,
                                what: format!("event {}: {e}", self.events),
                            })?;
                        self.hash.update(&[other]);
                        self.hash.update(&self.buf);
                        self.events += 1;
                        let seq = self.prev_seq.map_or(0, |p| p.wrapping_add(1));
                        self.prev_seq = Some(seq.wrapping_add(gap));
                        self.prev_time = self.prev_time.wrapping_add(dt);
                    }
                    self.note_skip(other, start, is_event);
                }
            }
        }
    }

    fn note_skip(&mut self, k: u8, offset: u64, events: bool) {
        for n in &mut self.notes {
            if let Note::SkippedFrames { kind, count, .. } = n
                && *kind == k
            {
                *count += 1;
                return;
            }
        }
        self.notes.push(Note::SkippedFrames {
            kind: k,
            count: 1,
            first_offset: offset,
            events,
        });
    }

    fn malformed(&self, offset: u64, what: String) -> TraceError {
        TraceError::Malformed {
            frame: self.frame,
            offset,
            what,
        }
    }

    fn malformed_at(&self, frame: u64, offset: u64, what: &str) -> TraceError {
        TraceError::Malformed {
            frame,
            offset,
            what: what.into(),
        }
    }

    /// Reads one logical frame into `self.buf`: one frame, or (format 1.3) `part` frames
    /// joined with the frame that ends them, up to [`MAX_EVENT_LEN`] bytes. Checks every
    /// cap and CRC. `None` when the source ends before the frame does.
    fn read_frame(&mut self) -> Result<Option<u8>, TraceError> {
        self.buf.clear();
        loop {
            let start = self.offset;
            let Some(k) = self.read_physical_frame()? else {
                return Ok(None);
            };
            if self.buf.len() > MAX_EVENT_LEN as usize {
                return Err(TraceError::FrameTooLarge {
                    frame: self.frame,
                    offset: start,
                    len: u32::try_from(self.buf.len()).unwrap_or(u32::MAX),
                    cap: MAX_EVENT_LEN,
                });
            }
            if k != kind::PART || self.version < V1_3 {
                return Ok(Some(k));
            }
        }
    }

    /// Appends one frame's payload to `self.buf`, checking the cap and the CRC. `None`
    /// when the source ends before the frame does.
    fn read_physical_frame(&mut self) -> Result<Option<u8>, TraceError> {
        let start = self.offset;
        let mut head = [0u8; 5];
        if let Fill::Short(_) = fill(&mut self.src, &mut head)? {
            return Ok(None);
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let k = head[4];
        if len > MAX_FRAME_LEN {
            return Err(TraceError::FrameTooLarge {
                frame: self.frame,
                offset: start,
                len,
                cap: MAX_FRAME_LEN,
            });
        }
        let len = len as usize;
        let base = self.buf.len();
        if len <= DIRECT_READ {
            self.buf.resize(base + len, 0);
            if let Fill::Short(_) = fill(&mut self.src, &mut self.buf[base..])? {
                return Ok(None);
            }
        } else {
            // Grows with the data actually present, never to a corrupted length.
            let got = (&mut self.src)
                .take(len as u64)
                .read_to_end(&mut self.buf)?;
            if got < len {
                return Ok(None);
            }
        }
        let mut crc = [0u8; 4];
        if let Fill::Short(_) = fill(&mut self.src, &mut crc)? {
            return Ok(None);
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&[k]);
        h.update(&self.buf[base..]);
        if h.finalize() != u32::from_le_bytes(crc) {
            return Err(TraceError::Crc {
                frame: self.frame,
                offset: start,
                events: self.events,
            });
        }
        self.offset += 9 + len as u64;
        Ok(Some(k))
    }

    fn decode_header(&self, offset: u64) -> Result<Header, TraceError> {
        let bad = |what: String| TraceError::Malformed {
            frame: 0,
            offset,
            what,
        };
        let (w, rest) = postcard::take_from_bytes::<WireHeader<'_>>(&self.buf)
            .map_err(|e| bad(format!("header: {e}")))?;
        if !rest.is_empty() && self.version <= CURRENT {
            return Err(bad("bytes after the header".into()));
        }
        let options = serde_json::from_str(w.options)
            .map_err(|e| bad(format!("header options are not JSON: {e}")))?;
        let extensions = w
            .extensions
            .iter()
            .map(|e| {
                Ok(ExtensionInfo {
                    name: e.name.into(),
                    kind: wire::kind_from_code(e.kind)
                        .ok_or_else(|| bad(format!("unknown extension kind {}", e.kind)))?,
                    sha256: e.sha256,
                })
            })
            .collect::<Result<Vec<_>, TraceError>>()?;
        if extensions.len() > usize::from(u16::MAX) + 1 {
            return Err(bad(format!("{} extensions", extensions.len())));
        }
        Ok(Header {
            trace_id: Uuid::from_bytes(w.trace_id),
            faxsim: w.faxsim.into(),
            platform: Platform {
                os: w.os.into(),
                arch: w.arch.into(),
            },
            seed: w.seed,
            origin: w.origin.into(),
            options,
            extensions,
        })
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

impl<R: Read> std::iter::FusedIterator for TraceReader<R> {}

/// A whole trace in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The header.
    pub header: Header,
    /// Every event.
    pub events: Vec<Event>,
}

/// Reads a whole trace; any damage is an error.
pub fn read_trace(src: impl Read) -> Result<Trace, TraceError> {
    let mut r = TraceReader::new(src)?;
    let events = r.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok(Trace {
        header: r.header,
        events,
    })
}

/// The readable part of a possibly damaged trace.
#[derive(Debug)]
pub struct Salvaged {
    /// The header and every event before the damage.
    pub trace: Trace,
    /// What ended the reading early (`None`: the trace was whole).
    pub damage: Option<TraceError>,
    /// What was skipped.
    pub notes: Vec<Note>,
}

/// Reads every complete event of a trace whose tail may be damaged. Fails only when the
/// header cannot be read.
pub fn salvage(src: impl Read) -> Result<Salvaged, TraceError> {
    let mut r = TraceReader::new(src)?;
    let mut events = Vec::new();
    let damage = loop {
        match r.next_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    Ok(Salvaged {
        notes: r.notes.clone(),
        trace: Trace {
            header: r.header,
            events,
        },
        damage,
    })
}

/// Where two traces first differ.
#[derive(Clone, Debug, PartialEq)]
pub enum Divergence {
    /// Both have an event at `index`, and they differ.
    Event {
        /// The index.
        index: u64,
        /// The left trace's event.
        left: Box<Event>,
        /// The right trace's event.
        right: Box<Event>,
    },
    /// One trace ends at `index` where the other goes on.
    Length {
        /// The index of the first event only one trace has.
        index: u64,
        /// The left trace is the shorter.
        left_ended: bool,
    },
}

/// The first event where two traces differ (`None`: the same events), reading both as
/// streams. Headers are not compared: two runs of one scenario differ in trace id.
pub fn first_difference<A: Read, B: Read>(
    mut left: TraceReader<A>,
    mut right: TraceReader<B>,
) -> Result<Option<Divergence>, TraceError> {
    let mut index = 0;
    loop {
        match (left.next_event()?, right.next_event()?) {
            (None, None) => return Ok(None),
            (Some(l), Some(r)) => {
                if l != r {
                    return Ok(Some(Divergence::Event {
                        index,
                        left: Box::new(l),
                        right: Box::new(r),
                    }));
                }
            }
            (l, _) => {
                return Ok(Some(Divergence::Length {
                    index,
                    left_ended: l.is_none(),
                }));
            }
        }
        index += 1;
    }
}
