//! `faxsim replay TRACE --ext LIB...`: drive fresh builds of extensions with a recorded
//! service side and report where they behave differently from the recording.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use faxsim_replay::snapshot::{self, SnapshotResult, UpdateMode};
use faxsim_replay::{Mode, Played, ReplayError, ReplayOutcome};
use faxsim_sim::Severity;
use faxsim_trace::{Header, TextLine};
use faxsim_worker::ReplayJob;
use serde::Serialize;

use crate::cli::{CliError, Outcome};
use crate::report::Color;
use crate::report::json::{FORMAT, FindingJson};

/// Arguments of `faxsim replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recorded trace (binary or JSON Lines): from `validate --record`, `run --record`
    /// or the recording proxy on a real fax service.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
    /// A build to replay in place of the recorded extension it matches (same name as the
    /// library's file stem, else the same file hash, else the only one of its kind).
    /// Repeat for several; recorded extensions without a build are played by the
    /// recording.
    #[arg(long = "ext", value_name = "LIB", required = true)]
    pub libs: Vec<PathBuf>,
    /// How to replay: `strict` (the recording answers; the first difference ends the
    /// replay) or `model` (the service model answers, the recording supplies the inputs;
    /// every difference is reported, per extension and key).
    #[arg(long, value_enum, default_value_t = ModeArg::Strict)]
    pub mode: ModeArg,
    /// Compare two builds on the recorded session: replay in model mode with the --ext
    /// libraries, then with LIB in place of the one it matches, and show how they
    /// behave differently (exit 1 when they do).
    #[arg(long, value_name = "LIB")]
    pub against: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    pub format: ReplayFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the replayed run to PATH as a trace (JSON Lines for `.jsonl`).
    #[arg(long, value_name = "PATH")]
    pub record: Option<PathBuf>,
    /// Snapshot the replayed run's transcript in DIR as an insta `.snap` file named
    /// after the trace: written when missing; compared when present, and on a
    /// difference the new one goes to `.snap.new` for `cargo insta review` and the
    /// command exits 1. Honours `INSTA_UPDATE` (`no` in CI writes nothing).
    #[arg(long, value_name = "DIR")]
    pub snapshot: Option<PathBuf>,
    /// Fail (exit 1) on warnings of the replayed run too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Replay inside faxsim instead of in a worker process (for a debugger): a build that
    /// crashes then ends faxsim. By default the replay runs in a worker, so a build that
    /// crashes or hangs is reported (exit 3) with the replayed run up to that point kept
    /// (in --record's file, or a file the report names).
    #[arg(long, conflicts_with = "isolate")]
    pub in_process: bool,
    /// Accepted for compatibility: replays run in a worker process by default.
    #[arg(long, hide = true)]
    pub isolate: bool,
    /// How long the replay may go without an event before it counts as hung.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
    /// How long to wait for a call the recording shows one of the extension's own
    /// threads making.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub thread_wait_ms: u64,
}

/// `--mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// The recording answers every call; the first difference ends the replay.
    Strict,
    /// The service model answers; every difference is reported.
    Model,
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    /// For people.
    Text,
    /// Stable, versioned JSON.
    Json,
}

/// Runs `faxsim replay`.
pub fn run(args: &ReplayArgs, color: Color) -> Result<Outcome, CliError> {
    if let Some(out) = &args.output {
        crate::report::check_writable(out)?;
    }
    let job = ReplayJob {
        trace: args.trace.clone(),
        libs: args.libs.clone(),
        mode: match args.mode {
            ModeArg::Strict => Mode::Strict,
            ModeArg::Model => Mode::Model,
        },
        against: args.against.clone(),
        thread_wait_ms: args.thread_wait_ms,
    };
    // A worker is told its paths in UTF-8; a replay of others runs here.
    let utf8 = std::iter::once(&job.trace)
        .chain(&job.libs)
        .chain(&job.against)
        .all(|p| p.to_str().is_some());
    if !args.in_process && !utf8 {
        eprintln!(
            "faxsim: note: a path is not UTF-8, so the replay runs inside faxsim (a build that crashes ends faxsim)"
        );
    }
    if args.in_process || !utf8 {
        let mut replay = job.build().map_err(input)?;
        let header = replay.header().clone();
        if let Some(path) = &args.record {
            let sink = crate::report::trace_sink(path, &ReplayJob::replayed_header(&header))
                .map_err(CliError::Input)?;
            replay = replay.sink(sink);
        }
        let outcome = replay.run().map_err(input)?;
        return finish(args, &header, &outcome, color);
    }
    run_in_worker(args, job, color)
}

