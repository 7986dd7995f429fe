//! [`HookExtension`]: an in-process extension assembled from closures, one per entry
//! point. Tests use it to state exactly what an extension does at each point; so can
//! users who want a quick protocol test without writing a type.

use faxsim_abi::{NOERROR, S_OK};
use faxsim_trace::Exports;

use crate::extension::{ConfigChange, Extension, VirtualDevices};
use crate::service::Callbacks;

type InitHook = Box<dyn Fn(&mut Callbacks<'_>) -> i32>;
type BoolHook = Box<dyn Fn(&mut Callbacks<'_>) -> bool>;
type ChangeHook = Box<dyn Fn(&mut Callbacks<'_>, &mut ConfigChange<'_>) -> i32>;
type DeviceHook = Box<dyn Fn(&mut Callbacks<'_>, u32, bool) -> bool>;
type VdcHook = Box<dyn Fn(&mut Callbacks<'_>) -> VirtualDevices>;

/// An extension whose entry points are closures (each defaults to doing nothing and
/// succeeding).
#[derive(Default)]
pub struct HookExtension {
    exports: Option<Exports>,
    config_init: Option<InitHook>,
    general_init: Option<BoolHook>,
    virtual_devices: Option<VdcHook>,
    change: Option<ChangeHook>,
    device: Option<DeviceHook>,
    shutdown: Option<InitHook>,
    unloaded: Option<Box<dyn Fn()>>,
}

impl std::fmt::Debug for HookExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookExtension")
            .field("exports", &self.exports)
            .finish_non_exhaustive()
    }
}

impl HookExtension {
    /// An extension that exports everything and does nothing.
    pub fn new() -> HookExtension {
        HookExtension::default()
    }

    /// Sets the optional exports.
    pub fn exports(mut self, exports: Exports) -> Self {
        self.exports = Some(exports);
        self
    }

    /// `FaxExtInitializeConfig`.
    pub fn on_config_init(mut self, f: impl Fn(&mut Callbacks<'_>) -> i32 + 'static) -> Self {
        self.config_init = Some(Box::new(f));
        self
    }

    /// `FaxDevInitialize` / `FaxRouteInitialize`.
    pub fn on_general_init(mut self, f: impl Fn(&mut Callbacks<'_>) -> bool + 'static) -> Self {
        self.general_init = Some(Box::new(f));
        self
    }

    /// `FaxDevVirtualDeviceCreation`.
    pub fn on_virtual_devices(
        mut self,
        f: impl Fn(&mut Callbacks<'_>) -> VirtualDevices + 'static,
    ) -> Self {
        self.virtual_devices = Some(Box::new(f));
        self
    }

    /// Every ConfigChange.
    pub fn on_change(
        mut self,
        f: impl Fn(&mut Callbacks<'_>, &mut ConfigChange<'_>) -> i32 + 'static,
    ) -> Self {
        self.change = Some(Box::new(f));
        self
    }

    /// `FaxRouteDeviceChangeNotification`.
    pub fn on_device(
        mut self,
        f: impl Fn(&mut Callbacks<'_>, u32, bool) -> bool + 'static,
    ) -> Self {
        self.device = Some(Box::new(f));
        self
    }

    /// `FaxDevShutdown`.
    pub fn on_shutdown(mut self, f: impl Fn(&mut Callbacks<'_>) -> i32 + 'static) -> Self {
        self.shutdown = Some(Box::new(f));
        self
    }

    /// Unload.
    pub fn on_unload(mut self, f: impl Fn() + 'static) -> Self {
        self.unloaded = Some(Box::new(f));
        self
    }
}

impl Extension for HookExtension {
    fn exports(&self) -> Exports {
        self.exports.unwrap_or(Exports {
            initialize_config: true,
            dev_shutdown: true,
            route_device_change: true,
        })
    }

    fn virtual_device_creation(&self, cb: &mut Callbacks<'_>) -> VirtualDevices {
        match &self.virtual_devices {
            Some(f) => f(cb),
            None => VirtualDevices {
                ok: true,
                count: 1,
                id_prefix: 0x1000,
                name_prefix: "Virtual".into(),
            },
        }
    }

    fn initialize_config(&self, cb: &mut Callbacks<'_>) -> i32 {
        self.config_init.as_ref().map_or(NOERROR, |f| f(cb))
    }

    fn dev_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        self.general_init.as_ref().is_none_or(|f| f(cb))
    }

    fn route_initialize(&self, cb: &mut Callbacks<'_>) -> bool {
        self.general_init.as_ref().is_none_or(|f| f(cb))
    }

    fn route_device_change(&self, cb: &mut Callbacks<'_>, device: u32, new: bool) -> bool {
        self.device.as_ref().is_none_or(|f| f(cb, device, new))
    }

    fn dev_shutdown(&self, cb: &mut Callbacks<'_>) -> i32 {
        self.shutdown.as_ref().map_or(S_OK, |f| f(cb))
    }

    fn config_change(&self, cb: &mut Callbacks<'_>, change: &mut ConfigChange<'_>) -> i32 {
        self.change.as_ref().map_or(NOERROR, |f| f(cb, change))
    }

    fn unloaded(&self) {
        if let Some(f) = &self.unloaded {
            f();
        }
    }
}
