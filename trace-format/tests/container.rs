//! The container's rules, case by case: sizes, the end frame, the string table, limits,
//! flush policy, and writer failures.

use std::io::Write;
use std::sync::Arc;

use faxsim_trace::*;

const GUID: &str = "{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}";

fn header() -> Header {
    Header::new(1, serde_json::Value::Null, vec![]).with_trace_id(Uuid::from_u128(1))
}

fn notification(seq: u64, guid: &Arc<str>) -> Event {
    Event {
        seq,
        time: 3,
        thread: 0,
        ext: Some(ExtId(2)),
        kind: EventKind::ConfigChangeCall {
            handle: HandleId(6),
            callback: CallbackId(1),
            device: 0x0001_0001,
            guid: guid.clone(),
            data: Arc::from(&[2u8, 0, 0, 0][..]),
            cause: Some(seq.saturating_sub(1)),
        },
    }
}

#[test]
fn a_typical_notification_takes_at_most_32_bytes_on_disk() {
    let guid: Arc<str> = Arc::from(GUID);
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    w.write_event(&notification(10, &guid)).unwrap(); // defines the string
    let before = w.bytes_written();
    w.write_event(&notification(11, &guid)).unwrap();
    let size = w.bytes_written() - before;
    // A GUID seen before, from another Arc with the same text: no new string either.
    let other: Arc<str> = Arc::from(GUID);
    w.write_event(&notification(12, &other)).unwrap();
    assert_eq!(w.bytes_written() - before, 2 * size);
    assert!(size <= 32, "a notification takes {size} bytes");
    eprintln!("a typical notification: {size} bytes including the 9-byte frame header and CRC");
}

fn trace(events: &[Event]) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    for e in events {
        w.write_event(e).unwrap();
    }
    w.finish().unwrap()
}

fn simple(seq: u64) -> Event {
    Event {
        seq,
        time: seq,
        thread: 0,
        ext: None,
        kind: EventKind::ServiceStart { run: 1 },
    }
}

/// Byte offsets of the frames (after the preamble) and their kinds.
fn frames(bytes: &[u8]) -> Vec<(usize, u8)> {
    let mut at = 13 + bytes[12] as usize;
    let mut out = vec![];
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, bytes[at + 4]));
        at += 9 + len;
    }
    out
}

