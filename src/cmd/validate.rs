//! `faxsim validate LIB...`: host real extension libraries in one simulated service, run
//! the standard battery, report every way they break the protocol.
//!
//! Crash-safe by default: the seeds run in persistent worker processes (`faxsim-worker`,
//! `--jobs` of them); a worker that crashes or stops making progress costs the seed it was
//! running, which becomes `extension-crashed` / `extension-hung` (exit 3) with every event
//! up to that point, and a fresh worker goes on with the next seed. `--in-process` runs
//! the libraries in faxsim itself (for debuggers).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use faxsim_host::battery::{self, PEER_NAME, PLACEHOLDER_METHOD};
use faxsim_host::coverage::{CALLBACKS, Coverage};
use faxsim_host::{Host, LibraryInfo};
use faxsim_sim::trace::{Event, ExtId, ExtensionKind, OpenCalls, TraceSink};
use faxsim_sim::{
    CheckerConfig, DeliveryPolicy, EventSink, Finding, Limits, Severity, VirtualFspInitOrder,
    check_events,
};
use faxsim_worker::{BatteryJob, JobEnd, Library as Lib, PoolConfig, PoolError};
use serde::Serialize;

use crate::cli::CliError;
use crate::report::Color;

/// Arguments of `faxsim validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Extension libraries (.dll, .so, .dylib), all hosted in one service.
    #[arg(required = true, value_name = "LIB")]
    pub libs: Vec<PathBuf>,
    /// Host every library as this kind instead of detecting it from its exports.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Run exactly this seed. A seed alone decides the delivery policy (seed mod 3: sync,
    /// shuffled, deferred), the delivery order and where failures are injected, so a
    /// failing seed of any run reproduces alone. With --seeds: the first seed.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Run the battery under N seeds (SEED, SEED+1, …). Without --seed or --seeds: the
    /// 12 seeds 0..=11, which cover every delivery policy four times.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub seeds: Option<u64>,
    /// Write the run to PATH as a faxsim trace (one file per seed with --seeds: PATH gets
    /// a -seedN suffix); read it with `faxsim show` and `faxsim check`.
    #[arg(long, value_name = "PATH")]
    pub record: Option<PathBuf>,
    /// A routing method of your routing extension: the battery administers it through
    /// FaxRouteDeviceEnable, FaxRouteGetRoutingInfo and FaxRouteSetRoutingInfo on every
    /// device (without one, a placeholder GUID your extension does not own), and writes
    /// it on device 0 and every device. With =FUNCTION (the method's exported function,
    /// as your extension registers it), the battery also routes a received fax through
    /// it with a FAX_ROUTE in every run. Repeat for several.
    #[arg(long = "routing-method", value_name = "GUID[=FUNCTION]", value_parser = parse_method_arg)]
    pub routing_methods: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Run the libraries inside faxsim itself instead of in worker processes (for a
    /// debugger): a crash of an extension then ends faxsim, and a hang hangs it.
    #[arg(long, conflicts_with_all = ["isolate", "jobs"])]
    pub in_process: bool,
    /// Run the seeds on N worker processes at once (default: the number of cores). The
    /// report is the same, in the same order, whatever N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: Option<u64>,
    /// Accepted for compatibility: the seeds run isolated by default now.
    #[arg(long, hide = true)]
    pub isolate: bool,
    /// How long a worker may go without an event before its seed counts as hung (the
    /// worker's whole process tree is killed; the events so far are kept).
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
    /// Stop after the first seed with a failing finding (an error; any finding with
    /// --deny-warnings) or a crash or hang.
    #[arg(long)]
    pub fail_fast: bool,
}

/// Progress on standard error while several seeds run: drawn only when standard error is
/// a terminal, so reports, pipes and CI logs stay clean.
struct Progress {
    bar: indicatif::ProgressBar,
    findings: usize,
}

