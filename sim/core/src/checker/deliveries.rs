//! Deliveries: what each write owes and the ConfigChange calls that settle it.
//!
//! The owed-delivery ledger is shared by every delivery rule, so it is one piece of state:
//! the writes (open and recently finished), how many deliveries are owed in all, and, with
//! each registration, the writes that owe it one ([`Registration::owed`]). A write fills
//! it at its call; a ConfigChange or a `DeliveryCut` settles one entry; an Unregister, a
//! stop, a shutdown, an unload or a failed config init cancels entries; what is left when
//! it may no longer come is `missed-notification`. The ConfigChange calls themselves are
//! judged here too (`notify-*`, `notification-storm`, `busy-reentry`'s context,
//! `change-buffer-written`). This is the hot path: ConfigChange calls and returns come
//! straight from [`Checker::observe`], and a clean delivery is decided from the fields at
//! hand without formatting anything.

use std::sync::Arc;

use faxsim_abi::ERROR_SUCCESS;
use faxsim_trace::{Event, ExtId, GuidArg, HInstArg, HandleId};

use super::Checker;
use super::arguments::Key;
use super::messages::{DevArg, GuidText, HInstText, guid_text};
use super::registrations::{RegState, Registration};
use super::threads::{Delivery, Frame};
use crate::options::{DeliveryPolicy, Limits};
use crate::rules::Rule;

/// Finished writes whose details are kept for late ConfigChange calls (a service that
/// delivers after the write completed) before they are forgotten.
pub(super) const RETAINED_WRITES: usize = 4096;

/// What judging a delivery needs of the write that caused it (one lookup, copied out).
#[derive(Clone, Copy)]
struct Cause {
    root: u64,
    hinst: Option<HInstArg>,
    key: Key,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteState {
    Open,
    Succeeded(u64),
    Failed,
}

/// A SetData or an external write.
#[derive(Clone, Debug)]
pub(super) struct Write {
    ext: Option<ExtId>,
    /// The hInst argument; `None` for an external write.
    hinst: Option<HInstArg>,
    device: u32,
    source: i32,
    guid: GuidArg,
    key: Key,
    /// `seq` of the outermost write of the chain this write belongs to.
    root: u64,
    /// Expected deliveries not yet delivered, cut or cancelled.
    outstanding: u32,
    state: WriteState,
}

impl Write {
    /// One expected delivery is accounted for (made, cut or cancelled); true when the
    /// write now owes nothing and has returned, so it can be retired.
    fn settle_one(&mut self) -> bool {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.outstanding == 0 && self.state != WriteState::Open
    }
}

impl Checker {
    // ---- expected deliveries -------------------------------------------------------------

    /// One delivery of write `w` was made, cut or cancelled: forget the write once it owes
    /// nothing and has returned. Returns the root of `w`'s chain.
    fn settle(&mut self, w: u64) -> Option<u64> {
        let wr = self.writes.get_mut(&w)?;
        let done = wr.settle_one();
        let root = wr.root;
        if done {
            self.retire(w);
        }
        Some(root)
    }

    fn retire(&mut self, w: u64) {
        self.finished_writes.push_back(w);
        if self.finished_writes.len() > RETAINED_WRITES
            && let Some(old) = self.finished_writes.pop_front()
        {
            self.writes.remove(&old);
        }
    }

    /// Takes write `w`'s delivery to `h` off what is owed; false if none was owed.
    pub(super) fn take_owed(&mut self, h: HandleId, w: u64) -> bool {
        let taken = self
            .registrations
            .get_mut(h.0)
            .is_some_and(|r| r.take_owed(w));
        if taken {
            self.owed_total -= 1;
        }
        taken
    }

