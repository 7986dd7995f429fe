//! Shared pieces of reports.

pub mod json;
pub mod validate;

use std::io::IsTerminal as _;

use faxsim_sim::Severity;

use crate::cli::ColorChoice;

/// Whether to emit ANSI colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Color(bool);

impl Color {
    /// Decides from the flag, `NO_COLOR` and whether stdout is a terminal.
    pub fn resolve(choice: ColorChoice) -> Color {
        Color(match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        })
    }

    fn paint(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// No colour.
    pub fn plain() -> Color {
        Color(false)
    }

    /// Green text.
    pub fn green(self, s: &str) -> String {
        self.paint("32", s)
    }

    /// Red text.
    pub fn red(self, s: &str) -> String {
        self.paint("31", s)
    }

    /// Bold text.
    pub fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }

    /// A severity, padded, red for errors and yellow for warnings.
    pub fn severity(self, s: Severity) -> String {
        let text = format!("{:<7}", s.name());
        match s {
            Severity::Error => self.paint("31", &text),
            Severity::Warning => self.paint("33", &text),
        }
    }
}

/// `--record`'s words for a trace that cannot be written (one line, naming the file).
pub fn trace_error(path: &std::path::Path, e: impl std::fmt::Display) -> String {
    format!("{}: cannot write the trace: {e}", path.display())
}

/// A `--record` trace at `path` (binary or JSON Lines by its name), or why there is none.
pub fn trace_sink(
    path: &std::path::Path,
    header: &faxsim_trace::Header,
) -> Result<Box<dyn faxsim_trace::EventSink>, String> {
    faxsim_trace::TraceSink::create(path, header)
        .map(|s| Box::new(s) as Box<dyn faxsim_trace::EventSink>)
        .map_err(|e| trace_error(path, e))
}

/// A path as a shell word: as it is when it needs no quoting, else in single quotes.
pub fn shell_word(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c) || (cfg!(windows) && c == '\\')
        });
    if plain {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command that draws the part of trace `path` around event `event` as a sequence
/// diagram (printed next to each finding of `check` and `validate`).
pub fn around_command(path: &std::path::Path, event: u64) -> String {
    format!(
        "faxsim show {} --format mermaid --around {event}",
        shell_word(path)
    )
}

/// Fails before the run if the report could not be written.
pub fn check_writable(path: &std::path::Path) -> Result<(), crate::cli::CliError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        return Err(crate::cli::CliError::Input(format!(
            "{}: cannot write the report: {} is not a folder",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

pub use faxsim_sim::explain::name_interrupted_call;
