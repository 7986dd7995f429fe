//! `faxsim rules`: the rule catalog.

use std::io::Write as _;

use clap::Args;
use faxsim_sim::{Rule, Side};
use serde::Serialize;

use crate::cli::{CliError, Format, Outcome};
use crate::report::Color;

/// Arguments of `faxsim rules`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  faxsim rules\n  faxsim rules buffer-leak      # what it means, the typical bug, the fix, the near miss"
)]
pub struct RulesArgs {
    /// Explain this rule: its trigger, the typical bug, the fix and the near miss.
    #[arg(value_name = "RULE")]
    pub rule: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The rule guide, built into the binary so `faxsim rules RULE` works anywhere.
const GUIDE: &str = include_str!("../../docs/rules.md");

/// The guide's section on `rule` (from its `### id` heading to the next heading).
pub fn explanation(rule: Rule) -> Option<&'static str> {
    let heading = format!("### {}\n", rule.id());
    let start = GUIDE.find(&heading)?;
    let body = &GUIDE[start..];
    // The next heading of the guide's outline (never a `#` inside a code block, which
    // the guide indents).
    let rest = &body[heading.len()..];
    let end = ["\n### ", "\n## "]
        .iter()
        .filter_map(|h| rest.find(h))
        .min()
        .map_or(body.len(), |i| heading.len() + i + 1);
    Some(body[..end].trim_end())
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
pub fn run(args: &RulesArgs, color: Color) -> Result<Outcome, CliError> {
    if let Some(id) = &args.rule {
        let Some(rule) = Rule::from_id(id) else {
            let near = Rule::ALL
                .iter()
                .map(|r| (strsim::levenshtein(id, r.id()), r.id()))
                .min()
                .filter(|(d, _)| *d <= 3)
                .map(|(_, r)| format!(" (did you mean `{r}`?)"))
                .unwrap_or_default();
            return Err(CliError::Input(format!(
                "{id}: no such rule{near}; `faxsim rules` lists them"
            )));
        };
        let text = match args.format {
            Format::Json => {
                serde_json::to_string_pretty(&serde_json::json!({
                    "faxsim": env!("CARGO_PKG_VERSION"),
                    "format": 1,
                    "id": rule.id(),
                    "severity": rule.severity().name(),
                    "description": rule.description(),
                    "explanation": explanation(rule),
                }))
                .expect("serialises")
                    + "\n"
            }
            Format::Text => format!("{}\n", explanation(rule).unwrap_or(rule.description())),
        };
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(Outcome::Clean);
    }
    let text = match args.format {
        Format::Json => catalog_json() + "\n",
        Format::Text => catalog_text(color),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(Outcome::Clean)
}
