//! Every TOML example in `docs/scenario-format.md` runs and passes, so the format guide
//! cannot rot. A block marked `<!-- file: PATH -->` must also be identical to that library
//! file; a block marked `<!-- error: TEXT -->` must fail to load with a message
//! containing TEXT; a block marked `<!-- parse-only -->` (it names a library that is not
//! built here) must load but is not run.

use std::path::{Path, PathBuf};

use faxsim_scenario::{RunOptions, Scenario};

const DOC: &str = "docs/scenario-format.md";

struct Example {
    line: usize,
    marker: Option<String>,
    body: String,
}

fn examples() -> Vec<Example> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join(DOC)).expect("the format guide is readable");
    let mut out = Vec::new();
    let mut last_text: Option<&str> = None;
    let mut lines = doc.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if line.trim() == "```toml" {
            let marker = last_text
                .and_then(|t| t.strip_prefix("<!--"))
                .and_then(|t| t.strip_suffix("-->"))
                .map(|t| t.trim().to_string());
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push(Example {
                line: i + 1,
                marker,
                body,
            });
            last_text = None;
        } else if !line.trim().is_empty() {
            last_text = Some(line.trim());
        }
    }
    out
}

#[test]
fn every_example_of_the_format_guide_runs_and_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let all = examples();
    assert!(all.len() >= 15, "the guide has an example per feature");
    for ex in all {
        let name = PathBuf::from(format!("{DOC}:{}", ex.line));
        match ex.marker.as_deref() {
            Some(m) if m.starts_with("error:") => {
                let want = m["error:".len()..].trim();
                let err = Scenario::parse(&name, &ex.body)
                    .expect_err("an error example must not load")
                    .to_string();
                assert!(err.contains(want), "{name:?}: wants {want:?} in {err}");
                continue;
            }
            Some(m) if m.starts_with("file:") => {
                let file = root.join(m["file:".len()..].trim());
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("{name:?}: {}: {e}", file.display()));
                assert_eq!(
                    text,
                    ex.body,
                    "{name:?} must be identical to {}",
                    file.display()
                );
            }
            Some("parse-only") => {
                let scenario =
                    Scenario::parse(&name, &ex.body).unwrap_or_else(|e| panic!("{name:?}: {e}"));
                assert!(
                    scenario.description.is_some(),
                    "{name:?}: says what it shows"
                );
                continue;
            }
            Some(m) => panic!("{name:?}: unknown marker {m:?}"),
            None => {}
        }
        let scenario = Scenario::parse(&name, &ex.body).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert!(
            scenario.description.is_some(),
            "{name:?}: every example says what it shows"
        );
        let report = scenario
            .run(RunOptions::default())
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert!(
            report.passed,
            "{name:?} failed: {:#?}\nfindings: {:#?}",
            report.failures,
            report
                .findings
                .iter()
                .map(|f| (f.rule.id(), &f.message))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn every_library_scenario_says_what_it_shows() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = faxsim_scenario::collect_files(&dir)
        .expect("the library is readable")
        .files;
    assert!(files.len() >= 40, "at least 40 scenarios");
    for f in files {
        let s = Scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        let d = s.description.unwrap_or_default();
        assert!(
            !d.trim().is_empty(),
            "{}: no [scenario] description",
            f.display()
        );
    }
}

#[test]
fn the_library_index_lists_every_scenario() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let index = std::fs::read_to_string(dir.join("README.md")).expect("scenarios/README.md");
    for f in faxsim_scenario::collect_files(&dir)
        .expect("the library is readable")
        .files
    {
        let rel = f
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        assert!(
            index.contains(&format!("]({rel})")),
            "scenarios/README.md does not list {rel}"
        );
    }
}

#[test]
fn hook_results_must_match_the_hook_s_return_type() {
    let cases = [
        (
            "[[extension]]\nname = \"r\"\nkind = \"routing\"\n[extension.config_init]\nresult = true\n",
            "config_init returns an HRESULT",
        ),
        (
            "[[extension]]\nname = \"r\"\nkind = \"routing\"\n[extension.general_init]\nresult = \"S_OK\"\n",
            "general_init returns a BOOL",
        ),
        (
            "[[extension]]\nname = \"r\"\nkind = \"routing\"\n[extension.on_change]\nresult = \"E_FAILED\"\n",
            "did you mean \"E_FAIL\"",
        ),
        (
            "[[extension]]\nname = \"r\"\nkind = \"routing\"\n[extension.general_init]\nactions = [ { op = \"get\", expect = \"ERROR_BUSSY\" } ]\n",
            "did you mean \"ERROR_BUSY\"",
        ),
        (
            "[[extension]]\nname = \"r\"\nkind = \"routing\"\n[extension.general_init]\nactions = [ { op = \"get\", giud = \"{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}\" } ]\n",
            "did you mean `guid`",
        ),
        (
            "[[step]]\nop = \"fault\"\ncallback = \"get-data\"\ncode = \"ERROR_GEN_FAILURE\"\ndevice = 3\n",
            "needs both device and guid",
        ),
    ];
    for (body, want) in cases {
        let err = Scenario::parse(Path::new("t.toml"), body)
            .expect_err(want)
            .to_string();
        assert!(err.contains(want), "wants {want:?} in {err}");
        assert!(err.starts_with("t.toml:"), "{err}");
    }
}

#[test]
fn the_last_step_leaving_the_service_up_still_unloads() {
    let body = "[[extension]]\nname = \"r\"\nkind = \"routing\"\n[extension.config_init]\nactions = [ { op = \"set\", guid = \"{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}\", hex = \"01\" }, { op = \"get\", guid = \"{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}\", bind = \"b\" } ]\n[[step]]\nop = \"start\"\n[expect]\nfindings = [\"buffer-leak\"]\n";
    let report = Scenario::parse(Path::new("t.toml"), body)
        .unwrap()
        .run(RunOptions::default())
        .unwrap();
    assert!(report.passed, "{:?}", report.failures);
}

#[test]
fn a_run_that_exceeds_its_event_limit_fails_with_the_reason() {
    let body = "[service.limits]\nevents = 3\n[[extension]]\nname = \"r\"\nkind = \"routing\"\n";
    let report = Scenario::parse(Path::new("t.toml"), body)
        .unwrap()
        .run(RunOptions::default())
        .unwrap();
    assert!(!report.passed);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.contains("the run stopped early") && f.contains("Events")),
        "{:?}",
        report.failures
    );
}
