//! Fails to compile if a faxsim-abi type drifts from windows-sys, and fails
//! at run time if a constant does. windows-sys is only a dev-dependency, so
//! this is the one place the two meet; its aliases build on every target.
#![allow(non_camel_case_types)]

use core::mem::{align_of, offset_of, size_of};

use faxsim_abi as ours;
use windows_sys::Win32::Devices::Fax as ws;
use windows_sys::Win32::Foundation as wf;
use windows_sys::core as wc;

/// `same!(A, B)` compiles only if A and B are the same type.
macro_rules! same {
    ($ours:ty, $theirs:ty) => {
        const _: fn($ours) -> $theirs = |x| x;
        const _: fn($theirs) -> $ours = |x| x;
    };
}

// Scalars and handles.
same!(ours::HRESULT, wc::HRESULT);
same!(ours::BOOL, wc::BOOL);
same!(ours::PCWSTR, wc::PCWSTR);
same!(ours::PWSTR, wc::PWSTR);
same!(ours::HANDLE, wf::HANDLE);
same!(ours::HINSTANCE, wf::HINSTANCE);
same!(ours::WIN32_ERROR, wf::WIN32_ERROR);
same!(
    ours::FAX_ENUM_DEVICE_ID_SOURCE,
    ws::FAX_ENUM_DEVICE_ID_SOURCE
);
same!(ours::FAXROUTE_ENABLE, ws::FAXROUTE_ENABLE);

// The seven configuration API pointer types.
same!(ours::PFAX_EXT_GET_DATA, ws::PFAX_EXT_GET_DATA);
same!(ours::PFAX_EXT_SET_DATA, ws::PFAX_EXT_SET_DATA);
same!(
    ours::PFAX_EXT_REGISTER_FOR_EVENTS,
    ws::PFAX_EXT_REGISTER_FOR_EVENTS
);
same!(
    ours::PFAX_EXT_UNREGISTER_FOR_EVENTS,
    ws::PFAX_EXT_UNREGISTER_FOR_EVENTS
);
same!(ours::PFAX_EXT_FREE_BUFFER, ws::PFAX_EXT_FREE_BUFFER);
same!(ours::PFAX_EXT_CONFIG_CHANGE, ws::PFAX_EXT_CONFIG_CHANGE);
same!(
    ours::PFAX_EXT_INITIALIZE_CONFIG,
    ws::PFAX_EXT_INITIALIZE_CONFIG
);

// FSP entry points and the callbacks they mention (HLINEAPP is a bare u32
// in windows-sys, so PFAXDEVINITIALIZE's identity also pins HLINEAPP).
same!(ours::HLINEAPP, u32);
same!(ours::ULONG_PTR, usize);
same!(ours::PFAX_LINECALLBACK, ws::PFAX_LINECALLBACK);
same!(ours::PFAX_SERVICE_CALLBACK, ws::PFAX_SERVICE_CALLBACK);
same!(ours::PFAXDEVINITIALIZE, ws::PFAXDEVINITIALIZE);
same!(
    ours::PFAXDEVVIRTUALDEVICECREATION,
    ws::PFAXDEVVIRTUALDEVICECREATION
);
same!(ours::PFAXDEVSHUTDOWN, ws::PFAXDEVSHUTDOWN);
same!(ours::PFAX_SEND_CALLBACK, ws::PFAX_SEND_CALLBACK);
same!(ours::PFAXDEVSTARTJOB, ws::PFAXDEVSTARTJOB);
same!(ours::PFAXDEVENDJOB, ws::PFAXDEVENDJOB);
same!(ours::PFAXDEVABORTOPERATION, ws::PFAXDEVABORTOPERATION);

