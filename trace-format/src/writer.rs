//! The streaming trace writer.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::sync::Arc;

use crate::error::TraceError;
use crate::event::Event;
use crate::header::Header;
use crate::wire::{self, StrId, WireEnd, WireExtension, WireHeader, WireStrings, kind};
use crate::{
    MAGIC, MAX_EVENT_LEN, MAX_FRAME_LEN, MAX_STRING_BYTES, MAX_STRINGS, RollingHash,
    version::CURRENT,
};

/// When the writer flushes its output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlushPolicy {
    /// After every event (and after the header): when the recording process dies, every
    /// event it wrote is in the OS's hands. The default, for recording extensions that
    /// may crash. (This is a `flush`, not an `fsync`: it does not survive a power cut.)
    #[default]
    EveryEvent,
    /// Only when the output's own buffer fills, on [`TraceWriter::flush`] and at
    /// [`TraceWriter::finish`]: fastest, for runs whose process cannot die mid-run.
    Batched,
}

/// The bytes an event may carry beyond its payload and strings: a bound on every fixed
/// field of the largest variant, so the size check can run before anything is encoded.
const EVENT_OVERHEAD: usize = 128;

/// Hashes the address of an `Arc<str>` (already well distributed below the alignment).
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

/// The writer's side of the string table. Most strings arrive as clones of a few shared
/// `Arc`s (the simulator interns GUIDs), so the table first looks the `Arc`'s address
/// up, and only hashes the text on a miss. It keeps a clone of every `Arc` it saw, so
/// an address cannot be reused for another string while the writer lives.
#[derive(Default)]
struct Interner {
    by_addr: HashMap<usize, StrId, BuildHasherDefault<AddrHasher>>,
    by_text: HashMap<Arc<str>, StrId>,
    /// `Arc`s known by address: the defined strings plus aliases (other `Arc`s with the
    /// same text), the latter capped so a producer that never shares costs no memory.
    kept: Vec<Arc<str>>,
    defined: u32,
}

/// Aliases remembered by address, beyond which misses fall back to hashing the text.
const MAX_ALIASES: usize = 4096;

impl Interner {
    fn id(&mut self, s: &Arc<str>, new: &mut Vec<Arc<str>>) -> StrId {
        let addr = Arc::as_ptr(s) as *const u8 as usize;
        if let Some(&id) = self.by_addr.get(&addr) {
            return id;
        }
        let id = match self.by_text.get(&**s) {
            Some(&id) => {
                if self.kept.len() >= self.defined as usize + MAX_ALIASES {
                    return id;
                }
                id
            }
            None => {
                let id = self.defined;
                self.defined += 1;
                self.by_text.insert(s.clone(), id);
                new.push(s.clone());
                id
            }
        };
        self.kept.push(s.clone());
        self.by_addr.insert(addr, id);
        id
    }
}

/// Writes a trace to `W` one event at a time, never holding more than one frame.
///
/// ```
/// use faxsim_trace::{Event, EventKind, Header, TraceReader, TraceWriter};
///
/// let header = Header::new(7, serde_json::Value::Null, vec![]);
/// let mut w = TraceWriter::new(Vec::new(), &header)?;
/// w.write_event(&Event { seq: 0, time: 0, thread: 0, ext: None,
///                        kind: EventKind::ServiceStart { run: 1 } })?;
/// let bytes = w.finish()?;
/// let events: Vec<Event> = TraceReader::new(&bytes[..])?.collect::<Result<_, _>>()?;
/// assert_eq!(events.len(), 1);
/// # Ok::<(), faxsim_trace::TraceError>(())
/// ```
pub struct TraceWriter<W: Write> {
    out: W,
    policy: FlushPolicy,
    frame: Vec<u8>,
    strings: Interner,
    new_strings: Vec<Arc<str>>,
    /// Bytes of the strings defined so far.
    string_bytes: usize,
    prev_seq: Option<u64>,
    prev_time: u64,
    events: u64,
    hash: RollingHash,
    bytes: u64,
    failed: bool,
}

