//! Rule-by-rule tests: for every rule of the catalog, event sequences that must trigger it
//! (and nothing unexpected) and near misses that must not.

use std::sync::Arc;

use faxsim_trace::{
    BufferArg, BufferId, CallbackId, Damage, Event, EventKind, Exports, ExtId, ExtensionKind,
    ForeignId, GuidArg, HInstArg, HandleArg, HandleId, SOURCE_FAX, SOURCE_TAPI,
};

use super::deliveries::RETAINED_WRITES;
use super::{Checker, CheckerConfig, check_events};
use crate::options::{DeliveryPolicy, VirtualFspInitOrder};
use crate::rules::{Finding, Rule};

const FSP: u16 = 0;
const VFSP: u16 = 1;
const ROUTE: u16 = 2;
const OTHER: u16 = 3;

const G1: &str = "{6F9619FF-8B86-D011-B42D-00C04FC964FF}";
const G1_LOWER: &str = "{6f9619ff-8b86-d011-b42d-00c04fc964ff}";
const G2: &str = "{11111111-2222-3333-4444-555555555555}";

/// The TAPI device: logical id 1, TAPI permanent line id 65537.
const TAPI_DEV: u32 = 1;
const TAPI_LINE: u32 = 65537;
/// The virtual FSP's device.
const VDEV: u32 = 100;

const E_FAIL: i32 = 0x8000_4005_u32 as i32;

fn g(s: &str) -> GuidArg {
    Some(Arc::from(s))
}

fn own(ext: u16) -> HInstArg {
    HInstArg::Ext(ExtId(ext))
}

fn exports(initialize_config: bool, dev_shutdown: bool) -> Exports {
    Exports {
        initialize_config,
        dev_shutdown,
        route_device_change: false,
    }
}

/// Builds an event stream with auto-incrementing `seq` and fresh buffer/handle ids.
struct Script {
    events: Vec<Event>,
    config: CheckerConfig,
    run: u32,
    next_buffer: u32,
    next_handle: u32,
    thread: u16,
}

impl Script {
    fn new() -> Script {
        Script {
            events: Vec::new(),
            config: CheckerConfig {
                names: ["fax-fsp", "vfsp", "router", "other"]
                    .map(String::from)
                    .to_vec(),
                nesting_limit: 16,
                delivery: DeliveryPolicy::Sync,
                virtual_fsp_init: VirtualFspInitOrder::AfterConfigInit,
                one_sided: false,
            },
            run: 0,
            next_buffer: 1,
            next_handle: 1,
            thread: 0,
        }
    }

    fn delivery(mut self, d: DeliveryPolicy) -> Script {
        self.config.delivery = d;
        self
    }

    fn push(&mut self, ext: Option<u16>, kind: EventKind) -> u64 {
        let seq = self.events.len() as u64;
        self.events.push(Event {
            seq,
            time: seq,
            thread: self.thread,
            ext: ext.map(ExtId),
            kind,
        });
        seq
    }

    fn on(&mut self, ext: u16, kind: EventKind) -> u64 {
        self.push(Some(ext), kind)
    }

    fn svc(&mut self, kind: EventKind) -> u64 {
        self.push(None, kind)
    }

    fn last(&self) -> u64 {
        self.events.len() as u64 - 1
    }

    // ---- lifecycle ----

    fn start(&mut self) -> u64 {
        self.run += 1;
        let run = self.run;
        self.svc(EventKind::ServiceStart { run })
    }

    fn load(&mut self, ext: u16, kind: ExtensionKind, exports: Exports) -> u64 {
        self.on(ext, EventKind::Load { kind, exports })
    }

    fn config_init(&mut self, ext: u16, hr: i32) -> u64 {
        self.on(ext, EventKind::InitializeConfigCall);
        self.on(ext, EventKind::InitializeConfigReturn { hr })
    }

    fn dev_init(&mut self, ext: u16) -> u64 {
        let c = self.on(ext, EventKind::DevInitializeCall);
        self.on(ext, EventKind::DevInitializeReturn { ok: true });
        c
    }

    fn route_init(&mut self, ext: u16) -> u64 {
        let c = self.on(ext, EventKind::RouteInitializeCall);
        self.on(ext, EventKind::RouteInitializeReturn { ok: true });
        c
    }

    fn vdc(&mut self, ext: u16) {
        self.on(ext, EventKind::VirtualDeviceCreationCall);
        self.on(
            ext,
            EventKind::VirtualDeviceCreationReturn {
                ok: true,
                count: 1,
                id_prefix: VDEV,
                name_prefix: Arc::from("Virtual"),
            },
        );
        self.svc(EventKind::DeviceAdded {
            device: VDEV,
            tapi: None,
            owner: Some(ExtId(ext)),
        });
    }

    /// A service start with the three standard extensions initialised in the default order.
    fn bring_up(&mut self) {
        self.start();
        self.svc(EventKind::DeviceAdded {
            device: TAPI_DEV,
            tapi: Some(TAPI_LINE),
            owner: None,
        });
        self.load(FSP, ExtensionKind::Fsp, exports(true, true));
        self.config_init(FSP, 0);
        self.dev_init(FSP);
        self.load(VFSP, ExtensionKind::VirtualFsp, exports(true, true));
        self.vdc(VFSP);
        self.config_init(VFSP, 0);
        self.dev_init(VFSP);
        self.load(ROUTE, ExtensionKind::Routing, exports(true, false));
        self.config_init(ROUTE, 0);
        self.route_init(ROUTE);
    }

    /// Stops the service: returns (DevShutdownReturn seq, Unload seq) per standard extension.
    fn stop(&mut self) -> [(Option<u64>, u64); 3] {
        self.svc(EventKind::ServiceStopping);
        let mut out = [(None, 0); 3];
        for ext in [FSP, VFSP, ROUTE] {
            let sd = if ext == ROUTE {
                None
            } else {
                self.on(ext, EventKind::DevShutdownCall);
                Some(self.on(ext, EventKind::DevShutdownReturn { hr: 0 }))
            };
            out[usize::from(ext)] = (sd, self.on(ext, EventKind::Unload));
        }
        self.svc(EventKind::ServiceStopped);
        out
    }

    // ---- callbacks ----

    fn get(&mut self, ext: u16, device: u32, source: i32, guid: &str) -> (u64, BufferId) {
        let c = self.on(
            ext,
            EventKind::GetDataCall {
                device,
                source,
                guid: g(guid),
                null_out: false,
            },
        );
        let b = BufferId(self.next_buffer);
        self.next_buffer += 1;
        self.on(
            ext,
            EventKind::GetDataReturn {
                code: 0,
                buffer: Some(b),
                data: Some(Arc::from(&b"data"[..])),
                injected: false,
            },
        );
        (c, b)
    }

    fn free(&mut self, ext: u16, buffer: BufferArg) -> u64 {
        let c = self.on(ext, EventKind::FreeBufferCall { buffer });
        self.on(ext, EventKind::FreeBufferReturn);
        c
    }

    fn set_call(&mut self, ext: u16, hinst: HInstArg, device: u32, source: i32, guid: &str) -> u64 {
        self.on(
            ext,
            EventKind::SetDataCall {
                hinst,
                device,
                source,
                guid: g(guid),
                data: Some(Arc::from(&b"v"[..])),
                size: 1,
            },
        )
    }

    fn set_ret(&mut self, ext: u16, code: u32) -> u64 {
        self.on(
            ext,
            EventKind::SetDataReturn {
                code,
                injected: false,
            },
        )
    }

    /// A successful SetData with the writer's own hInst; `f` adds what happens inside
    /// (deliveries) given the call's seq. Returns (call seq, return seq).
    fn set_with(
        &mut self,
        ext: u16,
        device: u32,
        source: i32,
        guid: &str,
        f: impl FnOnce(&mut Script, u64),
    ) -> (u64, u64) {
        let w = self.set_call(ext, own(ext), device, source, guid);
        f(self, w);
        (w, self.set_ret(ext, 0))
    }