/// The default: the replay runs in a worker process (`faxsim-worker`, as validate's seeds
/// do), so a build that crashes or hangs is reported (exit 3) with the replayed run up to
/// there, and the report is otherwise the in-process one.
fn run_in_worker(args: &ReplayArgs, job: ReplayJob, color: Color) -> Result<Outcome, CliError> {
    use faxsim_worker::{Job, JobEnd, PoolConfig};
    let header = faxsim_trace::TraceInput::open(&args.trace)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.trace.display())))?
        .header()
        .clone();
    // The replayed run is written as it arrives: to --record's file, else to a scratch
    // file kept only when the build crashes or hangs (the report names it).
    let scratch = std::env::temp_dir().join(format!("faxsim-replay-{}", std::process::id()));
    let trace = match &args.record {
        Some(p) => p.clone(),
        None => {
            std::fs::create_dir_all(&scratch)?;
            let stem = args
                .trace
                .file_stem()
                .map_or_else(|| "replay".into(), |s| s.to_string_lossy().into_owned());
            scratch.join(format!("{stem}.replayed.trace"))
        }
    };
    let cfg = PoolConfig {
        program: std::env::current_exe()?,
        worker_args: vec!["__worker".into()],
        libs: Vec::new(),
        kind: None,
        hang_limit: Duration::from_millis(args.timeout_ms),
        workers: 1,
        output: std::sync::Arc::new(|line: &str| eprintln!("{line}")),
    };
    let mut sink_for =
        |_: &Job, header: &Header| crate::report::trace_sink(&trace, header).map(Some);
    let mut result = None;
    let ran = faxsim_worker::run_jobs(&cfg, &[Job::Replay(job)], &mut sink_for, |_, r| {
        result = Some(r);
        std::ops::ControlFlow::Break(())
    });
    let cleanup = || {
        if args.record.is_none() {
            let _ = std::fs::remove_file(&trace);
            let _ = std::fs::remove_dir(&scratch);
        }
    };
    let r = match (ran, result) {
        (Ok(_), Some(r)) => r,
        (Ok(_), None) => {
            cleanup();
            return Err(CliError::Input(format!(
                "{}: the replay's worker ended without a result",
                args.trace.display()
            )));
        }
        (Err(e), _) => {
            cleanup();
            return Err(e.into());
        }
    };
    if r.end == JobEnd::Completed {
        cleanup();
        let Some(mut outcome) = r.replay else {
            return Err(CliError::Input(format!(
                "{}: the replay's worker sent no outcome",
                args.trace.display()
            )));
        };
        outcome.events = r.events;
        let code = finish(args, &header, &outcome, color)?;
        return match r.recording_error.filter(|_| args.record.is_some()) {
            // The report is out; the trace the user asked for is not whole.
            Some(e) => {
                eprintln!("faxsim: {e}");
                Ok(Outcome::BadInput)
            }
            None => Ok(code),
        };
    }
    let color = if args.output.is_some() {
        Color::plain()
    } else {
        color
    };
    crash_report(args, &r, &trace, color)?;
    Ok(Outcome::Crashed)
}

/// The report of a replay whose build crashed or hung: who, inside which call, after how
/// many replayed events, the findings of the run up to there, and where that run is.
fn crash_report(
    args: &ReplayArgs,
    r: &faxsim_worker::JobResult,
    trace: &std::path::Path,
    color: Color,
) -> Result<(), CliError> {
    let names = r
        .header
        .as_ref()
        .map(Header::extension_names)
        .unwrap_or_default();
    // The last event is the worker's crash or hang; the replayed ones come before it.
    let replayed = r.events.len().saturating_sub(1);
    let open = faxsim_trace::OpenCalls::of(&r.events);
    let who = open.innermost().map_or_else(
        || "the extension".to_string(),
        |call| {
            let name = call
                .ext
                .and_then(|x| names.get(x.index()).cloned())
                .unwrap_or_else(|| "the extension".into());
            format!("{name}, inside {},", call.function)
        },
    );
    let failure = match (r.end == faxsim_worker::JobEnd::Hung, r.events.last()) {
        (true, _) => format!("did not answer within {} ms (hung)", args.timeout_ms),
        (false, Some(e)) => match &e.kind {
            faxsim_trace::EventKind::ExtensionCrashed { detail } => format!("crashed ({detail})"),
            _ => "crashed".into(),
        },
        (false, None) => "crashed".into(),
    };
    let findings = faxsim_sim::explain::check_cut_run(&r.events, names.clone());
    let kept = match &r.recording_error {
        None => format!(
            "the replayed run up to there is in {} (faxsim show, faxsim check read it)",
            trace.display()
        ),
        Some(e) => format!("the replayed run could not be kept: {e}"),
    };
    let text = match args.format {
        ReplayFormat::Text => {
            let mut s = format!(
                "replay of {}: {who} {} after {replayed} replayed events\n{kept}\n",
                args.trace.display(),
                color.red(&failure),
            );
            if !findings.is_empty() {
                let _ = writeln!(s, "\nfindings in the replayed run:");
                s.push_str(&finding_lines(&findings, &names, color));
            }
            s
        }
        ReplayFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
            "faxsim": env!("CARGO_PKG_VERSION"),
            "format": FORMAT,
            "replay": {
                "trace": args.trace.display().to_string(),
                "failure": failure,
                "replayed_events": replayed,
                "replayed_trace": r.recording_error.is_none().then(|| trace.display().to_string()),
            },
            "passed": false,
            "findings": findings.iter().map(|f| FindingJson::new(f, &names)).collect::<Vec<_>>(),
        }))
        .expect("reports serialise")
            + "\n",
    };
    write_report(args, &text)
}

