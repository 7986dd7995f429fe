//! The regression gate: instruction counts (Callgrind, through gungraun) of the
//! notification hot path, held against committed baselines. Counts are the same on a busy
//! or an idle machine, so a 10% limit is meaningful where wall time would be noise.
//! Two paths: in-process Rust registrants, and hosted C libraries reached through the
//! host's trampolines (a C compiler must be present: the fixture is built in the setup).
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

mod common;

#[cfg(target_os = "linux")]
mod gate {
    use std::hint::black_box;

    use crate::fanout::{GUID, fanout_service, hosted_fanout_service};
    use faxsim_host::Host;
    use faxsim_sim::trace::{ExtId, SOURCE_FAX};
    use faxsim_sim::*;
    use gungraun::{
        Callgrind, EventKind, LibraryBenchmarkConfig, library_benchmark, library_benchmark_group,
    };

    /// Committed baselines: instructions for 100 writes fanned out to 64 registrants.
    pub const BASELINE_BARE: u64 = 884_519;
    /// As above, with events built and checked live.
    pub const BASELINE_CHECKED: u64 = 5_146_784;
    /// 100 writes fanned out to 64 hosted copies of `extensions/c/bench_listener.c`.
    pub const BASELINE_FFI_BARE: u64 = 5_065_619;
    /// As above, with events built and checked live.
    pub const BASELINE_FFI_CHECKED: u64 = 9_318_451;

    /// The limit: 10% above the baseline.
    fn limit(baseline: u64) -> LibraryBenchmarkConfig {
        let mut config = LibraryBenchmarkConfig::default();
        config.tool(Callgrind::default().hard_limits([(EventKind::Ir, baseline + baseline / 10)]));
        config
    }

    /// As [`limit`], with the variables the setup's C compiler needs (gungraun clears the
    /// environment of what it measures).
    fn limit_hosted(baseline: u64) -> LibraryBenchmarkConfig {
        let mut config = limit(baseline);
        config.pass_through_envs(["PATH", "CC"]);
        config
    }

    const WRITES: usize = 100;
    const REGISTRANTS: usize = 64;

    fn options(live_check: bool) -> ServiceOptions {
        ServiceOptions {
            record_events: false,
            live_check,
            ..ServiceOptions::default()
        }
    }

    /// Warms a service up: the first write sizes the scratch lists and the checker's
    /// tables.
    fn warm_up(svc: &mut Service, writer: ExtId) {
        svc.callbacks(writer, 0)
            .set_data(0, SOURCE_FAX, GUID, &[0; 16]);
    }

    fn service(live_check: bool) -> (Service, ExtId) {
        let (mut svc, writer) = fanout_service(REGISTRANTS, options(live_check));
        warm_up(&mut svc, writer);
        (svc, writer)
    }

    fn bare() -> (Service, ExtId) {
        service(false)
    }

    fn checked() -> (Service, ExtId) {
        service(true)
    }

    /// What is counted: `WRITES` writes of 16 bytes, each fanned out to every registrant.
    fn writes(svc: &mut Service, writer: ExtId) -> u32 {
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
    pub fn fanout_64((mut svc, writer): (Service, ExtId)) -> u32 {
        black_box(writes(&mut svc, writer))
    }

    /// A started service with a writer and 64 hosted C registrants (the fixture built and
    /// copied here: setup is not counted), warmed up by one write.
    fn hosted(live_check: bool) -> (Host, Service, ExtId) {
        let dir = crate::common::out_dir("gate-ffi");
        let lib = crate::common::build_fixture("bench_listener", &dir)
            .expect("the FFI gate needs a C compiler");
        let libs = crate::common::copies(&lib, &dir, REGISTRANTS);
        let (host, mut svc, writer) = hosted_fanout_service(&libs, options(live_check));
        warm_up(&mut svc, writer);
        (host, svc, writer)
    }

    fn ffi_bare() -> (Host, Service, ExtId) {
        hosted(false)
    }

    fn ffi_checked() -> (Host, Service, ExtId) {
        hosted(true)
    }

    #[library_benchmark]
    #[bench::bare(setup = ffi_bare, config = limit_hosted(BASELINE_FFI_BARE))]
    #[bench::checked(setup = ffi_checked, config = limit_hosted(BASELINE_FFI_CHECKED))]
    pub fn ffi_fanout_64((host, mut svc, writer): (Host, Service, ExtId)) -> u32 {
        let codes = writes(&mut svc, writer);
        // Unloading 64 libraries is not the hot path: leave it to the process's exit.
        std::mem::forget((host, svc));
        black_box(codes)
    }

    library_benchmark_group!(name = hot_path, benchmarks = [fanout_64, ffi_fanout_64]);
}

#[cfg(target_os = "linux")]
use gate::hot_path;

#[cfg(target_os = "linux")]
gungraun::main!(library_benchmark_groups = hot_path);

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the instruction-count gate needs valgrind: Linux only");
}
