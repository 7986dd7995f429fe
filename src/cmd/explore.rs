//! `faxsim explore --ext LIB... --seeds N`: many seeds of delivery order and injected
//! failures over hosted libraries, each distinct failure once, with the command that
//! reproduces it (`faxsim-explore`). `--merge` joins the JSON reports of shards.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use faxsim_explore::{Plan, Report, Search, Settings, Shard, StrategyPlan, Target};
use faxsim_sim::Strategy;
use faxsim_trace::ExtensionKind;
use faxsim_worker::PoolConfig;

use crate::cli::{CliError, Outcome};
use crate::cmd::validate::KindArg;
use crate::report::Color;

/// Arguments of `faxsim explore`: what to explore is scenario files, libraries
/// (`--ext`) or shard reports to merge (`--merge`), one of them.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["scenarios", "libs", "merge"])))]
pub struct ExploreArgs {
    /// Scenario files to explore (a folder: every `*.toml` below it). A seed fails on an
    /// error finding whose rule the file does not name in its `[expect]`.
    #[arg(value_name = "SCENARIO", conflicts_with = "libs")]
    pub scenarios: Vec<PathBuf>,
    /// Extension libraries to explore (.dll, .so), hosted together as `validate` hosts
    /// them, under the validate battery.
    #[arg(long = "ext", value_name = "LIB")]
    pub libs: Vec<PathBuf>,
    /// Host every library as this kind instead of detecting it from its exports.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// How to vary the service's decisions: `random` (every order, wait and failure at
    /// random) or `pct` (the natural schedule but for up to --depth - 1 inversions: a
    /// notification delayed, a registrant visited last, a callback call failed).
    #[arg(long, value_enum, default_value_t = PolicyArg::Random)]
    pub policy: PolicyArg,
    /// PCT's bug depth: how many inversions a bug needs, plus one.
    #[arg(long, value_name = "D", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub depth: u32,
    /// PCT's horizon: the decision points the inversions are drawn from (default: the
    /// count of a natural run of the first seed, measured before the search).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub horizon: Option<u64>,
    /// The first seed (alone, without --seeds or --time-budget: explore just this one,
    /// as a failure's reproduce command does).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// How many seeds (default 1,000).
    #[arg(long, value_name = "N", conflicts_with = "time_budget",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,
    /// Explore for this long instead of a number of seeds (`60s`, `5m`); the report
    /// then depends on the machine's speed.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub time_budget: Option<Duration>,
    /// Explore only shard I of N of the seeds (seed mod N = I - 1): N machines explore
    /// one seed range between them; `--merge` joins their JSON reports.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Run every seed twice and report a seed whose runs differ, with the first event
    /// where they part (an extension that reads the clock, races its own threads or
    /// reads uninitialised memory).
    #[arg(long)]
    pub check_determinism: bool,
    /// Warnings are failures too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Write the trace of the first seed of each distinct failure into DIR.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Shrink each distinct failure to the smallest scenario file that still shows it
    /// (as `faxsim shrink` does; for --ext, from the failure's recorded trace, hosting
    /// the libraries), written into the --record folder.
    #[arg(long, requires = "record")]
    pub shrink: bool,
    /// A routing method of your routing extension (as `faxsim validate --routing-method`).
    #[arg(long = "routing-method", value_name = "GUID[=FUNCTION]",
          value_parser = crate::cmd::validate::parse_method_arg)]
    pub routing_methods: Vec<String>,
    /// Run the seeds on N worker processes at once (default: the number of cores).
    #[arg(long, value_name = "N", conflicts_with = "in_process",
          value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: Option<u64>,
    /// Run the libraries inside faxsim instead of in worker processes (for a debugger).
    #[arg(long)]
    pub in_process: bool,
    /// How long a worker may go without an event before its seed counts as hung.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
    /// Report format (`json` is what `--merge` reads).
    #[arg(long, value_enum, default_value_t = crate::cli::Format::Text)]
    pub format: crate::cli::Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Merge the JSON reports of shards of one exploration into the report of the whole.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["libs", "scenarios", "seeds", "shard", "seed"])]
    pub merge: Vec<PathBuf>,
}

/// `--policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// Every decision at random.
    Random,
    /// Probabilistic concurrency testing: up to --depth - 1 inversions of the natural
    /// schedule.
    Pct,
}

/// Seeds explored when neither --seeds, --time-budget nor --seed alone is given.
pub const DEFAULT_SEEDS: u64 = 1000;

