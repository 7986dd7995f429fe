//! Arbitrary bytes into the JSON Lines reader: events or an error, never a panic.
#![no_main]

use faxsim_trace::jsonl::JsonlReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = JsonlReader::new(data) {
        for e in r {
            if e.is_err() {
                break;
            }
        }
    }
});
