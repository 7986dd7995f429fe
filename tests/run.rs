//! `faxsim run`: the scenario library passes, reports in every format, strict parsing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faxsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("faxsim runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn library() -> Vec<PathBuf> {
    faxsim_scenario::collect_files(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")))
        .expect("the scenario library is readable")
        .files
}

#[test]
fn the_whole_scenario_library_passes() {
    let out = faxsim(&["run", "scenarios/"]);
    assert!(
        out.status.success(),
        "faxsim run scenarios/ failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn junit_has_one_testcase_per_scenario_and_json_one_run_per_scenario() {
    let n = library().len();
    let out = faxsim(&["run", "scenarios/", "--format", "junit"]);
    assert!(out.status.success());
    let xml = text(&out.stdout);
    assert_eq!(xml.matches("<testcase ").count(), n, "{xml}");
    let out = faxsim(&["run", "scenarios/", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["format"], 1);
    assert_eq!(doc["runs"].as_array().unwrap().len(), n);
    for run in doc["runs"].as_array().unwrap() {
        assert_eq!(run["passed"], true, "{run}");
        assert!(run["name"].as_str().unwrap().starts_with("run:scenarios/"));
    }
}

fn write_temp(name: &str, body: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn malformed_files_exit_2_with_file_line_column_and_a_suggestion() {
    let cases = [
        (
            "typo.toml",
            "[service]\nseed = 1\ndelivry = \"sync\"\n",
            ":3:1:",
            "did you mean `delivery`",
        ),
        (
            "variant.toml",
            "[[step]]\nop = \"strat\"\n",
            ":2:",
            "did you mean `start`",
        ),
        (
            "type.toml",
            "[service]\nseed = \"one\"\n",
            ":2:8:",
            "invalid type",
        ),
        (
            "undefined.toml",
            "[[extension]]\nname = \"router\"\nkind = \"routing\"\n\n[[step]]\nop = \"run\"\next = \"ruoter\"\nactions = []\n",
            ":7:7:",
            "did you mean \"router\"",
        ),
        (
            "unbound.toml",
            "[[extension]]\nname = \"r\"\nkind = \"routing\"\n[extension.general_init]\nactions = [ { op = \"free\", buffer = \"buf\" } ]\n",
            ":5:",
            "never binds a buffer named \"buf\"",
        ),
        (
            "rule.toml",
            "[expect]\nfindings = [\"buffer-leek\"]\n",
            ":2:",
            "did you mean \"buffer-leak\"",
        ),
        ("syntax.toml", "[service\n", ":1:", ""),
        // A misspelt key in the second [[step]]: pointed at, not at the first step.
        (
            "step-key.toml",
            "[[step]]\nop = \"start\"\n\n[[step]]\nop = \"write\"\ngud = \"{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}\"\nhex = \"01\"\n",
            ":6:1:",
            "did you mean `guid`",
        ),
        // A misspelt tag: the missing `op` is matched to `opp`.
        (
            "tag.toml",
            "[[step]]\nopp = \"stop\"\n",
            ":2:1:",
            "is `opp` a misspelling of `op`",
        ),
        // A misspelt key inside an inline action table.
        (
            "action-key.toml",
            "[[extension]]\nname = \"r\"\nkind = \"routing\"\n[extension.general_init]\nactions = [\n  { op = \"register\", gud = \"{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}\" },\n]\n",
            ":6:22:",
            "did you mean `guid`",
        ),
        (
            "table-name.toml",
            "[[extention]]\nname = \"r\"\nkind = \"routing\"\n",
            ":1:",
            "did you mean `extension`",
        ),
    ];
    for (name, body, place, hint) in cases {
        let p = write_temp(name, body);
        let out = faxsim(&["run", p.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(name),
            "{name}: the message names the file: {err}"
        );
        assert!(err.contains(place), "{name}: wants {place:?} in {err}");
        assert!(err.contains(hint), "{name}: wants {hint:?} in {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
    }
    let out = faxsim(&["run", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_failing_expectation_exits_1_and_prints_the_reproducing_command() {
    let p = write_temp(
        "unmet.toml",
        "[[extension]]\nname = \"r\"\nkind = \"routing\"\n\n[expect]\nfindings = [\"buffer-leak\"]\n",
    );
    let out = faxsim(&["run", p.to_str().unwrap(), "--seed", "9"]);
    assert_eq!(out.status.code(), Some(1));
    let s = text(&out.stdout);
    assert!(s.contains("FAIL"), "{s}");
    assert!(
        s.contains("expected exactly the findings [buffer-leak], got [none]"),
        "{s}"
    );
    assert!(s.contains("--seed 9"), "{s}");
}

#[test]
fn record_writes_one_trace_per_scenario_that_checks_to_the_live_findings() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-record");
    let _ = std::fs::remove_dir_all(&dir);
    let out = faxsim(&[
        "run",
        "scenarios/",
        "--format",
        "json",
        "--record",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let live: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = live["runs"].as_array().unwrap();
    let mut traces: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    traces.sort();
    assert_eq!(traces.len(), runs.len(), "one trace per scenario");
    let key = |findings: &serde_json::Value| {
        let mut k: Vec<(String, u64)> = findings
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_string(),
                    f["event"].as_u64().unwrap(),
                )
            })
            .collect();
        k.sort();
        k
    };
    for run in runs {
        // scenarios/ownership/double-free.toml -> ownership--double-free.trace
        let name = run["name"].as_str().unwrap();
        let rel = name
            .trim_start_matches("run:scenarios/")
            .trim_end_matches(".toml");
        let trace = dir.join(format!("{}.trace", rel.replace('/', "--")));
        let out = faxsim(&["check", "--format", "json", trace.to_str().unwrap()]);
        let offline: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", text(&out.stderr)));
        assert_eq!(
            key(&run["findings"]),
            key(&offline["runs"][0]["findings"]),
            "{name}: live and offline findings differ"
        );
    }
}

/// A trace that cannot be written never costs the report: every scenario is reported,
/// then the trace's error is said on one line, with exit code 2 (a trace path that is a
/// link to /dev/full fails mid-write; one that is a folder fails at creation).
#[cfg(target_os = "linux")]
#[test]
fn a_trace_that_cannot_be_written_keeps_the_report() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("unwritable-record");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files: Vec<PathBuf> = [
        "ownership/leak-on-change.toml",
        "ownership/double-free.toml",
    ]
    .iter()
    .map(|f| scenarios.join(f))
    .collect();
    // Traces are named by the path below the files' common folder.
    std::os::unix::fs::symlink("/dev/full", dir.join("leak-on-change.trace")).unwrap();
    std::fs::create_dir(dir.join("double-free.trace")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .arg("run")
        .args(&files)
        .arg("--record")
        .arg(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        out.contains("leak-on-change") && out.contains("double-free"),
        "{out}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.lines()
            .all(|l| l.starts_with("faxsim: ") && l.contains("cannot write the trace")),
        "{err}"
    );
}

/// A routing extension that reads its flags on every notification and never frees the
/// buffer, written to 100 times (200 steps): a `buffer-leak` at unload. `expect` is the
/// `[expect]` table, or nothing.
fn leaking(expect: &str) -> String {
    let flags = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}";
    let mut s = format!(
        "[scenario]\ndescription = \"leaks a buffer per notification\"\n\n[[extension]]\nname = \"router\"\nkind = \"routing\"\n\n[extension.general_init]\nactions = [ {{ op = \"register\", guid = \"{flags}\", bind = \"h\" }} ]\n\n[extension.on_change]\nactions = [ {{ op = \"get\", guid = \"{flags}\", bind = \"copy\" }} ]\n\n[[step]]\nop = \"start\"\n"
    );
    for i in 0..99 {
        s += &format!(
            "\n[[step]]\nop = \"write\"\nguid = \"{flags}\"\nhex = \"{i:02x}000000\"\n\n[[step]]\nop = \"settle\"\n"
        );
    }
    s += &format!(
        "\n[[step]]\nop = \"write\"\nguid = \"{flags}\"\nhex = \"ff000000\"\n\n[[step]]\nop = \"stop\"\n"
    );
    s + expect
}

/// A routing extension that frees NULL once: a `free-null` warning and nothing else.
const FREES_NULL: &str = "[scenario]\ndescription = \"frees NULL\"\n\n[[extension]]\nname = \"router\"\nkind = \"routing\"\n\n[extension.general_init]\nactions = [ { op = \"free\", target = \"null\" } ]\n";

#[test]
fn without_an_expectation_on_findings_an_error_finding_fails_the_scenario() {
    let p = write_temp("no-expect-leak.toml", &leaking(""));
    let out = faxsim(&["run", p.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(s.contains("FAIL ") && s.contains("[buffer-leak]"), "{s}");
    assert!(
        s.contains("buffer-leak fired, and the file states no expectation on findings, so error findings fail it"),
        "{s}"
    );
    assert!(s.contains("findings = [\"buffer-leak\"]"), "{s}");
    assert!(s.contains("error buffer-leak at event"), "{s}");

    // Values alone say nothing about findings: the same.
    let p = write_temp(
        "values-only-leak.toml",
        &leaking("\n[expect]\n[[expect.notifications]]\next = \"router\"\ncount = 100\n"),
    );
    let out = faxsim(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    // The JSON and JUnit reports say the same.
    let p = write_temp("no-expect-leak-json.toml", &leaking(""));
    let out = faxsim(&["run", p.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["passed"], false, "{v}");
}

#[test]
fn stating_the_finding_lets_the_scenario_show_it() {
    for (name, expect) in [
        (
            "expect-leak.toml",
            "\n[expect]\nfindings = [\"buffer-leak\"]\n",
        ),
        (
            "include-leak.toml",
            "\n[expect]\nfindings_include = [\"buffer-leak\"]\n",
        ),
        (
            "finding-leak.toml",
            "\n[expect]\n[[expect.finding]]\nrule = \"buffer-leak\"\ncount = 100\n",
        ),
    ] {
        let p = write_temp(name, &leaking(expect));
        let out = faxsim(&["run", p.to_str().unwrap(), "--deny-warnings"]);
        let s = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {s}");
        assert!(s.contains("PASS ") && s.contains("[buffer-leak]"), "{s}");
    }
    // `findings = []` states that nothing may fire.
    let p = write_temp(
        "expect-none-leak.toml",
        &leaking("\n[expect]\nfindings = []\n"),
    );
    let out = faxsim(&["run", p.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(
        s.contains("expected exactly the findings [none], got [buffer-leak]"),
        "{s}"
    );
}

#[test]
fn a_warning_without_an_expectation_fails_only_with_deny_warnings() {
    let p = write_temp("no-expect-free-null.toml", FREES_NULL);
    let out = faxsim(&["run", p.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(s.contains("PASS ") && s.contains("[free-null]"), "{s}");

    let out = faxsim(&["run", p.to_str().unwrap(), "--deny-warnings", "--seed", "4"]);
    let s = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{s}");
    assert!(
        s.contains("free-null fired, and the file states no expectation on findings, so findings (warnings too, with --deny-warnings) fail it"),
        "{s}"
    );
    assert!(s.contains("warning free-null at event"), "{s}");
    assert!(
        s.contains("reproduce: faxsim run ") && s.contains(" --seed 4 --deny-warnings"),
        "{s}"
    );

    // Stated, the warning is allowed whatever the flag.
    let body = format!("{FREES_NULL}\n[expect]\nfindings = [\"free-null\"]\n");
    let p = write_temp("expect-free-null.toml", &body);
    let out = faxsim(&["run", p.to_str().unwrap(), "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
