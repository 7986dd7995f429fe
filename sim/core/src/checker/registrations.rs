//! Registrations: the handles Register issued, their state (live, unregistered, dropped by
//! the service), the live handles by key (what a write looks up to find whom it owes), and
//! the rules of Register and Unregister returns (`duplicate-registration`,
//! `stale-unregister`, `busy-reentry`). What a registration is owed lives with it
//! ([`Registration::owed`]); `deliveries.rs` keeps that ledger.

use faxsim_abi::{
    ERROR_ALREADY_ASSIGNED, ERROR_BUSY, ERROR_NOT_FOUND, ERROR_SHUTDOWN_IN_PROGRESS, ERROR_SUCCESS,
};
use faxsim_trace::text::win32_name;
use faxsim_trace::{Event, ExtId, GuidArg, HInstArg, HandleArg, HandleId};

use super::Checker;
use super::arguments::Key;
use super::messages::{DevArg, guid_text};
use super::threads::Frame;
use crate::rules::Rule;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RegState {
    Live,
    /// Unregistered by a successful Unregister that returned at this event.
    Unregistered(u64),
    /// Dropped by the service (stop, restart, the extension's unload) at this event.
    Dropped(u64),
}

/// A registration handle the service issued.
#[derive(Clone, Debug)]
pub(super) struct Registration {
    pub(super) ext: Option<ExtId>,
    pub(super) hinst: HInstArg,
    pub(super) key: Key,
    /// The id the extension registered with (the id space ConfigChange must use).
    pub(super) device: u32,
    source: i32,
    pub(super) guid: GuidArg,
    /// `seq` of the RegisterCall.
    at: u64,
    pub(super) state: RegState,
    /// Writes (by `seq` of their call) that owe this registration a ConfigChange. Kept
    /// with the registration so a delivery settles it without a hash lookup; it keeps its
    /// capacity, so steady-state deliveries never allocate.
    pub(super) owed: Vec<u64>,
}

impl Registration {
    /// Takes write `w`'s delivery off what is owed; false if it owed none.
    pub(super) fn take_owed(&mut self, w: u64) -> bool {
        match self.owed.iter().position(|&x| x == w) {
            Some(i) => {
                self.owed.swap_remove(i);
                true
            }
            None => false,
        }
    }
}

impl Checker {
    pub(super) fn on_register_call(
        &mut self,
        event: &Event,
        hinst: HInstArg,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        self.callback_lifecycle(event);
        self.check_key_arguments(event, "Register", hinst, device, source, guid);
        let key = (self.resolve(device, source), self.guid_arg_value(guid));
        self.thread(event.thread).calls.push(Frame::Register {
            at: event.seq,
            hinst,
            device,
            source,
            guid: guid.clone(),
            key,
        });
    }

    pub(super) fn on_register_return(
        &mut self,
        event: &Event,
        handle: Option<HandleId>,
        last_error: u32,
        injected: bool,
    ) {
        let seq = event.seq;
        let ext = event.ext;
        let Some(Frame::Register {
            at,
            hinst,
            device,
            source,
            guid,
            key,
        }) = self.pop_frame(event.thread, |f| matches!(f, Frame::Register { .. }))
        else {
            return;
        };
        if let Some(h) = handle {
            if let Some(old) = self.registrations.get(h.0)
                && old.state == RegState::Live
            {
                self.remove_live(h);
            }
            // A handle issued twice (a broken trace): what was owed to it stays owed.
            let owed = self
                .registrations
                .get_mut(h.0)
                .map(|old| std::mem::take(&mut old.owed))
                .unwrap_or_default();
            self.registrations.insert(
                h.0,
                Registration {
                    ext,
                    hinst,
                    key,
                    device,
                    source,
                    guid,
                    at,
                    state: RegState::Live,
                    owed,
                },
            );
            self.live_handles.push(h);
            self.live_by_key.entry(key).or_default().push(h);
            return;
        }
        if injected {
            return;
        }
        let call = format!(
            "{}'s Register({}, {}) at event {at}",
            self.name(ext),
            DevArg(device, source),
            guid_text(&guid)
        );
        match last_error {
            ERROR_BUSY => {
                let msg = format!("{call} got ERROR_BUSY{}", self.busy_context(event.thread));
                self.report(Rule::BusyReentry, ext, seq, msg);
            }
            ERROR_ALREADY_ASSIGNED => {
                let earlier = self.live_by_key.get(&key).and_then(|live| {
                    live.iter()
                        .copied()
                        .find(|h| self.registrations.get(h.0).is_some_and(|r| r.ext == ext))
                });
                let holds = match earlier {
                    Some(h) => format!(
                        "it already holds handle #{} for that device and GUID (registered at event {})",
                        h.0,
                        self.registrations.get(h.0).map_or(0, |r| r.at)
                    ),
                    None => "it already holds a registration for that device and GUID".to_string(),
                };
                let msg = format!("{call} got ERROR_ALREADY_ASSIGNED: {holds}");
                self.report(Rule::DuplicateRegistration, ext, seq, msg);
            }
            _ => {}
        }
    }

    pub(super) fn on_unregister_call(&mut self, event: &Event, handle: HandleArg) {
        self.callback_lifecycle(event);
        self.thread(event.thread).calls.push(Frame::Unregister {
            at: event.seq,
            handle,
        });
    }

