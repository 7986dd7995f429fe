//! The validate battery: one simulated service with every hosted library, driven through
//! the situations an extension meets in production.
//!
//! 1. Startup in the documented order, with one TAPI device (logical 0x10001, line
//!    101); routing extensions hear of it at start in half the seeds
//!    ([`announces_at_start`]) and learn it from its id otherwise, as both happen.
//! 2. Device arrival: a second TAPI device (logical 0x10002, line 102).
//! 3. Routing administration (routing extensions): for every battery device and routing
//!    method, in an order the seed picks, on a service worker thread (not the thread that
//!    initialised the extension), the calls an administrator's console makes through a
//!    real service: `FaxRouteDeviceEnable` (query, disable, query, enable, query),
//!    `FaxRouteGetRoutingInfo` (the size query, then a buffer of that size),
//!    `FaxRouteSetRoutingInfo` with the bytes it returned and with new bytes, and the
//!    info read back. Real routing extensions touch their configuration here, not at
//!    initialisation. Repeated after every restart below, so injected faults reach it.
//! 4. Fax jobs (providers that export the job side): a receive job, a send job and a job
//!    whose operation is aborted, in an order the seed picks, on another service worker
//!    thread: `FaxDevStartJob`, `FaxDevReceive` / `FaxDevSend` / `FaxDevAbortOperation`,
//!    `FaxDevReportStatus` (size query, then the buffer), `FaxDevEndJob` (see `jobs.rs`
//!    for the arguments). Providers that read their settings per job are reached here.
//! 5. An external write (an administration client) to every key any extension read,
//!    wrote or registered for, and to the global data (device 0) of every GUID used.
//! 6. The same keys written by another extension in the service (`faxsim-peer`, an
//!    in-process helper that only writes).
//! 7. Injected callback failures: every error code of GetData, SetData and Register
//!    that a service may return in any state (`Callback::injectable_anywhere`: out of
//!    memory, general failure, a damaged registry) once per extension, on calls the seed
//!    picks (the state-bound codes come from the service itself, in their state), over up to three restarts
//!    that replay startup, the routing administration, the jobs and the external writes.
//! 8. A clean restart with the writes once more, then shutdown.
//!
//! After each step, threads the extensions started get a scheduling point.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use faxsim_abi::{
    Callback, FAX_DEV_ABORT_OPERATION_SYMBOL, FAX_DEV_END_JOB_SYMBOL, FAX_DEV_RECEIVE_SYMBOL,
    FAX_DEV_REPORT_STATUS_SYMBOL, FAX_DEV_SEND_SYMBOL, FAX_DEV_START_JOB_SYMBOL,
};
use faxsim_sim::guid::parse_braced_guid;
use faxsim_sim::seed::{Component, DetRng};
use faxsim_sim::{
    DeliveryPolicy, EventSink, ExtensionSpec, Fault, Finding, HookExtension, Service,
    ServiceOptions, SimError, Trigger,
};
use faxsim_trace::{
    Event, EventKind, Exports, ExtId, ExtensionInfo, ExtensionKind, SOURCE_FAX, SOURCE_TAPI,
};

use crate::{Host, HostError};

/// The battery's TAPI devices: (logical id, permanent line id). The first exists at
/// start, the second arrives while the service runs. The service numbers TAPI devices
/// itself and keeps them clear of the id ranges virtual FSPs choose (any non-zero
/// prefix is legal, and small ones are common), so the logical ids sit above 0xFFFF; a
/// virtual FSP whose range still overlaps them is refused and the report says so.
pub const BATTERY_DEVICES: [(u32, u32); 2] = [(0x1_0001, 101), (0x1_0002, 102)];

/// Whether seed `seed`'s service tells routing extensions of the devices present at
/// start (choices L8): both happen on a real machine, and the seed alone decides, so
/// every three seeds (one of each delivery policy) alternate.
pub fn announces_at_start(seed: u64) -> bool {
    (seed / 3).is_multiple_of(2)
}

