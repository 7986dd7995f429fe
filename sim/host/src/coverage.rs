//! What a validate run exercised of one library, read from its events: which entry points
//! the service called and how often, which callbacks the library used, which of the
//! battery's planned failures found a call to fail. A report that says only "no findings"
//! cannot tell a careful library from one the battery never reached; this can.

use std::collections::{BTreeMap, BTreeSet};

use faxsim_abi::Callback;
use faxsim_trace::{Crossing, Direction, Event, EventKind, ExtId, Half};

/// What one library was exercised with, over one run or several (see [`Coverage::merge`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Calls the service made into the library, by entry point (ConfigChange included).
    pub entry_points: BTreeMap<Crossing, u64>,
    /// Calls into job and routing-method entry points, by function name.
    pub other_entry_points: BTreeMap<String, u64>,
    /// Calls the library made to the service, by callback.
    pub callbacks: BTreeMap<Crossing, u64>,
    /// Calls the library made to the `FAX_ROUTE_CALLBACKROUTINES` routines, by name.
    pub routines: BTreeMap<&'static str, u64>,
    /// Injected failures that fired: the callback and the code it returned.
    pub faults_fired: BTreeSet<(Callback, u32)>,
    /// Service runs in which the general init (`FaxDevInitialize`, `FaxRouteInitialize`)
    /// returned FALSE: the service did not use the library for the rest of each.
    pub init_refused: u64,
    /// Why the service refused the virtual FSP's devices (and so did not use it), with
    /// how many service runs each reason held for.
    pub devices_refused: BTreeMap<String, u64>,
}

/// The callbacks the battery plans failures for: each code of each that a service may
/// return in any state fails once per library (`battery::drive`).
pub const FAULTED: [Callback; 3] = [
    Callback::GetData,
    Callback::SetData,
    Callback::RegisterForEvents,
];

/// The five service callbacks, in the order reports list them.
pub const CALLBACKS: [Crossing; 5] = [
    Crossing::GetData,
    Crossing::SetData,
    Crossing::Register,
    Crossing::Unregister,
    Crossing::FreeBuffer,
];

impl Coverage {
    /// The coverage of extension `ext` in `events`.
    pub fn of(events: &[Event], ext: ExtId) -> Coverage {
        let mut c = Coverage {
            devices_refused: refused_devices(events, ext),
            ..Coverage::default()
        };
        for e in events.iter().filter(|e| e.ext == Some(ext)) {
            if let Some(Half::Call(crossing)) = e.kind.half() {
                match (crossing.direction(), &e.kind) {
                    (_, EventKind::RouteFileCall { routine, .. }) => {
                        *c.routines.entry(routine.function()).or_default() += 1;
                    }
                    (_, EventKind::EntryPointCall { function }) => {
                        *c.other_entry_points
                            .entry(function.to_string())
                            .or_default() += 1;
                    }
                    (Direction::ToExtension, _) => {
                        *c.entry_points.entry(crossing).or_default() += 1
                    }
                    (Direction::ToService, _) => *c.callbacks.entry(crossing).or_default() += 1,
                    (Direction::External, _) => {}
                }
            }
            let fired = match e.kind {
                EventKind::GetDataReturn {
                    code,
                    injected: true,
                    ..
                } => Some((Callback::GetData, code)),
                EventKind::SetDataReturn {
                    code,
                    injected: true,
                } => Some((Callback::SetData, code)),
                EventKind::RegisterReturn {
                    last_error,
                    injected: true,
                    ..
                } => Some((Callback::RegisterForEvents, last_error)),
                EventKind::UnregisterReturn {
                    code,
                    injected: true,
                } => Some((Callback::UnregisterForEvents, code)),
                _ => None,
            };
            if let Some(f) = fired {
                c.faults_fired.insert(f);
            }
            if matches!(
                e.kind,
                EventKind::DevInitializeReturn { ok: false }
                    | EventKind::RouteInitializeReturn { ok: false }
            ) {
                c.init_refused += 1;
            }
        }
        c
    }

