//! `faxsim convert`: between the binary form and JSON Lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use faxsim_trace::jsonl::JsonlWriter;
use faxsim_trace::{FlushPolicy, TraceError, TraceWriter};

use crate::cli::{CliError, Outcome};
use crate::cmd::show::{TraceInput, open_trace, print_notes, trace_error};

/// The form to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceForm {
    /// The binary container.
    Binary,
    /// JSON Lines.
    Jsonl,
}

/// Arguments of `faxsim convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The trace to read (binary or JSON Lines; told apart by content).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// The file to write (`-` for stdout); written whole or not at all.
    #[arg(value_name = "OUT")]
    pub output: PathBuf,
    /// The form to write [default: the other form than IN's].
    #[arg(long, value_enum)]
    pub to: Option<TraceForm>,
    /// Write the readable part of a damaged trace instead of failing.
    #[arg(long)]
    pub salvage: bool,
}

enum Sink {
    Binary(TraceWriter<BufWriter<Box<dyn Write>>>),
    Jsonl(JsonlWriter<BufWriter<Box<dyn Write>>>),
}

/// Runs `faxsim convert`.
pub fn run(args: &ConvertArgs) -> Result<Outcome, CliError> {
    let mut input = open_trace(&args.input)?;
    let to = args.to.unwrap_or(match input {
        TraceInput::Binary(_) => TraceForm::Jsonl,
        TraceInput::Jsonl(_) => TraceForm::Binary,
    });
    let to_stdout = args.output == Path::new("-");
    // A FIFO, device or link at OUT is written through as given: renaming over it would
    // replace it with a regular file.
    let through = !to_stdout
        && std::fs::symlink_metadata(&args.output).is_ok_and(|m| !m.file_type().is_file());
    if through {
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&args.output)
            .map_err(|e| CliError::Input(format!("{}: cannot open: {e}", args.output.display())))?;
        let out: Box<dyn Write> = Box::new(out);
        return convert(
            &mut input,
            BufWriter::with_capacity(64 * 1024, out),
            to,
            args.salvage,
            &args.input,
        );
    }
    // Write beside the target and rename at the end, so a failure leaves no half file.
    let partial = {
        let mut name = args.output.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    };
    let out: Box<dyn Write> =
        if to_stdout {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(File::create(&partial).map_err(|e| {
                CliError::Input(format!("{}: cannot create: {e}", partial.display()))
            })?)
        };
    let out = BufWriter::with_capacity(64 * 1024, out);
    let result = convert(&mut input, out, to, args.salvage, &args.input);
    if to_stdout {
        return result;
    }
    match result {
        Ok(code) => {
            std::fs::rename(&partial, &args.output).map_err(|e| {
                CliError::Input(format!("{}: cannot write: {e}", args.output.display()))
            })?;
            Ok(code)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn convert(
    input: &mut TraceInput,
    out: BufWriter<Box<dyn Write>>,
    to: TraceForm,
    salvage: bool,
    path: &Path,
) -> Result<Outcome, CliError> {
    let header = input.header().clone();
    let write_err = |e: TraceError| match e {
        TraceError::Io(e) => CliError::Io(e),
        other => CliError::Input(format!("{}: {other}", path.display())),
    };
    let mut sink = match to {
        TraceForm::Binary => Sink::Binary(
            TraceWriter::with_policy(out, &header, FlushPolicy::Batched).map_err(write_err)?,
        ),
        TraceForm::Jsonl => Sink::Jsonl(JsonlWriter::new(out, &header, false).map_err(write_err)?),
    };
    let mut damaged = false;
    loop {
        match input.next_event() {
            Ok(Some(e)) => match &mut sink {
                Sink::Binary(w) => w.write_event(&e).map_err(write_err)?,
                Sink::Jsonl(w) => w.write_event(&e).map_err(write_err)?,
            },
            Ok(None) => break,
            Err(e) if salvage && e.is_damage() => {
                eprintln!(
                    "faxsim: {}: {e}; wrote the events before it",
                    path.display()
                );
                damaged = true;
                break;
            }
            Err(e) => return Err(trace_error(path, &e)),
        }
    }
    print_notes(path, input.notes());
    if !damaged {
        crate::cmd::show::note_headerless(path, input);
    }
    match sink {
        Sink::Binary(w) => w.finish().map_err(write_err)?.flush()?,
        Sink::Jsonl(w) => w.finish().map_err(write_err)?.flush()?,
    }
    Ok(if damaged {
        Outcome::BadInput
    } else {
        Outcome::Clean
    })
}
