//! A whole simulated service run with the example extensions: a careful TAPI FSP, a
//! careful virtual FSP, a careful routing extension and a buggy one. Prints every event
//! in the canonical text form, then the findings.
//!
//! ```text
//! cargo run --release -p faxsim-sim --example walkthrough [-- --seed N --delivery sync|shuffled|deferred --record run.trace]
//! ```
//!
//! `--record PATH` streams every event into a trace file as it happens (flushed after
//! each event); `faxsim show PATH` and `faxsim check PATH` read it back.

use std::cell::RefCell;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use faxsim_sim::example_extensions::*;
use faxsim_sim::trace::{
    Event, ExtensionInfo, ExtensionKind, Header, TextLine, TraceError, TraceWriter,
};
use faxsim_sim::*;

/// The trace being recorded, shared by the service's sink and `main`.
struct Recording {
    path: PathBuf,
    writer: Option<TraceWriter<BufWriter<File>>>,
    error: Option<TraceError>,
}

impl Recording {
    /// Creates the file and writes the header (an error is kept for `main` to report).
    fn start(&mut self, header: &Header) {
        let started = File::create(&self.path)
            .map_err(TraceError::from)
            .and_then(|f| TraceWriter::new(BufWriter::new(f), header));
        match started {
            Ok(w) => self.writer = Some(w),
            Err(e) => self.error = Some(e),
        }
    }
}

/// Forwards every event of the run to the trace writer.
struct TraceSink(Rc<RefCell<Recording>>);

impl EventSink for TraceSink {
    fn event(&mut self, event: &Event) {
        let mut r = self.0.borrow_mut();
        if let Some(w) = r.writer.as_mut()
            && let Err(e) = w.write_event(event)
        {
            r.writer = None;
            r.error = Some(e);
        }
    }
}

fn parse_args() -> Result<(ServiceOptions, Option<PathBuf>), String> {
    let mut opts = ServiceOptions::default();
    let mut record = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seed" => opts.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--delivery" => {
                opts.delivery = match value()?.as_str() {
                    "sync" => DeliveryPolicy::Sync,
                    "shuffled" => DeliveryPolicy::Shuffled,
                    "deferred" => DeliveryPolicy::Deferred,
                    other => return Err(format!("unknown delivery policy {other:?}")),
                }
            }
            "--record" => record = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                return Err(
                    "usage: walkthrough [--seed N] [--delivery sync|shuffled|deferred] [--record PATH]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((opts, record))
}

fn run(
    opts: ServiceOptions,
    recording: Option<&Rc<RefCell<Recording>>>,
) -> Result<(Vec<String>, Service, Vec<Finding>), SimError> {
    let options_json = serde_json::to_value(&opts).unwrap_or_default();
    let mut svc = Service::new(opts);
    svc.add_device(1, Some(0x0001_0001))?;
    svc.add_device(2, Some(0x0001_0002))?;
    let ext = |name: &str, kind| ExtensionSpec {
        name: name.into(),
        kind,
    };
    svc.add_extension(
        ext("careful-fsp", ExtensionKind::Fsp),
        Rc::new(CarefulTapiFsp::new(vec![0x0001_0001, 0x0001_0002])),
    )?;
    svc.add_extension(
        ext("careful-vfsp", ExtensionKind::VirtualFsp),
        Rc::new(CarefulVirtualFsp::new(2, 0x100)),
    )?;
    svc.add_extension(
        ext("careful-routing", ExtensionKind::Routing),
        Rc::new(CarefulRouting::default()),
    )?;
    svc.add_extension(
        ext("buggy-routing", ExtensionKind::Routing),
        Rc::new(BuggyRouting::default()),
    )?;
    if let Some(rec) = recording {
        let kinds = [
            ExtensionKind::Fsp,
            ExtensionKind::VirtualFsp,
            ExtensionKind::Routing,
            ExtensionKind::Routing,
        ];
        let extensions = svc
            .extension_names()
            .into_iter()
            .zip(kinds)
            .map(|(name, kind)| ExtensionInfo {
                name,
                kind,
                sha256: None,
            })
            .collect();
        let header = Header::new(svc.options().seed, options_json, extensions);
        svc.add_sink(Box::new(TraceSink(rec.clone())));
        rec.borrow_mut().start(&header);
    }
    // An administrator sets the global routing flags before the service starts.
    svc.external_write(0, FLAGS_GUID, &1u32.to_le_bytes())?;
    svc.start()?;
    // A device arrives; then the administrator changes the flags of device 1 and the
    // global ones.
    svc.add_device(3, Some(0x0001_0003))?;
    svc.external_write(1, FLAGS_GUID, &0u32.to_le_bytes())?;
    svc.external_write(0, FLAGS_GUID, &2u32.to_le_bytes())?;
    svc.settle()?;
    svc.stop()?;
    let findings = svc.finish();
    Ok((svc.extension_names(), svc, findings))
}

fn main() -> ExitCode {
    let (opts, record) = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let seed = opts.seed;
    let recording = record.as_ref().map(|p| {
        Rc::new(RefCell::new(Recording {
            path: p.clone(),
            writer: None,
            error: None,
        }))
    });
    let result = run(opts, recording.as_ref());
    if let (Some(rec), Some(path)) = (recording, &record) {
        let mut r = rec.borrow_mut();
        let finished = match (r.error.take(), r.writer.take()) {
            (Some(e), _) => Err(e),
            (None, Some(w)) => w.finish().map(|_| ()),
            (None, None) => Err(TraceError::WriterFailed),
        };
        match finished {
            Ok(()) => {
                let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
                eprintln!("recorded {} ({bytes} bytes)", path.display());
            }
            Err(e) => {
                eprintln!("{}: cannot record the trace: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let (names, svc, findings) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("the run stopped: {e}");
            return ExitCode::from(1);
        }
    };
    println!("# events (seed {seed})");
    for event in svc.events() {
        println!(
            "{}",
            TextLine {
                event,
                names: &names
            }
        );
    }
    println!("\n# findings");
    for f in &findings {
        let who = f.ext.map_or("-", |e| names[e.index()].as_str());
        println!(
            "{:<8} {:<24} event {:<4} {:<16} {}",
            f.severity, f.rule, f.event, who, f.message
        );
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    println!(
        "\n{} events, {} findings ({} errors). The buggy routing extension is meant to fail.",
        svc.event_count(),
        findings.len(),
        errors
    );
    ExitCode::SUCCESS
}
