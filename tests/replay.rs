//! `faxsim replay` on real C libraries: every fixture's recorded validate runs replay
//! against the same build event for event (the rolling hash reproduced, the same
//! findings), a changed build is caught with a divergence report (exit 1), and traces
//! that do not fit are refused (exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

#[path = "support/cfixtures.rs"]
mod cfixtures;

use cfixtures::lib_file;

fn fixtures() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| cfixtures::build_all("replay-fixtures"))
        .as_deref()
}

fn lib(name: &str) -> PathBuf {
    fixtures().expect("fixtures built").join(lib_file(name))
}

/// A scratch folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("replay-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn faxsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("faxsim runs")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn rules(v: &Value) -> Vec<String> {
    let mut r: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["rule"].as_str().unwrap(), f["event"]))
        .collect();
    r.sort();
    r
}

/// Fixtures replayed: one library each, or several in one service.
const FIXTURES: &[&[&str]] = &[
    &["careful_routing"],
    &["careful_routing_info"],
    &["careful_fsp"],
    &["careful_vfsp"],
    &["careful_threads"],
    &["passive_fsp"],
    &["errno_probe"],
    &["buggy_buffer_leak"],
    &["buggy_double_free"],
    &["buggy_foreign_free"],
    &["buggy_free_null"],
    &["buggy_buffer_overrun"],
    &["buggy_write_after_free"],
    &["buggy_change_buffer_written"],
    &["buggy_call_before_config_init"],
    &["buggy_call_after_unload"],
    &["buggy_config_init_failed_fsp"],
    &["refusing_routing"],
    &["careful_job_fsp"],
    &["buggy_job_leak"],
    &["buggy_invalid_guid"],
    &["buggy_foreign_hinst"],
    &["buggy_wrong_id_source"],
    &["buggy_busy_reentry"],
    &["buggy_duplicate_registration"],
    &["buggy_stale_unregister"],
    &["buggy_registration_leak"],
    &["buggy_config_init_failed"],
    &["buggy_notification_storm", "storm_mirror"],
    &["buggy_input_written"],
    &["buggy_leak_on_failure"],
    &["vendor_style_routing"],
    &["careful_routing", "careful_fsp", "careful_vfsp"],
];

