//! The recorded stream as a replay walks it: the next recorded event not yet reproduced
//! (and a bounded look further ahead), the comparison of every event the replayed run emits with
//! it, and the context a divergence report shows.
//!
//! The recording is read as a stream, so a replay holds a handful of events whatever the
//! trace's length.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use faxsim_trace::{Event, EventKind, EventSink, TraceError};

use crate::Divergence;

/// How many reproduced events a divergence report shows before the divergence.
pub const CONTEXT: usize = 8;

/// How far a replay reads ahead of the head to find the event that makes the head
/// happen (the unload that reports damage found in its buffers). Bounds the memory a
/// hostile trace can make a replay hold.
pub const MAX_LOOKAHEAD: usize = 1 << 16;

/// Where a recorded stream comes from.
pub(crate) type Source = Box<dyn Iterator<Item = Result<Event, TraceError>>>;

/// The recorded stream and the comparison state.
pub(crate) struct Cursor {
    source: Source,
    /// Recorded events read but not yet reproduced; the first is the head.
    ahead: VecDeque<Event>,
    exhausted: bool,
    /// Why the recording ended before its end frame (damage, truncation).
    pub damage: Option<TraceError>,
    /// Recorded events reproduced so far.
    pub matched: u64,
    recent: VecDeque<Event>,
    /// The first divergence.
    pub divergence: Option<Divergence>,
    /// Comparison over (winding the replayed run down after a divergence or the end).
    pub closed: bool,
    /// Replayed events the recording could not have made (a real service sees no guard
    /// zones), kept out of the comparison.
    pub extras: Vec<Event>,
    /// Which replayed observations the recording could not have made.
    unobservable: fn(&EventKind) -> bool,
}

impl Cursor {
    pub fn new(source: Source, unobservable: fn(&EventKind) -> bool) -> Cursor {
        Cursor {
            source,
            ahead: VecDeque::new(),
            exhausted: false,
            damage: None,
            matched: 0,
            recent: VecDeque::with_capacity(CONTEXT + 1),
            divergence: None,
            closed: false,
            extras: Vec::new(),
            unobservable,
        }
    }

    /// The next recorded event not yet reproduced (`None` at the recording's end).
    pub fn peek(&mut self) -> Option<&Event> {
        self.peek_nth(0)
    }

    /// The `n`-th recorded event after the head (0 is the head), reading ahead as needed
    /// (callers bound `n`: see [`MAX_LOOKAHEAD`]).
    pub fn peek_nth(&mut self, n: usize) -> Option<&Event> {
        while self.ahead.len() <= n && !self.exhausted {
            match self.source.next() {
                Some(Ok(e)) => self.ahead.push_back(e),
                Some(Err(e)) => {
                    self.exhausted = true;
                    self.damage = Some(e);
                }
                None => self.exhausted = true,
            }
        }
        self.ahead.get(n)
    }

    /// A copy of the next recorded event (to perform it: performing emits, and emitting
    /// compares, which needs the cursor).
    pub fn next_event(&mut self) -> Option<Event> {
        self.peek().cloned()
    }

    /// Whether replaying goes on: no divergence and not closed.
    pub fn live(&self) -> bool {
        self.divergence.is_none() && !self.closed
    }

    /// The reproduced events just before the head, oldest first.
    pub fn context(&self) -> Vec<Event> {
        self.recent.iter().cloned().collect()
    }

    /// Records the first divergence: `expected` is the head (or `None` past the end).
    pub fn diverge(&mut self, actual: Option<Event>, reason: String) {
        if self.divergence.is_some() {
            return;
        }
        let expected = self.peek().cloned();
        let index = expected
            .as_ref()
            .map_or_else(|| self.recent.back().map_or(0, |e| e.seq + 1), |e| e.seq);
        self.divergence = Some(Divergence::new(
            index,
            expected,
            actual,
            self.context(),
            reason,
        ));
    }

    /// One event of the replayed run, compared with the head.
    pub fn observe(&mut self, actual: &Event) {
        if !self.live() {
            return;
        }
        let unobservable = self.unobservable;
        match self.peek() {
            Some(expected) if expected == actual => {
                let e = self.ahead.pop_front().expect("peeked");
                self.matched += 1;
                if self.recent.len() == CONTEXT {
                    self.recent.pop_front();
                }
                self.recent.push_back(e);
            }
            _ if unobservable(&actual.kind) => self.extras.push(actual.clone()),
            Some(_) => self.diverge(Some(actual.clone()), String::new()),
            None => self.diverge(Some(actual.clone()), "the recording had ended".into()),
        }
    }
}

/// The sink that compares every event of the replayed run with the recording.
pub(crate) struct Comparer(pub Rc<RefCell<Cursor>>);

impl EventSink for Comparer {
    fn event(&mut self, event: &Event) {
        self.0.borrow_mut().observe(event);
    }
}
