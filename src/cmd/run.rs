//! `faxsim run`: scenario files.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use faxsim_scenario::{Libraries, RunOptions, Scenario, ScenarioReport, collect_files};

use crate::cli::{CliError, Outcome};
use crate::report::Color;
use crate::report::json::{FindingJson, ReportJson, RunJson};

/// Output formats of `faxsim run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// One line per scenario, a summary, and each failure with the command that reproduces it.
    Text,
    /// The versioned JSON report (docs/cli.md).
    Json,
    /// JUnit XML: one testcase per scenario.
    Junit,
}

/// Arguments of `faxsim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files, or folders (every `*.toml` below, in sorted order).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Run every scenario with this seed instead of its own.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    pub format: RunFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A scenario that states no expectation on findings fails on a warning too, not only
    /// on an error (`[expect] findings` decides for the others).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Write one trace per scenario into this folder (`ownership/double-free.toml` becomes
    /// `ownership--double-free.trace`); read them with `faxsim show` and `faxsim check`.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Run scenarios that host libraries (`library = "..."`) inside faxsim instead of in a
    /// worker process (for a debugger): a crash of a library then ends faxsim.
    #[arg(long)]
    pub in_process: bool,
    /// How long a worker may go without an event before its scenario counts as hung.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
}

/// Where the trace of `scenario` goes under `dir`: its path below the common root, with
/// the folder separators made `--`, so every scenario gets its own flat file name.
fn trace_path(dir: &Path, scenario: &Path, root: &Path) -> PathBuf {
    let rel = scenario.strip_prefix(root).unwrap_or(scenario);
    let name: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|c| c != "." && c != "..")
        .collect();
    dir.join(format!("{}.trace", name.join("--")))
}

/// The folder all `files` share (so traces are named by their path below it).
fn common_root(files: &[PathBuf]) -> PathBuf {
    let mut root = files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for f in files {
        while !f.starts_with(&root) {
            if !root.pop() {
                return PathBuf::new();
            }
        }
    }
    root
}

fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for p in paths {
        let found =
            collect_files(p).map_err(|e| CliError::Input(format!("{}: {e}", p.display())))?;
        for skipped in &found.skipped {
            eprintln!("note: {skipped}");
        }
        let found = found.files;
        if found.is_empty() {
            return Err(CliError::Input(format!(
                "{}: no *.toml scenario below it",
                p.display()
            )));
        }
        files.extend(found);
    }
    Ok(files)
}

fn text_report(reports: &[ScenarioReport], color: Color, deny_warnings: bool) -> String {
    let mut out = String::new();
    for r in reports {
        let status = if r.passed {
            color.green("PASS")
        } else {
            color.red("FAIL")
        };
        let mut rules: Vec<&str> = r.findings.iter().map(|f| f.rule.id()).collect();
        rules.sort();
        rules.dedup();
        let findings = if rules.is_empty() {
            String::new()
        } else {
            format!("  [{}]", rules.join(", "))
        };
        out.push_str(&format!("{status} {}{findings}\n", display_path(&r.path)));
    }
    let failed: Vec<&ScenarioReport> = reports.iter().filter(|r| !r.passed).collect();
    out.push_str(&format!(
        "\n{} scenario{}: {} passed, {} failed\n",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        reports.len() - failed.len(),
        failed.len()
    ));
    for r in failed {
        out.push_str(&format!(
            "\n{} {}\n",
            color.red("failed:"),
            display_path(&r.path)
        ));
        for f in &r.failures {
            out.push_str(&format!("  - {f}\n"));
        }
        for f in &r.findings {
            let who = f
                .ext
                .map_or("-".to_string(), |e| r.names[e.index()].clone());
            out.push_str(&format!(
                "    {} {} at event {} ({who}): {}\n",
                color.severity(f.severity).trim_end(),
                f.rule,
                f.event,
                f.message
            ));
        }
        out.push_str(&format!(
            "  reproduce: faxsim run {} --seed {}{}\n",
            display_path(&r.path),
            r.seed,
            if deny_warnings {
                " --deny-warnings"
            } else {
                ""
            }
        ));
    }
    out
}

fn display_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

fn json_report(reports: &[ScenarioReport]) -> String {
    let runs = reports
        .iter()
        .map(|r| RunJson {
            name: format!("run:{}", display_path(&r.path)),
            seed: r.seed,
            passed: r.passed,
            findings: r
                .findings
                .iter()
                .map(|f| FindingJson::new(f, &r.names))
                .collect(),
            failures: r.failures.clone(),
            coverage: None,
        })
        .collect();
    ReportJson::new(runs).to_json() + "\n"
}

fn junit_report(reports: &[ScenarioReport]) -> Result<String, CliError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new("faxsim run");
    for r in reports {
        let status = if r.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(r.failures.join("; "));
            s
        };
        let mut case = TestCase::new(r.name.clone(), status);
        case.set_classname(display_path(&r.path));
        let findings: Vec<String> = r
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} {} at event {}: {}",
                    f.severity, f.rule, f.event, f.message
                )
            })
            .collect();
        if !findings.is_empty() {
            case.set_system_out(findings.join("\n"));
        }
        suite.add_test_case(case);
    }
    let mut report = Report::new("faxsim");
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| CliError::Input(format!("cannot write the JUnit report: {e}")))
}

