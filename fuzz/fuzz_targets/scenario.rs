//! Arbitrary text into the scenario parser: it must never panic, and any scenario it
//! accepts must run to an end under its limits (the default options host nothing: a
//! scenario naming a library is refused with an error, as it must be).
#![no_main]

use std::path::Path;

use faxsim_scenario::{RunOptions, Scenario};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(scenario) = Scenario::parse(Path::new("fuzz.toml"), text) {
        let _ = scenario.run(RunOptions {
            seed: Some(0),
            ..RunOptions::default()
        });
    }
});
