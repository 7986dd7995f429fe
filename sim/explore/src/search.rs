//! Running an exploration: each seed is a battery job (`faxsim-worker`) with the
//! exploration's strategy; its events are checked and turned into [`Failure`]s.

use std::io;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use faxsim_host::battery::{self, PEER_NAME};
use faxsim_sim::{Severity, Strategy};
use faxsim_trace::{Crossing, Event, FlushPolicy, Half, Header, TextLine, TraceWriter};
use faxsim_worker::{BatteryJob, Job, JobResult, Library, PoolConfig, PoolError};

use crate::plan::{Plan, StrategyPlan};
use crate::{Failure, NONDETERMINISTIC, Report};

/// The libraries explored, as `validate` takes them.
#[derive(Clone, Debug)]
pub struct Target {
    /// The libraries.
    pub libs: Vec<PathBuf>,
    /// `--kind`.
    pub kind: Option<faxsim_trace::ExtensionKind>,
    /// `--routing-method` GUIDs.
    pub extra_guids: Vec<String>,
    /// `--routing-method GUID=FUNCTION` pairs.
    pub method_functions: Vec<(String, String)>,
}

impl Target {
    fn job(&self, seed: u64, strategy: Strategy) -> Job {
        // PCT schedules deliveries itself: every notification is deferred, by no step
        // but at its change points (the natural schedule is write order).
        let delivery = match strategy {
            Strategy::Pct { .. } => faxsim_sim::DeliveryPolicy::Deferred,
            Strategy::Random => battery::policy_of(seed),
        };
        Job::Battery(BatteryJob {
            seed,
            delivery,
            extra_guids: self.extra_guids.clone(),
            method_functions: self.method_functions.clone(),
            explore: Some(strategy),
        })
    }
}

/// Why an exploration could not run: the worker pool's reasons (a library that does not
/// load, a seed that cannot be set up: `Usage`; a worker that cannot be started: `Io`).
pub type SearchError = PoolError;

/// The decision points of a run, as PCT counts them (see `faxsim_sim::exploring`):
/// the callback calls that could fail and the notifications delivered. A natural run's
/// count is PCT's horizon.
pub fn decision_points(events: &[Event]) -> u64 {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.kind.half(),
                Some(Half::Call(
                    Crossing::GetData
                        | Crossing::SetData
                        | Crossing::Register
                        | Crossing::Unregister
                        | Crossing::ConfigChange
                ))
            )
        })
        .count() as u64
}

/// One exploration, ready to run.
pub struct Search<'a> {
    /// The libraries.
    pub target: Target,
    /// The seeds.
    pub plan: Plan,
    /// The strategy (PCT's horizon resolved: see [`Search::calibrate`]).
    pub strategy: Strategy,
    /// Run each seed twice and compare.
    pub check_determinism: bool,
    /// Warnings are failures too.
    pub deny_warnings: bool,
    /// Stop starting seeds after this long.
    pub budget: Option<Duration>,
    /// Worker processes (`None`: in this process).
    pub pool: Option<PoolConfig>,
    /// Where to write the first seed's trace of each distinct failure.
    pub record: Option<PathBuf>,
    /// The command that runs one seed alone.
    pub reproduce: &'a dyn Fn(u64) -> String,
}

