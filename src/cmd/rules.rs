//! `faxsim rules`: the rule catalog.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;
use faxsim_sim::{Rule, Side};
use serde::Serialize;

use crate::cli::{CliError, Format};
use crate::report::Color;

/// Arguments of `faxsim rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Serialize)]
struct RuleJson {
    id: &'static str,
    severity: &'static str,
    side: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
struct CatalogJson {
    faxsim: &'static str,
    format: u32,
    rules: Vec<RuleJson>,
}

/// The catalog as JSON (`{"faxsim", "format", "rules": [{id, severity, side, description}]}`).
pub fn catalog_json() -> String {
    let rules = Rule::ALL
        .iter()
        .map(|r| RuleJson {
            id: r.id(),
            severity: r.severity().name(),
            side: match r.side() {
                Side::Extension => "extension",
                Side::Service => "service",
            },
            description: r.description(),
        })
        .collect();
    let doc = CatalogJson {
        faxsim: env!("CARGO_PKG_VERSION"),
        format: 1,
        rules,
    };
    serde_json::to_string_pretty(&doc).expect("the catalog serialises")
}

/// The catalog as text, grouped by side.
pub fn catalog_text(color: Color) -> String {
    let mut out = String::new();
    for (side, title) in [
        (
            Side::Extension,
            "Extension-side rules (bugs in the extension under test)",
        ),
        (
            Side::Service,
            "Service-side rules (checked on traces of a real service)",
        ),
    ] {
        out.push_str(&color.bold(title));
        out.push('\n');
        for r in Rule::ALL.iter().filter(|r| r.side() == side) {
            let sev = color.severity(r.severity());
            out.push_str(&format!("  {:<26} {sev}  {}\n", r.id(), r.description()));
        }
        out.push('\n');
    }
    out
}

/// Runs `faxsim rules`.
pub fn run(args: &RulesArgs, color: Color) -> Result<ExitCode, CliError> {
    let text = match args.format {
        Format::Json => catalog_json() + "\n",
        Format::Text => catalog_text(color),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
