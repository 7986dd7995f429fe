//! The stable JSON report of `docs/cli.md`: `{"faxsim", "format", "runs": [...], "findings": [...]}`.

use faxsim_sim::Finding;
use serde::Serialize;

/// The version of the JSON report format.
pub const FORMAT: u32 = 1;

/// One finding as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct FindingJson {
    /// Rule id.
    pub rule: &'static str,
    /// `error` or `warning`.
    pub severity: &'static str,
    /// The extension's name (`null` for service-wide findings).
    pub extension: Option<String>,
    /// Event index.
    pub event: u64,
    /// The message.
    pub message: String,
}

impl FindingJson {
    /// Converts a finding, naming its extension from `names`.
    pub fn new(f: &Finding, names: &[String]) -> FindingJson {
        FindingJson {
            rule: f.rule.id(),
            severity: f.severity.name(),
            extension: f.ext.map(|e| {
                names
                    .get(e.index())
                    .cloned()
                    .unwrap_or_else(|| format!("ext#{}", e.0))
            }),
            event: f.event,
            message: f.message.clone(),
        }
    }
}

/// One run (a scenario, a validated library under one seed, a checked trace).
#[derive(Debug, Clone, Serialize)]
pub struct RunJson {
    /// `run:PATH`, `validate:LIB`, `check:TRACE`.
    pub name: String,
    /// The seed.
    pub seed: u64,
    /// Whether it passed.
    pub passed: bool,
    /// Its findings.
    pub findings: Vec<FindingJson>,
    /// Unmet expectations (scenarios only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// What the library was exercised with in this run (validate's library runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::report::validate::CoverageJson>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportJson {
    /// faxsim's version.
    pub faxsim: &'static str,
    /// [`FORMAT`].
    pub format: u32,
    /// Every run.
    pub runs: Vec<RunJson>,
    /// Every run's findings again, flattened.
    pub findings: Vec<FindingJson>,
}

impl ReportJson {
    /// A report of `runs`.
    pub fn new(runs: Vec<RunJson>) -> ReportJson {
        let findings = runs
            .iter()
            .flat_map(|r| r.findings.iter().cloned())
            .collect();
        ReportJson {
            faxsim: env!("CARGO_PKG_VERSION"),
            format: FORMAT,
            runs,
            findings,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialise")
    }
}
