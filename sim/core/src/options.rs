//! Service options: every modelling choice of the protocol as a named option with the
//! default `docs/choices.md` explains, the delivery policy, the limits, and the deliberate
//! service deviations used to test the service-side rules and extensions' robustness.

use serde::{Deserialize, Serialize};

/// The largest value the service stores (64 MiB, choices V5): a larger SetData gets
/// `ERROR_NOT_ENOUGH_MEMORY`, so every event of a run fits a trace
/// (`faxsim_trace::MAX_EVENT_LEN`, 80 MiB).
pub const MAX_STORED_VALUE: u32 = 64 << 20;

/// When and in which order notifications are delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryPolicy {
    /// On the writer's thread before SetData returns, one registration at a time, in
    /// registration order (the default choice).
    #[default]
    Sync,
    /// Like `sync`, but the registrations of each write are visited in a seeded order.
    Shuffled,
    /// Queued and delivered at seeded later scheduling points (per registration in write
    /// order), as a real service might deliver from another thread.
    Deferred,
}

impl DeliveryPolicy {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryPolicy::Sync => "sync",
            DeliveryPolicy::Shuffled => "shuffled",
            DeliveryPolicy::Deferred => "deferred",
        }
    }
}

/// Where `FaxDevInitialize` falls for a virtual FSP (the documentation never places it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VirtualFspInitOrder {
    /// `FaxDevVirtualDeviceCreation` → `FaxExtInitializeConfig` → `FaxDevInitialize` (default).
    #[default]
    AfterConfigInit,
    /// `FaxDevInitialize` → `FaxDevVirtualDeviceCreation` → `FaxExtInitializeConfig`.
    BeforeDeviceCreation,
}

/// The order extensions are loaded and initialised in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadOrder {
    /// Providers first, then routing extensions, each group in the order added (default).
    #[default]
    ProvidersFirst,
    /// Exactly the order the extensions were added.
    AsAdded,
}

/// Limits that keep every run finite; each has its own error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Nesting depth of notifications (SetData from inside ConfigChange); deeper deliveries
    /// are cut and reported as `notification-storm`.
    pub nesting: u32,
    /// Events (counted across restarts) before the run aborts with `LimitExceeded(events)`.
    pub events: u64,
    /// Scheduling steps (counted across restarts) before the run aborts with `LimitExceeded(steps)`.
    pub steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nesting: 16,
            events: 10_000_000,
            steps: 1_000_000,
        }
    }
}

/// Deliberate breaches of the service's side of the contract. Real services race (a
/// notification already in flight when Unregister is called arrives late); extensions
/// must survive that, and the checker must flag it. All are off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Deviations {
    /// Call the general init routine before `FaxExtInitializeConfig`.
    pub general_init_first: bool,
    /// Still initialise an extension whose `FaxExtInitializeConfig` failed.
    pub init_after_config_failure: bool,
    /// Do not exclude the writer's own registrations.
    pub notify_writer: bool,
    /// Deliver notifications that were pending when a registration was unregistered.
    pub notify_after_unregister: bool,
    /// Deliver pending notifications after shutdown began.
    pub notify_after_shutdown: bool,
    /// Skip the last matching registrant of every write.
    pub skip_registrant: bool,
    /// Tell TAPI registrants the logical id instead of the TAPI id they registered with
    /// (the documentation never says which id space ConfigChange uses).
    pub logical_ids_to_tapi_registrants: bool,
}

impl Deviations {
    /// Whether any deviation is on.
    pub fn any(&self) -> bool {
        *self != Deviations::default()
    }
}

/// Every option of the simulated service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceOptions {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// When notifications are delivered.
    pub delivery: DeliveryPolicy,
    /// For `deferred`: the largest number of scheduling points a notification may wait.
    pub max_defer_steps: u32,
    /// Where a virtual FSP's `FaxDevInitialize` goes.
    pub virtual_fsp_init: VirtualFspInitOrder,
    /// Load order across extensions.
    pub load_order: LoadOrder,
    /// Routing extensions get `FaxRouteDeviceChangeNotification(TRUE)` for every device
    /// that exists when they are initialised (off: only devices that arrive later).
    pub announce_devices_at_start: bool,
    /// A cap on one in-process SetData value in bytes (`None`: only the model's own
    /// [`MAX_STORED_VALUE`], the default). Larger values get `ERROR_NOT_ENOUGH_MEMORY`.
    pub in_process_value_cap: Option<u32>,
    /// Limits.
    pub limits: Limits,
    /// Deliberate service-side breaches.
    pub deviations: Deviations,
    /// Keep the events of the run (off only for benchmarking an extension's own handlers).
    pub record_events: bool,
    /// Run the rule checker live on every event.
    pub live_check: bool,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            seed: 0,
            delivery: DeliveryPolicy::Sync,
            max_defer_steps: 3,
            virtual_fsp_init: VirtualFspInitOrder::AfterConfigInit,
            load_order: LoadOrder::ProvidersFirst,
            announce_devices_at_start: false,
            in_process_value_cap: None,
            limits: Limits::default(),
            deviations: Deviations::default(),
            record_events: true,
            live_check: true,
        }
    }
}

impl ServiceOptions {
    /// The bare model: no events kept, no live checking (benchmarking extension handlers).
    pub fn bare() -> Self {
        ServiceOptions {
            record_events: false,
            live_check: false,
            ..ServiceOptions::default()
        }
    }
}