    fn set(&mut self, ext: u16, device: u32, source: i32, guid: &str) -> u64 {
        self.set_with(ext, device, source, guid, |_, _| {}).0
    }

    fn external_with(&mut self, device: u32, guid: &str, f: impl FnOnce(&mut Script, u64)) -> u64 {
        let w = self.svc(EventKind::ExternalWriteCall {
            device,
            guid: g(guid),
            data: Some(Arc::from(&b"x"[..])),
            size: 1,
        });
        f(self, w);
        self.svc(EventKind::ExternalWriteReturn { code: 0 });
        w
    }

    fn reg_call(&mut self, ext: u16, hinst: HInstArg, device: u32, source: i32, guid: &str) -> u64 {
        self.on(
            ext,
            EventKind::RegisterCall {
                hinst,
                device,
                source,
                guid: g(guid),
                callback: Some(CallbackId(1)),
            },
        )
    }

    fn reg_ret(
        &mut self,
        ext: u16,
        handle: Option<HandleId>,
        last_error: u32,
        injected: bool,
    ) -> u64 {
        self.on(
            ext,
            EventKind::RegisterReturn {
                handle,
                last_error,
                injected,
            },
        )
    }

    fn new_handle(&mut self) -> HandleId {
        let h = HandleId(self.next_handle);
        self.next_handle += 1;
        h
    }

    fn reg_with(
        &mut self,
        ext: u16,
        hinst: HInstArg,
        device: u32,
        source: i32,
        guid: &str,
    ) -> HandleId {
        self.reg_call(ext, hinst, device, source, guid);
        let h = self.new_handle();
        self.reg_ret(ext, Some(h), 0, false);
        h
    }

    fn reg(&mut self, ext: u16, device: u32, source: i32, guid: &str) -> HandleId {
        self.reg_with(ext, own(ext), device, source, guid)
    }

    /// Unregister; returns the return's seq.
    fn unreg(&mut self, ext: u16, handle: HandleArg, code: u32, injected: bool) -> u64 {
        self.on(ext, EventKind::UnregisterCall { handle });
        self.on(ext, EventKind::UnregisterReturn { code, injected })
    }

    fn cc_call(
        &mut self,
        ext: u16,
        h: HandleId,
        device: u32,
        guid: &str,
        cause: Option<u64>,
    ) -> u64 {
        self.on(
            ext,
            EventKind::ConfigChangeCall {
                handle: h,
                callback: CallbackId(1),
                device,
                guid: Arc::from(guid),
                data: Arc::from(&b"v"[..]),
                cause,
            },
        )
    }

    fn cc_ret(&mut self, ext: u16, h: HandleId) -> u64 {
        self.on(ext, EventKind::ConfigChangeReturn { handle: h, hr: 0 })
    }

    /// A complete ConfigChange call; returns the call's seq.
    fn deliver(
        &mut self,
        ext: u16,
        h: HandleId,
        device: u32,
        guid: &str,
        cause: Option<u64>,
    ) -> u64 {
        let c = self.cc_call(ext, h, device, guid, cause);
        self.cc_ret(ext, h);
        c
    }

    fn cut(&mut self, h: HandleId, cause: u64, depth: u32) -> u64 {
        self.svc(EventKind::DeliveryCut {
            depth,
            handle: h,
            cause,
        })
    }
}

fn up() -> Script {
    let mut s = Script::new();
    s.bring_up();
    s
}

// ---- the table ----------------------------------------------------------------------

enum Expect {
    /// The rule fires at `at` with a message containing `contains`; only `also` may fire
    /// besides; with `times`, exactly that many findings of the rule.
    Fires {
        at: u64,
        contains: Vec<String>,
        also: Vec<Rule>,
        times: Option<usize>,
    },
    /// The rule does not fire, and nothing but `also` does.
    Quiet { also: Vec<Rule> },
}

struct Check {
    s: Script,
    expect: Expect,
}

impl Check {
    fn also(mut self, rules: &[Rule]) -> Check {
        match &mut self.expect {
            Expect::Fires { also, .. } | Expect::Quiet { also } => also.extend_from_slice(rules),
        }
        self
    }

    fn times(mut self, n: usize) -> Check {
        if let Expect::Fires { times, .. } = &mut self.expect {
            *times = Some(n);
        }
        self
    }
}

fn fires(s: Script, at: u64, contains: &[&str]) -> Check {
    Check {
        s,
        expect: Expect::Fires {
            at,
            contains: contains.iter().map(|c| c.to_string()).collect(),
            also: Vec::new(),
            times: None,
        },
    }
}

fn quiet(s: Script) -> Check {
    Check {
        s,
        expect: Expect::Quiet { also: Vec::new() },
    }
}

struct Case {
    rule: Rule,
    fires: bool,
    name: &'static str,
    build: fn() -> Check,
}

macro_rules! cases {
    ($( $rule:ident $fires:ident $name:ident; )*) => {
        const CASES: &[Case] = &[ $( Case {
            rule: Rule::$rule,
            fires: cases!(@f $fires),
            name: stringify!($name),
            build: $name,
        }, )* ];
    };
    (@f fires) => { true };
    (@f quiet) => { false };
}

cases! {
    BufferLeak fires leak_unfreed_buffer;
    BufferLeak quiet free_live_buffer;
    DoubleFree fires double_free;
    DoubleFree quiet free_live_buffer;
    ForeignFree fires free_change_data;
    ForeignFree fires free_never_issued_buffer;
    ForeignFree fires free_foreign_pointer;
    ForeignFree quiet free_other_extensions_buffer;
    FreeNull fires free_null;
    FreeNull quiet free_live_buffer;
    BufferOverrun fires overrun;
    BufferOverrun quiet write_after_free;
    WriteAfterFree fires write_after_free;
    WriteAfterFree quiet overrun;
    ChangeBufferWritten fires change_data_written;
    ChangeBufferWritten quiet plain_delivery;
    InputWritten fires guid_written_in_config_change;
    InputWritten fires routing_info_written;
    InputWritten quiet plain_delivery;
    CallBeforeConfigInit fires call_before_config_init;
    CallBeforeConfigInit fires call_without_config_export;
    CallBeforeConfigInit quiet calls_during_config_init;
    CallAfterUnload fires call_after_unload;
    CallAfterUnload quiet call_after_reload;
    CallAfterInitFailure fires call_after_init_failure;
    CallAfterInitFailure quiet call_during_failing_config_init;
    CallAfterInitFailure fires call_after_general_init_false;
    InvalidGuid fires unbraced_guid;
    InvalidGuid fires null_guid;
    InvalidGuid fires non_hex_guid;
    InvalidGuid quiet lowercase_guid;
    ForeignHinst fires null_hinst;
    ForeignHinst fires other_extensions_hinst;
    ForeignHinst quiet own_hinst;
    WrongIdSource fires routing_uses_tapi;
    WrongIdSource fires fsp_uses_fax;
    WrongIdSource quiet tapi_source_for_global_data;
    WrongIdSource quiet fsp_uses_tapi;
    BusyReentry fires register_inside_config_change;
    BusyReentry fires unregister_inside_config_change;
    BusyReentry quiet injected_busy;
    DuplicateRegistration fires duplicate_registration;
    DuplicateRegistration quiet register_again_after_unregister;
    StaleUnregister fires unregister_twice;
    StaleUnregister fires unregister_never_issued;
    StaleUnregister quiet injected_not_found;
    RegistrationLeak fires fsp_keeps_registration;
    RegistrationLeak quiet routing_keeps_registration;
    RegistrationLeak quiet fsp_without_shutdown_keeps_registration;
    ConfigInitFailed fires config_init_fails;
    ConfigInitFailed quiet clean_session;
    ExtensionCrashed fires crashed;
    ExtensionCrashed quiet hung;
    ExtensionHung fires hung;
    ExtensionHung quiet crashed;
    NotificationStorm fires storm_by_depth;
    NotificationStorm fires storm_by_delivery_cut;
    NotificationStorm quiet nesting_at_limit;
    InitOrder fires general_init_before_config_init;
    InitOrder fires virtual_config_init_before_creation;
    InitOrder fires virtual_dev_init_first_by_default;
    InitOrder quiet virtual_dev_init_first_when_configured;
    InitOrder quiet general_init_without_config_export;
    InitFailureIgnored fires init_after_config_failure;
    InitFailureIgnored fires device_change_after_config_failure;
    InitFailureIgnored fires shutdown_after_config_failure;
    InitFailureIgnored fires shutdown_after_general_init_false;
    InitFailureIgnored fires notified_after_general_init_false;
    InitFailureIgnored quiet general_init_false_then_left_alone;
    NotifySelf fires notify_writer;
    NotifySelf quiet writer_only_registration;
    NotifyMismatch fires wrong_device_passed;
    NotifyMismatch fires never_registered_handle;
    NotifyMismatch fires wrong_key_delivered;
    NotifyMismatch quiet tapi_registration_notified_in_tapi_space;
    NotifyAfterUnregister fires notify_after_unregister;
    NotifyAfterUnregister quiet notify_before_unregister;
    NotifyAfterShutdown fires deferred_delivery_after_stopping;
    NotifyAfterShutdown quiet deferred_delivery_before_stopping;
    MissedNotification fires sync_skips_registrant;
    MissedNotification fires shuffled_skips_registrant;
    MissedNotification fires deferred_never_delivered;
    MissedNotification fires external_write_skips_registrant;
    MissedNotification quiet writer_only_registration;
    MissedNotification quiet deferred_delivery_before_stopping;
    MissedNotification quiet unregister_cancels_deferred;
    MissedNotification quiet stopping_cancels_deferred;
    MissedNotification quiet cut_delivery_is_not_missed;
    MissedNotification quiet tapi_registration_notified_in_tapi_space;
}

