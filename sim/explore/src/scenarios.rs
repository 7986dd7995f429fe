//! Exploring scenario files: each seed runs the scenario with the exploration's
//! decisions. Scripted extensions run in this process, on `--jobs` threads (a run is a
//! few dozen microseconds); a scenario that hosts libraries runs each seed in a worker
//! process, crash-safe. A seed fails on an error finding (a warning with
//! `deny_warnings`) whose rule the file does not allow: a scenario that demonstrates a
//! bug names it, and only what else goes wrong counts.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faxsim_scenario::{RunOptions, Scenario};
use faxsim_sim::{Finding, Severity, Strategy};
use faxsim_trace::{Event, Header, TraceSink};
use faxsim_worker::{Job, PoolConfig, ScenarioJob};

use crate::plan::{Plan, StrategyPlan};
use crate::search::{SearchError, decision_points, ext_name, parting};
use crate::{Failure, Report};

/// How to explore one scenario file.
pub struct ScenarioSearch<'a> {
    /// The seeds.
    pub plan: Plan,
    /// The strategy (PCT's horizon resolved: [`ScenarioSearch::strategy_of`]).
    pub strategy: Strategy,
    /// Run each seed twice and compare.
    pub check_determinism: bool,
    /// Warnings are failures too.
    pub deny_warnings: bool,
    /// Stop starting seeds after this long (from `started`).
    pub budget: Option<(Instant, Duration)>,
    /// Threads for scripted scenarios, and the pool for scenarios that host libraries
    /// (`None`: in this process, as for a debugger).
    pub threads: usize,
    /// Worker processes for a scenario that hosts libraries.
    pub pool: Option<PoolConfig>,
    /// Where to write the first seed's trace of each distinct failure.
    pub record: Option<std::path::PathBuf>,
    /// The command that runs one seed of this file alone.
    pub reproduce: &'a (dyn Fn(u64) -> String + Sync),
}

/// Seeds run between two reports: memory stays bounded (a few MiB of results).
const BATCH: usize = 16_384;

/// One seed's run, checked.
struct Seeded {
    seed: u64,
    failures: Vec<Failure>,
    /// The trace already written (a worker's run, kept when it failed under --record).
    trace: Option<String>,
}

