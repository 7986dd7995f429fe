//! The report of `faxsim validate`: each seed's events checked into a [`SeedRun`], and
//! the text, JSON and JUnit forms of a whole run. The command itself
//! (`src/cmd/validate.rs`) only handles arguments and hands the jobs to the worker crate.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use faxsim_host::battery::{self, PEER_NAME, PLACEHOLDER_METHOD};
use faxsim_host::coverage::{CALLBACKS, Coverage};
use faxsim_sim::trace::{ExtId, ExtensionKind};
use faxsim_sim::{DeliveryPolicy, Finding, Severity};
use faxsim_worker::{JobEnd, JobResult, Library as Lib};
use serde::Serialize;

use crate::report::Color;
use crate::report::json::{FORMAT, FindingJson, ReportJson, RunJson};

/// One battery run.
#[derive(Debug)]
pub struct SeedRun {
    pub seed: u64,
    pub delivery: DeliveryPolicy,
    pub names: Vec<String>,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    /// The extension crashed or hung (isolated).
    pub fatal: bool,
    /// Why `--record` could not write this seed's trace (the report is kept; exit 2).
    pub trace_error: Option<String>,
    /// What each library (in the order of `libs`) was exercised with.
    pub coverage: Vec<Coverage>,
}

/// How many findings of one rule a library's text report prints; the rest are counted.
const SHOWN_PER_RULE: usize = 3;

/// What of the command line the report shows.
pub struct View<'a> {
    /// `--deny-warnings`.
    pub deny_warnings: bool,
    /// `--fail-fast`.
    pub fail_fast: bool,
    /// The seeds planned (a run may stop before).
    pub planned: usize,
    /// Whether `--routing-method` was given.
    pub methods_named: bool,
    /// The command that runs one seed alone.
    pub reproduce: &'a dyn Fn(u64) -> String,
    /// The trace `--record` wrote for a seed.
    pub trace_of: &'a dyn Fn(u64) -> Option<std::path::PathBuf>,
}

/// One job's outcome, checked: the same checker for worker and in-process runs.
pub fn seed_run(libs: &[Lib], result: JobResult) -> SeedRun {
    let JobResult {
        job,
        events,
        notes,
        end,
        recording_error,
        ..
    } = result;
    let faxsim_worker::Job::Battery(job) = job else {
        unreachable!("validate runs battery jobs only")
    };
    let mut names: Vec<String> = libs.iter().map(|l| l.name.clone()).collect();
    names.push(PEER_NAME.into());
    let findings = battery::check(names.clone(), job.delivery, &events);
    // The libraries are attached first, in order.
    let coverage = (0..libs.len())
        .map(|i| Coverage::of(&events, ExtId(i as u16)))
        .collect();
    SeedRun {
        seed: job.seed,
        delivery: job.delivery,
        names,
        findings,
        notes,
        fatal: end != JobEnd::Completed,
        trace_error: recording_error,
        coverage,
    }
}

fn lib_index(run: &SeedRun, libs: &[Lib], f: &Finding) -> Option<usize> {
    let name = run.names.get(f.ext?.index())?;
    libs.iter().position(|l| &l.name == name)
}

fn passed(findings: &[&Finding], deny_warnings: bool) -> bool {
    !findings
        .iter()
        .any(|f| f.severity == Severity::Error || deny_warnings)
}

fn kind_text(k: Option<ExtensionKind>) -> &'static str {
    match k {
        Some(ExtensionKind::Fsp) => "FSP",
        Some(ExtensionKind::VirtualFsp) => "virtual FSP",
        Some(ExtensionKind::Routing) => "routing extension",
        None => "extension",
    }
}

/// Library `li`'s coverage over every run.
fn merged_coverage(runs: &[SeedRun], li: usize) -> Coverage {
    let mut c = Coverage::default();
    for r in runs {
        if let Some(x) = r.coverage.get(li) {
            c.merge(x);
        }
    }
    c
}