/// Runs `faxsim explore`.
pub fn run(args: &ExploreArgs, color: Color) -> Result<Outcome, CliError> {
    if let Some(out) = &args.output {
        crate::report::check_writable(out)?;
    }
    let color = if args.output.is_some() {
        Color::plain()
    } else {
        color
    };
    if !args.merge.is_empty() {
        return merge(args, color);
    }
    if !args.scenarios.is_empty() {
        return run_scenarios(args, color);
    }
    let target = Target {
        libs: args.libs.clone(),
        kind: args.kind.map(ExtensionKind::from),
        extra_guids: crate::cmd::validate::method_guids(&args.routing_methods),
        method_functions: crate::cmd::validate::method_functions(&args.routing_methods),
    };
    let (first, count) = seed_range(args)?;
    let plan = Plan {
        first,
        count,
        shard: args.shard,
    };
    let workers = match args.jobs {
        Some(n) => n as usize,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let progress = Progress::new(count.map(|n| shard_size(n, args.shard)));
    let pool = if args.in_process {
        None
    } else {
        Some(pool_config(args, workers, &progress)?)
    };
    let strategy_plan = strategy_plan(args);
    let strategy = Search::strategy_of(strategy_plan, &target, pool.as_ref(), first)?;
    let reproduce = |seed: u64| reproduce_command(args, strategy, seed);
    let settings = Settings {
        targets: args.libs.iter().map(|p| p.display().to_string()).collect(),
        policy: strategy_plan.name().into(),
        depth: matches!(strategy, Strategy::Pct { .. }).then_some(args.depth),
        horizon: match strategy {
            Strategy::Pct { horizon, .. } => Some(horizon),
            Strategy::Random => None,
        },
        first_seed: first,
        seeds: count,
        check_determinism: args.check_determinism,
        deny_warnings: args.deny_warnings,
    };
    let mut report = Report::new(settings, args.shard);
    let search = Search {
        target,
        plan,
        strategy,
        check_determinism: args.check_determinism,
        deny_warnings: args.deny_warnings,
        budget: args.time_budget,
        pool,
        record: args.record.clone(),
        reproduce: &reproduce,
    };
    let started = Instant::now();
    let ran = search.run(&mut report, &mut |r| progress.seed_done(r));
    let elapsed = started.elapsed();
    drop(progress);
    ran?;
    if let (true, Some(dir)) = (args.shrink, &args.record) {
        shrink_library_failures(args, dir, &mut report)?;
    }
    report.sort();
    finish(
        args,
        &report,
        elapsed,
        if args.in_process { 0 } else { workers },
        color,
    )
}

/// The workers' configuration (the libraries come with each search).
fn pool_config(
    args: &ExploreArgs,
    workers: usize,
    progress: &Progress,
) -> Result<PoolConfig, CliError> {
    let bar = progress.bar.clone();
    Ok(PoolConfig {
        program: std::env::current_exe()?,
        worker_args: vec!["__worker".into()],
        libs: Vec::new(),
        kind: None,
        hang_limit: Duration::from_millis(args.timeout_ms),
        workers,
        // The extension's own output, above the progress bar.
        output: Arc::new(move |line: &str| bar.suspend(|| eprintln!("{line}"))),
    })
}

/// Writes the report in the format asked for; the outcome it means. `elapsed` zero (a
/// merge) prints no speed.
fn finish(
    args: &ExploreArgs,
    report: &Report,
    elapsed: Duration,
    workers: usize,
    color: Color,
) -> Result<Outcome, CliError> {
    let text = match args.format {
        crate::cli::Format::Text => text_report(report, elapsed, workers, color),
        crate::cli::Format::Json => {
            serde_json::to_string_pretty(report).expect("reports serialise") + "\n"
        }
    };
    write(args, &text)?;
    Ok(if report.crashed() {
        Outcome::Crashed
    } else {
        Outcome::found_if(!report.passed)
    })
}

/// The seeds of a run: first, how many (`None`: a time budget decides).
fn seed_range(args: &ExploreArgs) -> Result<(u64, Option<u64>), CliError> {
    let first = args.seed.unwrap_or(0);
    let count = match (args.seed, args.seeds, args.time_budget) {
        (_, Some(n), _) => Some(n),
        (_, None, Some(_)) => None,
        (Some(_), None, None) => Some(1),
        (None, None, None) => Some(DEFAULT_SEEDS),
    };
    if let Some(n) = count
        && first.checked_add(n - 1).is_none()
    {
        return Err(CliError::Input(format!(
            "--seed {first} --seeds {n} runs past the last seed, {}",
            u64::MAX
        )));
    }
    Ok((first, count))
}

fn strategy_plan(args: &ExploreArgs) -> StrategyPlan {
    match args.policy {
        PolicyArg::Random => StrategyPlan::Random,
        PolicyArg::Pct => StrategyPlan::Pct {
            depth: args.depth,
            horizon: args.horizon,
        },
    }
}

/// `faxsim explore SCENARIO...`.
fn run_scenarios(args: &ExploreArgs, color: Color) -> Result<Outcome, CliError> {
    use faxsim_explore::scenarios::ScenarioSearch;
    let mut scenarios = Vec::new();
    for p in &args.scenarios {
        let found = faxsim_scenario::collect_files(p)
            .map_err(|e| CliError::Input(format!("{}: {e}", p.display())))?;
        if found.files.is_empty() {
            return Err(CliError::Input(format!(
                "{}: no *.toml scenario below it",
                p.display()
            )));
        }
        for f in found.files {
            scenarios.push(
                faxsim_scenario::Scenario::load(&f).map_err(|e| CliError::Input(e.to_string()))?,
            );
        }
    }
    let (first, count) = seed_range(args)?;
    let plan = Plan {
        first,
        count,
        shard: args.shard,
    };
    let threads = match args.jobs {
        Some(n) => n as usize,
        None if args.in_process => 1,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let per_file = count.map(|n| shard_size(n, args.shard));
    let progress = Progress::new(per_file.map(|n| n * scenarios.len() as u64));
    let pool = if args.in_process {
        None
    } else {
        Some(pool_config(args, threads, &progress)?)
    };
    let settings = Settings {
        targets: scenarios
            .iter()
            .map(|s| s.path.display().to_string())
            .collect(),
        policy: strategy_plan(args).name().into(),
        depth: (args.policy == PolicyArg::Pct).then_some(args.depth),
        horizon: args.horizon.filter(|_| args.policy == PolicyArg::Pct),
        first_seed: first,
        seeds: count,
        check_determinism: args.check_determinism,
        deny_warnings: args.deny_warnings,
    };
    let mut report = Report::new(settings, args.shard);
    let started = Instant::now();
    // A time budget is shared out evenly between the files.
    let budget = args.time_budget.map(|b| b / scenarios.len().max(1) as u32);
    for scenario in &scenarios {
        let strategy = ScenarioSearch::strategy_of(strategy_plan(args), scenario, first)?;
        let path = scenario.path.display().to_string();
        let reproduce = |seed: u64| scenario_reproduce(args, &path, strategy, seed);
        let search = ScenarioSearch {
            plan,
            strategy,
            check_determinism: args.check_determinism,
            deny_warnings: args.deny_warnings,
            budget: budget.map(|b| (Instant::now(), b)),
            threads,
            pool: pool.clone(),
            record: args.record.clone(),
            reproduce: &reproduce,
        };
        search.run(scenario, &mut report, &|r| progress.seed_done(r))?;
        if let (true, Some(dir)) = (args.shrink, &args.record) {
            let runner = crate::cmd::shrink::runner(args.in_process, args.timeout_ms)?;
            shrink_failures(scenario, &path, strategy, dir, &runner, &mut report)?;
        }
    }
    let elapsed = started.elapsed();
    drop(progress);
    report.sort();
    finish(args, &report, elapsed, threads, color)
}

/// `--shrink`: each new failure of `scenario` shrunk under its first seed and the
/// strategy, written into `dir`. Not shrunk: a nondeterministic seed (no run reproduces
/// it), and with --in-process a crash or hang.
fn shrink_failures(
    scenario: &faxsim_scenario::Scenario,
    path: &str,
    strategy: Strategy,
    dir: &std::path::Path,
    runner: &faxsim_explore::shrink::Runner,
    report: &mut Report,
) -> Result<(), CliError> {
    use faxsim_explore::shrink::{self, Shrinking, Wanted};
    let source = std::fs::read_to_string(&scenario.path)
        .map_err(|e| CliError::Input(format!("{path}: cannot read: {e}")))?;
    let stem = scenario
        .path
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    for f in report.failures.iter_mut() {
        let skip = unshrinkable(&f.rule, runner);
        if f.scenario.as_deref() != Some(path) || f.shrunk.is_some() || skip {
            continue;
        }
        let wanted = Wanted::of(f);
        let how = Shrinking {
            seed: Some(f.first_seed),
            explore: Some(strategy),
        };
        let s = match shrink::shrink(&scenario.path, &source, &wanted, how, runner) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("faxsim: note: {path}: {} not shrunk: {e}", f.rule);
                continue;
            }
        };
        std::fs::create_dir_all(dir)?;
        let out = dir.join(format!("{stem}-{}-seed-{}.min.toml", f.rule, f.first_seed));
        let see = scenario_reproduce_args(&out.display().to_string(), strategy, f.first_seed);
        std::fs::write(
            &out,
            s.file("faxsim explore --shrink", &scenario.path, &see),
        )
        .map_err(|e| CliError::Input(format!("{}: cannot write: {e}", out.display())))?;
        f.shrunk = Some(out.display().to_string());
    }
    Ok(())
}

