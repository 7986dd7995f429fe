//! `faxsim show`: a trace as text, JSON Lines, a Mermaid diagram or Chrome trace JSON.
//! Also the trace input shared by `show`, `check` and `convert`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use faxsim_trace::jsonl::{JsonlReader, JsonlWriter};
use faxsim_trace::render::{ChromeWriter, MermaidWriter, header_summary};
use faxsim_trace::text::RedactedTextLine;
use faxsim_trace::{Event, Header, Note, TextLine, TraceError, TraceReader};

use crate::cli::CliError;

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

/// An opened trace in either form.
#[derive(Debug)]
pub enum TraceInput {
    /// The binary form.
    Binary(TraceReader<BufReader<File>>),
    /// The JSON Lines form.
    Jsonl(JsonlReader<BufReader<File>>),
}

/// One line naming the file, for a trace that cannot be read.
pub fn trace_error(path: &Path, e: &TraceError) -> CliError {
    CliError::Input(format!("{}: {e}", path.display()))
}

impl TraceInput {
    /// Opens a trace, telling the two forms apart by their first byte.
    pub fn open(path: &Path) -> Result<TraceInput, CliError> {
        let file = File::open(path)
            .map_err(|e| CliError::Input(format!("{}: cannot open: {e}", path.display())))?;
        let mut src = BufReader::with_capacity(64 * 1024, file);
        let first = src
            .fill_buf()
            .map_err(|e| CliError::Input(format!("{}: cannot read: {e}", path.display())))?
            .first()
            .copied();
        let r = if first == Some(b'{') {
            JsonlReader::new(src).map(|r| {
                if r.is_headerless() {
                    eprintln!(
                        "faxsim: {}: note: no header line; extension names, seed and options are unknown",
                        path.display()
                    );
                }
                TraceInput::Jsonl(r)
            })
        } else {
            TraceReader::new(src).map(TraceInput::Binary)
        };
        r.map_err(|e| trace_error(path, &e))
    }

    /// The header.
    pub fn header(&self) -> &Header {
        match self {
            TraceInput::Binary(r) => r.header(),
            TraceInput::Jsonl(r) => r.header(),
        }
    }

    /// The next event; `Ok(None)` at a clean end.
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        match self {
            TraceInput::Binary(r) => r.next_event(),
            TraceInput::Jsonl(r) => r.next_event(),
        }
    }

    /// What the reader skipped (binary form only).
    pub fn notes(&self) -> &[Note] {
        match self {
            TraceInput::Binary(r) => r.notes(),
            TraceInput::Jsonl(_) => &[],
        }
    }

    /// `(version, written by)` for the summary.
    fn origin(&self) -> (String, String) {
        match self {
            TraceInput::Binary(r) => (r.version().to_string(), r.written_by().to_string()),
            TraceInput::Jsonl(r) => (
                format!("{} as JSON Lines", faxsim_trace::FORMAT_VERSION),
                r.header().faxsim.clone(),
            ),
        }
    }

    /// The end summary line of the text form.
    fn end_line(&self, events: u64) -> String {
        match self {
            TraceInput::Binary(r) => match r.end() {
                Some(end) => format!(
                    "# end: {} events, hash {:016x}, {} bytes ({:.1} bytes/event)",
                    end.events,
                    end.hash,
                    end.bytes,
                    end.bytes as f64 / end.events.max(1) as f64
                ),
                None => format!("# end: {events} events"),
            },
            TraceInput::Jsonl(r) => match r.end() {
                Some((n, Some(h))) => format!("# end: {n} events, hash {h:016x}"),
                _ => format!("# end: {events} events"),
            },
        }
    }
}

/// Prints the reader's notes on stderr, naming the file.
pub fn print_notes(path: &Path, notes: &[Note]) {
    for n in notes {
        eprintln!("faxsim: {}: note: {n}", path.display());
    }
}

/// Runs `faxsim show`.
pub fn run(args: &ShowArgs) -> Result<ExitCode, CliError> {
    let mut input = TraceInput::open(&args.trace)?;
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let header = input.header().clone();
    let names = header.extension_names();
    let mut events = 0u64;
    let damage = match args.format {
        ShowFormat::Text => {
            let (version, by) = input.origin();
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
                None => writeln!(out, "{}", input.end_line(events))?,
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
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Output errors of the trace writers are I/O errors of stdout.
fn io(e: TraceError) -> CliError {
    match e {
        TraceError::Io(e) => CliError::Io(e),
        other => CliError::Input(other.to_string()),
    }
}
