//! Exploration speed (`faxsim explore SCENARIO…`, in process, one thread): seeds per
//! second over the whole scenario library, 20 seeds of each file per iteration.
//!
//! - `explore/seeds/bare`: the lower bound: each seed run as `faxsim run --seed` runs it
//!   (the service's seeded defaults, events kept, the live checker on), nothing judged;
//! - `explore/seeds/explore`: `faxsim explore`'s work: the exploration's decisions (random
//!   policy), each seed's findings judged against the file and placed (the entry point
//!   found in its events), failures deduplicated into the report;
//! - `explore/seeds/naive`: the same search written the obvious way: the file parsed
//!   again for every seed and the events checked again after the run.
//!
//! Run: `cargo bench --bench explore -- --warm-up-time 1 --measurement-time 3`

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faxsim_explore::scenarios::ScenarioSearch;
use faxsim_explore::{Plan, Report, Settings};
use faxsim_scenario::{RunOptions, Scenario, collect_files};
use faxsim_sim::{CheckerConfig, Strategy, check_events};

const SEEDS: u64 = 20;

fn settings() -> Settings {
    Settings {
        targets: Vec::new(),
        policy: "random".into(),
        depth: None,
        horizon: None,
        first_seed: 0,
        seeds: Some(SEEDS),
        check_determinism: false,
        deny_warnings: false,
    }
}

fn explore(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = collect_files(&root).expect("scenarios/ is readable").files;
    let scenarios: Vec<Scenario> = files
        .iter()
        .map(|f| Scenario::load(f).unwrap_or_else(|e| panic!("{e}")))
        .filter(|s| !s.hosts_libraries())
        .collect();
    let seeds = SEEDS * scenarios.len() as u64;
    eprintln!("explore/seeds: {} files x {SEEDS} seeds", scenarios.len());
    let reproduce = |seed: u64| format!("--seed {seed}");
    let search = ScenarioSearch {
        plan: Plan {
            first: 0,
            count: Some(SEEDS),
            shard: None,
        },
        strategy: Strategy::Random,
        check_determinism: false,
        deny_warnings: false,
        budget: None,
        threads: 1,
        pool: None,
        record: None,
        reproduce: &reproduce,
    };
    let mut group = c.benchmark_group("explore/seeds");
    group.throughput(Throughput::Elements(seeds));
    group.bench_function("bare", |b| {
        b.iter(|| {
            let mut events = 0;
            for s in &scenarios {
                for seed in 0..SEEDS {
                    let r = s
                        .run(RunOptions {
                            seed: Some(seed),
                            ..RunOptions::default()
                        })
                        .expect("the library runs");
                    events += r.events.len();
                }
            }
            events
        })
    });
    group.bench_function("explore", |b| {
        b.iter(|| {
            let mut report = Report::new(settings(), None);
            for s in &scenarios {
                search
                    .run(s, &mut report, &|_| {})
                    .expect("the library explores");
            }
            assert!(report.passed, "{:?}", report.failures);
            report.explored
        })
    });
    group.bench_function("naive", |b| {
        b.iter(|| {
            let mut failing = 0;
            for f in scenarios.iter().map(|s| &s.path) {
                for seed in 0..SEEDS {
                    let s = Scenario::load(f).expect("loads");
                    let r = s
                        .run(RunOptions {
                            seed: Some(seed),
                            explore: Some(Strategy::Random),
                            ..RunOptions::default()
                        })
                        .expect("runs");
                    let again = check_events(
                        &r.events,
                        CheckerConfig {
                            names: r.names.clone(),
                            ..CheckerConfig::default()
                        },
                    );
                    let allowed = s.allowed_rules();
                    failing += again
                        .iter()
                        .filter(|f| !allowed.contains(f.rule.id()))
                        .count();
                }
            }
            failing
        })
    });
    group.finish();
}

criterion_group!(benches, explore);
criterion_main!(benches);
