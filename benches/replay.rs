//! Replay throughput over a recorded trace of about a million events, against its floor
//! (decoding the trace alone) in the same group, so each figure is a ratio from one run.
//!
//! ```text
//! cargo bench --bench replay -- --warm-up-time 1 --measurement-time 10
//! ```
//!
//! The recording is the shared fan-out workload (`tests/support/fanout.rs`): a writer
//! sets one key, 64 registrants are notified, 7,700 times (130 events per write). Replays:
//! - `decode`: the floor, reading every event of the binary trace;
//! - `strict`: the recording drives and answers; the 64 registrants are fresh in-process
//!   Rust extensions, the writer is played by the recording; live rule checker on, no
//!   events kept, no hash computed;
//! - `strict-hash`: the same, computing the replayed run's rolling hash (the determinism
//!   check `faxsim replay` reports);
//! - `model`: the service model answers (events kept for the diff, which is part of the
//!   figure).
//!
//! Group `replay-ffi`: the same with the registrants hosted C libraries (64 copies of
//! `extensions/c/bench_listener.c`), strict mode, a smaller recording (the cost is per
//! crossing of the C boundary). Skipped with a note when no C compiler works here.

mod common;

use std::hint::black_box;
use std::io::Cursor;
use std::rc::Rc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faxsim_host::Host;
use faxsim_replay::{Mode, Replay};
use faxsim_sim::trace::{
    ExtId, ExtensionInfo, ExtensionKind, FlushPolicy, SOURCE_FAX, SharedBytes, TraceReader,
    TraceSink,
};
use faxsim_sim::*;

#[path = "../tests/support/fanout.rs"]
mod fanout;

use fanout::GUID;

const REGISTRANTS: usize = 64;

fn options() -> ServiceOptions {
    ServiceOptions {
        record_events: false,
        live_check: false,
        limits: Limits {
            events: u64::MAX,
            steps: u64::MAX,
            ..Limits::default()
        },
        ..ServiceOptions::default()
    }
}

/// A registrant of the in-process workload: registers for the key at init, does nothing
/// when notified.
fn registrant() -> Rc<dyn Extension> {
    Rc::new(HookExtension::new().on_general_init(|cb| {
        let c = cb.new_callback();
        cb.register(0, SOURCE_FAX, GUID, c).is_ok()
    }))
}

fn add(svc: &mut Service, name: &str, imp: Rc<dyn Extension>) -> ExtId {
    svc.add_extension(
        ExtensionSpec {
            name: name.into(),
            kind: ExtensionKind::Routing,
        },
        imp,
    )
    .expect("the extension is added")
}

/// Records a run of `svc` (extensions added, not started) from its start: `start` starts
/// it, then `writes` fan-out writes, then the stop. The trace and its event count.
fn record(
    mut svc: Service,
    writer: ExtId,
    writes: u32,
    start: impl FnOnce(&mut Service),
    stopped: impl FnOnce(&mut Service),
) -> (Rc<[u8]>, u64) {
    let infos = svc
        .extension_names()
        .iter()
        .enumerate()
        .map(|(i, n)| ExtensionInfo::new(n, svc.extension_kind(ExtId(i as u16)), None))
        .collect();
    let header = svc.trace_header(infos);
    let out = SharedBytes::default();
    svc.add_sink(Box::new(
        TraceSink::binary(out.clone(), &header, FlushPolicy::Batched).expect("a trace in memory"),
    ));
    start(&mut svc);
    for i in 0..writes {
        let code = svc
            .callbacks(writer, 0)
            .set_data(0, SOURCE_FAX, GUID, &i.to_le_bytes());
        assert_eq!(code, 0);
    }
    svc.stop().expect("the service stops");
    stopped(&mut svc);
    svc.finish_sinks().expect("the trace is finished");
    (out.take().into(), svc.event_count())
}

/// The recording, read from memory (the bytes are shared, not copied, per iteration).
fn recording(bytes: &Rc<[u8]>) -> Replay {
    Replay::from_reader(Cursor::new(bytes.clone())).expect("the trace opens")
}

/// The registrants of the in-process workload, fresh; the writer is played by the
/// recording.
fn registrants(replay: Replay) -> Replay {
    (0..REGISTRANTS).fold(replay, |r, i| r.extension(&format!("r{i}"), registrant()))
}

fn replay_bench(c: &mut Criterion) {
    let mut svc = Service::new(options());
    let writer = add(&mut svc, "writer", Rc::new(HookExtension::new()));
    for i in 0..REGISTRANTS {
        add(&mut svc, &format!("r{i}"), registrant());
    }
    let (bytes, events) = record(
        svc,
        writer,
        7_700,
        |svc| svc.start().expect("the service starts"),
        |_| {},
    );
    eprintln!(
        "replay bench: {events} recorded events, {} bytes",
        bytes.len()
    );
    // Outside the timing: each mode reproduces the recording exactly.
    for mode in [Mode::Strict, Mode::Model] {
        let out = registrants(recording(&bytes)).mode(mode).run().unwrap();
        assert!(out.reproduced_all(), "{mode:?}: {:?}", out.divergence);
        assert_eq!(out.hash_reproduced(), Some(true), "{mode:?}");
    }

    let mut group = c.benchmark_group("replay/1M-events");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("decode", |b| {
        b.iter(|| black_box(TraceReader::new(&bytes[..]).unwrap().count()))
    });
    for (id, mode, hash) in [
        ("strict", Mode::Strict, false),
        ("strict-hash", Mode::Strict, true),
        ("model", Mode::Model, false),
    ] {
        group.bench_function(id, |b| {
            b.iter(|| {
                let out = registrants(recording(&bytes))
                    .mode(mode)
                    .keep_events(false)
                    .verify_hash(hash)
                    .run()
                    .unwrap();
                black_box(out.reproduced)
            })
        });
    }
    group.finish();

    // Through the FFI: the registrants are hosted C libraries.
    let dir = common::out_dir("replay-bench");
    let Some(lib) = common::build_fixture("bench_listener", &dir) else {
        return;
    };
    let libs = common::copies(&lib, &dir, REGISTRANTS);
    let (ffi_bytes, ffi_events) = {
        let mut host = Host::new();
        for p in &libs {
            host.open(p, Some(ExtensionKind::Routing)).unwrap();
        }
        let mut svc = Service::new(options());
        host.attach(&mut svc).unwrap();
        let writer = add(&mut svc, "writer", Rc::new(HookExtension::new()));
        record(
            svc,
            writer,
            800,
            |svc| host.start(svc).expect("the service starts"),
            |svc| host.close_unloaded(svc),
        )
    };
    eprintln!(
        "replay bench (FFI): {ffi_events} recorded events, {} bytes",
        ffi_bytes.len()
    );
    let with_libs = |r: Replay| libs.iter().fold(r, |r, l| r.library(l));
    let out = with_libs(recording(&ffi_bytes)).run().unwrap();
    assert!(out.reproduced_all(), "ffi: {:?}", out.divergence);
    assert_eq!(out.hash_reproduced(), Some(true));
    let mut group = c.benchmark_group("replay-ffi/100k-events");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ffi_events));
    group.bench_function("decode", |b| {
        b.iter(|| black_box(TraceReader::new(&ffi_bytes[..]).unwrap().count()))
    });
    group.bench_function("strict", |b| {
        b.iter(|| {
            let out = with_libs(recording(&ffi_bytes))
                .keep_events(false)
                .verify_hash(false)
                .run()
                .unwrap();
            black_box(out.reproduced)
        })
    });
    group.finish();
}

criterion_group!(benches, replay_bench);
criterion_main!(benches);
