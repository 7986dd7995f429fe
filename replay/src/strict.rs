//! Strict replay: the recording drives and answers.
//!
//! The driver hands every event the service initiated to [`Service::perform`] in the
//! recorded order; each callback call an extension makes is answered by [`StrictOracle`]
//! with the recorded return, after the nested events the recording shows inside it
//! (the deliveries a SetData made). Every event the replayed run emits is compared with
//! the recording ([`crate::cursor::Comparer`]); the first difference ends the replay.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use faxsim_abi::{E_FAIL, ERROR_GEN_FAILURE};
use faxsim_host::Host;
use faxsim_sim::{Oracle, Refused, Service};
use faxsim_trace::{Crossing, Direction, Event, EventKind, Exports, ExtId, Half};

use crate::ReplayError;
use crate::cursor::{Cursor, MAX_LOOKAHEAD};
use crate::standin::{PlayedBack, StandIn, make_call};

/// Who answers for each extension of the recording.
#[derive(Clone)]
pub(crate) enum Player {
    /// A library under test, hosted through the C ABI.
    Library,
    /// An in-process Rust extension under test.
    InProcess,
    /// The recording itself.
    StandIn(Rc<PlayedBack<StandIn>>),
}

/// The answers of a failed call, by crossing (what the service gives after a divergence).
fn failure(crossing: Crossing) -> EventKind {
    match crossing {
        Crossing::GetData => EventKind::GetDataReturn {
            code: ERROR_GEN_FAILURE,
            buffer: None,
            data: None,
            injected: false,
        },
        Crossing::SetData => EventKind::SetDataReturn {
            code: ERROR_GEN_FAILURE,
            injected: false,
        },
        Crossing::Register => EventKind::RegisterReturn {
            handle: None,
            last_error: ERROR_GEN_FAILURE,
            injected: false,
        },
        Crossing::Unregister => EventKind::UnregisterReturn {
            code: ERROR_GEN_FAILURE,
            injected: false,
        },
        Crossing::ConfigChange => EventKind::ConfigChangeReturn {
            handle: faxsim_trace::HandleId(0),
            hr: E_FAIL,
        },
        _ => EventKind::FreeBufferReturn,
    }
}

/// Answers callback calls from the recording.
pub(crate) struct StrictOracle {
    pub cursor: Rc<RefCell<Cursor>>,
}

impl Oracle for StrictOracle {
    fn answer(&self, svc: &mut Service, ext: ExtId, crossing: Crossing) -> EventKind {
        loop {
            let next = {
                let mut c = self.cursor.borrow_mut();
                if !c.live() {
                    return failure(crossing);
                }
                match c.next_event() {
                    Some(e) => e,
                    None => {
                        if c.damage.is_some() {
                            // A cut recording ends inside this call: the replay stops here.
                            c.closed = true;
                        } else {
                            c.diverge(
                                None,
                                format!(
                                    "the recording ends while {} waits for its answer",
                                    crossing.function()
                                ),
                            );
                        }
                        return failure(crossing);
                    }
                }
            };
            if next.ext == Some(ext) && next.kind.half() == Some(Half::Return(crossing)) {
                return next.kind;
            }
            if !perform(&self.cursor, svc, &next) {
                return failure(crossing);
            }
        }
    }
}

/// Performs one recorded service-side event nested inside a call; false when the replay
/// cannot go on (the cursor says why).
fn perform(cursor: &Rc<RefCell<Cursor>>, svc: &mut Service, next: &Event) -> bool {
    let before = cursor.borrow().matched;
    let r = svc.perform(next);
    let mut c = cursor.borrow_mut();
    match r {
        Ok(()) if c.matched > before || !c.live() => c.live(),
        Ok(()) => {
            c.diverge(None, "the service could not perform it".into());
            false
        }
        Err(Refused::ExtensionSide) => {
            c.diverge(None, not_made(next));
            false
        }
        Err(Refused::NotDriven) => {
            c.diverge(None, not_driven(next));
            false
        }
        Err(e) => {
            c.diverge(None, e.to_string());
            false
        }
    }
}

/// Why the replay stops at an entry point it cannot drive.
fn not_driven(e: &Event) -> String {
    let function = match &e.kind {
        EventKind::EntryPointCall { function } => function.to_string(),
        other => other.name().to_string(),
    };
    format!(
        "the recording shows the service calling {function} here; faxsim records that call but cannot make it (the job side of faxdev.h and routing methods are forwarded, not modelled)"
    )
}