/// `Name 3, Other 1` for counted names.
fn counts<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> String {
    let v: Vec<String> = items.map(|(n, k)| format!("{n} {k}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The coverage lines of a library's section in the text report.
fn coverage_text(c: &Coverage) -> String {
    let entry = counts(
        c.entry_points
            .iter()
            .map(|(k, n)| (k.function(), *n))
            .chain(c.other_entry_points.iter().map(|(k, n)| (k.as_str(), *n))),
    );
    let used = counts(
        CALLBACKS
            .iter()
            .filter(|k| c.calls(**k) > 0)
            .map(|k| (k.function(), c.calls(*k))),
    );
    let never: Vec<&str> = CALLBACKS
        .iter()
        .filter(|k| c.calls(**k) == 0)
        .map(|k| k.function())
        .collect();
    let mut out =
        format!("  coverage:\n    entry points called:  {entry}\n    callbacks used:       {used}");
    if !never.is_empty() {
        out.push_str(&format!(" (never: {})", never.join(", ")));
    }
    if !c.routines.is_empty() {
        let routines = counts(c.routines.iter().map(|(k, n)| (*k, *n)));
        out.push_str(&format!("\n    routing routines:     {routines}"));
    }
    let (planned, fired) = c.faults_planned_fired();
    out.push_str(&format!(
        "\n    injected failures:    {fired} of {planned} fired"
    ));
    let missing = c.faults_not_reached();
    if !missing.is_empty() {
        let parts: Vec<String> = missing
            .iter()
            .map(|(cb, codes)| {
                if codes.len() == cb.injectable_anywhere().len() {
                    format!("{} (all {} codes)", cb.name(), codes.len())
                } else {
                    let names: Vec<String> = codes
                        .iter()
                        .map(|c| faxsim_sim::trace::text::win32_name(*c))
                        .collect();
                    format!("{} {}", cb.name(), names.join(", "))
                }
            })
            .collect();
        out.push_str(&format!("; never reached: {}", parts.join("; ")));
    }
    out.push('\n');
    out
}

/// Plain words for a library whose general init returned FALSE: the service left it out
/// of those runs (choices L9), so they tested nothing of it after that.
fn init_refused_text(lib: &Lib, c: &Coverage) -> String {
    let (entry, left_out) = if lib.kind.is_some_and(|k| k.is_provider()) {
        (
            "FaxDevInitialize",
            "no notifications, no jobs, no FaxDevShutdown",
        )
    } else {
        (
            "FaxRouteInitialize",
            "no notifications, no device or routing calls",
        )
    };
    format!(
        "  attention: {}'s {entry} returned FALSE in {} of {} service runs; the service did \
         not use it for the rest of those runs ({left_out}).\n",
        lib.name,
        c.init_refused,
        c.general_inits()
    )
}

/// Plain words for a library the battery did not reach: nothing it does with its
/// configuration was checked, and what to pass instead.
fn not_exercised_text(lib: &Lib, methods_given: bool) -> String {
    let mut out = format!(
        "  attention: {} made no configuration call (GetData, SetData, RegisterForEvents) in \
         anything the battery drove, so no rule about them was checked: \"no findings\" \
         means nothing here.\n",
        lib.name
    );
    let hint = match lib.kind {
        Some(ExtensionKind::Routing) if !methods_given => format!(
            "    Its routing methods were administered only under the placeholder GUID \
             {PLACEHOLDER_METHOD}: pass --routing-method GUID=FUNCTION for each of its \
             methods (FUNCTION: the method's exported function), so the battery administers \
             them and routes a received fax through them.\n"
        ),
        Some(ExtensionKind::Routing) => {
            "    If it reads its configuration only when it routes a fax, name each method's \
             function: --routing-method GUID=FUNCTION.\n"
                .to_string()
        }
        _ => "    The battery ran receive, send and aborted jobs through every job entry point \
             it exports (FaxDevStartJob … FaxDevEndJob); if it reads its settings only from \
             its TAPI line callback, faxsim does not drive that (no TAPI: see \
             docs/validate.md).\n"
            .to_string(),
    };
    out.push_str(&hint);
    out
}

/// One finding's line in the text report; with the run's trace, a second line with the
/// command that draws the part of the run around it.
fn finding_line(f: &Finding, run: &SeedRun, view: &View<'_>, color: Color) -> String {
    let mut line = format!(
        "  {} {:<24} seed {}, event {}: {}\n",
        color.severity(f.severity),
        f.rule.id(),
        run.seed,
        f.event,
        f.message
    );
    if run.trace_error.is_none()
        && let Some(path) = (view.trace_of)(run.seed)
    {
        line += &format!(
            "  {:<32} draw it: {}\n",
            "",
            crate::report::around_command(&path, f.event)
        );
    }
    line
}

/// The text report, grouped by library.
pub fn text_report(libs: &[Lib], runs: &[SeedRun], view: &View<'_>, color: Color) -> String {
    let deny_warnings = view.deny_warnings;
    let mut not_exercised = 0usize;
    let mut out = String::new();
    let seeds = match runs {
        [one] => format!(
            "seed {} ({} delivery, devices at start {})",
            one.seed,
            one.delivery.name(),
            if battery::announces_at_start(one.seed) {
                "announced"
            } else {
                "not announced"
            }
        ),
        _ => format!(
            "{} seeds ({}..={}, delivery rotated sync/shuffled/deferred, devices at start \
             announced or not)",
            runs.len(),
            runs.first().map_or(0, |r| r.seed),
            runs.last().map_or(0, |r| r.seed)
        ),
    };
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    out.push_str(&format!(
        "faxsim validate: {}, {seeds}\n\n",
        libraries(libs.len())
    ));
    let (mut errors, mut warnings) = (0usize, 0usize);
    for (li, lib) in libs.iter().enumerate() {
        out.push_str(&format!(
            "{}  ({})  {}\n",
            color.bold(&lib.name),
            kind_text(lib.kind),
            lib.path.display()
        ));
        if !lib.takes_part {
            out.push_str("  note: it does not export FaxExtInitializeConfig, so it takes no part in the configuration protocol\n");
        }
        // At most SHOWN_PER_RULE findings of each rule are printed (the first ones, in
        // seed order); the rest are counted with the seeds they came from.
        let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
        let mut hidden: BTreeMap<&str, (usize, BTreeSet<u64>)> = BTreeMap::new();
        let mut seen = HashSet::new();
        let mut any = false;
        for run in runs {
            for f in run
                .findings
                .iter()
                .filter(|f| lib_index(run, libs, f) == Some(li))
            {
                any = true;
                match f.severity {
                    Severity::Error => errors += 1,
                    Severity::Warning => warnings += 1,
                }
                let n = shown.entry(f.rule.id()).or_default();
                if *n >= SHOWN_PER_RULE || !seen.insert((f.rule, f.message.clone())) {
                    let h = hidden.entry(f.rule.id()).or_default();
                    h.0 += 1;
                    h.1.insert(run.seed);
                    continue;
                }
                *n += 1;
                out.push_str(&finding_line(f, run, view, color));
            }
        }
        for (rule, (count, seeds)) in &hidden {
            let list: Vec<String> = seeds.iter().take(12).map(u64::to_string).collect();
            out.push_str(&format!(
                "  ({count} more {rule} {} not shown, in seed{} {}{})\n",
                if *count == 1 { "finding" } else { "findings" },
                if seeds.len() == 1 { "" } else { "s" },
                list.join(", "),
                if seeds.len() > list.len() {
                    ", …"
                } else {
                    ""
                }
            ));
        }
        if !any {
            out.push_str("  no findings\n");
        }
        if lib.kind.is_none() {
            out.push_str("  no coverage: the battery never ran (a library crashed or hung while it was loaded)\n");
        } else if lib.takes_part {
            let c = merged_coverage(runs, li);
            out.push_str(&coverage_text(&c));
            if c.init_refused > 0 {
                not_exercised += 1;
                out.push_str(&init_refused_text(lib, &c));
            }
            for (why, n) in &c.devices_refused {
                not_exercised += 1;
                out.push_str(&format!(
                    "  attention: the service refused {}'s devices in {n} service run{}: \
                     {why}; it was not used there (choices L7).\n",
                    lib.name,
                    if *n == 1 { "" } else { "s" }
                ));
            }
            // (A library the service refused has had its attention line already.)
            if c.configuration_calls() == 0 && c.devices_refused.is_empty() {
                not_exercised += 1;
                out.push_str(&not_exercised_text(lib, view.methods_named));
            }
        }
        out.push('\n');
    }
    let others: Vec<(&SeedRun, &Finding)> = runs
        .iter()
        .flat_map(|r| r.findings.iter().map(move |f| (r, f)))
        .filter(|(r, f)| lib_index(r, libs, f).is_none())
        .collect();
    if !others.is_empty() {
        out.push_str(&color.bold("other findings"));
        out.push('\n');
        for (run, f) in others {
            match f.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            out.push_str(&finding_line(f, run, view, color));
        }
        out.push('\n');
    }
    let mut notes = BTreeMap::new();
    for r in runs {
        for n in &r.notes {
            notes.entry(n.clone()).or_insert(r.seed);
        }
    }
    if !notes.is_empty() {
        out.push_str(&color.bold("host notes"));
        out.push('\n');
        for (n, seed) in notes {
            out.push_str(&format!("  seed {seed}: {n}\n"));
        }
        out.push('\n');
    }
    let failing: Vec<u64> = runs
        .iter()
        .filter(|r| r.fatal || !r.findings.is_empty())
        .map(|r| r.seed)
        .collect();
    if runs.len() > 1 && !failing.is_empty() {
        let shown: Vec<String> = failing.iter().take(20).map(u64::to_string).collect();
        out.push_str(&format!(
            "seeds with findings: {}{} ({} of {})\nreproduce: {}\n\n",
            shown.join(", "),
            if failing.len() > shown.len() {
                ", …"
            } else {
                ""
            },
            failing.len(),
            runs.len(),
            (view.reproduce)(failing[0])
        ));
    }
    let planned = view.planned;
    if runs.len() < planned {
        let why = if view.fail_fast {
            "--fail-fast"
        } else {
            "a library crashed or hung while it was loaded, so no seed can run"
        };
        out.push_str(&format!(
            "stopped early ({why}): {} of {planned} seeds ran\n\n",
            runs.len()
        ));
    }
    let all: Vec<&Finding> = runs.iter().flat_map(|r| &r.findings).collect();
    if let Some(f) = all.first() {
        out.push_str(&format!(
            "explain a rule (the typical bug, its fix): faxsim rules {}\n",
            f.rule.id()
        ));
        if (view.trace_of)(runs.first().map_or(0, |r| r.seed)).is_none() {
            out.push_str(
                "draw a finding as a sequence diagram: add --record run.trace, then faxsim show \
                 run.trace --format mermaid --around EVENT\n",
            );
        }
        out.push('\n');
    }
    let hung = all
        .iter()
        .any(|f| f.rule == faxsim_sim::Rule::ExtensionHung);
    let verdict = if runs.iter().any(|r| r.fatal) && hung {
        "HUNG"
    } else if runs.iter().any(|r| r.fatal) {
        "CRASHED"
    } else if passed(&all, deny_warnings) && not_exercised > 0 {
        "PASSED, but see the attention above: not everything was exercised"
    } else if passed(&all, deny_warnings) {
        "PASSED"
    } else {
        "FAILED"
    };
    out.push_str(&format!(
        "summary: {}, {} in {} over {}: {verdict}\n",
        plural(errors, "error"),
        plural(warnings, "warning"),
        libraries(libs.len()),
        plural(runs.len(), "seed")
    ));
    out
}

fn libraries(n: usize) -> String {
    if n == 1 {
        "1 library".into()
    } else {
        format!("{n} libraries")
    }
}

/// What a library was exercised with in one run (`coverage` of a validate run's JSON).
#[derive(Clone, Debug, Serialize)]
pub struct CoverageJson {
    /// Calls the service made into the library, by function.
    entry_points: BTreeMap<String, u64>,
    /// Calls the library made to the service, by callback (every callback, 0 if unused).
    callbacks: BTreeMap<&'static str, u64>,
    /// Calls the library made to the `FAX_ROUTE_CALLBACKROUTINES` routines, by name (only
    /// those it used).
    routing_routines: BTreeMap<&'static str, u64>,
    /// GetData + SetData + RegisterForEvents: 0 means the rules about them were not
    /// exercised.
    configuration_calls: u64,
    /// Service runs in which the general init returned FALSE (the library was not used
    /// for the rest of each).
    init_refused: u64,
    /// Why the service refused a virtual FSP's devices → in how many service runs.
    devices_refused: BTreeMap<String, u64>,
    injected_failures: FailuresJson,
}

#[derive(Clone, Debug, Serialize)]
struct FailuresJson {
    planned: usize,
    fired: usize,
    not_reached: Vec<NotReachedJson>,
}

#[derive(Clone, Debug, Serialize)]
struct NotReachedJson {
    callback: &'static str,
    codes: Vec<String>,
}

fn coverage_json(c: &Coverage) -> CoverageJson {
    let (planned, fired) = c.faults_planned_fired();
    CoverageJson {
        entry_points: c
            .entry_points
            .iter()
            .map(|(k, n)| (k.function().to_string(), *n))
            .chain(c.other_entry_points.iter().map(|(k, n)| (k.clone(), *n)))
            .collect(),
        callbacks: CALLBACKS
            .iter()
            .map(|k| (k.function(), c.calls(*k)))
            .collect(),
        routing_routines: c.routines.clone(),
        configuration_calls: c.configuration_calls(),
        init_refused: c.init_refused,
        devices_refused: c.devices_refused.clone(),
        injected_failures: FailuresJson {
            planned,
            fired,
            not_reached: c
                .faults_not_reached()
                .into_iter()
                .map(|(cb, codes)| NotReachedJson {
                    callback: cb.name(),
                    codes: codes
                        .iter()
                        .map(|c| faxsim_sim::trace::text::win32_name(*c))
                        .collect(),
                })
                .collect(),
        },
    }
}

fn finding_json(run: &SeedRun, f: &Finding) -> FindingJson {
    FindingJson::new(f, &run.names)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The JSON report (`docs/cli.md`), with each library's coverage per run.
pub fn json_report(libs: &[Lib], runs: &[SeedRun], deny_warnings: bool) -> String {
    let mut out = Vec::new();
    let mut flat = Vec::new();
    for run in runs {
        for (li, lib) in libs.iter().enumerate() {
            let mine: Vec<&Finding> = run
                .findings
                .iter()
                .filter(|f| lib_index(run, libs, f) == Some(li))
                .collect();
            let ok = passed(&mine, deny_warnings);
            out.push(RunJson {
                name: format!("validate:{}", file_name(&lib.path)),
                seed: run.seed,
                passed: ok,
                findings: mine.iter().map(|f| finding_json(run, f)).collect(),
                failures: Vec::new(),
                coverage: (lib.takes_part && lib.kind.is_some())
                    .then(|| run.coverage.get(li).map(coverage_json))
                    .flatten(),
            });
        }
        let rest: Vec<&Finding> = run
            .findings
            .iter()
            .filter(|f| lib_index(run, libs, f).is_none())
            .collect();
        if !rest.is_empty() {
            out.push(RunJson {
                name: "validate".into(),
                seed: run.seed,
                passed: passed(&rest, deny_warnings),
                findings: rest.iter().map(|f| finding_json(run, f)).collect(),
                failures: Vec::new(),
                coverage: None,
            });
        }
        flat.extend(run.findings.iter().map(|f| finding_json(run, f)));
    }
    // Every finding in run order (not grouped by library, as `runs` is).
    ReportJson {
        faxsim: env!("CARGO_PKG_VERSION"),
        format: FORMAT,
        runs: out,
        findings: flat,
    }
    .to_json()
}

/// JUnit XML: one test case per library per seed, coverage as suite properties.
pub fn junit_report(libs: &[Lib], runs: &[SeedRun], deny_warnings: bool) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("faxsim validate");
    for (li, lib) in libs.iter().enumerate() {
        let mut suite = TestSuite::new(format!("validate:{}", file_name(&lib.path)));
        for run in runs {
            let mine: Vec<&Finding> = run
                .findings
                .iter()
                .filter(|f| lib_index(run, libs, f) == Some(li))
                .collect();
            let name = format!("seed {} ({} delivery)", run.seed, run.delivery.name());
            let status = if passed(&mine, deny_warnings) {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let first = mine
                    .first()
                    .map_or(String::new(), |f| format!("{}: {}", f.rule.id(), f.message));
                s.set_message(first);
                s.set_type("faxsim-finding");
                let body: Vec<String> = mine
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {} event {}: {}",
                            f.severity.name(),
                            f.rule.id(),
                            f.event,
                            f.message
                        )
                    })
                    .collect();
                s.set_description(body.join("\n"));
                s
            };
            let mut case = TestCase::new(name, status);
            case.set_classname(lib.name.clone());
            suite.add_test_case(case);
        }
        if lib.takes_part && lib.kind.is_some() {
            // What the library was exercised with over every seed.
            let c = merged_coverage(runs, li);
            for (k, n) in &c.entry_points {
                suite.add_property((format!("coverage.entry.{}", k.function()), n.to_string()));
            }
            for (k, n) in &c.other_entry_points {
                suite.add_property((format!("coverage.entry.{k}"), n.to_string()));
            }
            for k in CALLBACKS {
                suite.add_property((
                    format!("coverage.callback.{}", k.function()),
                    c.calls(k).to_string(),
                ));
            }
            let (planned, fired) = c.faults_planned_fired();
            suite.add_property((
                "coverage.injected-failures".to_string(),
                format!("{fired}/{planned}"),
            ));
            suite.add_property((
                "coverage.configuration-calls".to_string(),
                c.configuration_calls().to_string(),
            ));
            suite.add_property((
                "coverage.init-refused".to_string(),
                c.init_refused.to_string(),
            ));
            suite.add_property((
                "coverage.devices-refused".to_string(),
                c.devices_refused.values().sum::<u64>().to_string(),
            ));
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write JUnit: {e} -->\n"))
}