impl Progress {
    fn new(seeds: usize) -> Progress {
        use std::io::IsTerminal as _;
        // Decided here, not by the drawing library: when standard error is not a
        // terminal, nothing of the terminal code runs at all.
        let bar = if seeds > 1 && std::io::stderr().is_terminal() {
            indicatif::ProgressBar::with_draw_target(
                Some(seeds as u64),
                indicatif::ProgressDrawTarget::stderr(),
            )
        } else {
            indicatif::ProgressBar::hidden()
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} validate: seed {pos}/{len} [{elapsed_precise}, {per_sec}] {msg}",
        ) {
            bar.set_style(style);
        }
        if !bar.is_hidden() {
            // A hanging extension still shows time passing.
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar, findings: 0 }
    }

    fn seed_done(&mut self, run: &SeedRun) {
        self.findings += run.findings.len();
        self.bar
            .set_message(format!("{} findings so far", self.findings));
        self.bar.inc(1);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Whether `--fail-fast` stops after this seed.
fn stops_here(args: &ValidateArgs, run: &SeedRun) -> bool {
    args.fail_fast
        && (run.fatal
            || run
                .findings
                .iter()
                .any(|f| f.severity == Severity::Error || args.deny_warnings))
}

/// `--kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A TAPI fax service provider.
    Fsp,
    /// A virtual FSP.
    VirtualFsp,
    /// A routing extension.
    Routing,
}

impl From<KindArg> for ExtensionKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Fsp => ExtensionKind::Fsp,
            KindArg::VirtualFsp => ExtensionKind::VirtualFsp,
            KindArg::Routing => ExtensionKind::Routing,
        }
    }
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Grouped by extension, for people.
    Text,
    /// Stable, versioned JSON.
    Json,
    /// JUnit XML: one test case per library per seed.
    Junit,
}

/// One library as the report shows it.
fn lib_of(i: &LibraryInfo) -> Lib {
    Lib {
        name: i.name.clone(),
        path: i.path.clone(),
        kind: Some(i.kind),
        takes_part: i.takes_part(),
    }
}

/// One battery run.
#[derive(Debug)]
struct SeedRun {
    seed: u64,
    delivery: DeliveryPolicy,
    names: Vec<String>,
    findings: Vec<Finding>,
    notes: Vec<String>,
    /// The extension crashed or hung (isolated).
    fatal: bool,
    /// Why `--record` could not write this seed's trace (the report is kept; exit 2).
    trace_error: Option<String>,
    /// What each library (in the order of `libs`) was exercised with.
    coverage: Vec<Coverage>,
}

/// How many findings of one rule a library's text report prints; the rest are counted.
const SHOWN_PER_RULE: usize = 3;

/// The seeds a run covers when none is named: every delivery policy four times, with
/// the injected failures placed differently each time.
pub const DEFAULT_SEEDS: u64 = 12;

/// The delivery policy seed `seed` runs under: the seed alone decides it.
pub fn policy_of(seed: u64) -> DeliveryPolicy {
    [
        DeliveryPolicy::Sync,
        DeliveryPolicy::Shuffled,
        DeliveryPolicy::Deferred,
    ][(seed % 3) as usize]
}

fn seeds_of(args: &ValidateArgs) -> Vec<(u64, DeliveryPolicy)> {
    let (first, n) = match (args.seed, args.seeds) {
        (Some(s), None) => (s, 1),
        (s, Some(n)) => (s.unwrap_or(0), n),
        (None, None) => (0, DEFAULT_SEEDS),
    };
    (0..n)
        .map(|i| {
            let seed = first.wrapping_add(i);
            (seed, policy_of(seed))
        })
        .collect()
}

/// Runs `faxsim validate`.
pub fn run(args: &ValidateArgs, color: Color) -> Result<ExitCode, CliError> {
    if let Some(out) = &args.output {
        crate::report::check_writable(out)?;
    }
    if let (Some(first), Some(n)) = (args.seed, args.seeds)
        && first.checked_add(n - 1).is_none()
    {
        return Err(CliError::Input(format!(
            "--seed {first} --seeds {n} runs past the last seed, {}",
            u64::MAX
        )));
    }
    let kind = args.kind.map(ExtensionKind::from);
    let outcome = if args.in_process {
        run_in_process(args, kind)
    } else {
        run_isolated(args)
    };
    let (libs, runs) = match outcome {
        Ok(x) => x,
        Err(Fatal::Usage(msg)) => {
            eprintln!("faxsim: {msg}");
            return Ok(ExitCode::from(2));
        }
        Err(Fatal::Io(e)) => return Err(CliError::Io(e)),
    };
    let color = if args.output.is_some() {
        Color::resolve(crate::cli::ColorChoice::Never)
    } else {
        color
    };
    let text = match args.format {
        ValidateFormat::Text => text_report(&libs, &runs, args, color),
        ValidateFormat::Json => json_report(&libs, &runs, args.deny_warnings) + "\n",
        ValidateFormat::Junit => junit_report(&libs, &runs, args.deny_warnings),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            CliError::Input(format!("{}: cannot write the report: {e}", path.display()))
        })?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    for r in &runs {
        if let Some(e) = &r.trace_error {
            eprintln!("faxsim: {e}");
        }
    }
    let fatal = runs.iter().any(|r| r.fatal);
    let unrecorded = runs.iter().any(|r| r.trace_error.is_some());
    let failing = runs
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.severity == Severity::Error || args.deny_warnings);
    Ok(ExitCode::from(if fatal {
        3
    } else if unrecorded {
        2
    } else if failing {
        1
    } else {
        0
    }))
}

