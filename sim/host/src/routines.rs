//! The job-side routines of `FAX_ROUTE_CALLBACKROUTINES` a hosted routing extension gets
//! from `FaxRouteInitialize`: `FaxRouteAddFile`, `FaxRouteDeleteFile`, `FaxRouteGetFile`,
//! `FaxRouteEnumFiles` and `FaxRouteModifyRoutingData`, one set per trampoline slot (the
//! routines carry no module handle, so the function a call enters through names the
//! extension, as for the five configuration callbacks).
//!
//! The service's model keeps the fax's file list and answers (see
//! `faxsim_sim::service::routing`); this module turns C arguments into the model's and
//! back. The received fax is a real one-page TIFF in a folder of the slot's own
//! ([`queue_folder`]); the model writes that folder as [`RECEIVED_FAX_FOLDER`], and names
//! crossing the boundary are translated both ways, so a trace does not depend on where
//! the host keeps its files.

use std::path::PathBuf;
use std::sync::Arc;

use faxsim_abi::{
    BOOL, ERROR_GEN_FAILURE, FALSE, FAX_ROUTE_CALLBACKROUTINES, GUID, PCWSTR, PFAXROUTEENUMFILE,
    PWSTR,
};
use faxsim_sim::{Callbacks, RECEIVED_FAX_FOLDER, RouteFileArgs, received_fax_name};
use faxsim_trace::{NameBuffer, RouteRoutine};

use crate::adapter::wide;
use crate::platform::set_last_error;
use crate::shared::{EnterError, POOL_SIZE, call_c, enter, lock};
use crate::trampolines::{guarded, read_wide_upto};

/// Longest file name read from C, in UTF-16 units (the longest Windows path); a longer
/// unterminated string is cut there.
const MAX_PATH_UNITS: usize = 32_767;

/// Largest `RoutingData` taken from `FaxRouteModifyRoutingData` (the service's 1 MiB
/// limit for configuration data); a larger one is refused as `ERROR_INVALID_PARAMETER`.
const MAX_ROUTING_DATA: u32 = 1 << 20;

/// An enumeration in progress (`FaxRouteEnumFiles`): the extension's enumerator, its
/// context, the caller's GUID and the next file to give it.
#[derive(Debug)]
pub(crate) struct Enumeration {
    enumerator:
        unsafe extern "system" fn(u32, *mut GUID, *mut GUID, PCWSTR, *mut std::ffi::c_void) -> BOOL,
    context: usize,
    job: u32,
    caller: Option<GUID>,
    next: usize,
}

/// Where slot `slot` keeps the files of the faxes its routing methods route.
pub(crate) fn queue_folder(slot: usize) -> PathBuf {
    std::env::temp_dir().join(format!("faxsim-{}-{slot}-queue", std::process::id()))
}

/// A name as the model writes it: a file in the slot's folder starts with
/// [`RECEIVED_FAX_FOLDER`].
fn to_model(slot: usize, real: &str) -> String {
    let folder = queue_folder(slot);
    let folder = folder.to_string_lossy();
    match real.get(..folder.len()) {
        Some(head) if head.eq_ignore_ascii_case(&folder) => {
            match real[folder.len()..].chars().next() {
                Some('\\' | '/') => format!("{RECEIVED_FAX_FOLDER}{}", &real[folder.len() + 1..]),
                _ => real.to_string(),
            }
        }
        _ => real.to_string(),
    }
}

/// The real name of a name the model writes.
pub(crate) fn to_real(slot: usize, model: &str) -> String {
    match model.strip_prefix(RECEIVED_FAX_FOLDER) {
        Some(rest) => queue_folder(slot).join(rest).to_string_lossy().into_owned(),
        None => model.to_string(),
    }
}

/// Makes the received fax of job `job` exist as a real file (before a routing method
/// may open it).
pub(crate) fn write_received_fax(slot: usize, job: u32) {
    let path = to_real(slot, &received_fax_name(job));
    let path = std::path::Path::new(&path);
    if !path.exists() {
        let _ = std::fs::create_dir_all(queue_folder(slot));
        let _ = std::fs::write(path, crate::jobs::tiny_tiff());
    }
}

/// Removes the slot's folder and what is in it (when its library is closed).
pub(crate) fn remove_queue(slot: usize) {
    let _ = std::fs::remove_dir_all(queue_folder(slot));
}

/// Reads a NUL-terminated UTF-16 file name (`None` for NULL), cut at
/// [`MAX_PATH_UNITS`].
///
/// # Safety
///
/// `p` is NULL or points to readable UTF-16 units up to a NUL or `MAX_PATH_UNITS` units.
unsafe fn read_path(p: PCWSTR) -> Option<String> {
    // SAFETY: this function's contract.
    unsafe { read_wide_upto(p, MAX_PATH_UNITS) }
}

/// A `GUID` struct, braced and upper-case.
fn braced(g: &GUID) -> String {
    let d = g.data4;
    format!(
        "{{{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}}}",
        g.data1, g.data2, g.data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
    )
}

