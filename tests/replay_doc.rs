//! Every command of `docs/replay.md` runs, in order, in one folder, so the bug-report
//! workflow the guide shows cannot rot. The guide's names are made real: its extension
//! `libmy_routing.so` is the careful routing fixture, its changed build
//! `build/libmy_routing.so` one that leaks, its `customer.trace` what the guide's first
//! command records. A command may find something (exit 1: the changed build diverges),
//! never fail (exit 2 or 3).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[path = "support/cfixtures.rs"]
mod cfixtures;

use cfixtures::lib_file;

fn fixtures() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| cfixtures::build_all("replay-doc-fixtures"))
        .as_deref()
}

/// The `faxsim …` lines of the guide's `sh` blocks, in order.
fn commands() -> Vec<(usize, String)> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/replay.md"))
        .expect("the guide is readable");
    let mut out = Vec::new();
    let mut in_sh = false;
    for (i, line) in doc.lines().enumerate() {
        let t = line.trim();
        if t == "```sh" {
            in_sh = true;
        } else if t.starts_with("```") {
            in_sh = false;
        } else if in_sh && t.starts_with("faxsim ") {
            out.push((i + 1, t.to_string()));
        }
    }
    out
}

#[test]
fn every_command_of_the_replay_guide_runs() {
    let Some(fixtures) = fixtures() else {
        return;
    };
    let commands = commands();
    assert!(commands.len() >= 9, "the guide's commands: {commands:?}");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-doc");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("build")).unwrap();
    let lib = lib_file("my_routing");
    std::fs::copy(fixtures.join(lib_file("careful_routing")), dir.join(&lib)).unwrap();
    std::fs::copy(
        fixtures.join(lib_file("buggy_buffer_leak")),
        dir.join("build").join(&lib),
    )
    .unwrap();
    for (line, command) in commands {
        let command = command.replace("libmy_routing.so", &lib);
        let (command, redirect) = match command.split_once(" > ") {
            Some((c, file)) => (c.to_string(), Some(file.trim().to_string())),
            None => (command, None),
        };
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
            .args(&args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("INSTA_UPDATE", "auto")
            .output()
            .expect("faxsim runs");
        let code = o.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "docs/replay.md:{line}: `{command}` exited {code:?}\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        if let Some(file) = redirect {
            std::fs::write(dir.join(file), &o.stdout).unwrap();
        }
        // What the guide says each step shows.
        let out = String::from_utf8_lossy(&o.stdout);
        if command.starts_with("faxsim replay customer.trace --ext ./build/") && args.len() == 4 {
            assert!(out.contains("DIVERGED"), "docs/replay.md:{line}: {out}");
        }
        if command == format!("faxsim replay customer.trace --ext ./{lib}") {
            assert!(
                out.contains("determinism check passed"),
                "docs/replay.md:{line}: {out}"
            );
        }
    }
    assert!(dir.join("customer.mmd").exists());
    assert!(dir.join("snapshots/customer.snap").exists());
}
