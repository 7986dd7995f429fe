//! `faxsim explore` on real C libraries from `extensions/c`: order- and failure-dependent
//! bugs found, careful fixtures clean, shards that merge into the whole, the determinism
//! check, reproduce commands that reproduce, crashes that cost a seed.

#[path = "support/cfixtures.rs"]
mod cfixtures;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn lib(stem: &str) -> Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    let dir = DIR.get_or_init(|| cfixtures::build_all("explore-fixtures"));
    dir.as_ref().map(|d| d.join(cfixtures::lib_file(stem)))
}

fn faxsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("faxsim runs")
}

fn explore_json(lib: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec![
        "explore",
        "--ext",
        lib.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = faxsim(&args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code(), v)
}

fn rules(v: &Value) -> Vec<String> {
    v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// Careful fixtures give no failure over 1,000 seeds under either policy.
#[test]
fn careful_fixtures_stay_clean_over_a_thousand_seeds() {
    for stem in [
        "careful_routing",
        "careful_threads",
        "careful_routing_info",
        "careful_job_listener",
    ] {
        let Some(lib) = lib(stem) else { return };
        for policy in ["random", "pct"] {
            let (code, v) = explore_json(&lib, &["--seeds", "1000", "--policy", policy]);
            assert_eq!(code, Some(0), "{stem} {policy}: {v}");
            assert_eq!(v["explored"], 1000, "{stem} {policy}");
            assert_eq!(v["passed"], true, "{stem} {policy}");
        }
    }
}

/// The first seed of `stem` that fails, from the seed range starting at `from`, under
/// `policy`, within `within` seeds.
fn first_failing(stem: &str, policy: &[&str], from: u64, within: u64) -> Option<(u64, Value)> {
    let lib = lib(stem)?;
    let from = from.to_string();
    let within_s = within.to_string();
    let mut args = vec!["--seed", &from, "--seeds", &within_s];
    args.extend_from_slice(policy);
    let (code, v) = explore_json(&lib, &args);
    assert!(matches!(code, Some(0 | 1)), "{stem}: {v}");
    let first = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "buffer-leak")
        .map(|f| f["first_seed"].as_u64().unwrap())
        .min()?;
    Some((first, v))
}

/// A leak that shows only when a notification overtakes the one before it, and one that
/// shows only when the second read of a pair fails (which the default battery never
/// injects): both found by either policy within 150 seeds, placed in the handler
/// they happen in, from ten different starting seeds. (The seeds each took are measured
/// in docs/performance.md.)
#[test]
fn order_and_failure_dependent_bugs_are_found() {
    for stem in ["buggy_order_dependent", "buggy_second_read_failure"] {
        for policy in [
            &["--policy", "random"][..],
            &["--policy", "pct", "--depth", "2"],
        ] {
            for from in (0..10).map(|i| i * 1000) {
                let Some((_, v)) = first_failing(stem, policy, from, 150) else {
                    if lib(stem).is_none() {
                        return;
                    }
                    panic!(
                        "{stem} {policy:?}: nothing found in seeds {from}..{}",
                        from + 150
                    );
                };
                let f = v["failures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["rule"] == "buffer-leak")
                    .unwrap();
                assert_eq!(f["extension"], stem, "{v}");
                assert_eq!(f["entry_point"], "FaxExtConfigChange", "{v}");
            }
        }
    }
    // The default battery misses the second (and validates it clean).
    let Some(lib) = lib("buggy_second_read_failure") else {
        return;
    };
    let o = faxsim(&["validate", lib.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// A failure's reproduce command runs its first seed alone and shows the same failure.
#[test]
fn the_reproduce_command_reproduces() {
    let Some((seed, v)) = first_failing(
        "buggy_second_read_failure",
        &["--policy", "pct", "--depth", "2"],
        0,
        60,
    ) else {
        assert!(lib("buggy_second_read_failure").is_none(), "nothing found");
        return;
    };
    let f = &v["failures"][0];
    let reproduce = f["reproduce"].as_str().unwrap();
    assert!(reproduce.contains(&format!("--seed {seed}")), "{reproduce}");
    assert!(reproduce.contains("--horizon"), "{reproduce}");
    let words: Vec<&str> = reproduce.split(' ').skip(1).collect();
    let mut args = words.clone();
    args.extend(["--format", "json"]);
    let o = faxsim(&args);
    assert_eq!(o.status.code(), Some(1));
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["explored"], 1);
    let g = &again["failures"][0];
    for field in [
        "rule",
        "extension",
        "entry_point",
        "first_seed",
        "event",
        "message",
    ] {
        assert_eq!(g[field], f[field], "{field}: {again}");
    }
}

/// Shards 1/4..4/4 cover the seeds of the unsharded run, and their merged report is the
/// unsharded report; a shard given twice or another exploration is refused (exit 2).
#[test]
fn shards_merge_into_the_unsharded_report() {
    let Some(lib) = lib("buggy_order_dependent") else {
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-shards");
    std::fs::create_dir_all(&dir).unwrap();
    let (code, whole) = explore_json(&lib, &["--seeds", "80", "--jobs", "1"]);
    assert_eq!(code, Some(1), "{whole}");
    assert!(
        rules(&whole).contains(&"buffer-leak".to_string()),
        "{whole}"
    );
    let mut files = Vec::new();
    let mut explored = 0;
    for i in 1..=4 {
        let shard = format!("{i}/4");
        let (_, v) = explore_json(&lib, &["--seeds", "80", "--shard", &shard]);
        assert_eq!(v["shards"], serde_json::json!([shard]));
        explored += v["explored"].as_u64().unwrap();
        let path = dir.join(format!("shard{i}.json"));
        std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    assert_eq!(explored, 80);
    let mut args = vec!["explore", "--format", "json", "--merge"];
    args.extend(files.iter().map(String::as_str));
    let o = faxsim(&args);
    assert_eq!(o.status.code(), Some(1));
    let merged: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(merged, whole);
    // A shard twice.
    let o = faxsim(&["explore", "--merge", &files[0], &files[1], &files[0]]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard 1/4 is also in"));
    // Not a report: named with its line and column.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\n  \"faxsim\": 3\n}\n").unwrap();
    let o = faxsim(&["explore", "--merge", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.json:2:"), "{err}");
}

/// `--check-determinism` names the write of a fixture that stamps the time of day (clean
/// by every rule), and passes careful fixtures, threaded ones included.
#[test]
fn the_determinism_check_flags_a_clock_and_passes_careful_fixtures() {
    let Some(clock) = lib("nondeterministic_clock") else {
        return;
    };
    let (code, v) = explore_json(&clock, &["--seeds", "5"]);
    assert_eq!(code, Some(0), "clean by every rule: {v}");
    let (code, v) = explore_json(&clock, &["--seeds", "5", "--check-determinism"]);
    assert_eq!(code, Some(1), "{v}");
    let f = &v["failures"][0];
    assert_eq!(f["rule"], "nondeterministic");
    assert_eq!(f["entry_point"], "FaxRouteInitialize");
    assert_eq!(f["seeds"], 5);
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("set-data-call"), "{message}");
    for stem in ["careful_routing", "careful_threads", "careful_fsp"] {
        let lib = lib(stem).unwrap();
        let (code, v) = explore_json(&lib, &["--seeds", "60", "--check-determinism"]);
        assert_eq!(code, Some(0), "{stem}: {v}");
    }
}

/// A library that crashes costs the seed, not the search: every seed runs, the crash is
/// one failure placed in the handler it happened in, exit 3; --record keeps its trace,
/// which `faxsim check` reads.
#[test]
fn a_crash_is_a_failure_and_the_search_goes_on() {
    let Some(lib) = lib("buggy_extension_crashed") else {
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-crash");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, v) = explore_json(&lib, &["--seeds", "12", "--record", dir.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["explored"], 12);
    let crash = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "extension-crashed")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(crash["entry_point"], "FaxExtConfigChange");
    let trace = crash["trace"].as_str().unwrap();
    let o = faxsim(&["check", trace]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("extension-crashed"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// The scenario library is clean under exploration: every error finding a seed shows is
/// one its file names.
#[test]
fn the_scenario_library_explores_clean() {
    for policy in ["random", "pct"] {
        let o = faxsim(&[
            "explore",
            "scenarios",
            "--seeds",
            "200",
            "--policy",
            policy,
            "--format",
            "json",
        ]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(o.status.code(), Some(0), "{policy}: {v}");
        let files = v["explore"]["targets"].as_array().unwrap().len() as u64;
        assert!(files > 50, "{v}");
        assert_eq!(v["explored"], 200 * files);
    }
}

/// A scripted extension that leaks in its handler, in a file that does not say so, is a
/// failure of every seed whose decisions let the handler run, placed in the scenario and
/// the handler; its reproduce command runs the seed alone; shards merge into the whole.
#[test]
fn a_scenario_that_does_not_allow_a_leak_fails_and_shards_merge() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-scenario");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("leak.toml");
    std::fs::write(
        &file,
        r#"
[[extension]]
name = "router"
kind = "routing"

[extension.general_init]
actions = [{ op = "register", guid = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}" }]

[extension.on_change]
actions = [{ op = "get", guid = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}", bind = "copy" }]

[[step]]
op = "start"

[[step]]
op = "write"
guid = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}"
hex = "01000000"

[[step]]
op = "stop"
"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["explore", path, "--format", "json"];
        args.extend_from_slice(extra);
        let o = faxsim(&args);
        (
            o.status.code(),
            serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        )
    };
    let (code, whole) = run(&["--seeds", "60", "--policy", "pct", "--depth", "2"]);
    assert_eq!(code, Some(1), "{whole}");
    let f = &whole["failures"][0];
    assert_eq!(f["rule"], "buffer-leak");
    assert_eq!(f["extension"], "router");
    assert_eq!(f["entry_point"], "FaxExtConfigChange");
    assert_eq!(f["scenario"], path);
    // Some seeds fail a call on the way, and nothing leaks: not every seed fails.
    let seeds = f["seeds"].as_u64().unwrap();
    assert!(seeds > 10 && seeds < 60, "{whole}");
    // The reproduce command, alone.
    let words: Vec<String> = f["reproduce"]
        .as_str()
        .unwrap()
        .split(' ')
        .skip(1)
        .map(String::from)
        .collect();
    let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
    args.extend(["--format", "json"]);
    let o = faxsim(&args);
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["failures"][0]["message"], f["message"], "{again}");
    // Three shards, merged.
    let mut files = Vec::new();
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let (_, v) = run(&[
            "--seeds", "60", "--policy", "pct", "--depth", "2", "--shard", &shard,
        ]);
        let out = dir.join(format!("s{i}.json"));
        std::fs::write(&out, v.to_string()).unwrap();
        files.push(out.to_str().unwrap().to_string());
    }
    let mut args = vec!["explore", "--format", "json", "--merge"];
    args.extend(files.iter().map(String::as_str));
    let merged: Value = serde_json::from_slice(&faxsim(&args).stdout).unwrap();
    assert_eq!(merged, whole);
}

/// A scenario that hosts a C library explores it in worker processes.
#[test]
fn a_scenario_hosting_a_library_explores_in_workers() {
    let Some(lib) = lib("buggy_order_dependent") else {
        return;
    };
    let dir = lib.parent().unwrap();
    let file = dir.join("order.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[service]
delivery = "deferred"

[[extension]]
name = "order"
kind = "routing"
library = "{}"

[[step]]
op = "start"

[[step]]
op = "write"
guid = "{{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}}"
hex = "01000000"

[[step]]
op = "write"
guid = "{{6f1c2a7e-93b4-4d0e-8a55-2b7c9e4d1f60}}"
hex = "02000000"

[[step]]
op = "settle"

[[step]]
op = "stop"
"#,
            cfixtures::lib_file("buggy_order_dependent")
        ),
    )
    .unwrap();
    let o = faxsim(&[
        "explore",
        file.to_str().unwrap(),
        "--seeds",
        "40",
        "--policy",
        "pct",
        "--depth",
        "2",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(o.status.code(), Some(1), "{v}");
    assert_eq!(v["failures"][0]["rule"], "buffer-leak", "{v}");
    assert_eq!(v["failures"][0]["extension"], "order", "{v}");
}

/// A 200-step scenario whose scripted router leaks on one write of 198.
fn long_leaking_scenario(dir: &Path) -> PathBuf {
    let mut text = String::from(
        r#"[scenario]
description = "200 steps, one of which makes the router leak."

[[extension]]
name = "router"
kind = "routing"

[extension.general_init]
actions = [
  { op = "register", guid = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}" },
  { op = "get", guid = "{6f1c2a7e-93b4-4d0e-8a55-2b7c9e4d1f60}", bind = "status" },
  { op = "free", buffer = "status" },
]

[extension.on_change]
actions = [{ op = "get", guid = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}", bind = "copy" }]

[[step]]
op = "start"
"#,
    );
    for i in 0..198 {
        let guid = if i == 120 {
            "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}"
        } else {
            "{11111111-2222-3333-4444-555555555555}"
        };
        text.push_str(&format!(
            "\n[[step]]\nop = \"write\"\nguid = \"{guid}\"\nhex = \"{i:02x}000000\"\n"
        ));
    }
    text.push_str("\n[[step]]\nop = \"stop\"\n");
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("long.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn steps_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.trim() == "[[step]]")
        .count()
}

/// `faxsim shrink` takes a 200-step failing scenario to at most 5 steps with the same
/// finding (same rule, same extension); the result is a scenario file that `faxsim run`
/// fails on (no `[expect]`: a regression test); a clean file or an unknown rule is bad
/// input.
#[test]
fn a_200_step_scenario_shrinks_to_at_most_five_steps() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-shrink");
    let long = long_leaking_scenario(&dir);
    assert_eq!(steps_in(&long), 200);
    let min = dir.join("min.toml");
    let o = faxsim(&[
        "shrink",
        long.to_str().unwrap(),
        "--output",
        min.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("buffer-leak (router) still fires with"),
        "{text}"
    );
    let steps = steps_in(&min);
    assert!(
        (1..=5).contains(&steps),
        "{steps} steps:\n{}",
        std::fs::read_to_string(&min).unwrap()
    );
    let o = faxsim(&["run", min.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = &v["runs"][0]["findings"][0];
    assert_eq!(
        (&f["rule"], &f["extension"]),
        (&Value::from("buffer-leak"), &Value::from("router"))
    );
    // Nothing to shrink, or a rule that does not exist.
    let clean = Path::new("scenarios/ownership/two-gets-two-frees.toml");
    let o = faxsim(&[
        "shrink",
        clean.to_str().unwrap(),
        "--output",
        min.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no failing finding"));
    let o = faxsim(&[
        "shrink",
        long.to_str().unwrap(),
        "--rule",
        "no-such-rule",
        "--output",
        min.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// `explore --shrink` writes the smallest file of each distinct scenario failure beside
/// its trace, and that file shows the same failure under the failure's seed and strategy.
#[test]
fn explore_shrinks_what_it_finds() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-shrink-found");
    let _ = std::fs::remove_dir_all(&dir);
    let long = long_leaking_scenario(&dir);
    let rec = dir.join("found");
    let o = faxsim(&[
        "explore",
        long.to_str().unwrap(),
        "--seeds",
        "20",
        "--policy",
        "pct",
        "--depth",
        "2",
        "--record",
        rec.to_str().unwrap(),
        "--shrink",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "{v}");
    let f = &v["failures"][0];
    let shrunk = Path::new(f["shrunk"].as_str().expect("shrunk"));
    assert!(
        steps_in(shrunk) <= 5,
        "{}",
        std::fs::read_to_string(shrunk).unwrap()
    );
    // Its first lines say how to see it; that command shows the same failure.
    let text = std::fs::read_to_string(shrunk).unwrap();
    let see = text
        .lines()
        .find_map(|l| l.strip_prefix("# See it: "))
        .expect("a See it line");
    let mut args: Vec<&str> = see.split(' ').skip(1).collect();
    args.extend(["--format", "json"]);
    let o = faxsim(&args);
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    let g = &again["failures"][0];
    assert_eq!(
        (&g["rule"], &g["extension"]),
        (&f["rule"], &f["extension"]),
        "{again}"
    );
}

/// The bug-report workflow: the trace `--record` keeps of a failure an exploration found
/// replays against the same build, event for event in strict mode and with the same
/// behaviour in model mode (the exploration's decisions, pauses included, are in the
/// recording).
#[test]
fn an_explored_failure_replays() {
    let Some(lib) = lib("buggy_order_dependent") else {
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-replay");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, v) = explore_json(
        &lib,
        &[
            "--seeds",
            "50",
            "--policy",
            "pct",
            "--depth",
            "3",
            "--record",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{v}");
    let trace = v["failures"][0]["trace"].as_str().unwrap();
    for (mode, word) in [("strict", "REPRODUCED"), ("model", "SAME")] {
        let o = faxsim(&[
            "replay",
            trace,
            "--ext",
            lib.to_str().unwrap(),
            "--mode",
            mode,
        ]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains(word), "{mode}: {text}");
        assert!(text.contains("buffer-leak"), "{mode}: {text}");
    }
}

/// `faxsim run FILE`: its exit code and standard output.
fn run_file(path: &Path) -> (Option<i32>, String) {
    let o = faxsim(&["run", path.to_str().unwrap()]);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// The `[[decision]]` tables of a shrunk file, each as its lines.
fn decisions_in(text: &str) -> Vec<String> {
    text.split("\n[[")
        .filter(|part| part.starts_with("decision]]"))
        .map(|part| format!("\n[[{part}"))
        .collect()
}

/// Each distinct failure of a library exploration comes with a shrunk scenario that hosts
/// the library: a handful of steps, and only the decisions the bug needs (the delivery
/// order of the order bug, the failed read of the failure bug). It fails while the bug
/// is there, and without any one of its decisions the finding is gone.
#[test]
fn library_failures_shrink_into_scenarios_whose_decisions_all_matter() {
    for (stem, policy, needs) in [
        (
            "buggy_order_dependent",
            &["--policy", "pct", "--depth", "3"][..],
            "write = ",
        ),
        (
            "buggy_second_read_failure",
            &["--policy", "random"][..],
            "fail = \"get-data\"",
        ),
    ] {
        let Some(lib) = lib(stem) else { return };
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("explore-shrink-{stem}"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut args = vec![
            "--seeds",
            "100",
            "--record",
            dir.to_str().unwrap(),
            "--shrink",
        ];
        args.extend_from_slice(policy);
        let (code, v) = explore_json(&lib, &args);
        assert_eq!(code, Some(1), "{stem}: {v}");
        let f = &v["failures"][0];
        assert_eq!(f["rule"], "buffer-leak", "{stem}: {v}");
        let shrunk = PathBuf::from(f["shrunk"].as_str().expect("shrunk"));
        let text = std::fs::read_to_string(&shrunk).unwrap();
        assert!(steps_in(&shrunk) <= 5, "{stem}:\n{text}");
        assert!(text.contains(needs), "{stem}:\n{text}");
        assert!(text.contains(lib.to_str().unwrap()), "{stem}:\n{text}");
        let (code, out) = run_file(&shrunk);
        assert_eq!(code, Some(1), "{stem}: {out}");
        assert!(
            out.contains("buffer-leak at event") && out.contains(stem),
            "{out}"
        );
        let decisions = decisions_in(&text);
        assert!(!decisions.is_empty(), "{stem}:\n{text}");
        for d in &decisions {
            let without = dir.join("without.toml");
            std::fs::write(&without, text.replace(d.as_str(), "")).unwrap();
            let (_, out) = run_file(&without);
            assert!(!out.contains("buffer-leak"), "{stem}: needless{d}\n{out}");
        }
    }
}

/// The bug-report workflow from `validate --record`: a bug on the job side, and one in a
/// routing method, each shrink into a scenario that hosts the library and drives the job
/// (or the routed fax) as the service does, start to end. It fails against the buggy
/// build and passes against the fixed one: a regression test.
#[test]
fn a_validate_trace_shrinks_into_a_regression_test() {
    let method = "{A1B2C3D4-0000-4000-8000-00000000ABCD}=RouteToInbox";
    for (buggy, fixed, extra, calls) in [
        (
            "buggy_job_leak",
            "careful_job_fsp",
            &[][..],
            &["FaxDevStartJob", "FaxDevAbortOperation", "FaxDevEndJob"][..],
        ),
        (
            "buggy_method_leak",
            "careful_method_routing",
            &["--routing-method", method][..],
            &["routing-start", "RouteToInbox", "routing-end"][..],
        ),
    ] {
        let (Some(lib), Some(good)) = (lib(buggy), lib(fixed)) else {
            return;
        };
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("shrink-trace-{buggy}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let trace = dir.join("run.trace");
        let mut args = vec![
            "validate",
            lib.to_str().unwrap(),
            "--seed",
            "0",
            "--record",
            trace.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = faxsim(&args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{buggy}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let min = dir.join("min.toml");
        let o = faxsim(&[
            "shrink",
            trace.to_str().unwrap(),
            "--ext",
            lib.to_str().unwrap(),
            "--output",
            min.to_str().unwrap(),
        ]);
        let said = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{buggy}: {said}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            said.contains("buffer-leak") && said.contains("reproduce: faxsim run"),
            "{said}"
        );
        let text = std::fs::read_to_string(&min).unwrap();
        assert!(steps_in(&min) <= 8, "{buggy}:\n{text}");
        let mut at = 0;
        for c in calls {
            let found = text[at..]
                .find(c)
                .unwrap_or_else(|| panic!("{buggy}: no {c} after {at}:\n{text}"));
            at += found;
        }
        let (code, out) = run_file(&min);
        assert_eq!(code, Some(1), "{buggy}: {out}");
        assert!(out.contains("buffer-leak"), "{out}");
        let fixed_file = dir.join("fixed.toml");
        std::fs::write(
            &fixed_file,
            text.replace(lib.to_str().unwrap(), good.to_str().unwrap()),
        )
        .unwrap();
        let (code, out) = run_file(&fixed_file);
        assert_eq!(code, Some(0), "{buggy} fixed: {out}");
    }
}

/// A trace shrinks only with the library it exercised, and a clean trace has nothing to
/// keep: each is a clear message naming the trace, exit 2.
#[test]
fn shrinking_a_trace_says_what_is_missing() {
    let (Some(buggy), Some(careful)) = (lib("buggy_double_free"), lib("careful_routing")) else {
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shrink-trace-errors");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("t.trace");
    let clean = dir.join("clean.trace");
    faxsim(&[
        "validate",
        buggy.to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        trace.to_str().unwrap(),
    ]);
    faxsim(&[
        "validate",
        careful.to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        clean.to_str().unwrap(),
    ]);
    let out = dir.join("min.toml");
    for (args, says) in [
        (vec![trace.to_str().unwrap()], "name it with --ext"),
        (
            vec![trace.to_str().unwrap(), "--ext", careful.to_str().unwrap()],
            "no extension of the recording is this library",
        ),
        (
            vec![clean.to_str().unwrap(), "--ext", careful.to_str().unwrap()],
            "no failing finding",
        ),
    ] {
        let mut a = vec!["shrink"];
        a.extend(args);
        a.extend(["--output", out.to_str().unwrap()]);
        let o = faxsim(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains(says) && err.contains(".trace"),
            "{says}: {err}"
        );
    }
}

/// A bug that needs a write in the middle of a fax job: the battery runs jobs and writes
/// one after the other, so `validate` passes it; exploration's `random` policy
/// interleaves them as the service's threads do and finds it, in the job's entry point,
/// from any starting seed; its shrunk scenario puts the write between `FaxDevStartJob`
/// and `FaxDevEndJob`.
#[test]
fn a_write_in_the_middle_of_a_job_is_found_by_interleaving() {
    let Some(lib) = lib("buggy_mid_job_change") else {
        return;
    };
    let o = faxsim(&["validate", lib.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    for from in [0u64, 100, 1000] {
        let (seed, v) = first_failing("buggy_mid_job_change", &["--policy", "random"], from, 20)
            .unwrap_or_else(|| panic!("not found in 20 seeds from {from}"));
        let f = &v["failures"][0];
        assert_eq!(f["rule"], "buffer-leak", "{v}");
        assert_eq!(f["entry_point"], "FaxDevStartJob", "{v}");
        assert!(seed < from + 20);
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-mid-job");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, v) = explore_json(
        &lib,
        &[
            "--seeds",
            "20",
            "--record",
            dir.to_str().unwrap(),
            "--shrink",
        ],
    );
    assert_eq!(code, Some(1), "{v}");
    let text = std::fs::read_to_string(v["failures"][0]["shrunk"].as_str().unwrap()).unwrap();
    let start = text.rfind("FaxDevStartJob").unwrap();
    let write = text.rfind("op = \"write\"").expect("a write");
    let end = text.rfind("FaxDevEndJob").unwrap();
    assert!(start < write && write < end, "{text}");
}

/// A crash shrinks too: each candidate runs in a worker process, so a candidate that
/// crashes costs its run and shows the finding. In process it is refused, with the reason.
#[test]
fn a_crash_shrinks_in_worker_processes() {
    let Some(lib) = lib("buggy_extension_crashed") else {
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("explore-shrink-crash");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, v) = explore_json(
        &lib,
        &[
            "--seeds",
            "2",
            "--record",
            dir.to_str().unwrap(),
            "--shrink",
        ],
    );
    assert_eq!(code, Some(3), "{v}");
    let f = &v["failures"][0];
    assert_eq!(f["rule"], "extension-crashed", "{v}");
    let shrunk = PathBuf::from(f["shrunk"].as_str().expect("shrunk"));
    assert!(
        steps_in(&shrunk) <= 3,
        "{}",
        std::fs::read_to_string(&shrunk).unwrap()
    );
    let (code, out) = run_file(&shrunk);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("extension-crashed"), "{out}");
    let o = faxsim(&[
        "shrink",
        f["trace"].as_str().unwrap(),
        "--ext",
        lib.to_str().unwrap(),
        "--in-process",
        "--output",
        dir.join("x.toml").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("not shrunk in process"), "{err}");
}

/// A validate recording under each delivery policy (seeds 0, 1, 2: sync, shuffled,
/// deferred) shrinks into a file that fails; under `deferred` the scenario keeps the
/// recording's timing (a start, a write and a device change pass a scheduling point of
/// their own), so the order-dependent leak survives. A library that crashes while it is
/// loaded has nothing to shrink, and says so.
#[test]
fn validate_traces_of_every_policy_shrink() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("shrink-every-policy");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shrink = |stem: &str, seed: &str| -> (Option<i32>, String, PathBuf) {
        let lib = lib(stem).unwrap();
        let trace = dir.join(format!("{stem}-{seed}.trace"));
        let min = dir.join(format!("{stem}-{seed}.toml"));
        faxsim(&[
            "validate",
            lib.to_str().unwrap(),
            "--seed",
            seed,
            "--record",
            trace.to_str().unwrap(),
        ]);
        let o = faxsim(&[
            "shrink",
            trace.to_str().unwrap(),
            "--ext",
            lib.to_str().unwrap(),
            "--output",
            min.to_str().unwrap(),
        ]);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            min,
        )
    };
    if lib("buggy_double_free").is_none() {
        return;
    }
    for (stem, seed, rule) in [
        ("buggy_double_free", "0", "double-free"),
        ("buggy_double_free", "1", "double-free"),
        ("buggy_double_free", "2", "double-free"),
        ("buggy_order_dependent", "2", "buffer-leak"),
    ] {
        let (code, err, min) = shrink(stem, seed);
        assert_eq!(code, Some(0), "{stem} seed {seed}: {err}");
        let (code, out) = run_file(&min);
        assert_eq!(code, Some(1), "{stem} seed {seed}: {out}");
        assert!(out.contains(rule), "{out}");
    }
    // A crash while loading. Windows' loader refuses such a DLL (validate exits 2 and
    // writes no recording: tests/validate.rs); elsewhere the recording holds the crash
    // and shrink says there is nothing to shrink.
    let (code, err, _) = shrink("buggy_constructor_crash", "0");
    if cfg!(windows) {
        assert!(!dir.join("buggy_constructor_crash-0.trace").exists());
        assert_eq!(code, Some(2), "{err}");
    } else {
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("crashes while it is being loaded"), "{err}");
    }
}