    /// Cancels what is owed to `h` alone (its Unregister): touches that registration only,
    /// where [`Checker::cancel`] walks them all.
    pub(super) fn cancel_owed_to(&mut self, h: HandleId) {
        let Some(r) = self.registrations.get_mut(h.0) else {
            return;
        };
        let mut owed = std::mem::take(&mut r.owed);
        if owed.is_empty() {
            r.owed = owed;
            return;
        }
        owed.sort_unstable();
        self.owed_total -= owed.len();
        for &w in &owed {
            if let Some(wr) = self.writes.get_mut(&w)
                && wr.settle_one()
            {
                self.retire(w);
            }
        }
        owed.clear();
        if let Some(r) = self.registrations.get_mut(h.0) {
            r.owed = owed;
        }
    }

    /// Cancels owed deliveries whose write matches `pred`.
    pub(super) fn cancel_pending(&mut self, pred: impl Fn(u64) -> bool) {
        self.cancel(|w, _, _| pred(w));
    }

    /// Cancels owed deliveries to registrations matching `pred`.
    pub(super) fn cancel_pending_where(&mut self, pred: impl Fn(HandleId, &Registration) -> bool) {
        self.cancel(|_, h, r| pred(h, r));
    }

    /// Cancels the owed deliveries `pred` selects, retiring writes that then owe nothing
    /// (in the order of their `seq`).
    fn cancel(&mut self, pred: impl Fn(u64, HandleId, &Registration) -> bool) {
        if self.owed_total == 0 {
            return;
        }
        let writes = &mut self.writes;
        let settled = &mut self.scratch;
        settled.clear();
        let mut cancelled = 0;
        for (h, r) in self.registrations.iter_mut() {
            if r.owed.is_empty() {
                continue;
            }
            let mut owed = std::mem::take(&mut r.owed);
            owed.retain(|&w| {
                if !pred(w, HandleId(h), r) {
                    return true;
                }
                cancelled += 1;
                if let Some(wr) = writes.get_mut(&w)
                    && wr.settle_one()
                {
                    settled.push(w);
                }
                false
            });
            r.owed = owed;
        }
        self.owed_total -= cancelled;
        if !self.scratch.is_empty() {
            let mut settled = std::mem::take(&mut self.scratch);
            settled.sort_unstable();
            for &w in &settled {
                self.retire(w);
            }
            settled.clear();
            self.scratch = settled;
        }
    }

    fn missed(&mut self, w: u64, h: HandleId, at: u64) {
        if self.config.one_sided {
            return;
        }
        let ret = match self.writes.get(&w).map(|wr| wr.state) {
            Some(WriteState::Succeeded(r)) => format!(" (it returned at event {r})"),
            _ => String::new(),
        };
        let who = self.registrations.get(h.0).and_then(|r| r.ext);
        let msg = format!(
            "{} got no ConfigChange for {}{ret}",
            self.registration_text(h),
            self.write_text(w)
        );
        self.report(Rule::MissedNotification, who, at, msg);
    }

    /// At the end of the stream (`last`): every delivery a succeeded write still owes was
    /// missed (see [`Checker::finish`]).
    pub(super) fn miss_still_owed(&mut self, last: u64) {
        let writes = &self.writes;
        let mut owed: Vec<(u64, HandleId)> = self
            .registrations
            .iter_mut()
            .flat_map(|(h, r)| r.owed.iter().map(move |&w| (w, HandleId(h))))
            .filter(|(w, _)| {
                matches!(
                    writes.get(w).map(|w| w.state),
                    Some(WriteState::Succeeded(_))
                )
            })
            .collect();
        owed.sort_unstable();
        for (w, h) in owed {
            self.take_owed(h, w);
            self.missed(w, h, last);
            self.settle(w);
        }
    }

    pub(super) fn on_set_data_call(
        &mut self,
        event: &Event,
        hinst: HInstArg,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        self.callback_lifecycle(event);
        self.check_key_arguments(event, "SetData", hinst, device, source, guid);
        self.on_write_call(event, Some(hinst), device, source, guid);
    }

