//! The job side of a hosted provider (`faxdev.h`): `FaxDevStartJob`, `FaxDevSend`,
//! `FaxDevReceive`, `FaxDevReportStatus`, `FaxDevAbortOperation` and `FaxDevEndJob`,
//! called with arguments the host makes up as a service would. Providers often read their
//! settings here rather than at initialisation, so validate drives these too.
//!
//! The service's side passes only the function's name ([`Extension::entry_point`]), so
//! the arguments follow from the provider and the job in progress: the device is the
//! provider's first (a virtual FSP's `DeviceIdPrefix`, else the battery's first TAPI
//! line); a send job sends a one-page TIFF the host writes; a receive job names a file
//! the host created; `FaxDevReportStatus` is called twice, the size query first, then a
//! buffer of the size asked for. A replay that performs the same calls in the same order
//! makes the same arguments.
//!
//! [`Extension::entry_point`]: faxsim_sim::Extension::entry_point

use std::cell::Cell;
use std::path::PathBuf;

use faxsim_abi::{
    BOOL, FALSE, FAX_DEV_ABORT_OPERATION_SYMBOL, FAX_DEV_END_JOB_SYMBOL, FAX_DEV_RECEIVE_SYMBOL,
    FAX_DEV_REPORT_STATUS_SYMBOL, FAX_DEV_SEND_SYMBOL, FAX_DEV_START_JOB_SYMBOL, FAX_DEV_STATUS,
    FAX_RECEIVE, FAX_SEND, HANDLE, TRUE,
};
use faxsim_sim::Callbacks;

use crate::adapter::wide;
use crate::load::JobEntryPoints;
use crate::shared::call_c;

/// The largest status buffer the host gives `FaxDevReportStatus` after the size query.
const MAX_STATUS: u32 = 64 * 1024;

/// The job in progress on one hosted provider (one at a time: the battery runs its jobs
/// one after another).
#[derive(Debug, Default)]
pub(crate) struct JobState {
    /// The handle `FaxDevStartJob` returned (0: no job).
    handle: Cell<usize>,
    /// What the last size query of `FaxDevReportStatus` asked for; the next call gets a
    /// buffer of that size.
    status_required: Cell<Option<u32>>,
    /// A virtual FSP's `DeviceIdPrefix`, its first device.
    pub(crate) virtual_prefix: Cell<Option<u32>>,
}

/// The job entry points, in the order of [`exported`]'s bits.
const FUNCTIONS: [&str; 6] = [
    FAX_DEV_START_JOB_SYMBOL,
    FAX_DEV_END_JOB_SYMBOL,
    FAX_DEV_SEND_SYMBOL,
    FAX_DEV_RECEIVE_SYMBOL,
    FAX_DEV_REPORT_STATUS_SYMBOL,
    FAX_DEV_ABORT_OPERATION_SYMBOL,
];

/// Which job entry points a library exports, one bit per [`FUNCTIONS`] entry: taken at
/// load, so asking later never touches (or reloads) the library.
pub(crate) fn exported(job: &JobEntryPoints) -> u8 {
    [
        job.start_job.is_some(),
        job.end_job.is_some(),
        job.send.is_some(),
        job.receive.is_some(),
        job.report_status.is_some(),
        job.abort_operation.is_some(),
    ]
    .iter()
    .enumerate()
    .fold(0, |m, (i, &has)| m | (u8::from(has) << i))
}

/// Whether `function` is among the job entry points of `mask` (see [`exported`]).
pub(crate) fn drives(mask: u8, function: &str) -> bool {
    FUNCTIONS
        .iter()
        .position(|f| *f == function)
        .is_some_and(|i| mask & (1 << i) != 0)
}

/// The service's `FaxSendCallback`: a provider calls it from `FaxDevSend` once its call
/// is connected. Nothing to do in the simulator.
extern "system" fn send_callback(_job: HANDLE, _call: u32, _r1: u32, _r2: u32) -> BOOL {
    TRUE
}

/// Where the host keeps the files of slot `slot`'s jobs.
fn job_file(slot: usize, name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("faxsim-{}-{slot}-{name}", std::process::id()))
}

/// A one-page, 1×1 bilevel TIFF (little-endian, uncompressed): the smallest file a
/// provider's TIFF reader accepts as a fax page.
pub(crate) fn tiny_tiff() -> Vec<u8> {
    const ENTRIES: u16 = 8;
    let data_at = 8 + 2 + 12 * u32::from(ENTRIES) + 4;
    let mut t = Vec::with_capacity(data_at as usize + 1);
    t.extend_from_slice(b"II");
    t.extend_from_slice(&42u16.to_le_bytes());
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&ENTRIES.to_le_bytes());
    // (tag, type: 3 SHORT / 4 LONG, value)
    let entries: [(u16, u16, u32); ENTRIES as usize] = [
        (256, 3, 1),       // ImageWidth
        (257, 3, 1),       // ImageLength
        (258, 3, 1),       // BitsPerSample
        (259, 3, 1),       // Compression: none
        (262, 3, 0),       // PhotometricInterpretation: WhiteIsZero
        (273, 4, data_at), // StripOffsets
        (278, 3, 1),       // RowsPerStrip
        (279, 4, 1),       // StripByteCounts
    ];
    for (tag, kind, value) in entries {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    }
    t.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    t.push(0); // the one white pixel
    t
}

