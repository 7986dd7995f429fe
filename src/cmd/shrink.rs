//! `faxsim shrink SCENARIO --output FILE`: the smallest scenario file that still shows a
//! failing finding (`faxsim_explore::shrink`); `faxsim shrink TRACE --ext LIB --output
//! FILE`: a recording made into such a file, hosting the real library.

use std::path::PathBuf;

use clap::Args;
use faxsim_explore::shrink::{self, Shrinking, Wanted};
use faxsim_sim::Strategy;

use crate::cli::{CliError, Outcome};
use crate::cmd::explore::PolicyArg;

/// Arguments of `faxsim shrink`.
#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// The scenario file whose failure to shrink, or a trace (binary or JSON Lines) to
    /// make into a scenario file with --ext.
    #[arg(value_name = "SCENARIO|TRACE")]
    pub scenario: PathBuf,
    /// With a trace: the library to host in place of the recorded extension it matches
    /// (by name, then by build); repeat it for several.
    #[arg(long = "ext", value_name = "LIB")]
    pub ext: Vec<PathBuf>,
    /// Where to write the smallest file found.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// The finding to keep (a rule id; default: the first error finding the file does
    /// not allow).
    #[arg(long, value_name = "RULE")]
    pub rule: Option<String>,
    /// Only that rule's findings about this extension (its name in the file).
    #[arg(long = "extension", value_name = "NAME")]
    pub extension: Option<String>,
    /// The seed (default: the file's).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Shrink a failure an exploration found: its policy (with --depth and --horizon, as
    /// the failure's reproduce command gives them). Without it, the file's own decisions.
    #[arg(long, value_enum)]
    pub policy: Option<PolicyArg>,
    /// PCT's depth (with --policy pct).
    #[arg(long, value_name = "D", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub depth: u32,
    /// PCT's horizon (with --policy pct; required there, as the reproduce command names it).
    #[arg(long, value_name = "N", required_if_eq("policy", "pct"))]
    pub horizon: Option<u64>,
    /// Warnings count as failures when choosing the finding.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Run the candidates that host libraries inside faxsim instead of in worker
    /// processes (for a debugger; a crash or hang is then not shrunk).
    #[arg(long)]
    pub in_process: bool,
    /// How long a worker may go without an event before its candidate counts as hung.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
}

/// Where the candidates run: hosted libraries in worker processes unless --in-process.
pub fn runner(in_process: bool, timeout_ms: u64) -> Result<shrink::Runner, CliError> {
    if in_process {
        return Ok(shrink::Runner::in_process());
    }
    Ok(shrink::Runner {
        pool: Some(faxsim_worker::PoolConfig {
            program: std::env::current_exe()?,
            worker_args: vec!["__worker".into()],
            libs: Vec::new(),
            kind: None,
            hang_limit: std::time::Duration::from_millis(timeout_ms),
            workers: 1,
            // Many candidates run: what the extension prints is left out (`faxsim run` on
            // the shrunk file shows it).
            output: std::sync::Arc::new(|_: &str| {}),
        }),
    })
}

/// Runs `faxsim shrink`.
pub fn run(args: &ShrinkArgs) -> Result<Outcome, CliError> {
    if is_trace(&args.scenario)? {
        return run_trace(args);
    }
    if !args.ext.is_empty() {
        return Err(CliError::Input(format!(
            "{}: --ext is for a trace; a scenario file names its libraries itself",
            args.scenario.display()
        )));
    }
    let source = std::fs::read_to_string(&args.scenario)
        .map_err(|e| CliError::Input(format!("{}: cannot read: {e}", args.scenario.display())))?;
    let scenario = faxsim_scenario::Scenario::parse(&args.scenario, &source)
        .map_err(|e| CliError::Input(e.to_string()))?;
    let explore = explore_strategy(args);
    let runner = runner(args.in_process, args.timeout_ms)?;
    // The file's own seed unless one is given: written into the shrunk file.
    let seed = args.seed.unwrap_or_else(|| scenario.options(None).seed);
    let how = Shrinking {
        seed: Some(seed),
        explore,
    };
    let wanted = match &args.rule {
        Some(rule) => {
            if faxsim_sim::Rule::from_id(rule).is_none() {
                return Err(CliError::Input(format!(
                    "--rule {rule}: no such rule (`faxsim rules` lists them)"
                )));
            }
            Wanted {
                rule: rule.clone(),
                extension: args.extension.clone(),
            }
        }
        None => shrink::first_failure(&scenario, &source, how, args.deny_warnings, &runner)
            .ok_or_else(|| {
                CliError::Input(format!(
                    "{}: no failing finding in this run (name one with --rule)",
                    args.scenario.display()
                ))
            })?,
    };
    let shrunk =
        shrink::shrink(&args.scenario, &source, &wanted, how, &runner).map_err(CliError::Input)?;
    let file = shrunk.file("faxsim shrink", &args.scenario, &reproduce(args, seed));
    std::fs::write(&args.output, file)
        .map_err(|e| CliError::Input(format!("{}: cannot write: {e}", args.output.display())))?;
    let who = shrunk
        .wanted
        .extension
        .as_ref()
        .map_or_else(String::new, |e| format!(" ({e})"));
    println!(
        "shrunk {}: {}{who} still fires with {} ({} runs)",
        args.scenario.display(),
        shrunk.wanted.rule,
        shrunk.summary(),
        shrunk.runs
    );
    println!("written to {}", args.output.display());
    println!("reproduce: {}", reproduce(args, seed));
    Ok(Outcome::Clean)
}

