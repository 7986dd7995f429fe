//! `faxsim show`: a trace, or a window of it, as text, JSON Lines, the interaction diagram
//! (Mermaid) or Chrome trace JSON, with the checker's findings marked.
//! Also the trace input shared by `show`, `check` and `convert`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use clap::{Args, ValueEnum};
use faxsim_sim::{Finding, Severity};
use faxsim_trace::jsonl::JsonlWriter;
use faxsim_trace::mermaid::{MermaidOptions, MermaidWriter};
use faxsim_trace::render::{ChromeWriter, header_summary};
use faxsim_trace::text::RedactedTextLine;
use faxsim_trace::{
    ExtId, Header, Mark, MarkLevel, Marks, Note, TextLine, TraceError, TraceForm, Window,
};

use crate::cli::{CliError, Outcome};

/// Output formats of `faxsim show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// A header summary, then one canonical line per event (columns in docs/trace-format.md).
    Text,
    /// Lossless JSON Lines: the header, one event per line, an end line.
    Jsonl,
    /// The interaction diagram: a Mermaid sequence diagram with the documented
    /// interactions numbered, activation bars and the findings, under Mermaid's size limit
    /// (renders on GitHub in a ```mermaid block).
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
    /// Show events from this index on.
    #[arg(long, value_name = "N", conflicts_with = "around")]
    pub from: Option<u64>,
    /// Show events up to this index (included).
    #[arg(long, value_name = "M", conflicts_with = "around")]
    pub to: Option<u64>,
    /// Show the events around this one (--context of them either side): the part of the
    /// run a finding names. `check` and `validate` print this command next to each finding.
    #[arg(long, value_name = "EVENT")]
    pub around: Option<u64>,
    /// How many events either side of --around.
    #[arg(long, value_name = "N", default_value_t = 30, requires = "around")]
    pub context: u64,
    /// Show only this extension's events (and the service's own: runs, devices, external
    /// writes). NAME as the trace's header names it, or `ext#N`.
    #[arg(long, value_name = "NAME")]
    pub ext: Option<String>,
    /// Do not run the rule checker: no findings in the text, Mermaid and Chrome forms.
    #[arg(long)]
    pub no_findings: bool,
    /// Mermaid: draw every round, even where rounds repeat (the diagram is cut sooner to
    /// stay under Mermaid's size limit).
    #[arg(long)]
    pub no_fold: bool,
}

impl ShowArgs {
    /// The window the flags describe, with `--ext` resolved against the header.
    fn window(&self, header: &Header) -> Result<Window, CliError> {
        let mut w = match self.around {
            Some(e) => Window::around(e, self.context),
            None => Window {
                from: self.from.unwrap_or(0),
                to: self.to.unwrap_or(u64::MAX),
                ext: None,
            },
        };
        if w.from > w.to {
            return Err(CliError::Input(format!(
                "--from {} is after --to {}: no event can be shown",
                w.from, w.to
            )));
        }
        if let Some(name) = &self.ext {
            let names = header.extension_names();
            let index = names.iter().position(|n| n == name).or_else(|| {
                name.strip_prefix("ext#")
                    .and_then(|n| n.parse::<usize>().ok())
            });
            match index.and_then(|i| u16::try_from(i).ok()) {
                Some(i) => w.ext = Some(ExtId(i)),
                None => {
                    let known = if names.is_empty() {
                        "the trace names none (write ext#N)".to_string()
                    } else {
                        format!("the trace has {}", names.join(", "))
                    };
                    return Err(CliError::Input(format!(
                        "{}: no extension {name:?}: {known}",
                        self.trace.display()
                    )));
                }
            }
        }
        Ok(w)
    }
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

/// The checker's findings as marks for the renderers.
pub fn marks_of(findings: &[Finding]) -> Marks {
    Marks::new(
        findings
            .iter()
            .map(|f| Mark {
                event: f.event,
                ext: f.ext,
                level: match f.severity {
                    Severity::Error => MarkLevel::Error,
                    Severity::Warning => MarkLevel::Warning,
                },
                rule: f.rule.id().to_string(),
                message: f.message.clone(),
            })
            .collect(),
    )
}

/// The findings to show: the checker run over the whole trace first (a finding can
/// depend on any earlier event), unless `--no-findings`, JSON Lines (lossless, no
/// findings) or a trace that is not a regular file (it cannot be read twice).
fn marks(args: &ShowArgs) -> Result<Marks, CliError> {
    if args.no_findings || args.format == ShowFormat::Jsonl {
        return Ok(Marks::default());
    }
    if !std::fs::metadata(&args.trace).is_ok_and(|m| m.is_file()) {
        eprintln!(
            "faxsim: {}: note: not a regular file, so it is read once and shown without \
             findings (run faxsim check on a copy)",
            args.trace.display()
        );
        return Ok(Marks::default());
    }
    let checked = crate::cmd::check::check_trace(&args.trace)?;
    Ok(marks_of(&checked.findings))
}

/// Runs `faxsim show`.
pub fn run(args: &ShowArgs) -> Result<Outcome, CliError> {
    let mut input = open_trace(&args.trace)?;
    let header = input.header().clone();
    let window = args.window(&header)?;
    let marks = marks(args)?.within(&window);
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let names = header.extension_names();
    let mut events = 0u64;
    let damage = match args.format {
        ShowFormat::Text => {
            let (version, by) = origin(&input);
            out.write_all(header_summary(&header, &version, &by).as_bytes())?;
            if !window.is_all() {
                writeln!(out, "# showing {}", window.describe(&names))?;
            }
            let damage = loop {
                match input.next_event() {
                    Ok(Some(event)) => {
                        events += 1;
                        if !window.admits(&event) {
                            continue;
                        }
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
                        for m in marks.at(event.seq) {
                            writeln!(
                                out,
                                "# ^ {} {}: {}",
                                m.level.name(),
                                m.rule,
                                faxsim_trace::text::one_line(&m.message)
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
                    Ok(Some(e)) if window.admits(&e) => w.write_event(&e).map_err(io)?,
                    Ok(Some(_)) => {}
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
            let opts = MermaidOptions {
                redact: args.redact,
                window,
                fold: !args.no_fold,
                command: Some(format!(
                    "faxsim show {} --format mermaid",
                    crate::report::shell_word(&args.trace)
                )),
                ..MermaidOptions::default()
            };
            let mut w = MermaidWriter::new(&mut out, &header, &marks, opts);
            let damage = loop {
                match input.next_event() {
                    Ok(Some(e)) => w.event(&e)?,
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            w.finish(damage.as_ref().map(ToString::to_string).as_deref())?;
            damage
        }
        ShowFormat::Chrome => {
            let mut w = ChromeWriter::new(&mut out, &header, args.redact)?;
            let damage = loop {
                match input.next_event() {
                    Ok(Some(e)) if window.admits(&e) => {
                        w.event(&e)?;
                        for m in marks.at(e.seq) {
                            w.mark(&e, m)?;
                        }
                    }
                    Ok(Some(_)) => {}
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