    pub(super) fn on_write_call(
        &mut self,
        event: &Event,
        hinst: Option<HInstArg>,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        let seq = event.seq;
        let key = (self.resolve(device, source), self.guid_arg_value(guid));
        let root = self.current_root(event.thread).unwrap_or(seq);
        let mut outstanding = 0;
        if self.stopping_at.is_none() && key.1.is_some() {
            let matching = self.live_by_key.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            for h in matching {
                let Some(r) = self.registrations.get_mut(h.0) else {
                    continue;
                };
                if r.key != key || hinst == Some(r.hinst) {
                    continue;
                }
                // The service owes nothing to an extension it no longer recognises or
                // that is shutting down.
                let gone = r
                    .ext
                    .and_then(|e| self.exts.get(e.index()))
                    .is_some_and(|s| s.init_failure().is_some() || s.shutdown_at.is_some());
                if !gone && !r.owed.contains(&seq) {
                    r.owed.push(seq);
                    outstanding += 1;
                }
            }
            self.owed_total += outstanding as usize;
        }
        self.writes.insert(
            seq,
            Write {
                ext: event.ext,
                hinst,
                device,
                source,
                guid: guid.clone(),
                key,
                root,
                outstanding,
                state: WriteState::Open,
            },
        );
        self.thread(event.thread).calls.push(Frame::Write {
            at: seq,
            external: hinst.is_none(),
        });
    }

    pub(super) fn on_write_return(&mut self, event: &Event, code: u32, external: bool) {
        let Some(Frame::Write { at: w, .. }) = self.pop_frame(
            event.thread,
            |f| matches!(f, Frame::Write { external: x, .. } if *x == external),
        ) else {
            return;
        };
        let Some(wr) = self.writes.get_mut(&w) else {
            return;
        };
        let owed = wr.outstanding;
        let ok = code == ERROR_SUCCESS;
        wr.state = if ok {
            WriteState::Succeeded(event.seq)
        } else {
            WriteState::Failed
        };
        if owed == 0 {
            self.retire(w);
        } else if !ok {
            self.cancel_pending(|pw| pw == w);
        } else if self.config.delivery != DeliveryPolicy::Deferred {
            // Synchronous delivery ends with the write: whatever it still owes was missed.
            let missed: Vec<HandleId> = self
                .registrations
                .iter_mut()
                .filter(|(_, r)| r.owed.contains(&w))
                .map(|(h, _)| HandleId(h))
                .collect();
            for h in missed {
                self.take_owed(h, w);
                self.missed(w, h, event.seq);
                self.settle(w);
            }
        }
    }

    // ---- notifications --------------------------------------------------------------------

    pub(super) fn on_config_change(
        &mut self,
        event: &Event,
        handle: HandleId,
        device: u32,
        guid: &Arc<str>,
        cause: Option<u64>,
    ) {
        let seq = event.seq;
        let ext = event.ext;
        if let Some(e) = ext {
            self.init_failure_ignored(e, seq, || {
                format!(
                    "a ConfigChange (handle #{}, device {device}, {guid})",
                    handle.0
                )
            });
        }

        // The delivery is made: it settles what the write owed. Without a cause (a
        // recorder on a real service), it settles the oldest delivery owed to the handle.
        let facts = match cause {
            Some(c) => {
                let settled = self.take_owed(handle, c);
                // One lookup of the write: settle it and copy out what judging needs.
                let mut retire = false;
                let facts = self.writes.get_mut(&c).map(|wr| {
                    if settled {
                        retire = wr.settle_one();
                    }
                    Cause {
                        root: wr.root,
                        hinst: wr.hinst,
                        key: wr.key,
                    }
                });
                if retire {
                    self.retire(c);
                }
                facts
            }
            None => {
                let oldest = self
                    .registrations
                    .get(handle.0)
                    .and_then(|r| r.owed.iter().copied().min());
                if let Some(w) = oldest {
                    self.take_owed(handle, w);
                    self.settle(w);
                }
                None
            }
        };
        let root = match cause {
            Some(c) => Some(facts.map_or(c, |f| f.root)),
            None => self.current_root(event.thread),
        };
        let registrations_own = self
            .registrations
            .get(handle.0)
            .and_then(|r| r.guid.as_ref())
            .is_some_and(|g| Arc::ptr_eq(g, guid));
        let depth = {
            let t = self.thread(event.thread);
            t.deliveries.push(Delivery {
                at: seq,
                handle,
                device,
                guid: (!registrations_own).then(|| guid.clone()),
                root,
            });
            t.deliveries.len()
        };

        if !self.delivery_is_clean(event.ext, handle, device, registrations_own, facts) {
            self.judge_delivery(event, handle, device, guid, cause, facts);
        } else if cfg!(debug_assertions) {
            // Every test run in a debug build proves the shortcut hides nothing.
            let before = self.findings.len();
            self.judge_delivery(event, handle, device, guid, cause, facts);
            debug_assert_eq!(
                self.findings.len(),
                before,
                "a delivery judged clean at event {seq} had findings: {:?}",
                &self.findings[before..]
            );
        }

        if u64::try_from(depth).unwrap_or(u64::MAX) > u64::from(self.nesting_limit()) {
            let limit = self.nesting_limit();
            self.storm(event.thread, root, seq, ext, || {
                format!(
                    "the ConfigChange to handle #{} (device {device}, {guid}) was nested {depth} deep, past the limit of {limit}",
                    handle.0
                )
            });
        }
    }

