//! End to end, in-process:
//! - `e2e/run`: `faxsim run scenarios/` — every scenario file under `scenarios/` loaded
//!   once outside the timing, then all of them run (as the CLI runs them: events kept,
//!   live checker on, each scenario's own seed; the text report is not formatted);
//! - `e2e/validate`: the `validate` battery on the careful C fixtures (`careful_routing`
//!   and `careful_fsp`, built optimised from `extensions/c`), one seed, sync delivery, in
//!   process (no `--isolate`); skipped with a note when no C compiler works here.
//!
//! Each group measures the same work twice with two throughputs: `scenarios` (per
//! scenario, or per battery run) and `events` (per event the runs produced).
//! Run: `cargo bench --bench e2e -- --warm-up-time 1 --measurement-time 3`

mod common;

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faxsim_host::Host;
use faxsim_host::battery::{self, BatteryOptions};
use faxsim_scenario::{Libraries, RunOptions, Scenario, ScenarioReport, collect_files};
use faxsim_sim::DeliveryPolicy;

/// Runs one scenario as `faxsim run` does (a library host only when it names libraries).
fn run_one(s: &Scenario) -> ScenarioReport {
    s.run(RunOptions {
        libraries: Libraries::Host,
        ..RunOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs them all; the number of events they produced.
fn run_all(scenarios: &[Scenario]) -> u64 {
    scenarios
        .iter()
        .map(|s| run_one(s).events.len() as u64)
        .sum()
}

fn run_scenarios(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = collect_files(&root).expect("scenarios/ is readable").files;
    let scenarios: Vec<Scenario> = files
        .iter()
        .map(|f| Scenario::load(f).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    for s in &scenarios {
        let r = run_one(s);
        assert!(r.passed, "{}: {:?}", r.path.display(), r.failures);
    }
    let events = run_all(&scenarios);
    eprintln!(
        "e2e/run: {} scenarios, {events} events per run",
        scenarios.len()
    );
    let mut group = c.benchmark_group("e2e/run");
    group.throughput(Throughput::Elements(scenarios.len() as u64));
    group.bench_function("scenarios", |b| b.iter(|| run_all(&scenarios)));
    group.throughput(Throughput::Elements(events));
    group.bench_function("events", |b| b.iter(|| run_all(&scenarios)));
    group.finish();
}

fn validate(c: &mut Criterion) {
    let dir = common::out_dir("e2e-bench");
    let libs: Option<Vec<PathBuf>> = ["careful_routing", "careful_fsp"]
        .iter()
        .map(|s| common::build_fixture(s, &dir))
        .collect();
    let Some(libs) = libs else {
        return;
    };
    let mut host = Host::new();
    for p in &libs {
        host.open(p, None)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    let opts = BatteryOptions {
        seed: 1,
        delivery: DeliveryPolicy::Sync,
        extra_guids: Vec::new(),
        method_functions: Vec::new(),
        explore: None,
    };
    let run = |host: &mut Host| {
        let out = battery::run(host, &opts, Vec::new()).expect("the battery runs");
        assert!(out.aborted.is_none(), "{:?}", out.aborted);
        out
    };
    let first = run(&mut host);
    assert!(first.findings.is_empty(), "{:?}", first.findings);
    assert!(first.notes.is_empty(), "{:?}", first.notes);
    let events = first.events.len() as u64;
    eprintln!("e2e/validate: {events} events per battery run");
    let mut group = c.benchmark_group("e2e/validate");
    group.throughput(Throughput::Elements(1));
    group.bench_function("scenarios", |b| b.iter(|| run(&mut host)));
    group.throughput(Throughput::Elements(events));
    group.bench_function("events", |b| b.iter(|| run(&mut host)));
    group.finish();
}

criterion_group!(benches, run_scenarios, validate);
criterion_main!(benches);
