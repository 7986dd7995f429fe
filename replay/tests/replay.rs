//! Strict replay of simulator runs with in-process extensions: a run replays against the
//! extensions that made it event for event (same rolling hash), a changed extension is
//! caught at its first difference, stand-ins play the extensions without a build.

use std::path::Path;
use std::rc::Rc;

use faxsim_replay::{Played, Replay};
use faxsim_sim::example_extensions::*;
use faxsim_sim::trace::{EventKind, ExtensionInfo, ExtensionKind, Header, read_trace};
use faxsim_sim::*;

fn golden(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden/v1")
        .join(name)
}

/// The walkthrough's extensions (sim/core/examples/walkthrough.rs), fresh.
fn walkthrough_extensions() -> Vec<(&'static str, Rc<dyn Extension>)> {
    vec![
        (
            "careful-fsp",
            Rc::new(CarefulTapiFsp::new(vec![0x0001_0001, 0x0001_0002])),
        ),
        ("careful-vfsp", Rc::new(CarefulVirtualFsp::new(2, 0x100))),
        ("careful-routing", Rc::new(CarefulRouting::default())),
        ("buggy-routing", Rc::new(BuggyRouting::default())),
    ]
}

#[test]
fn the_golden_walkthroughs_replay_event_for_event_with_their_hash() {
    for name in [
        "walkthrough-seed0-sync.trace",
        "walkthrough-seed7-deferred.trace",
    ] {
        let mut replay = Replay::open(&golden(name)).unwrap();
        for (n, imp) in walkthrough_extensions() {
            replay = replay.extension(n, imp);
        }
        let out = replay.run().unwrap();
        assert!(out.divergence.is_none(), "{name}: {:#?}", out.divergence);
        assert!(out.reproduced_all(), "{name}");
        assert_eq!(out.reproduced, 106, "{name}");
        assert_eq!(out.hash_reproduced(), Some(true), "{name}");
        let recorded = read_trace(&std::fs::read(golden(name)).unwrap()[..]).unwrap();
        assert_eq!(out.events, recorded.events, "{name}");
        // The checker judges the replayed run as it judged the recorded one.
        let rules: Vec<_> = out.findings.iter().map(|f| f.rule).collect();
        assert!(rules.contains(&Rule::BufferLeak), "{name}: {rules:?}");
    }
}

#[test]
fn a_changed_extension_is_caught_at_its_first_difference() {
    let mut replay = Replay::open(&golden("walkthrough-seed0-sync.trace")).unwrap();
    for (n, imp) in walkthrough_extensions() {
        // The careful routing extension replaced by one that frees nothing.
        let imp = if n == "careful-routing" {
            Rc::new(BuggyRouting::default()) as Rc<dyn Extension>
        } else {
            imp
        };
        replay = replay.extension(n, imp);
    }
    let out = replay.run().unwrap();
    let d = out.divergence.as_ref().expect("a divergence");
    assert!(!out.reproduced_all());
    assert_eq!(out.hash_reproduced(), Some(false));
    assert_eq!(
        d.index, out.reproduced,
        "the runs part right after the reproduced prefix"
    );
    assert!(d.expected.is_some() && !d.context.is_empty());
    assert_eq!(
        d.ext().map(|x| out.names[x.index()].as_str()),
        Some("careful-routing")
    );
    let report = d.report(&out.names);
    assert!(
        report.contains("expected:") && report.contains("actual:"),
        "{report}"
    );
    // The whole report as a person reads it.
    insta::assert_snapshot!("divergence-report", report);
}

#[test]
fn extensions_without_a_build_are_played_by_the_recording() {
    // Only the buggy routing extension is given; the other three are stand-ins.
    let out = Replay::open(&golden("walkthrough-seed7-deferred.trace"))
        .unwrap()
        .extension("buggy-routing", Rc::new(BuggyRouting::default()))
        .run()
        .unwrap();
    assert!(out.reproduced_all(), "{:#?}", out.divergence);
    assert_eq!(out.hash_reproduced(), Some(true));
    assert_eq!(
        out.played,
        vec![
            Played::Recording,
            Played::Recording,
            Played::Recording,
            Played::InProcess
        ]
    );
}

#[test]
fn a_cut_recording_replays_up_to_its_last_complete_event() {
    let bytes = std::fs::read(golden("walkthrough-seed0-sync.trace")).unwrap();
    let cut = bytes[..bytes.len() * 2 / 3].to_vec();
    let mut replay = Replay::from_reader(std::io::Cursor::new(cut)).unwrap();
    for (n, imp) in walkthrough_extensions() {
        replay = replay.extension(n, imp);
    }
    let out = replay.run().unwrap();
    assert!(out.divergence.is_none(), "{:#?}", out.divergence);
    let why = out.truncated.as_deref().expect("says it was cut");
    assert!(why.contains("truncated"), "{why}");
    assert!(
        out.reproduced > 30 && out.reproduced < 106,
        "{}",
        out.reproduced
    );
    // The run was wound down: every extension unloaded, the service stopped.
    assert!(matches!(
        out.events.last().map(|e| &e.kind),
        Some(EventKind::ServiceStopped)
    ));
}

#[test]
fn a_library_or_name_the_trace_lacks_is_refused() {
    let err = Replay::open(&golden("walkthrough-seed0-sync.trace"))
        .unwrap()
        .extension("nobody", Rc::new(CarefulRouting::default()))
        .run()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("careful-routing (routing)"), "{msg}");
    let err = Replay::open(&golden("walkthrough-seed0-sync.trace"))
        .unwrap()
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("no extension"), "{err}");
}

