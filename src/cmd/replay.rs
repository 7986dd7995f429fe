//! `faxsim replay TRACE --ext LIB...`: drive fresh builds of extensions with a recorded
//! service side and report where they behave differently from the recording.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use faxsim_host::isolate::{self, Ended};
use faxsim_replay::snapshot::{self, SnapshotResult, UpdateMode};
use faxsim_replay::{Mode, Played, Replay, ReplayError, ReplayOutcome};
use faxsim_sim::Severity;
use faxsim_trace::{Header, TextLine};
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
    /// Replay inside faxsim instead of in a child process (for a debugger): a build that
    /// crashes then ends faxsim. By default the replay runs in a child, so a build that
    /// crashes or hangs is reported (exit 3) with the replayed run up to that point kept
    /// (in --record's file, or a file the report names).
    #[arg(long, conflicts_with = "isolate")]
    pub in_process: bool,
    /// Accepted for compatibility: replays run in a child process by default.
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
    if !args.in_process {
        return run_isolated(args);
    }
    let mut replay = Replay::open(&args.trace)
        .map_err(input)?
        .thread_wait(Duration::from_millis(args.thread_wait_ms));
    for lib in &args.libs {
        replay = replay.library(lib);
    }
    if args.mode == ModeArg::Model {
        replay = replay.mode(Mode::Model);
    }
    if let Some(new) = &args.against {
        replay = replay.against(new);
    }
    let header = replay.header().clone();
    if let Some(path) = &args.record {
        let mut replayed = header.clone();
        replayed.origin = "replay".into();
        let sink = crate::report::trace_sink(path, &replayed).map_err(CliError::Input)?;
        replay = replay.sink(sink);
    }
    let outcome = replay.run().map_err(input)?;
    let snapshot = match &args.snapshot {
        Some(dir) => Some(take_snapshot(args, dir, &outcome)?),
        None => None,
    };
    let color = if args.output.is_some() {
        Color::plain()
    } else {
        color
    };
    let mut text = match args.format {
        ReplayFormat::Text => text_report(args, &header, &outcome, color),
        ReplayFormat::Json => json_report(args, &outcome, snapshot.as_ref()) + "\n",
    };
    if let (ReplayFormat::Text, Some(r)) = (args.format, &snapshot) {
        text.push_str(&snapshot_text(r, color));
    }
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| CliError::Input(format!("{}: cannot write: {e}", path.display())))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
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

/// The default: the same replay in a child `faxsim --in-process`, supervised (see
/// `faxsim_host::isolate`): its report is this one; a crash or hang is exit 3 with the
/// replayed prefix kept.
fn run_isolated(args: &ReplayArgs) -> Result<Outcome, CliError> {
    let scratch = std::env::temp_dir().join(format!("faxsim-replay-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let prefix = args.record.clone().unwrap_or_else(|| {
        let stem = args
            .trace
            .file_stem()
            .map_or_else(|| "replay".into(), |s| s.to_string_lossy().into_owned());
        scratch.join(format!("{stem}.replayed.trace"))
    });
    let report = scratch.join("report");
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("replay").arg(&args.trace).arg("--in-process");
    for lib in &args.libs {
        cmd.arg("--ext").arg(lib);
    }
    if let Some(new) = &args.against {
        cmd.arg("--against").arg(new);
    }
    if let Some(dir) = &args.snapshot {
        cmd.arg("--snapshot").arg(dir);
    }
    if args.deny_warnings {
        cmd.arg("--deny-warnings");
    }
    cmd.args([
        "--mode",
        match args.mode {
            ModeArg::Strict => "strict",
            ModeArg::Model => "model",
        },
        "--format",
        match args.format {
            ReplayFormat::Text => "text",
            ReplayFormat::Json => "json",
        },
        "--thread-wait-ms",
        &args.thread_wait_ms.to_string(),
        "--color",
        "never",
    ])
    .arg("--output")
    .arg(&report)
    .arg("--record")
    .arg(&prefix)
    .stdin(std::process::Stdio::null());
    let limit = Duration::from_millis(args.timeout_ms);
    let ended = isolate::supervise(cmd, &prefix, limit)?;
    let failure = match ended {
        // The child ends with its report written, or with 0-2 and its message on the
        // shared standard error. Any other end is a crash whatever the platform calls it
        // (Wine, for one, ends a process on an unhandled exception with code 3).
        Ended::Exited(status) if report.exists() || matches!(status.code(), Some(0..=2)) => {
            let code = status.code().unwrap_or(2);
            if let Ok(text) = std::fs::read(&report) {
                match &args.output {
                    Some(out) => std::fs::write(out, text).map_err(|e| {
                        CliError::Input(format!("{}: cannot write: {e}", out.display()))
                    })?,
                    None => std::io::stdout().lock().write_all(&text)?,
                }
            }
            let _ = std::fs::remove_file(&report);
            if args.record.is_none() {
                let _ = std::fs::remove_file(&prefix);
            }
            let _ = std::fs::remove_dir(&scratch);
            return Ok(Outcome::from_code(code));
        }
        Ended::Exited(status) => format!("crashed ({})", isolate::describe_exit(&status)),
        Ended::Crashed(detail) => format!("crashed ({detail})"),
        Ended::Hung => format!("did not answer within {} ms (hung)", args.timeout_ms),
    };
    // The replayed run up to the failure, from the child's trace.
    let salvaged = std::fs::File::open(&prefix)
        .ok()
        .and_then(|f| faxsim_trace::salvage(std::io::BufReader::new(f)).ok());
    let (events, names) = match &salvaged {
        Some(s) => (s.trace.events.clone(), s.trace.header.extension_names()),
        None => (Vec::new(), Vec::new()),
    };
    let who = faxsim_trace::OpenCalls::of(&events)
        .innermost()
        .map_or_else(
            || "the extension".to_string(),
            |call| {
                let name = call
                    .ext
                    .and_then(|x| names.get(x.index()).cloned())
                    .unwrap_or_else(|| "the extension".into());
                format!("{name}, inside {},", call.function)
            },
        );
    let mut text = format!(
        "replay of {}: {who} {failure} after {} replayed events\nthe replayed run up to there is in {} (faxsim show, faxsim check read it)\n",
        args.trace.display(),
        events.len(),
        prefix.display()
    );
    if args.format == ReplayFormat::Json {
        text = serde_json::to_string_pretty(&serde_json::json!({
            "faxsim": env!("CARGO_PKG_VERSION"),
            "format": FORMAT,
            "replay": {
                "trace": args.trace.display().to_string(),
                "failure": failure,
                "replayed_events": events.len(),
                "replayed_trace": prefix.display().to_string(),
            },
            "passed": false,
        }))
        .expect("reports serialise")
            + "\n";
    }
    match &args.output {
        Some(out) => std::fs::write(out, text)
            .map_err(|e| CliError::Input(format!("{}: cannot write: {e}", out.display())))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    let _ = std::fs::remove_file(&report);
    Ok(Outcome::Crashed)
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
        for f in &out.findings {
            let who = f.ext.map_or("-", |e| {
                out.names.get(e.index()).map_or("?", String::as_str)
            });
            let _ = writeln!(
                s,
                "  {} {:<24} event {:<5} {who}: {}",
                color.severity(f.severity),
                f.rule.id(),
                f.event,
                f.message
            );
        }
        let _ = writeln!(s, "  (`faxsim rules` explains each rule)");
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
