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

/// Adds the call a crash or hang interrupted to the `extension-crashed` and
/// `extension-hung` findings ("… (inside FaxExtConfigChange, called at event 52)").
pub fn name_interrupted_call(
    findings: &mut [faxsim_sim::Finding],
    open: &faxsim_sim::trace::OpenCalls,
) {
    let Some(call) = open.innermost() else {
        return;
    };
    for f in findings {
        if matches!(
            f.rule,
            faxsim_sim::Rule::ExtensionHung | faxsim_sim::Rule::ExtensionCrashed
        ) {
            f.message = format!("{} ({})", f.message, call.describe());
        }
    }
}

/// Adds the injected failure that opened the path to an extension's finding: when,
/// inside the same call from the service into that extension as the finding's origin
/// (the earliest event its message names, such as the GetData of a leaked buffer, else
/// the finding's own event), an earlier callback of it returned a failure the fault plan
/// injected, the message ends with "(after its SetData at event 48 returned an injected
/// ERROR_INVALID_PARAMETER)". That is the error path a careful extension must handle,
/// and the one a reader would otherwise not suspect.
pub fn name_injected_causes(
    findings: &mut [faxsim_sim::Finding],
    events: &[faxsim_sim::trace::Event],
) {
    use faxsim_sim::trace::{Direction, EventKind, Half};
    if !events.iter().any(|e| injected(&e.kind).is_some()) {
        return;
    }
    // The outermost call from the service into each extension enclosing each event:
    // (ext, first event, last event), per thread.
    let mut calls: Vec<(faxsim_sim::trace::ExtId, u64, u64)> = Vec::new();
    let mut open: std::collections::HashMap<u16, (usize, u64, faxsim_sim::trace::ExtId)> =
        std::collections::HashMap::new();
    for e in events {
        match e.kind.half() {
            Some(Half::Call(c)) if c.direction() == Direction::ToExtension => {
                if let Some(x) = e.ext {
                    open.entry(e.thread).or_insert((0, e.seq, x)).0 += 1;
                }
            }
            Some(Half::Return(c)) if c.direction() == Direction::ToExtension => {
                if let Some(o) = open.get_mut(&e.thread) {
                    o.0 -= 1;
                    if o.0 == 0 {
                        calls.push((o.2, o.1, e.seq));
                        open.remove(&e.thread);
                    }
                }
            }
            _ => {}
        }
    }
    for (_, (_, start, x)) in open {
        calls.push((x, start, u64::MAX));
    }
    for f in findings {
        let Some(ext) = f.ext else { continue };
        if f.rule.side() != faxsim_sim::Side::Extension {
            continue;
        }
        let origin = first_event_named(&f.message)
            .filter(|&o| o < f.event)
            .unwrap_or(f.event);
        let Some(&(_, start, end)) = calls
            .iter()
            .find(|(x, s, e)| *x == ext && *s <= origin && origin <= *e)
        else {
            continue;
        };
        let cause = events
            .iter()
            .filter(|e| e.ext == Some(ext) && e.seq > start && e.seq < f.event.min(end))
            .filter_map(|e| injected(&e.kind).map(|(cb, code)| (e.seq, cb, code)))
            .next_back();
        if let Some((seq, callback, code)) = cause {
            f.message = format!(
                "{} (after its {callback} at event {seq} returned an injected {})",
                f.message,
                faxsim_sim::trace::text::win32_name(code)
            );
        }
    }

    fn injected(kind: &EventKind) -> Option<(&'static str, u32)> {
        match *kind {
            EventKind::GetDataReturn {
                code,
                injected: true,
                ..
            } => Some(("GetData", code)),
            EventKind::SetDataReturn {
                code,
                injected: true,
            } => Some(("SetData", code)),
            EventKind::RegisterReturn {
                last_error,
                injected: true,
                ..
            } => Some(("RegisterForEvents", last_error)),
            EventKind::UnregisterReturn {
                code,
                injected: true,
            } => Some(("UnregisterForEvents", code)),
            _ => None,
        }
    }
}

/// The smallest `event N` a message names.
fn first_event_named(message: &str) -> Option<u64> {
    message
        .match_indices("event ")
        .filter_map(|(i, m)| {
            let digits: String = message[i + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .min()
}