// ---- buffers ----

fn leak_unfreed_buffer() -> Check {
    let mut s = up();
    let (get, _) = s.get(FSP, 0, SOURCE_FAX, G1);
    let st = s.stop();
    let at = st[usize::from(FSP)].1;
    let ev = format!("GetData at event {get}");
    fires(s, at, &["buffer #1", &ev, "device 0", G1, "fax-fsp"]).times(1)
}

fn free_live_buffer() -> Check {
    let mut s = up();
    let (_, b) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.free(FSP, BufferArg::Buffer(b));
    s.stop();
    quiet(s)
}

fn double_free() -> Check {
    let mut s = up();
    let (get, b) = s.get(VFSP, VDEV, SOURCE_FAX, G1);
    let f1 = s.free(VFSP, BufferArg::Buffer(b));
    let f2 = s.free(VFSP, BufferArg::Buffer(b));
    let (e1, e2) = (format!("event {get}"), format!("event {f1}"));
    fires(s, f2, &["buffer #1", &e1, &e2, "device 100", G1])
}

fn free_change_data() -> Check {
    let mut s = up();
    let h = s.reg(FSP, 0, SOURCE_FAX, G1);
    let mut at = (0, 0);
    s.set_with(VFSP, 0, SOURCE_FAX, G1, |s, w| {
        let c = s.cc_call(FSP, h, 0, G1, Some(w));
        let f = s.free(FSP, BufferArg::ChangeData { delivery: c });
        s.cc_ret(FSP, h);
        at = (c, f);
    });
    let ev = format!("ConfigChange at event {}", at.0);
    fires(s, at.1, &[&ev, "handle #1", "device 0", G1])
}

fn free_never_issued_buffer() -> Check {
    let mut s = up();
    let f = s.free(ROUTE, BufferArg::Buffer(BufferId(42)));
    fires(s, f, &["buffer #42", "router"])
}

fn free_foreign_pointer() -> Check {
    let mut s = up();
    let f = s.free(ROUTE, BufferArg::Foreign(ForeignId(7)));
    fires(s, f, &["#7"])
}

fn free_other_extensions_buffer() -> Check {
    let mut s = up();
    let (_, b) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.free(ROUTE, BufferArg::Buffer(b));
    s.stop();
    quiet(s)
}

fn free_null() -> Check {
    let mut s = up();
    let f = s.free(FSP, BufferArg::Null);
    fires(s, f, &["FreeBuffer(NULL)"])
}

fn overrun() -> Check {
    let mut s = up();
    let (get, b) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.on(
        FSP,
        EventKind::FreeBufferCall {
            buffer: BufferArg::Buffer(b),
        },
    );
    let d = s.on(
        FSP,
        EventKind::BufferDamaged {
            buffer: b,
            damage: Damage::Overrun { offset: 4 },
        },
    );
    s.on(FSP, EventKind::FreeBufferReturn);
    let ev = format!("event {get}");
    fires(s, d, &["buffer #1", &ev, "offset 4", "device 0", G1])
}

fn write_after_free() -> Check {
    let mut s = up();
    let (get, b) = s.get(FSP, 0, SOURCE_FAX, G1);
    let f = s.free(FSP, BufferArg::Buffer(b));
    let d = s.on(
        FSP,
        EventKind::BufferDamaged {
            buffer: b,
            damage: Damage::WriteAfterFree { offset: 0 },
        },
    );
    let (e1, e2) = (format!("event {get}"), format!("FreeBuffer at event {f}"));
    fires(s, d, &["buffer #1", &e1, &e2, "offset 0", G1])
}

fn change_data_written() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let mut at = (0, 0);
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        let c = s.deliver(ROUTE, h, 0, G1, Some(w));
        let d = s.on(
            ROUTE,
            EventKind::ChangeDataWritten {
                delivery: c,
                offset: 3,
            },
        );
        at = (c, d);
    });
    let ev = format!("ConfigChange at event {}", at.0);
    fires(s, at.1, &[&ev, "handle #1", "device 0", G1, "offset 3"])
}

fn guid_written_in_config_change() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let mut at = (0, 0);
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        let c = s.deliver(ROUTE, h, 0, G1, Some(w));
        let d = s.on(
            ROUTE,
            EventKind::InputWritten {
                call: c,
                input: faxsim_trace::ServiceInput::Guid,
                offset: 2,
            },
        );
        at = (c, d);
    });
    let ev = format!("ConfigChange at event {}", at.0);
    fires(s, at.1, &["GUID string", &ev, "handle #1", G1, "offset 2"])
}

fn routing_info_written() -> Check {
    let mut s = up();
    let call = s.on(
        ROUTE,
        EventKind::RouteSetRoutingInfoCall {
            guid: Some(std::sync::Arc::from(G1)),
            device: 1,
            data: Some(std::sync::Arc::from(&[1u8, 2, 3][..])),
            size: 3,
        },
    );
    let d = s.on(
        ROUTE,
        EventKind::InputWritten {
            call,
            input: faxsim_trace::ServiceInput::RoutingInfo,
            offset: 1,
        },
    );
    s.on(ROUTE, EventKind::RouteSetRoutingInfoReturn { ok: true });
    let ev = format!("FaxRouteSetRoutingInfo at event {call}");
    fires(s, d, &["routing info", &ev, "device 1", G1, "offset 1"])
}

fn plain_delivery() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        s.deliver(ROUTE, h, 0, G1, Some(w));
    });
    s.unreg(ROUTE, HandleArg::Handle(h), 0, false);
    s.stop();
    quiet(s)
}