/// The name of the in-service helper that writes the keys other extensions use.
pub const PEER_NAME: &str = "faxsim-peer";

/// How long a scheduling point waits for extension threads.
const PUMP: Duration = Duration::from_millis(200);

/// Rounds of restarts that replay startup under injected failures.
const FAULT_ROUNDS: usize = 3;

/// The service thread the routing administration runs on: a real service calls those
/// entry points from its RPC and worker threads, never from the thread that initialised
/// the extension. Reserved, so threads the extensions start are numbered around it.
pub const ADMIN_THREAD: u16 = 1;

/// The service thread fax jobs run on (a real service runs each job on a worker thread
/// of its own, not the init thread). Reserved like [`ADMIN_THREAD`].
pub const JOB_THREAD: u16 = 2;

/// The jobs every provider with a job side gets after each (re)start, in an order the
/// seed picks: the entry points called, in order. A job whose `FaxDevStartJob` returns
/// FALSE stops there; `FaxDevReportStatus` is called twice (the size query, then a
/// buffer of that size).
const JOBS: [&[&str]; 3] = [
    &[
        FAX_DEV_START_JOB_SYMBOL,
        FAX_DEV_RECEIVE_SYMBOL,
        FAX_DEV_REPORT_STATUS_SYMBOL,
        FAX_DEV_REPORT_STATUS_SYMBOL,
        FAX_DEV_END_JOB_SYMBOL,
    ],
    &[
        FAX_DEV_START_JOB_SYMBOL,
        FAX_DEV_SEND_SYMBOL,
        FAX_DEV_REPORT_STATUS_SYMBOL,
        FAX_DEV_REPORT_STATUS_SYMBOL,
        FAX_DEV_END_JOB_SYMBOL,
    ],
    &[
        FAX_DEV_START_JOB_SYMBOL,
        FAX_DEV_ABORT_OPERATION_SYMBOL,
        FAX_DEV_END_JOB_SYMBOL,
    ],
];

/// The routing method administered when none is given (`--routing-method`): a GUID no
/// extension owns. A routing extension that checks the method GUID answers FALSE for it
/// without touching its configuration; the report's coverage says so.
pub const PLACEHOLDER_METHOD: &str = "{FA75111E-0000-4000-8000-00000000FA75}";

/// The largest routing info the battery asks for after the size query (a larger answer is
/// taken as the extension's, and not allocated).
const MAX_ROUTING_INFO: u32 = 1 << 20;

/// How one battery run is set up.
#[derive(Clone, Debug)]
pub struct BatteryOptions {
    /// The seed of every random choice (delivery order, fault placement).
    pub seed: u64,
    /// The delivery policy.
    pub delivery: DeliveryPolicy,
    /// Routing method GUIDs (`--routing-method`): administered through the routing entry
    /// points of every routing extension (step 3; without any, [`PLACEHOLDER_METHOD`]),
    /// and written by the battery even if no extension touched them during the run, on
    /// device 0 and on every battery device.
    pub extra_guids: Vec<String>,
    /// Routing methods with their functions (`--routing-method GUID=FUNCTION`), as
    /// (GUID, FUNCTION): each routing extension that exports FUNCTION has it called after
    /// the jobs of every run, for one fax received on the first battery device, routed
    /// through every such method in the order given (see `methods.rs`, `routines.rs`).
    pub method_functions: Vec<(String, String)>,
    /// An exploration's strategy (`faxsim explore`): the service's open decisions (order,
    /// deferral, injected failures) are then the exploration's for this seed, on top of
    /// the battery's own planned faults. `None`: the service's seeded defaults.
    pub explore: Option<faxsim_sim::Strategy>,
}

/// The delivery policy seed `seed` runs under: the seed alone decides it (seed mod 3:
/// sync, shuffled, deferred), so a failing seed of any run reproduces alone.
pub fn policy_of(seed: u64) -> DeliveryPolicy {
    [
        DeliveryPolicy::Sync,
        DeliveryPolicy::Shuffled,
        DeliveryPolicy::Deferred,
    ][(seed % 3) as usize]
}