/// Failures `--shrink` leaves: a nondeterministic seed (no run reproduces it), and a crash
/// or hang when candidates would run in faxsim's own process.
fn unshrinkable(rule: &str, runner: &faxsim_explore::shrink::Runner) -> bool {
    rule == faxsim_explore::NONDETERMINISTIC
        || (runner.pool.is_none() && matches!(rule, "extension-crashed" | "extension-hung"))
}

/// `--shrink` with libraries: the recorded trace of each failure's first seed made into
/// a scenario that hosts the libraries, and shrunk (`faxsim shrink TRACE --ext LIB`),
/// written beside the trace (see [`unshrinkable`] for what is not).
fn shrink_library_failures(
    args: &ExploreArgs,
    dir: &std::path::Path,
    report: &mut Report,
) -> Result<(), CliError> {
    use faxsim_explore::shrink::{self, Wanted};
    let runner = crate::cmd::shrink::runner(args.in_process, args.timeout_ms)?;
    for f in report.failures.iter_mut() {
        let skip = unshrinkable(&f.rule, &runner);
        let Some(trace) = f.trace.clone().filter(|_| !skip && f.shrunk.is_none()) else {
            continue;
        };
        let wanted = Wanted::of(f);
        let trace = std::path::PathBuf::from(trace);
        let t = match shrink::shrink_trace(
            &trace,
            &args.libs,
            Some(wanted),
            args.deny_warnings,
            &runner,
        ) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("faxsim: note: {} not shrunk: {e}", f.rule);
                continue;
            }
        };
        let stem = trace
            .file_stem()
            .map_or_else(|| "failure".into(), |s| s.to_string_lossy().into_owned());
        let out = dir.join(format!("{}-{stem}.min.toml", f.rule));
        let see = format!("faxsim run {}", out.display());
        std::fs::write(&out, t.shrunk.file("faxsim explore --shrink", &trace, &see))
            .map_err(|e| CliError::Input(format!("{}: cannot write: {e}", out.display())))?;
        f.shrunk = Some(out.display().to_string());
    }
    Ok(())
}

