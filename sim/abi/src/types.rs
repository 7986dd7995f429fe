//! Scalar and handle types of the fax extension ABI.
//!
//! Each alias has the exact definition `windows-sys` 0.61 uses, so values
//! pass between this crate and `windows-sys` code without casts on every
//! target (the `windows_sys_drift` test enforces it).

use core::ffi::c_void;

/// COM-style status; the domain of FaxExtInitializeConfig and ConfigChange.
pub type HRESULT = i32;
/// Win32 `DWORD`: device ids, sizes and the Win32 error domain.
pub type DWORD = u32;
/// Win32 `DWORD` used as an error code; named for readability at call sites.
pub type WIN32_ERROR = u32;
/// Win32 `BOOL`: any non-zero value is true, so never compare with `TRUE`.
pub type BOOL = i32;
/// Opaque kernel/service handle (registration handles are of this type).
pub type HANDLE = *mut c_void;
/// Module handle; identifies the calling extension in SetData/Register.
pub type HINSTANCE = *mut c_void;
/// NUL-terminated UTF-16 string the callee must not modify (GUID strings).
pub type PCWSTR = *const u16;
/// NUL-terminated UTF-16 buffer the callee fills (virtual device name prefix).
pub type PWSTR = *mut u16;
/// Which numbering a device id belongs to; a C `int`-sized enum.
pub type FAX_ENUM_DEVICE_ID_SOURCE = i32;
/// Pointer-sized unsigned integer (completion keys).
pub type ULONG_PTR = usize;
/// TAPI application handle; windows-sys spells it as a bare `u32`.
pub type HLINEAPP = u32;

/// Win32 true; only for producing values, see [`BOOL`].
pub const TRUE: BOOL = 1;
/// Win32 false.
pub const FALSE: BOOL = 0;

/// Logical ids issued by the fax service or a virtual FSP.
pub const DEV_ID_SRC_FAX: FAX_ENUM_DEVICE_ID_SOURCE = 0;
/// TAPI permanent line ids, used by TAPI-based FSPs.
pub const DEV_ID_SRC_TAPI: FAX_ENUM_DEVICE_ID_SOURCE = 1;

/// Address bits of `INVALID_HANDLE_VALUE` (`(HANDLE)-1`), for comparisons
/// that should not depend on pointer provenance.
pub const INVALID_HANDLE_VALUE_BITS: usize = usize::MAX;

/// Win32's other failure sentinel for handles, besides NULL.
pub const INVALID_HANDLE_VALUE: HANDLE =
    core::ptr::without_provenance_mut(INVALID_HANDLE_VALUE_BITS);

/// True for `(HANDLE)-1`. Compares addresses only, so no unsafe is needed.
pub fn is_invalid_handle_value(h: HANDLE) -> bool {
    h.addr() == INVALID_HANDLE_VALUE_BITS
}

/// True for NULL or `INVALID_HANDLE_VALUE`: the docs name only NULL as
/// Register's failure value, but robust callers must reject both.
pub fn is_null_or_invalid_handle(h: HANDLE) -> bool {
    h.is_null() || is_invalid_handle_value(h)
}

/// C name of a device-id source, for traces and messages.
pub fn source_name(src: FAX_ENUM_DEVICE_ID_SOURCE) -> Option<&'static str> {
    match src {
        DEV_ID_SRC_FAX => Some("DEV_ID_SRC_FAX"),
        DEV_ID_SRC_TAPI => Some("DEV_ID_SRC_TAPI"),
        _ => None,
    }
}

/// Inverse of [`source_name`], for parsing traces and command lines.
pub fn source_from_name(name: &str) -> Option<FAX_ENUM_DEVICE_ID_SOURCE> {
    match name {
        "DEV_ID_SRC_FAX" => Some(DEV_ID_SRC_FAX),
        "DEV_ID_SRC_TAPI" => Some(DEV_ID_SRC_TAPI),
        _ => None,
    }
}

/// Binary GUID with the C layout; needed only by the routing callback table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GUID {
    /// First 32 bits.
    pub data1: u32,
    /// Next 16 bits.
    pub data2: u16,
    /// Next 16 bits.
    pub data3: u16,
    /// Last 64 bits, in textual order.
    pub data4: [u8; 8],
}

impl GUID {
    /// Builds a GUID from its textual order as one number, like windows-sys.
    pub const fn from_u128(uuid: u128) -> Self {
        Self {
            data1: (uuid >> 96) as u32,
            data2: ((uuid >> 80) & 0xffff) as u16,
            data3: ((uuid >> 64) & 0xffff) as u16,
            data4: (uuid as u64).to_be_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip() {
        for src in [DEV_ID_SRC_FAX, DEV_ID_SRC_TAPI] {
            let name = source_name(src).unwrap();
            assert_eq!(source_from_name(name), Some(src));
        }
        assert_eq!(source_name(2), None);
        assert_eq!(source_name(-1), None);
        assert_eq!(source_from_name("dev_id_src_fax"), None);
    }

    #[test]
    fn invalid_handle_checks() {
        assert!(is_invalid_handle_value(INVALID_HANDLE_VALUE));
        assert!(!is_invalid_handle_value(core::ptr::null_mut()));
        assert!(is_null_or_invalid_handle(core::ptr::null_mut()));
        assert!(is_null_or_invalid_handle(INVALID_HANDLE_VALUE));
        let real: HANDLE = core::ptr::without_provenance_mut(0x1000);
        assert!(!is_null_or_invalid_handle(real));
    }

    #[test]
    fn guid_from_u128() {
        let g = GUID::from_u128(0x00112233_4455_6677_8899_aabbccddeeff);
        assert_eq!(g.data1, 0x0011_2233);
        assert_eq!(g.data2, 0x4455);
        assert_eq!(g.data3, 0x6677);
        assert_eq!(g.data4, [0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    }
}