/// Writes the report to `--output` or standard output.
fn write_report(args: &ReplayArgs, text: &str) -> Result<(), CliError> {
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| CliError::Input(format!("{}: cannot write: {e}", path.display()))),
        None => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
    }
}

/// The report of a replay that ran to its end (in a worker or in process), the snapshot,
/// and the outcome.
fn finish(
    args: &ReplayArgs,
    header: &Header,
    outcome: &ReplayOutcome,
    color: Color,
) -> Result<Outcome, CliError> {
    let snapshot = match &args.snapshot {
        Some(dir) => Some(take_snapshot(args, dir, outcome)?),
        None => None,
    };
    let color = if args.output.is_some() {
        Color::plain()
    } else {
        color
    };
    let mut text = match args.format {
        ReplayFormat::Text => text_report(args, header, outcome, color),
        ReplayFormat::Json => json_report(args, outcome, snapshot.as_ref()) + "\n",
    };
    if let (ReplayFormat::Text, Some(r)) = (args.format, &snapshot) {
        text.push_str(&snapshot_text(r, color));
    }
    write_report(args, &text)?;
    if let Some(damage) = &outcome.truncated {
        // Replayed up to the damage and reported; the file is still bad input, as for
        // `faxsim show` and `faxsim check`.
        return Err(CliError::Input(format!(
            "{}: {damage}",
            args.trace.display()
        )));
    }
    let failing = outcome
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error || args.deny_warnings);
    let snapshot_failed = snapshot.as_ref().is_some_and(|r| !r.passed());
    let differs = outcome.differences.as_ref().is_some_and(|d| !d.is_empty());
    Ok(
        if outcome.divergence.is_some() || differs || failing || snapshot_failed {
            Outcome::Found
        } else {
            Outcome::Clean
        },
    )
}

/// Writes or checks the transcript's snapshot, named after the trace.
fn take_snapshot(
    args: &ReplayArgs,
    dir: &std::path::Path,
    outcome: &ReplayOutcome,
) -> Result<SnapshotResult, CliError> {
    let name = args
        .trace
        .file_stem()
        .map_or_else(|| "replay".into(), |s| s.to_string_lossy().into_owned());
    let source = args
        .trace
        .file_name()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    snapshot::check(
        dir,
        &name,
        &source,
        &outcome.transcript(),
        UpdateMode::from_env(),
    )
    .map_err(|e| CliError::Input(format!("{}: cannot write the snapshot: {e}", dir.display())))
}

/// The snapshot's part of the text report.
fn snapshot_text(r: &SnapshotResult, color: Color) -> String {
    match r {
        SnapshotResult::Written(p) => format!("\nsnapshot: written to {}\n", p.display()),
        SnapshotResult::Matched(p) => {
            format!("\nsnapshot: {} ({})\n", color.green("matches"), p.display())
        }
        SnapshotResult::Updated(p) => {
            format!(
                "\nsnapshot: updated {} (INSTA_UPDATE=always)\n",
                p.display()
            )
        }
        SnapshotResult::Missing(p) => format!(
            "\nsnapshot: {}: {} does not exist and INSTA_UPDATE=no forbids writing it\n",
            color.red("missing"),
            p.display()
        ),
        SnapshotResult::Differs {
            path,
            pending,
            first: (line, old, new),
        } => {
            let mut s = format!(
                "\nsnapshot: {} from {} at line {line} of its body\n  - {old}\n  + {new}\n",
                color.red("differs"),
                path.display()
            );
            match pending {
                Some(p) => s.push_str(&format!(
                    "the new transcript is in {}; review it with `cargo insta review --workspace-root {}` (or accept it with `cargo insta accept`)\n",
                    p.display(),
                    path.parent().map_or(".".into(), |d| d.display().to_string())
                )),
                None => s.push_str("(INSTA_UPDATE=no: the new transcript was not written)\n"),
            }
            s
        }
    }
}

