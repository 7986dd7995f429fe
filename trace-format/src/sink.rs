//! Where a run's events go as they happen: the [`EventSink`] trait every driver takes
//! (the simulator, the validate battery, scenarios, replay), and [`TraceSink`], the sink
//! that streams them into a trace file in either form.
//!
//! A run never stops because its recording failed: the first write error ends the
//! recording, the run goes on, and [`EventSink::finish`] reports the error once the run
//! is over.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::rc::Rc;

use crate::error::TraceError;
use crate::event::Event;
use crate::header::Header;
use crate::jsonl::JsonlWriter;
use crate::writer::{FlushPolicy, TraceWriter};

/// Receives every event of a run as it happens (a trace file, a pipe to a parent process,
/// a test's list).
pub trait EventSink {
    /// One event, in `seq` order.
    fn event(&mut self, event: &Event);

    /// The run is over: write what ends the stream (a trace's end frame) and report the
    /// first error of the whole recording. Called at most once, after the last event.
    fn finish(&mut self) -> Result<(), TraceError> {
        Ok(())
    }
}

/// The two forms a trace file can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceForm {
    /// The binary container (`.trace`, or any name but `.jsonl`).
    Binary,
    /// JSON Lines (`.jsonl`).
    Jsonl,
}

impl TraceForm {
    /// The form a file name asks for: JSON Lines for `.jsonl`, binary otherwise.
    pub fn for_path(path: &Path) -> TraceForm {
        match path.extension() {
            Some(e) if e.eq_ignore_ascii_case("jsonl") => TraceForm::Jsonl,
            _ => TraceForm::Binary,
        }
    }
}

enum Writer<W: Write> {
    Binary(TraceWriter<W>),
    Jsonl(JsonlWriter<W>),
}

/// Streams events into a trace, binary or JSON Lines.
///
/// ```
/// use faxsim_trace::{Event, EventKind, EventSink, FlushPolicy, Header, SharedBytes, TraceSink, read_trace};
///
/// let bytes = SharedBytes::default();
/// let header = Header::new(0, serde_json::Value::Null, vec![]);
/// let mut sink = TraceSink::binary(bytes.clone(), &header, FlushPolicy::Batched)?;
/// sink.event(&Event { seq: 0, time: 0, thread: 0, ext: None, kind: EventKind::ServiceStart { run: 1 } });
/// sink.finish()?;
/// assert_eq!(read_trace(&bytes.take()[..])?.events.len(), 1);
/// # Ok::<(), faxsim_trace::TraceError>(())
/// ```
pub struct TraceSink<W: Write> {
    writer: Option<Writer<W>>,
    error: Option<TraceError>,
    finished: bool,
}

impl<W: Write> std::fmt::Debug for TraceSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSink")
            .field("open", &self.writer.is_some())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<W: Write> TraceSink<W> {
    /// A binary trace on `out`.
    pub fn binary(out: W, header: &Header, policy: FlushPolicy) -> Result<Self, TraceError> {
        Ok(TraceSink::with(Writer::Binary(TraceWriter::with_policy(
            out, header, policy,
        )?)))
    }

    /// A JSON Lines trace on `out`.
    pub fn jsonl(out: W, header: &Header) -> Result<Self, TraceError> {
        Ok(TraceSink::with(Writer::Jsonl(JsonlWriter::new(
            out, header, false,
        )?)))
    }

    fn with(writer: Writer<W>) -> Self {
        TraceSink {
            writer: Some(writer),
            error: None,
            finished: false,
        }
    }

    /// Whether every event so far was written.
    pub fn is_intact(&self) -> bool {
        self.error.is_none()
    }
}

impl TraceSink<BufWriter<File>> {
    /// A new trace file at `path` (missing folders are created), in the form its name asks
    /// for ([`TraceForm::for_path`]), flushed after every event so a run that dies keeps
    /// every event it produced.
    pub fn create(path: &Path, header: &Header) -> Result<Self, TraceError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let out = BufWriter::new(File::create(path)?);
        match TraceForm::for_path(path) {
            TraceForm::Binary => TraceSink::binary(out, header, FlushPolicy::EveryEvent),
            TraceForm::Jsonl => TraceSink::jsonl(out, header),
        }
    }
}