    pub(super) fn on_unregister_return(&mut self, event: &Event, code: u32, injected: bool) {
        let seq = event.seq;
        let ext = event.ext;
        let Some(Frame::Unregister { at, handle }) =
            self.pop_frame(event.thread, |f| matches!(f, Frame::Unregister { .. }))
        else {
            return;
        };
        // Choice (docs/choices.md): an FSP that unregisters its own handle from inside its
        // FaxDevShutdown is told ERROR_SHUTDOWN_IN_PROGRESS, yet the registration is
        // released, so a careful FSP ends with none held.
        let released_in_shutdown = code == ERROR_SHUTDOWN_IN_PROGRESS
            && !injected
            && self
                .ext_state(ext)
                .is_some_and(|s| s.shutdown_at.is_some() && s.loaded)
            && matches!(handle, HandleArg::Handle(h)
                if self.registrations.get(h.0).is_some_and(|r| r.ext == ext));
        // The same handle unregistered again in FaxDevShutdown gets the same answer, but
        // the first call released it: the second is as stale as after any release.
        if released_in_shutdown
            && let HandleArg::Handle(h) = handle
            && let Some(RegState::Unregistered(u) | RegState::Dropped(u)) =
                self.registrations.get(h.0).map(|r| r.state)
        {
            let how = match self.registrations.get(h.0).map(|r| r.state) {
                Some(RegState::Dropped(_)) => "dropped by the service",
                _ => "released by an Unregister",
            };
            let msg = format!(
                "{}'s Unregister(handle #{}) at event {at} in FaxDevShutdown got {}, but {} was already {how} at event {u}",
                self.name(ext),
                h.0,
                win32_name(code),
                self.registration_text(h)
            );
            self.report(Rule::StaleUnregister, ext, seq, msg);
            return;
        }
        if code == ERROR_SUCCESS || released_in_shutdown {
            if let HandleArg::Handle(h) = handle
                && let Some(r) = self.registrations.get_mut(h.0)
                && r.state == RegState::Live
            {
                r.state = RegState::Unregistered(seq);
                self.remove_live(h);
                self.cancel_owed_to(h);
            }
            return;
        }
        if injected {
            return;
        }
        let call = match handle {
            HandleArg::Handle(h) => format!(
                "{}'s Unregister(handle #{}) at event {at}",
                self.name(ext),
                h.0
            ),
            other => format!("{}'s Unregister({other}) at event {at}", self.name(ext)),
        };
        match code {
            ERROR_BUSY => {
                let msg = format!("{call} got ERROR_BUSY{}", self.busy_context(event.thread));
                self.report(Rule::BusyReentry, ext, seq, msg);
            }
            ERROR_NOT_FOUND => {
                let why = match handle {
                    HandleArg::Handle(h) => match self.registrations.get(h.0).map(|r| r.state) {
                        Some(RegState::Unregistered(u)) => format!(
                            "{} was already unregistered at event {u}",
                            self.registration_text(h)
                        ),
                        Some(RegState::Dropped(d)) => format!(
                            "{} was dropped by the service at event {d}",
                            self.registration_text(h)
                        ),
                        Some(RegState::Live) => format!(
                            "{} is live, yet the service answered ERROR_NOT_FOUND",
                            self.registration_text(h)
                        ),
                        None => format!("handle #{} was never issued", h.0),
                    },
                    HandleArg::Foreign(n) => {
                        format!("foreign value #{} was never issued by Register", n.0)
                    }
                    HandleArg::Null | HandleArg::InvalidValue => {
                        format!("{handle} was never issued by Register")
                    }
                };
                let msg = format!("{call} got {}: {why}", win32_name(code));
                self.report(Rule::StaleUnregister, ext, seq, msg);
            }
            _ => {}
        }
    }

    /// Takes `h` out of the live lists (its registration is over or replaced).
    fn remove_live(&mut self, h: HandleId) {
        self.live_handles.retain(|x| *x != h);
        if let Some(key) = self.registrations.get(h.0).map(|r| r.key)
            && let Some(list) = self.live_by_key.get_mut(&key)
        {
            list.retain(|x| *x != h);
        }
    }

    /// Drops the registrations matching `pred` (service stop, restart, unload).
    pub(super) fn drop_registrations(&mut self, seq: u64, pred: impl Fn(&Registration) -> bool) {
        let mut dropped = false;
        for h in &self.live_handles {
            if let Some(r) = self.registrations.get_mut(h.0)
                && pred(r)
            {
                r.state = RegState::Dropped(seq);
                dropped = true;
            }
        }
        if dropped {
            let regs = &self.registrations;
            self.live_handles
                .retain(|h| regs.get(h.0).is_some_and(|r| r.state == RegState::Live));
            for list in self.live_by_key.values_mut() {
                list.retain(|h| regs.get(h.0).is_some_and(|r| r.state == RegState::Live));
            }
            self.cancel_pending_where(|_, r| r.state != RegState::Live);
        }
    }

    pub(super) fn registration_text(&self, h: HandleId) -> String {
        match self.registrations.get(h.0) {
            Some(r) => format!(
                "handle #{} of {} ({}, {}, registered at event {})",
                h.0,
                self.name(r.ext),
                DevArg(r.device, r.source),
                guid_text(&r.guid),
                r.at
            ),
            None => format!("handle #{}", h.0),
        }
    }
}