/// The recorded run of every fixture under three seeds (one per delivery policy, each
/// with its own fault placement), each recorded in a process of its own, replays against the same build event for event, with
/// the rolling hash of the recording, and the checker finds the same findings at the
/// same events.
#[test]
fn every_recorded_fixture_run_replays_event_for_event() {
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("every-fixture");
    for libs in FIXTURES {
        let paths: Vec<PathBuf> = libs.iter().map(|l| lib(l)).collect();
        let trace = dir.join(format!("{}.trace", libs.join("+")));
        let mut args: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
        args.insert(0, "validate");
        // Each seed in a fresh process (--isolate): a library that pins itself in memory
        // would otherwise carry one seed's state into the next, which no replay of a
        // single seed reproduces.
        args.extend(["--seeds", "3", "--isolate", "--format", "json", "--record"]);
        args.push(trace.to_str().unwrap());
        let recorded = faxsim(&args);
        assert!(
            matches!(recorded.status.code(), Some(0 | 1)),
            "{libs:?}: {}",
            String::from_utf8_lossy(&recorded.stderr)
        );
        // One run per library per seed: the findings of one seed are all of its runs'.
        let mut by_seed: std::collections::BTreeMap<u64, Vec<String>> = Default::default();
        for run in json(&recorded)["runs"].as_array().unwrap() {
            let found = by_seed.entry(run["seed"].as_u64().unwrap()).or_default();
            for f in run["findings"].as_array().unwrap() {
                found.push(format!("{} {}", f["rule"].as_str().unwrap(), f["event"]));
            }
        }
        assert_eq!(by_seed.len(), 3, "{libs:?}");
        for (seed, mut recorded_findings) in by_seed {
            recorded_findings.sort();
            let seed_trace = dir.join(format!("{}-seed{seed}.trace", libs.join("+")));
            let mut args = vec!["replay", seed_trace.to_str().unwrap(), "--format", "json"];
            for p in &paths {
                args.extend(["--ext", p.to_str().unwrap()]);
            }
            let replayed = faxsim(&args);
            let v = json(&replayed);
            let r = &v["replay"];
            assert!(
                r["divergence"].is_null(),
                "{libs:?} seed {seed}: {}",
                serde_json::to_string_pretty(&r["divergence"]).unwrap()
            );
            assert_eq!(r["hash_reproduced"], true, "{libs:?} seed {seed}: {r}");
            assert_eq!(
                r["reproduced"], r["recorded_events"],
                "{libs:?} seed {seed}"
            );
            assert_eq!(rules(&v), recorded_findings, "{libs:?} seed {seed}");
            let expected_exit = if v["passed"] == true { 0 } else { 1 };
            assert_eq!(replayed.status.code(), Some(expected_exit), "{libs:?}");
            // Model mode: the model answers, the recording supplies the inputs and the
            // decisions; the same build behaves the same, to the hash.
            args.extend(["--mode", "model"]);
            let v = json(&faxsim(&args));
            let r = &v["replay"];
            assert_eq!(
                r["differences"]["groups"],
                serde_json::json!([]),
                "{libs:?} seed {seed} in model mode: {r}"
            );
            assert_eq!(r["hash_reproduced"], true, "{libs:?} seed {seed}: {r}");
            assert_eq!(rules(&v), recorded_findings, "{libs:?} seed {seed} (model)");
        }
    }
}

