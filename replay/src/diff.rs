//! The difference between two runs of the same recorded session, as people read it: per
//! extension, per configuration key (device and GUID), the calls each run made (call and
//! result on one line, in the transcript's words), aligned with a line diff, so a change
//! in what an extension does with one key does not smear over everything after it.

use std::collections::BTreeMap;

use faxsim_trace::{BufferArg, Event, EventKind, ExtId, Half, HandleArg};
use serde::{Deserialize, Serialize};
use similar::{Algorithm, DiffOp, capture_diff_slices};

use crate::transcript::{call_text, observation, return_text};

/// Lines of context around each change.
const CONTEXT: usize = 2;

/// One line of a group's diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// `-` only in the first run, `+` only in the second, ` ` in both.
    pub tag: char,
    /// The call (and its result), in the transcript's words.
    pub text: String,
}

/// The differences of one extension with one key (or its calls without a key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDiff {
    /// The extension.
    pub extension: String,
    /// `device N, {GUID}`, or `None` for calls that name no key (the lifecycle).
    pub key: Option<String>,
    /// The changed lines with a little context; `...` lines mark skipped equal ones.
    pub lines: Vec<DiffLine>,
}

/// Every difference between two runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehaviourDiff {
    /// The groups that differ, by extension, then key.
    pub groups: Vec<GroupDiff>,
}

impl BehaviourDiff {
    /// Whether the two runs behaved the same.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// How many lines differ.
    pub fn changes(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|g| &g.lines)
            .filter(|l| l.tag != ' ')
            .count()
    }

    /// The diff for people: a heading per group, then `-`/`+`/` ` lines.
    pub fn render(&self, first: &str, second: &str) -> String {
        let mut s = format!("--- {first}\n+++ {second}\n");
        for g in &self.groups {
            s.push_str(&format!(
                "@@ {}{} @@\n",
                g.extension,
                g.key.as_ref().map_or(String::new(), |k| format!(", {k}"))
            ));
            for l in &g.lines {
                s.push(l.tag);
                s.push(' ');
                s.push_str(&l.text);
                s.push('\n');
            }
        }
        s
    }
}

/// The key a call names, normalised (GUIDs compare by value).
fn key_of(kind: &EventKind) -> Option<String> {
    use EventKind as K;
    let (device, guid) = match kind {
        K::GetDataCall { device, guid, .. }
        | K::SetDataCall { device, guid, .. }
        | K::RegisterCall { device, guid, .. }
        | K::RouteDeviceEnableCall { device, guid, .. }
        | K::RouteGetRoutingInfoCall { device, guid, .. }
        | K::RouteSetRoutingInfoCall { device, guid, .. } => (*device, guid.as_deref()?),
        K::ConfigChangeCall { device, guid, .. } => (*device, &**guid),
        _ => return None,
    };
    Some(format!("device {device}, {}", guid.to_ascii_uppercase()))
}