// ---- lifecycle of callbacks ----

fn call_before_config_init() -> Check {
    let mut s = Script::new();
    s.start();
    let load = s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    let (c, b) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.free(FSP, BufferArg::Buffer(b));
    s.config_init(FSP, 0);
    s.dev_init(FSP);
    let ev = format!("loaded at event {load}");
    // Reported once per lifecycle, although two calls came early.
    fires(s, c, &["fax-fsp", "GetData(device 0", G1, &ev]).times(1)
}

fn call_without_config_export() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(OTHER, ExtensionKind::Fsp, exports(false, false));
    s.dev_init(OTHER);
    let c = s.reg_call(OTHER, own(OTHER), 0, SOURCE_FAX, G1);
    s.reg_ret(OTHER, Some(HandleId(1)), 0, false);
    fires(
        s,
        c,
        &["other", "does not export FaxExtInitializeConfig", G1],
    )
}

fn calls_during_config_init() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    s.on(FSP, EventKind::InitializeConfigCall);
    let (_, b) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.free(FSP, BufferArg::Buffer(b));
    let h = s.reg(FSP, 0, SOURCE_FAX, G1);
    s.on(FSP, EventKind::InitializeConfigReturn { hr: 0 });
    s.dev_init(FSP);
    s.unreg(FSP, HandleArg::Handle(h), 0, false);
    quiet(s)
}

fn call_after_unload() -> Check {
    let mut s = up();
    let st = s.stop();
    let c = s.on(
        FSP,
        EventKind::GetDataCall {
            device: 0,
            source: SOURCE_FAX,
            guid: g(G1),
            null_out: false,
        },
    );
    s.on(
        FSP,
        EventKind::GetDataReturn {
            code: 1115,
            buffer: None,
            data: None,
            injected: false,
        },
    );
    // Every occurrence is reported.
    s.free(FSP, BufferArg::Buffer(BufferId(1)));
    let ev = format!("unloaded at event {}", st[usize::from(FSP)].1);
    fires(s, c, &["fax-fsp", &ev, G1])
        .also(&[Rule::ForeignFree])
        .times(2)
}

fn call_after_reload() -> Check {
    let mut s = up();
    s.stop();
    s.bring_up();
    let (_, b) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.free(FSP, BufferArg::Buffer(b));
    quiet(s)
}

fn call_after_init_failure() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    let failed = s.config_init(FSP, E_FAIL);
    let c = s.set_call(FSP, own(FSP), 0, SOURCE_FAX, G1);
    s.set_ret(FSP, 31);
    s.set_call(FSP, own(FSP), 0, SOURCE_FAX, G1);
    s.set_ret(FSP, 31);
    let ev = format!("failed at event {failed}");
    fires(s, c, &["fax-fsp", "SetData(device 0", G1, &ev])
        .also(&[Rule::ConfigInitFailed])
        .times(1)
}

fn call_during_failing_config_init() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    s.on(FSP, EventKind::InitializeConfigCall);
    let (_, b) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.free(FSP, BufferArg::Buffer(b));
    s.on(FSP, EventKind::InitializeConfigReturn { hr: E_FAIL });
    quiet(s).also(&[Rule::ConfigInitFailed])
}

// ---- arguments ----

fn unbraced_guid() -> Check {
    let mut s = up();
    let c = s.on(
        FSP,
        EventKind::GetDataCall {
            device: 0,
            source: SOURCE_FAX,
            guid: g("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
            null_out: false,
        },
    );
    s.on(
        FSP,
        EventKind::GetDataReturn {
            code: 87,
            buffer: None,
            data: None,
            injected: false,
        },
    );
    fires(
        s,
        c,
        &[
            "GetData(device 0)",
            "\"6F9619FF-8B86-D011-B42D-00C04FC964FF\"",
        ],
    )
}

fn null_guid() -> Check {
    let mut s = up();
    let c = s.on(
        VFSP,
        EventKind::SetDataCall {
            hinst: own(VFSP),
            device: VDEV,
            source: SOURCE_FAX,
            guid: None,
            data: Some(Arc::from(&b"v"[..])),
            size: 1,
        },
    );
    s.set_ret(VFSP, 87);
    fires(s, c, &["SetData(device 100)", "NULL"])
}

fn non_hex_guid() -> Check {
    let mut s = up();
    let bad = "{6F9619FF-8B86-D011-B42D-00C04FC964FG}";
    let c = s.reg_call(ROUTE, own(ROUTE), 0, SOURCE_FAX, bad);
    s.reg_ret(ROUTE, None, 87, false);
    fires(s, c, &["Register(device 0)", bad])
}

fn lowercase_guid() -> Check {
    let mut s = up();
    let (_, b) = s.get(FSP, 0, SOURCE_FAX, G1_LOWER);
    s.free(FSP, BufferArg::Buffer(b));
    s.set(FSP, 0, SOURCE_FAX, G1_LOWER);
    quiet(s)
}

fn null_hinst() -> Check {
    let mut s = up();
    let c = s.set_call(FSP, HInstArg::Null, 0, SOURCE_FAX, G1);
    s.set_ret(FSP, 0);
    fires(s, c, &["fax-fsp", "hInst NULL", "device 0", G1])
}

fn other_extensions_hinst() -> Check {
    let mut s = up();
    let c = s.reg_call(FSP, own(VFSP), 0, SOURCE_FAX, G1);
    s.reg_ret(FSP, Some(HandleId(1)), 0, false);
    fires(
        s,
        c,
        &["the module handle of vfsp", "Register(device 0", G1],
    )
}

fn own_hinst() -> Check {
    let mut s = up();
    s.set(FSP, 0, SOURCE_FAX, G1);
    let h = s.reg(FSP, 0, SOURCE_FAX, G1);
    s.unreg(FSP, HandleArg::Handle(h), 0, false);
    quiet(s)
}

fn routing_uses_tapi() -> Check {
    let mut s = up();
    let c = s.reg_call(ROUTE, own(ROUTE), TAPI_LINE, SOURCE_TAPI, G1);
    s.reg_ret(ROUTE, Some(HandleId(1)), 0, false);
    fires(s, c, &["router", "device 65537", "DEV_ID_SRC_TAPI", G1])
}

fn fsp_uses_fax() -> Check {
    let mut s = up();
    let (c, b) = s.get(FSP, TAPI_DEV, SOURCE_FAX, G1);
    s.free(FSP, BufferArg::Buffer(b));
    fires(s, c, &["fax-fsp", "device 1", "DEV_ID_SRC_FAX", G1])
}

fn tapi_source_for_global_data() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_TAPI, G1);
    let (_, b) = s.get(VFSP, 0, SOURCE_TAPI, G1);
    s.free(VFSP, BufferArg::Buffer(b));
    s.unreg(ROUTE, HandleArg::Handle(h), 0, false);
    quiet(s)
}

fn fsp_uses_tapi() -> Check {
    let mut s = up();
    let (_, b) = s.get(FSP, TAPI_LINE, SOURCE_TAPI, G1);
    s.free(FSP, BufferArg::Buffer(b));
    s.set(FSP, TAPI_LINE, SOURCE_TAPI, G1);
    quiet(s)
}

// ---- registrations ----

fn register_inside_config_change() -> Check {
    let mut s = up();
    let h = s.reg(FSP, 0, SOURCE_FAX, G1);
    let mut at = (0, 0);
    s.set_with(VFSP, 0, SOURCE_FAX, G1, |s, w| {
        let c = s.cc_call(FSP, h, 0, G1, Some(w));
        s.reg_call(FSP, own(FSP), 0, SOURCE_FAX, G2);
        let r = s.reg_ret(FSP, None, 170, false);
        s.cc_ret(FSP, h);
        at = (c, r);
    });
    let ev = format!("ConfigChange at event {}", at.0);
    fires(s, at.1, &["ERROR_BUSY", &ev, "handle #1", G2, "device 0"])
}

