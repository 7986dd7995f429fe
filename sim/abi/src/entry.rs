//! Function-pointer types and exported symbol names.
//!
//! Every pointer type is `Option<unsafe extern "system" fn ..>` with the
//! name and shape windows-sys 0.61 gives it: `None` is C's NULL, and
//! `"system"` is stdcall on 32-bit x86 and the C convention elsewhere,
//! which is what the SDK's `WINAPI`/`CALLBACK` typedefs mean.

use core::ffi::c_void;

use crate::types::{
    BOOL, FALSE, FAX_ENUM_DEVICE_ID_SOURCE, GUID, HANDLE, HINSTANCE, HLINEAPP, HRESULT, PCWSTR,
    PWSTR,
};

// --- configuration API (faxext.h) ---------------------------------------

/// The extension's change handler, handed to Register; not exported.
pub type PFAX_EXT_CONFIG_CHANGE =
    Option<unsafe extern "system" fn(u32, PCWSTR, *mut u8, u32) -> HRESULT>;
/// Service callback that releases a GetData buffer.
pub type PFAX_EXT_FREE_BUFFER = Option<unsafe extern "system" fn(*mut c_void)>;
/// Service callback that reads a (device, GUID) blob into a service buffer.
pub type PFAX_EXT_GET_DATA = Option<
    unsafe extern "system" fn(
        u32,
        FAX_ENUM_DEVICE_ID_SOURCE,
        PCWSTR,
        *mut *mut u8,
        *mut u32,
    ) -> u32,
>;
/// The extension's exported `FaxExtInitializeConfig`, which receives the
/// five service callbacks.
pub type PFAX_EXT_INITIALIZE_CONFIG = Option<
    unsafe extern "system" fn(
        PFAX_EXT_GET_DATA,
        PFAX_EXT_SET_DATA,
        PFAX_EXT_REGISTER_FOR_EVENTS,
        PFAX_EXT_UNREGISTER_FOR_EVENTS,
        PFAX_EXT_FREE_BUFFER,
    ) -> HRESULT,
>;
/// Service callback that subscribes to changes of one (device, GUID);
/// NULL plus last error on failure.
pub type PFAX_EXT_REGISTER_FOR_EVENTS = Option<
    unsafe extern "system" fn(
        HINSTANCE,
        u32,
        FAX_ENUM_DEVICE_ID_SOURCE,
        PCWSTR,
        PFAX_EXT_CONFIG_CHANGE,
    ) -> HANDLE,
>;
/// Service callback that stores a blob; hInst lets the service skip the
/// writer when notifying.
pub type PFAX_EXT_SET_DATA = Option<
    unsafe extern "system" fn(
        HINSTANCE,
        u32,
        FAX_ENUM_DEVICE_ID_SOURCE,
        PCWSTR,
        *mut u8,
        u32,
    ) -> u32,
>;
/// Service callback that ends a registration.
pub type PFAX_EXT_UNREGISTER_FOR_EVENTS = Option<unsafe extern "system" fn(HANDLE) -> u32>;

// --- FSP entry points (faxdev.h) ----------------------------------------

/// The FSP's TAPI line callback, returned through FaxDevInitialize.
pub type PFAX_LINECALLBACK =
    Option<unsafe extern "system" fn(HANDLE, u32, u32, usize, usize, usize, usize)>;
/// Service callback for FSPs; transmission side, so the simulator passes NULL.
pub type PFAX_SERVICE_CALLBACK =
    Option<unsafe extern "system" fn(HANDLE, u32, usize, usize, usize) -> BOOL>;
/// `FaxDevInitialize`: general FSP initialisation; FALSE disables the FSP.
pub type PFAXDEVINITIALIZE = Option<
    unsafe extern "system" fn(
        HLINEAPP,
        HANDLE,
        *mut PFAX_LINECALLBACK,
        PFAX_SERVICE_CALLBACK,
    ) -> BOOL,
>;
/// `FaxDevVirtualDeviceCreation`: its presence makes an FSP virtual.
pub type PFAXDEVVIRTUALDEVICECREATION =
    Option<unsafe extern "system" fn(*mut u32, PWSTR, *mut u32, HANDLE, usize) -> BOOL>;
/// `FaxDevShutdown`: optional; the library is unloaded whatever it returns.
pub type PFAXDEVSHUTDOWN = Option<unsafe extern "system" fn() -> HRESULT>;

// --- FSP job entry points (faxdev.h) -------------------------------------

