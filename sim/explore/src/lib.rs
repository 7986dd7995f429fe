//! faxsim-explore: a seeded search for the bugs that show only under one delivery order or
//! one failed call.
//!
//! Each seed runs the validate battery over the libraries with the service's open
//! decisions taken by an [`ExploringChoices`](faxsim_sim::ExploringChoices) (`random` or
//! `pct`), on the worker processes of `faxsim-worker` (a crash or hang costs its seed
//! and is a failure like any other) or in process. What fails is deduplicated by rule,
//! extension and the entry point the extension was in where the finding starts, so ten
//! thousand seeds that leak the same buffer are one failure with its first seed and a
//! count. A search splits over machines by [`Shard`]; the shards' JSON reports merge into
//! the report of the whole ([`Report::merge`]). `--check-determinism` runs every seed
//! twice and names the first event where the two runs part.
//!
//! - [`plan`]: the seeds (range, shard), the strategy, the PCT horizon;
//! - [`search`]: running the seeds and checking each;
//! - [`Report`], [`Failure`]: the outcome, serialisable, mergeable.
#![forbid(unsafe_code)]

pub mod plan;
pub mod scenarios;
pub mod search;
pub mod shrink;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use plan::{Plan, Shard, StrategyPlan};
pub use search::{Search, SearchError, Target, decision_points};

/// The report format's version (the `format` field), as every faxsim JSON report.
pub const FORMAT: u32 = 1;

/// The pseudo rule of a seed whose two runs differ (`--check-determinism`).
pub const NONDETERMINISTIC: &str = "nondeterministic";

/// One distinct failure: a rule broken by one extension at one place, over every seed
/// that broke it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The scenario file it happened in (an exploration of scenarios).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The rule's id (`faxsim rules`), or [`NONDETERMINISTIC`].
    pub rule: String,
    /// `error` or `warning`.
    pub severity: String,
    /// The extension blamed (`-`: the service side).
    pub extension: String,
    /// The entry point the extension was in where the finding starts (`FaxExtConfigChange`,
    /// …; `-` outside any).
    pub entry_point: String,
    /// The first seed that showed it.
    pub first_seed: u64,
    /// How many seeds showed it.
    pub seeds: u64,
    /// The event of the first seed's finding.
    pub event: u64,
    /// The first seed's finding, in words.
    pub message: String,
    /// The command that runs the first seed alone.
    pub reproduce: String,
    /// The first seed's trace (`--record DIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// The smallest scenario file that still shows it (`--shrink`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<String>,
}

impl Failure {
    /// What makes two failures the same.
    pub fn key(&self) -> (String, String, String, String) {
        (
            self.scenario.clone().unwrap_or_default(),
            self.rule.clone(),
            self.extension.clone(),
            self.entry_point.clone(),
        )
    }
}

/// What was explored: everything two shard reports must agree on to merge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The libraries (or scenario files), as given.
    pub targets: Vec<String>,
    /// `random` or `pct`.
    pub policy: String,
    /// PCT's depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// PCT's horizon (decision points the change points are drawn from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon: Option<u64>,
    /// The first seed.
    pub first_seed: u64,
    /// Seeds planned (`None`: a time budget decided).
    pub seeds: Option<u64>,
    /// Every seed ran twice.
    pub check_determinism: bool,
    /// Warnings count as failures.
    pub deny_warnings: bool,
}

/// The outcome of an exploration (or of its shards, merged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// faxsim's version.
    pub faxsim: String,
    /// [`FORMAT`].
    pub format: u32,
    /// What was explored.
    pub explore: Settings,
    /// The shards this report covers, as `I/N` (empty: every seed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<Shard>,
    /// Seeds run.
    pub explored: u64,
    /// The distinct failures, by first seed.
    pub failures: Vec<Failure>,
    /// No failure.
    pub passed: bool,
}

impl Report {
    /// An empty report of `settings`.
    pub fn new(settings: Settings, shard: Option<Shard>) -> Report {
        Report {
            faxsim: env!("CARGO_PKG_VERSION").into(),
            format: FORMAT,
            explore: settings,
            shards: shard.into_iter().collect(),
            explored: 0,
            failures: Vec::new(),
            passed: true,
        }
    }

    /// Adds one seed's failures (each key at most once per seed). Seeds are added in
    /// order, so a failure's first seed is the first that showed it.
    pub fn add_seed(&mut self, failures: Vec<Failure>) {
        self.explored += 1;
        let mut seen = std::collections::BTreeSet::new();
        for f in failures {
            if !seen.insert(f.key()) {
                continue;
            }
            match self.failures.iter_mut().find(|g| g.key() == f.key()) {
                Some(g) => g.seeds += 1,
                None => self.failures.push(f),
            }
        }
        self.passed = self.failures.is_empty();
    }

    /// The failures of one seed that are new to the report (the first of each key not
    /// seen before), by index: the ones whose seed's trace `--record` keeps.
    pub fn fresh(&self, failures: &[Failure]) -> Vec<usize> {
        (0..failures.len())
            .filter(|&i| {
                let key = failures[i].key();
                !self.failures.iter().any(|g| g.key() == key)
                    && !failures[..i].iter().any(|g| g.key() == key)
            })
            .collect()
    }

    /// Whether a failure is an extension that crashed or hung.
    pub fn crashed(&self) -> bool {
        self.failures
            .iter()
            .any(|f| f.rule == "extension-crashed" || f.rule == "extension-hung")
    }

