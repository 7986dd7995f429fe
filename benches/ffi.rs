//! Notification fan-out through the host's FFI trampolines to a real C library.
//!
//! One writer (an in-process Rust extension) calls SetData; N copies of
//! `extensions/c/bench_listener.c` (each registered once for the GUID, each doing nothing
//! in its ConfigChange) are notified. N ∈ {1, 8, 64} (the trampoline pool has 64 slots),
//! payloads of 16 B and 1 KiB. Each group holds its baselines, so every figure is a ratio
//! from one run:
//! - `lower-bound`: a loop calling the N copies' own exported ConfigChange handler
//!   (`BenchListenerConfigChange`, resolved with libloading) through `extern "system"`
//!   function pointers with the same payload pointer: the same C code, nothing else;
//! - `bare`, `checked`: the in-process Rust equivalents (as in `benches/notify.rs`);
//! - `ffi-bare`: the hosted C libraries, service model with events and checks off;
//! - `ffi-checked`: the hosted C libraries, events built and judged by the live rule
//!   checker, not kept.
//!
//! Throughput is per delivered notification. Skipped (with a note) when no C compiler
//! works here. Run:
//! `cargo bench --bench ffi -- --warm-up-time 1 --measurement-time 3`

mod common;

use std::hint::black_box;
use std::path::PathBuf;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use faxsim_host::Host;
use faxsim_sim::trace::SOURCE_FAX;
use faxsim_sim::*;

#[path = "../tests/support/fanout.rs"]
mod fanout;

/// The GUID the fixture registers for (`FLAGS_GUID` of `extensions/c/fixture.h`), the
/// shared workload's key.
use fanout::{GUID, fanout_service, hosted_fanout_service};

/// The fixture's exported ConfigChange handler.
const HANDLER: &str = "BenchListenerConfigChange";

type ChangeFn = unsafe extern "system" fn(u32, *const u16, *mut u8, u32) -> i32;

const SIZES: [usize; 2] = [16, 1024];
const COUNTS: [usize; 3] = [1, 8, 64];

fn options(record_events: bool, live_check: bool) -> ServiceOptions {
    ServiceOptions {
        record_events,
        live_check,
        limits: Limits {
            events: u64::MAX,
            steps: u64::MAX,
            ..Limits::default()
        },
        ..ServiceOptions::default()
    }
}

/// In-process: the shared fan-out workload, one writer and `n` Rust registrants.
fn rust_service(n: usize, live_check: bool) -> (Service, trace::ExtId) {
    fanout_service(n, options(false, live_check))
}

/// Hosted: the C libraries `libs` (each registers itself at init) and one in-process
/// writer.
fn ffi_service(
    libs: &[PathBuf],
    record_events: bool,
    live_check: bool,
) -> (Host, Service, trace::ExtId) {
    hosted_fanout_service(libs, options(record_events, live_check))
}

fn bench_writes(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    svc: &mut Service,
    writer: trace::ExtId,
    payload: &[u8],
) {
    group.bench_function(id, |b| {
        b.iter(|| {
            let code = svc
                .callbacks(writer, 0)
                .set_data(0, SOURCE_FAX, GUID, black_box(payload));
            debug_assert_eq!(code, 0);
        })
    });
}

/// Stops the service, closes the libraries and checks the host noticed nothing.
fn finish(host: Host, mut svc: Service) {
    svc.stop().unwrap();
    host.close_unloaded(&mut svc);
    let notes = host.take_notes();
    assert!(notes.is_empty(), "host notes: {notes:?}");
    drop(svc);
    drop(host);
}

/// One write really reaches every hosted library once, without a finding (checked
/// outside the timing, with events kept).
fn check_delivery(libs: &[PathBuf]) {
    let (host, mut svc, writer) = ffi_service(libs, true, true);
    let before = svc.events().len();
    let code = svc
        .callbacks(writer, 0)
        .set_data(0, SOURCE_FAX, GUID, &[1, 2, 3, 4]);
    assert_eq!(code, 0);
    let calls = svc.events()[before..]
        .iter()
        .filter(|e| matches!(e.kind, trace::EventKind::ConfigChangeCall { .. }))
        .count();
    assert_eq!(calls, libs.len(), "one ConfigChange per hosted library");
    let findings = svc.findings().to_vec();
    assert!(findings.is_empty(), "findings: {findings:?}");
    finish(host, svc);
}

fn lower_bound(handlers: &[ChangeFn], guid: &[u16], payload: &mut [u8]) {
    for h in handlers {
        // SAFETY: each pointer is the fixture's exported ConfigChange handler, resolved
        // by name from a library kept loaded for the whole benchmark; the GUID is
        // NUL-terminated and the payload pointer holds `len` bytes, both alive for the
        // call, and the handler reads neither.
        unsafe { h(0, guid.as_ptr(), payload.as_mut_ptr(), payload.len() as u32) };
    }
}

fn ffi(c: &mut Criterion) {
    let dir = common::out_dir("ffi-bench");
    let Some(lib) = common::build_fixture("bench_listener", &dir) else {
        return;
    };
    // Copies made once, before any is loaded (never overwrite a mapped library).
    let libs = common::copies(&lib, &dir, *COUNTS.iter().max().unwrap());
    let guid: Vec<u16> = GUID.encode_utf16().chain([0]).collect();
    for n in COUNTS {
        check_delivery(&libs[..n]);
    }
    for size in SIZES {
        let mut group = c.benchmark_group(format!("ffi/{size}B"));
        let payload = vec![0x42u8; size];
        for n in COUNTS {
            group.throughput(Throughput::Elements(n as u64));

            {
                let loaded: Vec<libloading::Library> = libs[..n]
                    .iter()
                    .map(|p| {
                        // SAFETY: the fixture is our own C library; loading it runs no
                        // initialiser beyond the C runtime's.
                        unsafe { libloading::Library::new(p) }.expect("load the fixture")
                    })
                    .collect();
                let handlers: Vec<ChangeFn> = loaded
                    .iter()
                    .map(|l| {
                        // SAFETY: the export has the ConfigChange signature (see
                        // bench_listener.c); the pointer is used only while `loaded`
                        // keeps the library mapped.
                        *unsafe { l.get::<ChangeFn>(HANDLER.as_bytes()) }
                            .expect("the fixture exports its handler")
                    })
                    .collect();
                let mut buf = payload.clone();
                group.bench_function(BenchmarkId::new("lower-bound", n), |b| {
                    b.iter(|| lower_bound(black_box(&handlers), &guid, &mut buf))
                });
            }

            for (mode, check) in [("bare", false), ("checked", true)] {
                let (mut svc, writer) = rust_service(n, check);
                bench_writes(
                    &mut group,
                    BenchmarkId::new(mode, n),
                    &mut svc,
                    writer,
                    &payload,
                );
            }

            for (mode, check) in [("ffi-bare", false), ("ffi-checked", true)] {
                let (host, mut svc, writer) = ffi_service(&libs[..n], false, check);
                bench_writes(
                    &mut group,
                    BenchmarkId::new(mode, n),
                    &mut svc,
                    writer,
                    &payload,
                );
                finish(host, svc);
            }
        }
        group.finish();
    }
}

criterion_group!(benches, ffi);
criterion_main!(benches);
