//! Status codes of the two error domains and the five service callbacks.
//!
//! Init and ConfigChange speak HRESULT; GetData, SetData, Register (through
//! the thread's last error) and Unregister speak Win32 codes. Keeping them in
//! separate types and tables stops one domain being reported as the other.

use crate::types::{HRESULT, WIN32_ERROR};

/// Success in the Win32 domain.
pub const ERROR_SUCCESS: WIN32_ERROR = 0;
/// No device with that id, or no data under that GUID.
pub const ERROR_FILE_NOT_FOUND: WIN32_ERROR = 2;
/// Rights missing; reported to external (RPC/COM) writers.
pub const ERROR_ACCESS_DENIED: WIN32_ERROR = 5;
/// A handle argument is not a handle at all.
pub const ERROR_INVALID_HANDLE: WIN32_ERROR = 6;
/// The service could not allocate.
pub const ERROR_NOT_ENOUGH_MEMORY: WIN32_ERROR = 8;
/// Allocation failure as some Win32 paths spell it.
pub const ERROR_OUTOFMEMORY: WIN32_ERROR = 14;
/// Internal service failure.
pub const ERROR_GEN_FAILURE: WIN32_ERROR = 31;
/// Operation not supported.
pub const ERROR_NOT_SUPPORTED: WIN32_ERROR = 50;
/// The extension already holds a registration for this device and GUID.
pub const ERROR_ALREADY_ASSIGNED: WIN32_ERROR = 85;
/// At least one argument is invalid.
pub const ERROR_INVALID_PARAMETER: WIN32_ERROR = 87;
/// A caller's buffer is too small.
pub const ERROR_INSUFFICIENT_BUFFER: WIN32_ERROR = 122;
/// A notification is being delivered; retry later.
pub const ERROR_BUSY: WIN32_ERROR = 170;
/// Stored data is corrupt. The GetData docs misspell it `ERROR_BAD_DB`.
pub const ERROR_BADDB: WIN32_ERROR = 1009;
/// Corrupt-data code of GetData's RPC twin.
pub const ERROR_REGISTRY_CORRUPT: WIN32_ERROR = 1015;
/// The service is shutting down.
pub const ERROR_SHUTDOWN_IN_PROGRESS: WIN32_ERROR = 1115;
/// Unregister got a handle it does not know.
pub const ERROR_NOT_FOUND: WIN32_ERROR = 1168;
/// FaxRouteDeviceEnable's answer for an unconfigured target.
pub const ERROR_BAD_CONFIGURATION: WIN32_ERROR = 1610;

/// The success value the faxext docs name; typed HRESULT here because both
/// functions that return it do (windows-sys types it `u32`).
pub const NOERROR: HRESULT = 0;
/// HRESULT success.
pub const S_OK: HRESULT = 0;
/// A success code that is not `NOERROR`; Init treats it as failure.
pub const S_FALSE: HRESULT = 1;
/// Generic HRESULT failure.
pub const E_FAIL: HRESULT = 0x8000_4005_u32 as i32;
/// Not implemented.
pub const E_NOTIMPL: HRESULT = 0x8000_4001_u32 as i32;
/// A NULL pointer where one is required.
pub const E_POINTER: HRESULT = 0x8000_4003_u32 as i32;
/// Invalid argument.
pub const E_INVALIDARG: HRESULT = 0x8007_0057_u32 as i32;
/// Allocation failure.
pub const E_OUTOFMEMORY: HRESULT = 0x8007_000E_u32 as i32;
/// Catastrophic or unexpected failure.
pub const E_UNEXPECTED: HRESULT = 0x8000_FFFF_u32 as i32;

/// Largest blob an external (RPC) writer may send: MS-FAX's
/// `FAX_MAX_RPC_BUFFER`, so the model rejects what the real service would.
pub const MAX_EXTERNAL_WRITE_BYTES: u32 = 0x0010_0000;