// Routing entry points without struct parameters.
same!(
    ours::PFAXROUTEDEVICECHANGENOTIFICATION,
    ws::PFAXROUTEDEVICECHANGENOTIFICATION
);
same!(ours::PFAXROUTEDEVICEENABLE, ws::PFAXROUTEDEVICEENABLE);
same!(ours::PFAXROUTEGETROUTINGINFO, ws::PFAXROUTEGETROUTINGINFO);
same!(ours::PFAXROUTESETROUTINGINFO, ws::PFAXROUTESETROUTINGINFO);
same!(ours::PFAXROUTEDELETEFILE, ws::PFAXROUTEDELETEFILE);
same!(ours::PFAXROUTEGETFILE, ws::PFAXROUTEGETFILE);
same!(
    ours::PFAXROUTEMODIFYROUTINGDATA,
    ws::PFAXROUTEMODIFYROUTINGDATA
);

// Types that mention GUID or the callback table cannot be identical to
// windows-sys' (those are distinct structs), so each is checked against one
// generic shape instantiated with each crate's struct, and the structs'
// layouts are compared below.
type AddFile<G> = Option<unsafe extern "system" fn(u32, ours::PCWSTR, *mut G) -> i32>;
type EnumFile<G> = Option<
    unsafe extern "system" fn(
        u32,
        *mut G,
        *mut G,
        ours::PCWSTR,
        *mut core::ffi::c_void,
    ) -> ours::BOOL,
>;
type EnumFiles<G, E> =
    Option<unsafe extern "system" fn(u32, *mut G, E, *mut core::ffi::c_void) -> ours::BOOL>;
type RouteInit<T> = Option<unsafe extern "system" fn(ours::HANDLE, *mut T) -> ours::BOOL>;

same!(ours::PFAXROUTEADDFILE, AddFile<ours::GUID>);
same!(ws::PFAXROUTEADDFILE, AddFile<wc::GUID>);
same!(ours::PFAXROUTEENUMFILE, EnumFile<ours::GUID>);
same!(ws::PFAXROUTEENUMFILE, EnumFile<wc::GUID>);
same!(ours::PFAXROUTEENUMFILES, EnumFiles<ours::GUID, ours::PFAXROUTEENUMFILE>);
same!(ws::PFAXROUTEENUMFILES, EnumFiles<wc::GUID, ws::PFAXROUTEENUMFILE>);
same!(
    ours::PFAXROUTEINITIALIZE,
    RouteInit<ours::FAX_ROUTE_CALLBACKROUTINES>
);
same!(
    ws::PFAXROUTEINITIALIZE,
    RouteInit<ws::FAX_ROUTE_CALLBACKROUTINES>
);

// Field names and types: the exhaustive patterns stop compiling if either
// side gains, loses or renames a field; the return types pin field types.
type Fields<A, E> = (
    u32,
    A,
    ours::PFAXROUTEDELETEFILE,
    ours::PFAXROUTEGETFILE,
    E,
    ours::PFAXROUTEMODIFYROUTINGDATA,
);

#[allow(non_snake_case)]
fn _our_fields(
    t: ours::FAX_ROUTE_CALLBACKROUTINES,
) -> Fields<ours::PFAXROUTEADDFILE, ours::PFAXROUTEENUMFILES> {
    let ours::FAX_ROUTE_CALLBACKROUTINES {
        SizeOfStruct,
        FaxRouteAddFile,
        FaxRouteDeleteFile,
        FaxRouteGetFile,
        FaxRouteEnumFiles,
        FaxRouteModifyRoutingData,
    } = t;
    (
        SizeOfStruct,
        FaxRouteAddFile,
        FaxRouteDeleteFile,
        FaxRouteGetFile,
        FaxRouteEnumFiles,
        FaxRouteModifyRoutingData,
    )
}