/// Runs a scenario in this process: its report, and why its trace could not be created.
fn run_here(
    args: &RunArgs,
    scenario: &Scenario,
    trace: Option<&Path>,
) -> Result<(ScenarioReport, Option<String>), CliError> {
    // A trace that cannot be created leaves the scenario unrecorded, not unrun.
    let mut create_error = None;
    let mut sinks = |svc: &faxsim_sim::Service| {
        let Some(path) = trace else {
            return Ok(Vec::new());
        };
        match crate::report::trace_sink(path, &svc.trace_header(scenario.trace_extensions(svc))) {
            Ok(sink) => Ok(vec![sink]),
            Err(e) => {
                create_error = Some(e);
                Ok(Vec::new())
            }
        }
    };
    let report = scenario
        .run_with(
            RunOptions {
                seed: args.seed,
                libraries: Libraries::Host,
                deny_warnings: args.deny_warnings,
                explore: None,
            },
            &mut sinks,
        )
        .map_err(|e| CliError::Input(e.to_string()))?;
    Ok((report, create_error))
}

/// Runs a scenario that hosts libraries in a worker process (`faxsim-worker`): its
/// report, why its trace could not be written, and whether a library crashed or hung.
fn run_in_worker(
    args: &RunArgs,
    scenario: &Scenario,
    path: &str,
    trace: Option<&Path>,
) -> Result<((ScenarioReport, Option<String>), bool), CliError> {
    use faxsim_worker::{Job, JobEnd, PoolConfig, ScenarioJob};
    let cfg = PoolConfig {
        program: std::env::current_exe()?,
        worker_args: vec!["__worker".into()],
        libs: Vec::new(),
        kind: None,
        hang_limit: std::time::Duration::from_millis(args.timeout_ms),
        workers: 1,
        output: std::sync::Arc::new(|line: &str| eprintln!("{line}")),
    };
    let job = Job::Scenario(ScenarioJob {
        path: path.to_string(),
        seed: args.seed,
        deny_warnings: args.deny_warnings,
        explore: None,
    });
    let mut sink_for = |_: &Job, header: &faxsim_trace::Header| match trace {
        Some(p) => crate::report::trace_sink(p, header).map(Some),
        None => Ok(None),
    };
    let mut result = None;
    faxsim_worker::run_jobs(&cfg, &[job], &mut sink_for, |_, r| {
        result = Some(r);
        std::ops::ControlFlow::Break(())
    })?;
    let Some(r) = result else {
        return Err(CliError::Input(format!(
            "{}: the worker ended without a result",
            scenario.path.display()
        )));
    };
    let names = r.scenario_names();
    let report = match r.scenario {
        Some(end) => ScenarioReport {
            name: end.name,
            path: scenario.path.clone(),
            seed: end.seed,
            passed: end.passed,
            findings: end.findings,
            failures: end.failures,
            names,
            events: r.events,
            recording_error: None,
        },
        None => {
            // It crashed or hung: no expectation can be judged.
            let findings = r.scenario_findings();
            let what = if r.end == JobEnd::Hung {
                "hung"
            } else {
                "crashed"
            };
            ScenarioReport {
                name: scenario.name.clone(),
                path: scenario.path.clone(),
                seed: r.header.as_ref().map_or(0, |h| h.seed),
                passed: false,
                findings,
                failures: vec![format!(
                    "a library {what}: the run ended there, so no expectation was judged"
                )],
                names,
                events: r.events,
                recording_error: None,
            }
        }
    };
    Ok(((report, r.recording_error), r.end != JobEnd::Completed))
}

/// Runs `faxsim run`.
pub fn run(args: &RunArgs, color: Color) -> Result<Outcome, CliError> {
    if let Some(out) = &args.output {
        crate::report::check_writable(out)?;
    }
    let files = scenario_files(&args.paths)?;
    let root = common_root(&files);
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Input(format!("{}: cannot create: {e}", dir.display())))?;
    }
    let mut reports = Vec::with_capacity(files.len());
    // Traces that could not be written: said after the report, which is never lost.
    let mut unrecorded = Vec::new();
    let mut crashed = false;
    for f in &files {
        let scenario = Scenario::load(f).map_err(|e| CliError::Input(e.to_string()))?;
        let trace = args.record.as_ref().map(|dir| trace_path(dir, f, &root));
        // Scenarios that host libraries run in a worker process, so a library that
        // crashes or hangs costs its scenario, not the run (a UTF-8 path is needed to name
        // the file to the worker; any other runs in process).
        let isolated = scenario.hosts_libraries() && !args.in_process;
        let worker_path = f.to_str().filter(|_| isolated);
        let (report, recording_error) = match worker_path {
            Some(path) => {
                let (report, ended) = run_in_worker(args, &scenario, path, trace.as_deref())?;
                crashed |= ended;
                report
            }
            None => run_here(args, &scenario, trace.as_deref())?,
        };
        if let (Some(e), Some(path)) = (&report.recording_error, &trace) {
            unrecorded.push(crate::report::trace_error(path, e));
        }
        unrecorded.extend(recording_error);
        reports.push(report);
    }
    let color = if args.output.is_some() {
        Color::plain()
    } else {
        color
    };
    let text = match args.format {
        RunFormat::Text => text_report(&reports, color, args.deny_warnings),
        RunFormat::Json => json_report(&reports),
        RunFormat::Junit => junit_report(&reports)?,
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| CliError::Input(format!("{}: cannot write: {e}", path.display())))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    for e in &unrecorded {
        eprintln!("faxsim: {e}");
    }
    Ok(if crashed {
        Outcome::Crashed
    } else if !unrecorded.is_empty() {
        Outcome::BadInput
    } else {
        Outcome::found_if(!reports.iter().all(|r| r.passed))
    })
}
