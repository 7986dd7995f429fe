//! Argument parsing and the mapping from outcomes to exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::cmd;

const EXIT_CODES: &str = "\
Exit codes:
  0  success: no finding of severity error (with --deny-warnings: none at all)
  1  the run completed and found something (findings, a divergence, an unmet expectation)
  2  bad input or usage: the message names the file (and line and column for text)
  3  an extension crashed, hung or aborted (in a worker of validate or run, or replay's child); the trace so far is kept";

/// Test Windows fax extensions (FSPs, virtual FSPs, routing extensions) against a
/// deterministic model of the fax service's configuration protocol.
#[derive(Debug, Parser)]
#[command(name = "faxsim", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour output (`NO_COLOR` is respected under `auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the rule catalog: every finding faxsim can report, with its severity.
    #[command(
        after_help = "Examples:\n  faxsim rules\n  faxsim rules --format json | jq '.rules[].id'"
    )]
    Rules(cmd::rules::RulesArgs),
    /// Run scenario files: a folder means every `*.toml` below it, in sorted order.
    #[command(
        after_help = "Examples:\n  faxsim run scenarios/\n  faxsim run scenarios/ownership/leak.toml --seed 7\n  faxsim run scenarios/ --format junit --output junit.xml"
    )]
    Run(cmd::run::RunArgs),
    /// Print a trace, or a part of it: canonical text, lossless JSON Lines, the interaction
    /// diagram (Mermaid) with the findings on it, or Chrome/Perfetto trace-event JSON.
    #[command(
        after_help = "Examples:\n  faxsim show run.trace\n  faxsim show run.trace --format mermaid > run.mmd   # the interaction diagram\n  faxsim show run.trace --format mermaid --around 70 # the part around a finding\n  faxsim show run.trace --ext my_routing --from 100 --to 300\n  faxsim show run.trace --format chrome > run.json   # open in ui.perfetto.dev\n  faxsim show run.trace --redact                     # for bug reports"
    )]
    Show(cmd::show::ShowArgs),
    /// Check recorded traces (from the simulator or a recorder) against the rule catalog.
    #[command(
        after_help = "Examples:\n  faxsim check run.trace\n  faxsim check traces/*.trace --format json --deny-warnings"
    )]
    Check(cmd::check::CheckArgs),
    /// Convert a trace between the binary form and JSON Lines.
    #[command(
        after_help = "Examples:\n  faxsim convert run.trace run.jsonl\n  faxsim convert run.jsonl run.trace\n  faxsim convert damaged.trace good.trace --to binary --salvage"
    )]
    Convert(cmd::convert::ConvertArgs),
    /// Host extension libraries in a simulated fax service and report every way they break
    /// the protocol.
    #[command(
        after_help = "Examples:\n  faxsim validate ./libmy_routing.so\n  faxsim validate my_fsp.dll --seeds 100 --format junit --output validate.xml\n  faxsim validate ./libmy_fsp.so --jobs 1 --record trace.jsonl\n  faxsim validate ./libmy_fsp.so --in-process   # inside faxsim, for a debugger"
    )]
    Validate(cmd::validate::ValidateArgs),
    /// Replay a recorded trace against builds of its extensions: drive them with the
    /// recorded service side and report the first place they behave differently.
    #[command(
        after_help = "Examples:\n  faxsim validate ./libmy_routing.so --record run.trace\n  faxsim replay run.trace --ext ./libmy_routing.so          # the same build: REPRODUCED\n  faxsim replay customer.trace --ext ./build/debug/my_fsp.dll\n  faxsim replay run.trace --ext ./new/libmy_routing.so --format json"
    )]
    Replay(cmd::replay::ReplayArgs),
    /// Search many seeds of delivery order and injected failures for the bugs one order
    /// or one failed call shows; each distinct failure once, with its reproduce command.
    #[command(
        after_help = "Examples:\n  faxsim explore --ext ./libmy_routing.so --seeds 2000\n  faxsim explore --ext ./libmy_routing.so --policy pct --depth 2 --time-budget 60s\n  faxsim explore --ext ./libmy_fsp.so --seeds 10000 --shard 2/4 --format json --output shard2.json\n  faxsim explore --merge shard1.json shard2.json shard3.json shard4.json\n  faxsim explore --ext ./libmy_routing.so --check-determinism --seeds 200"
    )]
    Explore(cmd::explore::ExploreArgs),
    /// Shrink a failing scenario file to the smallest one that still shows the finding:
    /// a regression test in one command.
    #[command(
        after_help = "Examples:\n  faxsim shrink long.toml --output min.toml\n  faxsim shrink long.toml --rule buffer-leak --extension router --output min.toml\n  faxsim shrink leak.toml --policy pct --depth 2 --horizon 12 --seed 41 --output min.toml   # a failure explore found"
    )]
    Shrink(cmd::shrink::ShrinkArgs),
    /// The child of crash-safe hosting (started by faxsim itself).
    #[command(name = "__worker", hide = true)]
    Worker(cmd::worker::WorkerArgs),
}

/// Output formats shared by the commands that print reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// Stable, versioned JSON.
    Json,
}

/// How a command ended: its exit code, the one table of `faxsim --help` (`EXIT_CODES`).
/// Commands return this, never a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 0: nothing found (under `--deny-warnings`: not even a warning).
    Clean,
    /// 1: the run completed and found something.
    Found,
    /// 2: bad input or usage; the message names the file.
    BadInput,
    /// 3: an extension crashed, hung or aborted; the trace so far is kept.
    Crashed,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Found => 1,
            Outcome::BadInput => 2,
            Outcome::Crashed => 3,
        }
    }

    /// `Found` when `found`, else `Clean`.
    pub fn found_if(found: bool) -> Outcome {
        if found {
            Outcome::Found
        } else {
            Outcome::Clean
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o.code())
    }
}

/// Why a command could not complete (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Writing the report failed.
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
    /// A bad input file or argument; the message names it.
    #[error("{0}")]
    Input(String),
}

impl From<faxsim_worker::PoolError> for CliError {
    /// A library that does not load or a job that cannot be set up is bad input; a
    /// worker that cannot be started or talked to is an I/O error.
    fn from(e: faxsim_worker::PoolError) -> Self {
        match e {
            faxsim_worker::PoolError::Usage(m) => CliError::Input(m),
            faxsim_worker::PoolError::Io(e) => CliError::Io(e),
        }
    }
}

impl CliError {
    /// What the error means as an outcome: bad input, except a closed pipe
    /// (`faxsim rules | head`), which is the reader's choice, not a failure.
    pub fn outcome(&self) -> Outcome {
        match self {
            CliError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Outcome::Clean,
            _ => Outcome::BadInput,
        }
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = crate::report::Color::resolve(cli.color);
    let result = match cli.command {
        Command::Rules(args) => cmd::rules::run(&args, color),
        Command::Run(args) => cmd::run::run(&args, color),
        Command::Show(args) => cmd::show::run(&args),
        Command::Check(args) => cmd::check::run(&args, color),
        Command::Convert(args) => cmd::convert::run(&args),
        Command::Validate(args) => cmd::validate::run(&args, color),
        Command::Replay(args) => cmd::replay::run(&args, color),
        Command::Explore(args) => cmd::explore::run(&args, color),
        Command::Shrink(args) => cmd::shrink::run(&args),
        Command::Worker(args) => cmd::worker::run(&args),
    };
    match result {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            let outcome = e.outcome();
            if outcome != Outcome::Clean {
                eprintln!("faxsim: {e:#}");
            }
            outcome.into()
        }
    }
}