impl std::fmt::Debug for Search<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search")
            .field("target", &self.target)
            .field("plan", &self.plan)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl Search<'_> {
    /// PCT's horizon for `target`: the decision points of seed `seed`'s natural run
    /// (PCT of depth 1). Deterministic, so a single seed reproduces with the same horizon.
    pub fn calibrate(
        target: &Target,
        pool: Option<&PoolConfig>,
        seed: u64,
    ) -> Result<u64, SearchError> {
        let natural = Strategy::Pct {
            depth: 1,
            horizon: 1,
        };
        let jobs = [target.job(seed, natural)];
        let mut points = None;
        let each = |_: &[Library], r: JobResult| {
            points = Some(decision_points(&r.events));
            ControlFlow::Break(())
        };
        run_batch(target, pool, &jobs, each)?;
        Ok(points.unwrap_or(1).max(1))
    }

    /// The resolved strategy of a plan (PCT's horizon measured when not given).
    pub fn strategy_of(
        plan: StrategyPlan,
        target: &Target,
        pool: Option<&PoolConfig>,
        seed: u64,
    ) -> Result<Strategy, SearchError> {
        Ok(match plan {
            StrategyPlan::Random => Strategy::Random,
            StrategyPlan::Pct { depth, horizon } => Strategy::Pct {
                depth,
                horizon: match horizon {
                    Some(h) => h.max(1),
                    None => Search::calibrate(target, pool, seed)?,
                },
            },
        })
    }

    /// Runs the seeds into `report`; `progress` sees it after every seed.
    pub fn run(
        &self,
        report: &mut Report,
        progress: &mut dyn FnMut(&Report),
    ) -> Result<(), SearchError> {
        let started = Instant::now();
        let over = || self.budget.is_some_and(|b| started.elapsed() >= b);
        let runs = if self.check_determinism { 2 } else { 1 };
        // Seeds go to the workers in batches, so the jobs and results held stay bounded
        // however many seeds there are, and a time budget is checked between them. Each
        // batch starts its workers afresh (a few milliseconds), so batches are large.
        let batch = match &self.pool {
            Some(p) => p.workers.max(1) * 1024,
            None => 1024,
        };
        let mut seeds = self.plan.seeds();
        let mut first_run: Option<JobResult> = None;
        let mut error = None;
        loop {
            let jobs: Vec<Job> = seeds
                .by_ref()
                .take(batch)
                .flat_map(|s| std::iter::repeat_n(self.job(s), runs))
                .collect();
            if jobs.is_empty() {
                return Ok(());
            }
            let mut stopped = false;
            let each = |libs: &[Library], r: JobResult| {
                let twin = if self.check_determinism {
                    match first_run.take() {
                        None => {
                            first_run = Some(r);
                            return ControlFlow::Continue(());
                        }
                        Some(first) => Some(first),
                    }
                } else {
                    None
                };
                let mut failures = self.failures(libs, &r);
                if let Some(first) = &twin
                    && let Some(f) = self.compare(libs, first, &r)
                {
                    failures.push(f);
                }
                let fresh = report.fresh(&failures);
                if let (Some(dir), false) = (&self.record, fresh.is_empty()) {
                    match record(dir, &r) {
                        Ok(path) => {
                            for i in fresh {
                                failures[i].trace = Some(path.clone());
                            }
                        }
                        Err(e) => error = Some(SearchError::Usage(e)),
                    }
                }
                report.add_seed(failures);
                progress(report);
                if error.is_some() || over() {
                    stopped = true;
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            };
            run_batch(&self.target, self.pool.as_ref(), &jobs, each)?;
            if let Some(e) = error.take() {
                return Err(e);
            }
            if stopped || over() {
                return Ok(());
            }
        }
    }

    fn job(&self, seed: u64) -> Job {
        self.target.job(seed, self.strategy)
    }

    /// One seed's failures: its failing findings, each placed.
    fn failures(&self, libs: &[Library], r: &JobResult) -> Vec<Failure> {
        let Job::Battery(job) = &r.job else {
            return Vec::new();
        };
        let names = names(libs);
        battery::check(names.clone(), job.delivery, &r.events)
            .into_iter()
            .filter(|f| f.severity == Severity::Error || self.deny_warnings)
            .map(|f| {
                let at = faxsim_sim::explain::origin(&f);
                let entry_point = faxsim_sim::explain::entry_point_at(&r.events, at)
                    .map_or_else(|| "-".to_string(), |c| c.function);
                Failure {
                    scenario: None,
                    rule: f.rule.id().into(),
                    severity: f.severity.name().into(),
                    extension: ext_name(&names, f.ext),
                    entry_point,
                    first_seed: job.seed,
                    seeds: 1,
                    event: f.event,
                    message: f.message,
                    reproduce: (self.reproduce)(job.seed),
                    trace: None,
                    shrunk: None,
                }
            })
            .collect()
    }

    /// The determinism check: the first event where two runs of one seed part.
    fn compare(&self, libs: &[Library], a: &JobResult, b: &JobResult) -> Option<Failure> {
        let seed = b.job.seed().unwrap_or(0);
        parting(
            &names(libs),
            &a.events,
            &b.events,
            seed,
            (self.reproduce)(seed),
        )
    }
}

