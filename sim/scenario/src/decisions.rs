//! A scenario's `[[decision]]`s through the service's [`Choices`] seam: each names a
//! step and a point counted from that step's start (the n-th call of a callback by an
//! extension, the n-th successful write), so a decision stays with its step when other
//! steps are added or removed (what shrinking does). Points no decision names take the
//! decisions of the run's own choices (seeded, or an exploration's).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use faxsim_abi::Callback;
use faxsim_sim::registry::Recipient;
use faxsim_sim::{CallPoint, Choices, Service, WritePoint};
use faxsim_trace::ExtId;

/// A deferral long enough that the notification is never due in any run.
const NEVER: u64 = 1 << 48;

/// Where the run is: the step, and the counters of the service when it began.
#[derive(Debug, Default)]
pub(crate) struct StepMark {
    /// The step being run (1-based; 0 before the first).
    step: usize,
    /// Successful writes before it.
    writes: u64,
    /// Calls per (extension, callback) before it.
    calls: HashMap<(ExtId, Callback), u64>,
}

/// What a delivery decision says.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Delivery {
    pub wait: Option<u64>,
    pub rank: Option<u32>,
}

/// The file's decisions, resolved to extension ids.
#[derive(Debug, Default)]
pub(crate) struct Decided {
    /// (step, ext, callback, call within the step) → code.
    pub fails: HashMap<(usize, ExtId, Callback), HashMap<u64, u32>>,
    /// (step, write within the step, registrant) → its delivery.
    pub deliveries: HashMap<(usize, u64, ExtId), Delivery>,
}

impl Decided {
    pub(crate) fn is_empty(&self) -> bool {
        self.fails.is_empty() && self.deliveries.is_empty()
    }

    /// A deferral that is never due.
    pub(crate) fn never() -> u64 {
        NEVER
    }
}

/// The decisions of a scenario file over `inner`'s.
pub(crate) struct FileChoices {
    inner: Box<dyn Choices>,
    decided: Decided,
    mark: Rc<RefCell<StepMark>>,
}

impl FileChoices {
    /// Wraps `inner`; the mark is set by the runner as each step begins ([`begin_step`]).
    pub(crate) fn new(
        inner: Box<dyn Choices>,
        decided: Decided,
    ) -> (FileChoices, Rc<RefCell<StepMark>>) {
        let mark = Rc::new(RefCell::new(StepMark::default()));
        (
            FileChoices {
                inner,
                decided,
                mark: mark.clone(),
            },
            mark,
        )
    }

    fn write_in_step(&self, write: &WritePoint<'_>) -> (usize, u64) {
        let m = self.mark.borrow();
        (m.step, write.nth.saturating_sub(m.writes))
    }

    fn delivery(&self, write: &WritePoint<'_>, ext: ExtId) -> Option<Delivery> {
        let (step, nth) = self.write_in_step(write);
        self.decided.deliveries.get(&(step, nth, ext)).copied()
    }
}

/// Step `step` (1-based) begins: the counters its decisions count from.
pub(crate) fn begin_step(mark: &RefCell<StepMark>, svc: &Service, step: usize, exts: &[ExtId]) {
    let mut m = mark.borrow_mut();
    m.step = step;
    m.writes = svc.writes_so_far();
    m.calls.clear();
    for &x in exts {
        for c in [
            Callback::GetData,
            Callback::SetData,
            Callback::RegisterForEvents,
            Callback::UnregisterForEvents,
        ] {
            m.calls.insert((x, c), svc.calls_so_far(x, c));
        }
    }
}

impl Choices for FileChoices {
    fn order(&mut self, write: &WritePoint<'_>, order: &mut [usize]) {
        self.inner.order(write, order);
        let ranks: Vec<Option<u32>> = write
            .recipients
            .iter()
            .map(|r: &Recipient| self.delivery(write, r.ext).and_then(|d| d.rank))
            .collect();
        if ranks.iter().any(Option::is_some) {
            // Ranked registrants first, by rank; the others keep their order after them.
            order.sort_by_key(|&i| ranks[i].unwrap_or(u32::MAX));
        }
    }

    fn defer(&mut self, write: &WritePoint<'_>, recipient: &Recipient, max_wait: u32) -> u64 {
        match self.delivery(write, recipient.ext).and_then(|d| d.wait) {
            Some(w) => w,
            None => self.inner.defer(write, recipient, max_wait),
        }
    }

    fn fires(&mut self, call: &CallPoint, per_million: u32) -> bool {
        self.inner.fires(call, per_million)
    }

    fn inject(&mut self, call: &CallPoint) -> Option<u32> {
        let m = self.mark.borrow();
        let base = m
            .calls
            .get(&(call.ext, call.callback))
            .copied()
            .unwrap_or(0);
        let decided = self
            .decided
            .fails
            .get(&(m.step, call.ext, call.callback))
            .and_then(|calls| calls.get(&call.nth.saturating_sub(base)))
            .copied();
        drop(m);
        decided.or_else(|| self.inner.inject(call))
    }

    fn pause(&mut self, index: u64, max: u32) -> u64 {
        self.inner.pause(index, max)
    }
}
