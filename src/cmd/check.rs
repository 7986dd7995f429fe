//! `faxsim check`: the rule catalog over recorded traces, streamed (a trace is never
//! held in memory whole).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use faxsim_sim::{Checker, CheckerConfig, Finding, Severity};

use crate::cli::{CliError, Format, Outcome};
use crate::cmd::show::{open_trace, print_notes};
use crate::report::Color;
use crate::report::json::{FindingJson, ReportJson, RunJson};

/// Arguments of `faxsim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Trace files (binary or JSON Lines), from the simulator or a recorder.
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// One checked trace.
struct Checked {
    path: PathBuf,
    seed: u64,
    names: Vec<String>,
    events: u64,
    findings: Vec<Finding>,
}

/// A trace read through the checker.
pub struct CheckedTrace {
    /// The opened input, read to its end or its damage (for its notes).
    pub input: crate::cmd::show::TraceInput,
    /// The events read.
    pub events: u64,
    /// The findings (without the end-of-stream judgement when the trace is damaged).
    pub findings: Vec<Finding>,
    /// The damage that stopped the reading.
    pub damage: Option<faxsim_trace::TraceError>,
}

/// Reads the trace at `path` through the checker, streamed, saying nothing. Damage after
/// the header ends the reading: the events before it are still checked (without the
/// end-of-stream judgement, which a cut trace cannot support).
pub fn check_trace(path: &Path) -> Result<CheckedTrace, CliError> {
    let mut input = open_trace(path)?;
    let header = input.header().clone();
    let mut checker = Checker::new(CheckerConfig::for_header(&header));
    let mut events = 0;
    let mut open = faxsim_sim::trace::OpenCalls::default();
    let damage = loop {
        match input.next_event() {
            Ok(Some(e)) => {
                checker.observe(&e);
                open.observe(&e);
                events += 1;
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    if damage.is_none() {
        checker.finish();
    }
    let mut findings = checker.take_findings();
    crate::report::name_interrupted_call(&mut findings, &open);
    Ok(CheckedTrace {
        input,
        events,
        findings,
        damage,
    })
}

/// Checks one trace, saying on stderr what the reader noted and where damage stopped
/// it; the second value says whether the file was damaged.
fn check_one(path: &Path) -> Result<(Checked, bool), CliError> {
    let checked = check_trace(path)?;
    let header = checked.input.header().clone();
    print_notes(path, checked.input.notes());
    let damaged = match &checked.damage {
        None => {
            crate::cmd::show::note_headerless(path, &checked.input);
            false
        }
        Some(e) => {
            eprintln!(
                "faxsim: {}: {e}; checked the {} events before it",
                path.display(),
                checked.events
            );
            true
        }
    };
    Ok((
        Checked {
            path: path.to_path_buf(),
            seed: header.seed,
            names: header.extension_names(),
            events: checked.events,
            findings: checked.findings,
        },
        damaged,
    ))
}

fn passed(findings: &[Finding], deny_warnings: bool) -> bool {
    !findings
        .iter()
        .any(|f| deny_warnings || f.severity == Severity::Error)
}

fn text_report(runs: &[Checked], deny_warnings: bool, color: Color) -> String {
    let mut out = String::new();
    for r in runs {
        let ok = passed(&r.findings, deny_warnings);
        let status = if ok {
            color.green("PASS")
        } else {
            color.red("FAIL")
        };
        out += &format!(
            "{status} {} (seed {}, {} events)\n",
            r.path.display(),
            r.seed,
            r.events
        );
        for f in &r.findings {
            let who = f.ext.map_or("-".to_string(), |e| {
                r.names
                    .get(e.index())
                    .cloned()
                    .unwrap_or_else(|| format!("ext#{}", e.0))
            });
            // Messages name the extension already; the name is added only where not.
            let who = if f.message.contains(who.as_str()) {
                String::new()
            } else {
                format!("[{who}] ")
            };
            out += &format!(
                "  {} {:<24} event {}: {who}{}\n",
                color.severity(f.severity),
                f.rule.id(),
                f.event,
                f.message
            );
            out += &format!(
                "  {:<32} draw it: {}\n",
                "",
                crate::report::around_command(&r.path, f.event)
            );
        }
    }
    let failed = runs
        .iter()
        .filter(|r| !passed(&r.findings, deny_warnings))
        .count();
    let count = |s| {
        runs.iter()
            .flat_map(|r| &r.findings)
            .filter(|f| f.severity == s)
            .count()
    };
    if let Some(f) = runs.iter().flat_map(|r| &r.findings).next() {
        out += &format!(
            "\nexplain a rule (the typical bug, its fix): faxsim rules {}\n",
            f.rule.id()
        );
    }
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    out += &format!(
        "\n{} checked, {failed} failed: {}, {}\n",
        plural(runs.len(), "trace"),
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning")
    );
    out
}

/// Runs `faxsim check`.
pub fn run(args: &CheckArgs, color: Color) -> Result<Outcome, CliError> {
    let mut runs = Vec::new();
    let mut bad = false;
    for path in &args.traces {
        match check_one(path) {
            Ok((checked, damaged)) => {
                bad |= damaged;
                runs.push(checked);
            }
            Err(e) => {
                eprintln!("faxsim: {e}");
                bad = true;
            }
        }
    }
    let text = match args.format {
        Format::Text => text_report(&runs, args.deny_warnings, color),
        Format::Json => {
            let json_runs = runs
                .iter()
                .map(|r| RunJson {
                    name: format!("check:{}", r.path.display()),
                    seed: r.seed,
                    passed: passed(&r.findings, args.deny_warnings),
                    findings: r
                        .findings
                        .iter()
                        .map(|f| FindingJson::new(f, &r.names))
                        .collect(),
                    failures: Vec::new(),
                    coverage: None,
                })
                .collect();
            ReportJson::new(json_runs).to_json() + "\n"
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(if bad {
        Outcome::BadInput
    } else if runs.iter().all(|r| passed(&r.findings, args.deny_warnings)) {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}