/// `faxsim explore FILE --policy … --seed S`, with the strategy spelled out.
fn scenario_reproduce_args(path: &str, strategy: Strategy, seed: u64) -> String {
    format!(
        "faxsim explore {path} {} --seed {seed}",
        strategy_words(strategy)
    )
}

/// The `--policy` arguments that give `strategy` (PCT's horizon included, so the run
/// does not measure another).
pub fn strategy_words(strategy: Strategy) -> String {
    match strategy {
        Strategy::Random => "--policy random".into(),
        Strategy::Pct { depth, horizon } => {
            format!("--policy pct --depth {depth} --horizon {horizon}")
        }
    }
}

/// `words` (what is explored), then the strategy and the options that change a seed's
/// verdict, then `--seed`.
fn reproduce_with(
    mut words: Vec<String>,
    args: &ExploreArgs,
    strategy: Strategy,
    seed: u64,
) -> String {
    words.push(strategy_words(strategy));
    if args.deny_warnings {
        words.push("--deny-warnings".into());
    }
    if args.check_determinism {
        words.push("--check-determinism".into());
    }
    words.push(format!("--seed {seed}"));
    words.join(" ")
}

/// The command that explores seed `seed` of one scenario file alone.
fn scenario_reproduce(args: &ExploreArgs, path: &str, strategy: Strategy, seed: u64) -> String {
    reproduce_with(vec![format!("faxsim explore {path}")], args, strategy, seed)
}

fn shard_size(n: u64, shard: Option<Shard>) -> u64 {
    match shard {
        Some(s) => n / s.total + u64::from(n % s.total >= s.index),
        None => n,
    }
}

fn write(args: &ExploreArgs, text: &str) -> Result<(), CliError> {
    match &args.output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            CliError::Input(format!("{}: cannot write the report: {e}", path.display()))
        }),
        None => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
    }
}

