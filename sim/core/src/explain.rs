//! Findings in context, for reports: what a finding's message can add from the events
//! around it (the call a crash interrupted, the injected failure that opened an error
//! path), and where a finding belongs (its origin event and the entry point the
//! extension was in there), which an exploration deduplicates failures by.

use faxsim_trace::{Event, OpenCall, OpenCalls};

use crate::{Finding, Rule, Side};

/// The findings of a run a crash or hang cut short (a worker's events up to there,
/// ending with its `extension-crashed` or `extension-hung` event), checked with the
/// default configuration and `names`, the crash or hang naming the call it interrupted.
pub fn check_cut_run(events: &[Event], names: Vec<String>) -> Vec<Finding> {
    let config = crate::CheckerConfig {
        names,
        ..crate::CheckerConfig::default()
    };
    let mut findings = crate::check_events(events, config);
    name_interrupted_call(&mut findings, &OpenCalls::of(events));
    findings
}

/// Where a finding starts: the earliest event its message names that comes before it
/// (the GetData of a leaked buffer, say), else its own event.
pub fn origin(f: &Finding) -> u64 {
    first_event_named(&f.message)
        .filter(|&o| o < f.event)
        .unwrap_or(f.event)
}

/// The innermost call from the service into an extension open at event `at` (that event
/// included: a finding that starts at a call into the extension belongs to that call):
/// the entry point a finding whose origin is `at` belongs to.
pub fn entry_point_at(events: &[Event], at: u64) -> Option<OpenCall> {
    let end = events.partition_point(|e| e.seq <= at);
    OpenCalls::of(&events[..end]).innermost().cloned()
}

/// Adds the call a crash or hang interrupted to the `extension-crashed` and
/// `extension-hung` findings ("… (inside FaxExtConfigChange, called at event 52)").
pub fn name_interrupted_call(findings: &mut [Finding], open: &faxsim_trace::OpenCalls) {
    let Some(call) = open.innermost() else {
        return;
    };
    for f in findings {
        if matches!(f.rule, Rule::ExtensionHung | Rule::ExtensionCrashed) {
            f.message = format!("{} ({})", f.message, call.describe());
        }
    }
}

/// Adds the injected failure that opened the path to an extension's finding: when,
/// inside the same call from the service into that extension as the finding's origin
/// (the earliest event its message names, such as the GetData of a leaked buffer, else
/// the finding's own event), an earlier callback of it returned a failure the fault plan
/// injected, the message ends with "(after its SetData at event 48 returned an injected
/// ERROR_INVALID_PARAMETER)". That is the error path a careful extension must handle,
/// and the one a reader would otherwise not suspect.
pub fn name_injected_causes(findings: &mut [Finding], events: &[faxsim_trace::Event]) {
    use faxsim_trace::{Direction, EventKind, Half};
    if !events.iter().any(|e| injected(&e.kind).is_some()) {
        return;
    }
    // The outermost call from the service into each extension enclosing each event:
    // (ext, first event, last event), per thread.
    let mut calls: Vec<(faxsim_trace::ExtId, u64, u64)> = Vec::new();
    let mut open: std::collections::HashMap<u16, (usize, u64, faxsim_trace::ExtId)> =
        std::collections::HashMap::new();
    for e in events {
        match e.kind.half() {
            Some(Half::Call(c)) if c.direction() == Direction::ToExtension => {
                if let Some(x) = e.ext {
                    open.entry(e.thread).or_insert((0, e.seq, x)).0 += 1;
                }
            }
            Some(Half::Return(c)) if c.direction() == Direction::ToExtension => {
                if let Some(o) = open.get_mut(&e.thread) {
                    o.0 -= 1;
                    if o.0 == 0 {
                        calls.push((o.2, o.1, e.seq));
                        open.remove(&e.thread);
                    }
                }
            }
            _ => {}
        }
    }
    for (_, (_, start, x)) in open {
        calls.push((x, start, u64::MAX));
    }
    for f in findings {
        let Some(ext) = f.ext else { continue };
        if f.rule.side() != Side::Extension {
            continue;
        }
        let origin = origin(f);
        let Some(&(_, start, end)) = calls
            .iter()
            .find(|(x, s, e)| *x == ext && *s <= origin && origin <= *e)
        else {
            continue;
        };
        let cause = events
            .iter()
            .filter(|e| e.ext == Some(ext) && e.seq > start && e.seq < f.event.min(end))
            .filter_map(|e| injected(&e.kind).map(|(cb, code)| (e.seq, cb, code)))
            .next_back();
        if let Some((seq, callback, code)) = cause {
            f.message = format!(
                "{} (after its {callback} at event {seq} returned an injected {})",
                f.message,
                faxsim_trace::text::win32_name(code)
            );
        }
    }

    fn injected(kind: &EventKind) -> Option<(&'static str, u32)> {
        match *kind {
            EventKind::GetDataReturn {
                code,
                injected: true,
                ..
            } => Some(("GetData", code)),
            EventKind::SetDataReturn {
                code,
                injected: true,
            } => Some(("SetData", code)),
            EventKind::RegisterReturn {
                last_error,
                injected: true,
                ..
            } => Some(("RegisterForEvents", last_error)),
            EventKind::UnregisterReturn {
                code,
                injected: true,
            } => Some(("UnregisterForEvents", code)),
            _ => None,
        }
    }
}

/// The smallest `event N` a message names.
pub fn first_event_named(message: &str) -> Option<u64> {
    message
        .match_indices("event ")
        .filter_map(|(i, m)| {
            let digits: String = message[i + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .min()
}
