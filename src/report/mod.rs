//! Shared pieces of reports.

pub mod json;

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