impl<W: Write> std::fmt::Debug for TraceWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter")
            .field("policy", &self.policy)
            .field("events", &self.events)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<W: Write> TraceWriter<W> {
    /// Writes the preamble and the header, flushing every event.
    pub fn new(out: W, header: &Header) -> Result<TraceWriter<W>, TraceError> {
        TraceWriter::with_policy(out, header, FlushPolicy::EveryEvent)
    }

    /// Writes the preamble and the header with the given flush policy.
    pub fn with_policy(
        out: W,
        header: &Header,
        policy: FlushPolicy,
    ) -> Result<TraceWriter<W>, TraceError> {
        let mut w = TraceWriter {
            out,
            policy,
            frame: Vec::with_capacity(256),
            strings: Interner::default(),
            new_strings: Vec::new(),
            string_bytes: 0,
            prev_seq: None,
            prev_time: 0,
            events: 0,
            hash: RollingHash::new(),
            bytes: 0,
            failed: false,
        };
        let mut pre = Vec::with_capacity(16 + crate::FAXSIM_VERSION.len());
        pre.extend_from_slice(&MAGIC);
        pre.extend_from_slice(&CURRENT.major.to_le_bytes());
        pre.extend_from_slice(&CURRENT.minor.to_le_bytes());
        let version = &crate::FAXSIM_VERSION.as_bytes()[..crate::FAXSIM_VERSION.len().min(255)];
        pre.push(version.len() as u8);
        pre.extend_from_slice(version);
        w.put(&pre)?;
        let options = header.options.to_string();
        let wh = WireHeader {
            trace_id: *header.trace_id.as_bytes(),
            faxsim: &header.faxsim,
            os: &header.platform.os,
            arch: &header.platform.arch,
            seed: header.seed,
            origin: &header.origin,
            options: &options,
            extensions: header
                .extensions
                .iter()
                .map(|e| WireExtension {
                    name: &e.name,
                    kind: wire::kind_code(e.kind),
                    sha256: e.sha256,
                })
                .collect(),
        };
        w.begin_frame(kind::HEADER);
        postcard::to_extend(&wh, std::mem::take(&mut w.frame))
            .map(|f| w.frame = f)
            .map_err(|e| TraceError::Malformed {
                frame: 0,
                offset: w.bytes,
                what: format!("cannot encode the header: {e}"),
            })?;
        w.end_frame(0)?;
        w.flush_if_eager()?;
        Ok(w)
    }

    /// Appends one event. Events should come in `seq` order (any order is stored
    /// losslessly, but only increasing `seq` and `time` encode in one byte each).
    pub fn write_event(&mut self, event: &Event) -> Result<(), TraceError> {
        if self.failed {
            return Err(TraceError::WriterFailed);
        }
        let bulk = wire::event_bulk(event);
        if bulk + EVENT_OVERHEAD > MAX_EVENT_LEN as usize {
            return Err(TraceError::EventTooLarge {
                seq: event.seq,
                len: bulk + EVENT_OVERHEAD,
                cap: MAX_EVENT_LEN,
            });
        }
        let strings = &mut self.strings;
        let new = &mut self.new_strings;
        let wire_event =
            wire::encode_event(event, self.prev_seq, self.prev_time, |s| strings.id(s, new));
        if self.strings.defined as usize > MAX_STRINGS {
            // The table now holds ids the file never defined: nothing more can be written.
            self.failed = true;
            return Err(TraceError::TooManyStrings { cap: MAX_STRINGS });
        }
        self.string_bytes += self.new_strings.iter().map(|s| s.len()).sum::<usize>();
        if self.string_bytes > MAX_STRING_BYTES {
            // As above: a reader would refuse the file from here on.
            self.failed = true;
            return Err(TraceError::StringTableTooLarge {
                cap: MAX_STRING_BYTES,
            });
        }
        if !self.new_strings.is_empty() {
            let mut new = std::mem::take(&mut self.new_strings);
            let frame = WireStrings {
                first: self.strings.defined - new.len() as u32,
                strings: new.iter().map(|s| &**s).collect(),
            };
            self.begin_frame(kind::STRINGS);
            self.frame = postcard::to_extend(&frame, std::mem::take(&mut self.frame))
                .map_err(|e| encode_error(e, event.seq))?;
            new.clear();
            self.new_strings = new;
            self.end_frame(event.seq)?;
        }
        self.begin_frame(wire_event.frame_kind());
        let frame = std::mem::take(&mut self.frame);
        self.frame = match &wire_event {
            wire::Encoded::V10(w) => postcard::to_extend(w, frame),
            wire::Encoded::V11(w) => postcard::to_extend(w, frame),
            wire::Encoded::V12(w) => postcard::to_extend(w, frame),
        }
        .map_err(|e| encode_error(e, event.seq))?;
        self.hash.update(&self.frame[4..]);
        self.end_frame(event.seq)?;
        self.prev_seq = Some(event.seq);
        self.prev_time = event.time;
        self.events += 1;
        self.flush_if_eager()
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        let r = self.out.flush();
        self.check(r)
    }

    /// Writes the end frame, flushes, and returns the output.
    pub fn finish(mut self) -> Result<W, TraceError> {
        if self.failed {
            return Err(TraceError::WriterFailed);
        }
        let end = WireEnd {
            events: self.events,
            hash: self.hash.value(),
        };
        self.begin_frame(kind::END);
        self.frame = postcard::to_extend(&end, std::mem::take(&mut self.frame))
            .map_err(|e| encode_error(e, self.events))?;
        self.end_frame(self.events)?;
        self.flush()?;
        Ok(self.out)
    }

    /// Events written so far.
    pub fn events_written(&self) -> u64 {
        self.events
    }

    /// Bytes written so far (preamble and frames).
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// The rolling hash of the events written so far.
    pub fn hash(&self) -> u64 {
        self.hash.value()
    }

    /// The output (to inspect a `Vec` mid-trace, say).
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn begin_frame(&mut self, kind: u8) {
        self.frame.clear();
        self.frame.extend_from_slice(&[0, 0, 0, 0, kind]);
    }

    /// Fills in the length, appends the CRC and writes the frame; a payload larger than
    /// one frame goes out as `part` frames first (format 1.3).
    fn end_frame(&mut self, seq: u64) -> Result<(), TraceError> {
        let payload = self.frame.len() - 5;
        if payload > MAX_EVENT_LEN as usize {
            self.failed = true;
            return Err(TraceError::EventTooLarge {
                seq,
                len: payload,
                cap: MAX_EVENT_LEN,
            });
        }
        if payload > MAX_FRAME_LEN as usize {
            return self.end_split_frame();
        }
        self.frame[..4].copy_from_slice(&(payload as u32).to_le_bytes());
        let crc = crc32fast::hash(&self.frame[4..]);
        self.frame.extend_from_slice(&crc.to_le_bytes());
        let frame = std::mem::take(&mut self.frame);
        let r = self.put(&frame);
        self.frame = frame;
        // Do not keep a large frame's memory for the rest of the trace.
        self.frame.clear();
        self.frame.shrink_to(1 << 16);
        r
    }

    /// Writes the frame in the buffer as parts of [`MAX_FRAME_LEN`] and a last frame of
    /// its own kind with the rest.
    fn end_split_frame(&mut self) -> Result<(), TraceError> {
        let frame = std::mem::take(&mut self.frame);
        let k = frame[4];
        let payload = &frame[5..];
        let mut pieces = payload.chunks(MAX_FRAME_LEN as usize).peekable();
        let mut out = Vec::with_capacity(MAX_FRAME_LEN as usize + 9);
        let mut r = Ok(());
        while let Some(piece) = pieces.next() {
            let kind = if pieces.peek().is_some() {
                kind::PART
            } else {
                k
            };
            out.clear();
            out.extend_from_slice(&(piece.len() as u32).to_le_bytes());
            out.push(kind);
            out.extend_from_slice(piece);
            let mut h = crc32fast::Hasher::new();
            h.update(&out[4..]);
            out.extend_from_slice(&h.finalize().to_le_bytes());
            r = self.put(&out);
            if r.is_err() {
                break;
            }
        }
        self.frame = frame;
        r
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), TraceError> {
        let r = self.out.write_all(bytes);
        self.check(r)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn flush_if_eager(&mut self) -> Result<(), TraceError> {
        match self.policy {
            FlushPolicy::EveryEvent => self.flush(),
            FlushPolicy::Batched => Ok(()),
        }
    }

    fn check(&mut self, r: std::io::Result<()>) -> Result<(), TraceError> {
        r.map_err(|e| {
            self.failed = true;
            TraceError::Io(e)
        })
    }
}

fn encode_error(e: postcard::Error, seq: u64) -> TraceError {
    // Encoding into a Vec cannot fail for these types; say so if it ever does.
    TraceError::Malformed {
        frame: seq,
        offset: 0,
        what: format!("cannot encode event {seq}: {e}"),
    }
}