/// What one battery run produced.
#[derive(Debug)]
pub struct BatteryOutcome {
    /// Every event.
    pub events: Vec<Event>,
    /// Every finding of the rule checker.
    pub findings: Vec<Finding>,
    /// Extension names by `ExtId` (the libraries, then the peer).
    pub names: Vec<String>,
    /// The libraries' ids, in the host's order.
    pub exts: Vec<ExtId>,
    /// Host notes (see [`Host::take_notes`]).
    pub notes: Vec<String>,
    /// A limit that cut the run short.
    pub aborted: Option<SimError>,
    /// The first error of a sink's recording (the run itself completed).
    pub recording_error: Option<faxsim_trace::TraceError>,
}

/// The service options a battery run uses (the checker of an isolated run needs them).
pub fn service_options(opts: &BatteryOptions) -> ServiceOptions {
    ServiceOptions {
        seed: opts.seed,
        delivery: opts.delivery,
        announce_devices_at_start: announces_at_start(opts.seed),
        ..ServiceOptions::default()
    }
}

/// The rule checker over one battery run's events (in a worker, the parent checks what
/// it streamed): `names` are the extensions by id (the libraries, then the peer), and
/// the messages gain their context (the call a crash interrupted, the injected failure
/// that opened an error path). The same for `validate` and `explore`.
pub fn check(names: Vec<String>, delivery: DeliveryPolicy, events: &[Event]) -> Vec<Finding> {
    let config = faxsim_sim::CheckerConfig {
        one_sided: false,
        names,
        nesting_limit: faxsim_sim::Limits::default().nesting,
        delivery,
        virtual_fsp_init: faxsim_sim::VirtualFspInitOrder::default(),
    };
    let mut findings = faxsim_sim::check_events(events, config);
    faxsim_sim::explain::name_interrupted_call(&mut findings, &faxsim_trace::OpenCalls::of(events));
    faxsim_sim::explain::name_injected_causes(&mut findings, events);
    findings
}

/// The extensions a battery run's trace header lists: every library of `host` (with the
/// SHA-256 of its file, read here: compute it once per host, not per seed), then the
/// in-process peer.
pub fn header_extensions(host: &Host) -> Vec<ExtensionInfo> {
    with_peer(
        host.libraries()
            .map(|l| ExtensionInfo::new(&l.name, l.kind, Some(&l.path))),
    )
}

/// The libraries' entries of a battery trace header, then the in-process peer's.
pub fn with_peer(libraries: impl Iterator<Item = ExtensionInfo>) -> Vec<ExtensionInfo> {
    libraries
        .chain(std::iter::once(ExtensionInfo::new(
            PEER_NAME,
            ExtensionKind::Routing,
            None,
        )))
        .collect()
}

/// The trace header of one battery run: its options and `extensions`
/// ([`header_extensions`]).
pub fn trace_header(extensions: &[ExtensionInfo], opts: &BatteryOptions) -> faxsim_trace::Header {
    let service = service_options(opts);
    faxsim_trace::Header::for_options(service.seed, &service, extensions.to_vec())
}

/// Runs the battery over every library of `host`; `sinks` see every event as it happens.
pub fn run(
    host: &mut Host,
    opts: &BatteryOptions,
    sinks: Vec<Box<dyn EventSink>>,
) -> Result<BatteryOutcome, HostError> {
    run_checked(host, opts, sinks, true)
}