impl<W: Write> EventSink for TraceSink<W> {
    fn event(&mut self, event: &Event) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let r = match w {
            Writer::Binary(w) => w.write_event(event),
            // JSON Lines has no flush policy of its own: every event reaches the
            // operating system, like the binary form's default.
            Writer::Jsonl(w) => w.write_event(event).and_then(|()| w.flush()),
        };
        if let Err(e) = r {
            // The first failure ends the recording; the run goes on.
            self.writer = None;
            self.error = Some(e);
        }
    }

    fn finish(&mut self) -> Result<(), TraceError> {
        if std::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        match self.writer.take() {
            Some(Writer::Binary(w)) => w.finish().map(drop),
            Some(Writer::Jsonl(w)) => w.finish().map(drop),
            None => Err(TraceError::WriterFailed),
        }
    }
}

/// An in-memory output that stays readable after it was handed to a sink: clones share
/// one buffer (a trace recorded into memory, in tests and benches).
#[derive(Clone, Debug, Default)]
pub struct SharedBytes(Rc<RefCell<Vec<u8>>>);

impl SharedBytes {
    /// Takes the bytes written so far, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.0.borrow_mut())
    }

    /// How many bytes were written.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

impl Write for SharedBytes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps every event in a shared list (a test's view of a run).
#[derive(Clone, Debug, Default)]
pub struct EventLog(Rc<RefCell<Vec<Event>>>);

impl EventLog {
    /// Takes the events so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

impl EventSink for EventLog {
    fn event(&mut self, event: &Event) {
        self.0.borrow_mut().push(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::read_trace;

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            time: 0,
            thread: 0,
            ext: None,
            kind: EventKind::ServiceStart { run: 1 },
        }
    }

    struct FailAfter(usize);

    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 < buf.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_ends_the_recording_and_is_reported_once_at_finish() {
        let header = Header::new(0, serde_json::Value::Null, vec![]);
        let mut sink = TraceSink::binary(FailAfter(200), &header, FlushPolicy::EveryEvent)
            .expect("the header fits");
        for seq in 0..100 {
            sink.event(&ev(seq));
        }
        assert!(!sink.is_intact());
        assert!(matches!(sink.finish(), Err(TraceError::Io(_))));
        assert!(sink.finish().is_ok(), "finish reports once");
    }

    #[test]
    fn both_forms_read_back() {
        let header = Header::new(3, serde_json::Value::Null, vec![]);
        for form in [TraceForm::Binary, TraceForm::Jsonl] {
            let out = SharedBytes::default();
            let mut sink = match form {
                TraceForm::Binary => TraceSink::binary(out.clone(), &header, FlushPolicy::Batched),
                TraceForm::Jsonl => TraceSink::jsonl(out.clone(), &header),
            }
            .unwrap();
            sink.event(&ev(0));
            sink.event(&ev(1));
            sink.finish().unwrap();
            let bytes = out.take();
            let mut input = crate::TraceInput::from_reader(&bytes[..]).unwrap();
            assert_eq!(input.header().seed, 3);
            let mut n = 0;
            while input.next_event().unwrap().is_some() {
                n += 1;
            }
            assert_eq!(n, 2, "{form:?}");
        }
        let bytes = {
            let out = SharedBytes::default();
            let mut sink = TraceSink::binary(out.clone(), &header, FlushPolicy::Batched).unwrap();
            sink.event(&ev(0));
            sink.finish().unwrap();
            out.take()
        };
        assert_eq!(read_trace(&bytes[..]).unwrap().events, vec![ev(0)]);
    }

    #[test]
    fn the_form_follows_the_file_name() {
        assert_eq!(TraceForm::for_path(Path::new("a.jsonl")), TraceForm::Jsonl);
        assert_eq!(TraceForm::for_path(Path::new("a.JSONL")), TraceForm::Jsonl);
        assert_eq!(TraceForm::for_path(Path::new("a.trace")), TraceForm::Binary);
        assert_eq!(TraceForm::for_path(Path::new("a")), TraceForm::Binary);
    }
}