/// Win32 codes this crate can name, in numeric order.
pub const WIN32_ERROR_NAMES: &[(WIN32_ERROR, &str)] = &[
    (ERROR_SUCCESS, "ERROR_SUCCESS"),
    (ERROR_FILE_NOT_FOUND, "ERROR_FILE_NOT_FOUND"),
    (ERROR_ACCESS_DENIED, "ERROR_ACCESS_DENIED"),
    (ERROR_INVALID_HANDLE, "ERROR_INVALID_HANDLE"),
    (ERROR_NOT_ENOUGH_MEMORY, "ERROR_NOT_ENOUGH_MEMORY"),
    (ERROR_OUTOFMEMORY, "ERROR_OUTOFMEMORY"),
    (ERROR_GEN_FAILURE, "ERROR_GEN_FAILURE"),
    (ERROR_NOT_SUPPORTED, "ERROR_NOT_SUPPORTED"),
    (ERROR_ALREADY_ASSIGNED, "ERROR_ALREADY_ASSIGNED"),
    (ERROR_INVALID_PARAMETER, "ERROR_INVALID_PARAMETER"),
    (ERROR_INSUFFICIENT_BUFFER, "ERROR_INSUFFICIENT_BUFFER"),
    (ERROR_BUSY, "ERROR_BUSY"),
    (ERROR_BADDB, "ERROR_BADDB"),
    (ERROR_REGISTRY_CORRUPT, "ERROR_REGISTRY_CORRUPT"),
    (ERROR_SHUTDOWN_IN_PROGRESS, "ERROR_SHUTDOWN_IN_PROGRESS"),
    (ERROR_NOT_FOUND, "ERROR_NOT_FOUND"),
    (ERROR_BAD_CONFIGURATION, "ERROR_BAD_CONFIGURATION"),
];

/// HRESULTs this crate can name; 0 is named `S_OK` (`NOERROR` is an alias).
pub const HRESULT_NAMES: &[(HRESULT, &str)] = &[
    (S_OK, "S_OK"),
    (S_FALSE, "S_FALSE"),
    (E_FAIL, "E_FAIL"),
    (E_NOTIMPL, "E_NOTIMPL"),
    (E_POINTER, "E_POINTER"),
    (E_INVALIDARG, "E_INVALIDARG"),
    (E_OUTOFMEMORY, "E_OUTOFMEMORY"),
    (E_UNEXPECTED, "E_UNEXPECTED"),
];

/// C name of a Win32 code, for traces and findings.
pub fn win32_error_name(code: WIN32_ERROR) -> Option<&'static str> {
    WIN32_ERROR_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

/// Parses a Win32 code name; accepts the docs' spelling `ERROR_BAD_DB`.
pub fn win32_error_from_name(name: &str) -> Option<WIN32_ERROR> {
    if name == "ERROR_BAD_DB" {
        return Some(ERROR_BADDB);
    }
    WIN32_ERROR_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(c, _)| *c)
}

/// C name of an HRESULT, for traces and findings.
pub fn hresult_name(hr: HRESULT) -> Option<&'static str> {
    HRESULT_NAMES
        .iter()
        .find(|(c, _)| *c == hr)
        .map(|(_, n)| *n)
}

/// Parses an HRESULT name; accepts `NOERROR` for 0.
pub fn hresult_from_name(name: &str) -> Option<HRESULT> {
    if name == "NOERROR" {
        return Some(NOERROR);
    }
    HRESULT_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(c, _)| *c)
}

/// The five callbacks the service hands to FaxExtInitializeConfig; used to
/// label calls in traces, fault injection and findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Callback {
    /// `FaxExtGetData`
    GetData,
    /// `FaxExtSetData`
    SetData,
    /// `FaxExtRegisterForEvents`
    RegisterForEvents,
    /// `FaxExtUnregisterForEvents`
    UnregisterForEvents,
    /// `FaxExtFreeBuffer`
    FreeBuffer,
}

impl Callback {
    /// All five, in FaxExtInitializeConfig's parameter order.
    pub const ALL: [Callback; 5] = [
        Callback::GetData,
        Callback::SetData,
        Callback::RegisterForEvents,
        Callback::UnregisterForEvents,
        Callback::FreeBuffer,
    ];