/// A run in memory: a header and its events.
fn recorded_run(seed: u64, delivery: DeliveryPolicy) -> (Header, Vec<faxsim_sim::trace::Event>) {
    let mut svc = Service::new(ServiceOptions {
        seed,
        delivery,
        ..ServiceOptions::default()
    });
    svc.add_device(1, Some(0x0001_0001)).unwrap();
    let mut infos = Vec::new();
    for (name, kind, imp) in [
        (
            "fsp",
            ExtensionKind::Fsp,
            Rc::new(CarefulTapiFsp::new(vec![0x0001_0001])) as Rc<dyn Extension>,
        ),
        (
            "a",
            ExtensionKind::Routing,
            Rc::new(CarefulRouting::default()),
        ),
        (
            "b",
            ExtensionKind::Routing,
            Rc::new(CarefulRouting::default()),
        ),
    ] {
        svc.add_extension(
            ExtensionSpec {
                name: name.into(),
                kind,
            },
            imp,
        )
        .unwrap();
        infos.push(ExtensionInfo::new(name, kind, None));
    }
    svc.start().unwrap();
    for i in 0..5u32 {
        svc.external_write(0, FLAGS_GUID, &i.to_le_bytes()).unwrap();
        svc.add_device(10 + i, Some(0x0002_0000 + i)).unwrap();
    }
    svc.settle().unwrap();
    svc.restart().unwrap();
    svc.external_write(0, FLAGS_GUID, &[9, 0, 0, 0]).unwrap();
    svc.settle().unwrap();
    svc.stop().unwrap();
    (svc.trace_header(infos), svc.take_events())
}

#[test]
fn every_delivery_policy_replays_under_many_seeds() {
    for delivery in [
        DeliveryPolicy::Sync,
        DeliveryPolicy::Shuffled,
        DeliveryPolicy::Deferred,
    ] {
        for seed in 0..20 {
            let (header, events) = recorded_run(seed, delivery);
            let out = Replay::from_events(header, events.clone())
                .extension("fsp", Rc::new(CarefulTapiFsp::new(vec![0x0001_0001])))
                .extension("a", Rc::new(CarefulRouting::default()))
                .extension("b", Rc::new(CarefulRouting::default()))
                .run()
                .unwrap();
            assert!(
                out.reproduced_all(),
                "{delivery:?} seed {seed}: {}",
                out.divergence
                    .as_ref()
                    .map(|d| d.report(&out.names))
                    .unwrap_or_default()
            );
            assert_eq!(out.events, events, "{delivery:?} seed {seed}");
        }
    }
}

// ---- model mode ---------------------------------------------------------------------------

#[test]
fn model_mode_reproduces_simulator_runs_under_every_policy() {
    for delivery in [
        DeliveryPolicy::Sync,
        DeliveryPolicy::Shuffled,
        DeliveryPolicy::Deferred,
    ] {
        for seed in 0..20 {
            let (header, events) = recorded_run(seed, delivery);
            let out = Replay::from_events(header, events.clone())
                .mode(faxsim_replay::Mode::Model)
                .extension("fsp", Rc::new(CarefulTapiFsp::new(vec![0x0001_0001])))
                .extension("a", Rc::new(CarefulRouting::default()))
                .extension("b", Rc::new(CarefulRouting::default()))
                .run()
                .unwrap();
            let diff = out.differences.as_ref().unwrap();
            assert!(
                diff.is_empty(),
                "{delivery:?} seed {seed}:\n{}",
                diff.render("recorded", "replayed")
            );
            assert_eq!(out.events, events, "{delivery:?} seed {seed}");
        }
    }
}

#[test]
fn model_mode_reproduces_the_golden_walkthroughs_with_stand_ins() {
    for name in [
        "walkthrough-seed0-sync.trace",
        "walkthrough-seed7-deferred.trace",
    ] {
        let out = Replay::open(&golden(name))
            .unwrap()
            .mode(faxsim_replay::Mode::Model)
            .extension("buggy-routing", Rc::new(BuggyRouting::default()))
            .run()
            .unwrap();
        let diff = out.differences.as_ref().unwrap();
        assert!(
            diff.is_empty(),
            "{name}:\n{}",
            diff.render("recorded", "replayed")
        );
        assert_eq!(out.hash_reproduced(), Some(true), "{name}");
    }
}

#[test]
fn model_mode_goes_on_past_a_difference_and_reports_each_per_key() {
    let mut replay = Replay::open(&golden("walkthrough-seed0-sync.trace"))
        .unwrap()
        .mode(faxsim_replay::Mode::Model);
    for (n, imp) in walkthrough_extensions() {
        let imp = if n == "careful-routing" {
            Rc::new(BuggyRouting::default()) as Rc<dyn Extension>
        } else {
            imp
        };
        replay = replay.extension(n, imp);
    }
    let out = replay.run().unwrap();
    assert!(out.divergence.is_none(), "model mode never stops");
    let diff = out.differences.as_ref().unwrap();
    assert!(!diff.is_empty());
    // Only the replaced extension behaves differently.
    assert!(
        diff.groups.iter().all(|g| g.extension == "careful-routing"),
        "{}",
        diff.render("recorded", "replayed")
    );
    // The run went to its end: the service stopped, findings of the whole run.
    assert!(matches!(
        out.events.last().map(|e| &e.kind),
        Some(EventKind::ServiceStopped)
    ));
    let rules: Vec<_> = out.findings.iter().map(|f| (f.rule, f.ext)).collect();
    assert!(
        rules.iter().filter(|(r, _)| *r == Rule::BufferLeak).count() >= 2,
        "both buggy extensions leak now: {rules:?}"
    );
    assert!(!out.reproduced_all());
}
