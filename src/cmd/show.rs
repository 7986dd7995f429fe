//! `faxsim show`: a trace as text, JSON Lines, a Mermaid diagram or Chrome trace JSON.
//! Also the trace input shared by `show`, `check` and `convert`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use clap::{Args, ValueEnum};
use faxsim_trace::jsonl::JsonlWriter;
use faxsim_trace::render::{ChromeWriter, MermaidWriter, header_summary};
use faxsim_trace::text::RedactedTextLine;
use faxsim_trace::{Note, TextLine, TraceError, TraceForm};

use crate::cli::{CliError, Outcome};

/// Output formats of `faxsim show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// A header summary, then one canonical line per event (columns in docs/trace-format.md).
    Text,
    /// Lossless JSON Lines: the header, one event per line, an end line.
    Jsonl,
    /// A Mermaid sequence diagram (renders on GitHub in a ```mermaid block).
    Mermaid,
    /// Chrome/Perfetto trace-event JSON (open in ui.perfetto.dev or chrome://tracing).
    Chrome,
}

/// Arguments of `faxsim show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The trace (binary, or JSON Lines).
    #[arg(value_name = "TRACE")]
    pub trace: std::path::PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
    /// Replace every payload by its length and a short SHA-256 (`len=4 sha256:1a2b3c4d`).
    #[arg(long)]
    pub redact: bool,
}

/// An opened trace file in either form.
pub type TraceInput = faxsim_trace::TraceInput<BufReader<File>>;

/// One line naming the file, for a trace that cannot be read.
pub fn trace_error(path: &Path, e: &TraceError) -> CliError {
    CliError::Input(format!("{}: {e}", path.display()))
}

/// Opens a trace of either form, naming the file in any error.
pub fn open_trace(path: &Path) -> Result<TraceInput, CliError> {
    TraceInput::open(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

/// Notes on stderr that a JSON Lines file had no header line (after a command read it
/// without error: an error is one line of its own).
pub fn note_headerless(path: &Path, input: &TraceInput) {
    if input.is_headerless() {
        eprintln!(
            "faxsim: {}: note: no header line; extension names, seed and options are unknown",
            path.display()
        );
    }
}

/// `(version, written by)` for the summary.
fn origin(input: &TraceInput) -> (String, String) {
    match input.form() {
        TraceForm::Binary => (input.version().to_string(), input.written_by().to_string()),
        TraceForm::Jsonl => (
            format!("{} as JSON Lines", faxsim_trace::FORMAT_VERSION),
            input.written_by().to_string(),
        ),
    }
}

/// The end summary line of the text form.
fn end_line(input: &TraceInput, events: u64) -> String {
    if let Some(end) = input.binary_end() {
        return format!(
            "# end: {} events, hash {:016x}, {} bytes ({:.1} bytes/event)",
            end.events,
            end.hash,
            end.bytes,
            end.bytes as f64 / end.events.max(1) as f64
        );
    }
    match input.end() {
        Some((n, Some(h))) => format!("# end: {n} events, hash {h:016x}"),
        _ => format!("# end: {events} events"),
    }
}

/// Prints the reader's notes on stderr, naming the file.
pub fn print_notes(path: &Path, notes: &[Note]) {
    for n in notes {
        eprintln!("faxsim: {}: note: {n}", path.display());
    }
}

/// Runs `faxsim show`.
pub fn run(args: &ShowArgs) -> Result<Outcome, CliError> {
    let mut input = open_trace(&args.trace)?;
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let header = input.header().clone();
    let names = header.extension_names();
    let mut events = 0u64;
    let damage = match args.format {
        ShowFormat::Text => {
            let (version, by) = origin(&input);
            out.write_all(header_summary(&header, &version, &by).as_bytes())?;
            let damage = loop {
                match input.next_event() {
                    Ok(Some(event)) => {
                        events += 1;
                        if args.redact {
                            writeln!(
                                out,
                                "{}",
                                RedactedTextLine {
                                    event: &event,
                                    names: &names
                                }
                            )?;
                        } else {
                            writeln!(
                                out,
                                "{}",
                                TextLine {
                                    event: &event,
                                    names: &names
                                }
                            )?;
                        }
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            for n in input.notes() {
                writeln!(out, "# note: {n}")?;
            }
            match &damage {
                Some(e) => writeln!(out, "# damaged: {e}")?,
                None => writeln!(out, "{}", end_line(&input, events))?,
            }
            damage
        }
        ShowFormat::Jsonl => {
            let mut w = JsonlWriter::new(&mut out, &header, args.redact).map_err(io)?;
            let damage = loop {
                match input.next_event() {
                    Ok(Some(e)) => w.write_event(&e).map_err(io)?,
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            // A damaged trace gets no end line, so its JSON form is visibly incomplete.
            if damage.is_none() {
                w.finish().map_err(io)?;
            }
            damage
        }
        ShowFormat::Mermaid => {
            let mut w = MermaidWriter::new(&mut out, &header, args.redact)?;
            let damage = loop {
                match input.next_event() {
                    Ok(Some(e)) => w.event(&e)?,
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            w.finish()?;
            damage
        }
        ShowFormat::Chrome => {
            let mut w = ChromeWriter::new(&mut out, &header, args.redact)?;
            let damage = loop {
                match input.next_event() {
                    Ok(Some(e)) => w.event(&e)?,
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            w.finish()?;
            damage
        }
    };
    out.flush()?;
    print_notes(&args.trace, input.notes());
    match damage {
        // Everything readable was shown; the file is still bad input.
        Some(e) => Err(trace_error(&args.trace, &e)),
        None => {
            note_headerless(&args.trace, &input);
            Ok(Outcome::Clean)
        }
    }
}

/// Output errors of the trace writers are I/O errors of stdout.
fn io(e: TraceError) -> CliError {
    match e {
        TraceError::Io(e) => CliError::Io(e),
        other => CliError::Input(other.to_string()),
    }
}