/// [`run`], with the live rule checker on or off: a worker process streams its events to
/// a parent that checks them, so it leaves it off (the outcome has no findings then).
pub fn run_checked(
    host: &mut Host,
    opts: &BatteryOptions,
    sinks: Vec<Box<dyn EventSink>>,
    live_check: bool,
) -> Result<BatteryOutcome, HostError> {
    let mut svc = Service::new(ServiceOptions {
        live_check,
        ..service_options(opts)
    });
    for s in sinks {
        svc.add_sink(s);
    }
    if let Some(strategy) = opts.explore {
        svc.set_choices(Box::new(faxsim_sim::ExploringChoices::new(
            opts.seed, strategy,
        )));
    }
    let (logical, line) = BATTERY_DEVICES[0];
    svc.add_device(logical, Some(line))?;
    let exts = host.attach(&mut svc)?;
    let peer = svc.add_extension(
        ExtensionSpec {
            name: PEER_NAME.into(),
            kind: ExtensionKind::Routing,
        },
        Rc::new(HookExtension::new().exports(Exports {
            initialize_config: true,
            dev_shutdown: false,
            route_device_change: false,
        })),
    )?;
    let result = drive(host, &mut svc, opts, &exts, peer);
    if let Err(HostError::Sim(SimError::LimitExceeded { .. })) = &result {
        // The events so far are the report; the limit is named in it.
    } else {
        result?;
    }
    if svc.is_running() || svc.aborted().is_some() {
        let _ = svc.stop();
    }
    host.close_unloaded(&mut svc);
    host.pump(&mut svc, PUMP);
    let findings = svc.finish();
    let recording_error = svc.finish_sinks().err();
    Ok(BatteryOutcome {
        recording_error,
        names: svc.extension_names(),
        aborted: svc.aborted().cloned(),
        events: svc.take_events(),
        findings,
        exts,
        notes: host.take_notes(),
    })
}

fn drive(
    host: &mut Host,
    svc: &mut Service,
    opts: &BatteryOptions,
    exts: &[ExtId],
    peer: ExtId,
) -> Result<(), HostError> {
    // Only the service threads this run will use are reserved: a replay reserves the
    // ones its recording shows, and threads the extensions start must get the same ids.
    let administered = host.libraries().any(|l| l.routing_admin.any());
    let jobs = exts.iter().any(|&e| {
        svc.drives_entry_point(e, FAX_DEV_START_JOB_SYMBOL)
            || opts
                .method_functions
                .iter()
                .any(|(_, f)| svc.drives_entry_point(e, f))
    });
    let reserved: Vec<u16> = [(administered, ADMIN_THREAD), (jobs, JOB_THREAD)]
        .into_iter()
        .filter_map(|(used, id)| used.then_some(id))
        .collect();
    host.reserve_thread_ids(&reserved);
    host.start(svc)?;
    host.pump(svc, PUMP);
    let (logical, line) = BATTERY_DEVICES[1];
    svc.add_device(logical, Some(line))?;
    host.pump(svc, PUMP);
    let mut admin_rng = DetRng::new(opts.seed, Component::Admin);
    let methods: Vec<String> = if opts.extra_guids.is_empty() {
        vec![PLACEHOLDER_METHOD.to_string()]
    } else {
        opts.extra_guids.clone()
    };
    let mut job_rng = DetRng::new(opts.seed, Component::Jobs);
    let mut mix_rng = DetRng::new(opts.seed, Component::Interleave);
    // The values written from outside: each write a new one.
    let value = std::cell::Cell::new(0u32);
    let interleave = matches!(opts.explore, Some(faxsim_sim::Strategy::Random));
    let mut administer = |svc: &mut Service, host: &Host| {
        if interleave {
            let round = Round {
                exts,
                methods: &methods,
                value: &value,
            };
            round.interleaved(host, svc, &mut admin_rng, &mut job_rng, &mut mix_rng)?;
        } else {
            administer_routing(host, svc, exts, &methods, &mut admin_rng)?;
            run_jobs(host, svc, exts, &mut job_rng)?;
        }
        route_received_fax(host, svc, exts, &opts.method_functions)
    };
    administer(svc, host)?;

    let writes = |svc: &mut Service, host: &Host, by_peer: bool| -> Result<(), HostError> {
        let mut keys = touched_keys(svc.events());
        for g in &opts.extra_guids {
            for device in std::iter::once(0).chain(BATTERY_DEVICES.iter().map(|&(l, _)| l)) {
                if !keys
                    .iter()
                    .any(|(d, k)| *d == device && k.eq_ignore_ascii_case(g))
                {
                    keys.push((device, g.clone()));
                }
            }
        }
        for (device, guid) in keys {
            value.set(value.get() + 1);
            // An exploration decides how much of what is pending happens first.
            svc.pause_before_step(u64::from(value.get()))?;
            let data = value.get().to_le_bytes();
            if by_peer {
                svc.callbacks(peer, 0)
                    .set_data(device, SOURCE_FAX, &guid, &data);
                svc.tick()?;
            } else {
                svc.external_write(device, &guid, &data)?;
            }
            host.pump(svc, PUMP);
        }
        Ok(())
    };
    writes(svc, host, false)?;
    writes(svc, host, true)?;

    let mut rng = DetRng::new(opts.seed, Component::Driver);
    for &ext in exts {
        for callback in [
            Callback::GetData,
            Callback::SetData,
            Callback::RegisterForEvents,
        ] {
            let mut codes = callback.injectable_anywhere().to_vec();
            rng.shuffle(&mut codes);
            let start = 1 + rng.below(2);
            for (i, code) in codes.into_iter().enumerate() {
                let fault = Fault::new(callback, code, Trigger::NthCall(start + i as u64))
                    .for_ext(ext)
                    .times(1);
                svc.add_fault(fault)?;
            }
        }
    }
    for _ in 0..FAULT_ROUNDS {
        if svc.faults().iter().all(|f| f.fired() > 0) {
            break;
        }
        svc.pause_before_step(0)?;
        host.restart(svc)?;
        host.pump(svc, PUMP);
        administer(svc, host)?;
        writes(svc, host, false)?;
    }

    svc.pause_before_step(0)?;
    host.restart(svc)?;
    host.pump(svc, PUMP);
    administer(svc, host)?;
    writes(svc, host, false)?;
    svc.pause_before_step(0)?;
    svc.stop()?;
    Ok(())
}