/// Another build of the extension (here: a library with a leak, under the careful
/// library's name) is caught where it first behaves differently, with the expected and
/// the actual call, the key and the events before it.
#[test]
fn a_changed_build_is_caught_with_a_divergence_report() {
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("changed-build");
    let trace = dir.join("run.trace");
    let o = faxsim(&[
        "validate",
        lib("careful_routing").to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let changed = dir.join(lib_file("careful_routing"));
    std::fs::copy(lib("buggy_double_free"), &changed).unwrap();
    let o = faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        changed.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for needle in [
        "another build than the one recorded",
        "DIVERGED",
        "divergence at event",
        "expected:",
        "actual:",
        "key:      device",
        "before it (reproduced):",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    let v = json(&faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        changed.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let d = &v["replay"]["divergence"];
    assert_eq!(d["extension"], "careful_routing");
    assert!(d["expected"].as_str().unwrap().contains("careful_routing"));
    assert_eq!(v["replay"]["hash_reproduced"], false);
    assert_eq!(v["passed"], false);
}

/// Traces that do not fit the library are bad input (exit 2) with a message naming the
/// file; so is a library that is not one.
#[test]
fn traces_that_do_not_fit_are_refused() {
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("misfit");
    let trace = dir.join("run.trace");
    faxsim(&[
        "validate",
        lib("careful_routing").to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        trace.to_str().unwrap(),
    ]);
    // Another kind under the recorded name.
    let fsp = dir.join(lib_file("careful_routing"));
    std::fs::copy(lib("careful_fsp"), &fsp).unwrap();
    let o = faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        fsp.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("as a routing extension") && err.contains("an FSP"),
        "{err}"
    );
    // No extension of the recording could be this library.
    let o = faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        lib("careful_vfsp").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("careful_routing (routing)"), "{err}");
    // A damaged header, a missing file, something that is not a trace.
    for (bytes, needle) in [
        (&b"FAXSIM\0T\x09\x00"[..], "truncated"),
        (&b"hello"[..], "not a faxsim trace"),
    ] {
        let bad = dir.join("bad.trace");
        std::fs::write(&bad, bytes).unwrap();
        let o = faxsim(&[
            "replay",
            bad.to_str().unwrap(),
            "--ext",
            lib("careful_routing").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("bad.trace") && err.contains(needle), "{err}");
    }
}

/// A cut recording (a service that died mid-run) replays up to its last complete event
/// and says so; it is not a divergence, but the file is damaged: exit 2 naming it, as
/// `faxsim show` and `faxsim check` do.
#[test]
fn a_cut_trace_replays_up_to_its_last_complete_event() {
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("cut");
    let trace = dir.join("run.trace");
    faxsim(&[
        "validate",
        lib("careful_fsp").to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        trace.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&trace).unwrap();
    std::fs::write(&trace, &bytes[..bytes.len() / 2]).unwrap();
    let o = faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        lib("careful_fsp").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("REPRODUCED") && text.contains("the recording is cut"),
        "{text}"
    );
    assert!(
        err.contains("run.trace") && err.contains("truncated"),
        "{err}"
    );
}

/// The routing entry points a running service calls, where real routing extensions do
/// their configuration work: recorded from a hosted run, replayed event for event, and a
/// build that no longer reads its configuration there is caught at that call.
#[test]
fn routing_entry_points_record_and_replay() {
    use faxsim_abi::{QUERY_STATUS, STATUS_ENABLE};
    use faxsim_host::Host;
    use faxsim_sim::trace::{ExtensionInfo, ExtensionKind, TraceSink};
    use faxsim_sim::{Service, ServiceOptions};

    if fixtures().is_none() {
        return;
    }
    const METHOD: &str = "{6bbf7bfe-c79e-4ac2-a5e5-7a3e3ba1b9f4}";
    let dir = scratch("routing-info");
    let trace = dir.join("info.trace");
    let library = lib("careful_routing_info");
    {
        let mut host = Host::new();
        host.open(&library, None).unwrap();
        let mut svc = Service::new(ServiceOptions::default());
        svc.add_device(1, None).unwrap();
        let x = host.attach(&mut svc).unwrap()[0];
        let header = svc.trace_header(vec![ExtensionInfo::new(
            "careful_routing_info",
            ExtensionKind::Routing,
            Some(&library),
        )]);
        svc.add_sink(Box::new(TraceSink::create(&trace, &header).unwrap()));
        host.start(&mut svc).unwrap();
        assert_eq!(svc.route_device_enable(x, METHOD, 1, QUERY_STATUS), Ok(0));
        assert_eq!(svc.route_device_enable(x, METHOD, 1, STATUS_ENABLE), Ok(1));
        assert_eq!(svc.route_device_enable(x, METHOD, 1, QUERY_STATUS), Ok(1));
        let address = b"mailto:fax@example.com";
        assert_eq!(svc.route_set_routing_info(x, METHOD, 1, address), Ok(true));
        let query = svc.route_get_routing_info(x, METHOD, 1, None).unwrap();
        assert!(query.ok && query.size == address.len() as u32, "{query:?}");
        let info = svc
            .route_get_routing_info(x, METHOD, 1, Some(query.size))
            .unwrap();
        assert_eq!(info.data.as_deref(), Some(&address[..]));
        svc.stop().unwrap();
        host.close_unloaded(&mut svc);
        assert_eq!(svc.finish(), Vec::new());
        svc.finish_sinks().unwrap();
    }
    let shown = faxsim(&["show", trace.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("route-device-enable-call") && text.contains("route-get-routing-info-return"),
        "{text}"
    );

    let o = faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        library.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("REPRODUCED") && text.contains("determinism check passed"),
        "{text}"
    );

    // Another build: one that registers at initialisation instead.
    let changed = dir.join(lib_file("careful_routing_info"));
    std::fs::copy(lib("buggy_free_null"), &changed).unwrap();
    let o = faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        changed.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let d = &json(&o)["replay"]["divergence"];
    assert!(
        d["expected"]
            .as_str()
            .unwrap()
            .contains("route-initialize-return")
            && d["actual"].as_str().unwrap().contains("register-call"),
        "{d}"
    );
}

/// The behaviour of every C fixture, as the transcript of a replay of its recorded
/// validate run: a snapshot per fixture (tests/snapshots/replay__transcript-*.snap), so
/// any change in how faxsim drives them, or in what they do, shows as a readable diff.
/// This is also the pattern documented for extension authors (docs/replay.md).
#[test]
fn every_fixture_replay_transcript_is_stable() {
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("transcripts");
    for libs in FIXTURES {
        let paths: Vec<PathBuf> = libs.iter().map(|l| lib(l)).collect();
        let name = libs.join("+");
        let trace = dir.join(format!("{name}.trace"));
        let mut args: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
        args.insert(0, "validate");
        args.extend([
            "--seed",
            "0",
            "--isolate",
            "--record",
            trace.to_str().unwrap(),
        ]);
        let recorded = faxsim(&args);
        assert!(
            matches!(recorded.status.code(), Some(0 | 1)),
            "{name}: {}",
            String::from_utf8_lossy(&recorded.stderr)
        );
        let mut replay = faxsim_replay::Replay::open(&trace).unwrap();
        for p in &paths {
            replay = replay.library(p);
        }
        let outcome = replay.run().unwrap();
        assert!(
            outcome.reproduced_all(),
            "{name}: {:#?}",
            outcome.divergence
        );
        insta::assert_yaml_snapshot!(format!("transcript-{name}"), outcome.transcript());
    }
}

/// `faxsim replay --snapshot DIR` for authors who do not write Rust: the first run
/// writes an insta `.snap`, the next ones compare with it; a different build's
/// transcript goes to `.snap.new` and the command exits 1. insta itself reads the file.
#[test]
fn snapshot_files_are_written_compared_and_read_by_insta() {
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("snapshot-cli");
    let trace = dir.join("routing.trace");
    faxsim(&[
        "validate",
        lib("careful_routing").to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        trace.to_str().unwrap(),
    ]);
    let snaps = dir.join("snapshots");
    let replay = |lib: &Path, update: &str| {
        Command::new(env!("CARGO_BIN_EXE_faxsim"))
            .args([
                "replay",
                trace.to_str().unwrap(),
                "--ext",
                lib.to_str().unwrap(),
            ])
            .arg("--snapshot")
            .arg(&snaps)
            .env("NO_COLOR", "1")
            .env("INSTA_UPDATE", update)
            .output()
            .unwrap()
    };
    let same = lib("careful_routing");
    // Under INSTA_UPDATE=no (CI) a missing snapshot fails and nothing is written.
    let o = replay(&same, "no");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("missing"));
    assert!(!snaps.join("routing.snap").exists());
    let o = replay(&same, "auto");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("snapshot: written"));
    let o = replay(&same, "no");
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("snapshot: matches"));

    // insta reads the file faxsim wrote: its body is the transcript's YAML.
    let text = std::fs::read_to_string(snaps.join("routing.snap")).unwrap();
    let body = faxsim_replay::snapshot::snap_body(&text).to_string();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&snaps);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(&trace);
    settings.bind(|| insta::assert_snapshot!("routing", body.trim_end()));

    // Another build: a divergence, and a pending snapshot for review.
    let changed = dir.join(lib_file("careful_routing"));
    std::fs::copy(lib("buggy_double_free"), &changed).unwrap();
    let o = replay(&changed, "auto");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("snapshot: differs") && text.contains("routing.snap.new"),
        "{text}"
    );
    let pending = std::fs::read_to_string(snaps.join("routing.snap.new")).unwrap();
    assert!(pending.contains("diverged"), "{pending}");
    // The stored snapshot is untouched until accepted.
    assert_eq!(
        faxsim_replay::snapshot::snap_body(
            &std::fs::read_to_string(snaps.join("routing.snap")).unwrap()
        )
        .trim_end(),
        body.trim_end()
    );
}

