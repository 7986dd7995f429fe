//! The regression gate: instruction counts (Callgrind, through gungraun) of the
//! notification hot path, held against committed baselines. Counts are the same on a busy
//! or an idle machine, so a 10% limit is meaningful where wall time would be noise.
//!
//! Run (Linux, valgrind and the matching runner installed):
//! ```text
//! cargo install gungraun-runner --version 0.20.0 --locked
//! cargo bench --bench gate
//! ```
//! It fails (exit code 3) when a benchmark executes more than 10% more instructions than
//! its baseline below. After an intended change, rerun and copy the new `Instructions`
//! figures into the constants, in the same commit as the change.

#[path = "../tests/support/fanout.rs"]
mod fanout;

#[cfg(target_os = "linux")]
mod gate {
    use std::hint::black_box;

    use crate::fanout::{GUID, fanout_service};
    use faxsim_sim::trace::{ExtId, SOURCE_FAX};
    use faxsim_sim::*;
    use gungraun::{
        Callgrind, EventKind, LibraryBenchmarkConfig, library_benchmark, library_benchmark_group,
    };

    /// Committed baselines: instructions for 100 writes fanned out to 64 registrants.
    pub const BASELINE_BARE: u64 = 876_484;
    /// As above, with events built and checked live.
    pub const BASELINE_CHECKED: u64 = 5_152_495;

    /// The limit: 10% above the baseline.
    fn limit(baseline: u64) -> LibraryBenchmarkConfig {
        let mut config = LibraryBenchmarkConfig::default();
        config.tool(Callgrind::default().hard_limits([(EventKind::Ir, baseline + baseline / 10)]));
        config
    }

    const WRITES: usize = 100;
    const REGISTRANTS: usize = 64;

    fn service(live_check: bool) -> (Service, ExtId) {
        let (mut svc, writer) = fanout_service(
            REGISTRANTS,
            ServiceOptions {
                record_events: false,
                live_check,
                ..ServiceOptions::default()
            },
        );
        // Warm up: the first write sizes the scratch lists and the checker's tables.
        svc.callbacks(writer, 0)
            .set_data(0, SOURCE_FAX, GUID, &[0; 16]);
        (svc, writer)
    }

    fn bare() -> (Service, ExtId) {
        service(false)
    }

    fn checked() -> (Service, ExtId) {
        service(true)
    }

    fn writes((mut svc, writer): (Service, ExtId)) -> u32 {
        let payload = [0x42u8; 16];
        let mut codes = 0;
        for _ in 0..WRITES {
            codes += svc
                .callbacks(writer, 0)
                .set_data(0, SOURCE_FAX, GUID, black_box(&payload));
        }
        codes
    }

    #[library_benchmark]
    #[bench::bare(setup = bare, config = limit(BASELINE_BARE))]
    #[bench::checked(setup = checked, config = limit(BASELINE_CHECKED))]
    pub fn fanout_64(input: (Service, ExtId)) -> u32 {
        black_box(writes(input))
    }

    library_benchmark_group!(name = hot_path, benchmarks = fanout_64);
}

#[cfg(target_os = "linux")]
use gate::hot_path;

#[cfg(target_os = "linux")]
gungraun::main!(library_benchmark_groups = hot_path);

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the instruction-count gate needs valgrind: Linux only");
}
