//! Opening a library: checks on the file before the loader sees it (so a wrong file gets
//! a reason a person can act on), eager resolution of every entry point, kind detection.

use std::ffi::c_void;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use faxsim_abi::{
    FAX_DEV_ABORT_OPERATION_SYMBOL, FAX_DEV_END_JOB_SYMBOL, FAX_DEV_INITIALIZE_SYMBOL,
    FAX_DEV_RECEIVE_SYMBOL, FAX_DEV_REPORT_STATUS_SYMBOL, FAX_DEV_SEND_SYMBOL,
    FAX_DEV_SHUTDOWN_SYMBOL, FAX_DEV_START_JOB_SYMBOL, FAX_DEV_VIRTUAL_DEVICE_CREATION_SYMBOL,
    FAX_EXT_INITIALIZE_CONFIG_SYMBOL, FAX_ROUTE_DEVICE_CHANGE_NOTIFICATION_SYMBOL,
    FAX_ROUTE_DEVICE_ENABLE_SYMBOL, FAX_ROUTE_GET_ROUTING_INFO_SYMBOL, FAX_ROUTE_INITIALIZE_SYMBOL,
    FAX_ROUTE_SET_ROUTING_INFO_SYMBOL, PFAX_EXT_INITIALIZE_CONFIG, PFAXDEVABORTOPERATION,
    PFAXDEVENDJOB, PFAXDEVINITIALIZE, PFAXDEVRECEIVE, PFAXDEVREPORTSTATUS, PFAXDEVSEND,
    PFAXDEVSHUTDOWN, PFAXDEVSTARTJOB, PFAXDEVVIRTUALDEVICECREATION,
    PFAXROUTEDEVICECHANGENOTIFICATION, PFAXROUTEDEVICEENABLE, PFAXROUTEGETROUTINGINFO,
    PFAXROUTEINITIALIZE, PFAXROUTEMETHOD, PFAXROUTESETROUTINGINFO,
};
use faxsim_trace::ExtensionKind;

use crate::platform;

/// Why a library could not be hosted. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path does not exist.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The library path.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("{}: cannot read it: {source}", path.display())]
    Unreadable {
        /// The library path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a shared library of any format faxsim knows.
    #[error("{}: not a shared library ({detail})", path.display())]
    NotALibrary {
        /// The library path.
        path: PathBuf,
        /// What the file looks like instead.
        detail: String,
    },
    /// A library for another system or processor.
    #[error("{}: built for {found}, but this faxsim runs on {expected}; build the library for this system", path.display())]
    WrongArchitecture {
        /// The library path.
        path: PathBuf,
        /// What the file is built for.
        found: String,
        /// What this process is.
        expected: String,
    },
    /// The system loader refused the file.
    #[error("{}: the system loader refused it: {reason}", path.display())]
    Loader {
        /// The library path.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// None of the entry points that make a fax extension.
    #[error("{}: exports no fax entry point (FaxDevInitialize, FaxDevVirtualDeviceCreation or FaxRouteInitialize)", path.display())]
    NoEntryPoint {
        /// The library path.
        path: PathBuf,
    },
    /// `--kind` asked for a kind whose required export is missing.
    #[error("{}: hosting it as {kind} needs the export {symbol}, which it lacks", path.display())]
    MissingExport {
        /// The library path.
        path: PathBuf,
        /// The requested kind.
        kind: ExtensionKind,
        /// The missing symbol.
        symbol: &'static str,
    },
    /// Every trampoline slot is taken.
    #[error("{}: cannot host more than {max} libraries at once (the trampoline pool is exhausted)", path.display())]
    PoolExhausted {
        /// The library path.
        path: PathBuf,
        /// The pool size.
        max: usize,
    },
    /// The same file was given twice. The system loader hands back the one instance
    /// already loaded, so the two "extensions" would share globals and a module handle,
    /// and each would look like a stranger writing with the other's hInst.
    #[error("{}: given twice (first as {}); the system loads a file once, so one file cannot be two extensions: copy it under another name to host two instances", path.display(), first.display())]
    Duplicate {
        /// The library path as given the second time.
        path: PathBuf,
        /// The path it was first given as.
        first: PathBuf,
    },
}

/// The entry points of one loaded instance, resolved eagerly at load.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EntryPoints {
    pub initialize_config: PFAX_EXT_INITIALIZE_CONFIG,
    pub dev_initialize: PFAXDEVINITIALIZE,
    pub virtual_device_creation: PFAXDEVVIRTUALDEVICECREATION,
    pub dev_shutdown: PFAXDEVSHUTDOWN,
    pub route_initialize: PFAXROUTEINITIALIZE,
    pub route_device_change: PFAXROUTEDEVICECHANGENOTIFICATION,
    pub route_device_enable: PFAXROUTEDEVICEENABLE,
    pub route_get_routing_info: PFAXROUTEGETROUTINGINFO,
    pub route_set_routing_info: PFAXROUTESETROUTINGINFO,
    pub job: JobEntryPoints,
}