/// A GUID string as a `GUID` struct (the owner given to the enumerator).
fn guid_struct(s: &str) -> Option<GUID> {
    faxsim_sim::guid::parse_braced_guid(s).map(GUID::from_u128)
}

/// Makes a routine call through slot `S`'s current context; a call that cannot enter
/// (no context, a deadlock guard) fails with `ERROR_GEN_FAILURE`.
fn routine<const S: usize>(args: RouteFileArgs) -> Option<faxsim_sim::RouteFileAnswer> {
    let what = args.routine.function();
    let r = guarded(what, Err(EnterError::Unbound), || {
        enter(S, |cb| cb.route_file(args))
    });
    match r {
        Ok(answer) => {
            if answer.code != 0 {
                set_last_error(answer.code);
            }
            Some(answer)
        }
        Err(_) => {
            set_last_error(ERROR_GEN_FAILURE);
            None
        }
    }
}

extern "system" fn add_file<const S: usize>(job: u32, file: PCWSTR, guid: *mut GUID) -> i32 {
    // SAFETY: the ABI makes FileName NULL or a NUL-terminated UTF-16 string, and Guid
    // NULL or a readable GUID.
    let (file, guid) = unsafe { (read_path(file), guid.as_ref().map(braced)) };
    let args = RouteFileArgs {
        file: file.map(|f| to_model(S, &f)),
        guid,
        ..RouteFileArgs::new(RouteRoutine::AddFile, job)
    };
    routine::<S>(args).map_or(-1, |a| a.result)
}

extern "system" fn delete_file<const S: usize>(job: u32, file: PCWSTR) -> i32 {
    // SAFETY: the ABI makes FileName NULL or a NUL-terminated UTF-16 string.
    let file = unsafe { read_path(file) };
    let args = RouteFileArgs {
        file: file.map(|f| to_model(S, &f)),
        ..RouteFileArgs::new(RouteRoutine::DeleteFile, job)
    };
    routine::<S>(args).map_or(-1, |a| a.result)
}

extern "system" fn get_file<const S: usize>(
    job: u32,
    index: u32,
    buffer: PWSTR,
    required: *mut u32,
) -> BOOL {
    // The name asked for, to measure the buffer against (the model answers the same one).
    let name = guarded("FaxRouteGetFile", None, || {
        enter(S, |cb| {
            let files = cb.routed_files();
            (cb.routing_job().map(|(j, _)| j) == Some(job))
                .then(|| (index as usize).checked_sub(1).and_then(|i| files.get(i)))
                .flatten()
                .map(|f| f.name.clone())
        })
        .ok()
        .flatten()
    });
    let needed = |name: &Arc<str>| wide(&to_real(S, name)).len() as u64 * 2;
    let given = if required.is_null() {
        0
    } else {
        // SAFETY: RequiredSize is non-NULL, and the ABI makes it readable.
        unsafe { *required }
    };
    let kind = match (&name, buffer.is_null()) {
        (_, true) => NameBuffer::None,
        (Some(n), false) if needed(n) <= u64::from(given) => NameBuffer::Fits,
        (None, false) => NameBuffer::Fits,
        (Some(_), false) => NameBuffer::TooSmall,
    };
    let args = RouteFileArgs {
        index,
        buffer: kind,
        ..RouteFileArgs::new(RouteRoutine::GetFile, job)
    };
    let Some(answer) = routine::<S>(args) else {
        return FALSE;
    };
    if let Some(model) = &answer.file {
        let real = wide(&to_real(S, model));
        let bytes = (real.len() * 2) as u32;
        if kind == NameBuffer::Fits && answer.result != FALSE && (bytes as u64) <= u64::from(given)
        {
            // SAFETY: the extension said the buffer holds `given` bytes, at least `bytes`.
            unsafe { std::ptr::copy_nonoverlapping(real.as_ptr(), buffer, real.len()) };
        } else if !required.is_null() {
            // SAFETY: RequiredSize is non-NULL and writable per the ABI.
            unsafe { *required = bytes };
        }
    }
    answer.result
}

extern "system" fn enum_files<const S: usize>(
    job: u32,
    guid: *mut GUID,
    enumerator: PFAXROUTEENUMFILE,
    context: *mut std::ffi::c_void,
) -> BOOL {
    // SAFETY: the ABI makes Guid NULL or a readable GUID.
    let caller = unsafe { guid.as_ref().copied() };
    let pushed = enumerator.is_some();
    if let Some(f) = enumerator
        && let Some(Some(b)) = lock().slots.get_mut(S)
    {
        b.enumerations.push(Enumeration {
            enumerator: f,
            context: context as usize,
            job,
            caller,
            next: 0,
        });
    }
    let args = RouteFileArgs {
        guid: caller.as_ref().map(braced),
        ..RouteFileArgs::new(RouteRoutine::EnumFiles, job)
    };
    let r = routine::<S>(args);
    if pushed && let Some(Some(b)) = lock().slots.get_mut(S) {
        b.enumerations.pop();
    }
    r.map_or(FALSE, |a| a.result)
}

