//! The sim's view of an extension: a trait with one method per entry point the service
//! calls. Real libraries (through the host's FFI adapter), in-process Rust extensions and
//! scripted extensions all implement it.
//!
//! Methods take `&self`: the service may call back into an extension while it is already
//! inside one of its own calls (a SetData from a ConfigChange that notifies it again),
//! just as a C library is re-entered on the same thread. Keep mutable state in `Cell`s
//! or `RefCell`s and never hold a borrow across a callback.

use faxsim_abi::{FALSE, NOERROR, QUERY_STATUS, S_OK, TRUE};
use faxsim_trace::{CallbackId, Exports, ExtensionKind};

use crate::service::Callbacks;

/// What `FaxDevVirtualDeviceCreation` reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualDevices {
    /// The BOOL result.
    pub ok: bool,
    /// `*DeviceCount` (0 fails the provider's initialisation).
    pub count: u32,
    /// `*DeviceIdPrefix` (must be non-zero): the devices are `prefix + i`.
    pub id_prefix: u32,
    /// `DeviceNamePrefix`.
    pub name_prefix: String,
}

/// What `FaxRouteGetRoutingInfo` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingInfo {
    /// The BOOL result.
    pub ok: bool,
    /// `*RoutingInfoSize` on return: the size of the method's data.
    pub size: u32,
    /// What it wrote into the buffer (`None` without a buffer, or on failure).
    pub data: Option<Vec<u8>>,
}

/// A ConfigChange call: what the registrant is told.
#[derive(Debug)]
pub struct ConfigChange<'a> {
    /// The callback pointer the registration was made with.
    pub callback: CallbackId,
    /// `dwDeviceId`, in the id space the registrant used.
    pub device: u32,
    /// `lpcwstrDataGUID`, in the exact form the registrant used.
    pub guid: &'a str,
    /// `lpData`: the service's bytes, valid only during the call.
    pub data: &'a [u8],
    /// `seq` of this ConfigChangeCall event (what a `free(lpData)` names).
    pub delivery: u64,
    pub(crate) scribble: Option<u32>,
}

impl ConfigChange<'_> {
    /// Models writing into `lpData` at `offset` (a bug: `change-buffer-written`). The
    /// service's bytes are not changed; the write is reported when the call returns.
    pub fn write_into_data(&mut self, offset: u32) {
        self.scribble.get_or_insert(offset);
    }
}

/// One extension, as the service sees it. Every method has the default a library that
/// does not export that entry point (or does nothing in it) would have.
pub trait Extension {
    /// The optional entry points it exports.
    fn exports(&self) -> Exports {
        Exports {
            initialize_config: true,
            dev_shutdown: true,
            route_device_change: true,
        }
    }

    /// `FaxDevVirtualDeviceCreation` (virtual FSPs only).
    fn virtual_device_creation(&self, _cb: &mut Callbacks<'_>) -> VirtualDevices {
        VirtualDevices {
            ok: false,
            count: 0,
            id_prefix: 0,
            name_prefix: String::new(),
        }
    }

    /// `FaxExtInitializeConfig`: the callbacks are handed out here.
    fn initialize_config(&self, _cb: &mut Callbacks<'_>) -> i32 {
        NOERROR
    }

    /// `FaxDevInitialize` (providers).
    fn dev_initialize(&self, _cb: &mut Callbacks<'_>) -> bool {
        true
    }

    /// `FaxRouteInitialize` (routing extensions).
    fn route_initialize(&self, _cb: &mut Callbacks<'_>) -> bool {
        true
    }

    /// `FaxRouteDeviceChangeNotification` (routing extensions).
    fn route_device_change(&self, _cb: &mut Callbacks<'_>, _device: u32, _new: bool) -> bool {
        true
    }

    /// `FaxDevShutdown` (providers that export it).
    fn dev_shutdown(&self, _cb: &mut Callbacks<'_>) -> i32 {
        S_OK
    }

    /// `FaxRouteDeviceEnable` (routing extensions): asks whether routing method `guid`
    /// is enabled on `device` (`enabled` = `QUERY_STATUS`), or enables (`STATUS_ENABLE`)
    /// or disables (`STATUS_DISABLE`) it. Returns the BOOL; for a query, the state.
    fn route_device_enable(
        &self,
        _cb: &mut Callbacks<'_>,
        _guid: Option<&str>,
        _device: u32,
        enabled: i32,
    ) -> i32 {
        if enabled == QUERY_STATUS { FALSE } else { TRUE }
    }

    /// `FaxRouteGetRoutingInfo` (routing extensions): the data of routing method `guid`
    /// on `device`, into a buffer of `capacity` bytes (`None`: no buffer, the service
    /// asks for the size).
    fn route_get_routing_info(
        &self,
        _cb: &mut Callbacks<'_>,
        _guid: Option<&str>,
        _device: u32,
        _capacity: Option<u32>,
    ) -> RoutingInfo {
        RoutingInfo {
            ok: false,
            size: 0,
            data: None,
        }
    }

    /// `FaxRouteSetRoutingInfo` (routing extensions): new data for routing method `guid`
    /// on `device`.
    fn route_set_routing_info(
        &self,
        _cb: &mut Callbacks<'_>,
        _guid: Option<&str>,
        _device: u32,
        _data: Option<&[u8]>,
        _size: u32,
    ) -> bool {
        false
    }

    /// Whether the service can call entry point `function` (one faxsim forwards but does
    /// not model: the job side of `faxdev.h`, routing methods) without its arguments:
    /// only an extension played from a recording can.
    fn drives_entry_point(&self, _function: &str) -> bool {
        false
    }

    /// Entry point `function`, called without its arguments (see
    /// [`Extension::drives_entry_point`]). Returns its BOOL.
    fn entry_point(&self, _cb: &mut Callbacks<'_>, _function: &str) -> i32 {
        FALSE
    }

    /// A ConfigChange callback registered by this extension.
    fn config_change(&self, _cb: &mut Callbacks<'_>, _change: &mut ConfigChange<'_>) -> i32 {
        NOERROR
    }

    /// The service is about to unload the library (not an entry point: nothing is called
    /// in the extension). A host reports here what it finds in real memory, such as
    /// damaged guard zones, so those events come before `Unload`.
    fn unloading(&self, _cb: &mut Callbacks<'_>) {}

    /// The library was unloaded: forget everything, as a DLL's globals would be.
    fn unloaded(&self) {}
}

/// How an extension is added to a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionSpec {
    /// Its name in reports (a library's file stem unless a scenario names it).
    pub name: String,
    /// Its kind.
    pub kind: ExtensionKind,
}