/// A provider's job side (`faxdev.h`), each optional.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JobEntryPoints {
    pub start_job: PFAXDEVSTARTJOB,
    pub end_job: PFAXDEVENDJOB,
    pub send: PFAXDEVSEND,
    pub receive: PFAXDEVRECEIVE,
    pub report_status: PFAXDEVREPORTSTATUS,
    pub abort_operation: PFAXDEVABORTOPERATION,
}

impl EntryPoints {
    /// The kind the exports say, if any.
    pub fn detected_kind(&self) -> Option<ExtensionKind> {
        if self.virtual_device_creation.is_some() {
            Some(ExtensionKind::VirtualFsp)
        } else if self.dev_initialize.is_some() {
            Some(ExtensionKind::Fsp)
        } else if self.route_initialize.is_some() {
            Some(ExtensionKind::Routing)
        } else {
            None
        }
    }

    /// Any address inside the library, for `dladdr` / `GetModuleHandleExW`.
    pub(crate) fn any_address(&self) -> Option<*const c_void> {
        let addrs = [
            self.initialize_config.map(|f| f as *const c_void),
            self.dev_initialize.map(|f| f as *const c_void),
            self.virtual_device_creation.map(|f| f as *const c_void),
            self.route_initialize.map(|f| f as *const c_void),
        ];
        addrs.into_iter().flatten().next()
    }
}

/// One loaded instance of a library: the loader handle and its entry points. Dropping it
/// unloads the library (`dlclose` / `FreeLibrary`).
pub(crate) struct Instance {
    pub entry: EntryPoints,
    pub hinst: u64,
    lib: libloading::Library,
}

impl Instance {
    /// The routing method the library exports under `name` (the function name a routing
    /// extension registers for a method), if any.
    pub fn routing_method(&self, name: &str) -> PFAXROUTEMETHOD {
        type Method = unsafe extern "system" fn(
            *const faxsim_abi::FAX_ROUTE,
            *mut *mut std::ffi::c_void,
            *mut u32,
        ) -> faxsim_abi::BOOL;
        // SAFETY: `name` is a function the user named as a routing method, and faxroute.h
        // gives every routing method this signature (checked against windows-sys); a
        // library that exports another function under that name breaks the contract the
        // real service relies on too.
        let s = unsafe { self.lib.get::<Method>(name.as_bytes()) };
        s.ok().map(|s| *s)
    }
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance")
            .field("hinst", &format_args!("{:#x}", self.hinst))
            .finish_non_exhaustive()
    }
}

/// Checks the file before the loader sees it: existence, format, architecture.
pub(crate) fn preflight(path: &Path) -> Result<(), LoadError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::NotFound { path: path.into() });
        }
        Err(source) => {
            return Err(LoadError::Unreadable {
                path: path.into(),
                source,
            });
        }
    };
    if meta.is_dir() {
        return Err(LoadError::NotALibrary {
            path: path.into(),
            detail: "it is a directory".into(),
        });
    }
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .map_err(|source| LoadError::Unreadable {
            path: path.into(),
            source,
        })?;
    let format = BinaryFormat::sniff(&head);
    let here = BinaryFormat::native();
    match format {
        BinaryFormat::Unknown(detail) => Err(LoadError::NotALibrary {
            path: path.into(),
            detail,
        }),
        f if f == here => Ok(()),
        // A format or processor we cannot tell apart from ours: let the loader decide.
        _ if matches!(here, BinaryFormat::Other) => Ok(()),
        f => Err(LoadError::WrongArchitecture {
            path: path.into(),
            found: f.to_string(),
            expected: here.to_string(),
        }),
    }
}

/// Container format and processor of a binary, as far as faxsim needs to tell.
#[derive(Clone, Debug, PartialEq, Eq)]
enum BinaryFormat {
    Elf {
        bits: u8,
        machine: u16,
    },
    Pe {
        machine: u16,
    },
    MachO {
        cpu: u32,
    },
    /// This process on a system whose format the check does not know.
    Other,
    Unknown(String),
}