fn input(e: ReplayError) -> CliError {
    CliError::Input(e.to_string())
}

fn who_played(p: &Played) -> String {
    match p {
        Played::Library {
            path,
            same_build: Some(true),
        } => format!("{} (the build that was recorded)", path.display()),
        Played::Library {
            path,
            same_build: Some(false),
        } => format!("{} (another build than the one recorded)", path.display()),
        Played::Library {
            path,
            same_build: None,
        } => path.display().to_string(),
        Played::InProcess => "an in-process extension".into(),
        Played::Recording => "the recording".into(),
    }
}

fn text_report(args: &ReplayArgs, header: &Header, out: &ReplayOutcome, color: Color) -> String {
    let mut s = String::new();
    let recorded = match out.recorded_end {
        Some((n, _)) => format!("{n} events"),
        None => "no end frame".into(),
    };
    let _ = writeln!(
        s,
        "replay of {} ({} of faxsim {} on {}/{}, {recorded}), {} mode",
        args.trace.display(),
        header.origin,
        header.faxsim,
        header.platform.os,
        header.platform.arch,
        out.mode.name()
    );
    let width = out.names.iter().map(String::len).max().unwrap_or(0);
    for (name, p) in out.names.iter().zip(&out.played) {
        let _ = writeln!(s, "  {name:<width$}  played by {}", who_played(p));
    }
    let total = out
        .recorded_end
        .map_or_else(String::new, |(n, _)| format!(" of {n}"));
    if let Some(diff) = &out.differences {
        let (first, second) = match &args.against {
            Some(new) => ("the --ext build".to_string(), new.display().to_string()),
            None => ("the recording".to_string(), "the replay".to_string()),
        };
        if diff.is_empty() {
            let hash = match (out.hash_reproduced(), out.hash) {
                (Some(true), Some(h)) if args.against.is_none() => {
                    format!("; rolling hash {h:016x} reproduced")
                }
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "\n{}: {second} behaves as {first} does{hash}",
                color.green("SAME")
            );
        } else {
            let _ = writeln!(
                s,
                "\n{}: {} calls differ between {first} and {second}, in {} places (per extension and key):\n",
                color.red("DIFFERENT"),
                diff.changes(),
                diff.groups.len()
            );
            s.push_str(&diff.render(&first, &second));
        }
    }
    match &out.divergence {
        None if out.differences.is_some() => {}
        Some(d) => {
            let _ = writeln!(
                s,
                "\n{}: {} events{total} reproduced, then the runs part",
                color.red("DIVERGED"),
                out.reproduced
            );
            let _ = write!(s, "{}", d.report(&out.names));
        }
        None => {
            let hash = match (out.hash_reproduced(), out.recorded_end, out.hash) {
                (Some(true), _, Some(h)) => {
                    format!("; rolling hash {h:016x} reproduced (determinism check passed)")
                }
                (Some(false), Some((_, Some(r))), Some(h)) => format!(
                    "; rolling hash {h:016x} differs from the recorded {r:016x} (the replay made observations the recording could not)"
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "\n{}: {} events{total} identical{hash}",
                color.green("REPRODUCED"),
                out.reproduced
            );
        }
    }
    if let Some(why) = &out.truncated {
        let _ = writeln!(
            s,
            "note: the recording is cut ({why}); the replay went up to its last complete event"
        );
    }
    for e in &out.extras {
        let _ = writeln!(
            s,
            "note: the replay saw what the recording could not: {}",
            TextLine {
                event: e,
                names: &out.names
            }
        );
    }
    for n in &out.notes {
        let _ = writeln!(s, "note: {n}");
    }
    if out.findings.is_empty() {
        let _ = writeln!(s, "\nno findings in the replayed run");
    } else {
        let _ = writeln!(s, "\nfindings in the replayed run:");
        s.push_str(&finding_lines(&out.findings, &out.names, color));
        let _ = writeln!(s, "  (`faxsim rules` explains each rule)");
    }
    s
}

/// One line per finding: severity, rule, event, extension, message.
fn finding_lines(findings: &[faxsim_sim::Finding], names: &[String], color: Color) -> String {
    let mut s = String::new();
    for f in findings {
        let who = f
            .ext
            .map_or("-", |e| names.get(e.index()).map_or("?", String::as_str));
        let _ = writeln!(
            s,
            "  {} {:<24} event {:<5} {who}: {}",
            color.severity(f.severity),
            f.rule.id(),
            f.event,
            f.message
        );
    }
    s
}

/// The replay part of the JSON report.
#[derive(Serialize)]
struct ReplayJson<'a> {
    trace: String,
    mode: &'static str,
    against: Option<String>,
    differences: Option<&'a faxsim_replay::BehaviourDiff>,
    extensions: Vec<ExtensionJson<'a>>,
    reproduced: u64,
    recorded_events: Option<u64>,
    recorded_hash: Option<String>,
    hash: Option<String>,
    hash_reproduced: Option<bool>,
    divergence: Option<DivergenceJson>,
    truncated: Option<&'a str>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct ExtensionJson<'a> {
    name: &'a str,
    played_by: &'a Played,
}

#[derive(Serialize)]
struct DivergenceJson {
    index: u64,
    extension: Option<String>,
    device: Option<u32>,
    guid: Option<String>,
    expected: Option<String>,
    actual: Option<String>,
    reason: String,
    context: Vec<String>,
}

#[derive(Serialize)]
struct SnapshotJson {
    path: String,
    result: &'static str,
    pending: Option<String>,
}

#[derive(Serialize)]
struct Report<'a> {
    faxsim: &'static str,
    format: u32,
    replay: ReplayJson<'a>,
    snapshot: Option<SnapshotJson>,
    passed: bool,
    findings: Vec<FindingJson>,
}

