//! Message text: how findings name extensions, devices, GUIDs, hInst values and calls.
//! Nothing here keeps state; text is only formatted when a finding is made.

use std::fmt;

use faxsim_trace::{
    BufferArg, EventKind, ExtId, GuidArg, HInstArg, HandleArg, SOURCE_FAX, SOURCE_TAPI,
};

use super::Checker;
use crate::guid::parse_braced_guid;

/// An extension's name from the config, or `ext#N`.
pub(super) struct Name<'a>(pub(super) &'a [String], pub(super) Option<ExtId>);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            None => f.write_str("an unknown extension"),
            Some(e) => match self.0.get(e.index()) {
                Some(n) => f.write_str(n),
                None => write!(f, "ext#{}", e.0),
            },
        }
    }
}

/// `device D`, with the id space when it is not the logical one.
pub(super) struct DevArg(pub(super) u32, pub(super) i32);

impl fmt::Display for DevArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device {}", self.0)?;
        match self.1 {
            _ if self.0 == 0 => Ok(()),
            SOURCE_FAX => Ok(()),
            SOURCE_TAPI => f.write_str(" (TAPI)"),
            other => write!(f, " (source {other})"),
        }
    }
}

/// A GUID argument as passed: `NULL`, or the string (quoted when not a braced GUID).
pub(super) struct GuidText<'a>(pub(super) Option<&'a str>);

impl fmt::Display for GuidText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("NULL"),
            Some(g) if parse_braced_guid(g).is_some() => f.write_str(g),
            Some(g) => write!(f, "{g:?}"),
        }
    }
}

pub(super) fn guid_text(g: &GuidArg) -> GuidText<'_> {
    GuidText(g.as_deref())
}

/// An hInst argument, naming the extension whose module handle it is.
pub(super) struct HInstText<'a>(pub(super) &'a [String], pub(super) HInstArg);

impl fmt::Display for HInstText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            HInstArg::Null => f.write_str("NULL"),
            HInstArg::Ext(e) => write!(f, "the module handle of {}", Name(self.0, Some(e))),
            HInstArg::Foreign(n) => write!(f, "foreign value #{}", n.0),
        }
    }
}

/// A callback call and its arguments, for lifecycle findings.
pub(super) fn describe_call(kind: &EventKind) -> String {
    match kind {
        EventKind::GetDataCall {
            device,
            source,
            guid,
            ..
        } => format!("GetData({}, {})", DevArg(*device, *source), guid_text(guid)),
        EventKind::SetDataCall {
            device,
            source,
            guid,
            ..
        } => format!("SetData({}, {})", DevArg(*device, *source), guid_text(guid)),
        EventKind::RegisterCall {
            device,
            source,
            guid,
            ..
        } => format!(
            "Register({}, {})",
            DevArg(*device, *source),
            guid_text(guid)
        ),
        EventKind::UnregisterCall { handle } => match handle {
            HandleArg::Handle(h) => format!("Unregister(handle #{})", h.0),
            other => format!("Unregister({other})"),
        },
        EventKind::FreeBufferCall { buffer } => match buffer {
            BufferArg::Buffer(b) => format!("FreeBuffer(buffer #{})", b.0),
            other => format!("FreeBuffer({other})"),
        },
        EventKind::RouteFileCall { routine, job, .. } => {
            format!("{}(job {job})", routine.function())
        }
        other => other.name().to_string(),
    }
}

/// How an init entry point failed: a config init returns a failing HRESULT, a general
/// init FALSE.
pub(super) fn failed_how(entry: &str) -> &'static str {
    if entry == "FaxExtInitializeConfig" {
        "failed"
    } else {
        "returned FALSE"
    }
}

impl Checker {
    pub(super) fn name(&self, ext: Option<ExtId>) -> Name<'_> {
        Name(&self.config.names, ext)
    }
}