impl BinaryFormat {
    fn sniff(h: &[u8]) -> BinaryFormat {
        let u16le = |o: usize| h.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let u32le = |o: usize| {
            h.get(o..o + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        if h.starts_with(b"\x7fELF") {
            let bits = match h.get(4) {
                Some(1) => 32,
                Some(2) => 64,
                _ => return BinaryFormat::Unknown("a damaged ELF file".into()),
            };
            return match u16le(18) {
                Some(machine) => BinaryFormat::Elf { bits, machine },
                None => BinaryFormat::Unknown("a truncated ELF file".into()),
            };
        }
        if h.starts_with(b"MZ") {
            let pe = u32le(0x3c).map(|o| o as usize);
            return match pe {
                Some(o) if h.get(o..o + 4) == Some(b"PE\0\0") => match u16le(o + 4) {
                    Some(machine) => BinaryFormat::Pe { machine },
                    None => BinaryFormat::Unknown("a truncated PE file".into()),
                },
                _ => BinaryFormat::Unknown("an MS-DOS executable, not a DLL".into()),
            };
        }
        if let Some(magic) = u32le(0)
            && (magic == 0xfeed_facf || magic == 0xfeed_face)
        {
            return BinaryFormat::MachO {
                cpu: u32le(4).unwrap_or(0),
            };
        }
        if h.is_empty() {
            return BinaryFormat::Unknown("an empty file".into());
        }
        let text = h
            .iter()
            .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace());
        BinaryFormat::Unknown(if text {
            "a text file".into()
        } else {
            "an unknown format".into()
        })
    }

    fn native() -> BinaryFormat {
        let bits = if cfg!(target_pointer_width = "64") {
            64
        } else {
            32
        };
        let elf_machine = match std::env::consts::ARCH {
            "x86_64" => Some(0x3e),
            "x86" => Some(0x03),
            "aarch64" => Some(0xb7),
            "arm" => Some(0x28),
            "riscv64" => Some(0xf3),
            _ => None,
        };
        let pe_machine = match std::env::consts::ARCH {
            "x86_64" => Some(0x8664),
            "x86" => Some(0x014c),
            "aarch64" => Some(0xaa64),
            _ => None,
        };
        let macho_cpu = match std::env::consts::ARCH {
            "x86_64" => Some(0x0100_0007),
            "aarch64" => Some(0x0100_000c),
            _ => None,
        };
        match std::env::consts::OS {
            "windows" => {
                pe_machine.map_or(BinaryFormat::Other, |machine| BinaryFormat::Pe { machine })
            }
            "macos" | "ios" => {
                macho_cpu.map_or(BinaryFormat::Other, |cpu| BinaryFormat::MachO { cpu })
            }
            _ if cfg!(unix) => elf_machine.map_or(BinaryFormat::Other, |machine| {
                BinaryFormat::Elf { bits, machine }
            }),
            _ => BinaryFormat::Other,
        }
    }
}

impl fmt::Display for BinaryFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BinaryFormat::Elf { bits, machine } => {
                let cpu = match machine {
                    0x3e => "x86-64",
                    0x03 => "x86",
                    0xb7 => "AArch64",
                    0x28 => "ARM",
                    0xf3 => "RISC-V",
                    _ => "another processor",
                };
                write!(f, "{bits}-bit {cpu} (ELF)")
            }
            BinaryFormat::Pe { machine } => {
                let cpu = match machine {
                    0x8664 => "x64",
                    0x014c => "x86",
                    0xaa64 => "ARM64",
                    _ => "another processor",
                };
                write!(f, "Windows {cpu} (PE DLL)")
            }
            BinaryFormat::MachO { cpu } => {
                let cpu = match cpu {
                    0x0100_0007 => "x86-64",
                    0x0100_000c => "arm64",
                    _ => "another processor",
                };
                write!(f, "macOS {cpu} (Mach-O)")
            }
            BinaryFormat::Other => f.write_str("this system"),
            BinaryFormat::Unknown(d) => f.write_str(d),
        }
    }
}