enum Fatal {
    Usage(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for Fatal {
    fn from(e: std::io::Error) -> Self {
        Fatal::Io(e)
    }
}

fn record_path(args: &ValidateArgs, seed: u64) -> Option<PathBuf> {
    let path = args.record.as_ref()?;
    if seeds_of(args).len() == 1 {
        return Some(path.clone());
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-seed{seed}.{}", ext.to_string_lossy()),
        None => format!("{stem}-seed{seed}"),
    };
    Some(path.with_file_name(name))
}

fn trace_error(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: cannot write the trace: {e}", path.display())
}

fn open_host(libs: &[PathBuf], kind: Option<ExtensionKind>) -> Result<Host, Fatal> {
    let mut host = Host::new();
    for path in libs {
        host.open(path, kind)
            .map_err(|e| Fatal::Usage(e.to_string()))?;
    }
    Ok(host)
}

/// The battery jobs of this run, one per seed.
fn jobs_of(args: &ValidateArgs) -> Vec<BatteryJob> {
    seeds_of(args)
        .into_iter()
        .map(|(seed, delivery)| BatteryJob {
            seed,
            delivery,
            extra_guids: method_guids(args),
            method_functions: method_functions(args),
        })
        .collect()
}

fn run_in_process(
    args: &ValidateArgs,
    kind: Option<ExtensionKind>,
) -> Result<(Vec<Lib>, Vec<SeedRun>), Fatal> {
    let mut host = open_host(&args.libs, kind)?;
    let libs: Vec<Lib> = host.libraries().map(lib_of).collect();
    let extensions = battery::header_extensions(&host);
    let mut runs = Vec::new();
    let jobs = jobs_of(args);
    let mut progress = Progress::new(jobs.len());
    for job in jobs {
        let opts = job.options();
        let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
        let record = record_path(args, job.seed);
        if let Some(p) = &record {
            let sink = TraceSink::create(p, &battery::trace_header(&extensions, &opts))
                .map_err(|e| Fatal::Usage(trace_error(p, e)))?;
            sinks.push(Box::new(sink));
        }
        let out = battery::run(&mut host, &opts, sinks).map_err(|e| Fatal::Usage(e.to_string()))?;
        let trace_error = match (&record, out.recording_error) {
            (Some(p), Some(e)) => Some(trace_error(p, e)),
            _ => None,
        };
        let mut notes = out.notes;
        if let Some(e) = out.aborted {
            notes.push(format!("the run was cut short: {e}"));
        }
        let survivors = host.survivors();
        if !survivors.is_empty() {
            notes.push(format!(
                "{} stayed mapped after the service unloaded it (it pinned itself, or the \
                 system keeps it): in process, its globals carry into the next seed; run \
                 without --in-process for independent seeds",
                survivors.join(", ")
            ));
        }
        let coverage = out
            .exts
            .iter()
            .map(|&x| Coverage::of(&out.events, x))
            .collect();
        let mut findings = out.findings;
        crate::report::name_injected_causes(&mut findings, &out.events);
        runs.push(SeedRun {
            seed: job.seed,
            delivery: job.delivery,
            names: out.names,
            findings,
            notes,
            fatal: false,
            trace_error,
            coverage,
        });
        let last = runs.last().expect("just pushed");
        progress.seed_done(last);
        if stops_here(args, last) {
            break;
        }
    }
    Ok((libs, runs))
}

// ---- isolation ------------------------------------------------------------------------

/// The default: the seeds run on worker processes (`faxsim_worker`); a crash or hang costs
/// its seed, and the workers' events are checked here.
fn run_isolated(args: &ValidateArgs) -> Result<(Vec<Lib>, Vec<SeedRun>), Fatal> {
    let jobs = jobs_of(args);
    let progress = std::cell::RefCell::new(Progress::new(jobs.len()));
    let bar = progress.borrow().bar.clone();
    let workers = match args.jobs {
        Some(n) => n as usize,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let cfg = PoolConfig {
        program: std::env::current_exe()?,
        worker_args: vec!["__worker".into()],
        libs: args.libs.clone(),
        kind: args.kind.map(ExtensionKind::from),
        hang_limit: Duration::from_millis(args.timeout_ms),
        workers,
        // The extension's own output, above the progress bar.
        output: Arc::new(move |line: &str| bar.suspend(|| eprintln!("{line}"))),
    };
    let mut runs = Vec::new();
    let libs = faxsim_worker::run_battery(&cfg, &jobs, |libs, result| {
        let run = seed_run(args, libs, result);
        progress.borrow_mut().seed_done(&run);
        let stop = stops_here(args, &run);
        runs.push(run);
        if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .map_err(|e| match e {
        PoolError::Usage(m) => Fatal::Usage(m),
        PoolError::Io(e) => Fatal::Io(e),
    })?;
    Ok((libs, runs))
}

/// One worker result as a report's run: checked here, recorded with the worker's header.
fn seed_run(args: &ValidateArgs, libs: &[Lib], result: faxsim_worker::JobResult) -> SeedRun {
    let faxsim_worker::JobResult {
        job,
        header,
        events,
        notes,
        end,
    } = result;
    let mut names: Vec<String> = libs.iter().map(|l| l.name.clone()).collect();
    names.push(PEER_NAME.into());
    let trace_error = record_path(args, job.seed).and_then(|p| {
        let header = header.unwrap_or_else(|| {
            // The worker died before its header: the libraries as given, then the peer.
            let extensions: Vec<_> = libs
                .iter()
                .map(|l| {
                    faxsim_trace::ExtensionInfo::new(
                        &l.name,
                        l.kind.unwrap_or(ExtensionKind::Routing),
                        Some(&l.path),
                    )
                })
                .chain([faxsim_trace::ExtensionInfo::new(
                    PEER_NAME,
                    ExtensionKind::Routing,
                    None,
                )])
                .collect();
            battery::trace_header(&extensions, &job.options())
        });
        write_trace(&p, &header, &events).err()
    });
    let config = CheckerConfig {
        one_sided: false,
        names: names.clone(),
        nesting_limit: Limits::default().nesting,
        delivery: job.delivery,
        virtual_fsp_init: VirtualFspInitOrder::default(),
    };
    let mut findings = check_events(&events, config);
    crate::report::name_interrupted_call(&mut findings, &OpenCalls::of(&events));
    crate::report::name_injected_causes(&mut findings, &events);
    // The worker attaches the libraries first, in order.
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
        trace_error,
        coverage,
    }
}

/// `--record` of an isolated seed: the events the worker streamed, under its header.
fn write_trace(path: &Path, header: &faxsim_trace::Header, events: &[Event]) -> Result<(), String> {
    let mut sink = TraceSink::create(path, header).map_err(|e| trace_error(path, e))?;
    for e in events {
        sink.event(e);
    }
    sink.finish().map_err(|e| trace_error(path, e))
}

// ---- reports ---------------------------------------------------------------------------

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

fn text_report(libs: &[Lib], runs: &[SeedRun], args: &ValidateArgs, color: Color) -> String {
    let deny_warnings = args.deny_warnings;
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
                out.push_str(&format!(
                    "  {} {:<24} seed {}, event {}: {}\n",
                    color.severity(f.severity),
                    f.rule.id(),
                    run.seed,
                    f.event,
                    f.message
                ));
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
                out.push_str(&not_exercised_text(lib, !args.routing_methods.is_empty()));
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
            out.push_str(&format!(
                "  {} {:<24} seed {}, event {}: {}\n",
                color.severity(f.severity),
                f.rule.id(),
                run.seed,
                f.event,
                f.message
            ));
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
            reproduce_command(args, failing[0])
        ));
    }
    let planned = seeds_of(args).len();
    if runs.len() < planned {
        let why = if args.fail_fast {
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
            "explain a rule (the typical bug, its fix): faxsim rules {}\n\n",
            f.rule.id()
        ));
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

/// The command that runs seed `seed` of this run alone.
fn reproduce_command(args: &ValidateArgs, seed: u64) -> String {
    let mut words = vec!["faxsim validate".to_string()];
    words.extend(args.libs.iter().map(|p| p.display().to_string()));
    if let Some(k) = args.kind {
        words.push(format!("--kind {}", ExtensionKind::from(k).name()));
    }
    words.extend(
        args.routing_methods
            .iter()
            .map(|g| format!("--routing-method {g}")),
    );
    words.push(format!("--seed {seed}"));
    if args.in_process {
        words.push("--in-process".into());
    }
    words.join(" ")
}

fn libraries(n: usize) -> String {
    if n == 1 {
        "1 library".into()
    } else {
        format!("{n} libraries")
    }
}

#[derive(Serialize)]
struct FindingJson<'a> {
    rule: &'static str,
    severity: &'static str,
    extension: Option<&'a str>,
    event: u64,
    message: &'a str,
}

#[derive(Serialize)]
struct RunJson<'a> {
    name: String,
    seed: u64,
    passed: bool,
    findings: Vec<FindingJson<'a>>,
    /// What the library was exercised with in this run (library runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<CoverageJson>,
}

