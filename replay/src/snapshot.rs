//! Snapshot files for people who do not write Rust: a transcript stored in insta's
//! `.snap` format (a YAML header between `---` lines, then the body), so `cargo insta
//! review` and `cargo insta accept` work on them as on any insta snapshot.
//!
//! As insta does: a missing snapshot is written; an existing one is compared, and on a
//! difference the new transcript is written beside it as `.snap.new` (pending review)
//! and the comparison fails. `INSTA_UPDATE` is honoured: `no` writes nothing (CI),
//! `always` overwrites, `new` writes every result as `.snap.new`.

use std::path::{Path, PathBuf};

use crate::Transcript;

/// When snapshots are written (insta's `INSTA_UPDATE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpdateMode {
    /// Write missing snapshots; differences go to `.snap.new` (the default).
    #[default]
    Auto,
    /// Write nothing: a missing or different snapshot fails (CI).
    No,
    /// Overwrite differing snapshots.
    Always,
    /// Write every result to `.snap.new`, for review.
    New,
}

impl UpdateMode {
    /// The mode `INSTA_UPDATE` asks for (`auto` when unset or unknown; `no` under
    /// `CI`, as insta does when `INSTA_UPDATE` is unset).
    pub fn from_env() -> UpdateMode {
        match std::env::var("INSTA_UPDATE").as_deref() {
            Ok("no") => UpdateMode::No,
            Ok("always") => UpdateMode::Always,
            Ok("new") => UpdateMode::New,
            Ok(_) => UpdateMode::Auto,
            Err(_) if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") => {
                UpdateMode::No
            }
            Err(_) => UpdateMode::Auto,
        }
    }
}

/// What happened to one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotResult {
    /// No snapshot existed; this one was written.
    Written(PathBuf),
    /// The stored snapshot matches.
    Matched(PathBuf),
    /// The stored snapshot differs; the new one is pending review in `.snap.new`
    /// (unless `INSTA_UPDATE=no`). The first differing line of each is given.
    Differs {
        /// The stored snapshot.
        path: PathBuf,
        /// The new one, when written.
        pending: Option<PathBuf>,
        /// 1-based line of the body where they part, the stored and the new line there.
        first: (usize, String, String),
    },
    /// No snapshot existed and `INSTA_UPDATE=no` forbids writing one.
    Missing(PathBuf),
    /// `INSTA_UPDATE=always`: the snapshot was overwritten.
    Updated(PathBuf),
}

impl SnapshotResult {
    /// Whether the snapshot holds (written, matched or updated).
    pub fn passed(&self) -> bool {
        matches!(
            self,
            SnapshotResult::Written(_) | SnapshotResult::Matched(_) | SnapshotResult::Updated(_)
        )
    }
}

/// The `.snap` file of snapshot `name` in `dir`: `<dir>/<name>.snap`.
pub fn snapshot_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.snap"))
}