/// Calls job entry point `function` of the library (see the module docs); FALSE for one
/// it does not export.
pub(crate) fn call(
    job: &JobEntryPoints,
    state: &JobState,
    slot: usize,
    first_tapi_line: u32,
    cb: &mut Callbacks<'_>,
    function: &str,
) -> i32 {
    let handle = state.handle.get() as HANDLE;
    match function {
        FAX_DEV_START_JOB_SYMBOL => {
            let Some(f) = job.start_job else {
                return FALSE;
            };
            let device = state.virtual_prefix.get().unwrap_or(first_tapi_line);
            let mut out: HANDLE = std::ptr::null_mut();
            let ok = call_c(cb, || {
                // SAFETY: FaxDevStartJob's signature (resolved by name); the out-pointer is
                // valid for the call; no TAPI line and no completion port (NULL/0), as a
                // simulator without TAPI passes.
                unsafe { f(0, device, &mut out, std::ptr::null_mut(), 0) }
            });
            state.handle.set(if ok != FALSE { out as usize } else { 0 });
            ok
        }
        FAX_DEV_RECEIVE_SYMBOL => {
            let Some(f) = job.receive else {
                return FALSE;
            };
            let path = job_file(slot, "received.tif");
            // The service creates the file the provider writes the fax into.
            let _ = std::fs::write(&path, []);
            let mut file = wide(&path.to_string_lossy());
            let mut name = wide("faxsim");
            let mut number = wide("+1 555 0100");
            let mut receive = FAX_RECEIVE {
                SizeOfStruct: std::mem::size_of::<FAX_RECEIVE>() as u32,
                FileName: file.as_mut_ptr(),
                ReceiverName: name.as_mut_ptr(),
                ReceiverNumber: number.as_mut_ptr(),
                Reserved: [0; 4],
            };
            let ok = call_c(cb, || {
                // SAFETY: FaxDevReceive's signature; the struct and the strings it points
                // to live until the call returns; no TAPI call handle (0).
                unsafe { f(handle, 0, &mut receive) }
            });
            let _ = std::fs::remove_file(&path);
            ok
        }
        FAX_DEV_SEND_SYMBOL => {
            let Some(f) = job.send else {
                return FALSE;
            };
            let path = job_file(slot, "send.tif");
            if std::fs::write(&path, tiny_tiff()).is_err() {
                return FALSE;
            }
            let mut file = wide(&path.to_string_lossy());
            let mut caller = wide("faxsim");
            let mut caller_number = wide("+1 555 0100");
            let mut receiver = wide("faxsim receiver");
            let mut receiver_number = wide("+1 555 0199");
            let mut send = FAX_SEND {
                SizeOfStruct: std::mem::size_of::<FAX_SEND>() as u32,
                FileName: file.as_mut_ptr(),
                CallerName: caller.as_mut_ptr(),
                CallerNumber: caller_number.as_mut_ptr(),
                ReceiverName: receiver.as_mut_ptr(),
                ReceiverNumber: receiver_number.as_mut_ptr(),
                Branding: FALSE,
                CallHandle: 0,
                Reserved: [0; 3],
            };
            let ok = call_c(cb, || {
                // SAFETY: FaxDevSend's signature; the struct and its strings live until
                // the call returns, and the callback is a plain function of the host.
                unsafe { f(handle, &mut send, Some(send_callback)) }
            });
            let _ = std::fs::remove_file(&path);
            ok
        }
        FAX_DEV_REPORT_STATUS_SYMBOL => {
            let Some(f) = job.report_status else {
                return FALSE;
            };
            let mut required = 0u32;
            match state.status_required.take() {
                None => {
                    let ok = call_c(cb, || {
                        // SAFETY: FaxDevReportStatus's size query: no buffer, size 0,
                        // and a valid out-pointer for the size required.
                        unsafe { f(handle, std::ptr::null_mut(), 0, &mut required) }
                    });
                    state.status_required.set(Some(required));
                    ok
                }
                Some(asked) => {
                    let size =
                        asked.clamp(std::mem::size_of::<FAX_DEV_STATUS>() as u32, MAX_STATUS);
                    // u64 words: aligned for the struct's pointers.
                    let mut buffer = vec![0u64; (size as usize).div_ceil(8)];
                    let status = buffer.as_mut_ptr() as *mut FAX_DEV_STATUS;
                    // SAFETY: the buffer holds at least one FAX_DEV_STATUS, aligned.
                    unsafe {
                        (*status).SizeOfStruct = std::mem::size_of::<FAX_DEV_STATUS>() as u32
                    };
                    call_c(cb, || {
                        // SAFETY: FaxDevReportStatus with a buffer of `size` bytes that
                        // lives until the call returns.
                        unsafe { f(handle, status, size, &mut required) }
                    })
                }
            }
        }
        FAX_DEV_ABORT_OPERATION_SYMBOL => {
            let Some(f) = job.abort_operation else {
                return FALSE;
            };
            // SAFETY: FaxDevAbortOperation's signature, with the job's handle.
            call_c(cb, || unsafe { f(handle) })
        }
        FAX_DEV_END_JOB_SYMBOL => {
            let Some(f) = job.end_job else {
                return FALSE;
            };
            state.handle.set(0);
            state.status_required.set(None);
            // SAFETY: FaxDevEndJob's signature, with the job's handle.
            call_c(cb, || unsafe { f(handle) })
        }
        _ => FALSE,
    }
}
