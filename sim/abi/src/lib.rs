//! The Windows fax extension ABI in Rust: the configuration API of
//! `faxext.h`, the FSP and routing entry points it interacts with, and the
//! Win32/HRESULT codes they return.
//!
//! Types mirror `windows-sys` 0.61 exactly (checked by the
//! `windows_sys_drift` test) without depending on it, so the simulator
//! builds the same on Linux and Windows. `include/faxsim_ext.h` is the C
//! counterpart for extension authors without the Windows SDK.
#![forbid(unsafe_code)]
#![allow(non_camel_case_types)]

mod codes;
mod entry;
mod types;

pub use codes::*;
pub use entry::*;
pub use types::*;

/// Path of the C header shipped with this crate, for build scripts and
/// tests that compile extensions.
pub const C_HEADER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/include");
