//! Open calls per thread: callback calls waiting for their return (call frames), the
//! ConfigChange calls being delivered, and the storm flag that is quiet until the nesting
//! depth returns to 0.

use std::sync::Arc;

use faxsim_trace::{GuidArg, HInstArg, HandleArg, HandleId};

use super::Checker;
use super::arguments::Key;

/// A callback call waiting for its return.
#[derive(Clone, Debug)]
pub(super) enum Frame {
    GetData {
        at: u64,
        device: u32,
        source: i32,
        guid: GuidArg,
    },
    Write {
        at: u64,
        external: bool,
    },
    Register {
        at: u64,
        hinst: HInstArg,
        device: u32,
        source: i32,
        guid: GuidArg,
        key: Key,
    },
    Unregister {
        at: u64,
        handle: HandleArg,
    },
    FreeBuffer,
}

/// An open ConfigChange call.
#[derive(Clone, Debug)]
pub(super) struct Delivery {
    pub(super) at: u64,
    pub(super) handle: HandleId,
    pub(super) device: u32,
    /// The GUID string passed, kept only when it is not the registration's own (the
    /// common case shares the registration's, sparing a reference count per delivery).
    pub(super) guid: Option<Arc<str>>,
    /// The outermost write of the chain that caused it, when known.
    pub(super) root: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct ThreadState {
    pub(super) calls: Vec<Frame>,
    pub(super) deliveries: Vec<Delivery>,
    /// The ConfigChange call that returned last (ChangeDataWritten comes after its return).
    pub(super) last_delivery: Option<Delivery>,
    /// A storm was reported; quiet until the nesting depth returns to 0.
    pub(super) storm_reported: bool,
}

/// Per-thread state, indexed by the small thread id (ids are dense: 0 is the service's
/// thread, others count up in first-seen order), so the hot path indexes a `Vec`.
#[derive(Debug, Default)]
pub(super) struct Threads(Vec<ThreadState>);

impl Threads {
    pub(super) fn at(&mut self, thread: u16) -> &mut ThreadState {
        let i = usize::from(thread);
        if self.0.len() <= i {
            self.0.resize_with(i + 1, ThreadState::default);
        }
        &mut self.0[i]
    }

    pub(super) fn get(&self, thread: u16) -> Option<&ThreadState> {
        self.0.get(usize::from(thread))
    }

    fn get_mut(&mut self, thread: u16) -> Option<&mut ThreadState> {
        self.0.get_mut(usize::from(thread))
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg(test)]
    pub(super) fn values(&self) -> impl Iterator<Item = &ThreadState> {
        self.0.iter()
    }
}

impl Checker {
    pub(super) fn thread(&mut self, thread: u16) -> &mut ThreadState {
        self.threads.at(thread)
    }

    /// Pops the innermost open call matching `pred`, dropping calls above it (their
    /// returns were lost, e.g. to a crash). `None` if no open call matches.
    pub(super) fn pop_frame(
        &mut self,
        thread: u16,
        pred: impl Fn(&Frame) -> bool,
    ) -> Option<Frame> {
        let t = self.threads.get_mut(thread)?;
        let i = t.calls.iter().rposition(pred)?;
        t.calls.truncate(i + 1);
        t.calls.pop()
    }
}