/// `--against`: the same recorded session, two builds, one aligned diff; exit 1 when
/// they behave differently, 0 when not.
#[test]
fn against_shows_how_two_builds_differ() {
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("against");
    let trace = dir.join("run.trace");
    let careful = lib("careful_routing");
    faxsim(&[
        "validate",
        careful.to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        trace.to_str().unwrap(),
    ]);
    let o = faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        careful.to_str().unwrap(),
        "--against",
        careful.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("SAME"), "{text}");
    let leaky = dir.join(lib_file("careful_routing"));
    std::fs::copy(lib("buggy_buffer_leak"), &leaky).unwrap();
    let o = faxsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--ext",
        careful.to_str().unwrap(),
        "--against",
        leaky.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for needle in [
        "DIFFERENT",
        "@@ careful_routing, device 0,",
        "- careful_routing → service: FaxExtFreeBuffer",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    // The findings are the second build's.
    assert!(text.contains("buffer-leak"), "{text}");
}

/// By default the replay runs in a worker process: a build that crashes or hangs during
/// the replay is exit 3, named with the call it was in, with the findings of the run up
/// to there, and the replayed run up to there is kept (in --record's file, else in a file
/// the report names). A build that runs to the end gives the in-process report, snapshot
/// included.
#[test]
fn a_crash_or_hang_in_the_worker_exits_3_and_keeps_the_replayed_prefix() {
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("isolate");
    let trace = dir.join("run.trace");
    // Recorded with a build whose initialisation is the crashing builds' (it leaks in
    // its change handler, where they crash or hang).
    faxsim(&[
        "validate",
        lib("buggy_buffer_leak").to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        trace.to_str().unwrap(),
    ]);
    for (bad, timeout, needle, rule) in [
        (
            "buggy_extension_crashed",
            "10000",
            "crashed (SIG",
            "extension-crashed",
        ),
        ("buggy_extension_hung", "1500", "hung", "extension-hung"),
    ] {
        let build = dir.join(lib_file("buggy_buffer_leak"));
        std::fs::copy(lib(bad), &build).unwrap();
        let prefix = dir.join(format!("{bad}.replayed.trace"));
        let o = faxsim(&[
            "replay",
            trace.to_str().unwrap(),
            "--ext",
            build.to_str().unwrap(),
            "--timeout-ms",
            timeout,
            "--record",
            prefix.to_str().unwrap(),
        ]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(3), "{bad}: {text}");
        if cfg!(unix) || needle == "hung" {
            assert!(text.contains(needle), "{bad}: {text}");
        }
        assert!(text.contains("inside FaxExtConfigChange"), "{bad}: {text}");
        assert!(text.contains(rule), "{bad}: {text}");
        // The replayed run up to the failure reads back (cut, not lost).
        let shown = faxsim(&["show", prefix.to_str().unwrap()]);
        let shown = String::from_utf8_lossy(&shown.stdout);
        assert!(shown.contains("config-change-call"), "{bad}: {shown}");
        // Without --record the report names a kept file, and JSON says the same.
        let o = faxsim(&[
            "replay",
            trace.to_str().unwrap(),
            "--ext",
            build.to_str().unwrap(),
            "--timeout-ms",
            timeout,
            "--format",
            "json",
        ]);
        assert_eq!(o.status.code(), Some(3), "{bad}");
        let v = json(&o);
        assert_eq!(v["passed"], false);
        assert!(
            rules(&v).iter().any(|r| r.starts_with(&format!("{rule} "))),
            "{bad}: {v}"
        );
        let kept = v["replay"]["replayed_trace"]
            .as_str()
            .expect("a kept trace");
        let shown = faxsim(&["show", kept]);
        assert!(
            String::from_utf8_lossy(&shown.stdout).contains("config-change-call"),
            "{bad}: {kept}"
        );
        let _ = std::fs::remove_file(kept);
        if let Some(scratch) = Path::new(kept).parent() {
            let _ = std::fs::remove_dir(scratch);
        }
    }
    // The recorded build: the worker's report is the in-process one, in both formats,
    // and a snapshot written in one is matched by the other.
    let leak = lib("buggy_buffer_leak");
    let snaps = dir.join("snaps");
    for format in ["text", "json"] {
        let mut reports = Vec::new();
        for (mode, first) in [("worker", true), ("in-process", false)] {
            let mut args = vec![
                "replay",
                trace.to_str().unwrap(),
                "--ext",
                leak.to_str().unwrap(),
                "--format",
                format,
                "--snapshot",
                snaps.to_str().unwrap(),
            ];
            if !first {
                args.push("--in-process");
            }
            let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
                .args(&args)
                .env("NO_COLOR", "1")
                .env("INSTA_UPDATE", "auto")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            assert_eq!(o.status.code(), Some(1), "{mode}: {text}");
            assert!(text.contains("buffer-leak"), "{mode}: {text}");
            if !first {
                assert!(
                    text.contains("matches") || text.contains("\"matched\""),
                    "{mode}: {text}"
                );
            }
            reports.push(text);
        }
        if format == "text" {
            assert!(reports[0].contains("REPRODUCED"), "{}", reports[0]);
        }
        // The first run wrote the snapshot, the second matched it: otherwise equal.
        let normalise = |s: &str| {
            s.lines()
                .filter(|l| !l.contains("snapshot") && !l.contains("\"result\""))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(normalise(&reports[0]), normalise(&reports[1]), "{format}");
        std::fs::remove_dir_all(&snaps).unwrap();
    }
}

/// A recording whose service called the extension from several threads (as a real fax
/// service does: notifications from one, administration from another) replays with each
/// recorded service thread's calls coming from one thread of its own, numbered as
/// recorded, around the threads the extension starts itself.
#[test]
fn calls_from_several_service_threads_replay_on_threads_of_their_own() {
    use faxsim_sim::trace::{EventKind, Half, TraceWriter, read_trace};
    if fixtures().is_none() {
        return;
    }
    let dir = scratch("service-threads");
    for fixture in ["careful_routing", "careful_threads"] {
        let trace = dir.join(format!("{fixture}.trace"));
        faxsim(&[
            "validate",
            lib(fixture).to_str().unwrap(),
            "--seed",
            "0",
            "--record",
            trace.to_str().unwrap(),
        ]);
        // As if every administrator's write, and everything it caused, came from service
        // thread 9 (an id the extension's own threads do not take): the same events, on
        // another thread.
        let t = read_trace(&std::fs::read(&trace).unwrap()[..]).unwrap();
        let mut events = t.events.clone();
        let mut depth = 0usize;
        for e in &mut events {
            let starts = matches!(e.kind, EventKind::ExternalWriteCall { .. });
            if (starts || depth > 0) && e.thread == 0 {
                e.thread = 9;
            }
            match e.kind.half() {
                Some(Half::Call(_)) if e.thread == 9 => depth += 1,
                Some(Half::Return(_)) if e.thread == 9 => depth -= 1,
                _ => {}
            }
        }
        assert!(events.iter().any(|e| e.thread == 9));
        let moved = dir.join(format!("{fixture}-threads.trace"));
        let mut w = TraceWriter::new(Vec::new(), &t.header).unwrap();
        for e in &events {
            w.write_event(e).unwrap();
        }
        std::fs::write(&moved, w.finish().unwrap()).unwrap();
        let o = faxsim(&[
            "replay",
            moved.to_str().unwrap(),
            "--ext",
            lib(fixture).to_str().unwrap(),
        ]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{fixture}: {text}");
        assert!(
            text.contains("determinism check passed"),
            "{fixture}: {text}"
        );
    }
}