impl std::fmt::Debug for ScenarioSearch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioSearch")
            .field("plan", &self.plan)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl ScenarioSearch<'_> {
    /// PCT's horizon for a scenario: the decision points of its natural run under `seed`.
    pub fn strategy_of(
        plan: StrategyPlan,
        scenario: &Scenario,
        seed: u64,
    ) -> Result<Strategy, SearchError> {
        Ok(match plan {
            StrategyPlan::Random => Strategy::Random,
            StrategyPlan::Pct {
                depth,
                horizon: Some(h),
            } => Strategy::Pct {
                depth,
                horizon: h.max(1),
            },
            StrategyPlan::Pct {
                depth,
                horizon: None,
            } => {
                let natural = Strategy::Pct {
                    depth: 1,
                    horizon: 1,
                };
                let r = scenario
                    .run(run_options(Some(seed), Some(natural)))
                    .map_err(|e| SearchError::Usage(e.to_string()))?;
                Strategy::Pct {
                    depth,
                    horizon: decision_points(&r.events).max(1),
                }
            }
        })
    }

    /// Runs the seeds of `scenario` into `report`; `tick` is called after every seed.
    pub fn run(
        &self,
        scenario: &Scenario,
        report: &mut Report,
        tick: &(dyn Fn(&Report) + Sync),
    ) -> Result<(), SearchError> {
        // Batches keep memory bounded however many seeds (or however long a budget)
        // there are; the threads are dealt each batch's seeds, in order.
        let mut plan = self.plan.seeds();
        loop {
            let seeds: Vec<u64> = plan.by_ref().take(BATCH).collect();
            if seeds.is_empty() {
                return Ok(());
            }
            let results = if scenario.hosts_libraries() && self.pool.is_some() {
                self.in_workers(scenario, &seeds)?
            } else {
                self.in_threads(scenario, &seeds)?
            };
            let cut_short = results.len() < seeds.len();
            self.report_batch(scenario, results, report, tick)?;
            if cut_short || self.over() {
                return Ok(());
            }
        }
    }

    /// Adds a batch's seeds to the report, in order, recording new failures.
    fn report_batch(
        &self,
        scenario: &Scenario,
        results: Vec<Seeded>,
        report: &mut Report,
        tick: &(dyn Fn(&Report) + Sync),
    ) -> Result<(), SearchError> {
        for r in results {
            let fresh = report.fresh(&r.failures);
            let mut failures = r.failures;
            if let (Some(dir), false) = (&self.record, fresh.is_empty()) {
                let path = match r.trace {
                    Some(p) => p,
                    None => self.record_seed(scenario, r.seed, dir)?,
                };
                for i in fresh {
                    failures[i].trace = Some(path.clone());
                }
            }
            report.add_seed(failures);
            tick(report);
        }
        Ok(())
    }

    fn over(&self) -> bool {
        self.budget.is_some_and(|(t, b)| t.elapsed() >= b)
    }

    /// Scripted scenarios: seeds dealt round-robin to threads, put back in seed order.
    fn in_threads(&self, scenario: &Scenario, seeds: &[u64]) -> Result<Vec<Seeded>, SearchError> {
        let threads = self.threads.clamp(1, seeds.len().max(1));
        let stop = AtomicBool::new(false);
        let mut all: Vec<Seeded> = Vec::with_capacity(seeds.len());
        let mut error = None;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let stop = &stop;
                    s.spawn(move || -> Result<Vec<Seeded>, SearchError> {
                        let mut out = Vec::new();
                        for &seed in seeds.iter().skip(t).step_by(threads) {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            out.push(self.one_seed(scenario, seed)?);
                            if self.over() {
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                        Ok(out)
                    })
                })
                .collect();
            for h in handles {
                match h.join() {
                    Ok(Ok(v)) => all.extend(v),
                    Ok(Err(e)) => error = Some(e),
                    Err(_) => {
                        error = Some(SearchError::Usage("an exploration thread panicked".into()))
                    }
                }
            }
        });
        if let Some(e) = error {
            return Err(e);
        }
        all.sort_by_key(|r| r.seed);
        if stop.load(Ordering::Relaxed) {
            // Under a budget the threads stop at different seeds: keep the unbroken
            // prefix, so the report covers the seeds first..first+N exactly.
            let mut expected = seeds.iter();
            let keep = all
                .iter()
                .take_while(|r| expected.next() == Some(&r.seed))
                .count();
            all.truncate(keep);
        }
        Ok(all)
    }

    fn one_seed(&self, scenario: &Scenario, seed: u64) -> Result<Seeded, SearchError> {
        let run = || {
            scenario
                .run(run_options(Some(seed), Some(self.strategy)))
                .map_err(|e| SearchError::Usage(e.to_string()))
        };
        let r = run()?;
        let mut failures = self.failures_of(scenario, seed, &r.names, &r.findings, &r.events);
        if self.check_determinism {
            let again = run()?;
            if let Some(mut f) = parting(
                &r.names,
                &r.events,
                &again.events,
                seed,
                (self.reproduce)(seed),
            ) {
                f.scenario = Some(scenario_name(scenario));
                failures.push(f);
            }
        }
        Ok(Seeded {
            seed,
            failures,
            trace: None,
        })
    }

    /// A scenario that hosts libraries: each seed in a worker process.
    fn in_workers(&self, scenario: &Scenario, seeds: &[u64]) -> Result<Vec<Seeded>, SearchError> {
        let Some(path) = scenario.path.to_str() else {
            return self.in_threads(scenario, seeds);
        };
        let cfg = self.pool.clone().expect("checked by the caller");
        let runs = if self.check_determinism { 2 } else { 1 };
        let jobs: Vec<Job> = seeds
            .iter()
            .flat_map(|&seed| {
                std::iter::repeat_n(
                    Job::Scenario(ScenarioJob {
                        path: path.to_string(),
                        seed: Some(seed),
                        deny_warnings: self.deny_warnings,
                        explore: Some(self.strategy),
                    }),
                    runs,
                )
            })
            .collect();
        let mut out = Vec::new();
        let mut error = None;
        let mut first: Option<faxsim_worker::JobResult> = None;
        let mut no_sink = |_: &Job, _: &Header| Ok(None);
        faxsim_worker::run_jobs(&cfg, &jobs, &mut no_sink, |_, r| {
            if self.check_determinism && first.is_none() {
                first = Some(r);
                return ControlFlow::Continue(());
            }
            let seed = r.job.seed().unwrap_or(0);
            let names = r.scenario_names();
            let findings = r.scenario_findings();
            let mut failures = self.failures_of(scenario, seed, &names, &findings, &r.events);
            if let Some(a) = first.take()
                && let Some(mut f) =
                    parting(&names, &a.events, &r.events, seed, (self.reproduce)(seed))
            {
                f.scenario = Some(scenario_name(scenario));
                failures.push(f);
            }
            let mut trace = None;
            if let (Some(dir), Some(header), false) = (&self.record, &r.header, failures.is_empty())
            {
                let path = dir.join(format!("{}-seed-{seed}.trace", stem(scenario)));
                match crate::search::write_trace(&path, header, &r.events) {
                    Ok(p) => trace = Some(p),
                    Err(e) => error = Some(SearchError::Usage(e)),
                }
            }
            out.push(Seeded {
                seed,
                failures,
                trace,
            });
            if self.over() || error.is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        match error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn failures_of(
        &self,
        scenario: &Scenario,
        seed: u64,
        names: &[String],
        findings: &[Finding],
        events: &[Event],
    ) -> Vec<Failure> {
        let allowed: BTreeSet<String> = scenario.allowed_rules();
        findings
            .iter()
            .filter(|f| f.severity == Severity::Error || self.deny_warnings)
            .filter(|f| !allowed.contains(f.rule.id()))
            .map(|f| {
                let at = faxsim_sim::explain::origin(f);
                Failure {
                    scenario: Some(scenario_name(scenario)),
                    rule: f.rule.id().into(),
                    severity: f.severity.name().into(),
                    extension: ext_name(names, f.ext),
                    entry_point: faxsim_sim::explain::entry_point_at(events, at)
                        .map_or_else(|| "-".to_string(), |c| c.function),
                    first_seed: seed,
                    seeds: 1,
                    event: f.event,
                    message: f.message.clone(),
                    reproduce: (self.reproduce)(seed),
                    trace: None,
                    shrunk: None,
                }
            })
            .collect()
    }

    /// Runs `seed` of a scripted scenario again with a trace file; its path.
    fn record_seed(
        &self,
        scenario: &Scenario,
        seed: u64,
        dir: &Path,
    ) -> Result<String, SearchError> {
        let path = dir.join(format!("{}-seed-{seed}.trace", stem(scenario)));
        let fail = |e: String| {
            SearchError::Usage(format!("{}: cannot write the trace: {e}", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let mut sinks = |svc: &faxsim_sim::Service| {
            TraceSink::create(&path, &svc.trace_header(scenario.trace_extensions(svc)))
                .map(|s| vec![Box::new(s) as Box<dyn faxsim_trace::EventSink>])
                .map_err(|e| e.to_string())
        };
        let r = scenario
            .run_with(run_options(Some(seed), Some(self.strategy)), &mut sinks)
            .map_err(|e| fail(e.to_string()))?;
        if let Some(e) = r.recording_error {
            return Err(fail(e));
        }
        Ok(path.display().to_string())
    }
}

fn stem(scenario: &Scenario) -> String {
    scenario
        .path
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
}

/// A seed's run: the file's libraries hosted (there are none in a scripted scenario),
/// the exploration's decisions.
pub(crate) fn run_options(seed: Option<u64>, explore: Option<Strategy>) -> RunOptions {
    RunOptions {
        seed,
        libraries: faxsim_scenario::Libraries::Host,
        deny_warnings: false,
        explore,
    }
}

fn scenario_name(s: &Scenario) -> String {
    s.path.display().to_string()
}