fn json_report(args: &ReplayArgs, out: &ReplayOutcome, snap: Option<&SnapshotResult>) -> String {
    let snapshot = snap.map(|r| {
        let (path, result, pending) = match r {
            SnapshotResult::Written(p) => (p, "written", None),
            SnapshotResult::Matched(p) => (p, "matched", None),
            SnapshotResult::Updated(p) => (p, "updated", None),
            SnapshotResult::Missing(p) => (p, "missing", None),
            SnapshotResult::Differs { path, pending, .. } => (path, "differs", pending.as_ref()),
        };
        SnapshotJson {
            path: path.display().to_string(),
            result,
            pending: pending.map(|p| p.display().to_string()),
        }
    });
    let line = |e: &faxsim_trace::Event| {
        TextLine {
            event: e,
            names: &out.names,
        }
        .to_string()
        .trim_start()
        .to_string()
    };
    let divergence = out.divergence.as_ref().map(|d| {
        let key = d.key();
        DivergenceJson {
            index: d.index,
            extension: d.ext().and_then(|x| out.names.get(x.index()).cloned()),
            device: key.as_ref().map(|k| k.0),
            guid: key.map(|k| k.1.to_string()),
            expected: d.expected.as_ref().map(line),
            actual: d.actual.as_ref().map(line),
            reason: d.reason.clone(),
            context: d.context.iter().map(line).collect(),
        }
    });
    let findings: Vec<FindingJson> = out
        .findings
        .iter()
        .map(|f| FindingJson::new(f, &out.names))
        .collect();
    let failing = out
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error || args.deny_warnings);
    let report = Report {
        faxsim: env!("CARGO_PKG_VERSION"),
        format: FORMAT,
        replay: ReplayJson {
            trace: args.trace.display().to_string(),
            mode: out.mode.name(),
            against: args.against.as_ref().map(|p| p.display().to_string()),
            differences: out.differences.as_ref(),
            extensions: out
                .names
                .iter()
                .zip(&out.played)
                .map(|(name, played_by)| ExtensionJson { name, played_by })
                .collect(),
            reproduced: out.reproduced,
            recorded_events: out.recorded_end.map(|e| e.0),
            recorded_hash: out
                .recorded_end
                .and_then(|e| e.1)
                .map(|h| format!("{h:016x}")),
            hash: out.hash.map(|h| format!("{h:016x}")),
            hash_reproduced: out.hash_reproduced(),
            divergence,
            truncated: out.truncated.as_deref(),
            notes: &out.notes,
        },
        passed: out.divergence.is_none()
            && out.differences.as_ref().is_none_or(|d| d.is_empty())
            && !failing
            && snap.is_none_or(SnapshotResult::passed),
        snapshot,
        findings,
    };
    serde_json::to_string_pretty(&report).expect("reports serialise")
}
