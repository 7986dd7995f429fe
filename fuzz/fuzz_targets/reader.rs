//! Arbitrary bytes into the binary trace reader: it must end in events or an error,
//! never a panic, and whatever it salvaged must survive a write/read round trip.
#![no_main]

use faxsim_trace::{TraceReader, TraceWriter, read_trace, salvage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = salvage(data) else {
        return;
    };
    // Every error is displayable (the CLI prints it).
    if let Some(e) = &s.damage {
        let _ = e.to_string();
    }
    // What was read re-encodes and reads back the same.
    let mut w = TraceWriter::new(Vec::new(), &s.trace.header).expect("writing to a Vec");
    for e in &s.trace.events {
        if w.write_event(e).is_err() {
            return;
        }
    }
    let bytes = w.finish().expect("finishing a Vec");
    let again = read_trace(&bytes[..]).expect("a trace this build wrote reads back");
    assert_eq!(again, s.trace);
    // The streaming reader agrees with salvage.
    let streamed: Vec<_> = TraceReader::new(data)
        .map(|r| r.take_while(Result::is_ok).flatten().collect())
        .unwrap_or_default();
    assert_eq!(streamed, s.trace.events);
});