fn unregister_inside_config_change() -> Check {
    let mut s = up();
    let h = s.reg(FSP, 0, SOURCE_FAX, G1);
    let mut at = 0;
    s.set_with(VFSP, 0, SOURCE_FAX, G1, |s, w| {
        s.cc_call(FSP, h, 0, G1, Some(w));
        at = s.unreg(FSP, HandleArg::Handle(h), 170, false);
        s.cc_ret(FSP, h);
    });
    fires(s, at, &["Unregister(handle #1)", "ERROR_BUSY", G1])
}

fn injected_busy() -> Check {
    let mut s = up();
    let h = s.reg(FSP, 0, SOURCE_FAX, G1);
    s.set_with(VFSP, 0, SOURCE_FAX, G1, |s, w| {
        s.cc_call(FSP, h, 0, G1, Some(w));
        s.reg_call(FSP, own(FSP), 0, SOURCE_FAX, G2);
        s.reg_ret(FSP, None, 170, true);
        s.unreg(FSP, HandleArg::Handle(h), 170, true);
        s.cc_ret(FSP, h);
    });
    quiet(s)
}

fn duplicate_registration() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, VDEV, SOURCE_FAX, G1);
    let first = s.events[s.last() as usize - 1].seq;
    s.reg_call(ROUTE, own(ROUTE), VDEV, SOURCE_FAX, G1_LOWER);
    let r = s.reg_ret(ROUTE, None, 85, false);
    assert_eq!(h, HandleId(1));
    let ev = format!("registered at event {first}");
    fires(
        s,
        r,
        &[
            "handle #1",
            &ev,
            "device 100",
            G1_LOWER,
            "ERROR_ALREADY_ASSIGNED",
        ],
    )
}

fn register_again_after_unregister() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, VDEV, SOURCE_FAX, G1);
    s.unreg(ROUTE, HandleArg::Handle(h), 0, false);
    let h2 = s.reg(ROUTE, VDEV, SOURCE_FAX, G1_LOWER);
    s.unreg(ROUTE, HandleArg::Handle(h2), 0, false);
    quiet(s)
}

fn unregister_twice() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let r1 = s.unreg(ROUTE, HandleArg::Handle(h), 0, false);
    let r2 = s.unreg(ROUTE, HandleArg::Handle(h), 1168, false);
    let ev = format!("unregistered at event {r1}");
    fires(s, r2, &["handle #1", &ev, "device 0", G1])
}

fn unregister_never_issued() -> Check {
    let mut s = up();
    let r = s.unreg(ROUTE, HandleArg::Handle(HandleId(9)), 1168, false);
    fires(s, r, &["handle #9 was never issued"])
}

fn injected_not_found() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.unreg(ROUTE, HandleArg::Handle(h), 1168, true);
    s.unreg(ROUTE, HandleArg::Handle(h), 0, false);
    quiet(s)
}

fn fsp_keeps_registration() -> Check {
    let mut s = up();
    s.reg(FSP, 0, SOURCE_FAX, G1);
    s.reg(FSP, TAPI_LINE, SOURCE_TAPI, G2);
    let st = s.stop();
    let at = st[usize::from(FSP)].0.unwrap();
    fires(
        s,
        at,
        &[
            "fax-fsp",
            "2 registrations",
            "handle #1",
            "handle #2",
            "device 0",
            "device 65537 (TAPI)",
            G1,
            G2,
        ],
    )
    .times(1)
}

fn routing_keeps_registration() -> Check {
    let mut s = up();
    s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.stop();
    quiet(s)
}

fn fsp_without_shutdown_keeps_registration() -> Check {
    let mut s = up();
    s.load(OTHER, ExtensionKind::Fsp, exports(true, false));
    s.config_init(OTHER, 0);
    s.dev_init(OTHER);
    s.reg(OTHER, 0, SOURCE_FAX, G1);
    s.stop();
    s.on(OTHER, EventKind::Unload);
    quiet(s)
}

// ---- init ----

fn config_init_fails() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    let r = s.config_init(FSP, E_FAIL);
    s.on(FSP, EventKind::Unload);
    fires(s, r, &["fax-fsp", "E_FAIL"])
}

fn clean_session() -> Check {
    let mut s = up();
    let hf = s.reg(FSP, TAPI_LINE, SOURCE_TAPI, G1);
    let hr = s.reg(ROUTE, TAPI_DEV, SOURCE_FAX, G1);
    let hv = s.reg(VFSP, 0, SOURCE_FAX, G2);
    s.set_with(FSP, TAPI_LINE, SOURCE_TAPI, G1, |s, w| {
        s.deliver(ROUTE, hr, TAPI_DEV, G1, Some(w));
    });
    s.set_with(ROUTE, 0, SOURCE_FAX, G2, |s, w| {
        s.deliver(VFSP, hv, 0, G2, Some(w));
    });
    s.external_with(TAPI_DEV, G1_LOWER, |s, w| {
        s.deliver(FSP, hf, TAPI_LINE, G1, Some(w));
        s.deliver(ROUTE, hr, TAPI_DEV, G1, Some(w));
    });
    let (_, b) = s.get(VFSP, VDEV, SOURCE_FAX, G2);
    s.free(VFSP, BufferArg::Buffer(b));
    for (ext, h) in [(FSP, hf), (ROUTE, hr), (VFSP, hv)] {
        s.unreg(ext, HandleArg::Handle(h), 0, false);
    }
    s.stop();
    quiet(s)
}

fn crashed() -> Check {
    let mut s = up();
    let c = s.on(
        VFSP,
        EventKind::ExtensionCrashed {
            detail: Arc::from("SIGSEGV"),
        },
    );
    fires(s, c, &["vfsp", "SIGSEGV"])
}

fn hung() -> Check {
    let mut s = up();
    let c = s.on(VFSP, EventKind::ExtensionHung { limit_ms: 5000 });
    fires(s, c, &["vfsp", "5000 ms"])
}

/// FSP and VFSP both registered for (0, G1) mirror each other's writes `n` times deep;
/// the innermost write goes to G2, which nobody watches. Returns (first write, the
/// ConfigChange call seqs in nesting order).
fn mirror(s: &mut Script, n: usize) -> (u64, Vec<u64>) {
    let hf = s.reg(FSP, 0, SOURCE_FAX, G1);
    let hv = s.reg(VFSP, 0, SOURCE_FAX, G1);
    let handles = [hf, hv];
    let mut calls = Vec::new();
    fn level(
        s: &mut Script,
        left: usize,
        writer: u16,
        handles: [HandleId; 2],
        calls: &mut Vec<u64>,
    ) {
        if left == 0 {
            s.set(writer, 0, SOURCE_FAX, G2);
            return;
        }
        let other = 1 - writer;
        let h = handles[usize::from(other)];
        s.set_with(writer, 0, SOURCE_FAX, G1, |s, w| {
            calls.push(s.cc_call(other, h, 0, G1, Some(w)));
            level(s, left - 1, other, handles, calls);
            s.cc_ret(other, h);
        });
    }
    let first = s.events.len() as u64;
    level(s, n, FSP, handles, &mut calls);
    (first, calls)
}

fn storm_by_depth() -> Check {
    let mut s = up();
    s.config.nesting_limit = 2;
    let (first, calls) = mirror(&mut s, 5);
    let ev = format!("fax-fsp's SetData(device 0, {G1}) at event {first}");
    fires(s, calls[2], &[&ev, "past the limit of 2", "handle #2"]).times(1)
}