#[allow(non_snake_case)]
fn _their_fields(
    t: ws::FAX_ROUTE_CALLBACKROUTINES,
) -> Fields<ws::PFAXROUTEADDFILE, ws::PFAXROUTEENUMFILES> {
    let ws::FAX_ROUTE_CALLBACKROUTINES {
        SizeOfStruct,
        FaxRouteAddFile,
        FaxRouteDeleteFile,
        FaxRouteGetFile,
        FaxRouteEnumFiles,
        FaxRouteModifyRoutingData,
    } = t;
    (
        SizeOfStruct,
        FaxRouteAddFile,
        FaxRouteDeleteFile,
        FaxRouteGetFile,
        FaxRouteEnumFiles,
        FaxRouteModifyRoutingData,
    )
}

fn _our_guid(g: ours::GUID) -> (u32, u16, u16, [u8; 8]) {
    let ours::GUID {
        data1,
        data2,
        data3,
        data4,
    } = g;
    (data1, data2, data3, data4)
}

fn _their_guid(g: wc::GUID) -> (u32, u16, u16, [u8; 8]) {
    let wc::GUID {
        data1,
        data2,
        data3,
        data4,
    } = g;
    (data1, data2, data3, data4)
}

/// `same_layout!(A, B, field..)`: equal size, alignment and field offsets.
macro_rules! same_layout {
    ($a:ty, $b:ty $(, $f:ident)*) => {
        const _: () = assert!(size_of::<$a>() == size_of::<$b>());
        const _: () = assert!(align_of::<$a>() == align_of::<$b>());
        $(const _: () = assert!(offset_of!($a, $f) == offset_of!($b, $f));)*
    };
}

same_layout!(ours::GUID, wc::GUID, data1, data2, data3, data4);
same_layout!(
    ours::FAX_SEND,
    ws::FAX_SEND,
    SizeOfStruct,
    FileName,
    CallerName,
    CallerNumber,
    ReceiverName,
    ReceiverNumber,
    Branding,
    CallHandle,
    Reserved
);
same_layout!(
    ours::FAX_ROUTE,
    ws::FAX_ROUTE,
    SizeOfStruct,
    JobId,
    ElapsedTime,
    ReceiveTime,
    PageCount,
    Csid,
    Tsid,
    CallerId,
    RoutingInfo,
    ReceiverName,
    ReceiverNumber,
    DeviceName,
    DeviceId,
    RoutingInfoData,
    RoutingInfoDataSize
);
same_layout!(
    ours::FAX_RECEIVE,
    ws::FAX_RECEIVE,
    SizeOfStruct,
    FileName,
    ReceiverName,
    ReceiverNumber,
    Reserved
);
same_layout!(
    ours::FAX_DEV_STATUS,
    ws::FAX_DEV_STATUS,
    SizeOfStruct,
    StatusId,
    StringId,
    PageCount,
    CSI,
    CallerId,
    RoutingInfo,
    ErrorCode,
    Reserved
);
same_layout!(
    ours::FAX_ROUTE_CALLBACKROUTINES,
    ws::FAX_ROUTE_CALLBACKROUTINES,
    SizeOfStruct,
    FaxRouteAddFile,
    FaxRouteDeleteFile,
    FaxRouteGetFile,
    FaxRouteEnumFiles,
    FaxRouteModifyRoutingData
);

#[test]
fn enum_and_flag_constants_match() {
    assert_eq!(ours::DEV_ID_SRC_FAX, ws::DEV_ID_SRC_FAX);
    assert_eq!(ours::DEV_ID_SRC_TAPI, ws::DEV_ID_SRC_TAPI);
    assert_eq!(ours::QUERY_STATUS, ws::QUERY_STATUS);
    assert_eq!(ours::STATUS_DISABLE, ws::STATUS_DISABLE);
    assert_eq!(ours::STATUS_ENABLE, ws::STATUS_ENABLE);
    assert_eq!(ours::TRUE, wf::TRUE);
    assert_eq!(ours::FALSE, wf::FALSE);
}