    /// Adds another run's coverage (the report over several seeds).
    pub fn merge(&mut self, other: &Coverage) {
        for (k, n) in &other.entry_points {
            *self.entry_points.entry(*k).or_default() += n;
        }
        for (k, n) in &other.other_entry_points {
            *self.other_entry_points.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.callbacks {
            *self.callbacks.entry(*k).or_default() += n;
        }
        for (k, n) in &other.routines {
            *self.routines.entry(k).or_default() += n;
        }
        self.faults_fired.extend(other.faults_fired.iter().copied());
        self.init_refused += other.init_refused;
        for (k, n) in &other.devices_refused {
            *self.devices_refused.entry(k.clone()).or_default() += n;
        }
    }

    /// How many times the general init was called (every service run it was reached).
    pub fn general_inits(&self) -> u64 {
        [Crossing::DevInitialize, Crossing::RouteInitialize]
            .iter()
            .filter_map(|k| self.entry_points.get(k))
            .sum()
    }

    /// How many times the library called `callback`.
    pub fn calls(&self, callback: Crossing) -> u64 {
        self.callbacks.get(&callback).copied().unwrap_or(0)
    }

    /// Configuration calls: GetData, SetData and RegisterForEvents (the calls every rule
    /// about buffers, writes and registrations starts from).
    pub fn configuration_calls(&self) -> u64 {
        self.calls(Crossing::GetData)
            + self.calls(Crossing::SetData)
            + self.calls(Crossing::Register)
    }

    /// The battery's planned failures that never found a call to fail, by callback.
    pub fn faults_not_reached(&self) -> Vec<(Callback, Vec<u32>)> {
        FAULTED
            .iter()
            .filter_map(|&cb| {
                let missing: Vec<u32> = cb
                    .injectable_anywhere()
                    .iter()
                    .copied()
                    .filter(|code| !self.faults_fired.contains(&(cb, *code)))
                    .collect();
                (!missing.is_empty()).then_some((cb, missing))
            })
            .collect()
    }

    /// How many planned failures there are, and how many fired.
    pub fn faults_planned_fired(&self) -> (usize, usize) {
        let planned: usize = FAULTED.iter().map(|c| c.injectable_anywhere().len()).sum();
        let fired = self
            .faults_fired
            .iter()
            .filter(|(cb, code)| FAULTED.contains(cb) && cb.injectable_anywhere().contains(code))
            .count();
        (planned, fired)
    }
}

/// Why each of `ext`'s virtual device creations that did not give it devices was refused
/// (choices L7), with how many times: the devices that existed are followed through the
/// events, so a collision names the device it hit.
fn refused_devices(events: &[Event], ext: ExtId) -> BTreeMap<String, u64> {
    let mut refused = BTreeMap::new();
    let mut devices = BTreeSet::new();
    let mut asked: Option<(bool, u32, u32)> = None;
    let mut settle = |asked: &mut Option<(bool, u32, u32)>, devices: &BTreeSet<u32>| {
        let Some((ok, count, prefix)) = asked.take() else {
            return;
        };
        let last = prefix.checked_add(count.saturating_sub(1));
        let why = if !ok {
            "FaxDevVirtualDeviceCreation returned FALSE".to_string()
        } else if count == 0 {
            "it asked for 0 devices".to_string()
        } else if prefix == 0 {
            "its DeviceIdPrefix is 0".to_string()
        } else if let Some(last) = last {
            match devices.range(prefix..=last).next() {
                Some(d) => format!(
                    "its device ids {prefix:#x}..={last:#x} collide with device {d:#x}, which \
                     already exists"
                ),
                None => return,
            }
        } else {
            format!("its device ids from {prefix:#x} ({count} of them) overflow 32 bits")
        };
        *refused.entry(why).or_default() += 1;
    };
    for e in events {
        match &e.kind {
            EventKind::VirtualDeviceCreationReturn {
                ok,
                count,
                id_prefix,
                ..
            } if e.ext == Some(ext) => asked = Some((*ok, *count, *id_prefix)),
            EventKind::DeviceAdded { owner, device, .. } => {
                if *owner == Some(ext) {
                    asked = None;
                }
                devices.insert(*device);
            }
            EventKind::DeviceRemoved { device } => {
                devices.remove(device);
            }
            EventKind::ServiceStopped => devices.clear(),
            _ if e.ext == Some(ext) && asked.is_some() => {
                // Its next event after the answer: had the devices been created, their
                // DeviceAdded events would have come first.
                settle(&mut asked, &devices)
            }
            _ => {}
        }
    }
    settle(&mut asked, &devices);
    refused
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxsim_trace::{BufferArg, BufferId};

    fn ev(seq: u64, ext: u16, kind: EventKind) -> Event {
        Event {
            seq,
            time: 0,
            thread: 0,
            ext: Some(ExtId(ext)),
            kind,
        }
    }

    #[test]
    fn counts_calls_both_ways_and_the_failures_that_fired() {
        let events = vec![
            ev(0, 0, EventKind::InitializeConfigCall),
            ev(1, 0, EventKind::InitializeConfigReturn { hr: 0 }),
            ev(
                2,
                0,
                EventKind::GetDataCall {
                    device: 0,
                    source: 0,
                    guid: None,
                    null_out: false,
                },
            ),
            ev(
                3,
                0,
                EventKind::GetDataReturn {
                    code: faxsim_abi::ERROR_GEN_FAILURE,
                    buffer: None,
                    data: None,
                    injected: true,
                },
            ),
            ev(
                4,
                0,
                EventKind::FreeBufferCall {
                    buffer: BufferArg::Buffer(BufferId(1)),
                },
            ),
            // Another extension's call is not this one's.
            ev(5, 1, EventKind::InitializeConfigCall),
            ev(6, 0, EventKind::RouteInitializeCall),
            ev(7, 0, EventKind::RouteInitializeReturn { ok: false }),
            ev(8, 1, EventKind::RouteInitializeReturn { ok: false }),
        ];
        let c = Coverage::of(&events, ExtId(0));
        assert_eq!(c.entry_points.get(&Crossing::InitializeConfig), Some(&1));
        assert_eq!(c.calls(Crossing::GetData), 1);
        assert_eq!(c.calls(Crossing::FreeBuffer), 1);
        assert_eq!(c.configuration_calls(), 1);
        assert_eq!((c.general_inits(), c.init_refused), (1, 1));
        let (planned, fired) = c.faults_planned_fired();
        assert_eq!(fired, 1);
        assert_eq!(planned, 7);
        let missing = c.faults_not_reached();
        let get = missing
            .iter()
            .find(|(cb, _)| *cb == Callback::GetData)
            .unwrap();
        assert!(!get.1.contains(&faxsim_abi::ERROR_GEN_FAILURE));
        let mut twice = c.clone();
        twice.merge(&c);
        assert_eq!(twice.calls(Crossing::GetData), 2);
        assert_eq!(twice.faults_fired, c.faults_fired);
    }
}
