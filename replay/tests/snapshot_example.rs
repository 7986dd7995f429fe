//! The pattern docs/replay.md documents for extension authors: replay a recorded trace
//! against your build in your own `cargo test`, require that it reproduces the recording,
//! and snapshot its transcript with insta, so any change of behaviour shows as a diff in
//! review (`cargo insta review`).
//!
//! With a library, the replay is `Replay::open(trace)?.library(path_to_your_build)`; here
//! the walkthrough's in-process example extensions stand in for it, so the example runs
//! on any machine.

use std::rc::Rc;

use faxsim_replay::Replay;
use faxsim_sim::example_extensions::{
    BuggyRouting, CarefulRouting, CarefulTapiFsp, CarefulVirtualFsp,
};

#[test]
fn the_walkthrough_replays_as_recorded() {
    let trace = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/golden/v1/walkthrough-seed0-sync.trace"
    );
    let outcome = Replay::open(trace.as_ref())
        .expect("the trace opens")
        .extension(
            "careful-fsp",
            Rc::new(CarefulTapiFsp::new(vec![0x0001_0001, 0x0001_0002])),
        )
        .extension("careful-vfsp", Rc::new(CarefulVirtualFsp::new(2, 0x100)))
        .extension("careful-routing", Rc::new(CarefulRouting::default()))
        .extension("buggy-routing", Rc::new(BuggyRouting::default()))
        .run()
        .expect("the extensions fit the trace");
    // The build behaves exactly as recorded (or the report says where it does not)...
    if let Some(d) = &outcome.divergence {
        panic!("{}", d.report(&outcome.names));
    }
    assert_eq!(outcome.hash_reproduced(), Some(true));
    // ...and what it does is in a snapshot a reviewer reads.
    insta::assert_yaml_snapshot!(outcome.transcript());
}