#[derive(Serialize)]
struct CoverageJson {
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

#[derive(Serialize)]
struct FailuresJson {
    planned: usize,
    fired: usize,
    not_reached: Vec<NotReachedJson>,
}

#[derive(Serialize)]
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

#[derive(Serialize)]
struct ReportJson<'a> {
    faxsim: &'static str,
    format: u32,
    runs: Vec<RunJson<'a>>,
    findings: Vec<FindingJson<'a>>,
}

fn finding_json<'a>(run: &'a SeedRun, f: &'a Finding) -> FindingJson<'a> {
    FindingJson {
        rule: f.rule.id(),
        severity: f.severity.name(),
        extension: f
            .ext
            .and_then(|e| run.names.get(e.index()))
            .map(String::as_str),
        event: f.event,
        message: &f.message,
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn json_report(libs: &[Lib], runs: &[SeedRun], deny_warnings: bool) -> String {
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
                coverage: None,
            });
        }
        flat.extend(run.findings.iter().map(|f| finding_json(run, f)));
    }
    let doc = ReportJson {
        faxsim: env!("CARGO_PKG_VERSION"),
        format: 1,
        runs: out,
        findings: flat,
    };
    serde_json::to_string_pretty(&doc).expect("the report serialises")
}

fn junit_report(libs: &[Lib], runs: &[SeedRun], deny_warnings: bool) -> String {
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

/// A braced GUID on the command line.
/// `GUID` or `GUID=FUNCTION`, as given (see [`method_guids`], [`method_functions`]).
fn parse_method_arg(s: &str) -> Result<String, String> {
    let (guid, function) = match s.split_once('=') {
        Some((g, f)) => (g, Some(f)),
        None => (s, None),
    };
    if faxsim_sim::guid::parse_braced_guid(guid).is_none() {
        return Err(format!(
            "{guid:?} is not a braced GUID {{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}}"
        ));
    }
    if let Some(f) = function
        && (f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(format!(
            "{f:?} is not a function name (letters, digits and _, as the library exports it)"
        ));
    }
    Ok(s.to_string())
}

/// The GUIDs of `--routing-method` arguments.
fn method_guids(args: &ValidateArgs) -> Vec<String> {
    args.routing_methods
        .iter()
        .map(|m| m.split_once('=').map_or(m.as_str(), |(g, _)| g).to_string())
        .collect()
}

/// The (GUID, FUNCTION) pairs of `--routing-method GUID=FUNCTION` arguments.
fn method_functions(args: &ValidateArgs) -> Vec<(String, String)> {
    args.routing_methods
        .iter()
        .filter_map(|m| {
            m.split_once('=')
                .map(|(g, f)| (g.to_string(), f.to_string()))
        })
        .collect()
}
