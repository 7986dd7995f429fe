//! Recording a run to a trace file: an [`EventSink`] that streams every event of a
//! [`Service`] into a [`TraceWriter`]. Used by the commands that run things
//! (`--record PATH`).

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::rc::Rc;

use faxsim_sim::{EventSink, Service, ServiceOptions};
use faxsim_trace::{Event, ExtensionInfo, FlushPolicy, Header, TraceError, TraceWriter};

/// The header of a simulator run: its seed, its options (as JSON) and its extensions.
pub fn header_for(options: &ServiceOptions, extensions: Vec<ExtensionInfo>) -> Header {
    Header::new(
        options.seed,
        serde_json::to_value(options).unwrap_or(serde_json::Value::Null),
        extensions,
    )
}

struct State<W: Write> {
    writer: Option<TraceWriter<W>>,
    error: Option<TraceError>,
}

/// The sink half, owned by the service.
struct Sink<W: Write>(Rc<RefCell<State<W>>>);

impl<W: Write> EventSink for Sink<W> {
    fn event(&mut self, event: &Event) {
        let mut s = self.0.borrow_mut();
        if let Some(w) = s.writer.as_mut()
            && let Err(e) = w.write_event(event)
        {
            // The first failure ends the recording; the run goes on, and `finish` reports it.
            s.writer = None;
            s.error = Some(e);
        }
    }
}

/// The caller's half: finishes the trace after the run.
pub struct Recorder<W: Write> {
    state: Rc<RefCell<State<W>>>,
}

impl<W: Write> std::fmt::Debug for Recorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl<W: Write + 'static> Recorder<W> {
    /// Starts a trace on `out` and attaches it to `svc` (before `start`, to see every
    /// event).
    pub fn attach(
        svc: &mut Service,
        out: W,
        header: &Header,
        policy: FlushPolicy,
    ) -> Result<Recorder<W>, TraceError> {
        let writer = TraceWriter::with_policy(out, header, policy)?;
        let state = Rc::new(RefCell::new(State {
            writer: Some(writer),
            error: None,
        }));
        svc.add_sink(Box::new(Sink(state.clone())));
        Ok(Recorder { state })
    }

    /// Starts a trace on `out` for a service the caller cannot reach (a driver that makes
    /// its own): returns the recorder and the sink to hand to that driver.
    pub fn detached(
        out: W,
        header: &Header,
        policy: FlushPolicy,
    ) -> Result<(Recorder<W>, Box<dyn EventSink>), TraceError> {
        let writer = TraceWriter::with_policy(out, header, policy)?;
        let state = Rc::new(RefCell::new(State {
            writer: Some(writer),
            error: None,
        }));
        Ok((
            Recorder {
                state: state.clone(),
            },
            Box::new(Sink(state)),
        ))
    }

    /// Writes the end frame and returns the output, or the first error of the recording.
    pub fn finish(self) -> Result<W, TraceError> {
        let mut s = self.state.borrow_mut();
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        match s.writer.take() {
            Some(w) => w.finish(),
            None => Err(TraceError::WriterFailed),
        }
    }
}

/// The header entry of an extension; libraries get the SHA-256 of their file.
pub fn extension_info(
    name: &str,
    kind: faxsim_trace::ExtensionKind,
    library: Option<&Path>,
) -> ExtensionInfo {
    ExtensionInfo {
        name: name.to_string(),
        kind,
        sha256: library.and_then(|p| faxsim_trace::sha256_file(p).ok()),
    }
}

impl Recorder<BufWriter<File>> {
    /// Records into a new file at `path` for a driver that owns its service (flushing
    /// every event); returns the recorder and the sink to hand over.
    pub fn create_detached(
        path: &Path,
        header: &Header,
    ) -> Result<(Self, Box<dyn EventSink>), TraceError> {
        let file = BufWriter::new(File::create(path)?);
        Recorder::detached(file, header, FlushPolicy::EveryEvent)
    }

    /// Records into a new file at `path`, flushing every event (a run that dies keeps
    /// every event it produced).
    pub fn create(svc: &mut Service, path: &Path, header: &Header) -> Result<Self, TraceError> {
        let file = BufWriter::new(File::create(path)?);
        Recorder::attach(svc, file, header, FlushPolicy::EveryEvent)
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use faxsim_sim::example_extensions::{BuggyRouting, CarefulRouting, FLAGS_GUID};
    use faxsim_sim::{ExtensionSpec, Service, ServiceOptions};
    use faxsim_trace::{ExtensionKind, read_trace};

    use super::*;

    #[test]
    fn a_recorded_run_reads_back_as_the_live_events() {
        let opts = ServiceOptions::default();
        let mut svc = Service::new(opts.clone());
        let mut infos = Vec::new();
        for (name, imp) in [
            ("careful", Rc::new(CarefulRouting::default()) as Rc<_>),
            ("buggy", Rc::new(BuggyRouting::default()) as Rc<_>),
        ] {
            svc.add_extension(
                ExtensionSpec {
                    name: name.into(),
                    kind: ExtensionKind::Routing,
                },
                imp,
            )
            .unwrap();
            infos.push(ExtensionInfo {
                name: name.into(),
                kind: ExtensionKind::Routing,
                sha256: None,
            });
        }
        let header = header_for(&opts, infos);
        let rec = Recorder::attach(&mut svc, Vec::new(), &header, FlushPolicy::Batched).unwrap();
        svc.start().unwrap();
        svc.external_write(0, FLAGS_GUID, &[1, 0, 0, 0]).unwrap();
        svc.stop().unwrap();
        let bytes = rec.finish().unwrap();
        let trace = read_trace(&bytes[..]).unwrap();
        assert_eq!(trace.header, header);
        assert_eq!(trace.events, svc.events());
        assert!(!trace.events.is_empty());
    }
}