/// Loads the library and resolves its entry points.
pub(crate) fn open(path: &Path) -> Result<Instance, LoadError> {
    // A bare file name would send the loader to its search path, not the current
    // directory: always name the file itself.
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // SAFETY: loading runs the library's initialisers (DllMain, constructors). That is
    // the one unsafe step of hosting, and the reason the user asked faxsim to host it;
    // `--isolate` exists for libraries that may crash doing it.
    let lib = unsafe { libloading::Library::new(&file) }.map_err(|e| {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        // ERROR_NOACCESS: Windows' loader caught an access violation in the library's
        // own DllMain (or a constructor it runs) and refused the library.
        if cfg!(windows) && reason.contains("(os error 998)") {
            reason.push_str(
                " - its DllMain (or a static constructor) crashed with an access violation \
                 while it was being loaded",
            );
        }
        LoadError::Loader {
            path: path.into(),
            reason,
        }
    })?;
    macro_rules! sym {
        ($ty:ty, $name:expr) => {{
            // SAFETY: the symbol is one of the fax ABI's documented entry points, whose
            // C type is `$ty` (faxsim-abi mirrors the SDK's typedefs, checked against
            // windows-sys). A library that exports the name with another signature
            // breaks the ABI the service itself relies on.
            let s = unsafe { lib.get::<$ty>($name) };
            s.ok().map(|s| *s)
        }};
    }
    type InitConfig = unsafe extern "system" fn(
        faxsim_abi::PFAX_EXT_GET_DATA,
        faxsim_abi::PFAX_EXT_SET_DATA,
        faxsim_abi::PFAX_EXT_REGISTER_FOR_EVENTS,
        faxsim_abi::PFAX_EXT_UNREGISTER_FOR_EVENTS,
        faxsim_abi::PFAX_EXT_FREE_BUFFER,
    ) -> faxsim_abi::HRESULT;
    type DevInit = unsafe extern "system" fn(
        faxsim_abi::HLINEAPP,
        faxsim_abi::HANDLE,
        *mut faxsim_abi::PFAX_LINECALLBACK,
        faxsim_abi::PFAX_SERVICE_CALLBACK,
    ) -> faxsim_abi::BOOL;
    type Vdc = unsafe extern "system" fn(
        *mut u32,
        faxsim_abi::PWSTR,
        *mut u32,
        faxsim_abi::HANDLE,
        usize,
    ) -> faxsim_abi::BOOL;
    type Shutdown = unsafe extern "system" fn() -> faxsim_abi::HRESULT;
    type RouteInit = unsafe extern "system" fn(
        faxsim_abi::HANDLE,
        *mut faxsim_abi::FAX_ROUTE_CALLBACKROUTINES,
    ) -> faxsim_abi::BOOL;
    type RouteDev = unsafe extern "system" fn(u32, faxsim_abi::BOOL) -> faxsim_abi::BOOL;
    type RouteEnable = unsafe extern "system" fn(faxsim_abi::PCWSTR, u32, i32) -> faxsim_abi::BOOL;
    type RouteGetInfo =
        unsafe extern "system" fn(faxsim_abi::PCWSTR, u32, *mut u8, *mut u32) -> faxsim_abi::BOOL;
    type RouteSetInfo =
        unsafe extern "system" fn(faxsim_abi::PCWSTR, u32, *const u8, u32) -> faxsim_abi::BOOL;
    type StartJob = unsafe extern "system" fn(
        u32,
        u32,
        *mut faxsim_abi::HANDLE,
        faxsim_abi::HANDLE,
        usize,
    ) -> faxsim_abi::BOOL;
    type JobHandle = unsafe extern "system" fn(faxsim_abi::HANDLE) -> faxsim_abi::BOOL;
    type Send = unsafe extern "system" fn(
        faxsim_abi::HANDLE,
        *mut faxsim_abi::FAX_SEND,
        faxsim_abi::PFAX_SEND_CALLBACK,
    ) -> faxsim_abi::BOOL;
    type Receive = unsafe extern "system" fn(
        faxsim_abi::HANDLE,
        u32,
        *mut faxsim_abi::FAX_RECEIVE,
    ) -> faxsim_abi::BOOL;
    type ReportStatus = unsafe extern "system" fn(
        faxsim_abi::HANDLE,
        *mut faxsim_abi::FAX_DEV_STATUS,
        u32,
        *mut u32,
    ) -> faxsim_abi::BOOL;
    let entry = EntryPoints {
        job: JobEntryPoints {
            start_job: sym!(StartJob, FAX_DEV_START_JOB_SYMBOL),
            end_job: sym!(JobHandle, FAX_DEV_END_JOB_SYMBOL),
            send: sym!(Send, FAX_DEV_SEND_SYMBOL),
            receive: sym!(Receive, FAX_DEV_RECEIVE_SYMBOL),
            report_status: sym!(ReportStatus, FAX_DEV_REPORT_STATUS_SYMBOL),
            abort_operation: sym!(JobHandle, FAX_DEV_ABORT_OPERATION_SYMBOL),
        },
        initialize_config: sym!(InitConfig, FAX_EXT_INITIALIZE_CONFIG_SYMBOL),
        dev_initialize: sym!(DevInit, FAX_DEV_INITIALIZE_SYMBOL),
        virtual_device_creation: sym!(Vdc, FAX_DEV_VIRTUAL_DEVICE_CREATION_SYMBOL),
        dev_shutdown: sym!(Shutdown, FAX_DEV_SHUTDOWN_SYMBOL),
        route_initialize: sym!(RouteInit, FAX_ROUTE_INITIALIZE_SYMBOL),
        route_device_change: sym!(RouteDev, FAX_ROUTE_DEVICE_CHANGE_NOTIFICATION_SYMBOL),
        route_device_enable: sym!(RouteEnable, FAX_ROUTE_DEVICE_ENABLE_SYMBOL),
        route_get_routing_info: sym!(RouteGetInfo, FAX_ROUTE_GET_ROUTING_INFO_SYMBOL),
        route_set_routing_info: sym!(RouteSetInfo, FAX_ROUTE_SET_ROUTING_INFO_SYMBOL),
    };
    let hinst = entry
        .any_address()
        .and_then(platform::module_base)
        .unwrap_or(0);
    Ok(Instance { entry, hinst, lib })
}