    pub(super) fn on_config_change_return(&mut self, thread: u16, handle: HandleId) {
        let t = self.threads.at(thread);
        if t.deliveries.last().is_some_and(|d| d.handle == handle) {
            // The innermost delivery returns: the usual case.
            t.last_delivery = t.deliveries.pop();
        } else if let Some(i) = t.deliveries.iter().rposition(|d| d.handle == handle) {
            t.deliveries.truncate(i + 1);
            t.last_delivery = t.deliveries.pop();
        }
        if t.deliveries.is_empty() {
            t.storm_reported = false;
        }
    }

    /// The common case, decided from the fields at hand: a ConfigChange to a live
    /// registration of the extension that receives it, for a write by someone else to the
    /// registration's own key, passing the registration's own device id and GUID string
    /// (`registrations_own`: the same string, by pointer), before any shutdown. Anything
    /// else goes to [`Checker::judge_delivery`], which finds what is wrong and says so
    /// (and may find nothing).
    fn delivery_is_clean(
        &self,
        ext: Option<ExtId>,
        handle: HandleId,
        device: u32,
        registrations_own: bool,
        facts: Option<Cause>,
    ) -> bool {
        let Some(reg) = self.registrations.get(handle.0) else {
            return false;
        };
        let shutting_down =
            |e: Option<ExtId>| self.ext_state(e).is_some_and(|s| s.shutdown_at.is_some());
        reg.state == RegState::Live
            && self.stopping_at.is_none()
            && !shutting_down(reg.ext)
            && device == reg.device
            && registrations_own
            && (ext.is_none() || reg.ext.is_none() || ext == reg.ext)
            && facts.is_none_or(|w| w.hinst != Some(reg.hinst) && w.key == reg.key)
    }

