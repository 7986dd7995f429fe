//! Routing methods of a hosted routing extension: the functions it names for its methods
//! (`--routing-method GUID=FUNCTION`), which a real service calls with a `FAX_ROUTE` for
//! each fax received on a device the method is enabled for. Real routing extensions read
//! their per-device configuration there, so validate calls them.
//!
//! As for jobs, the service's side passes only the function's name; the `FAX_ROUTE`
//! follows from the job the service routes (`Service::routing_start`): its id and device,
//! a one-page fax whose TIFF the host writes in the slot's folder before the method runs
//! (file 1 of the job's file list, see `routines.rs`), and as `RoutingInfoData` what an
//! earlier method handed this method's GUID with `FaxRouteModifyRoutingData` (else
//! NULL). A recording made before routing jobs were recorded has none: the host numbers
//! the faxes itself and the device is the battery's first. `FailureData` an extension
//! hands back is left to its heap (destroyed with the library on Windows).

use std::cell::Cell;

use faxsim_abi::{FALSE, FAX_ROUTE, PFAXROUTEMETHOD};
use faxsim_sim::Callbacks;

use crate::adapter::wide;
use crate::shared::call_c;

/// The exports of `faxext.h`, `faxdev.h` and `faxroute.h` themselves: never a routing
/// method, even when a routing extension exports one of them.
const ENTRY_POINTS: [&str; 16] = [
    faxsim_abi::FAX_EXT_INITIALIZE_CONFIG_SYMBOL,
    faxsim_abi::FAX_DEV_INITIALIZE_SYMBOL,
    faxsim_abi::FAX_DEV_VIRTUAL_DEVICE_CREATION_SYMBOL,
    faxsim_abi::FAX_DEV_SHUTDOWN_SYMBOL,
    faxsim_abi::FAX_DEV_START_JOB_SYMBOL,
    faxsim_abi::FAX_DEV_END_JOB_SYMBOL,
    faxsim_abi::FAX_DEV_SEND_SYMBOL,
    faxsim_abi::FAX_DEV_RECEIVE_SYMBOL,
    faxsim_abi::FAX_DEV_REPORT_STATUS_SYMBOL,
    faxsim_abi::FAX_DEV_ABORT_OPERATION_SYMBOL,
    faxsim_abi::FAX_ROUTE_INITIALIZE_SYMBOL,
    faxsim_abi::FAX_ROUTE_DEVICE_CHANGE_NOTIFICATION_SYMBOL,
    faxsim_abi::FAX_ROUTE_DEVICE_ENABLE_SYMBOL,
    faxsim_abi::FAX_ROUTE_GET_ROUTING_INFO_SYMBOL,
    faxsim_abi::FAX_ROUTE_SET_ROUTING_INFO_SYMBOL,
    "FaxExtConfigChange",
];

/// Whether `name` can be a routing method (not one of the ABI's own entry points).
pub(crate) fn may_be_method(name: &str) -> bool {
    !name.is_empty() && !ENTRY_POINTS.contains(&name)
}

/// The received faxes routed so far on one extension (their job ids).
#[derive(Debug, Default)]
pub(crate) struct RoutedFaxes(Cell<u32>);

/// Calls routing method `method` (of GUID `guid`, when known) of the library in slot
/// `slot` with a `FAX_ROUTE` for the fax being routed.
pub(crate) fn call(
    method: PFAXROUTEMETHOD,
    routed: &RoutedFaxes,
    slot: usize,
    guid: Option<&str>,
    cb: &mut Callbacks<'_>,
) -> i32 {
    let Some(f) = method else {
        return FALSE;
    };
    let (job, device) = cb.routing_job().unwrap_or_else(|| {
        let job = routed.0.get().wrapping_add(1);
        routed.0.set(job);
        (job, crate::battery::BATTERY_DEVICES[0].0)
    });
    crate::routines::write_received_fax(slot, job);
    let mut routing_data: Vec<u8> = guid
        .and_then(|g| cb.routing_data_for(g))
        .map(|d| d.to_vec())
        .unwrap_or_default();
    let csid = wide("+1 555 0100");
    let tsid = wide("+1 555 0199");
    let caller = wide("+1 555 0199");
    let info = wide("");
    let receiver = wide("faxsim");
    let number = wide("+1 555 0100");
    let device_name = wide("faxsim line 1");
    let route = FAX_ROUTE {
        SizeOfStruct: std::mem::size_of::<FAX_ROUTE>() as u32,
        JobId: job,
        ElapsedTime: 30 * 10_000_000, // 30 s in 100 ns units
        ReceiveTime: 0,
        PageCount: 1,
        Csid: csid.as_ptr(),
        Tsid: tsid.as_ptr(),
        CallerId: caller.as_ptr(),
        RoutingInfo: info.as_ptr(),
        ReceiverName: receiver.as_ptr(),
        ReceiverNumber: number.as_ptr(),
        DeviceName: device_name.as_ptr(),
        DeviceId: device,
        RoutingInfoData: if routing_data.is_empty() {
            std::ptr::null_mut()
        } else {
            routing_data.as_mut_ptr()
        },
        RoutingInfoDataSize: routing_data.len() as u32,
    };
    let mut failure: *mut std::ffi::c_void = std::ptr::null_mut();
    let mut failure_size = 0u32;
    call_c(cb, || {
        // SAFETY: the routing method signature of faxroute.h (resolved by the name the
        // user gave); the struct, its strings, the routing data and both out-pointers live
        // until the call returns.
        unsafe { f(&route, &mut failure, &mut failure_size) }
    })
}
