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

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use faxsim_sim::example_extensions::*;
use faxsim_sim::trace::{ExtensionInfo, ExtensionKind, TextLine, TraceSink};
use faxsim_sim::*;

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

/// Why the walkthrough stopped.
enum Failure {
    /// The trace file could not be created.
    Record(String),
    /// The service refused a step.
    Sim(SimError),
}

impl From<SimError> for Failure {
    fn from(e: SimError) -> Self {
        Failure::Sim(e)
    }
}

fn run(
    opts: ServiceOptions,
    record: Option<&Path>,
) -> Result<(Vec<String>, Service, Vec<Finding>), Failure> {
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
    if let Some(path) = record {
        let extensions = svc
            .extension_names()
            .iter()
            .enumerate()
            .map(|(i, name)| {
                ExtensionInfo::new(name, svc.extension_kind(trace::ExtId(i as u16)), None)
            })
            .collect();
        let sink = TraceSink::create(path, &svc.trace_header(extensions)).map_err(|e| {
            Failure::Record(format!("{}: cannot record the trace: {e}", path.display()))
        })?;
        svc.add_sink(Box::new(sink));
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
    if let Some(path) = record {
        svc.finish_sinks().map_err(|e| {
            Failure::Record(format!("{}: cannot record the trace: {e}", path.display()))
        })?;
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        eprintln!("recorded {} ({bytes} bytes)", path.display());
    }
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
    let (names, svc, findings) = match run(opts, record.as_deref()) {
        Ok(r) => r,
        Err(Failure::Record(e)) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        Err(Failure::Sim(e)) => {
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