extern "system" fn modify_routing_data<const S: usize>(
    job: u32,
    guid: PCWSTR,
    data: *mut u8,
    size: u32,
) -> BOOL {
    // SAFETY: the ABI makes RoutingGuid NULL or a NUL-terminated UTF-16 string.
    let guid = unsafe { read_path(guid) };
    let data = (!data.is_null() && size <= MAX_ROUTING_DATA).then(|| {
        // SAFETY: RoutingData is non-NULL and holds RoutingDataSize readable bytes.
        unsafe { std::slice::from_raw_parts(data, size as usize) }.to_vec()
    });
    if data.is_none() && guid.is_some() && size > MAX_ROUTING_DATA {
        lock().notes.push(format!(
            "FaxRouteModifyRoutingData was given {size} bytes, above the {MAX_ROUTING_DATA}-byte limit: refused with ERROR_INVALID_PARAMETER"
        ));
    }
    let args = RouteFileArgs {
        guid,
        data,
        ..RouteFileArgs::new(RouteRoutine::ModifyRoutingData, job)
    };
    routine::<S>(args).map_or(FALSE, |a| a.result)
}

/// Whether slot `slot` is inside `FaxRouteEnumFiles` with an enumerator to call.
pub(crate) fn enumerating(slot: usize) -> bool {
    lock()
        .slots
        .get(slot)
        .and_then(|s| s.as_ref())
        .is_some_and(|b| !b.enumerations.is_empty())
}

/// Calls the enumerator of slot `slot`'s innermost enumeration with its next file (an
/// entry point call the model makes, see `ENUM_FILE_FUNCTION`).
pub(crate) fn call_enumerator(slot: usize, cb: &mut Callbacks<'_>) -> i32 {
    let next = {
        let mut g = lock();
        let Some(e) = g
            .slots
            .get_mut(slot)
            .and_then(|s| s.as_mut())
            .and_then(|b| b.enumerations.last_mut())
        else {
            return FALSE;
        };
        let i = e.next;
        e.next += 1;
        (e.enumerator, e.context, e.job, e.caller, i)
    };
    let (f, context, job, caller, i) = next;
    let Some(file) = cb.routed_files().get(i).cloned() else {
        return FALSE;
    };
    let name = wide(&to_real(slot, &file.name));
    let mut owner = file
        .owner
        .as_deref()
        .and_then(guid_struct)
        .unwrap_or(GUID::from_u128(0));
    let mut caller_copy = caller;
    let caller_ptr = caller_copy
        .as_mut()
        .map_or(std::ptr::null_mut(), |g| g as *mut GUID);
    call_c(cb, || {
        // SAFETY: PFAXROUTEENUMFILE's signature, the enumerator the extension passed to
        // FaxRouteEnumFiles (still inside that call); the GUIDs and the name live until
        // the call returns, and the context is the extension's own value.
        unsafe {
            f(
                job,
                &mut owner,
                caller_ptr,
                name.as_ptr(),
                context as *mut std::ffi::c_void,
            )
        }
    })
}

macro_rules! tables {
    ($($n:literal)*) => {
        [$(FAX_ROUTE_CALLBACKROUTINES {
            SizeOfStruct: std::mem::size_of::<FAX_ROUTE_CALLBACKROUTINES>() as u32,
            FaxRouteAddFile: Some(add_file::<$n>),
            FaxRouteDeleteFile: Some(delete_file::<$n>),
            FaxRouteGetFile: Some(get_file::<$n>),
            FaxRouteEnumFiles: Some(enum_files::<$n>),
            FaxRouteModifyRoutingData: Some(modify_routing_data::<$n>),
        },)*]
    };
}

/// Every slot's routines, as `FaxRouteInitialize` receives them.
static TABLES: [FAX_ROUTE_CALLBACKROUTINES; POOL_SIZE] = tables!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
    62 63
);

/// The callback table of slot `slot`.
pub(crate) fn table(slot: usize) -> FAX_ROUTE_CALLBACKROUTINES {
    TABLES
        .get(slot)
        .copied()
        .unwrap_or_else(FAX_ROUTE_CALLBACKROUTINES::inert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_queue_folder_are_written_with_the_placeholder_both_ways() {
        let real = queue_folder(3).join("1.tif").to_string_lossy().into_owned();
        assert_eq!(to_model(3, &real), format!("{RECEIVED_FAX_FOLDER}1.tif"));
        assert_eq!(to_real(3, &to_model(3, &real)), real);
        // Another slot's folder, and a name that only starts like the folder, stay real.
        assert_eq!(to_model(4, &real), real);
        let lookalike = format!("{}x\\1.tif", queue_folder(3).to_string_lossy());
        assert_eq!(to_model(3, &lookalike), lookalike);
    }

    #[test]
    fn a_guid_struct_is_written_braced() {
        let g = GUID::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(braced(&g), "{01234567-89AB-CDEF-0011-223344556677}");
        assert_eq!(guid_struct(&braced(&g)), Some(g));
    }
}
