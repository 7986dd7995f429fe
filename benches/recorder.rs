//! The recording proxy's cost per notification: the hosted fan-out of `benches/ffi.rs`
//! (one in-process writer, N copies of `extensions/c/bench_listener.c` registered for one
//! key) with each copy hosted directly, and with each copy wrapped by its own copy of the
//! routing proxy (`sim/recorder`, release build) with its own configuration file beside
//! it, writing its own trace file (every event reaches the operating system as it is
//! written, as the proxy always does).
//!
//! In one group, per delivered notification:
//! - `direct-bare` / `direct-checked`: the host's trampolines straight into the fixtures
//!   (the model with events and checks off, or events built and judged by the live checker);
//! - `proxy-bare` / `proxy-checked`: the same, through the proxies.
//!
//! The proxies are built with a nested `cargo build --release` (or taken from
//! `FAXSIM_PREBUILT_RECORDER`); skipped with a note when no C compiler works here. The
//! traces are deleted after each measurement. Run:
//! `cargo bench --bench recorder -- --warm-up-time 1 --measurement-time 3`
//! then `python3 benches/summary.py target recorder`.

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faxsim_sim::trace::SOURCE_FAX;
use faxsim_sim::*;

#[path = "../tests/support/fanout.rs"]
mod fanout;

use fanout::{GUID, hosted_fanout_service};

const COUNTS: [usize; 2] = [8, 64];
const SIZE: usize = 16;

fn options(live_check: bool) -> ServiceOptions {
    ServiceOptions {
        record_events: false,
        live_check,
        limits: Limits {
            events: u64::MAX,
            steps: u64::MAX,
            ..Limits::default()
        },
        ..ServiceOptions::default()
    }
}

/// The folder holding the release build of the routing proxy.
fn proxy_build() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FAXSIM_PREBUILT_RECORDER") {
        return Some(PathBuf::from(dir));
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("recorder-bench-proxies");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "faxsim-recorder-routing",
        ])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .ok()?;
    status.success().then(|| target.join("release"))
}

/// One proxy copy per listener, each with its configuration beside it naming that
/// listener and a trace template in `traces/`.
fn proxied(listeners: &[PathBuf], dir: &Path, proxy: &Path) -> Vec<PathBuf> {
    let proxies = dir.join("proxies");
    std::fs::create_dir_all(&proxies).expect("the proxies' folder");
    listeners
        .iter()
        .enumerate()
        .map(|(i, listener)| {
            let stem = format!("faxsim_recorder_routing_{i}");
            let copy = proxies.join(common::lib_file(&stem));
            std::fs::copy(proxy, &copy).expect("copy the proxy");
            let file_stem = copy.file_stem().unwrap().to_string_lossy().into_owned();
            std::fs::write(
                proxies.join(format!("{file_stem}.toml")),
                format!(
                    "extension = \"{}\"\ntrace = \"traces/{i}-{{pid}}-{{n}}.trace\"\n",
                    listener.display().to_string().replace('\\', "/")
                ),
            )
            .expect("write the configuration");
            copy
        })
        .collect()
}

fn recorder(c: &mut Criterion) {
    let dir = common::out_dir("recorder-bench");
    let Some(listener) = common::build_fixture("bench_listener", &dir) else {
        return;
    };
    let Some(build) = proxy_build() else {
        eprintln!("note: the proxy did not build; skipping");
        return;
    };
    let n_max = *COUNTS.iter().max().unwrap();
    let listeners = common::copies(&listener, &dir, n_max);
    let proxies = proxied(
        &listeners,
        &dir,
        &build.join(common::lib_file("faxsim_recorder_routing")),
    );
    let traces = dir.join("proxies").join("traces");
    let payload = vec![0x42u8; SIZE];
    let mut group = c.benchmark_group(format!("recorder/{SIZE}B"));
    for n in COUNTS {
        group.throughput(Throughput::Elements(n as u64));
        for (name, libs) in [("direct", &listeners), ("proxy", &proxies)] {
            for (mode, check) in [("bare", false), ("checked", true)] {
                let (host, mut svc, writer) = hosted_fanout_service(&libs[..n], options(check));
                group.bench_function(BenchmarkId::new(format!("{name}-{mode}"), n), |b| {
                    b.iter(|| {
                        let code = svc.callbacks(writer, 0).set_data(
                            0,
                            SOURCE_FAX,
                            GUID,
                            black_box(&payload),
                        );
                        debug_assert_eq!(code, 0);
                    })
                });
                svc.stop().unwrap();
                host.close_unloaded(&mut svc);
                let notes = host.take_notes();
                assert!(notes.is_empty(), "host notes: {notes:?}");
                drop(svc);
                drop(host);
                let _ = std::fs::remove_dir_all(&traces);
            }
        }
    }
    group.finish();
}

criterion_group!(benches, recorder);
criterion_main!(benches);
