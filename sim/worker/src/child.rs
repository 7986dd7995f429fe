//! The child side: `faxsim __worker LIB...` loads the libraries once and runs the jobs
//! its parent sends, streaming each job's trace back over the private channel.

use std::io::{self, BufReader, Write};
use std::path::PathBuf;

use faxsim_host::{Host, battery, isolate};
use faxsim_sim::EventSink;
use faxsim_trace::{Event, FlushPolicy, Half, TraceError, TraceWriter};

use crate::protocol::{
    LoadedLibrary, Message, Request, TAG_MESSAGE, TAG_TRACE, decode, read_envelope, send,
    write_envelope,
};

/// Why a worker could not serve (its exit code is 2).
#[derive(Debug)]
pub struct ServeError(pub String);

/// Runs the worker until its parent closes the request channel. Returns `Ok(false)` when
/// a library could not be loaded (the parent has been told).
pub fn serve(
    libs: &[PathBuf],
    kind: Option<faxsim_trace::ExtensionKind>,
) -> Result<bool, ServeError> {
    let (requests, messages) = isolate::take_link()
        .map_err(|e| ServeError(format!("the worker channel: {e}")))?
        .ok_or_else(|| {
            ServeError("`faxsim __worker` is started by faxsim itself, not by hand".into())
        })?;
    let mut out = messages;
    let lost = |e: io::Error| ServeError(format!("the parent went away: {e}"));
    let mut host = Host::new();
    for (index, path) in libs.iter().enumerate() {
        send(
            &mut out,
            &Message::Loading {
                index: index as u32,
            },
        )
        .map_err(lost)?;
        if let Err(e) = host.open(path, kind) {
            send(
                &mut out,
                &Message::LoadFailed {
                    message: e.to_string(),
                },
            )
            .map_err(lost)?;
            return Ok(false);
        }
    }
    let libraries = host
        .libraries()
        .map(|l| LoadedLibrary {
            name: l.name.clone(),
            kind: l.kind,
            takes_part: l.takes_part(),
        })
        .collect();
    send(&mut out, &Message::Ready { libraries }).map_err(lost)?;
    // Hashing the library files once, not per seed.
    let extensions = battery::header_extensions(&host);
    let mut requests = BufReader::new(requests);
    let mut buf = Vec::new();
    loop {
        match read_envelope(&mut requests, &mut buf) {
            Ok(Some(TAG_MESSAGE)) => {}
            // The parent is done with this worker (or gone): either way, the end.
            Ok(None) | Err(_) => return Ok(true),
            Ok(Some(_)) => return Err(ServeError("an unexpected envelope".into())),
        }
        let Request::Battery(job) = decode(&buf).map_err(|e| ServeError(e.to_string()))?;
        let opts = job.options();
        send(&mut out, &Message::JobStarted).map_err(lost)?;
        let header = battery::trace_header(&extensions, &opts);
        let chunks = Chunks {
            out: out.try_clone().map_err(lost)?,
            pending: Vec::with_capacity(64 << 10),
        };
        let sink = match TraceWriter::with_policy(chunks, &header, FlushPolicy::Batched) {
            Ok(w) => StreamSink {
                writer: Some(w),
                error: None,
            },
            Err(e) => return Err(ServeError(format!("cannot start the stream: {e}"))),
        };
        let done = match // The parent checks the events: no checker here.
            battery::run_checked(&mut host, &opts, vec![Box::new(sink)], false) {
            Ok(outcome) => Message::JobDone {
                notes: outcome.notes,
                aborted: outcome.aborted.map(|e| e.to_string()),
                stream_error: outcome.recording_error.map(|e| e.to_string()),
                survivors: host.survivors(),
            },
            Err(e) => Message::JobFailed {
                message: e.to_string(),
            },
        };
        let retire = matches!(&done, Message::JobDone { survivors, .. } if !survivors.is_empty());
        send(&mut out, &done).map_err(lost)?;
        if retire {
            return Ok(true);
        }
    }
}

/// The job's trace bytes, sent as [`TAG_TRACE`] envelopes on each flush.
struct Chunks {
    out: io::PipeWriter,
    pending: Vec<u8>,
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let r = write_envelope(&mut self.out, TAG_TRACE, &self.pending);
        self.pending.clear();
        r
    }
}

/// Streams the run's events: buffered, and flushed whenever control is about to pass into
/// extension code (a call into the extension, or the return of one of its callbacks), so
/// when the extension crashes or hangs there, the parent already holds every event up to
/// that point, at half the cost of a flush per event.
struct StreamSink {
    writer: Option<TraceWriter<Chunks>>,
    error: Option<TraceError>,
}

fn enters_extension(e: &Event) -> bool {
    use faxsim_trace::Direction;
    match e.kind.half() {
        Some(Half::Call(c)) => c.direction() == Direction::ToExtension,
        Some(Half::Return(c)) => c.direction() == Direction::ToService,
        None => false,
    }
}

impl EventSink for StreamSink {
    fn event(&mut self, event: &Event) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let r = w.write_event(event).and_then(|()| {
            if enters_extension(event) {
                w.flush()
            } else {
                Ok(())
            }
        });
        if let Err(e) = r {
            // The stream stops here; the parent sees it end early and JobDone says why.
            self.error = Some(e);
            self.writer = None;
        }
    }

    fn finish(&mut self) -> Result<(), TraceError> {
        if let Some(w) = self.writer.take() {
            w.finish()?.flush()?;
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