    /// The service-side rules of one ConfigChange call.
    #[cold]
    #[inline(never)]
    fn judge_delivery(
        &mut self,
        event: &Event,
        handle: HandleId,
        device: u32,
        guid: &Arc<str>,
        cause: Option<u64>,
        facts: Option<Cause>,
    ) {
        let seq = event.seq;
        let ext = event.ext;
        let Some(reg) = self.registrations.get(handle.0) else {
            let msg = format!(
                "{} got a ConfigChange for handle #{} (device {device}, {guid}), but handle #{} was never registered",
                self.name(ext),
                handle.0,
                handle.0
            );
            self.report(Rule::NotifyMismatch, ext, seq, msg);
            return;
        };
        // One lookup on the hot path: the fields judged below, copied out. The service
        // passes the registration's own string, so the same pointer means the same GUID.
        let (reg_ext, reg_hinst, reg_key, reg_device, reg_state) =
            (reg.ext, reg.hinst, reg.key, reg.device, reg.state);
        let same_guid_string = reg.guid.as_ref().is_some_and(|g| Arc::ptr_eq(g, guid));
        let who = reg_ext.or(ext);
        let cause_text = |cause: Option<u64>| match cause {
            Some(c) => format!(" caused by the write at event {c}"),
            None => String::new(),
        };

        let mut after_shutdown = None;
        match reg_state {
            RegState::Live => {}
            RegState::Unregistered(at) => {
                let msg = format!(
                    "ConfigChange{} delivered to {} after its Unregister returned at event {at}",
                    cause_text(cause),
                    self.registration_text(handle)
                );
                self.report(Rule::NotifyAfterUnregister, who, seq, msg);
            }
            RegState::Dropped(at) => {
                after_shutdown = Some(format!("after the registration was dropped at event {at}"));
            }
        }
        if after_shutdown.is_none() {
            let shutdown_at = self.ext_state(reg_ext).and_then(|s| s.shutdown_at);
            if let Some(at) = self.stopping_at {
                after_shutdown = Some(format!("after the service began stopping at event {at}"));
            } else if let Some(at) = shutdown_at {
                after_shutdown = Some(format!(
                    "after {}'s FaxDevShutdown was called at event {at}",
                    self.name(reg_ext)
                ));
            }
        }
        if let Some(when) = after_shutdown {
            let msg = format!(
                "ConfigChange{} delivered to {} {when}",
                cause_text(cause),
                self.registration_text(handle)
            );
            self.report(Rule::NotifyAfterShutdown, who, seq, msg);
        }

        let (is_self, wrong_key, writer_hinst) = match facts {
            Some(w) => (w.hinst == Some(reg_hinst), w.key != reg_key, w.hinst),
            None => (false, false, None),
        };
        let wrong_device = device != reg_device;
        let wrong_guid = !same_guid_string && self.guid_value(guid) != reg_key.1;
        let wrong_ext = ext.is_some() && reg_ext.is_some() && ext != reg_ext;

        if is_self && let Some(c) = cause {
            let msg = format!(
                "{} was notified of its own write: {} passed the same hInst ({})",
                self.registration_text(handle),
                self.write_text(c),
                HInstText(&self.config.names, writer_hinst.unwrap_or(HInstArg::Null))
            );
            self.report(Rule::NotifySelf, who, seq, msg);
        }

        if wrong_key || wrong_device || wrong_guid || wrong_ext {
            let Some(reg) = self.registrations.get(handle.0) else {
                return;
            };
            let mut reasons = Vec::new();
            if wrong_key && let Some(c) = cause {
                reasons.push(format!(
                    "it was caused by {}, which is not the registration's device and GUID",
                    self.write_text(c)
                ));
            }
            if wrong_device {
                reasons.push(format!(
                    "it passed device {device} instead of {}",
                    reg.device
                ));
            }
            if wrong_guid {
                reasons.push(format!(
                    "it passed GUID {} instead of {}",
                    GuidText(Some(guid)),
                    guid_text(&reg.guid)
                ));
            }
            if wrong_ext {
                reasons.push(format!(
                    "it was delivered to {}, not the registrant",
                    self.name(ext)
                ));
            }
            let msg = format!(
                "ConfigChange to {} does not match the registration: {}",
                self.registration_text(handle),
                reasons.join("; ")
            );
            self.report(Rule::NotifyMismatch, who, seq, msg);
        }
    }

    fn nesting_limit(&self) -> u32 {
        match self.config.nesting_limit {
            0 => Limits::default().nesting,
            n => n,
        }
    }