/// What `FaxDevSend` is given: the file to send and who sends it to whom; laid out like
/// windows-sys' struct of the same name.
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Clone, Copy, Debug)]
pub struct FAX_SEND {
    /// Size of this struct in bytes.
    pub SizeOfStruct: u32,
    /// The TIFF file to send.
    pub FileName: PWSTR,
    /// Sender's name.
    pub CallerName: PWSTR,
    /// Sender's number.
    pub CallerNumber: PWSTR,
    /// Recipient's name.
    pub ReceiverName: PWSTR,
    /// Recipient's number, the one to dial.
    pub ReceiverNumber: PWSTR,
    /// Whether the provider brands the pages.
    pub Branding: BOOL,
    /// A TAPI call handle for a call already placed (0: the provider dials).
    pub CallHandle: u32,
    /// Reserved, zero.
    pub Reserved: [u32; 3],
}

/// What `FaxDevReceive` is given: the file the provider writes the received fax to.
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Clone, Copy, Debug)]
pub struct FAX_RECEIVE {
    /// Size of this struct in bytes.
    pub SizeOfStruct: u32,
    /// Where the provider writes the received TIFF (the service created the file).
    pub FileName: PWSTR,
    /// Receiver's name.
    pub ReceiverName: PWSTR,
    /// Receiver's number.
    pub ReceiverNumber: PWSTR,
    /// Reserved, zero.
    pub Reserved: [u32; 4],
}

/// What `FaxDevReportStatus` fills in; the strings live in the same buffer, after the
/// struct.
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Clone, Copy, Debug)]
pub struct FAX_DEV_STATUS {
    /// Size of this struct in bytes.
    pub SizeOfStruct: u32,
    /// A `FS_*` status code.
    pub StatusId: u32,
    /// A provider string resource id (0: none).
    pub StringId: u32,
    /// Pages sent or received so far.
    pub PageCount: u32,
    /// The remote station id.
    pub CSI: PWSTR,
    /// The caller id.
    pub CallerId: PWSTR,
    /// Routing information.
    pub RoutingInfo: PWSTR,
    /// A Win32 error code.
    pub ErrorCode: u32,
    /// Reserved, zero.
    pub Reserved: [u32; 3],
}

/// The service's callback a provider calls from `FaxDevSend` once the call is made.
pub type PFAX_SEND_CALLBACK = Option<unsafe extern "system" fn(HANDLE, u32, u32, u32) -> BOOL>;
/// `FaxDevStartJob(LineHandle, DeviceId, *FaxHandle, CompletionPort, CompletionKey)`.
pub type PFAXDEVSTARTJOB =
    Option<unsafe extern "system" fn(u32, u32, *mut HANDLE, HANDLE, usize) -> BOOL>;
/// `FaxDevEndJob(FaxHandle)`.
pub type PFAXDEVENDJOB = Option<unsafe extern "system" fn(HANDLE) -> BOOL>;
/// `FaxDevSend(FaxHandle, FaxSend, FaxSendCallback)`.
pub type PFAXDEVSEND =
    Option<unsafe extern "system" fn(HANDLE, *mut FAX_SEND, PFAX_SEND_CALLBACK) -> BOOL>;
/// `FaxDevReceive(FaxHandle, CallHandle, FaxReceive)`.
pub type PFAXDEVRECEIVE = Option<unsafe extern "system" fn(HANDLE, u32, *mut FAX_RECEIVE) -> BOOL>;
/// `FaxDevReportStatus(FaxHandle, FaxStatus, FaxStatusSize, FaxStatusSizeRequired)`.
pub type PFAXDEVREPORTSTATUS =
    Option<unsafe extern "system" fn(HANDLE, *mut FAX_DEV_STATUS, u32, *mut u32) -> BOOL>;
/// `FaxDevAbortOperation(FaxHandle)`.
pub type PFAXDEVABORTOPERATION = Option<unsafe extern "system" fn(HANDLE) -> BOOL>;

/// Capacity in UTF-16 units of the buffer FaxDevVirtualDeviceCreation
/// fills with the device name prefix.
pub const MAX_DEVICE_NAME_PREFIX_CHARS: usize = 128;

// --- routing extension entry points (faxroute.h) -------------------------

/// Routing file callback (job side).
pub type PFAXROUTEADDFILE = Option<unsafe extern "system" fn(u32, PCWSTR, *mut GUID) -> i32>;
/// Routing file callback (job side).
pub type PFAXROUTEDELETEFILE = Option<unsafe extern "system" fn(u32, PCWSTR) -> i32>;
/// Routing file callback (job side).
pub type PFAXROUTEGETFILE = Option<unsafe extern "system" fn(u32, u32, PWSTR, *mut u32) -> BOOL>;
/// Enumerator invoked by [`PFAXROUTEENUMFILES`].
pub type PFAXROUTEENUMFILE =
    Option<unsafe extern "system" fn(u32, *mut GUID, *mut GUID, PCWSTR, *mut c_void) -> BOOL>;
/// Routing file callback (job side).
pub type PFAXROUTEENUMFILES =
    Option<unsafe extern "system" fn(u32, *mut GUID, PFAXROUTEENUMFILE, *mut c_void) -> BOOL>;
