//! Trace encoding and decoding throughput, against the naive baseline (one serde_json
//! line per event) in the same group, so each figure is a ratio from one run.
//!
//! ```text
//! cargo bench --bench trace_codec -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Two streams: the events of simulated runs of the example extensions (the walkthrough's
//! setup, many seeds and delivery policies, concatenated and renumbered), and a synthetic
//! stream of notification events (a ConfigChange call and return per write, GUID seen
//! before, 4-byte payload), the hot path of a recording.

use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faxsim_sim::example_extensions::*;
use faxsim_sim::trace::*;
use faxsim_sim::*;

fn simulated_events(target: usize) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(target);
    let mut seed = 0;
    while out.len() < target {
        let delivery = [
            DeliveryPolicy::Sync,
            DeliveryPolicy::Shuffled,
            DeliveryPolicy::Deferred,
        ][seed as usize % 3];
        let mut svc = Service::new(ServiceOptions {
            seed,
            delivery,
            live_check: false,
            ..ServiceOptions::default()
        });
        svc.add_device(1, Some(0x0001_0001)).unwrap();
        svc.add_device(2, Some(0x0001_0002)).unwrap();
        let spec = |name: &str, kind| ExtensionSpec {
            name: name.into(),
            kind,
        };
        svc.add_extension(
            spec("careful-fsp", ExtensionKind::Fsp),
            Rc::new(CarefulTapiFsp::new(vec![0x0001_0001, 0x0001_0002])),
        )
        .unwrap();
        svc.add_extension(
            spec("careful-vfsp", ExtensionKind::VirtualFsp),
            Rc::new(CarefulVirtualFsp::new(2, 0x100)),
        )
        .unwrap();
        svc.add_extension(
            spec("careful-routing", ExtensionKind::Routing),
            Rc::new(CarefulRouting::default()),
        )
        .unwrap();
        svc.add_extension(
            spec("buggy-routing", ExtensionKind::Routing),
            Rc::new(BuggyRouting::default()),
        )
        .unwrap();
        svc.external_write(0, FLAGS_GUID, &1u32.to_le_bytes())
            .unwrap();
        svc.start().unwrap();
        svc.add_device(3, Some(0x0001_0003)).unwrap();
        for i in 0..20u32 {
            svc.external_write(i % 4, FLAGS_GUID, &i.to_le_bytes())
                .unwrap();
            svc.tick().unwrap();
        }
        svc.settle().unwrap();
        svc.stop().unwrap();
        // Renumber so the concatenation looks like one long recording.
        let base_seq = out.len() as u64;
        let base_time = out.last().map_or(0, |e| e.time + 1);
        out.extend(svc.take_events().into_iter().map(|mut e| {
            e.seq += base_seq;
            e.time += base_time;
            if let EventKind::ConfigChangeCall { cause: Some(c), .. } = &mut e.kind {
                *c += base_seq;
            }
            e
        }));
        seed += 1;
    }
    out.truncate(target);
    out
}

fn notification_events(n: usize) -> Vec<Event> {
    let guid: Arc<str> = Arc::from(FLAGS_GUID);
    (0..n as u64)
        .map(|i| {
            let write = i / 3 * 3;
            let kind = match i % 3 {
                0 => EventKind::ExternalWriteCall {
                    device: 1,
                    guid: Some(guid.clone()),
                    data: Some(Arc::from(&(i as u32).to_le_bytes()[..])),
                    size: 4,
                },
                1 => EventKind::ConfigChangeCall {
                    handle: HandleId(1),
                    callback: CallbackId(1),
                    device: 0x0001_0001,
                    guid: guid.clone(),
                    data: Arc::from(&(write as u32).to_le_bytes()[..]),
                    cause: Some(write),
                },
                _ => EventKind::ConfigChangeReturn {
                    handle: HandleId(1),
                    hr: 0,
                },
            };
            Event {
                seq: i,
                time: i / 3,
                thread: 0,
                ext: (i % 3 != 0).then_some(ExtId(0)),
                kind,
            }
        })
        .collect()
}

fn header() -> Header {
    Header::new(0, serde_json::Value::Null, vec![])
}

fn encode(events: &[Event]) -> Vec<u8> {
    let mut w = TraceWriter::with_policy(
        Vec::with_capacity(events.len() * 32),
        &header(),
        FlushPolicy::Batched,
    )
    .unwrap();
    for e in events {
        w.write_event(e).unwrap();
    }
    w.finish().unwrap()
}

fn encode_json(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 160);
    for e in events {
        serde_json::to_writer(&mut out, e).unwrap();
        out.push(b'\n');
    }
    out
}

fn decode(bytes: &[u8]) -> usize {
    let mut n = 0;
    for e in TraceReader::new(bytes).unwrap() {
        black_box(e.unwrap());
        n += 1;
    }
    n
}

fn decode_json(bytes: &[u8]) -> usize {
    let mut n = 0;
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        black_box(serde_json::from_slice::<Event>(line).unwrap());
        n += 1;
    }
    n
}

fn codec(c: &mut Criterion) {
    const N: usize = 100_000;
    for (name, events) in [
        ("simulated", simulated_events(N)),
        ("notifications", notification_events(N)),
    ] {
        let binary = encode(&events);
        let json = encode_json(&events);
        eprintln!(
            "{name}: {} events, binary {} bytes ({:.2} B/event), JSON lines {} bytes ({:.2} B/event)",
            events.len(),
            binary.len(),
            binary.len() as f64 / events.len() as f64,
            json.len(),
            json.len() as f64 / events.len() as f64
        );
        let mut g = c.benchmark_group(format!("encode/{name}"));
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_function(BenchmarkId::new("faxsim-trace", N), |b| {
            b.iter(|| black_box(encode(black_box(&events))))
        });
        g.bench_function(BenchmarkId::new("json-lines", N), |b| {
            b.iter(|| black_box(encode_json(black_box(&events))))
        });
        g.finish();
        let mut g = c.benchmark_group(format!("decode/{name}"));
        g.throughput(Throughput::Elements(events.len() as u64));
        g.bench_function(BenchmarkId::new("faxsim-trace", N), |b| {
            b.iter(|| black_box(decode(black_box(&binary))))
        });
        g.bench_function(BenchmarkId::new("json-lines", N), |b| {
            b.iter(|| black_box(decode_json(black_box(&json))))
        });
        g.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