fn storm_by_delivery_cut() -> Check {
    let mut s = up();
    let hf = s.reg(FSP, 0, SOURCE_FAX, G1);
    let hv = s.reg(VFSP, 0, SOURCE_FAX, G1);
    let mut cut = 0;
    let (w1, _) = s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        s.cc_call(VFSP, hv, 0, G1, Some(w));
        s.set_with(VFSP, 0, SOURCE_FAX, G1, |s, w2| {
            cut = s.cut(hf, w2, 2);
        });
        // A second echo in the same chain: the same storm, not reported again.
        s.set_with(VFSP, 0, SOURCE_FAX, G1, |s, w3| {
            s.cut(hf, w3, 2);
        });
        s.cc_ret(VFSP, hv);
    });
    let ev = format!("fax-fsp's SetData(device 0, {G1}) at event {w1}");
    fires(s, cut, &[&ev, "handle #1", "depth 2"]).times(1)
}

fn nesting_at_limit() -> Check {
    let mut s = up();
    s.config.nesting_limit = 2;
    mirror(&mut s, 2);
    quiet(s)
}

fn general_init_before_config_init() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    let d = s.dev_init(FSP);
    s.config_init(FSP, 0);
    fires(
        s,
        d,
        &[
            "FaxDevInitialize",
            "fax-fsp",
            "before FaxExtInitializeConfig",
        ],
    )
}

fn virtual_config_init_before_creation() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(VFSP, ExtensionKind::VirtualFsp, exports(true, true));
    let c = s.on(VFSP, EventKind::InitializeConfigCall);
    s.on(VFSP, EventKind::InitializeConfigReturn { hr: 0 });
    s.vdc(VFSP);
    s.dev_init(VFSP);
    fires(s, c, &["virtual FSP vfsp", "FaxDevVirtualDeviceCreation"])
}

fn virtual_dev_init_first_by_default() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(VFSP, ExtensionKind::VirtualFsp, exports(true, true));
    let d = s.dev_init(VFSP);
    s.vdc(VFSP);
    s.config_init(VFSP, 0);
    fires(s, d, &["FaxDevInitialize", "vfsp"]).times(1)
}

fn virtual_dev_init_first_when_configured() -> Check {
    let mut s = Script::new();
    s.config.virtual_fsp_init = VirtualFspInitOrder::BeforeDeviceCreation;
    s.start();
    s.load(VFSP, ExtensionKind::VirtualFsp, exports(true, true));
    s.dev_init(VFSP);
    s.vdc(VFSP);
    s.config_init(VFSP, 0);
    quiet(s)
}

fn general_init_without_config_export() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(false, true));
    s.dev_init(FSP);
    s.load(ROUTE, ExtensionKind::Routing, exports(false, false));
    s.route_init(ROUTE);
    quiet(s)
}

fn init_after_config_failure() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    let f = s.config_init(FSP, E_FAIL);
    let d = s.dev_init(FSP);
    let ev = format!("failed at event {f}");
    fires(s, d, &["FaxDevInitialize", "fax-fsp", &ev]).also(&[Rule::ConfigInitFailed])
}

fn device_change_after_config_failure() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(ROUTE, ExtensionKind::Routing, exports(true, false));
    s.config_init(ROUTE, E_FAIL);
    let c = s.on(
        ROUTE,
        EventKind::RouteDeviceChangeCall {
            device: 7,
            new_device: true,
        },
    );
    s.on(ROUTE, EventKind::RouteDeviceChangeReturn { ok: true });
    fires(
        s,
        c,
        &["FaxRouteDeviceChangeNotification(device 7", "router"],
    )
    .also(&[Rule::ConfigInitFailed])
}

/// FaxDevShutdown releases what FaxDevInitialize set up, which never ran.
fn shutdown_after_config_failure() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    let f = s.config_init(FSP, E_FAIL);
    s.svc(EventKind::ServiceStopping);
    let d = s.on(FSP, EventKind::DevShutdownCall);
    s.on(FSP, EventKind::DevShutdownReturn { hr: 0 });
    s.on(FSP, EventKind::Unload);
    s.svc(EventKind::ServiceStopped);
    let ev = format!("failed at event {f}");
    fires(s, d, &["FaxDevShutdown", "fax-fsp", &ev]).also(&[Rule::ConfigInitFailed])
}

/// An FSP whose FaxDevInitialize returned FALSE: no FaxDevShutdown, no notification.
fn shutdown_after_general_init_false() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    s.config_init(FSP, 0);
    s.on(FSP, EventKind::DevInitializeCall);
    let r = s.on(FSP, EventKind::DevInitializeReturn { ok: false });
    s.svc(EventKind::ServiceStopping);
    let d = s.on(FSP, EventKind::DevShutdownCall);
    s.on(FSP, EventKind::DevShutdownReturn { hr: 0 });
    let ev = format!("FaxDevInitialize returned FALSE at event {r}");
    fires(s, d, &["FaxDevShutdown", "fax-fsp", &ev])
}

/// A routing extension whose FaxRouteInitialize returned FALSE, registered inside it and
/// was notified anyway.
fn notified_after_general_init_false() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(ROUTE, ExtensionKind::Routing, exports(true, false));
    s.config_init(ROUTE, 0);
    s.on(ROUTE, EventKind::RouteInitializeCall);
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.on(ROUTE, EventKind::RouteInitializeReturn { ok: false });
    let w = s.external_with(0, G1, |_, _| {});
    let c = s.deliver(ROUTE, h, 0, G1, Some(w));
    fires(s, c, &["ConfigChange", "FaxRouteInitialize returned FALSE"])
}

/// Not used after FaxRouteInitialize returned FALSE (its registration is void): quiet.
fn general_init_false_then_left_alone() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(ROUTE, ExtensionKind::Routing, exports(true, false));
    s.config_init(ROUTE, 0);
    s.on(ROUTE, EventKind::RouteInitializeCall);
    s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.on(ROUTE, EventKind::RouteInitializeReturn { ok: false });
    s.external_with(0, G1, |_, _| {});
    s.svc(EventKind::ServiceStopping);
    s.on(ROUTE, EventKind::Unload);
    s.svc(EventKind::ServiceStopped);
    quiet(s)
}

/// A callback after FaxDevInitialize returned FALSE (calls inside it are fine).
fn call_after_general_init_false() -> Check {
    let mut s = Script::new();
    s.start();
    s.load(FSP, ExtensionKind::Fsp, exports(true, true));
    s.config_init(FSP, 0);
    s.on(FSP, EventKind::DevInitializeCall);
    s.set_call(FSP, own(FSP), 0, SOURCE_FAX, G1);
    s.set_ret(FSP, 0);
    let r = s.on(FSP, EventKind::DevInitializeReturn { ok: false });
    let c = s.set_call(FSP, own(FSP), 0, SOURCE_FAX, G1);
    s.set_ret(FSP, 31);
    let ev = format!("FaxDevInitialize returned FALSE at event {r}");
    fires(s, c, &["fax-fsp", "SetData(device 0", &ev])
}

// ---- notifications ----

fn notify_writer() -> Check {
    let mut s = up();
    let h = s.reg(FSP, 0, SOURCE_FAX, G1);
    let mut c = 0;
    let (w, _) = s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        c = s.deliver(FSP, h, 0, G1, Some(w));
    });
    let ev = format!("SetData(device 0, {G1}) at event {w}");
    fires(s, c, &["handle #1", &ev, "fax-fsp"])
}

fn writer_only_registration() -> Check {
    let mut s = up();
    s.reg(FSP, 0, SOURCE_FAX, G1);
    s.set(FSP, 0, SOURCE_FAX, G1);
    quiet(s)
}

fn wrong_device_passed() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let mut c = 0;
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        c = s.deliver(ROUTE, h, 5, G1, Some(w));
    });
    fires(s, c, &["handle #1", "passed device 5 instead of 0", G1])
}