/// Why an extension-side event the recording shows next did not happen.
fn not_made(e: &Event) -> String {
    match e.kind.half() {
        Some(Half::Call(c)) if c.direction() == Direction::ToService => format!(
            "the recording shows the extension calling {} here; the replayed extension did not",
            c.function()
        ),
        Some(Half::Return(c)) => format!(
            "the recording shows {} returning here; in the replay it had not been called or had already returned",
            c.function()
        ),
        _ => format!(
            "the recording shows {} here; the replayed run did not produce it",
            e.kind.name()
        ),
    }
}

/// Drives the replayed run from the recording until it ends or diverges.
pub(crate) struct Driver<'a> {
    pub cursor: Rc<RefCell<Cursor>>,
    pub players: &'a BTreeMap<ExtId, Player>,
    pub host: Option<&'a Host>,
    /// How long to wait for a call the recording shows an extension's own thread making.
    pub thread_wait: Duration,
}

impl Driver<'_> {
    /// Replays until the recording ends or the replay diverges. An error is a recording
    /// that does not fit the extensions (an event naming one the trace does not declare,
    /// a build with other entry points than the recorded one).
    pub fn run(&self, svc: &mut Service) -> Result<(), ReplayError> {
        loop {
            let next = {
                let mut c = self.cursor.borrow_mut();
                if !c.live() {
                    return Ok(());
                }
                match c.next_event() {
                    Some(e) => e,
                    None => return Ok(()),
                }
            };
            let before = self.cursor.borrow().matched;
            self.before(svc, &next);
            // A call into an extension recorded on another service thread comes from that
            // thread (the host's service threads), as the library saw it.
            let into_extension = matches!(
                next.kind.half(),
                Some(Half::Call(c)) if c.direction() == Direction::ToExtension
            );
            let performed = match self.host {
                Some(host) if into_extension && next.thread != 0 => {
                    host.on_service_thread(next.thread, || svc.perform(&next))
                }
                _ => svc.perform(&next),
            };
            match performed {
                Ok(()) => self.after(svc, &next)?,
                Err(Refused::ExtensionSide) => self.extension_side(svc, &next),
                Err(Refused::NotDriven) => {
                    self.cursor.borrow_mut().diverge(None, not_driven(&next))
                }
                Err(e) => {
                    return Err(ReplayError::Misfit(format!(
                        "event {} ({}): {e}",
                        next.seq,
                        next.kind.name()
                    )));
                }
            }
            let mut c = self.cursor.borrow_mut();
            if c.live() && c.matched == before {
                c.diverge(None, "the replay could not reproduce it".into());
            }
        }
    }

    fn before(&self, svc: &mut Service, next: &Event) {
        if let (EventKind::Load { exports, .. }, Some(ext)) = (&next.kind, next.ext) {
            match self.players.get(&ext) {
                Some(Player::StandIn(s)) => s.0.exports.set(*exports),
                Some(Player::Library) => {
                    if let Some(host) = self.host
                        && let Err(e) = host.reload(svc)
                    {
                        self.cursor
                            .borrow_mut()
                            .diverge(None, format!("the library could not be loaded again: {e}"));
                    }
                }
                _ => {}
            }
        }
    }

    fn after(&self, svc: &mut Service, next: &Event) -> Result<(), ReplayError> {
        if matches!(next.kind, EventKind::ServiceStopped)
            && let Some(host) = self.host
        {
            // The libraries the service unloaded are closed for real once it has stopped
            // (as the validate battery and scenarios do), so code that runs at close (a
            // destructor, DllMain) calls back at the recorded point, and the next load
            // starts with fresh globals.
            host.close_unloaded(svc);
        }
        // A build that exports other entry points than the recorded one does not fit the
        // recording (the service would treat it differently from the start).
        let c = self.cursor.borrow();
        if let (
            EventKind::Load {
                exports: recorded, ..
            },
            Some(d),
        ) = (&next.kind, &c.divergence)
            && let Some(Event {
                kind: EventKind::Load {
                    exports: actual, ..
                },
                ..
            }) = &d.actual
            && d.index == next.seq
        {
            return Err(ReplayError::Misfit(format!(
                "the build of extension #{} exports {} but the recorded one exported {}",
                next.ext.map_or(0, |x| x.0),
                exports_phrase(actual),
                exports_phrase(recorded)
            )));
        }
        Ok(())
    }

    /// The recording shows the extension acting on its own next (a call from one of its
    /// threads, or from a driver acting for it), or damage the service found in its
    /// buffers.
    fn extension_side(&self, svc: &mut Service, next: &Event) {
        if let Some(mut unload) = self.unload_reporting(next) {
            // The unload's guard checks report the damage, then the unload itself: its
            // events start where the damage does.
            unload.seq = next.seq;
            self.before(svc, &unload);
            if svc.perform(&unload).is_ok() {
                let _ = self.after(svc, &unload);
            }
            return;
        }
        let call = matches!(
            next.kind.half(),
            Some(Half::Call(c)) if c.direction() == Direction::ToService
        );
        let (Some(ext), true) = (next.ext, call) else {
            self.cursor.borrow_mut().diverge(None, not_made(next));
            return;
        };
        match self.players.get(&ext) {
            Some(Player::StandIn(_)) => {
                svc.set_clock(next.seq, next.time);
                make_call(&self.cursor, &mut svc.callbacks(ext, next.thread), next);
            }
            Some(Player::Library) => self.wait_for_thread(svc, next),
            _ => self.cursor.borrow_mut().diverge(
                None,
                format!(
                    "the recording shows the extension calling {} on its own (thread {}); an in-process extension has no threads of its own to make it",
                    next.kind.half().map_or("", |h| h.crossing().function()),
                    next.thread
                ),
            ),
        }
    }

    /// The unload whose guard checks report `next`, when `next` is damage found in an
    /// extension's buffers and only more such damage stands between it and the unload.
    fn unload_reporting(&self, next: &Event) -> Option<Event> {
        let (EventKind::BufferDamaged { .. }, Some(x)) = (&next.kind, next.ext) else {
            return None;
        };
        let mut c = self.cursor.borrow_mut();
        for n in 1..MAX_LOOKAHEAD {
            match c.peek_nth(n) {
                Some(e)
                    if e.ext == Some(x) && matches!(e.kind, EventKind::BufferDamaged { .. }) => {}
                Some(e) if e.ext == Some(x) && matches!(e.kind, EventKind::Unload) => {
                    return Some(e.clone());
                }
                _ => return None,
            }
        }
        None
    }

    /// Gives the library's own threads scheduling points until the recorded call comes
    /// (or something else does, which the comparison judges), or the wait runs out.
    fn wait_for_thread(&self, svc: &mut Service, next: &Event) {
        let Some(host) = self.host else { return };
        let before = self.cursor.borrow().matched;
        svc.set_clock(next.seq, next.time);
        let deadline = Instant::now() + self.thread_wait;
        loop {
            host.pump(svc, Duration::from_millis(20));
            let c = self.cursor.borrow();
            if c.matched > before || !c.live() {
                return;
            }
            drop(c);
            if Instant::now() >= deadline {
                break;
            }
        }
        self.cursor.borrow_mut().diverge(
            None,
            format!(
                "the recording shows thread {} of the extension calling {} here; no thread of the replayed extension called within {} ms",
                next.thread,
                next.kind.half().map_or("", |h| h.crossing().function()),
                self.thread_wait.as_millis()
            ),
        );
    }
}

