//! What the arguments of a callback call name, and the rules about them: the device id
//! mapping (TAPI permanent line id <-> logical id, rebuilt from device events), GUID
//! values (through a one-entry cache of the last string parsed), and the argument rules
//! `invalid-guid`, `foreign-hinst` and `wrong-id-source`.

use faxsim_trace::{Event, ExtensionKind, GuidArg, HInstArg, SOURCE_FAX, SOURCE_TAPI};

use super::Checker;
use super::messages::{DevArg, HInstText, guid_text};
use crate::guid::parse_braced_guid;
use crate::rules::Rule;

/// A device as the data store keys it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Dev {
    /// A logical (`DEV_ID_SRC_FAX`) id; 0 is global data.
    Logical(u32),
    /// A TAPI id that mapped to no known device when it was used.
    UnmappedTapi(u32),
}

/// The (device, GUID value) a registration or a write is about.
pub(super) type Key = (Dev, Option<u128>);

impl Checker {
    pub(super) fn on_device_added(&mut self, device: u32, tapi: Option<u32>) {
        if let Some(t) = tapi {
            if let Some(old) = self.logical_to_tapi.insert(device, t) {
                self.tapi_to_logical.remove(&old);
            }
            self.tapi_to_logical.insert(t, device);
        }
    }

    pub(super) fn on_device_removed(&mut self, device: u32) {
        if let Some(t) = self.logical_to_tapi.remove(&device) {
            self.tapi_to_logical.remove(&t);
        }
    }

    /// The logical device an id names.
    pub(super) fn resolve(&self, device: u32, source: i32) -> Dev {
        if device != 0 && source == SOURCE_TAPI {
            match self.tapi_to_logical.get(&device) {
                Some(l) => Dev::Logical(*l),
                None => Dev::UnmappedTapi(device),
            }
        } else {
            Dev::Logical(device)
        }
    }

    /// The value of a GUID string, through the one-entry cache.
    pub(super) fn guid_value(&self, g: &std::sync::Arc<str>) -> Option<u128> {
        let mut cache = self.guid_cache.borrow_mut();
        if let Some((cached, value)) = cache.as_ref()
            && std::sync::Arc::ptr_eq(cached, g)
        {
            return *value;
        }
        let value = parse_braced_guid(g);
        *cache = Some((g.clone(), value));
        value
    }

    pub(super) fn guid_arg_value(&self, g: &GuidArg) -> Option<u128> {
        g.as_ref().and_then(|g| self.guid_value(g))
    }

    /// The argument rules of a call that names its caller and a key (SetData, Register):
    /// the GUID's form, the hInst, the device id's source.
    pub(super) fn check_key_arguments(
        &mut self,
        event: &Event,
        call: &str,
        hinst: HInstArg,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        self.check_guid(event, call, device, source, guid);
        self.check_hinst(event, call, hinst, device, source, guid);
        self.check_source(event, call, device, source, guid);
    }

    pub(super) fn check_guid(
        &mut self,
        event: &Event,
        call: &str,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        if self.guid_arg_value(guid).is_some() {
            return;
        }
        let msg = format!(
            "{} called {call}({}) with GUID {}, which is not in braced form {{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}}",
            self.name(event.ext),
            DevArg(device, source),
            guid_text(guid)
        );
        self.report(Rule::InvalidGuid, event.ext, event.seq, msg);
    }

    pub(super) fn check_hinst(
        &mut self,
        event: &Event,
        call: &str,
        hinst: HInstArg,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        let Some(e) = event.ext else {
            return;
        };
        if hinst == HInstArg::Ext(e) {
            return;
        }
        let msg = format!(
            "{} called {call}({}, {}) with hInst {} instead of its own module handle",
            self.name(event.ext),
            DevArg(device, source),
            guid_text(guid),
            HInstText(&self.config.names, hinst)
        );
        self.report(Rule::ForeignHinst, event.ext, event.seq, msg);
    }

    pub(super) fn check_source(
        &mut self,
        event: &Event,
        call: &str,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        if device == 0 {
            return;
        }
        let Some(kind) = self.ext_state(event.ext).and_then(|s| s.kind) else {
            return;
        };
        let wrong = match kind {
            ExtensionKind::Fsp => source == SOURCE_FAX,
            ExtensionKind::VirtualFsp | ExtensionKind::Routing => source == SOURCE_TAPI,
        };
        if !wrong {
            return;
        }
        let (used, should) = match kind {
            ExtensionKind::Fsp => ("DEV_ID_SRC_FAX", "DEV_ID_SRC_TAPI"),
            _ => ("DEV_ID_SRC_TAPI", "DEV_ID_SRC_FAX"),
        };
        let msg = format!(
            "{} ({kind}) called {call}(device {device}, {}) with {used}; {kind} extensions should use {should}",
            self.name(event.ext),
            guid_text(guid)
        );
        self.report(Rule::WrongIdSource, event.ext, event.seq, msg);
    }
}