fn never_registered_handle() -> Check {
    let mut s = up();
    let c = s.deliver(ROUTE, HandleId(77), 0, G1, None);
    fires(s, c, &["handle #77 was never registered", "device 0", G1])
}

fn wrong_key_delivered() -> Check {
    let mut s = up();
    let h1 = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let h2 = s.reg(ROUTE, 0, SOURCE_FAX, G2);
    let mut c = 0;
    let (w, _) = s.set_with(FSP, 0, SOURCE_FAX, G2, |s, w| {
        s.deliver(ROUTE, h2, 0, G2, Some(w));
        c = s.deliver(ROUTE, h1, 0, G1, Some(w));
    });
    let ev = format!("SetData(device 0, {G2}) at event {w}");
    fires(s, c, &["handle #1", &ev, G1]).times(1)
}

fn tapi_registration_notified_in_tapi_space() -> Check {
    let mut s = up();
    let h = s.reg(FSP, TAPI_LINE, SOURCE_TAPI, G1_LOWER);
    s.set_with(ROUTE, TAPI_DEV, SOURCE_FAX, G1, |s, w| {
        s.deliver(FSP, h, TAPI_LINE, G1_LOWER, Some(w));
    });
    s.unreg(FSP, HandleArg::Handle(h), 0, false);
    quiet(s)
}

fn notify_after_unregister() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let r = s.unreg(ROUTE, HandleArg::Handle(h), 0, false);
    let mut c = 0;
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        c = s.deliver(ROUTE, h, 0, G1, Some(w));
    });
    let ev = format!("Unregister returned at event {r}");
    fires(s, c, &["handle #1", &ev, "device 0", G1])
}

fn notify_before_unregister() -> Check {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        s.deliver(ROUTE, h, 0, G1, Some(w));
    });
    s.unreg(ROUTE, HandleArg::Handle(h), 0, false);
    quiet(s)
}

fn deferred_delivery_after_stopping() -> Check {
    let mut s = up().delivery(DeliveryPolicy::Deferred);
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let w = s.set(FSP, 0, SOURCE_FAX, G1);
    let stop = s.svc(EventKind::ServiceStopping);
    let c = s.deliver(ROUTE, h, 0, G1, Some(w));
    let ev = format!("stopping at event {stop}");
    fires(s, c, &["handle #1", &ev, G1]).times(1)
}

fn deferred_delivery_before_stopping() -> Check {
    let mut s = up().delivery(DeliveryPolicy::Deferred);
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let hv = s.reg(VFSP, 0, SOURCE_FAX, G1);
    let w = s.set(FSP, 0, SOURCE_FAX, G1);
    s.get(FSP, 0, SOURCE_FAX, G1);
    s.deliver(VFSP, hv, 0, G1, Some(w));
    s.deliver(ROUTE, h, 0, G1, Some(w));
    s.free(FSP, BufferArg::Buffer(BufferId(1)));
    s.unreg(VFSP, HandleArg::Handle(hv), 0, false);
    s.stop();
    quiet(s)
}

fn sync_skips_registrant() -> Check {
    let mut s = up();
    let hv = s.reg(VFSP, 0, SOURCE_FAX, G1);
    s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let (w, r) = s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        s.deliver(VFSP, hv, 0, G1, Some(w));
    });
    let ev = format!("fax-fsp's SetData(device 0, {G1}) at event {w}");
    fires(s, r, &["handle #2 of router", &ev]).times(1)
}

fn shuffled_skips_registrant() -> Check {
    let mut s = up().delivery(DeliveryPolicy::Shuffled);
    let hv = s.reg(VFSP, 0, SOURCE_FAX, G1);
    let hr = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        s.deliver(ROUTE, hr, 0, G1, Some(w));
        s.deliver(VFSP, hv, 0, G1, Some(w));
    });
    let (w, r) = s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        s.deliver(ROUTE, hr, 0, G1, Some(w));
    });
    let ev = format!("at event {w}");
    fires(s, r, &["handle #1 of vfsp", &ev, "device 0", G1]).times(1)
}

fn deferred_never_delivered() -> Check {
    let mut s = up().delivery(DeliveryPolicy::Deferred);
    let h = s.reg(ROUTE, VDEV, SOURCE_FAX, G1);
    let w = s.set(VFSP, VDEV, SOURCE_FAX, G1);
    let (_, b) = s.get(VFSP, VDEV, SOURCE_FAX, G1);
    s.free(VFSP, BufferArg::Buffer(b));
    let _ = h;
    let last = s.last();
    let ev = format!("vfsp's SetData(device 100, {G1}) at event {w}");
    fires(s, last, &["handle #1 of router", &ev, "returned at event"]).times(1)
}

fn external_write_skips_registrant() -> Check {
    let mut s = up();
    let hf = s.reg(FSP, TAPI_LINE, SOURCE_TAPI, G1);
    let hr = s.reg(ROUTE, TAPI_DEV, SOURCE_FAX, G1);
    let w = s.external_with(TAPI_DEV, G1, |s, w| {
        s.deliver(ROUTE, hr, TAPI_DEV, G1, Some(w));
    });
    let _ = hf;
    let ev = format!("an external write to device 1, {G1} at event {w}");
    let last = s.last();
    fires(
        s,
        last,
        &["handle #1 of fax-fsp", "device 65537 (TAPI)", &ev],
    )
}

fn unregister_cancels_deferred() -> Check {
    let mut s = up().delivery(DeliveryPolicy::Deferred);
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.set(FSP, 0, SOURCE_FAX, G1);
    s.unreg(ROUTE, HandleArg::Handle(h), 0, false);
    quiet(s)
}

fn stopping_cancels_deferred() -> Check {
    let mut s = up().delivery(DeliveryPolicy::Deferred);
    s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.set(FSP, 0, SOURCE_FAX, G1);
    s.stop();
    quiet(s)
}

fn cut_delivery_is_not_missed() -> Check {
    let mut s = up();
    let hr = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
        s.cut(hr, w, 17);
    });
    quiet(s).also(&[Rule::NotificationStorm])
}

// ---- the runner ----------------------------------------------------------------------

/// Feeds the events one at a time, taking findings as they come (the live path).
fn live(s: &Script) -> Vec<Finding> {
    let mut c = Checker::new(s.config.clone());
    let mut out = Vec::new();
    for e in &s.events {
        c.observe(e);
        out.extend(c.take_findings());
    }
    c.finish();
    out.extend(c.take_findings());
    out
}

fn run_case(case: &Case) {
    let Check { s, expect } = (case.build)();
    for (i, e) in s.events.iter().enumerate() {
        assert_eq!(e.seq, i as u64, "{}: script seq", case.name);
    }
    let findings = check_events(&s.events, s.config.clone());
    assert_eq!(findings, live(&s), "{}: live and offline differ", case.name);
    let dump = findings
        .iter()
        .map(|f| format!("  {} @{}: {}", f.rule, f.event, f.message))
        .collect::<Vec<_>>()
        .join("\n");
    match expect {
        // A triggering sequence of another rule reused as this rule's near miss: only the
        // absence of this rule is asserted here (its own case checks the rest).
        Expect::Fires { .. } if !case.fires => {
            assert!(
                findings.iter().all(|f| f.rule != case.rule),
                "{}: unexpected {} (near miss):\n{dump}",
                case.name,
                case.rule
            );
        }
        Expect::Quiet { .. } if case.fires => {
            panic!("{}: a quiet sequence is listed as triggering", case.name)
        }
        Expect::Fires {
            at,
            contains,
            also,
            times,
        } => {
            let hit = findings
                .iter()
                .find(|f| f.rule == case.rule && f.event == at);
            let Some(hit) = hit else {
                panic!(
                    "{}: expected {} at event {at}, got:\n{dump}",
                    case.name, case.rule
                );
            };
            for c in &contains {
                assert!(
                    hit.message.contains(c.as_str()),
                    "{}: message {:?} lacks {c:?}",
                    case.name,
                    hit.message
                );
            }
            assert_eq!(hit.severity, case.rule.severity());
            if let Some(n) = times {
                let count = findings.iter().filter(|f| f.rule == case.rule).count();
                assert_eq!(
                    count, n,
                    "{}: expected {n} of {}:\n{dump}",
                    case.name, case.rule
                );
            }
            for f in &findings {
                assert!(
                    f.rule == case.rule || also.contains(&f.rule),
                    "{}: unexpected {}:\n{dump}",
                    case.name,
                    f.rule
                );
            }
        }
        Expect::Quiet { also } => {
            for f in &findings {
                assert!(
                    f.rule != case.rule && also.contains(&f.rule),
                    "{}: unexpected {} (near miss of {}):\n{dump}",
                    case.name,
                    f.rule,
                    case.rule
                );
            }
        }
    }
}

