//! No heap allocation per delivered notification through the host's FFI trampolines
//! either: writes fanned out to 1 and to 8 hosted C libraries allocate the same.

use std::path::{Path, PathBuf};

use faxsim_sim::trace::SOURCE_FAX;
use faxsim_sim::*;

#[path = "support/cfixtures.rs"]
mod cfixtures;
#[path = "support/fanout.rs"]
mod fanout;

use fanout::{GUID, hosted_fanout_service};
const WRITES: u64 = 200;

/// `n` copies of the listener fixture `built` (each hosted library needs its own file).
fn listeners(built: &Path, n: usize) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("alloc-ffi");
    std::fs::create_dir_all(&dir).expect("the copies' folder");
    (0..n)
        .map(|i| {
            let p = dir.join(cfixtures::lib_file(&format!("listener_{n}_{i}")));
            std::fs::copy(built, &p)
                .unwrap_or_else(|e| panic!("{} to {}: {e}", built.display(), p.display()));
            p
        })
        .collect()
}

fn allocations(libs: &[PathBuf], live_check: bool) -> u64 {
    let (host, mut svc, writer) = hosted_fanout_service(
        libs,
        ServiceOptions {
            record_events: false,
            live_check,
            ..ServiceOptions::default()
        },
    );
    let payload = [7u8; 16];
    for _ in 0..WRITES {
        svc.callbacks(writer, 0)
            .set_data(0, SOURCE_FAX, GUID, &payload);
    }
    let count = allocation_counter::measure(|| {
        for _ in 0..WRITES {
            svc.callbacks(writer, 0)
                .set_data(0, SOURCE_FAX, GUID, &payload);
        }
    })
    .count_total;
    svc.stop().expect("stops");
    host.close_unloaded(&mut svc);
    count
}

#[test]
fn no_allocation_per_notification_through_the_trampolines() {
    // Built here, or taken from FAXSIM_PREBUILT_FIXTURES (the DLL, under Wine).
    let Some(built) = cfixtures::build_one("alloc-ffi", "bench_listener") else {
        return;
    };
    let (one, eight) = (listeners(&built, 1), listeners(&built, 8));
    for check in [false, true] {
        let a = allocations(&one, check);
        let b = allocations(&eight, check);
        assert_eq!(
            a, b,
            "checker {check}: {WRITES} writes allocated {a} times with 1 hosted listener and {b} with 8"
        );
    }
}
