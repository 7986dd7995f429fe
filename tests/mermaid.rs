//! The interaction diagrams of `faxsim show --format mermaid`, rendered by Mermaid itself:
//! its npm package under node, with jsdom as the DOM (`tests/mermaid/render.mjs`, versions
//! pinned in `tests/mermaid/package-lock.json`). Each diagram must stay under Mermaid's
//! default size limit, parse (which checks the syntax and that every activation bar is
//! balanced) and render to a picture that is not Mermaid's error picture. What the
//! diagrams show is checked beside that: the documented interactions by their numbers,
//! nesting, findings at their events, folds and notes of what was left out.
//!
//! Needs node (18 or later) and `npm ci` in `tests/mermaid` (`.ci/run` does both). A test
//! that cannot run fails, unless `FAXSIM_ALLOW_SKIP` names `mermaid`; then it says
//! `SKIPPED` on stderr. Every test here has `in_mermaid` in its name, so a run where node
//! cannot start (Wine) filters them with `--skip in_mermaid`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

#[path = "support/cfixtures.rs"]
mod cfixtures;

/// Mermaid's default `maxTextSize`.
const MAX_TEXT: usize = 50_000;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn faxsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("faxsim runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scratch folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faxsim-mermaid-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The pinned packages of `dir`, installed with `npm ci` when they are missing (once per
/// test binary: the tests share the folder), so `cargo test` on a fresh machine with node
/// needs no step of its own.
fn install_packages(dir: &Path) -> Result<(), String> {
    static INSTALL: std::sync::Mutex<Option<Result<(), String>>> = std::sync::Mutex::new(None);
    let installed = || {
        dir.join("node_modules/mermaid/package.json").is_file()
            && dir.join("node_modules/jsdom/package.json").is_file()
    };
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = done.as_ref() {
        return r.clone();
    }
    let r = if installed() {
        Ok(())
    } else {
        let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
        match Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .output()
        {
            Ok(o) if o.status.success() && installed() => Ok(()),
            Ok(o) => Err(format!(
                "the pinned packages are not installed, and `npm ci` in {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(format!(
                "the pinned packages are not installed, and npm does not start ({e}): run `npm ci` in {}",
                dir.display()
            )),
        }
    };
    *done = Some(r.clone());
    r
}

/// The harness (`tests/mermaid/render.mjs`) when node and the pinned packages are here.
/// Otherwise the test fails, unless `FAXSIM_ALLOW_SKIP` names `mermaid`: then `None`, and a
/// `SKIPPED` line on stderr.
fn harness(test: &str) -> Option<PathBuf> {
    let dir = root().join("tests/mermaid");
    let why = match Command::new("node").arg("--version").output() {
        Err(e) => Some(format!("node does not start ({e})")),
        Ok(o) if !o.status.success() => Some("node --version failed".to_string()),
        Ok(o) => {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let major: u32 = v
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            if major < 18 {
                Some(format!(
                    "node {v} is too old (Mermaid 11 and jsdom need 18 or later)"
                ))
            } else {
                install_packages(&dir).err()
            }
        }
    };
    let Some(why) = why else {
        return Some(dir.join("render.mjs"));
    };
    let allowed = std::env::var("FAXSIM_ALLOW_SKIP")
        .is_ok_and(|v| v.split(',').any(|k| k.trim() == "mermaid"));
    assert!(
        allowed,
        "{why}: the diagrams cannot be rendered with Mermaid here; install node and run npm \
         ci in tests/mermaid (.ci/run does), or set FAXSIM_ALLOW_SKIP=mermaid to skip this test"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {why}; allowed by FAXSIM_ALLOW_SKIP=mermaid"
    );
    None
}

/// Renders every file with Mermaid; panics naming each one that does not render. Returns
/// the harness's report per file.
fn render(harness: &Path, files: &[PathBuf]) -> Vec<Value> {
    assert!(!files.is_empty());
    let out = Command::new("node")
        .arg(harness)
        .args(files)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let failed: Vec<&Value> = results.iter().filter(|r| r["ok"] != true).collect();
    assert!(
        failed.is_empty() && out.status.success(),
        "Mermaid did not render {} of {} diagrams:\n{}\n{}",
        failed.len(),
        files.len(),
        failed
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(results.len(), files.len(), "{stdout}");
    for r in &results {
        assert!(
            r["chars"].as_u64().is_some_and(|c| c as usize <= MAX_TEXT),
            "{r}"
        );
    }
    results
}

/// `faxsim show TRACE --format mermaid ARGS…` into `OUT`; the diagram.
fn diagram(trace: &Path, args: &[&str], out: &Path) -> String {
    let mut all = vec!["show", trace.to_str().unwrap(), "--format", "mermaid"];
    all.extend_from_slice(args);
    let o = faxsim(&all);
    assert!(o.status.success(), "{all:?}: {}", text(&o));
    let d = String::from_utf8(o.stdout).unwrap();
    assert!(d.len() <= MAX_TEXT, "{all:?}: {} characters", d.len());
    std::fs::write(out, &d).unwrap();
    d
}

/// A run of 300 external writes to a value three routing extensions watch: each re-reads
/// it and frees the buffer, a fourth leaks the buffer of the first write, and one GetData
/// in the middle fails by an injected fault.
fn three_hundred_writes() -> String {
    const FLAGS: &str = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}";
    let mut s = String::from(
        "[scenario]\ndescription = \"300 writes to a value four routing extensions watch.\"\n\n",
    );
    for name in ["alpha", "beta", "gamma"] {
        s += &format!(
            "[[extension]]\nname = \"{name}\"\nkind = \"routing\"\n\n\
             [extension.general_init]\nactions = [\n  {{ op = \"register\", guid = \"{FLAGS}\", bind = \"flags\" }},\n]\n\n\
             [extension.on_change]\nactions = [\n  {{ op = \"get\", guid = \"{FLAGS}\", bind = \"copy\" }},\n  {{ op = \"free\", buffer = \"copy\" }},\n]\n\n"
        );
    }
    s += &format!(
        "[[extension]]\nname = \"delta\"\nkind = \"routing\"\n\n\
         [extension.general_init]\nactions = [\n  {{ op = \"register\", guid = \"{FLAGS}\", bind = \"flags\" }},\n]\n\n\
         [extension.on_change]\ntimes = 1\nactions = [\n  {{ op = \"get\", guid = \"{FLAGS}\" }},\n]\n\n\
         [[step]]\nop = \"start\"\n\n"
    );
    for i in 0..300 {
        if i == 150 {
            s += "[[step]]\nop = \"fault\"\ncallback = \"get-data\"\ncode = \"ERROR_GEN_FAILURE\"\next = \"beta\"\nnth = 1\n\n";
        }
        s += &format!(
            "[[step]]\nop = \"write\"\nguid = \"{FLAGS}\"\nhex = \"{:02x}{:02x}0000\"\n\n",
            i % 256,
            i / 256
        );
    }
    s += "[[step]]\nop = \"stop\"\n\n[expect]\nfindings = [\"buffer-leak\"]\n";
    s
}

/// A trace whose every string is hostile to Mermaid's syntax: names and GUIDs with `;`,
/// `#`, `:`, arrows, `%%` directives, `end`, quotes, HTML and line breaks.
fn hostile_trace() -> String {
    use serde_json::json;
    let nasty = [
        "a:b -->> c; \"q\" #x <y> %%{init: {}}%% end",
        "end",
        "participant\nNote over S: x",
        "box rgb(1,2,3)\trect",
    ];
    let exts: Vec<_> = nasty
        .iter()
        .map(|n| json!({"name": n, "kind": "routing", "sha256": null}))
        .collect();
    let header = json!({"faxsim_trace": "1.0", "trace_id": "66617873-696d-4000-8000-000000000001",
        "faxsim": "0.1.0", "platform": {"os": "linux", "arch": "x86_64"}, "seed": 1,
        "origin": "simulator", "options": null, "extensions": exts});
    let mut lines = vec![header.to_string()];
    let mut seq = 0;
    let mut push = |ext: Option<usize>, kind: Value| {
        lines.push(
            json!({"seq": seq, "time": 0, "thread": 0, "ext": ext, "kind": kind}).to_string(),
        );
        seq += 1;
    };
    push(None, json!({"type": "service-start", "run": 1}));
    for (i, n) in nasty.iter().enumerate() {
        push(
            Some(i),
            json!({"type": "load", "kind": "routing", "exports": {"initialize_config": true, "dev_shutdown": false, "route_device_change": false}}),
        );
        push(Some(i), json!({"type": "entry-point-call", "function": n}));
        push(
            Some(i),
            json!({"type": "get-data-call", "device": 0, "source": 0, "guid": n, "null_out": false}),
        );
        push(
            Some(i),
            json!({"type": "get-data-return", "code": 2, "buffer": null, "data": null, "injected": true}),
        );
        push(Some(i), json!({"type": "extension-crashed", "detail": n}));
    }
    push(None, json!({"type": "service-stopped"}));
    lines.join("\n") + "\n"
}

#[test]
fn the_scenario_library_and_a_large_run_render_in_mermaid() {
    let Some(harness) = harness("the_scenario_library_and_a_large_run_render_in_mermaid") else {
        return;
    };
    let dir = scratch("library");
    let traces = dir.join("traces");
    let o = faxsim(&["run", "scenarios", "--record", traces.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let big = dir.join("big");
    std::fs::create_dir_all(&big).unwrap();
    let toml = big.join("three-hundred-writes.toml");
    std::fs::write(&toml, three_hundred_writes()).unwrap();
    let o = faxsim(&[
        "run",
        toml.to_str().unwrap(),
        "--record",
        big.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let mut trace_files: Vec<PathBuf> = std::fs::read_dir(&traces)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "trace"))
        .collect();
    trace_files.sort();
    assert!(trace_files.len() >= 100, "{}", trace_files.len());
    let out = dir.join("mmd");
    std::fs::create_dir_all(&out).unwrap();
    let mut files = Vec::new();
    for t in &trace_files {
        let f = out.join(format!("{}.mmd", t.file_stem().unwrap().to_string_lossy()));
        diagram(t, &[], &f);
        files.push(f);
    }
    // The large run: over 6,000 events, folded to a picture; each way of drawing a part.
    let trace = big.join("three-hundred-writes.trace");
    let shown = faxsim(&["show", trace.to_str().unwrap()]);
    let events: u64 = text(&shown)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("# end: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("an end line");
    assert!(events > 6_000, "{events}");
    let whole = out.join("big.mmd");
    let d = diagram(&trace, &[], &whole);
    // The first write (where delta leaks) and the one with the injected failure are
    // rounds of their own; the 149 before and after it fold.
    assert_eq!(
        d.matches("loop 149 rounds of external write").count(),
        2,
        "{d}"
    );
    assert!(d.contains("the first drawn, 148 more folded"), "{d}");
    // What the folds could not hide: the leaking first round, the injected failure, the
    // finding.
    assert!(d.contains("ERROR_GEN_FAILURE (injected)"), "{d}");
    assert!(d.contains("error buffer-leak"), "{d}");
    assert!(d.len() < 20_000, "{} characters", d.len());
    files.push(whole);
    // Unfolded, it is cut at the size limit, with a note of what was left out.
    let unfolded = out.join("big-unfolded.mmd");
    let d = diagram(&trace, &["--no-fold"], &unfolded).replace("<br/>", " ");
    assert!(
        d.contains("on not drawn, to keep the diagram under Mermaid"),
        "{d}"
    );
    assert!(d.contains("findings there: error buffer-leak"), "{d}");
    assert!(d.contains("--format mermaid --from "), "{d}");
    files.push(unfolded);
    // A window around the injected failure; one extension; a range.
    let injected = text(&shown)
        .lines()
        .find(|l| l.contains("(injected)"))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
        .expect("an injected failure");
    let around = out.join("big-around.mmd");
    let d = diagram(&trace, &["--around", &injected, "--context", "12"], &around);
    assert!(d.contains("events before"), "{d}");
    assert!(d.contains("ERROR_GEN_FAILURE (injected)"), "{d}");
    files.push(around);
    let beta = out.join("big-beta.mmd");
    let d = diagram(&trace, &["--ext", "beta"], &beta);
    assert!(!d.contains("as alpha"), "{d}");
    files.push(beta);
    let range = out.join("big-range.mmd");
    diagram(&trace, &["--from", "100", "--to", "400"], &range);
    files.push(range);
    // The golden traces of every format version, and a hostile one.
    for name in [
        "every-kind",
        "every-kind-1.1",
        "every-kind-1.2",
        "every-kind-1.3",
        "walkthrough-seed0-sync",
        "walkthrough-seed7-deferred",
    ] {
        let f = out.join(format!("golden-{name}.mmd"));
        diagram(
            &root().join(format!("tests/golden/v1/{name}.trace")),
            &[],
            &f,
        );
        files.push(f);
    }
    let hostile = dir.join("hostile.jsonl");
    std::fs::write(&hostile, hostile_trace()).unwrap();
    let f = out.join("hostile.mmd");
    let d = diagram(&hostile, &[], &f);
    assert_eq!(d.matches(": crashed: ").count(), 4, "{d}");
    files.push(f);
    // The diagrams the documentation shows.
    for doc in ["README.md", "docs/trace-format.md", "docs/cli.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for (i, block) in text.split("```mermaid\n").skip(1).enumerate() {
            let block = block.split("```").next().unwrap();
            let f = out.join(format!("doc-{}-{i}.mmd", doc.replace('/', "-")));
            std::fs::write(&f, block).unwrap();
            files.push(f);
        }
    }
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("doc-README")),
        "the README shows a diagram"
    );
    let results = render(&harness, &files);
    let tallest = results.iter().max_by_key(|r| r["height"].as_u64()).unwrap();
    let _ = writeln!(
        std::io::stderr(),
        "rendered {} diagrams with Mermaid; the tallest: {tallest}",
        results.len()
    );
}

#[test]
fn a_validate_run_of_a_buggy_fixture_renders_in_mermaid() {
    let test = "a_validate_run_of_a_buggy_fixture_renders_in_mermaid";
    let Some(harness) = harness(test) else {
        return;
    };
    let (Some(double_free), Some(fsp)) = (
        cfixtures::build_one("mermaid-fixtures", "buggy_double_free"),
        cfixtures::build_one("mermaid-fixtures", "careful_fsp"),
    ) else {
        return;
    };
    let dir = scratch("validate");
    let trace = dir.join("double-free.trace");
    let o = faxsim(&[
        "validate",
        double_free.to_str().unwrap(),
        fsp.to_str().unwrap(),
        "--seed",
        "0",
        "--record",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The report names the command that draws each finding.
    let report = text(&o);
    let line = report
        .lines()
        .find(|l| l.contains("draw it: faxsim show"))
        .unwrap_or_else(|| panic!("{report}"));
    let event = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        line.ends_with(&format!("--format mermaid --around {event}")),
        "{line}"
    );

    let whole = dir.join("whole.mmd");
    let d = diagram(&trace, &[], &whole);
    // The seven documented interactions by their numbers and full names.
    for (n, name) in [
        (1, "FaxExtInitializeConfig(5 callbacks)"),
        (2, "FaxExtGetData("),
        (3, "FaxExtRegisterForEvents("),
        (4, "FaxExtSetData("),
        (5, "FaxExtUnregisterForEvents("),
        (6, "FaxExtFreeBuffer("),
        (7, "FaxExtConfigChange("),
    ] {
        assert!(d.contains(&format!("({n}) {name}")), "({n}) {name}:\n{d}");
    }
    // Nesting: a GetData inside a ConfigChange, each opening its own bar.
    let change = d
        .find("->>+E")
        .and_then(|_| d.find(": (7) FaxExtConfigChange"))
        .unwrap();
    let get = d[change..].find(": (2) FaxExtGetData").unwrap() + change;
    let reply = d[change..].find(": (7) reply to").unwrap() + change;
    assert!(get < reply, "{d}");
    // The finding at its event, in red, and each service run in its band.
    assert!(
        d.contains("Note over E0: error double-free: buggy_double_free freed buffer #35;1"),
        "{d}"
    );
    assert!(d.contains("rect rgb(255,204,204)"), "{d}");
    assert_eq!(d.matches("service run ").count(), 5, "{d}");
    // The part around the finding, as `validate` prints it.
    let around = dir.join("around.mmd");
    let d = diagram(&trace, &["--around", &event.to_string()], &around);
    assert!(d.contains(&format!("[{event}]")), "{d}");
    assert!(d.contains("error double-free"), "{d}");
    render(&harness, &[whole, around]);
}

#[test]
fn runs_cut_by_a_crash_or_a_hang_render_in_mermaid() {
    let test = "runs_cut_by_a_crash_or_a_hang_render_in_mermaid";
    let Some(harness) = harness(test) else {
        return;
    };
    let (Some(crashed), Some(hung)) = (
        cfixtures::build_one("mermaid-fixtures", "buggy_extension_crashed"),
        cfixtures::build_one("mermaid-fixtures", "buggy_extension_hung"),
    ) else {
        return;
    };
    let dir = scratch("cut");
    let mut files = Vec::new();
    for (lib, word) in [(&crashed, "crashed: "), (&hung, "hung: ")] {
        let trace = dir.join(format!("{}.trace", word.trim_end_matches(": ")));
        let o = faxsim(&[
            "validate",
            lib.to_str().unwrap(),
            "--seed",
            "0",
            "--timeout-ms",
            "1000",
            "--record",
            trace.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        let f = dir.join(format!("{}.mmd", word.trim_end_matches(": ")));
        let d = diagram(&trace, &[], &f);
        // Called into and never returned: the bars are closed explicitly.
        assert!(d.contains(word), "{d}");
        assert!(d.contains("deactivate E0"), "{d}");
        files.push(f);
    }
    render(&harness, &files);
}