/// The optional entry points in words.
fn exports_phrase(e: &Exports) -> String {
    let mut names = Vec::new();
    if e.initialize_config {
        names.push("FaxExtInitializeConfig");
    }
    if e.dev_shutdown {
        names.push("FaxDevShutdown");
    }
    if e.route_device_change {
        names.push("FaxRouteDeviceChangeNotification");
    }
    if names.is_empty() {
        "none of the optional entry points".into()
    } else {
        names.join(", ")
    }
}

/// The small ids of the threads a recording shows the service calling extensions from,
/// other than its main one (0): calls into an extension made outside any other call on
/// that thread.
pub(crate) fn service_threads(events: impl Iterator<Item = Event>) -> Vec<u16> {
    let mut open: BTreeMap<u16, usize> = BTreeMap::new();
    let mut found = std::collections::BTreeSet::new();
    for e in events {
        let depth = open.entry(e.thread).or_default();
        match e.kind.half() {
            Some(Half::Call(c)) => {
                if *depth == 0 && c.direction() == Direction::ToExtension && e.thread != 0 {
                    found.insert(e.thread);
                }
                *depth += 1;
            }
            Some(Half::Return(_)) => *depth = depth.saturating_sub(1),
            None => {}
        }
    }
    found.into_iter().collect()
}