#[test]
fn every_case() {
    for case in CASES {
        run_case(case);
    }
}

#[test]
fn table_covers_every_rule() {
    for rule in Rule::ALL {
        for fires in [true, false] {
            assert!(
                CASES.iter().any(|c| c.rule == *rule && c.fires == fires),
                "rule {rule} has no {} case",
                if fires { "triggering" } else { "near-miss" }
            );
        }
    }
}

#[test]
fn every_policy_runs_clean() {
    for policy in [
        DeliveryPolicy::Sync,
        DeliveryPolicy::Shuffled,
        DeliveryPolicy::Deferred,
    ] {
        let mut s = clean_session().s;
        s.config.delivery = policy;
        assert_eq!(check_events(&s.events, s.config.clone()), vec![]);
    }
}

#[test]
fn restart_keeps_counting_and_resets_lifecycles() {
    let mut s = up();
    let h = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let (_, b1) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.free(FSP, BufferArg::Buffer(b1));
    let st = s.stop();
    s.bring_up();
    // The handle of the first run was dropped when the service stopped.
    let r = s.unreg(ROUTE, HandleArg::Handle(h), 1168, false);
    let (_, b2) = s.get(FSP, 0, SOURCE_FAX, G1);
    assert_eq!(b2, BufferId(2));
    s.free(FSP, BufferArg::Buffer(b2));
    // Freeing the first run's buffer again is still a double free.
    let f = s.free(FSP, BufferArg::Buffer(b1));
    let findings = check_events(&s.events, s.config.clone());
    let rules: Vec<_> = findings.iter().map(|f| (f.rule, f.event)).collect();
    assert_eq!(
        rules,
        vec![(Rule::StaleUnregister, r), (Rule::DoubleFree, f)]
    );
    let dropped = format!("dropped by the service at event {}", st[2].1);
    assert!(
        findings[0].message.contains(&dropped),
        "{}",
        findings[0].message
    );
}

#[test]
fn a_new_storm_is_reported_after_the_chain_unwinds() {
    let mut s = up();
    let hf = s.reg(FSP, 0, SOURCE_FAX, G1);
    let mut cuts = Vec::new();
    for _ in 0..2 {
        s.set_with(VFSP, 0, SOURCE_FAX, G1, |s, w| {
            cuts.push(s.cut(hf, w, 17));
            cuts.push(s.cut(hf, w, 17));
        });
    }
    let findings = check_events(&s.events, s.config.clone());
    let at: Vec<_> = findings.iter().map(|f| (f.rule, f.event)).collect();
    assert_eq!(
        at,
        vec![
            (Rule::NotificationStorm, cuts[0]),
            (Rule::NotificationStorm, cuts[2])
        ]
    );
}

#[test]
fn default_config_uses_the_service_nesting_limit() {
    let mut s = up();
    mirror(&mut s, 16);
    let config = CheckerConfig::default();
    assert_eq!(check_events(&s.events, config.clone()), vec![]);
    let mut s = up();
    mirror(&mut s, 17);
    let f = check_events(&s.events, config);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, Rule::NotificationStorm);
    assert!(f[0].message.contains("ext#0"), "{}", f[0].message);
}

#[test]
fn state_stays_bounded_over_a_long_run() {
    let mut s = up();
    let hr = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    let hv = s.reg(VFSP, 0, SOURCE_FAX, G1);
    let mut c = Checker::new(s.config.clone());
    let mut fed = 0;
    for round in 0..3 * RETAINED_WRITES {
        s.set_with(FSP, 0, SOURCE_FAX, G1, |s, w| {
            s.deliver(ROUTE, hr, 0, G1, Some(w));
            s.deliver(VFSP, hv, 0, G1, Some(w));
        });
        for e in &s.events[fed..] {
            c.observe(e);
        }
        fed = s.events.len();
        if round > RETAINED_WRITES {
            assert!(c.writes.len() <= RETAINED_WRITES + 1);
        }
    }
    assert_eq!(c.owed_total, 0);
    assert!(c.findings().is_empty());
    assert!(
        c.threads
            .values()
            .all(|t| t.calls.is_empty() && t.deliveries.is_empty())
    );
}

#[test]
fn findings_name_extensions_and_fall_back_to_index() {
    let mut s = up();
    s.config.names.truncate(1);
    let f = s.free(ROUTE, BufferArg::Null);
    let findings = check_events(&s.events, s.config.clone());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].event, f);
    assert_eq!(findings[0].ext, Some(ExtId(ROUTE)));
    assert!(
        findings[0].message.starts_with("ext#2 "),
        "{}",
        findings[0].message
    );
}

#[test]
fn traces_without_causes() {
    // A recorder on a real service sees no causes: deliveries settle the oldest owed one,
    // and storms are found by nesting depth, chained through the open writes.
    let mut s = up();
    let hr = s.reg(ROUTE, 0, SOURCE_FAX, G1);
    s.set_with(FSP, 0, SOURCE_FAX, G1, |s, _| {
        s.deliver(ROUTE, hr, 0, G1, None);
    });
    let (w, r) = s.set_with(FSP, 0, SOURCE_FAX, G1, |_, _| {});
    let findings = check_events(&s.events, s.config.clone());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        (findings[0].rule, findings[0].event),
        (Rule::MissedNotification, r)
    );
    assert!(findings[0].message.contains(&format!("at event {w}")));

    let mut s = up();
    s.config.nesting_limit = 2;
    let (first, calls) = mirror(&mut s, 4);
    for e in &mut s.events {
        if let EventKind::ConfigChangeCall { cause, .. } = &mut e.kind {
            *cause = None;
        }
    }
    let findings = check_events(&s.events, s.config.clone());
    let at: Vec<_> = findings.iter().map(|f| (f.rule, f.event)).collect();
    assert_eq!(at, vec![(Rule::NotificationStorm, calls[2])]);
    assert!(findings[0].message.contains(&format!("at event {first}")));
}

#[test]
fn a_long_forgotten_buffer_freed_again_is_still_a_double_free() {
    let mut s = up();
    let (_, first) = s.get(FSP, 0, SOURCE_FAX, G1);
    s.free(FSP, BufferArg::Buffer(first));
    let mut c = Checker::new(s.config.clone());
    for e in &s.events {
        c.observe(e);
    }
    // Forget it as if many buffers had died since.
    c.dead_buffers.clear();
    c.dead_order.clear();
    let f = s.free(FSP, BufferArg::Buffer(first));
    let never = s.free(FSP, BufferArg::Buffer(BufferId(2)));
    for e in &s.events[f as usize..] {
        c.observe(e);
    }
    let at: Vec<_> = c.findings().iter().map(|x| (x.rule, x.event)).collect();
    assert_eq!(at, vec![(Rule::DoubleFree, f), (Rule::ForeignFree, never)]);
    assert!(c.findings()[0].message.contains("buffer #1"));
}