/// Routing data callback (job side).
pub type PFAXROUTEMODIFYROUTINGDATA =
    Option<unsafe extern "system" fn(u32, PCWSTR, *mut u8, u32) -> BOOL>;

/// Service callback table handed to FaxRouteInitialize; laid out like
/// windows-sys' struct of the same name so an extension sees the C layout.
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FAX_ROUTE_CALLBACKROUTINES {
    /// Size of this struct in bytes, as the service fills it in.
    pub SizeOfStruct: u32,
    /// Adds a file to a job.
    pub FaxRouteAddFile: PFAXROUTEADDFILE,
    /// Removes a file from a job.
    pub FaxRouteDeleteFile: PFAXROUTEDELETEFILE,
    /// Gets a job file's name.
    pub FaxRouteGetFile: PFAXROUTEGETFILE,
    /// Enumerates a job's files.
    pub FaxRouteEnumFiles: PFAXROUTEENUMFILES,
    /// Changes a job's routing data.
    pub FaxRouteModifyRoutingData: PFAXROUTEMODIFYROUTINGDATA,
}

impl FAX_ROUTE_CALLBACKROUTINES {
    /// A table whose size field is set and whose job-side callbacks all
    /// fail harmlessly: the simulator does not model fax jobs, but an
    /// extension that calls one should get FALSE rather than a NULL jump.
    pub fn inert() -> Self {
        Self {
            SizeOfStruct: core::mem::size_of::<Self>() as u32,
            FaxRouteAddFile: Some(inert_add_file),
            FaxRouteDeleteFile: Some(inert_delete_file),
            FaxRouteGetFile: Some(inert_get_file),
            FaxRouteEnumFiles: Some(inert_enum_files),
            FaxRouteModifyRoutingData: Some(inert_modify_routing_data),
        }
    }
}

extern "system" fn inert_add_file(_: u32, _: PCWSTR, _: *mut GUID) -> i32 {
    0
}
extern "system" fn inert_delete_file(_: u32, _: PCWSTR) -> i32 {
    0
}
extern "system" fn inert_get_file(_: u32, _: u32, _: PWSTR, _: *mut u32) -> BOOL {
    FALSE
}
extern "system" fn inert_enum_files(
    _: u32,
    _: *mut GUID,
    _: PFAXROUTEENUMFILE,
    _: *mut c_void,
) -> BOOL {
    FALSE
}
extern "system" fn inert_modify_routing_data(_: u32, _: PCWSTR, _: *mut u8, _: u32) -> BOOL {
    FALSE
}

/// `FaxRouteInitialize`: routing extension initialisation.
pub type PFAXROUTEINITIALIZE =
    Option<unsafe extern "system" fn(HANDLE, *mut FAX_ROUTE_CALLBACKROUTINES) -> BOOL>;
/// `FaxRouteDeviceChangeNotification`: TRUE = device added, FALSE = removed.
pub type PFAXROUTEDEVICECHANGENOTIFICATION = Option<unsafe extern "system" fn(u32, BOOL) -> BOOL>;
/// `FaxRouteDeviceEnable`: query or set a routing method on a device.
pub type PFAXROUTEDEVICEENABLE = Option<unsafe extern "system" fn(PCWSTR, u32, i32) -> BOOL>;
/// `FaxRouteGetRoutingInfo`: the service reads a method's per-device data.
pub type PFAXROUTEGETROUTINGINFO =
    Option<unsafe extern "system" fn(PCWSTR, u32, *mut u8, *mut u32) -> BOOL>;
/// `FaxRouteSetRoutingInfo`: the service pushes a method's per-device data.
pub type PFAXROUTESETROUTINGINFO =
    Option<unsafe extern "system" fn(PCWSTR, u32, *const u8, u32) -> BOOL>;

/// What a routing method is given for a received fax; laid out like windows-sys' struct
/// of the same name.
#[repr(C)]
#[allow(non_snake_case)]
#[derive(Clone, Copy, Debug)]
pub struct FAX_ROUTE {
    /// Size of this struct in bytes.
    pub SizeOfStruct: u32,
    /// The fax job's id.
    pub JobId: u32,
    /// How long the reception took (a FILETIME-style count of 100 ns units).
    pub ElapsedTime: u64,
    /// When the fax was received (a FILETIME).
    pub ReceiveTime: u64,
    /// Pages received.
    pub PageCount: u32,
    /// The receiving station's id.
    pub Csid: PCWSTR,
    /// The sending station's id.
    pub Tsid: PCWSTR,
    /// The caller id.
    pub CallerId: PCWSTR,
    /// Routing information from the sender.
    pub RoutingInfo: PCWSTR,
    /// Receiver's name.
    pub ReceiverName: PCWSTR,
    /// Receiver's number.
    pub ReceiverNumber: PCWSTR,
    /// The device's name.
    pub DeviceName: PCWSTR,
    /// The device's logical id.
    pub DeviceId: u32,
    /// The method's routing data for the device.
    pub RoutingInfoData: *mut u8,
    /// Its size in bytes.
    pub RoutingInfoDataSize: u32,
}