    /// The C function name, as the docs and traces from Windows use it.
    pub fn name(self) -> &'static str {
        match self {
            Callback::GetData => "FaxExtGetData",
            Callback::SetData => "FaxExtSetData",
            Callback::RegisterForEvents => "FaxExtRegisterForEvents",
            Callback::UnregisterForEvents => "FaxExtUnregisterForEvents",
            Callback::FreeBuffer => "FaxExtFreeBuffer",
        }
    }

    /// Short command-line spelling.
    pub fn kebab(self) -> &'static str {
        match self {
            Callback::GetData => "get-data",
            Callback::SetData => "set-data",
            Callback::RegisterForEvents => "register",
            Callback::UnregisterForEvents => "unregister",
            Callback::FreeBuffer => "free-buffer",
        }
    }

    /// Inverse of [`Callback::kebab`].
    pub fn from_kebab(s: &str) -> Option<Callback> {
        Callback::ALL.into_iter().find(|c| c.kebab() == s)
    }

    /// Inverse of [`Callback::name`].
    pub fn from_name(s: &str) -> Option<Callback> {
        Callback::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Non-success codes the docs list for this callback, so fault injection
    /// only injects what a real service may return. Register reports these
    /// through the thread's last error with a NULL handle.
    pub fn documented_errors(self) -> &'static [WIN32_ERROR] {
        match self {
            Callback::GetData => &[
                ERROR_INVALID_PARAMETER,
                ERROR_NOT_ENOUGH_MEMORY,
                ERROR_BADDB,
                ERROR_FILE_NOT_FOUND,
                ERROR_GEN_FAILURE,
                ERROR_SHUTDOWN_IN_PROGRESS,
            ],
            Callback::SetData => &[
                ERROR_INVALID_PARAMETER,
                ERROR_NOT_ENOUGH_MEMORY,
                ERROR_FILE_NOT_FOUND,
                ERROR_GEN_FAILURE,
                ERROR_SHUTDOWN_IN_PROGRESS,
            ],
            Callback::RegisterForEvents => &[
                ERROR_INVALID_PARAMETER,
                ERROR_BUSY,
                ERROR_ALREADY_ASSIGNED,
                ERROR_NOT_ENOUGH_MEMORY,
                ERROR_GEN_FAILURE,
                ERROR_SHUTDOWN_IN_PROGRESS,
            ],
            Callback::UnregisterForEvents => &[
                ERROR_NOT_FOUND,
                ERROR_INVALID_PARAMETER,
                ERROR_NOT_ENOUGH_MEMORY,
                ERROR_GEN_FAILURE,
                ERROR_SHUTDOWN_IN_PROGRESS,
                ERROR_BUSY,
            ],
            Callback::FreeBuffer => &[],
        }
    }

    /// The documented codes a service may return whatever state it is in: running out
    /// of memory, a general failure, and for GetData a damaged registry. The others hold
    /// only in a state (`ERROR_SHUTDOWN_IN_PROGRESS` while stopping, `ERROR_BUSY` during
    /// a delivery, `ERROR_ALREADY_ASSIGNED` for a real duplicate, `ERROR_NOT_FOUND` for
    /// an unknown handle, `ERROR_FILE_NOT_FOUND` for a missing value,
    /// `ERROR_INVALID_PARAMETER` for a bad argument), where the service returns them by
    /// itself; injecting them elsewhere would make an extension handle a failure no real
    /// service gives it.
    pub fn injectable_anywhere(self) -> &'static [WIN32_ERROR] {
        match self {
            Callback::GetData => &[ERROR_NOT_ENOUGH_MEMORY, ERROR_BADDB, ERROR_GEN_FAILURE],
            Callback::SetData | Callback::RegisterForEvents | Callback::UnregisterForEvents => {
                &[ERROR_NOT_ENOUGH_MEMORY, ERROR_GEN_FAILURE]
            }
            Callback::FreeBuffer => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn win32_names_round_trip_and_are_unique() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for &(code, name) in WIN32_ERROR_NAMES {
            assert!(codes.insert(code), "duplicate code {code}");
            assert!(names.insert(name), "duplicate name {name}");
            assert_eq!(win32_error_name(code), Some(name));
            assert_eq!(win32_error_from_name(name), Some(code));
        }
        assert!(WIN32_ERROR_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn hresult_names_round_trip_and_are_unique() {
        let mut codes = HashSet::new();
        for &(hr, name) in HRESULT_NAMES {
            assert!(codes.insert(hr), "duplicate HRESULT {hr:#x}");
            assert_eq!(hresult_name(hr), Some(name));
            assert_eq!(hresult_from_name(name), Some(hr));
        }
    }

    #[test]
    fn aliases() {
        assert_eq!(win32_error_from_name("ERROR_BAD_DB"), Some(1009));
        assert_eq!(win32_error_name(1009), Some("ERROR_BADDB"));
        assert_eq!(hresult_from_name("NOERROR"), Some(0));
        assert_eq!(hresult_name(NOERROR), Some("S_OK"));
    }

    #[test]
    fn unknown_values() {
        assert_eq!(win32_error_name(4), None);
        assert_eq!(win32_error_from_name("ERROR_NOPE"), None);
        assert_eq!(win32_error_from_name("error_busy"), None);
        assert_eq!(hresult_name(-1), None);
        assert_eq!(hresult_from_name("E_NOPE"), None);
    }

    #[test]
    fn documented_values() {
        assert_eq!(ERROR_BUSY, 170);
        assert_eq!(ERROR_BADDB, 1009);
        assert_eq!(ERROR_SHUTDOWN_IN_PROGRESS, 1115);
        assert_eq!(ERROR_NOT_FOUND, 1168);
        assert_eq!(E_FAIL as u32, 0x8000_4005);
        assert_eq!(MAX_EXTERNAL_WRITE_BYTES, 1024 * 1024);
    }

    #[test]
    fn every_documented_error_has_a_name_and_is_not_success() {
        for cb in Callback::ALL {
            let errs = cb.documented_errors();
            let unique: HashSet<_> = errs.iter().collect();
            assert_eq!(unique.len(), errs.len(), "{cb:?} lists a code twice");
            for &code in errs {
                assert_ne!(code, ERROR_SUCCESS);
                assert!(win32_error_name(code).is_some(), "{cb:?}: {code}");
            }
        }
        assert!(Callback::FreeBuffer.documented_errors().is_empty());
        for cb in Callback::ALL {
            for code in cb.injectable_anywhere() {
                assert!(cb.documented_errors().contains(code), "{cb:?}: {code}");
            }
        }
        assert_eq!(Callback::GetData.documented_errors().len(), 6);
        assert!(Callback::GetData.documented_errors().contains(&ERROR_BADDB));
        assert!(!Callback::SetData.documented_errors().contains(&ERROR_BADDB));
        assert!(
            Callback::RegisterForEvents
                .documented_errors()
                .contains(&ERROR_ALREADY_ASSIGNED)
        );
        assert!(
            Callback::UnregisterForEvents
                .documented_errors()
                .contains(&ERROR_NOT_FOUND)
        );
    }

    #[test]
    fn callback_names_round_trip() {
        let mut kebabs = HashSet::new();
        for cb in Callback::ALL {
            assert!(kebabs.insert(cb.kebab()));
            assert_eq!(Callback::from_kebab(cb.kebab()), Some(cb));
            assert_eq!(Callback::from_name(cb.name()), Some(cb));
        }
        assert_eq!(
            Callback::from_kebab("register"),
            Some(Callback::RegisterForEvents)
        );
        assert_eq!(
            Callback::RegisterForEvents.name(),
            "FaxExtRegisterForEvents"
        );
        assert_eq!(Callback::from_kebab("GetData"), None);
        assert_eq!(Callback::from_name("FaxExtConfigChange"), None);
        assert!(Callback::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