/// `--merge FILE...`.
fn merge(args: &ExploreArgs, color: Color) -> Result<Outcome, CliError> {
    let mut reports = Vec::new();
    for path in &args.merge {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
        let report: Report = serde_json::from_str(&text).map_err(|e| {
            CliError::Input(format!(
                "{name}:{}:{}: not an explore report (`faxsim explore --format json`): {e}",
                e.line(),
                e.column()
            ))
        })?;
        reports.push((name, report));
    }
    let report = Report::merge(reports).map_err(CliError::Input)?;
    finish(args, &report, Duration::ZERO, 0, color)
}

/// The command that explores seed `seed` alone, with the same strategy.
fn reproduce_command(args: &ExploreArgs, strategy: Strategy, seed: u64) -> String {
    let mut words = vec!["faxsim explore".to_string()];
    words.extend(args.libs.iter().map(|p| format!("--ext {}", p.display())));
    if let Some(k) = args.kind {
        words.push(format!("--kind {}", ExtensionKind::from(k).name()));
    }
    words.extend(
        args.routing_methods
            .iter()
            .map(|g| format!("--routing-method {g}")),
    );
    reproduce_with(words, args, strategy, seed)
}

fn text_report(report: &Report, elapsed: Duration, workers: usize, color: Color) -> String {
    use std::fmt::Write as _;
    let e = &report.explore;
    let mut s = String::new();
    let strategy = match (e.depth, e.horizon) {
        (Some(d), Some(h)) => format!("pct, depth {d}, horizon {h}"),
        _ => e.policy.clone(),
    };
    let shards = if report.shards.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = report.shards.iter().map(ToString::to_string).collect();
        format!(", shard {}", list.join(", "))
    };
    let speed = if elapsed.is_zero() {
        String::new()
    } else {
        let per_s = report.explored as f64 / elapsed.as_secs_f64().max(1e-9);
        let on = match workers {
            0 => "in process".to_string(),
            1 => "1 worker".to_string(),
            n => format!("{n} workers"),
        };
        format!(
            " in {:.1} s ({per_s:.0} seeds/s, {on})",
            elapsed.as_secs_f64()
        )
    };
    let _ = writeln!(
        s,
        "explore {} ({strategy}{shards}{}): {} seeds from seed {}{speed}",
        if e.targets.len() > 3 {
            format!("{} scenario files", e.targets.len())
        } else {
            e.targets.join(" ")
        },
        if e.check_determinism {
            ", each seed twice"
        } else {
            ""
        },
        report.explored,
        e.first_seed,
    );
    if report.failures.is_empty() {
        let _ = writeln!(s, "\n{}: no failure", color.green("PASSED"));
        return s;
    }
    let _ = writeln!(
        s,
        "\n{}: {} distinct failure{}\n",
        color.red("FAILED"),
        report.failures.len(),
        if report.failures.len() == 1 { "" } else { "s" }
    );
    for (i, f) in report.failures.iter().enumerate() {
        let severity = match f.severity.as_str() {
            "warning" => color.severity(faxsim_sim::Severity::Warning),
            _ => color.severity(faxsim_sim::Severity::Error),
        };
        let _ = writeln!(
            s,
            "{}. {severity} {} in {}, {}: {} of {} seeds, first seed {}",
            i + 1,
            f.rule,
            f.extension,
            f.entry_point,
            f.seeds,
            report.explored,
            f.first_seed
        );
        let _ = writeln!(s, "   event {}: {}", f.event, f.message);
        let _ = writeln!(s, "   reproduce: {}", f.reproduce);
        if let Some(t) = &f.trace {
            let _ = writeln!(s, "   trace: {t}");
        }
        if let Some(t) = &f.shrunk {
            let _ = writeln!(s, "   shrunk: {t}");
        }
    }
    s
}

/// A progress bar on standard error (only when it is a terminal).
struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn new(seeds: Option<u64>) -> Progress {
        use std::io::IsTerminal as _;
        let bar = if std::io::stderr().is_terminal() {
            indicatif::ProgressBar::with_draw_target(seeds, indicatif::ProgressDrawTarget::stderr())
        } else {
            indicatif::ProgressBar::hidden()
        };
        let template = if seeds.is_some() {
            "{spinner} explore: seed {pos}/{len} [{elapsed_precise}, {per_sec}] {msg}"
        } else {
            "{spinner} explore: {pos} seeds [{elapsed_precise}, {per_sec}] {msg}"
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress { bar }
    }

    fn seed_done(&self, report: &Report) {
        self.bar.set_position(report.explored);
        self.bar
            .set_message(format!("{} distinct failures", report.failures.len()));
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