/// A routing method: `BOOL (const FAX_ROUTE *, PVOID *FailureData, LPDWORD
/// FailureDataSize)`; exported under the name the extension registered for the method.
pub type PFAXROUTEMETHOD =
    Option<unsafe extern "system" fn(*const FAX_ROUTE, *mut *mut c_void, *mut u32) -> BOOL>;

/// Third argument of FaxRouteDeviceEnable.
pub type FAXROUTE_ENABLE = i32;
/// Asks for the current state instead of changing it.
pub const QUERY_STATUS: FAXROUTE_ENABLE = -1;
/// Disables the method on the device.
pub const STATUS_DISABLE: FAXROUTE_ENABLE = 0;
/// Enables the method on the device.
pub const STATUS_ENABLE: FAXROUTE_ENABLE = 1;

// --- exported symbol names ----------------------------------------------
//
// Undecorated names, as the service looks them up. On 32-bit x86 a stdcall
// export is decorated unless a .def file (or equivalent) renames it.

/// Optional export of any extension kind; only exporters take part.
pub const FAX_EXT_INITIALIZE_CONFIG_SYMBOL: &str = "FaxExtInitializeConfig";
/// Required export of an FSP.
pub const FAX_DEV_INITIALIZE_SYMBOL: &str = "FaxDevInitialize";
/// Export that marks a virtual FSP.
pub const FAX_DEV_VIRTUAL_DEVICE_CREATION_SYMBOL: &str = "FaxDevVirtualDeviceCreation";
/// Optional FSP export called before unload.
pub const FAX_DEV_SHUTDOWN_SYMBOL: &str = "FaxDevShutdown";
/// FSP job export: a job begins on a device.
pub const FAX_DEV_START_JOB_SYMBOL: &str = "FaxDevStartJob";
/// FSP job export: the job ends.
pub const FAX_DEV_END_JOB_SYMBOL: &str = "FaxDevEndJob";
/// FSP job export: send a fax.
pub const FAX_DEV_SEND_SYMBOL: &str = "FaxDevSend";
/// FSP job export: receive a fax.
pub const FAX_DEV_RECEIVE_SYMBOL: &str = "FaxDevReceive";
/// FSP job export: the job's status.
pub const FAX_DEV_REPORT_STATUS_SYMBOL: &str = "FaxDevReportStatus";
/// FSP job export: stop the job's operation.
pub const FAX_DEV_ABORT_OPERATION_SYMBOL: &str = "FaxDevAbortOperation";
/// Required export of a routing extension.
pub const FAX_ROUTE_INITIALIZE_SYMBOL: &str = "FaxRouteInitialize";
/// Required export of a routing extension.
pub const FAX_ROUTE_DEVICE_CHANGE_NOTIFICATION_SYMBOL: &str = "FaxRouteDeviceChangeNotification";
/// Required export of a routing extension.
pub const FAX_ROUTE_DEVICE_ENABLE_SYMBOL: &str = "FaxRouteDeviceEnable";
/// Required export of a routing extension.
pub const FAX_ROUTE_GET_ROUTING_INFO_SYMBOL: &str = "FaxRouteGetRoutingInfo";
/// Required export of a routing extension.
pub const FAX_ROUTE_SET_ROUTING_INFO_SYMBOL: &str = "FaxRouteSetRoutingInfo";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inert_table_is_sized_and_fails() {
        let t = FAX_ROUTE_CALLBACKROUTINES::inert();
        assert_eq!(
            t.SizeOfStruct as usize,
            core::mem::size_of::<FAX_ROUTE_CALLBACKROUTINES>()
        );
        assert!(t.FaxRouteAddFile.is_some() && t.FaxRouteModifyRoutingData.is_some());
        assert_eq!(
            inert_get_file(1, 0, core::ptr::null_mut(), core::ptr::null_mut()),
            FALSE
        );
        let zero = FAX_ROUTE_CALLBACKROUTINES::default();
        assert_eq!(zero.SizeOfStruct, 0);
        assert!(zero.FaxRouteEnumFiles.is_none());
    }

    #[test]
    fn function_pointers_are_pointer_sized() {
        // Option<fn> must be exactly a nullable C function pointer.
        assert_eq!(
            core::mem::size_of::<PFAX_EXT_INITIALIZE_CONFIG>(),
            core::mem::size_of::<usize>()
        );
        assert_eq!(
            core::mem::size_of::<PFAX_EXT_GET_DATA>(),
            core::mem::size_of::<usize>()
        );
    }
}