    /// Reports a notification storm, once per outermost write chain and, on one thread,
    /// once until the nesting depth returns to 0.
    fn storm(
        &mut self,
        thread: u16,
        root: Option<u64>,
        seq: u64,
        ext: Option<ExtId>,
        what: impl FnOnce() -> String,
    ) {
        let t = self.threads.at(thread);
        if t.storm_reported {
            return;
        }
        if !t.deliveries.is_empty() {
            t.storm_reported = true;
        }
        if let Some(r) = root
            && !self.storm_roots.insert(r)
        {
            return;
        }
        let chain = match root {
            Some(r) => format!("; the chain started with {}", self.write_text(r)),
            None => String::new(),
        };
        let msg = format!("{}{chain}", what());
        self.report(Rule::NotificationStorm, ext, seq, msg);
    }

    pub(super) fn on_delivery_cut(
        &mut self,
        event: &Event,
        depth: u32,
        handle: HandleId,
        cause: u64,
    ) {
        if self.take_owed(handle, cause) {
            self.settle(cause);
        }
        let root = self.writes.get(&cause).map_or(cause, |w| w.root);
        let who = self
            .registrations
            .get(handle.0)
            .and_then(|r| r.ext)
            .or(event.ext);
        self.storm(event.thread, Some(root), event.seq, who, || {
            format!(
                "the delivery to handle #{} for the write at event {cause} was cut at nesting depth {depth}",
                handle.0
            )
        });
    }

    pub(super) fn on_change_data_written(&mut self, event: &Event, delivery: u64, offset: u32) {
        let ext = event.ext;
        let what = self.describe_delivery(event.thread, delivery);
        let msg = format!(
            "{} wrote into the lpData of {what} (first changed byte at offset {offset})",
            self.name(ext)
        );
        self.report(Rule::ChangeBufferWritten, ext, event.seq, msg);
    }

    /// ": called while the ConfigChange at event N (handle #h) was being delivered".
    pub(super) fn busy_context(&self, thread: u16) -> String {
        match self.threads.get(thread).and_then(|t| t.deliveries.last()) {
            Some(d) => format!(
                ": it was called while the ConfigChange at event {} (handle #{}, device {}, {}) was being delivered",
                d.at,
                d.handle.0,
                d.device,
                self.delivery_guid(d)
            ),
            None => ": it was called while a notification was being delivered".to_string(),
        }
    }
    // ---- chains and message text ------------------------------------------------------------

    /// The outermost write of the chain a write or delivery on `thread` belongs to.
    fn current_root(&self, thread: u16) -> Option<u64> {
        let t = self.threads.get(thread)?;
        if let Some(r) = t.deliveries.last().and_then(|d| d.root) {
            return Some(r);
        }
        t.calls.iter().find_map(|f| match f {
            Frame::Write { at, .. } => Some(self.writes.get(at).map_or(*at, |w| w.root)),
            _ => None,
        })
    }

    fn write_text(&self, w: u64) -> String {
        match self.writes.get(&w) {
            Some(wr) => match wr.hinst {
                Some(_) => format!(
                    "{}'s SetData({}, {}) at event {w}",
                    self.name(wr.ext),
                    DevArg(wr.device, wr.source),
                    guid_text(&wr.guid)
                ),
                None => format!(
                    "an external write to {}, {} at event {w}",
                    DevArg(wr.device, wr.source),
                    guid_text(&wr.guid)
                ),
            },
            None => format!("the write at event {w}"),
        }
    }

    /// The GUID string a delivery passed.
    fn delivery_guid<'a>(&'a self, d: &'a Delivery) -> &'a str {
        d.guid
            .as_deref()
            .or_else(|| self.registrations.get(d.handle.0)?.guid.as_deref())
            .unwrap_or("NULL")
    }

    pub(super) fn describe_delivery(&self, thread: u16, delivery: u64) -> String {
        let d = self.threads.get(thread).and_then(|t| {
            t.deliveries
                .iter()
                .rev()
                .chain(t.last_delivery.iter())
                .find(|d| d.at == delivery)
        });
        match d {
            Some(d) => format!(
                "the ConfigChange at event {delivery} (handle #{}, device {}, {})",
                d.handle.0,
                d.device,
                self.delivery_guid(d)
            ),
            None => format!("the ConfigChange at event {delivery}"),
        }
    }
}