/// The kind to host a library as: `requested` if given (its required exports must be
/// there), else what its exports say.
pub(crate) fn decide_kind(
    path: &Path,
    entry: &EntryPoints,
    requested: Option<ExtensionKind>,
) -> Result<ExtensionKind, LoadError> {
    let Some(kind) = requested else {
        return entry
            .detected_kind()
            .ok_or_else(|| LoadError::NoEntryPoint { path: path.into() });
    };
    let missing = match kind {
        ExtensionKind::VirtualFsp if entry.virtual_device_creation.is_none() => {
            Some(FAX_DEV_VIRTUAL_DEVICE_CREATION_SYMBOL)
        }
        ExtensionKind::VirtualFsp | ExtensionKind::Fsp if entry.dev_initialize.is_none() => {
            Some(FAX_DEV_INITIALIZE_SYMBOL)
        }
        ExtensionKind::Routing if entry.route_initialize.is_none() => {
            Some(FAX_ROUTE_INITIALIZE_SYMBOL)
        }
        _ => None,
    };
    match missing {
        Some(symbol) => Err(LoadError::MissingExport {
            path: path.into(),
            kind,
            symbol,
        }),
        None => Ok(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(
            BinaryFormat::sniff(b"hello world\n"),
            BinaryFormat::Unknown("a text file".into())
        );
        assert_eq!(
            BinaryFormat::sniff(b""),
            BinaryFormat::Unknown("an empty file".into())
        );
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 1;
        elf[18] = 0x03;
        assert_eq!(
            BinaryFormat::sniff(&elf),
            BinaryFormat::Elf {
                bits: 32,
                machine: 3
            }
        );
        assert_eq!(
            BinaryFormat::sniff(&elf).to_string(),
            "32-bit x86 (ELF)".to_string()
        );
        let mut pe = vec![0u8; 256];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
        assert_eq!(
            BinaryFormat::sniff(&pe),
            BinaryFormat::Pe { machine: 0x8664 }
        );
    }

    #[test]
    fn preflight_reasons() {
        let dir =
            std::env::temp_dir().join(format!("faxsim-host-preflight-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.so");
        assert!(matches!(
            preflight(&missing),
            Err(LoadError::NotFound { .. })
        ));
        let text = dir.join("text.so");
        std::fs::write(&text, "not a library\n").unwrap();
        let e = preflight(&text).unwrap_err();
        assert!(
            e.to_string()
                .contains("text.so: not a shared library (a text file)"),
            "{e}"
        );
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            let mut elf = vec![0u8; 64];
            elf[..4].copy_from_slice(b"\x7fELF");
            elf[4] = 1;
            elf[18] = 0x03;
            let f = dir.join("i386.so");
            std::fs::write(&f, &elf).unwrap();
            let e = preflight(&f).unwrap_err();
            assert!(
                e.to_string().contains(
                    "built for 32-bit x86 (ELF), but this faxsim runs on 64-bit x86-64 (ELF)"
                ),
                "{e}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
