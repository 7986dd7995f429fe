//! The `faxsim` binary: help, version, exit codes, and `faxsim rules`.

use std::process::{Command, Output};

fn faxsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("faxsim runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

/// The catalog of `protocol.md` section 7, copied independently of the code so a rule
/// renamed, dropped or re-graded in the code fails here.
const SPEC_CATALOG: &[(&str, &str)] = &[
    ("buffer-leak", "error"),
    ("double-free", "error"),
    ("foreign-free", "error"),
    ("free-null", "warning"),
    ("buffer-overrun", "error"),
    ("write-after-free", "error"),
    ("change-buffer-written", "error"),
    ("input-written", "error"),
    ("call-before-config-init", "error"),
    ("call-after-unload", "error"),
    ("call-after-init-failure", "warning"),
    ("invalid-guid", "error"),
    ("foreign-hinst", "warning"),
    ("wrong-id-source", "warning"),
    ("busy-reentry", "warning"),
    ("duplicate-registration", "warning"),
    ("stale-unregister", "warning"),
    ("registration-leak", "warning"),
    ("config-init-failed", "error"),
    ("extension-crashed", "error"),
    ("extension-hung", "error"),
    ("notification-storm", "error"),
    ("init-order", "error"),
    ("init-failure-ignored", "error"),
    ("notify-self", "error"),
    ("notify-mismatch", "error"),
    ("notify-after-unregister", "error"),
    ("notify-after-shutdown", "error"),
    ("missed-notification", "error"),
];

#[test]
fn rules_json_lists_every_rule_of_the_spec_with_its_severity() {
    let out = faxsim(&["rules", "--format", "json"]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(doc["format"], 1);
    let listed: Vec<(String, String)> = doc["rules"]
        .as_array()
        .expect("rules is an array")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = SPEC_CATALOG
        .iter()
        .map(|(i, s)| (i.to_string(), s.to_string()))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn rules_text_is_stable() {
    let out = faxsim(&["rules"]);
    assert!(out.status.success());
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn help_documents_exit_codes_and_version_prints() {
    let out = faxsim(&["--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for needle in ["Exit codes", "rules", "  3  an extension crashed"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let out = faxsim(&["--version"]);
    assert_eq!(
        stdout(&out).trim(),
        format!("faxsim {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(
        faxsim(&["rules", "--format", "yaml"]).status.code(),
        Some(2)
    );
    assert_eq!(faxsim(&["no-such-command"]).status.code(), Some(2));
}

/// `faxsim rules RULE` explains every rule from the guide built into the binary; a typo
/// gets a suggestion and exit 2.
#[test]
fn every_rule_is_explained() {
    for (id, severity) in SPEC_CATALOG {
        let out = faxsim(&["rules", id]);
        assert!(out.status.success(), "{id}");
        let text = stdout(&out);
        assert!(text.starts_with(&format!("### {id}\n")), "{id}: {text}");
        assert!(text.contains(&format!("**{severity}.**")), "{id}: {text}");
        assert!(!text.contains("\n### "), "{id}: one section only: {text}");
    }
    let out = faxsim(&["rules", "buffer-lek"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `buffer-leak`"));
}

/// `explore` takes scenario files, libraries or reports to merge, exactly one kind: its
/// usage error names all three, not `--ext` alone.
#[test]
fn explore_without_a_target_names_every_kind_of_target() {
    let o = faxsim(&["explore"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for what in ["<SCENARIO", "--ext <LIB>", "--merge <FILE>"] {
        assert!(err.contains(what), "{err}");
    }
    let o = faxsim(&["explore", "a.toml", "--ext", "b.so"]);
    assert_eq!(o.status.code(), Some(2));
}
