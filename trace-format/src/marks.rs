//! What a rendering is asked to point out and which part of a trace it shows: findings as
//! plain data ([`Mark`], [`Marks`]), and a [`Window`] of events.
//!
//! The checker lives in the simulator crate, which depends on this one; so a command that
//! renders a trace runs the checker itself and hands its findings over as marks (event
//! index, rule id, severity, message). The renderers know nothing of rules.

use crate::event::{Event, ExtId};

/// How serious a mark is (the checker's severities).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MarkLevel {
    /// Breaks a documented rule.
    Error,
    /// Legal, but almost certainly a bug, or it relies on a modelling choice.
    Warning,
}

impl MarkLevel {
    /// `error` or `warning`.
    pub fn name(self) -> &'static str {
        match self {
            MarkLevel::Error => "error",
            MarkLevel::Warning => "warning",
        }
    }
}

/// One finding, to be shown at the event where it was detected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The index of the event it is shown at.
    pub event: u64,
    /// The extension it concerns, if one.
    pub ext: Option<ExtId>,
    /// Its severity.
    pub level: MarkLevel,
    /// The rule id (`buffer-leak`).
    pub rule: String,
    /// The checker's message.
    pub message: String,
}

impl Mark {
    /// The message made short for a diagram: `at event 53` and `event 53` become `[53]`
    /// (the diagram's spelling of event indexes), and braced GUIDs keep their first
    /// group (`{0A9D7B3A…}`).
    pub fn compact_message(&self) -> String {
        compact(&self.message)
    }
}

/// See [`Mark::compact_message`].
fn compact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while !rest.is_empty() {
        if let Some(n) = event_ref(rest, "at event ").or_else(|| event_ref(rest, "event ")) {
            let (prefix, digits) = n;
            out.push('[');
            out.push_str(digits);
            out.push(']');
            rest = &rest[prefix + digits.len()..];
            continue;
        }
        if rest.starts_with('{')
            && rest.len() >= 38
            && rest.is_char_boundary(38)
            && is_braced_guid(&rest[..38])
        {
            out.push_str(&rest[..9]);
            out.push_str("…}");
            rest = &rest[38..];
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// `(length of the prefix, the digits)` when `s` starts with `prefix` and digits.
fn event_ref<'a>(s: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let tail = s.strip_prefix(prefix)?;
    let n = tail.bytes().take_while(u8::is_ascii_digit).count();
    (n > 0).then(|| (prefix.len(), &tail[..n]))
}

fn is_braced_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 38
        && b[0] == b'{'
        && b[37] == b'}'
        && b[1..37].iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Findings by event index.
#[derive(Clone, Debug, Default)]
pub struct Marks {
    /// Sorted by event (stable: marks of one event keep their order).
    marks: Vec<Mark>,
}

impl Marks {
    /// Marks from findings in any order.
    pub fn new(mut marks: Vec<Mark>) -> Marks {
        marks.sort_by_key(|m| m.event);
        Marks { marks }
    }

    /// The marks shown at event `seq`.
    pub fn at(&self, seq: u64) -> &[Mark] {
        let start = self.marks.partition_point(|m| m.event < seq);
        let end = self.marks.partition_point(|m| m.event <= seq);
        &self.marks[start..end]
    }

    /// Every mark, by event.
    pub fn iter(&self) -> impl Iterator<Item = &Mark> {
        self.marks.iter()
    }

    /// How many marks there are.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// No marks at all.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// The marks a window shows: in its range, and about its extension (or none).
    pub fn within(&self, w: &Window) -> Marks {
        Marks {
            marks: self
                .marks
                .iter()
                .filter(|m| {
                    w.in_range(m.event)
                        && (w.ext.is_none() || m.ext.is_none_or(|x| Some(x) == w.ext))
                })
                .cloned()
                .collect(),
        }
    }
}

/// The part of a trace a rendering shows: events `from..=to`, and with `ext`, only that
/// extension's events and those of no extension (service start and stop, devices,
/// external writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first event index shown.
    pub from: u64,
    /// The last event index shown.
    pub to: u64,
    /// Only this extension's events (and service-wide ones).
    pub ext: Option<ExtId>,
}

impl Default for Window {
    fn default() -> Self {
        Window::all()
    }
}

impl Window {
    /// Every event.
    pub fn all() -> Window {
        Window {
            from: 0,
            to: u64::MAX,
            ext: None,
        }
    }

    /// `context` events either side of `event`.
    pub fn around(event: u64, context: u64) -> Window {
        Window {
            from: event.saturating_sub(context),
            to: event.saturating_add(context),
            ext: None,
        }
    }

    /// Whether event index `seq` is in the range.
    pub fn in_range(&self, seq: u64) -> bool {
        self.from <= seq && seq <= self.to
    }

    /// Whether the extension filter lets `e` through (whatever its index).
    pub fn admits_ext(&self, e: &Event) -> bool {
        self.ext.is_none() || e.ext.is_none() || e.ext == self.ext
    }

    /// Whether `e` is shown.
    pub fn admits(&self, e: &Event) -> bool {
        self.in_range(e.seq) && self.admits_ext(e)
    }

    /// Shows every event.
    pub fn is_all(&self) -> bool {
        *self == Window::all()
    }

    /// `events [45]–[85]`, `events from [45]`, `events up to [85]`, plus `of NAME`.
    pub fn describe(&self, names: &[String]) -> String {
        let range = match (self.from, self.to) {
            (0, u64::MAX) => "every event".to_string(),
            (f, u64::MAX) => format!("events from [{f}]"),
            (0, t) => format!("events up to [{t}]"),
            (f, t) => format!("events [{f}]–[{t}]"),
        };
        match self.ext {
            None => range,
            Some(x) => format!(
                "{range} of {} (and the service's own)",
                names
                    .get(x.index())
                    .cloned()
                    .unwrap_or_else(|| format!("ext#{}", x.0))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_compacted_for_diagrams() {
        let m = Mark {
            event: 65,
            ext: None,
            level: MarkLevel::Error,
            rule: "buffer-leak".into(),
            message: "buffer #1 from GetData at event 53 (device 0, \
                      {0A9D7B3A-A35E-4cc6-B73C-1F635136057B}) was never freed; see event 7"
                .into(),
        };
        assert_eq!(
            m.compact_message(),
            "buffer #1 from GetData [53] (device 0, {0A9D7B3A…}) was never freed; see [7]"
        );
        // Nothing to compact, or almost: text is kept as is.
        assert_eq!(
            compact("event  x {not-a-guid} é"),
            "event  x {not-a-guid} é"
        );
    }

    #[test]
    fn marks_are_found_by_event_and_window() {
        let mark = |event, ext| Mark {
            event,
            ext,
            level: MarkLevel::Warning,
            rule: "r".into(),
            message: String::new(),
        };
        let marks = Marks::new(vec![
            mark(9, None),
            mark(3, Some(ExtId(1))),
            mark(9, Some(ExtId(0))),
        ]);
        assert_eq!(marks.at(9).len(), 2);
        assert_eq!(marks.at(3).len(), 1);
        assert!(marks.at(4).is_empty());
        let w = Window {
            from: 0,
            to: 100,
            ext: Some(ExtId(0)),
        };
        assert_eq!(marks.within(&w).len(), 2);
        assert_eq!(Window::around(3, 10).from, 0);
        assert_eq!(Window::around(u64::MAX, 10).to, u64::MAX);
    }
}