/// Replaces every `{prefix}N` in `line` by `{prefix}K`, K numbering the distinct N in
/// first-seen order (`map` keeps the numbering across lines).
fn renumber(line: &str, prefix: &str, map: &mut BTreeMap<u64, usize>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at + prefix.len()]);
        rest = &rest[at + prefix.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<u64>() {
            Ok(n) => {
                let next = map.len() + 1;
                out.push_str(&map.entry(n).or_insert(next).to_string());
            }
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// What extension `x` did in `events`: one line per call (with its result) or
/// observation, grouped by the key it names. Handles and buffers are numbered per
/// extension (its first handle is `handle#1`), so another extension's registrations do
/// not show up as changes in this one's lines.
fn behaviour(
    events: &[Event],
    names: &[String],
    x: ExtId,
) -> BTreeMap<Option<String>, Vec<String>> {
    let mut handles = BTreeMap::new();
    let mut buffers = BTreeMap::new();
    // Whether the service's failure was planned is the service's business, not the
    // extension's behaviour (a recording proxy cannot tell, a model replay injects).
    let mut own = |line: String| {
        let line = renumber(&line, "handle#", &mut handles).replace(" (injected)", "");
        renumber(&line, "buffer#", &mut buffers)
    };
    let mut groups: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    // The key of each buffer and handle, so freeing and unregistering group with it.
    let mut buffer_keys: BTreeMap<u32, String> = BTreeMap::new();
    let mut handle_keys: BTreeMap<u32, String> = BTreeMap::new();
    // Open calls per thread: (crossing, key, line).
    let mut open: BTreeMap<u16, Vec<(faxsim_trace::Crossing, Option<String>, String)>> =
        BTreeMap::new();
    for e in events.iter().filter(|e| e.ext == Some(x)) {
        let stack = open.entry(e.thread).or_default();
        match e.kind.half() {
            Some(Half::Call(c)) => {
                let key = key_of(&e.kind).or_else(|| match &e.kind {
                    EventKind::FreeBufferCall {
                        buffer: BufferArg::Buffer(b),
                    } => buffer_keys.get(&b.0).cloned(),
                    EventKind::UnregisterCall {
                        handle: HandleArg::Handle(h),
                    } => handle_keys.get(&h.0).cloned(),
                    _ => None,
                });
                stack.push((c, key, call_text(e, names)));
            }
            Some(Half::Return(c)) => {
                if let Some(pos) = stack.iter().rposition(|(sc, ..)| *sc == c) {
                    let (_, key, line) = stack.remove(pos);
                    stack.truncate(pos);
                    match (&e.kind, &key) {
                        (
                            EventKind::GetDataReturn {
                                buffer: Some(b), ..
                            },
                            Some(k),
                        ) => {
                            buffer_keys.insert(b.0, k.clone());
                        }
                        (
                            EventKind::RegisterReturn {
                                handle: Some(h), ..
                            },
                            Some(k),
                        ) => {
                            handle_keys.insert(h.0, k.clone());
                        }
                        _ => {}
                    }
                    groups
                        .entry(key)
                        .or_default()
                        .push(own(format!("{line} = {}", return_text(&e.kind))));
                }
            }
            None => groups
                .entry(None)
                .or_default()
                .push(own(observation(e, names))),
        }
    }
    for stack in open.into_values() {
        for (_, key, line) in stack {
            groups
                .entry(key)
                .or_default()
                .push(own(format!("{line} … (never returned)")));
        }
    }
    groups
}

/// The per-extension, per-key difference of run `a` and run `b` (same extension table).
pub fn diff_runs(names: &[String], a: &[Event], b: &[Event]) -> BehaviourDiff {
    let mut out = BehaviourDiff::default();
    if a == b {
        // The common case, and the cheap one: nothing to render.
        return out;
    }
    for (i, name) in names.iter().enumerate() {
        let x = ExtId(i as u16);
        // An extension whose own events are the same (what it was asked and what it did,
        // whatever their numbering in the run) has nothing to show.
        let own_a = a.iter().filter(|e| e.ext == Some(x)).map(|e| &e.kind);
        let own_b = b.iter().filter(|e| e.ext == Some(x)).map(|e| &e.kind);
        if own_a.eq(own_b) {
            continue;
        }
        let (ga, gb) = (behaviour(a, names, x), behaviour(b, names, x));
        let keys: std::collections::BTreeSet<&Option<String>> =
            ga.keys().chain(gb.keys()).collect();
        for key in keys {
            let empty = Vec::new();
            let la = ga.get(key).unwrap_or(&empty);
            let lb = gb.get(key).unwrap_or(&empty);
            if la == lb {
                continue;
            }
            out.groups.push(GroupDiff {
                extension: name.clone(),
                key: key.clone(),
                lines: hunks(la, lb),
            });
        }
    }
    out
}

/// A line diff of `a` and `b` with [`CONTEXT`] equal lines around each change.
fn hunks(a: &[String], b: &[String]) -> Vec<DiffLine> {
    let ops = capture_diff_slices(Algorithm::Myers, a, b);
    let mut lines = Vec::new();
    let n = ops.len();
    for (k, op) in ops.iter().enumerate() {
        match *op {
            DiffOp::Equal { old_index, len, .. } => {
                let first = k == 0;
                let last = k + 1 == n;
                let equal = &a[old_index..old_index + len];
                if (first || last || len > 2 * CONTEXT) && len > CONTEXT {
                    // Keep the context next to the changes only.
                    let head = if first { 0 } else { CONTEXT.min(len) };
                    let tail = if last { 0 } else { CONTEXT.min(len) };
                    for t in &equal[..head] {
                        lines.push(DiffLine {
                            tag: ' ',
                            text: t.clone(),
                        });
                    }
                    if len > head + tail {
                        lines.push(DiffLine {
                            tag: ' ',
                            text: format!("... ({} equal)", len - head - tail),
                        });
                    }
                    for t in &equal[len - tail..] {
                        lines.push(DiffLine {
                            tag: ' ',
                            text: t.clone(),
                        });
                    }
                } else {
                    for t in equal {
                        lines.push(DiffLine {
                            tag: ' ',
                            text: t.clone(),
                        });
                    }
                }
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => {
                for t in &a[old_index..old_index + old_len] {
                    lines.push(DiffLine {
                        tag: '-',
                        text: t.clone(),
                    });
                }
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for t in &b[new_index..new_index + new_len] {
                    lines.push(DiffLine {
                        tag: '+',
                        text: t.clone(),
                    });
                }
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                for t in &a[old_index..old_index + old_len] {
                    lines.push(DiffLine {
                        tag: '-',
                        text: t.clone(),
                    });
                }
                for t in &b[new_index..new_index + new_len] {
                    lines.push(DiffLine {
                        tag: '+',
                        text: t.clone(),
                    });
                }
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn handles_are_numbered_per_extension() {
        let mut m = BTreeMap::new();
        assert_eq!(
            renumber("a handle#7 b handle#9", "handle#", &mut m),
            "a handle#1 b handle#2"
        );
        assert_eq!(
            renumber("handle#9, handle#", "handle#", &mut m),
            "handle#2, handle#"
        );
    }

    #[test]
    fn hunks_keep_context_and_elide_long_equal_runs() {
        let a = v(&["1", "2", "3", "4", "5", "6", "7", "8", "x", "9"]);
        let b = v(&["1", "2", "3", "4", "5", "6", "7", "8", "y", "9"]);
        let h = hunks(&a, &b);
        let text: Vec<String> = h.iter().map(|l| format!("{}{}", l.tag, l.text)).collect();
        assert_eq!(
            text,
            [" ... (6 equal)", " 7", " 8", "-x", "+y", " 9"],
            "{text:?}"
        );
    }
}
