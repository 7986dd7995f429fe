//! The container's version and the typed compatibility check.

use std::fmt;

/// A trace format version. A new *minor* version only adds things an older reader can
/// skip (frame kinds, trailing fields of a frame); a new *major* version may change
/// anything, and an older reader refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FormatVersion {
    /// Incompatible changes.
    pub major: u16,
    /// Compatible additions.
    pub minor: u16,
}

/// The version this build writes, and the newest it fully understands.
pub const CURRENT: FormatVersion = V1_3;

/// Format 1.0: the configuration protocol (`faxext.h`) and the lifecycle.
pub const V1_0: FormatVersion = FormatVersion { major: 1, minor: 0 };

/// Format 1.1 added the routing entry points a running service calls
/// (`FaxRouteDeviceEnable`, `FaxRouteGetRoutingInfo`, `FaxRouteSetRoutingInfo`) and a
/// generic event for entry points forwarded but not modelled, in frames of kind `0x81`.
pub const V1_1: FormatVersion = FormatVersion { major: 1, minor: 1 };

/// Format 1.2 added what routing a received fax involves: the start and end of routing a
/// job and the job-side routines of `FAX_ROUTE_CALLBACKROUTINES` (file list, routing
/// data), in frames of kind `0x82`.
pub const V1_2: FormatVersion = FormatVersion { major: 1, minor: 2 };

/// Format 1.3 added `part` frames (kind `0x04`), so an event larger than one frame (a
/// large configuration value) is written whole: parts, then a last frame of the event's
/// own kind. No event kind changed.
pub const V1_3: FormatVersion = FormatVersion { major: 1, minor: 3 };

/// What a reader can do with a file of some version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compatibility {
    /// The reader knows every frame the file can hold.
    Full,
    /// The file has a newer minor version: readable, but frames and fields the reader
    /// does not know are skipped (each skip is reported as a [`Note`](crate::Note)).
    NewerMinor,
    /// The file has a newer major version: refused.
    NewerMajor,
    /// The file has an older major version this build no longer reads (none exists yet:
    /// 1 is the first; 0 was never written).
    OlderMajor,
}

impl Compatibility {
    /// Whether the file can be read at all.
    pub fn is_readable(self) -> bool {
        matches!(self, Compatibility::Full | Compatibility::NewerMinor)
    }
}

impl FormatVersion {
    /// Whether a file of this version can be read by a reader of version `reader`.
    pub fn check_readable_by(self, reader: FormatVersion) -> Compatibility {
        use std::cmp::Ordering::*;
        match self.major.cmp(&reader.major) {
            Greater => Compatibility::NewerMajor,
            Less => Compatibility::OlderMajor,
            Equal if self.minor > reader.minor => Compatibility::NewerMinor,
            Equal => Compatibility::Full,
        }
    }
}

impl fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl std::str::FromStr for FormatVersion {
    type Err = ();

    /// `"MAJOR.MINOR"`.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (a, b) = s.split_once('.').ok_or(())?;
        Ok(FormatVersion {
            major: a.parse().map_err(|_| ())?,
            minor: b.parse().map_err(|_| ())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u16, minor: u16) -> FormatVersion {
        FormatVersion { major, minor }
    }

    #[test]
    fn compatibility_table() {
        let reader = v(1, 2);
        for (file, expected) in [
            (v(1, 0), Compatibility::Full),
            (v(1, 2), Compatibility::Full),
            (v(1, 3), Compatibility::NewerMinor),
            (v(2, 0), Compatibility::NewerMajor),
            (v(0, 9), Compatibility::OlderMajor),
        ] {
            assert_eq!(file.check_readable_by(reader), expected, "file {file}");
        }
        assert_eq!("2.10".parse(), Ok(v(2, 10)));
        assert_eq!("2".parse::<FormatVersion>(), Err(()));
    }
}