    /// The reports of shards of one exploration, merged: the report the unsharded run
    /// gives when every shard is there. Refuses reports of different explorations and a
    /// shard given twice.
    pub fn merge(reports: Vec<(String, Report)>) -> Result<Report, String> {
        let mut it = reports.into_iter();
        let Some((first_name, first)) = it.next() else {
            return Err("nothing to merge".into());
        };
        let mut merged = first;
        let mut failures: BTreeMap<(String, String, String, String), Failure> = BTreeMap::new();
        let mut names = BTreeMap::new();
        let mut absorb = |name: &str, r: &Report, merged_shards: &mut Vec<Shard>| {
            for s in &r.shards {
                if let Some(other) = names.insert(*s, name.to_string()) {
                    return Err(format!("{name}: shard {s} is also in {other}"));
                }
                merged_shards.push(*s);
            }
            for f in &r.failures {
                failures
                    .entry(f.key())
                    .and_modify(|g| {
                        g.seeds += f.seeds;
                        if f.first_seed < g.first_seed {
                            let seeds = g.seeds;
                            *g = f.clone();
                            g.seeds = seeds;
                        }
                    })
                    .or_insert_with(|| f.clone());
            }
            Ok(())
        };
        let mut shards = Vec::new();
        absorb(&first_name, &merged, &mut shards)?;
        let mut explored = merged.explored;
        for (name, r) in it {
            if r.explore != merged.explore {
                return Err(format!(
                    "{name}: another exploration than {first_name} (targets, policy, seeds or options differ)"
                ));
            }
            if r.format != merged.format {
                return Err(format!(
                    "{name}: report format {} (expected {})",
                    r.format, merged.format
                ));
            }
            absorb(&name, &r, &mut shards)?;
            explored += r.explored;
        }
        shards.sort();
        // Every shard of N there: the whole seed range, as an unsharded run reports it.
        let whole = shards.first().is_some_and(|s| {
            let n = s.total;
            shards.len() as u64 == n
                && shards.iter().all(|t| t.total == n)
                && shards
                    .iter()
                    .enumerate()
                    .all(|(i, t)| t.index == i as u64 + 1)
        });
        merged.shards = if whole { Vec::new() } else { shards };
        merged.explored = explored;
        let mut failures: Vec<Failure> = failures.into_values().collect();
        failures.sort_by_key(|f| (f.first_seed, f.key()));
        merged.failures = failures;
        merged.passed = merged.failures.is_empty();
        Ok(merged)
    }

    /// Puts the failures in report order (by first seed, then key).
    pub fn sort(&mut self) {
        self.failures.sort_by_key(|f| (f.first_seed, f.key()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(rule: &str, seed: u64) -> Failure {
        Failure {
            scenario: None,
            rule: rule.into(),
            severity: "error".into(),
            extension: "x".into(),
            entry_point: "FaxExtConfigChange".into(),
            first_seed: seed,
            seeds: 1,
            event: 3,
            message: format!("seed {seed}"),
            reproduce: format!("faxsim explore --seed {seed}"),
            trace: None,
            shrunk: None,
        }
    }

    fn settings() -> Settings {
        Settings {
            targets: vec!["lib.so".into()],
            policy: "random".into(),
            depth: None,
            horizon: None,
            first_seed: 0,
            seeds: Some(8),
            check_determinism: false,
            deny_warnings: false,
        }
    }

    /// The report of seeds 0..8 with a leak on every odd seed and a double free on 6.
    fn explore(shard: Option<Shard>) -> Report {
        let mut r = Report::new(settings(), shard);
        for seed in (0..8).filter(|&s| shard.is_none_or(|sh| sh.contains(s))) {
            let mut fs = Vec::new();
            if seed % 2 == 1 {
                fs.push(failure("buffer-leak", seed));
                fs.push(failure("buffer-leak", seed));
            }
            if seed == 6 {
                fs.push(failure("double-free", seed));
            }
            r.add_seed(fs);
        }
        r.sort();
        r
    }

    #[test]
    fn a_failure_counts_once_per_seed_and_keeps_its_first() {
        let r = explore(None);
        assert_eq!(r.explored, 8);
        assert_eq!(r.failures.len(), 2);
        assert_eq!((r.failures[0].first_seed, r.failures[0].seeds), (1, 4));
        assert_eq!((r.failures[1].first_seed, r.failures[1].seeds), (6, 1));
    }

    #[test]
    fn every_shard_merged_is_the_unsharded_report() {
        let whole = explore(None);
        for n in 1..=5 {
            let parts: Vec<(String, Report)> = (1..=n)
                .rev()
                .map(|i| {
                    let s = Shard { index: i, total: n };
                    (format!("{s}"), explore(Some(s)))
                })
                .collect();
            assert_eq!(Report::merge(parts).unwrap(), whole, "{n} shards");
        }
        // Some of them only: the report says which.
        let part = Report::merge(vec![(
            "a".into(),
            explore(Some(Shard { index: 2, total: 3 })),
        )])
        .unwrap();
        assert_eq!(part.shards, vec![Shard { index: 2, total: 3 }]);
    }

    #[test]
    fn merging_refuses_a_shard_twice_or_another_exploration() {
        let s = Shard { index: 1, total: 2 };
        let twice = Report::merge(vec![
            ("a".into(), explore(Some(s))),
            ("b".into(), explore(Some(s))),
        ]);
        assert!(twice.unwrap_err().contains("shard 1/2 is also in a"));
        let mut other = explore(Some(Shard { index: 2, total: 2 }));
        other.explore.policy = "pct".into();
        let e = Report::merge(vec![("a".into(), explore(Some(s))), ("b".into(), other)]);
        assert!(e.unwrap_err().contains("another exploration"));
    }
}
