//! The child side: `faxsim __worker LIB...` loads the libraries once and runs the jobs
//! its parent sends, streaming each job's trace back over the private channel.

use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use faxsim_host::{Host, battery, isolate};
use faxsim_scenario::{Libraries, RunOptions, Scenario};
use faxsim_sim::{EventSink, Service};
use faxsim_trace::{Event, FlushPolicy, Half, Header, TraceError, TraceWriter};

use crate::protocol::{
    BatteryJob, Job, LoadedLibrary, Message, ReplayEnd, ReplayJob, Request, ScenarioEnd,
    ScenarioJob, TAG_MESSAGE, TAG_TRACE, decode, read_envelope, send, write_envelope,
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
        let Request::Run(job) = decode(&buf).map_err(|e| ServeError(e.to_string()))?;
        // A scenario or a replay loads its libraries in a host of its own, and a process
        // has one host at a time: this worker's ends there (it takes no other job).
        let done = match job {
            Job::Battery(job) => run_battery(&mut host, &extensions, &job, &mut out)?,
            Job::Scenario(job) => {
                drop(host);
                let done = run_scenario(&job, &mut out)?;
                send(&mut out, &done).map_err(lost)?;
                return Ok(true);
            }
            Job::Replay(job) => {
                drop(host);
                let done = run_replay(&job, &mut out)?;
                send(&mut out, &done).map_err(lost)?;
                return Ok(true);
            }
        };
        let retire = matches!(&done, Message::JobDone { survivors, .. } if !survivors.is_empty());
        send(&mut out, &done).map_err(lost)?;
        if retire {
            return Ok(true);
        }
    }
}

fn lost(e: io::Error) -> ServeError {
    ServeError(format!("the parent went away: {e}"))
}

/// A sink that streams a job's trace to the parent, announced by `JobStarted`.
fn stream_to(out: &mut io::PipeWriter, header: &Header) -> Result<StreamSink, ServeError> {
    send(out, &Message::JobStarted).map_err(lost)?;
    let chunks = Chunks {
        out: out.try_clone().map_err(lost)?,
        pending: Vec::with_capacity(64 << 10),
    };
    match TraceWriter::with_policy(chunks, header, FlushPolicy::Batched) {
        Ok(w) => Ok(StreamSink {
            writer: Some(w),
            error: None,
        }),
        Err(e) => Err(ServeError(format!("cannot start the stream: {e}"))),
    }
}

/// One battery run; the message that ends it.
fn run_battery(
    host: &mut Host,
    extensions: &[faxsim_trace::ExtensionInfo],
    job: &BatteryJob,
    out: &mut io::PipeWriter,
) -> Result<Message, ServeError> {
    let opts = job.options();
    let sink = stream_to(out, &battery::trace_header(extensions, &opts))?;
    // The parent checks the events: no checker here.
    Ok(
        match battery::run_checked(host, &opts, vec![Box::new(sink)], false) {
            Ok(outcome) => Message::JobDone {
                notes: outcome.notes,
                aborted: outcome.aborted.map(|e| e.to_string()),
                stream_error: outcome.recording_error.map(|e| e.to_string()),
                survivors: host.survivors(),
                scenario: None,
                replay: None,
            },
            Err(e) => Message::JobFailed {
                message: e.to_string(),
            },
        },
    )
}

/// One scenario run with the libraries it names; the message that ends it. A scenario
/// the service refuses is `JobFailed` (the parent read the same file without error, so
/// that is rare: a library that does not load, say).
fn run_scenario(job: &ScenarioJob, out: &mut io::PipeWriter) -> Result<Message, ServeError> {
    let scenario = match Scenario::load(Path::new(&job.path)) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Message::JobFailed {
                message: e.to_string(),
            });
        }
    };
    let mut setup_error = None;
    let mut sinks =
        |svc: &Service| match stream_to(out, &svc.trace_header(scenario.trace_extensions(svc))) {
            Ok(sink) => Ok(vec![Box::new(sink) as Box<dyn EventSink>]),
            Err(e) => {
                let message = e.0.clone();
                setup_error = Some(e);
                Err(message)
            }
        };
    let opts = RunOptions {
        seed: job.seed,
        libraries: Libraries::Host,
        deny_warnings: job.deny_warnings,
        explore: job.explore,
    };
    let report = scenario.run_with(opts, &mut sinks);
    if let Some(e) = setup_error {
        return Err(e);
    }
    Ok(match report {
        Ok(r) => Message::JobDone {
            notes: Vec::new(),
            aborted: None,
            stream_error: r.recording_error,
            survivors: Vec::new(),
            scenario: Some(ScenarioEnd {
                name: r.name,
                seed: r.seed,
                passed: r.passed,
                findings: r.findings,
                failures: r.failures,
                names: r.names,
            }),
            replay: None,
        },
        Err(e) => Message::JobFailed {
            message: e.to_string(),
        },
    })
}

/// One replay; the message that ends it. A replay that cannot start (a build that matches
/// no recorded extension, say) is `JobFailed`, a usage error.
fn run_replay(job: &ReplayJob, out: &mut io::PipeWriter) -> Result<Message, ServeError> {
    let replay = match job.build() {
        Ok(r) => r,
        Err(e) => {
            return Ok(Message::JobFailed {
                message: e.to_string(),
            });
        }
    };
    let sink = stream_to(out, &ReplayJob::replayed_header(replay.header()))?;
    // The events travel as the stream; the outcome need not carry them too.
    Ok(match replay.keep_events(false).sink(Box::new(sink)).run() {
        Ok(outcome) => Message::JobDone {
            notes: Vec::new(),
            aborted: None,
            stream_error: None,
            survivors: Vec::new(),
            scenario: None,
            replay: Some(ReplayEnd(Box::new(outcome))),
        },
        Err(e) => Message::JobFailed {
            message: e.to_string(),
        },
    })
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
