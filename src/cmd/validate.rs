//! `faxsim validate LIB...`: host real extension libraries in one simulated service, run
//! the standard battery, report every way they break the protocol.
//!
//! This module is the command line: the jobs (one battery run per seed) go to
//! `faxsim-worker` — worker processes by default, where a crash or hang costs one seed
//! (`extension-crashed` / `extension-hung`, exit 3), or this process with `--in-process`
//! — and the results to the report (`crate::report::validate`).

use std::cell::RefCell;
use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use faxsim_sim::trace::{ExtensionKind, Header};
use faxsim_sim::{DeliveryPolicy, Severity};
use faxsim_worker::{BatteryJob, Job, PoolConfig};

use crate::cli::{CliError, Outcome};
use crate::report::Color;
use crate::report::validate::{self as report, SeedRun, View};

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

/// The seeds a run covers when none is named: every delivery policy four times, with
/// the injected failures placed differently each time.
pub const DEFAULT_SEEDS: u64 = 12;

fn seeds_of(args: &ValidateArgs) -> Vec<(u64, DeliveryPolicy)> {
    let (first, n) = match (args.seed, args.seeds) {
        (Some(s), None) => (s, 1),
        (s, Some(n)) => (s.unwrap_or(0), n),
        (None, None) => (0, DEFAULT_SEEDS),
    };
    (0..n)
        .map(|i| {
            let seed = first.wrapping_add(i);
            (seed, faxsim_host::battery::policy_of(seed))
        })
        .collect()
}

/// Runs `faxsim validate`.
pub fn run(args: &ValidateArgs, color: Color) -> Result<Outcome, CliError> {
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
    let jobs = jobs_of(args);
    let progress = RefCell::new(Progress::new(jobs.len()));
    let mut runs: Vec<SeedRun> = Vec::new();
    let each = |libs: &[faxsim_worker::Library], result| {
        let run = report::seed_run(libs, result);
        progress.borrow_mut().seed_done(&run);
        let stop = stops_here(args, &run);
        runs.push(run);
        if stop {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    // `--record`: a trace per seed, written as its events arrive.
    let mut sink_for = |job: &Job, header: &Header| {
        let Some(path) = job.seed().and_then(|seed| record_path(args, seed)) else {
            return Ok(None);
        };
        crate::report::trace_sink(&path, header).map(Some)
    };
    let kind = args.kind.map(ExtensionKind::from);
    let libs = if args.in_process {
        faxsim_worker::run_battery_in_process(&args.libs, kind, &jobs, &mut sink_for, each)
    } else {
        let bar = progress.borrow().bar.clone();
        let cfg = PoolConfig {
            program: std::env::current_exe()?,
            worker_args: vec!["__worker".into()],
            libs: args.libs.clone(),
            kind,
            hang_limit: Duration::from_millis(args.timeout_ms),
            workers: match args.jobs {
                Some(n) => n as usize,
                None => std::thread::available_parallelism().map_or(1, usize::from),
            },
            // The extension's own output, above the progress bar.
            output: Arc::new(move |line: &str| bar.suspend(|| eprintln!("{line}"))),
        };
        let jobs: Vec<Job> = jobs.iter().cloned().map(Job::Battery).collect();
        faxsim_worker::run_jobs(&cfg, &jobs, &mut sink_for, each)
    };
    drop(progress);
    let libs = libs?;
    let color = if args.output.is_some() {
        Color::resolve(crate::cli::ColorChoice::Never)
    } else {
        color
    };
    let reproduce = |seed| reproduce_command(args, seed);
    let trace_of = |seed| record_path(args, seed);
    let view = View {
        trace_of: &trace_of,
        deny_warnings: args.deny_warnings,
        fail_fast: args.fail_fast,
        planned: jobs.len(),
        methods_named: !args.routing_methods.is_empty(),
        reproduce: &reproduce,
    };
    let text = match args.format {
        ValidateFormat::Text => report::text_report(&libs, &runs, &view, color),
        ValidateFormat::Json => report::json_report(&libs, &runs, args.deny_warnings) + "\n",
        ValidateFormat::Junit => report::junit_report(&libs, &runs, args.deny_warnings),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            CliError::Input(format!("{}: cannot write the report: {e}", path.display()))
        })?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    // A trace that could not be written is said after the report, which is never lost.
    for r in &runs {
        if let Some(e) = &r.trace_error {
            eprintln!("faxsim: {e}");
        }
    }
    let failing = runs
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.severity == Severity::Error || args.deny_warnings);
    Ok(if runs.iter().any(|r| r.fatal) {
        Outcome::Crashed
    } else if runs.iter().any(|r| r.trace_error.is_some()) {
        Outcome::BadInput
    } else {
        Outcome::found_if(failing)
    })
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

/// The battery jobs of this run, one per seed.
fn jobs_of(args: &ValidateArgs) -> Vec<BatteryJob> {
    seeds_of(args)
        .into_iter()
        .map(|(seed, delivery)| BatteryJob {
            seed,
            delivery,
            extra_guids: method_guids(&args.routing_methods),
            method_functions: method_functions(&args.routing_methods),
            explore: None,
        })
        .collect()
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

/// A braced GUID on the command line.
/// `GUID` or `GUID=FUNCTION`, as given (see [`method_guids`], [`method_functions`]).
pub(crate) fn parse_method_arg(s: &str) -> Result<String, String> {
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
pub(crate) fn method_guids(methods: &[String]) -> Vec<String> {
    methods
        .iter()
        .map(|m| m.split_once('=').map_or(m.as_str(), |(g, _)| g).to_string())
        .collect()
}

/// The (GUID, FUNCTION) pairs of `--routing-method GUID=FUNCTION` arguments.
pub(crate) fn method_functions(methods: &[String]) -> Vec<(String, String)> {
    methods
        .iter()
        .filter_map(|m| {
            m.split_once('=')
                .map(|(g, f)| (g.to_string(), f.to_string()))
        })
        .collect()
}