/// The failure of a seed whose two runs (`a`, `b`) differ: the first event where they
/// part, both ways, placed in the entry point open there.
pub(crate) fn parting(
    names: &[String],
    a: &[Event],
    b: &[Event],
    seed: u64,
    reproduce: String,
) -> Option<Failure> {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))?;
    let line = |e: Option<&Event>| {
        e.map_or_else(
            || "the end of the run".to_string(),
            |e| {
                // Without the index, time and thread columns: the event itself.
                let line = TextLine { event: e, names }.to_string();
                line.split_whitespace()
                    .skip(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            },
        )
    };
    let (x, y) = (a.get(i), b.get(i));
    let ext = x.or(y).and_then(|e| e.ext);
    let entry_point = faxsim_sim::explain::entry_point_at(a, i as u64)
        .map_or_else(|| "-".to_string(), |c| c.function);
    Some(Failure {
        scenario: None,
        rule: NONDETERMINISTIC.into(),
        severity: "error".into(),
        extension: ext_name(names, ext),
        entry_point,
        first_seed: seed,
        seeds: 1,
        event: i as u64,
        message: format!(
            "seed {seed} ran differently the second time from event {i} on: first `{}`, then `{}` (the extension reads the clock, races its own threads or reads memory it never wrote)",
            line(x),
            line(y)
        ),
        reproduce,
        trace: None,
        shrunk: None,
    })
}

fn names(libs: &[Library]) -> Vec<String> {
    libs.iter()
        .map(|l| l.name.clone())
        .chain(std::iter::once(PEER_NAME.to_string()))
        .collect()
}

pub(crate) fn ext_name(names: &[String], ext: Option<faxsim_trace::ExtId>) -> String {
    ext.and_then(|x| names.get(x.index()).cloned())
        .unwrap_or_else(|| "-".into())
}

/// Runs `jobs` on the pool, or in this process.
fn run_batch(
    target: &Target,
    pool: Option<&PoolConfig>,
    jobs: &[Job],
    each: impl FnMut(&[Library], JobResult) -> ControlFlow<()>,
) -> Result<(), SearchError> {
    let mut no_sink = |_: &Job, _: &Header| Ok(None);
    match pool {
        Some(cfg) => {
            let cfg = PoolConfig {
                libs: target.libs.clone(),
                kind: target.kind,
                ..cfg.clone()
            };
            faxsim_worker::run_jobs(&cfg, jobs, &mut no_sink, each)?;
        }
        None => {
            let battery: Vec<BatteryJob> = jobs
                .iter()
                .filter_map(|j| match j {
                    Job::Battery(b) => Some(b.clone()),
                    _ => None,
                })
                .collect();
            faxsim_worker::run_battery_in_process(
                &target.libs,
                target.kind,
                &battery,
                &mut no_sink,
                each,
            )?;
        }
    }
    Ok(())
}

/// Writes a seed's run as a trace under `dir`; its path.
fn record(dir: &std::path::Path, r: &JobResult) -> Result<String, String> {
    let seed = r.job.seed().unwrap_or(0);
    let path = dir.join(format!("seed-{seed}.trace"));
    let Some(header) = &r.header else {
        return Err(format!(
            "{}: cannot write the trace: the worker sent no header",
            path.display()
        ));
    };
    write_trace(&path, header, &r.events)
}

/// Writes `events` under `header` to `path` (its folder made); the path.
pub(crate) fn write_trace(
    path: &std::path::Path,
    header: &Header,
    events: &[Event],
) -> Result<String, String> {
    let fail =
        |e: &dyn std::fmt::Display| format!("{}: cannot write the trace: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    }
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut w = TraceWriter::with_policy(io::BufWriter::new(file), header, FlushPolicy::Batched)
        .map_err(|e| fail(&e))?;
    for e in events {
        w.write_event(e).map_err(|e| fail(&e))?;
    }
    use std::io::Write as _;
    w.finish()
        .map_err(|e| fail(&e))?
        .flush()
        .map_err(|e| fail(&e))?;
    Ok(path.display().to_string())
}