/// One round of the service's worker-thread work under an exploration's `random` policy
/// (see [`Round::interleaved`]).
struct Round<'a> {
    exts: &'a [ExtId],
    methods: &'a [String],
    value: &'a std::cell::Cell<u32>,
}

/// One piece of a round's work.
enum Work<'a> {
    /// A routing method on a device, administered as [`administer_method`] does.
    Admin {
        ext: ExtId,
        entry: crate::RoutingAdmin,
        device: u32,
        method: &'a str,
        fresh: [u8; 16],
    },
    /// One entry point of job `job` of a provider.
    Job {
        ext: ExtId,
        job: usize,
        function: &'static str,
    },
    /// A write from outside.
    Write { device: u32, guid: String },
    /// The second battery device leaves (`false`) or comes back (`true`).
    Device(bool),
}

impl Round<'_> {
    /// Steps 3 and 4 with writes from outside to every key known so far, interleaved: the
    /// routing administration of each (device, method), each provider's job calls (in
    /// their order within the job), the writes, and the second device leaving and coming
    /// back, merged in an order the seed draws, as the service's RPC and job threads run
    /// at once. So a write, an administrator's change or a device's removal can land
    /// between a job's `FaxDevStartJob` and its `FaxDevEndJob`, or between two calls of
    /// the administration, which the sequential battery never does. (The `pct` policy
    /// keeps the battery's order.)
    fn interleaved(
        &self,
        host: &Host,
        svc: &mut Service,
        admin_rng: &mut DetRng,
        job_rng: &mut DetRng,
        mix_rng: &mut DetRng,
    ) -> Result<(), HostError> {
        let mut admin: Vec<Work<'_>> = Vec::new();
        for (info, &ext) in host.libraries().zip(self.exts) {
            let entry = info.routing_admin;
            if !entry.any() {
                continue;
            }
            let mut targets: Vec<(u32, &str)> = BATTERY_DEVICES
                .iter()
                .flat_map(|&(device, _)| self.methods.iter().map(move |m| (device, m.as_str())))
                .collect();
            admin_rng.shuffle(&mut targets);
            let mut fresh = [0u8; 16];
            fresh[..8].copy_from_slice(&admin_rng.next_u64().to_le_bytes());
            fresh[8..].copy_from_slice(&admin_rng.next_u64().to_le_bytes());
            admin.extend(targets.into_iter().map(|(device, method)| Work::Admin {
                ext,
                entry,
                device,
                method,
                fresh,
            }));
        }
        let mut jobs: Vec<Work<'_>> = Vec::new();
        for &ext in self.exts {
            if !svc.drives_entry_point(ext, FAX_DEV_START_JOB_SYMBOL) {
                continue;
            }
            let mut order = [0usize, 1, 2];
            job_rng.shuffle(&mut order);
            for job in order {
                for &function in JOBS[job] {
                    if svc.drives_entry_point(ext, function) {
                        jobs.push(Work::Job { ext, job, function });
                    }
                }
            }
        }
        let writes: Vec<Work<'_>> = touched_keys(svc.events())
            .into_iter()
            .map(|(device, guid)| Work::Write { device, guid })
            .collect();
        // The second device leaves and comes back somewhere in the round.
        let churn = vec![Work::Device(false), Work::Device(true)];
        // A uniform interleaving of the lists, each kept in its order.
        let mut lists = [admin, jobs, writes, churn].map(Vec::into_iter);
        let (churned, churned_line) = BATTERY_DEVICES[1];
        let mut present = true;
        // A job whose start failed, or a provider taken out of the run: skipped.
        let mut failed_job: Option<(ExtId, usize)> = None;
        let mut gone: Vec<ExtId> = Vec::new();
        loop {
            let left: Vec<usize> = lists.iter().map(|l| l.len()).collect();
            let total: usize = left.iter().sum();
            if total == 0 || !svc.is_running() {
                return Ok(());
            }
            let mut pick = mix_rng.below(total as u64) as usize;
            let which = left
                .iter()
                .position(|&n| {
                    if pick < n {
                        true
                    } else {
                        pick -= n;
                        false
                    }
                })
                .unwrap_or(0);
            let Some(work) = lists[which].next() else {
                continue;
            };
            match work {
                Work::Admin {
                    ext,
                    entry,
                    device,
                    method,
                    fresh,
                } => {
                    // An administrator sees no removed device.
                    if gone.contains(&ext) || (device == churned && !present) {
                        continue;
                    }
                    svc.set_thread(ADMIN_THREAD);
                    let result = host.on_service_thread(ADMIN_THREAD, || {
                        administer_method(svc, ext, entry, device, method, &fresh)
                    });
                    svc.set_thread(0);
                    match result {
                        Err(SimError::NotInService(_)) => gone.push(ext),
                        other => other?,
                    }
                }
                Work::Job { ext, job, function } => {
                    if gone.contains(&ext) || failed_job == Some((ext, job)) {
                        continue;
                    }
                    svc.set_thread(JOB_THREAD);
                    let result =
                        host.on_service_thread(JOB_THREAD, || svc.entry_point_call(ext, function));
                    svc.set_thread(0);
                    match result {
                        Ok(0) if function == FAX_DEV_START_JOB_SYMBOL => {
                            failed_job = Some((ext, job));
                        }
                        Ok(_) => svc.tick()?,
                        Err(SimError::NotInService(_) | SimError::NotRunning) => gone.push(ext),
                        Err(e) => return Err(e.into()),
                    }
                }
                Work::Write { device, guid } => {
                    self.value.set(self.value.get() + 1);
                    svc.pause_before_step(u64::from(self.value.get()))?;
                    svc.external_write(device, &guid, &self.value.get().to_le_bytes())?;
                }
                Work::Device(back) => {
                    svc.pause_before_step(0)?;
                    if back {
                        svc.add_device(churned, Some(churned_line))?;
                    } else {
                        svc.remove_device(churned)?;
                    }
                    present = back;
                }
            }
            host.pump(svc, PUMP);
        }
    }
}

