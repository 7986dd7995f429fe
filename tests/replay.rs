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
    &["buggy_call_after_init_failure"],
    &["buggy_invalid_guid"],
    &["buggy_foreign_hinst"],
    &["buggy_wrong_id_source"],
    &["buggy_busy_reentry"],
    &["buggy_duplicate_registration"],
    &["buggy_stale_unregister"],
    &["buggy_registration_leak"],
    &["buggy_config_init_failed"],
    &["buggy_notification_storm", "storm_mirror"],
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

/// A cut recording (a service that died mid-run) replays up to its last complete event,
/// says so, and is not a divergence.
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
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("REPRODUCED") && text.contains("the recording is cut"),
        "{text}"
    );
}
