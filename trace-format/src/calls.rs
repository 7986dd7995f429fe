//! The calls from the service into extensions that have not returned yet, followed as
//! events go past: what a crash or a hang interrupted.

use crate::{Direction, Event, ExtId, Half};

/// One call into an extension that has not returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCall {
    /// The extension called.
    pub ext: Option<ExtId>,
    /// The index of the call event.
    pub seq: u64,
    /// The function's name (`FaxExtConfigChange`, `FaxRouteDeviceEnable`, or the name a
    /// job or routing-method entry point was recorded under).
    pub function: String,
}

impl OpenCall {
    /// `inside FaxExtConfigChange, called at event 52`.
    pub fn describe(&self) -> String {
        format!("inside {}, called at event {}", self.function, self.seq)
    }
}

/// The stack of calls into extensions still open.
#[derive(Clone, Debug, Default)]
pub struct OpenCalls {
    open: Vec<OpenCall>,
}

impl OpenCalls {
    /// The calls still open at the end of `events`.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Event>) -> OpenCalls {
        let mut c = OpenCalls::default();
        for e in events {
            c.observe(e);
        }
        c
    }

    /// Follows one more event.
    pub fn observe(&mut self, e: &Event) {
        match e.kind.half() {
            Some(Half::Call(c)) if c.direction() == Direction::ToExtension => {
                let function = e.kind.function().unwrap_or(c.function()).to_string();
                self.open.push(OpenCall {
                    ext: e.ext,
                    seq: e.seq,
                    function,
                });
            }
            Some(Half::Return(c)) if c.direction() == Direction::ToExtension => {
                self.open.pop();
            }
            _ => {}
        }
    }

    /// The innermost call still open.
    pub fn innermost(&self) -> Option<&OpenCall> {
        self.open.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    fn ev(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            time: 0,
            thread: 0,
            ext: Some(ExtId(0)),
            kind,
        }
    }

    #[test]
    fn the_innermost_unreturned_call_is_named() {
        let events = [
            ev(0, EventKind::InitializeConfigCall),
            ev(1, EventKind::InitializeConfigReturn { hr: 0 }),
            ev(2, EventKind::RouteInitializeCall),
            ev(
                3,
                EventKind::EntryPointCall {
                    function: "FaxRouteMethod".into(),
                },
            ),
        ];
        let open = OpenCalls::of(&events);
        let call = open.innermost().unwrap();
        assert_eq!(call.seq, 3);
        assert_eq!(call.describe(), "inside FaxRouteMethod, called at event 3");
        let open = OpenCalls::of(&events[..2]);
        assert!(open.innermost().is_none());
    }
}