/// Whether `path` holds a trace (binary, or JSON Lines: a TOML file never starts with
/// `{`) rather than a scenario file.
fn is_trace(path: &std::path::Path) -> Result<bool, CliError> {
    use std::io::Read;
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path)
        .map_err(|e| CliError::Input(format!("{}: cannot read: {e}", path.display())))?;
    let n = f.read(&mut head).unwrap_or(0);
    Ok((n == 8 && head == faxsim_trace::MAGIC) || (n > 0 && head[0] == b'{'))
}

/// `faxsim shrink TRACE --ext LIB…`: the recording made into a scenario that hosts the
/// libraries, shrunk.
fn run_trace(args: &ShrinkArgs) -> Result<Outcome, CliError> {
    let trace = &args.scenario;
    if args.ext.is_empty() {
        return Err(CliError::Input(format!(
            "{}: a trace shrinks into a scenario that hosts the real library: name it with --ext LIB",
            trace.display()
        )));
    }
    if args.policy.is_some() || args.seed.is_some() {
        return Err(CliError::Input(format!(
            "{}: a trace carries its own seed and decisions (--seed and --policy are for scenario files)",
            trace.display()
        )));
    }
    let wanted = match &args.rule {
        Some(rule) => {
            if faxsim_sim::Rule::from_id(rule).is_none() {
                return Err(CliError::Input(format!(
                    "--rule {rule}: no such rule (`faxsim rules` lists them)"
                )));
            }
            Some(Wanted {
                rule: rule.clone(),
                extension: args.extension.clone(),
            })
        }
        None => None,
    };
    let runner = runner(args.in_process, args.timeout_ms)?;
    let t = shrink::shrink_trace(trace, &args.ext, wanted, args.deny_warnings, &runner)
        .map_err(CliError::Input)?;
    let see = format!("faxsim run {}", args.output.display());
    let file = t.shrunk.file("faxsim shrink", trace, &see);
    std::fs::write(&args.output, file)
        .map_err(|e| CliError::Input(format!("{}: cannot write: {e}", args.output.display())))?;
    for n in &t.notes {
        eprintln!("faxsim: note: {n}");
    }
    let s = &t.shrunk;
    let who = s
        .wanted
        .extension
        .as_ref()
        .map_or_else(String::new, |e| format!(" ({e})"));
    println!(
        "shrunk {} ({} events): {}{who} still fires with {} ({} runs)",
        trace.display(),
        t.events,
        s.wanted.rule,
        s.summary(),
        s.runs
    );
    println!("written to {}", args.output.display());
    println!("reproduce: {see}");
    Ok(Outcome::Clean)
}

/// The command that shows the finding on the shrunk file.
fn reproduce(args: &ShrinkArgs, seed: u64) -> String {
    let out = args.output.display();
    match explore_strategy(args) {
        None => format!("faxsim run {out}"),
        Some(strategy) => format!(
            "faxsim explore {out} {} --seed {seed}",
            crate::cmd::explore::strategy_words(strategy)
        ),
    }
}

/// The exploration's decisions the failure was found under (`--policy`), if any.
fn explore_strategy(args: &ShrinkArgs) -> Option<Strategy> {
    args.policy.map(|p| match p {
        PolicyArg::Random => Strategy::Random,
        PolicyArg::Pct => Strategy::Pct {
            depth: args.depth,
            horizon: args.horizon.unwrap_or(1).max(1),
        },
    })
}
