//! The notification hot path: one SetData fanned out to N registrations.
//!
//! Each group holds its baselines so every figure is a ratio from one run:
//! - `lower-bound`: a bare loop calling N `extern "system"` function pointers with the
//!   same payload pointer and nothing else;
//! - `naive`: a `HashMap<String, Vec<Box<dyn Fn>>>` keyed by the GUID string, a payload
//!   clone per recipient, each event pushed as a JSON string;
//! - `bare`: faxsim's service model with events and checks off;
//! - `checked`: events built and judged by the live rule checker, not kept;
//! - `recorded`: as `checked`, and every event kept in memory;
//! - `traced`: as `checked`, and every event encoded by the binary trace writer (what
//!   `--record` writes) into memory.
//!
//! Throughput is per delivered notification. Run:
//! `cargo bench --bench notify -- --warm-up-time 1 --measurement-time 3`

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faxsim_sim::trace::SOURCE_FAX;
use faxsim_sim::*;

#[path = "../tests/support/fanout.rs"]
mod fanout;

use fanout::{GUID, fanout_service};

/// A ConfigChange handler that does nothing, as the lower bound calls it.
extern "system" fn no_op_change(device: u32, guid: *const u16, data: *mut u8, size: u32) -> i32 {
    black_box((device, guid, data, size));
    0
}

type ChangeFn = extern "system" fn(u32, *const u16, *mut u8, u32) -> i32;

fn lower_bound(handlers: &[ChangeFn], guid: &[u16], payload: &mut [u8]) {
    for h in handlers {
        h(0, guid.as_ptr(), payload.as_mut_ptr(), payload.len() as u32);
    }
}

type Handler = Box<dyn Fn(&[u8])>;

struct Naive {
    regs: HashMap<String, Vec<Handler>>,
    events: Vec<String>,
}

impl Naive {
    fn new(n: usize) -> Naive {
        let mut regs: HashMap<String, Vec<Handler>> = HashMap::new();
        for _ in 0..n {
            regs.entry(GUID.to_string())
                .or_default()
                .push(Box::new(|d: &[u8]| {
                    black_box(d);
                }));
        }
        Naive {
            regs,
            events: Vec::new(),
        }
    }

    fn set_data(&mut self, guid: &str, data: &[u8]) {
        if let Some(handlers) = self.regs.get(guid) {
            for (i, h) in handlers.iter().enumerate() {
                let copy = data.to_vec();
                self.events.push(
                    serde_json::json!({"type": "config-change-call", "handle": i, "guid": guid, "data": copy})
                        .to_string(),
                );
                h(&copy);
            }
        }
        if self.events.len() > 1 << 16 {
            self.events.clear();
        }
    }
}

/// Trace bytes kept in memory, dropped every 16 MiB so a long bench stays bounded.
struct MemoryLog(Vec<u8>);

impl std::io::Write for MemoryLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > 16 << 20 {
            self.0.clear();
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Streams every event into a trace writer, as `faxsim run --record` does.
struct TraceSink(trace::TraceWriter<MemoryLog>);

impl EventSink for TraceSink {
    fn event(&mut self, event: &trace::Event) {
        self.0
            .write_event(event)
            .expect("the trace writer accepts the event");
    }
}

/// The shared fan-out workload, with the event and step limits out of the way.
fn service(n: usize, record_events: bool, live_check: bool) -> (Service, trace::ExtId) {
    fanout_service(
        n,
        ServiceOptions {
            record_events,
            live_check,
            limits: Limits {
                events: u64::MAX,
                steps: u64::MAX,
                ..Limits::default()
            },
            ..ServiceOptions::default()
        },
    )
}

fn fanout(c: &mut Criterion) {
    for &size in &[16usize, 1024, 64 * 1024] {
        let mut group = c.benchmark_group(format!("fanout/{size}B"));
        for &n in &[1usize, 8, 64, 512] {
            group.throughput(Throughput::Elements(n as u64));
            let payload = vec![0x42u8; size];

            let handlers: Vec<ChangeFn> = vec![no_op_change as ChangeFn; n];
            let guid: Vec<u16> = GUID.encode_utf16().chain([0]).collect();
            let mut buf = payload.clone();
            group.bench_function(BenchmarkId::new("lower-bound", n), |b| {
                b.iter(|| lower_bound(black_box(&handlers), &guid, &mut buf))
            });

            let mut naive = Naive::new(n);
            group.bench_function(BenchmarkId::new("naive", n), |b| {
                b.iter(|| naive.set_data(black_box(GUID), black_box(&payload)))
            });

            for (mode, record, check) in [
                ("bare", false, false),
                ("checked", false, true),
                ("recorded", true, true),
                ("traced", false, true),
            ] {
                let (mut svc, writer) = service(n, record, check);
                if mode == "traced" {
                    let header = trace::Header::new(0, serde_json::Value::Null, Vec::new());
                    let out = MemoryLog(Vec::with_capacity(16 << 20));
                    let w =
                        trace::TraceWriter::with_policy(out, &header, trace::FlushPolicy::Batched)
                            .expect("a trace starts in memory");
                    svc.add_sink(Box::new(TraceSink(w)));
                }
                let mut writes = 0u32;
                group.bench_function(BenchmarkId::new(mode, n), |b| {
                    b.iter(|| {
                        let code = svc.callbacks(writer, 0).set_data(
                            0,
                            SOURCE_FAX,
                            GUID,
                            black_box(&payload),
                        );
                        debug_assert_eq!(code, 0);
                        writes += 1;
                        if record && writes.is_multiple_of(1024) {
                            drop(svc.take_events());
                        }
                    })
                });
            }
        }
        group.finish();
    }
}

fn get_free(c: &mut Criterion) {
    let mut group = c.benchmark_group("get-free");
    group.throughput(Throughput::Elements(1));
    for (mode, record, check) in [("bare", false, false), ("checked", false, true)] {
        let (mut svc, writer) = service(0, record, check);
        svc.callbacks(writer, 0)
            .set_data(0, SOURCE_FAX, GUID, &[1, 2, 3, 4]);
        group.bench_function(mode, |b| {
            b.iter(|| {
                let mut cb = svc.callbacks(writer, 0);
                let buf = cb.get_data(0, SOURCE_FAX, GUID).unwrap();
                cb.free_buffer(FreeArg::Buffer(black_box(buf)));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fanout, get_free);
criterion_main!(benches);
