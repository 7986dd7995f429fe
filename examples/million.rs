//! Bounded memory while recording: 1,000,000 delivered notifications with every event
//! streamed through the binary trace writer (what `--record` writes; `--jsonl` for JSON
//! Lines instead) into `std::io::sink()` behind a `BufWriter`, events not kept in memory
//! (`record_events: false`), the live rule checker on (as a real run). Prints events/s and
//! the peak RSS (Linux: `VmHWM` of /proc/self/status) before, at 10% and at the end, so a
//! growth with the run's length shows.
//!
//! ```sh
//! cargo run --release --example million [NOTIFICATIONS] [REGISTRANTS] [--no-check] [--jsonl]
//! ```
//!
//! Defaults: 1,000,000 notifications to 8 in-process registrants (125,000 writes of 16 B).

use std::cell::Cell;
use std::io::{BufWriter, Sink, Write};
use std::rc::Rc;
use std::time::Instant;

use faxsim_sim::trace::{Event, ExtensionKind, FlushPolicy, Header, SOURCE_FAX, TraceWriter};
use faxsim_sim::*;

const GUID: &str = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}";

/// Encodes every event as one JSON line; counts the bytes.
struct JsonLines {
    out: BufWriter<Sink>,
    bytes: Rc<Cell<u64>>,
    line: Vec<u8>,
}

impl EventSink for JsonLines {
    fn event(&mut self, event: &Event) {
        self.line.clear();
        serde_json::to_writer(&mut self.line, event).expect("an event encodes");
        self.line.push(b'\n');
        self.out.write_all(&self.line).expect("the sink takes it");
        self.bytes.set(self.bytes.get() + self.line.len() as u64);
    }
}

/// Counts what passes through to the inner writer.
struct Counting<W> {
    inner: W,
    bytes: Rc<Cell<u64>>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Streams every event into a binary trace, as `faxsim run --record` does.
struct Binary(TraceWriter<Counting<BufWriter<Sink>>>);

impl EventSink for Binary {
    fn event(&mut self, event: &Event) {
        self.0
            .write_event(event)
            .expect("the trace writer takes it");
    }
}

/// Peak resident set size in KiB (`VmHWM`), where the system says it.
fn peak_rss_kib() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

fn show(kib: Option<u64>) -> String {
    kib.map_or("n/a (not Linux)".into(), |k| {
        format!("{k} KiB ({:.1} MiB)", k as f64 / 1024.0)
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut live_check = true;
    let mut jsonl = false;
    for a in args.by_ref() {
        if a == "--no-check" {
            live_check = false;
        } else if a == "--jsonl" {
            jsonl = true;
        } else {
            positional.push(a.parse::<u64>().expect("a number"));
        }
    }
    let notifications = positional.first().copied().unwrap_or(1_000_000);
    let registrants = positional.get(1).copied().unwrap_or(8).max(1);
    let writes = notifications.div_ceil(registrants);

    let mut svc = Service::new(ServiceOptions {
        record_events: false,
        live_check,
        limits: Limits {
            events: u64::MAX,
            steps: u64::MAX,
            ..Limits::default()
        },
        ..ServiceOptions::default()
    });
    let bytes = Rc::new(Cell::new(0));
    if jsonl {
        svc.add_sink(Box::new(JsonLines {
            out: BufWriter::new(std::io::sink()),
            bytes: bytes.clone(),
            line: Vec::with_capacity(512),
        }));
    } else {
        let out = Counting {
            inner: BufWriter::new(std::io::sink()),
            bytes: bytes.clone(),
        };
        let header = Header::new(0, serde_json::Value::Null, Vec::new());
        let w =
            TraceWriter::with_policy(out, &header, FlushPolicy::Batched).expect("the trace starts");
        svc.add_sink(Box::new(Binary(w)));
    }
    let writer = svc
        .add_extension(
            ExtensionSpec {
                name: "writer".into(),
                kind: ExtensionKind::Routing,
            },
            Rc::new(HookExtension::new()),
        )
        .expect("stopped");
    let register = |cb: &mut Callbacks<'_>| {
        let c = cb.new_callback();
        cb.register(0, SOURCE_FAX, GUID, c).is_ok()
    };
    for i in 0..registrants {
        svc.add_extension(
            ExtensionSpec {
                name: format!("r{i}"),
                kind: ExtensionKind::Routing,
            },
            Rc::new(HookExtension::new().on_general_init(register)),
        )
        .expect("stopped");
    }
    svc.start().expect("starts");

    let before = peak_rss_kib();
    let events_before = svc.event_count();
    let mut at_tenth = None;
    let payload = [0x42u8; 16];
    let t = Instant::now();
    for w in 0..writes {
        let code = svc
            .callbacks(writer, 0)
            .set_data(0, SOURCE_FAX, GUID, &payload);
        assert_eq!(code, 0);
        if w + 1 == writes / 10 {
            at_tenth = peak_rss_kib();
        }
    }
    let elapsed = t.elapsed();
    let events = svc.event_count() - events_before;
    let after = peak_rss_kib();
    svc.stop().expect("stops");
    let findings = svc.finish();

    let secs = elapsed.as_secs_f64();
    let delivered = writes * registrants;
    println!(
        "{delivered} notifications ({writes} writes x {registrants} registrants, 16 B), live checker {}",
        if live_check { "on" } else { "off" }
    );
    println!(
        "{events} events streamed as {} ({:.1} MiB encoded), events kept: {}",
        if jsonl {
            "JSON Lines"
        } else {
            "a binary trace"
        },
        bytes.get() as f64 / (1024.0 * 1024.0),
        svc.events().len()
    );
    println!(
        "{secs:.3} s: {:.0} events/s, {:.0} notifications/s",
        events as f64 / secs,
        delivered as f64 / secs
    );
    println!("peak RSS before the run: {}", show(before));
    println!("peak RSS at 10% of it:   {}", show(at_tenth));
    println!("peak RSS after it:       {}", show(after));
    println!("findings: {}", findings.len());
}