fn refresh_crc(bytes: &mut [u8], at: usize) {
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let crc = crc32fast::hash(&bytes[at + 4..at + 5 + len]);
    bytes[at + 5 + len..at + 9 + len].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn the_end_frame_must_match_the_events() {
    let mut bytes = trace(&[simple(0), simple(1)]);
    let (end_at, kind) = *frames(&bytes).last().unwrap();
    assert_eq!(kind, 0x03);
    bytes[end_at + 5] = 3; // events: 3 (a one-byte varint)
    refresh_crc(&mut bytes, end_at);
    let err = read_trace(&bytes[..]).unwrap_err();
    assert!(
        matches!(
            err,
            TraceError::EndMismatch {
                expected_events: 3,
                events: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn bytes_after_the_end_frame_are_damage() {
    let mut bytes = trace(&[simple(0)]);
    let len = bytes.len() as u64;
    bytes.push(0);
    let err = read_trace(&bytes[..]).unwrap_err();
    assert!(
        matches!(err, TraceError::TrailingData { offset } if offset == len),
        "{err}"
    );
}

#[test]
fn string_ids_must_be_dense_and_defined() {
    let guid: Arc<str> = Arc::from(GUID);
    let mut bytes = trace(&[notification(5, &guid)]);
    let (strings_at, kind) = frames(&bytes)[1];
    assert_eq!(kind, 0x02);
    bytes[strings_at + 5] = 1; // first: 1, but nothing is defined yet
    refresh_crc(&mut bytes, strings_at);
    let err = read_trace(&bytes[..]).unwrap_err();
    assert!(
        err.to_string().contains("defines id 1 but 0 are defined"),
        "{err}"
    );
    // An event referring to a string never defined.
    let mut bytes = trace(&[notification(5, &guid)]);
    let f = frames(&bytes);
    let (strings_at, _) = f[1];
    let (event_at, _) = f[2];
    let mut spliced = bytes[..strings_at].to_vec();
    spliced.extend_from_slice(&bytes[event_at..]);
    bytes = spliced;
    let err = read_trace(&bytes[..]).unwrap_err();
    assert!(
        err.to_string().contains("string id 0 is not defined"),
        "{err}"
    );
}

#[test]
fn an_unknown_frame_kind_in_a_current_version_file_is_damage() {
    let mut bytes = trace(&[simple(0), simple(1)]);
    let (at, _) = frames(&bytes)[1];
    bytes[at + 4] = 0x42;
    refresh_crc(&mut bytes, at);
    let mut r = TraceReader::new(&bytes[..]).unwrap();
    let err = r.next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            TraceError::UnknownFrame {
                frame: 1,
                kind: 0x42,
                ..
            }
        ),
        "{err}"
    );
    assert!(r.next().is_none(), "the iterator ends after the error");
}

#[test]
fn an_oversized_event_is_refused_before_anything_is_written() {
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    let big = Event {
        seq: 0,
        time: 0,
        thread: 0,
        ext: None,
        kind: EventKind::ExternalWriteCall {
            device: 0,
            guid: None,
            data: Some(Arc::from(vec![0u8; MAX_EVENT_LEN as usize])),
            size: MAX_EVENT_LEN,
        },
    };
    let before = w.bytes_written();
    let err = w.write_event(&big).unwrap_err();
    assert!(
        matches!(err, TraceError::EventTooLarge { seq: 0, .. }),
        "{err}"
    );
    assert_eq!(w.bytes_written(), before);
    // The writer goes on.
    w.write_event(&simple(0)).unwrap();
    let t = read_trace(&w.finish().unwrap()[..]).unwrap();
    assert_eq!(t.events, vec![simple(0)]);
}

/// Fails every write after the first `ok` bytes; counts flushes.
struct Flaky {
    ok: usize,
    written: usize,
    flushes: usize,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() > self.ok {
            return Err(std::io::Error::other("disk full"));
        }
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.flushes += 1;
        Ok(())
    }
}

#[test]
fn after_an_io_error_the_writer_refuses_to_go_on() {
    let mut w = TraceWriter::new(
        Flaky {
            ok: 200,
            written: 0,
            flushes: 0,
        },
        &header(),
    )
    .unwrap();
    let mut seq = 0;
    let err = loop {
        match w.write_event(&simple(seq)) {
            Ok(()) => seq += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, TraceError::Io(_)), "{err}");
    assert!(matches!(
        w.write_event(&simple(seq)),
        Err(TraceError::WriterFailed)
    ));
    assert!(matches!(w.finish(), Err(TraceError::WriterFailed)));
}

#[test]
fn the_flush_policy_decides_when_the_output_is_flushed() {
    let sink = || Flaky {
        ok: usize::MAX,
        written: 0,
        flushes: 0,
    };
    let mut eager = TraceWriter::new(sink(), &header()).unwrap();
    let mut batched = TraceWriter::with_policy(sink(), &header(), FlushPolicy::Batched).unwrap();
    for seq in 0..10 {
        eager.write_event(&simple(seq)).unwrap();
        batched.write_event(&simple(seq)).unwrap();
    }
    assert_eq!(eager.get_ref().flushes, 11, "the header and every event");
    assert_eq!(batched.get_ref().flushes, 0);
    assert_eq!(batched.finish().unwrap().flushes, 1);
}

#[test]
fn a_writer_dropped_without_finish_leaves_a_salvageable_file() {
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    for seq in 0..5 {
        w.write_event(&simple(seq)).unwrap();
    }
    let bytes = w.get_ref().clone();
    let s = salvage(&bytes[..]).unwrap();
    assert_eq!(s.trace.events.len(), 5);
    let damage = s.damage.unwrap();
    assert_eq!(
        damage.to_string(),
        format!(
            "truncated after event 4 at byte {} (5 events salvaged)",
            bytes.len()
        )
    );
}

#[test]
fn header_fields_round_trip() {
    let mut h = header();
    h.extensions.push(ExtensionInfo {
        name: "x".into(),
        kind: ExtensionKind::VirtualFsp,
        sha256: Some(sha256(b"x")),
    });
    h.options = serde_json::json!({"delivery": "deferred", "limits": {"nesting": 3}, "f": 0.1});
    h.origin = "recorder".into();
    let mut w = TraceWriter::new(Vec::new(), &h).unwrap();
    w.write_event(&simple(0)).unwrap();
    let bytes = w.finish().unwrap();
    let r = TraceReader::new(&bytes[..]).unwrap();
    assert_eq!(r.header(), &h);
    assert_eq!(r.version(), FORMAT_VERSION);
    assert_eq!(r.written_by(), FAXSIM_VERSION);
}

fn big_write(seq: u64, len: usize) -> Event {
    Event {
        seq,
        time: seq,
        thread: 0,
        ext: None,
        kind: EventKind::ExternalWriteCall {
            device: 0,
            guid: None,
            data: Some(Arc::from(
                (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
            )),
            size: len as u32,
        },
    }
}

/// A 20 MiB value (larger than one frame) is written as part frames and read back whole,
/// with the same rolling hash; a cut inside the parts salvages the events before it, and
/// a flipped bit in a part is a CRC error.
#[test]
fn an_event_larger_than_a_frame_is_written_as_parts_and_read_whole() {
    let events = vec![simple(0), big_write(1, 20 << 20), simple(2)];
    let mut w = TraceWriter::new(Vec::new(), &header()).unwrap();
    for e in &events {
        w.write_event(e).unwrap();
    }
    let hash = w.hash();
    let bytes = w.finish().unwrap();
    let t = read_trace(&bytes[..]).unwrap();
    assert_eq!(t.events, events);
    let mut r = TraceReader::new(&bytes[..]).unwrap();
    r.by_ref().for_each(drop);
    assert_eq!(r.end().unwrap().hash, hash);
    // Two frames carry the big event: a part of exactly one frame, then the rest.
    let part_at = bytes
        .windows(5)
        .position(|w| w[..4] == MAX_FRAME_LEN.to_le_bytes() && w[4] == 0x04)
        .expect("a part frame");
    let cut = &bytes[..part_at + 1000];
    let s = salvage(cut).unwrap();
    assert_eq!(s.trace.events, vec![simple(0)]);
    assert!(s.damage.is_some());
    let mut flipped = bytes.clone();
    flipped[part_at + 100] ^= 1;
    assert!(matches!(
        read_trace(&flipped[..]).unwrap_err(),
        TraceError::Crc { .. }
    ));
}

/// Part frames are joined only up to MAX_EVENT_LEN: a stream of parts that never ends is
/// refused once it passes the cap, not read into memory without bound.
#[test]
fn parts_are_joined_only_up_to_the_event_cap() {
    // A trace of one event, not finished, then parts without end.
    let mut trace = TraceWriter::new(Vec::new(), &header()).unwrap();
    trace.write_event(&simple(0)).unwrap();
    let bytes = trace.get_ref().clone();
    let piece = vec![0u8; MAX_FRAME_LEN as usize];
    let crc = crc32fast_hash(0x04, &piece);
    let parts = (MAX_EVENT_LEN / MAX_FRAME_LEN) as usize + 2;
    struct Parts<'a> {
        head: &'a [u8],
        piece: &'a [u8],
        crc: [u8; 4],
        left: usize,
        at: usize,
        frame: Vec<u8>,
    }
    impl std::io::Read for Parts<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if !self.head.is_empty() {
                let n = out.len().min(self.head.len());
                out[..n].copy_from_slice(&self.head[..n]);
                self.head = &self.head[n..];
                return Ok(n);
            }
            if self.at >= self.frame.len() {
                if self.left == 0 {
                    return Ok(0);
                }
                self.left -= 1;
                self.frame.clear();
                self.frame
                    .extend_from_slice(&(self.piece.len() as u32).to_le_bytes());
                self.frame.push(0x04);
                self.frame.extend_from_slice(self.piece);
                self.frame.extend_from_slice(&self.crc);
                self.at = 0;
            }
            let n = out.len().min(self.frame.len() - self.at);
            out[..n].copy_from_slice(&self.frame[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    let src = Parts {
        head: &bytes,
        piece: &piece,
        crc: crc.to_le_bytes(),
        left: parts,
        at: 0,
        frame: Vec::new(),
    };
    let mut r = TraceReader::new(src).unwrap();
    assert_eq!(r.next_event().unwrap(), Some(simple(0)));
    let err = r.next_event().unwrap_err();
    assert!(
        matches!(err, TraceError::FrameTooLarge { cap, .. } if cap == MAX_EVENT_LEN),
        "{err}"
    );
}

fn crc32fast_hash(kind: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    h.finalize()
}