/// Step 3: every routing extension's routing methods administered on every battery
/// device (see the module docs), on [`ADMIN_THREAD`].
fn administer_routing(
    host: &Host,
    svc: &mut Service,
    exts: &[ExtId],
    methods: &[String],
    rng: &mut DetRng,
) -> Result<(), HostError> {
    for (info, &ext) in host.libraries().zip(exts) {
        let entry = info.routing_admin;
        if !entry.any() || !svc.is_running() {
            continue;
        }
        let mut targets: Vec<(u32, &str)> = BATTERY_DEVICES
            .iter()
            .flat_map(|&(device, _)| methods.iter().map(move |m| (device, m.as_str())))
            .collect();
        rng.shuffle(&mut targets);
        let mut fresh = [0u8; 16];
        fresh[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        fresh[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        svc.set_thread(ADMIN_THREAD);
        let result = host.on_service_thread(ADMIN_THREAD, || {
            for (device, method) in targets {
                administer_method(svc, ext, entry, device, method, &fresh)?;
            }
            Ok::<(), SimError>(())
        });
        svc.set_thread(0);
        match result {
            // Its initialisation failed, or the service unloaded it: nothing to administer.
            Err(SimError::NotInService(_)) => {}
            other => other?,
        }
        host.pump(svc, PUMP);
    }
    Ok(())
}

/// One routing method on one device, as an administrator's console drives it.
fn administer_method(
    svc: &mut Service,
    ext: ExtId,
    entry: crate::RoutingAdmin,
    device: u32,
    method: &str,
    fresh: &[u8],
) -> Result<(), SimError> {
    use faxsim_abi::{QUERY_STATUS, STATUS_DISABLE, STATUS_ENABLE};
    if entry.device_enable {
        for enabled in [
            QUERY_STATUS,
            STATUS_DISABLE,
            QUERY_STATUS,
            STATUS_ENABLE,
            QUERY_STATUS,
        ] {
            svc.route_device_enable(ext, method, device, enabled)?;
            svc.tick()?;
        }
    }
    let read = |svc: &mut Service| -> Result<Option<Vec<u8>>, SimError> {
        if !entry.get_routing_info {
            return Ok(None);
        }
        let query = svc.route_get_routing_info(ext, method, device, None)?;
        svc.tick()?;
        if !query.ok || query.size == 0 || query.size > MAX_ROUTING_INFO {
            return Ok(None);
        }
        let info = svc.route_get_routing_info(ext, method, device, Some(query.size))?;
        svc.tick()?;
        Ok(info.data.filter(|_| info.ok))
    };
    let current = read(svc)?;
    if entry.set_routing_info {
        if let Some(bytes) = &current {
            svc.route_set_routing_info(ext, method, device, bytes)?;
            svc.tick()?;
        }
        svc.route_set_routing_info(ext, method, device, fresh)?;
        svc.tick()?;
        read(svc)?;
    }
    Ok(())
}

/// Fax jobs on every provider that has a job side (see [`JOBS`]), on [`JOB_THREAD`].
fn run_jobs(
    host: &Host,
    svc: &mut Service,
    exts: &[ExtId],
    rng: &mut DetRng,
) -> Result<(), HostError> {
    for &ext in exts {
        if !svc.is_running() || !svc.drives_entry_point(ext, FAX_DEV_START_JOB_SYMBOL) {
            continue;
        }
        let mut order = [0usize, 1, 2];
        rng.shuffle(&mut order);
        for j in order {
            for &function in JOBS[j] {
                if !svc.drives_entry_point(ext, function) {
                    continue;
                }
                svc.set_thread(JOB_THREAD);
                let result =
                    host.on_service_thread(JOB_THREAD, || svc.entry_point_call(ext, function));
                svc.set_thread(0);
                host.pump(svc, PUMP);
                match result {
                    Ok(ok) if function == FAX_DEV_START_JOB_SYMBOL && ok == 0 => break,
                    Ok(_) => svc.tick()?,
                    // Taken out of the run meanwhile (an init failure, a crash).
                    Err(SimError::NotInService(_) | SimError::NotRunning) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

/// A fax received on the first battery device, routed: the service starts a routing job
/// (its file list holds the received TIFF), every routing method function given
/// (`BatteryOptions::method_functions`) that a routing extension exports is called on
/// [`JOB_THREAD`], in the order given, as the real service routes an inbound fax from its
/// job, and the job ends.
fn route_received_fax(
    host: &Host,
    svc: &mut Service,
    exts: &[ExtId],
    methods: &[(String, String)],
) -> Result<(), HostError> {
    let calls: Vec<(ExtId, &(String, String))> = exts
        .iter()
        .flat_map(|&ext| methods.iter().map(move |m| (ext, m)))
        .filter(|&(ext, (_, f))| {
            svc.extension_kind(ext) == ExtensionKind::Routing && svc.drives_entry_point(ext, f)
        })
        .collect();
    if calls.is_empty() || !svc.is_running() {
        return Ok(());
    }
    let routed: Vec<(String, String)> = calls.iter().map(|&(_, m)| m.clone()).collect();
    svc.set_thread(JOB_THREAD);
    let started = svc.routing_start(BATTERY_DEVICES[0].0, &routed);
    svc.set_thread(0);
    match started {
        Ok(_) => {}
        Err(SimError::NotInService(_) | SimError::NotRunning) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    for (ext, (_, function)) in calls {
        if !svc.is_running() {
            break;
        }
        svc.set_thread(JOB_THREAD);
        let result = host.on_service_thread(JOB_THREAD, || svc.entry_point_call(ext, function));
        svc.set_thread(0);
        host.pump(svc, PUMP);
        match result {
            Ok(_) => svc.tick()?,
            Err(SimError::NotInService(_)) => continue,
            Err(SimError::NotRunning) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    svc.set_thread(JOB_THREAD);
    let ended = svc.routing_end();
    svc.set_thread(0);
    match ended {
        Ok(()) | Err(SimError::NotInService(_) | SimError::NotRunning) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Every (logical device, GUID) an extension read, wrote or registered for, plus device
/// 0 of every GUID, in a stable order (first spelling of each GUID value wins).
pub fn touched_keys(events: &[Event]) -> Vec<(u32, String)> {
    let tapi: BTreeMap<u32, u32> = BATTERY_DEVICES.iter().map(|&(l, t)| (t, l)).collect();
    let mut spelling: BTreeMap<u128, String> = BTreeMap::new();
    let mut keys: BTreeMap<(u32, u128), ()> = BTreeMap::new();
    for e in events {
        let (device, source, guid) = match &e.kind {
            EventKind::GetDataCall {
                device,
                source,
                guid,
                ..
            }
            | EventKind::SetDataCall {
                device,
                source,
                guid,
                ..
            }
            | EventKind::RegisterCall {
                device,
                source,
                guid,
                ..
            } if e.ext.is_some() => (*device, *source, guid),
            _ => continue,
        };
        let Some(g) = guid.as_deref() else { continue };
        let Some(value) = parse_braced_guid(g) else {
            continue;
        };
        let logical = match source {
            _ if device == 0 => 0,
            SOURCE_FAX => device,
            SOURCE_TAPI => match tapi.get(&device) {
                Some(&l) => l,
                None => continue,
            },
            _ => continue,
        };
        spelling.entry(value).or_insert_with(|| g.to_string());
        keys.insert((logical, value), ());
        keys.insert((0, value), ());
    }
    keys.into_keys()
        .map(|(d, v)| (d, spelling[&v].clone()))
        .collect()
}