#[test]
fn win32_codes_match() {
    let pairs = [
        (ours::ERROR_SUCCESS, wf::ERROR_SUCCESS),
        (ours::ERROR_FILE_NOT_FOUND, wf::ERROR_FILE_NOT_FOUND),
        (ours::ERROR_ACCESS_DENIED, wf::ERROR_ACCESS_DENIED),
        (ours::ERROR_INVALID_HANDLE, wf::ERROR_INVALID_HANDLE),
        (ours::ERROR_NOT_ENOUGH_MEMORY, wf::ERROR_NOT_ENOUGH_MEMORY),
        (ours::ERROR_OUTOFMEMORY, wf::ERROR_OUTOFMEMORY),
        (ours::ERROR_GEN_FAILURE, wf::ERROR_GEN_FAILURE),
        (ours::ERROR_NOT_SUPPORTED, wf::ERROR_NOT_SUPPORTED),
        (ours::ERROR_ALREADY_ASSIGNED, wf::ERROR_ALREADY_ASSIGNED),
        (ours::ERROR_INVALID_PARAMETER, wf::ERROR_INVALID_PARAMETER),
        (
            ours::ERROR_INSUFFICIENT_BUFFER,
            wf::ERROR_INSUFFICIENT_BUFFER,
        ),
        (ours::ERROR_BUSY, wf::ERROR_BUSY),
        (ours::ERROR_BADDB, wf::ERROR_BADDB),
        (ours::ERROR_REGISTRY_CORRUPT, wf::ERROR_REGISTRY_CORRUPT),
        (
            ours::ERROR_SHUTDOWN_IN_PROGRESS,
            wf::ERROR_SHUTDOWN_IN_PROGRESS,
        ),
        (ours::ERROR_NOT_FOUND, wf::ERROR_NOT_FOUND),
        (ours::ERROR_BAD_CONFIGURATION, wf::ERROR_BAD_CONFIGURATION),
    ];
    for (o, w) in pairs {
        assert_eq!(o, w, "{:?}", ours::win32_error_name(o));
    }
    // Every named code is covered above.
    assert_eq!(pairs.len(), ours::WIN32_ERROR_NAMES.len());
}

#[test]
fn hresults_match() {
    // windows-sys types NOERROR as u32; ours is an HRESULT of the same value.
    assert_eq!(ours::NOERROR as u32, wf::NOERROR);
    let pairs = [
        (ours::S_OK, wf::S_OK),
        (ours::S_FALSE, wf::S_FALSE),
        (ours::E_FAIL, wf::E_FAIL),
        (ours::E_NOTIMPL, wf::E_NOTIMPL),
        (ours::E_POINTER, wf::E_POINTER),
        (ours::E_INVALIDARG, wf::E_INVALIDARG),
        (ours::E_OUTOFMEMORY, wf::E_OUTOFMEMORY),
        (ours::E_UNEXPECTED, wf::E_UNEXPECTED),
    ];
    for (o, w) in pairs {
        assert_eq!(o, w, "{:?}", ours::hresult_name(o));
    }
    assert_eq!(pairs.len(), ours::HRESULT_NAMES.len());
}

#[test]
fn invalid_handle_value_matches() {
    assert_eq!(ours::INVALID_HANDLE_VALUE, wf::INVALID_HANDLE_VALUE);
    assert!(ours::is_invalid_handle_value(wf::INVALID_HANDLE_VALUE));
}

#[test]
fn guid_from_u128_matches() {
    let v = 0x9b9a_0c4c_2e2a_4a8e_b2b1_7f3c_5d6e_8f90_u128;
    let (a, b) = (ours::GUID::from_u128(v), wc::GUID::from_u128(v));
    assert_eq!(_our_guid(a), _their_guid(b));
}

#[test]
fn inert_table_declares_the_windows_sys_size() {
    let t = ours::FAX_ROUTE_CALLBACKROUTINES::inert();
    assert_eq!(
        t.SizeOfStruct as usize,
        size_of::<ws::FAX_ROUTE_CALLBACKROUTINES>()
    );
    assert_eq!(_our_fields(t).0, t.SizeOfStruct);
    assert_eq!(_their_fields(Default::default()).0, 0);
}