/// The text of a `.snap` file: insta's header (`source`, `expression`) and the body.
pub fn snap_file(source: &str, expression: &str, body: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let mut text = format!(
        "---\nsource: {}\nexpression: {}\n---\n{body}",
        q(source),
        q(expression)
    );
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// The body of a `.snap` file (after its header), newlines normalised as insta does.
pub fn snap_body(text: &str) -> &str {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        && let Some(end) = rest.find("\n---\n").or_else(|| rest.find("\r\n---\r\n"))
    {
        let after = &rest[end + 1..];
        return after
            .strip_prefix("---\n")
            .or_else(|| after.strip_prefix("---\r\n"))
            .unwrap_or(after);
    }
    text
}

fn normalise(s: &str) -> String {
    s.replace("\r\n", "\n").trim_end().to_string()
}

/// Writes or checks the snapshot `name` of `transcript` in `dir` (see the module docs).
/// `source` names what the snapshot is of (the trace file).
pub fn check(
    dir: &Path,
    name: &str,
    source: &str,
    transcript: &Transcript,
    update: UpdateMode,
) -> std::io::Result<SnapshotResult> {
    let path = snapshot_path(dir, name);
    let pending = dir.join(format!("{name}.snap.new"));
    let body = transcript.to_yaml();
    let text = snap_file(source, "faxsim replay", &body);
    let stored = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let write = |p: &Path| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(p, &text)
    };
    let Some(stored) = stored else {
        return Ok(match update {
            UpdateMode::No => SnapshotResult::Missing(path),
            UpdateMode::New => {
                write(&pending)?;
                SnapshotResult::Differs {
                    path,
                    pending: Some(pending),
                    first: (1, String::new(), first_line(&body)),
                }
            }
            _ => {
                write(&path)?;
                SnapshotResult::Written(path)
            }
        });
    };
    let (old, new) = (normalise(snap_body(&stored)), normalise(&body));
    if old == new {
        // A stale pending snapshot of an earlier run is not wanted any more.
        let _ = std::fs::remove_file(&pending);
        return Ok(SnapshotResult::Matched(path));
    }
    if update == UpdateMode::Always {
        write(&path)?;
        let _ = std::fs::remove_file(&pending);
        return Ok(SnapshotResult::Updated(path));
    }
    let first = old
        .lines()
        .map(Some)
        .chain(std::iter::repeat(None))
        .zip(new.lines().map(Some).chain(std::iter::repeat(None)))
        .take_while(|(a, b)| a.is_some() || b.is_some())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| {
            (
                i + 1,
                a.unwrap_or("(end)").to_string(),
                b.unwrap_or("(end)").to_string(),
            )
        })
        .unwrap_or((1, String::new(), String::new()));
    let pending = if update == UpdateMode::No {
        None
    } else {
        write(&pending)?;
        Some(pending)
    };
    Ok(SnapshotResult::Differs {
        path,
        pending,
        first,
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(calls: &[&str]) -> Transcript {
        Transcript {
            extensions: vec![],
            outcome: "reproduced".into(),
            calls: calls.iter().map(|s| s.to_string()).collect(),
            findings: vec![],
        }
    }

    #[test]
    fn written_then_matched_then_pending_on_a_difference() {
        let dir = std::env::temp_dir().join(format!("faxsim-snap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let auto = UpdateMode::Auto;
        let a = transcript(&["service start (run 1)", "x: \"quoted\" ü"]);
        // Under `no`, nothing is written.
        let r = check(&dir, "t", "t.trace", &a, UpdateMode::No).unwrap();
        assert_eq!(r, SnapshotResult::Missing(dir.join("t.snap")));
        assert!(!r.passed() && !dir.join("t.snap").exists());
        let r = check(&dir, "t", "t.trace", &a, auto).unwrap();
        assert_eq!(r, SnapshotResult::Written(dir.join("t.snap")));
        let text = std::fs::read_to_string(dir.join("t.snap")).unwrap();
        assert!(text.starts_with("---\nsource: \"t.trace\"\nexpression: \"faxsim replay\"\n---\n"));
        assert_eq!(snap_body(&text), a.to_yaml());
        assert!(
            check(&dir, "t", "t.trace", &a, UpdateMode::No)
                .unwrap()
                .passed()
        );
        let b = transcript(&["service start (run 1)", "something else"]);
        let SnapshotResult::Differs { pending, first, .. } =
            check(&dir, "t", "t.trace", &b, auto).unwrap()
        else {
            panic!("a difference")
        };
        assert_eq!(pending, Some(dir.join("t.snap.new")));
        assert_eq!(first.0, 5, "extensions, outcome, `calls:`, then the calls");
        assert!(first.1.contains("quoted") && first.2.contains("something else"));
        // Back to the stored one: the pending file goes.
        assert!(check(&dir, "t", "t.trace", &a, auto).unwrap().passed());
        assert!(!dir.join("t.snap.new").exists());
        // `no` reports a difference without writing; `always` overwrites.
        let r = check(&dir, "t", "t.trace", &b, UpdateMode::No).unwrap();
        assert!(matches!(r, SnapshotResult::Differs { pending: None, .. }));
        assert!(!dir.join("t.snap.new").exists());
        let r = check(&dir, "t", "t.trace", &b, UpdateMode::Always).unwrap();
        assert_eq!(r, SnapshotResult::Updated(dir.join("t.snap")));
        assert!(
            check(&dir, "t", "t.trace", &b, UpdateMode::No)
                .unwrap()
                .passed()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
