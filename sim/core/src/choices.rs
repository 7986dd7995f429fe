//! The service's own decisions, behind one seam.
//!
//! Everything the service decides that the protocol leaves open goes through a
//! [`Choices`]: the order in which a write's registrants are visited (`shuffled`
//! delivery), how long a deferred notification waits (`deferred` delivery), whether a
//! planned probabilistic fault fires, a failure to inject on a call (replay's recorded
//! ones, an exploration's), and how long a driver's next step waits while notifications
//! are pending. Five implementations:
//!
//! - [`SeededChoices`], the default: one seeded stream per decision (the streams the
//!   service always drew from, so every seed gives the same run as before the seam);
//! - [`LoggedChoices`], a wrapper that keeps every decision made, in order (what an
//!   exploration varies and a shrinker cuts down);
//! - replay's, which takes each decision from a recorded trace (`faxsim-replay`);
//! - [`ExploringChoices`](crate::ExploringChoices), an exploration's (`exploring.rs`):
//!   random, or PCT's natural schedule with a few change points;
//! - a scenario file's `[[decision]]`s (`faxsim-scenario`), keyed to its steps, over one
//!   of the others (what `faxsim shrink` writes from a recording and cuts down).
//!
//! Synchronous delivery in registration order decides nothing, so the hot path never
//! reaches this seam.

use std::cell::RefCell;
use std::rc::Rc;

use faxsim_abi::Callback;
use faxsim_trace::{ExtId, HandleId};

use crate::registry::Recipient;
use crate::seed::{Component, DetRng};

/// One callback call, as the fault decisions see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallPoint {
    /// The calling extension.
    pub ext: ExtId,
    /// Which callback.
    pub callback: Callback,
    /// 1-based: the how-many-th call of this callback by this extension in the run
    /// (counted across restarts, whatever the call's outcome).
    pub nth: u64,
    /// `seq` of the call event.
    pub seq: u64,
}

/// One write being delivered, as the delivery decisions see it.
#[derive(Clone, Copy, Debug)]
pub struct WritePoint<'a> {
    /// `seq` of the write's call event (SetData or external write).
    pub cause: u64,
    /// 1-based: the how-many-th successful write while the service ran (counted across
    /// restarts), whether or not anyone was registered for it.
    pub nth: u64,
    /// Every live registration for the written key, in registration order (including
    /// the writer's own, which self-exclusion skips).
    pub recipients: &'a [Recipient],
}

/// The decisions the service leaves open.
pub trait Choices {
    /// The visiting order of one write's recipients under `shuffled` delivery: permute
    /// `order`, whose entries index `write.recipients`.
    fn order(&mut self, write: &WritePoint<'_>, order: &mut [usize]);

    /// How many scheduling points the notification of `recipient` waits under `deferred`
    /// delivery, at most `max_wait`.
    fn defer(&mut self, write: &WritePoint<'_>, recipient: &Recipient, max_wait: u32) -> u64;

    /// Whether a planned fault with a probability (`per_million` in a million) fires on
    /// this call.
    fn fires(&mut self, call: &CallPoint, per_million: u32) -> bool;

    /// A failure this call gets although no fault was planned for it: replay answers the
    /// code the recording injected at this point. The default injects nothing.
    fn inject(&mut self, _call: &CallPoint) -> Option<u32> {
        None
    }

    /// How many scheduling points pass before a driver's next step (step `index` of a
    /// scenario, a write from outside, a device arriving or leaving, a restart, a stop),
    /// at most `max`: it moves that step relative to the deferred notifications still
    /// pending. The default: none, so a driver's steps follow each other as written.
    fn pause(&mut self, _index: u64, _max: u32) -> u64 {
        0
    }
}

/// The default decisions: one seeded ChaCha8 stream each for delivery order, deferral and
/// faults (see `seed.rs`), so adding a decision to one never shifts another.
#[derive(Clone, Debug)]
pub struct SeededChoices {
    delivery: DetRng,
    defer: DetRng,
    faults: DetRng,
}

impl SeededChoices {
    /// The decisions of `seed`.
    pub fn new(seed: u64) -> SeededChoices {
        SeededChoices {
            delivery: DetRng::new(seed, Component::Delivery),
            defer: DetRng::new(seed, Component::Defer),
            faults: DetRng::new(seed, Component::Faults),
        }
    }
}

impl Choices for SeededChoices {
    fn order(&mut self, _write: &WritePoint<'_>, order: &mut [usize]) {
        self.delivery.shuffle(order);
    }

    fn defer(&mut self, _write: &WritePoint<'_>, _recipient: &Recipient, max_wait: u32) -> u64 {
        self.defer.below(u64::from(max_wait) + 1)
    }

    fn fires(&mut self, _call: &CallPoint, per_million: u32) -> bool {
        self.faults.chance_per_million(per_million)
    }
}

/// One decision, as [`LoggedChoices`] keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The recipients of write `cause` were visited in this order.
    Order {
        /// `seq` of the write.
        cause: u64,
        /// Their handles, in visiting order.
        handles: Vec<HandleId>,
    },
    /// The notification of `handle` for write `cause` waited `wait` scheduling points.
    Defer {
        /// `seq` of the write.
        cause: u64,
        /// The registration notified.
        handle: HandleId,
        /// Scheduling points waited.
        wait: u64,
    },
    /// A probabilistic fault was drawn for this call.
    Fires {
        /// The call.
        call: CallPoint,
        /// Whether it fired.
        fired: bool,
    },
    /// A failure was injected on this call.
    Inject {
        /// The call.
        call: CallPoint,
        /// The code.
        code: u32,
    },
}

/// The decisions of `inner`, each kept in a shared log as it is made.
#[derive(Debug)]
pub struct LoggedChoices<C> {
    inner: C,
    log: Rc<RefCell<Vec<Choice>>>,
}

impl<C: Choices> LoggedChoices<C> {
    /// Wraps `inner`; returns the wrapper and the log it fills.
    pub fn new(inner: C) -> (LoggedChoices<C>, Rc<RefCell<Vec<Choice>>>) {
        let log = Rc::new(RefCell::new(Vec::new()));
        (
            LoggedChoices {
                inner,
                log: log.clone(),
            },
            log,
        )
    }
}

impl<C: Choices> Choices for LoggedChoices<C> {
    fn order(&mut self, write: &WritePoint<'_>, order: &mut [usize]) {
        self.inner.order(write, order);
        self.log.borrow_mut().push(Choice::Order {
            cause: write.cause,
            handles: order.iter().map(|&i| write.recipients[i].handle).collect(),
        });
    }

    fn defer(&mut self, write: &WritePoint<'_>, recipient: &Recipient, max_wait: u32) -> u64 {
        let wait = self.inner.defer(write, recipient, max_wait);
        self.log.borrow_mut().push(Choice::Defer {
            cause: write.cause,
            handle: recipient.handle,
            wait,
        });
        wait
    }

    fn fires(&mut self, call: &CallPoint, per_million: u32) -> bool {
        let fired = self.inner.fires(call, per_million);
        self.log
            .borrow_mut()
            .push(Choice::Fires { call: *call, fired });
        fired
    }

    fn pause(&mut self, index: u64, max: u32) -> u64 {
        self.inner.pause(index, max)
    }

    fn inject(&mut self, call: &CallPoint) -> Option<u32> {
        let code = self.inner.inject(call);
        if let Some(code) = code {
            self.log
                .borrow_mut()
                .push(Choice::Inject { call: *call, code });
        }
        code
    }
}
