//! No heap allocation per delivered notification in steady state, in every mode: the
//! allocation counter compares writes to 1 registrant with writes to 64.

use faxsim_sim::trace::{ExtId, SOURCE_FAX};
use faxsim_sim::*;

#[path = "support/fanout.rs"]
mod fanout;

use fanout::{GUID, fanout_service};

const WRITES: u64 = 200;

fn service(n: usize, record_events: bool, live_check: bool) -> (Service, ExtId) {
    fanout_service(
        n,
        ServiceOptions {
            record_events,
            live_check,
            ..ServiceOptions::default()
        },
    )
}

/// Allocations made by `WRITES` writes after warming up.
fn allocations_per_run(n: usize, record: bool, check: bool) -> u64 {
    let (mut svc, writer) = service(n, record, check);
    let payload = [7u8; 16];
    for _ in 0..WRITES {
        svc.callbacks(writer, 0)
            .set_data(0, SOURCE_FAX, GUID, &payload);
    }
    if record {
        // Recording to a log with room: growing it is the log's cost, not a delivery's.
        drop(svc.take_events());
        svc.reserve_events((WRITES as usize + 1) * (2 * n + 2));
    }
    allocation_counter::measure(|| {
        for _ in 0..WRITES {
            svc.callbacks(writer, 0)
                .set_data(0, SOURCE_FAX, GUID, &payload);
        }
    })
    .count_total
}

#[test]
fn no_allocation_per_delivered_notification_in_any_mode() {
    for (mode, record, check) in [
        ("bare", false, false),
        ("checked", false, true),
        ("recorded", true, true),
    ] {
        let one = allocations_per_run(1, record, check);
        let many = allocations_per_run(64, record, check);
        assert_eq!(
            many, one,
            "{mode}: {WRITES} writes allocated {one} times with 1 registrant and {many} with 64"
        );
        // What remains is per write (the stored copy of the value), not per delivery.
        assert!(
            one <= 2 * WRITES,
            "{mode}: {one} allocations for {WRITES} writes"
        );
    }
}
