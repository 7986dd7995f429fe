//! The service model against the protocol: ordering, every documented error code of every
//! callback, self-exclusion, id mapping, global data, ERROR_BUSY, nesting, restart,
//! shutdown, determinism.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use faxsim_abi::*;
use faxsim_sim::example_extensions::*;
use faxsim_sim::trace::{
    Event, EventKind, ExtId, ExtensionKind, HandleId, SOURCE_FAX, SOURCE_TAPI,
};
use faxsim_sim::*;

const G1: &str = "{11111111-2222-3333-4444-555555555555}";
const G2: &str = "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}";
/// G2 spelled in upper case: the same GUID by value.
const G2_UPPER: &str = "{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}";

fn spec(name: &str, kind: ExtensionKind) -> ExtensionSpec {
    ExtensionSpec {
        name: name.into(),
        kind,
    }
}

fn service() -> Service {
    Service::new(ServiceOptions::default())
}

fn kinds(svc: &Service, ext: ExtId) -> Vec<&'static str> {
    svc.events()
        .iter()
        .filter(|e| e.ext == Some(ext))
        .filter(|e| !e.kind.is_callback_call())
        .map(|e| e.kind.name())
        .filter(|n| n.ends_with("-call") || *n == "load" || *n == "unload")
        .collect()
}

/// Runs `f` as the extension's general init and returns what it returned.
fn during_init<T: 'static + Clone>(
    kind: ExtensionKind,
    f: impl Fn(&mut Callbacks<'_>) -> T + 'static,
) -> (Service, T) {
    let out: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let o = out.clone();
    let mut svc = service();
    svc.add_device(7, Some(0x700)).unwrap();
    let ext = HookExtension::new().on_general_init(move |cb| {
        *o.borrow_mut() = Some(f(cb));
        true
    });
    svc.add_extension(spec("x", kind), Rc::new(ext)).unwrap();
    svc.start().unwrap();
    let v = out.borrow().clone().expect("hook ran");
    (svc, v)
}

// ---- ordering ---------------------------------------------------------------------------

#[test]
fn config_init_comes_before_general_init_for_fsps_and_routing_extensions() {
    for kind in [ExtensionKind::Fsp, ExtensionKind::Routing] {
        let mut svc = service();
        let x = svc
            .add_extension(spec("x", kind), Rc::new(HookExtension::new()))
            .unwrap();
        svc.start().unwrap();
        let general = if kind == ExtensionKind::Fsp {
            "dev-initialize-call"
        } else {
            "route-initialize-call"
        };
        assert_eq!(
            kinds(&svc, x),
            vec!["load", "initialize-config-call", general],
            "{kind}"
        );
    }
}

#[test]
fn virtual_fsp_creates_devices_first_then_config_init_then_dev_initialize() {
    let mut svc = service();
    let v = svc
        .add_extension(
            spec("v", ExtensionKind::VirtualFsp),
            Rc::new(CarefulVirtualFsp::new(2, 0x100)),
        )
        .unwrap();
    svc.start().unwrap();
    assert_eq!(
        kinds(&svc, v),
        vec![
            "load",
            "virtual-device-creation-call",
            "initialize-config-call",
            "dev-initialize-call"
        ]
    );
    // The devices exist before config init, which writes to them.
    assert_eq!(svc.stored(0x100, STATUS_GUID), Some(&b"idle"[..]));
    assert_eq!(svc.stored(0x101, STATUS_GUID), Some(&b"idle"[..]));

    let mut svc = Service::new(ServiceOptions {
        virtual_fsp_init: VirtualFspInitOrder::BeforeDeviceCreation,
        ..ServiceOptions::default()
    });
    let v = svc
        .add_extension(
            spec("v", ExtensionKind::VirtualFsp),
            Rc::new(CarefulVirtualFsp::new(1, 0x100)),
        )
        .unwrap();
    svc.start().unwrap();
    assert_eq!(
        kinds(&svc, v)[..4],
        [
            "load",
            "dev-initialize-call",
            "virtual-device-creation-call",
            "initialize-config-call"
        ]
    );
}

#[test]
fn providers_load_before_routing_extensions() {
    let mut svc = service();
    let r = svc
        .add_extension(
            spec("r", ExtensionKind::Routing),
            Rc::new(HookExtension::new()),
        )
        .unwrap();
    let f = svc
        .add_extension(spec("f", ExtensionKind::Fsp), Rc::new(HookExtension::new()))
        .unwrap();
    svc.start().unwrap();
    let loads: Vec<ExtId> = svc
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Load { .. }))
        .filter_map(|e| e.ext)
        .collect();
    assert_eq!(loads, vec![f, r]);
}

#[test]
fn virtual_device_creation_with_zero_devices_fails_the_provider() {
    let mut svc = service();
    let v = svc
        .add_extension(
            spec("v", ExtensionKind::VirtualFsp),
            Rc::new(CarefulVirtualFsp::new(0, 0x100)),
        )
        .unwrap();
    svc.start().unwrap();
    assert_eq!(kinds(&svc, v), vec!["load", "virtual-device-creation-call"]);
}

#[test]
fn failing_config_init_gets_no_general_init_and_gen_failure_afterwards() {
    let shutdowns = Rc::new(Cell::new(0));
    let c = shutdowns.clone();
    let mut svc = service();
    let x = svc
        .add_extension(
            spec("x", ExtensionKind::Fsp),
            Rc::new(
                HookExtension::new()
                    .on_config_init(|_| E_FAIL)
                    .on_shutdown(move |_| {
                        c.set(c.get() + 1);
                        S_OK
                    }),
            ),
        )
        .unwrap();
    svc.start().unwrap();
    assert_eq!(kinds(&svc, x), vec!["load", "initialize-config-call"]);
    // Later calls through the pointers it kept fail with ERROR_GEN_FAILURE.
    assert_eq!(
        svc.callbacks(x, 1).get_data(0, SOURCE_FAX, G1),
        Err(ERROR_GEN_FAILURE)
    );
    svc.stop().unwrap();
    // FaxDevShutdown would release what FaxDevInitialize set up, which never ran (L4).
    assert_eq!(shutdowns.get(), 0);
    assert!(!kinds(&svc, x).contains(&"dev-shutdown-call"));
    assert!(
        svc.finish()
            .iter()
            .all(|f| f.rule != Rule::InitFailureIgnored)
    );
}

#[test]
fn general_init_false_takes_the_extension_out_of_the_run() {
    let heard = Rc::new(Cell::new(0));
    let h = heard.clone();
    let mut svc = service();
    let x = svc
        .add_extension(
            spec("x", ExtensionKind::Routing),
            Rc::new(
                HookExtension::new()
                    .on_general_init(|cb| {
                        // Registered inside the init that then fails: void.
                        let id = cb.new_callback();
                        assert!(cb.register(0, SOURCE_FAX, G1, id).is_ok());
                        false
                    })
                    .on_change(move |_, _| {
                        h.set(h.get() + 1);
                        NOERROR
                    }),
            ),
        )
        .unwrap();
    let f = svc
        .add_extension(
            spec("f", ExtensionKind::Fsp),
            Rc::new(
                HookExtension::new()
                    .on_general_init(|_| false)
                    .on_shutdown(|_| panic!("FaxDevShutdown after FaxDevInitialize FALSE")),
            ),
        )
        .unwrap();
    svc.start().unwrap();
    svc.add_device(5, None).unwrap();
    svc.external_write(0, G1, b"v").unwrap();
    assert_eq!(heard.get(), 0);
    assert!(svc.route_device_enable(x, G1, 5, 0).is_err());
    assert_eq!(
        svc.callbacks(x, 1).set_data(0, SOURCE_FAX, G1, b"w"),
        ERROR_GEN_FAILURE
    );
    svc.stop().unwrap();
    assert!(!kinds(&svc, f).contains(&"dev-shutdown-call"));
    let rules: Vec<Rule> = svc.finish().iter().map(|f| f.rule).collect();
    assert_eq!(rules, vec![Rule::CallAfterInitFailure]);
}

#[test]
fn callbacks_work_from_inside_config_init() {
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let mut svc = service();
    svc.add_extension(
        spec("x", ExtensionKind::Routing),
        Rc::new(HookExtension::new().on_config_init(move |cb| {
            g.set(cb.set_data(0, SOURCE_FAX, G1, b"v"));
            NOERROR
        })),
    )
    .unwrap();
    svc.start().unwrap();
    assert_eq!(got.get(), ERROR_SUCCESS);
}

// ---- every documented error code of every callback ----------------------------------------

#[test]
fn get_data_error_codes() {
    let (_, r) = during_init(ExtensionKind::Routing, |cb| {
        cb.set_data(0, SOURCE_FAX, G1, b"v");
        vec![
            cb.get_data(0, SOURCE_FAX, "not-a-guid").err(),
            cb.get_data_raw(0, SOURCE_FAX, None, false).err(),
            cb.get_data_raw(0, SOURCE_FAX, Some(G1), true).err(),
            cb.get_data(0, 9, G1).err(),
            cb.get_data(0, SOURCE_FAX, G2).err(),
            cb.get_data(0x999, SOURCE_TAPI, G1).err(),
        ]
    });
    assert_eq!(
        r,
        vec![
            Some(ERROR_INVALID_PARAMETER),
            Some(ERROR_INVALID_PARAMETER),
            Some(ERROR_INVALID_PARAMETER),
            Some(ERROR_INVALID_PARAMETER),
            Some(ERROR_FILE_NOT_FOUND),
            Some(ERROR_FILE_NOT_FOUND),
        ]
    );

    // ERROR_BADDB: a corrupt stored value.
    let mut svc = service();
    let x = svc
        .add_extension(
            spec("x", ExtensionKind::Routing),
            Rc::new(HookExtension::new()),
        )
        .unwrap();
    svc.external_write(0, G1, b"v").unwrap();
    svc.corrupt_value(0, G1).unwrap();
    svc.start().unwrap();
    assert_eq!(
        svc.callbacks(x, 1).get_data(0, SOURCE_FAX, G1),
        Err(ERROR_BADDB)
    );
    // ERROR_NOT_ENOUGH_MEMORY and ERROR_GEN_FAILURE: only a failing service gives them.
    svc.add_fault(Fault::new(
        Callback::GetData,
        ERROR_NOT_ENOUGH_MEMORY,
        Trigger::NthCall(2),
    ))
    .unwrap();
    svc.add_fault(Fault::new(
        Callback::GetData,
        ERROR_GEN_FAILURE,
        Trigger::NthCall(3),
    ))
    .unwrap();
    svc.external_write(0, G2, b"w").unwrap();
    let mut cb = svc.callbacks(x, 1);
    let first = cb.get_data(0, SOURCE_FAX, G2).unwrap();
    cb.free_buffer(FreeArg::Buffer(first));
    assert_eq!(cb.get_data(0, SOURCE_FAX, G2), Err(ERROR_NOT_ENOUGH_MEMORY));
    assert_eq!(cb.get_data(0, SOURCE_FAX, G2), Err(ERROR_GEN_FAILURE));
    // ERROR_SHUTDOWN_IN_PROGRESS: while stopping.
    svc.begin_shutdown().unwrap();
    assert_eq!(
        svc.callbacks(x, 1).get_data(0, SOURCE_FAX, G2),
        Err(ERROR_SHUTDOWN_IN_PROGRESS)
    );
}

#[test]
fn set_data_error_codes() {
    let mut svc = Service::new(ServiceOptions {
        in_process_value_cap: Some(4),
        ..ServiceOptions::default()
    });
    let x = svc
        .add_extension(
            spec("x", ExtensionKind::Routing),
            Rc::new(HookExtension::new()),
        )
        .unwrap();
    svc.start().unwrap();
    let own = svc.hinst(x);
    let mut cb = svc.callbacks(x, 1);
    assert_eq!(
        cb.set_data(0, SOURCE_FAX, "{bad}", b"v"),
        ERROR_INVALID_PARAMETER
    );
    assert_eq!(
        cb.set_data_raw(own, 0, SOURCE_FAX, Some(G1), None, 4),
        ERROR_INVALID_PARAMETER
    );
    assert_eq!(cb.set_data(0, SOURCE_FAX, G1, b""), ERROR_INVALID_PARAMETER);
    assert_eq!(cb.set_data(5, 3, G1, b"v"), ERROR_INVALID_PARAMETER);
    assert_eq!(
        cb.set_data(0x55, SOURCE_TAPI, G1, b"v"),
        ERROR_FILE_NOT_FOUND
    );
    assert_eq!(
        cb.set_data(0, SOURCE_FAX, G1, b"12345"),
        ERROR_NOT_ENOUGH_MEMORY
    );
    // Any logical id is accepted: data may be stored for devices that do not exist yet.
    assert_eq!(cb.set_data(0x77, SOURCE_FAX, G1, b"1234"), ERROR_SUCCESS);
    svc.add_fault(Fault::new(Callback::SetData, ERROR_GEN_FAILURE, Trigger::Always).times(1))
        .unwrap();
    assert_eq!(
        svc.callbacks(x, 1).set_data(0, SOURCE_FAX, G1, b"1"),
        ERROR_GEN_FAILURE
    );
    assert_eq!(
        svc.callbacks(x, 1).set_data(0, SOURCE_FAX, G1, b"1"),
        ERROR_SUCCESS
    );
    svc.begin_shutdown().unwrap();
    assert_eq!(
        svc.callbacks(x, 1).set_data(0, SOURCE_FAX, G1, b"1"),
        ERROR_SHUTDOWN_IN_PROGRESS
    );
}

#[test]
fn register_error_codes() {
    let busy = Rc::new(Cell::new(0));
    let b = busy.clone();
    let mut svc = service();
    let x = svc
        .add_extension(
            spec("x", ExtensionKind::Routing),
            Rc::new(HookExtension::new().on_change(move |cb, _| {
                let c = cb.new_callback();
                b.set(cb.register(0, SOURCE_FAX, G2, c).unwrap_err());
                assert_eq!(cb.last_error(), b.get());
                NOERROR
            })),
        )
        .unwrap();
    svc.start().unwrap();
    let own = svc.hinst(x);
    let mut cb = svc.callbacks(x, 1);
    let c = cb.new_callback();
    assert_eq!(
        cb.register_raw(own, 0, SOURCE_FAX, None, Some(c)),
        Err(ERROR_INVALID_PARAMETER)
    );
    assert_eq!(
        cb.register_raw(own, 0, SOURCE_FAX, Some(G1), None),
        Err(ERROR_INVALID_PARAMETER)
    );
    assert_eq!(cb.register(0, 2, G1, c), Err(ERROR_INVALID_PARAMETER));
    assert_eq!(
        cb.register(0, SOURCE_FAX, "{x}", c),
        Err(ERROR_INVALID_PARAMETER)
    );
    assert_eq!(
        cb.register(0x42, SOURCE_TAPI, G1, c),
        Err(ERROR_FILE_NOT_FOUND)
    );
    assert!(cb.register(0, SOURCE_FAX, G2, c).is_ok());
    // Same key by value (another spelling) is the same registration.
    assert_eq!(
        cb.register(0, SOURCE_FAX, G2_UPPER, c),
        Err(ERROR_ALREADY_ASSIGNED)
    );
    assert_eq!(cb.last_error(), ERROR_ALREADY_ASSIGNED);
    // ERROR_BUSY: from inside a notification.
    svc.external_write(0, G2, b"v").unwrap();
    assert_eq!(busy.get(), ERROR_BUSY);
    svc.add_fault(Fault::new(
        Callback::RegisterForEvents,
        ERROR_NOT_ENOUGH_MEMORY,
        Trigger::NthCall(1),
    ))
    .unwrap();
    svc.add_fault(Fault::new(
        Callback::RegisterForEvents,
        ERROR_GEN_FAILURE,
        Trigger::NthCall(2),
    ))
    .unwrap();
    let mut cb = svc.callbacks(x, 1);
    assert_eq!(
        cb.register(5, SOURCE_FAX, G1, c),
        Err(ERROR_NOT_ENOUGH_MEMORY)
    );
    assert_eq!(cb.register(5, SOURCE_FAX, G1, c), Err(ERROR_GEN_FAILURE));
    svc.begin_shutdown().unwrap();
    assert_eq!(
        svc.callbacks(x, 1).register(6, SOURCE_FAX, G1, c),
        Err(ERROR_SHUTDOWN_IN_PROGRESS)
    );
}

#[test]
fn unregister_error_codes() {
    let busy = Rc::new(Cell::new(0));
    let held: Rc<Cell<Option<HandleId>>> = Rc::new(Cell::new(None));
    let (b, h2) = (busy.clone(), held.clone());
    let mut svc = service();
    let x = svc
        .add_extension(
            spec("x", ExtensionKind::Routing),
            Rc::new(HookExtension::new().on_change(move |cb, _| {
                b.set(cb.unregister(h2.get().unwrap()));
                NOERROR
            })),
        )
        .unwrap();
    svc.start().unwrap();
    let mut cb = svc.callbacks(x, 1);
    let c = cb.new_callback();
    let h = cb.register(0, SOURCE_FAX, G1, c).unwrap();
    held.set(Some(h));
    assert_eq!(
        cb.unregister_raw(UnregisterArg::Null),
        ERROR_INVALID_PARAMETER
    );
    assert_eq!(
        cb.unregister_raw(UnregisterArg::InvalidValue),
        ERROR_INVALID_PARAMETER
    );
    assert_eq!(
        cb.unregister_raw(UnregisterArg::Foreign(0xdead)),
        ERROR_NOT_FOUND
    );
    svc.external_write(0, G1, b"v").unwrap();
    assert_eq!(busy.get(), ERROR_BUSY);
    svc.add_fault(Fault::new(
        Callback::UnregisterForEvents,
        ERROR_NOT_ENOUGH_MEMORY,
        Trigger::NthCall(1),
    ))
    .unwrap();
    svc.add_fault(Fault::new(
        Callback::UnregisterForEvents,
        ERROR_GEN_FAILURE,
        Trigger::NthCall(2),
    ))
    .unwrap();
    let mut cb = svc.callbacks(x, 1);
    assert_eq!(cb.unregister(h), ERROR_NOT_ENOUGH_MEMORY);
    assert_eq!(cb.unregister(h), ERROR_GEN_FAILURE);
    assert_eq!(cb.unregister(h), ERROR_SUCCESS);
    assert_eq!(cb.unregister(h), ERROR_NOT_FOUND);
    svc.begin_shutdown().unwrap();
    assert_eq!(
        svc.callbacks(x, 1).unregister(h),
        ERROR_SHUTDOWN_IN_PROGRESS
    );
}

#[test]
fn faults_only_take_documented_codes() {
    let mut svc = service();
    assert!(matches!(
        svc.add_fault(Fault::new(Callback::GetData, ERROR_BUSY, Trigger::Always)),
        Err(SimError::UndocumentedFaultCode { .. })
    ));
    assert!(
        svc.add_fault(Fault::new(
            Callback::FreeBuffer,
            ERROR_GEN_FAILURE,
            Trigger::Always
        ))
        .is_err()
    );
}

#[test]
fn probabilistic_faults_follow_the_seed() {
    let run = |seed| {
        let mut svc = Service::new(ServiceOptions {
            seed,
            ..ServiceOptions::default()
        });
        let x = svc
            .add_extension(
                spec("x", ExtensionKind::Routing),
                Rc::new(HookExtension::new()),
            )
            .unwrap();
        svc.add_fault(Fault::new(
            Callback::SetData,
            ERROR_GEN_FAILURE,
            Trigger::PerMillion(500_000),
        ))
        .unwrap();
        svc.start().unwrap();
        (0..64)
            .map(|_| svc.callbacks(x, 1).set_data(0, SOURCE_FAX, G1, b"v") == ERROR_SUCCESS)
            .collect::<Vec<bool>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    let ok = run(1).iter().filter(|b| **b).count();
    assert!((16..48).contains(&ok), "{ok} of 64 succeeded");
}

#[test]
fn shutdown_at_a_chosen_event() {
    let codes = Rc::new(RefCell::new(Vec::new()));
    let c = codes.clone();
    let mut svc = service();
    svc.add_extension(
        spec("x", ExtensionKind::Routing),
        Rc::new(HookExtension::new().on_general_init(move |cb| {
            for _ in 0..4 {
                c.borrow_mut().push(cb.set_data(0, SOURCE_FAX, G1, b"v"));
            }
            true
        })),
    )
    .unwrap();
    // ServiceStart, Load, InitConfig call/return, RouteInit call, then Set call/return x2.
    svc.shutdown_at_event(9);
    svc.start().unwrap();
    assert_eq!(
        *codes.borrow(),
        vec![
            ERROR_SUCCESS,
            ERROR_SUCCESS,
            ERROR_SHUTDOWN_IN_PROGRESS,
            ERROR_SHUTDOWN_IN_PROGRESS
        ]
    );
    assert!(!svc.is_running());
    svc.stop().unwrap();
}

// ---- notification ------------------------------------------------------------------------

/// A routing extension that records what it is told.
/// What a recording extension was told: (device, GUID string, data) per ConfigChange.
type ChangeLog = Rc<RefCell<Vec<(u32, String, Vec<u8>)>>>;

fn recorder(log: &ChangeLog) -> HookExtension {
    let l = log.clone();
    HookExtension::new().on_change(move |_, ch| {
        l.borrow_mut()
            .push((ch.device, ch.guid.to_string(), ch.data.to_vec()));
        NOERROR
    })
}

#[test]
fn self_exclusion_by_hinst_and_external_writers_notify_everyone() {
    let (la, lb) = (Rc::default(), Rc::default());
    let mut svc = service();
    let a = svc
        .add_extension(spec("a", ExtensionKind::Routing), Rc::new(recorder(&la)))
        .unwrap();
    let b = svc
        .add_extension(spec("b", ExtensionKind::Routing), Rc::new(recorder(&lb)))
        .unwrap();
    svc.start().unwrap();
    for x in [a, b] {
        let mut cb = svc.callbacks(x, 1);
        let c = cb.new_callback();
        cb.register(0, SOURCE_FAX, G1, c).unwrap();
    }
    svc.callbacks(a, 1).set_data(0, SOURCE_FAX, G1, b"from-a");
    assert!(
        la.borrow().is_empty(),
        "the writer is not told of its own write"
    );
    assert_eq!(lb.borrow().len(), 1);
    svc.external_write(0, G1, b"admin").unwrap();
    assert_eq!(la.borrow().len(), 1);
    assert_eq!(lb.borrow().len(), 2);
    // A NULL hInst defeats self-exclusion: the writer hears its own write.
    let mut cb = svc.callbacks(a, 1);
    cb.set_data_raw(HInst::NULL, 0, SOURCE_FAX, Some(G1), Some(b"null"), 4);
    assert_eq!(la.borrow().len(), 2);
    assert_eq!(
        svc.finish()
            .iter()
            .filter(|f| f.rule == Rule::ForeignHinst)
            .count(),
        1
    );
}

#[test]
fn tapi_writer_notifies_fax_registrant_with_its_own_id_and_guid_spelling() {
    let (lr, lf) = (Rc::default(), Rc::default());
    let mut svc = service();
    svc.add_device(3, Some(0x30)).unwrap();
    let r = svc
        .add_extension(spec("r", ExtensionKind::Routing), Rc::new(recorder(&lr)))
        .unwrap();
    let f = svc
        .add_extension(spec("f", ExtensionKind::Fsp), Rc::new(recorder(&lf)))
        .unwrap();
    svc.start().unwrap();
    let mut cb = svc.callbacks(r, 1);
    let c = cb.new_callback();
    cb.register(3, SOURCE_FAX, G2_UPPER, c).unwrap();
    let mut cb = svc.callbacks(f, 1);
    let c = cb.new_callback();
    cb.register(0x30, SOURCE_TAPI, G2, c).unwrap();
    svc.callbacks(f, 1).set_data(0x30, SOURCE_TAPI, G2, b"t");
    assert_eq!(*lr.borrow(), vec![(3, G2_UPPER.to_string(), b"t".to_vec())]);
    svc.external_write(3, G2, b"x").unwrap();
    assert_eq!(
        lf.borrow().last().unwrap().0,
        0x30,
        "TAPI registrant gets its TAPI id"
    );
    // Both ids name the same stored value.
    assert_eq!(svc.stored(3, G2_UPPER), Some(&b"x"[..]));
}

#[test]
fn global_data_is_device_zero() {
    let log = Rc::default();
    let mut svc = service();
    svc.add_device(3, Some(0x30)).unwrap();
    let x = svc
        .add_extension(spec("x", ExtensionKind::Fsp), Rc::new(recorder(&log)))
        .unwrap();
    svc.start().unwrap();
    let mut cb = svc.callbacks(x, 1);
    let c = cb.new_callback();
    cb.register(0, SOURCE_TAPI, G1, c).unwrap();
    svc.external_write(0, G1, b"g").unwrap();
    svc.external_write(3, G1, b"d").unwrap();
    assert_eq!(*log.borrow(), vec![(0, G1.to_string(), b"g".to_vec())]);
    let mut cb = svc.callbacks(x, 1);
    let buf = cb.get_data(0, SOURCE_TAPI, G1).unwrap();
    assert_eq!(cb.buffer(buf), Some(&b"g"[..]));
    cb.free_buffer(FreeArg::Buffer(buf));
}

#[test]
fn registration_for_a_device_that_does_not_exist_yet_fires_once_data_is_written() {
    let log = Rc::default();
    let mut svc = service();
    let x = svc
        .add_extension(spec("x", ExtensionKind::Routing), Rc::new(recorder(&log)))
        .unwrap();
    svc.start().unwrap();
    let mut cb = svc.callbacks(x, 1);
    let c = cb.new_callback();
    cb.register(0x5000, SOURCE_FAX, G1, c).unwrap();
    svc.external_write(0x5000, G1, b"later").unwrap();
    assert_eq!(log.borrow().len(), 1);
}

/// Two extensions that mirror each other's writes forever.
fn mirror(peer_guid: &'static str, own_guid: &'static str) -> HookExtension {
    HookExtension::new()
        .on_general_init(move |cb| {
            let c = cb.new_callback();
            cb.register(0, SOURCE_FAX, peer_guid, c).is_ok()
        })
        .on_change(move |cb, ch| {
            let data = ch.data.to_vec();
            cb.set_data(0, SOURCE_FAX, own_guid, &data);
            NOERROR
        })
}

#[test]
fn nested_delivery_is_cut_at_the_depth_limit() {
    let mut svc = Service::new(ServiceOptions {
        limits: Limits {
            nesting: 5,
            ..Limits::default()
        },
        ..ServiceOptions::default()
    });
    svc.add_extension(spec("a", ExtensionKind::Routing), Rc::new(mirror(G2, G1)))
        .unwrap();
    svc.add_extension(spec("b", ExtensionKind::Routing), Rc::new(mirror(G1, G2)))
        .unwrap();
    svc.start().unwrap();
    svc.external_write(0, G1, b"ping").unwrap();
    let deliveries = svc
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ConfigChangeCall { .. }))
        .count();
    assert_eq!(deliveries, 5);
    let cuts: Vec<&Event> = svc
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::DeliveryCut { .. }))
        .collect();
    assert_eq!(cuts.len(), 1);
    let storms: Vec<Finding> = svc
        .finish()
        .into_iter()
        .filter(|f| f.rule == Rule::NotificationStorm)
        .collect();
    assert_eq!(storms.len(), 1, "{storms:?}");
}

#[test]
fn deferred_delivery_arrives_at_a_later_scheduling_point_and_not_after_unregister() {
    let log = Rc::default();
    let mut svc = Service::new(ServiceOptions {
        delivery: DeliveryPolicy::Deferred,
        max_defer_steps: 0,
        ..ServiceOptions::default()
    });
    let x = svc
        .add_extension(spec("x", ExtensionKind::Routing), Rc::new(recorder(&log)))
        .unwrap();
    svc.start().unwrap();
    let mut cb = svc.callbacks(x, 1);
    let c = cb.new_callback();
    let h = cb.register(0, SOURCE_FAX, G1, c).unwrap();
    let ext_writer = svc.add_extension(
        spec("late", ExtensionKind::Routing),
        Rc::new(HookExtension::new()),
    );
    assert!(ext_writer.is_err(), "extensions are added while stopped");
    svc.external_write(0, G1, b"1").unwrap();
    assert_eq!(
        log.borrow().len(),
        1,
        "delivered at the write's scheduling point"
    );
    // Written and unregistered before the next scheduling point: never delivered.
    let mut cb = svc.callbacks(x, 1);
    cb.set_data_raw(HInst(0x77), 0, SOURCE_FAX, Some(G1), Some(b"2"), 1);
    assert_eq!(cb.unregister(h), ERROR_SUCCESS);
    svc.settle().unwrap();
    assert_eq!(log.borrow().len(), 1);
}

#[test]
fn restart_keeps_data_and_forgets_registrations() {
    let log = Rc::default();
    let mut svc = service();
    let x = svc
        .add_extension(spec("x", ExtensionKind::Routing), Rc::new(recorder(&log)))
        .unwrap();
    svc.start().unwrap();
    let mut cb = svc.callbacks(x, 1);
    let c = cb.new_callback();
    let h = cb.register(0, SOURCE_FAX, G1, c).unwrap();
    svc.external_write(0, G1, b"kept").unwrap();
    svc.restart().unwrap();
    svc.external_write(0, G2, b"other").unwrap();
    svc.external_write(0, G1, b"again").unwrap();
    assert_eq!(log.borrow().len(), 1, "the old registration is gone");
    assert_eq!(svc.callbacks(x, 1).unregister(h), ERROR_NOT_FOUND);
    assert_eq!(svc.stored(0, G1), Some(&b"again"[..]));
    svc.stop().unwrap();
    assert_eq!(svc.stored(0, G1), Some(&b"again"[..]));
}

#[test]
fn fsp_unregistering_in_shutdown_is_released_without_registration_leak() {
    let mut svc = service();
    svc.add_device(1, Some(0x11)).unwrap();
    svc.add_extension(
        spec("f", ExtensionKind::Fsp),
        Rc::new(CarefulTapiFsp::new(vec![0x11])),
    )
    .unwrap();
    svc.start().unwrap();
    svc.stop().unwrap();
    let findings = svc.finish();
    assert!(findings.is_empty(), "{findings:#?}");
}

// ---- the example extensions ---------------------------------------------------------------

fn example_workload(opts: ServiceOptions) -> Service {
    let mut svc = Service::new(opts);
    svc.add_device(1, Some(0x11)).unwrap();
    svc.add_device(2, Some(0x12)).unwrap();
    svc.add_extension(
        spec("careful-fsp", ExtensionKind::Fsp),
        Rc::new(CarefulTapiFsp::new(vec![0x11, 0x12])),
    )
    .unwrap();
    svc.add_extension(
        spec("careful-vfsp", ExtensionKind::VirtualFsp),
        Rc::new(CarefulVirtualFsp::new(2, 0x100)),
    )
    .unwrap();
    svc.add_extension(
        spec("careful-routing", ExtensionKind::Routing),
        Rc::new(CarefulRouting::default()),
    )
    .unwrap();
    svc.add_extension(
        spec("careful-routing-2", ExtensionKind::Routing),
        Rc::new(CarefulRouting::default()),
    )
    .unwrap();
    svc.start().unwrap();
    for d in [1, 2, 0x100, 0x101] {
        svc.remove_device(d).ok();
    }
    svc.add_device(3, Some(0x13)).unwrap();
    for (i, d) in [0u32, 3, 0x100, 0x101, 1].into_iter().enumerate() {
        svc.external_write(d, FLAGS_GUID, &(i as u32).to_le_bytes())
            .unwrap();
    }
    svc.restart().unwrap();
    svc.external_write(0, FLAGS_GUID, b"\x01\0\0\0").unwrap();
    svc.settle().unwrap();
    svc.stop().unwrap();
    svc
}

#[test]
fn careful_examples_give_no_finding_under_every_policy() {
    for delivery in [
        DeliveryPolicy::Sync,
        DeliveryPolicy::Shuffled,
        DeliveryPolicy::Deferred,
    ] {
        for seed in 0..20 {
            let mut svc = example_workload(ServiceOptions {
                seed,
                delivery,
                ..ServiceOptions::default()
            });
            let findings = svc.finish();
            assert!(
                findings.is_empty(),
                "{delivery:?} seed {seed}: {findings:#?}"
            );
        }
    }
}

#[test]
fn buggy_example_gives_its_findings() {
    let mut svc = service();
    svc.add_device(4, Some(0x44)).unwrap();
    svc.add_extension(
        spec("buggy", ExtensionKind::Routing),
        Rc::new(BuggyRouting::default()),
    )
    .unwrap();
    svc.start().unwrap();
    svc.remove_device(4).unwrap();
    svc.add_device(4, Some(0x44)).unwrap();
    svc.external_write(0, FLAGS_GUID, b"\x01\0\0\0").unwrap();
    svc.stop().unwrap();
    let mut rules: Vec<Rule> = svc.finish().iter().map(|f| f.rule).collect();
    rules.sort();
    rules.dedup();
    assert_eq!(
        rules,
        vec![
            Rule::BufferLeak,
            Rule::ForeignFree,
            Rule::WrongIdSource,
            Rule::BusyReentry,
            Rule::DuplicateRegistration,
        ]
    );
}

// ---- determinism --------------------------------------------------------------------------

/// Several extensions registered for one key, external and in-service writes, echoes.
fn multi_extension_run(seed: u64, delivery: DeliveryPolicy) -> Vec<u8> {
    let mut svc = Service::new(ServiceOptions {
        seed,
        delivery,
        ..ServiceOptions::default()
    });
    let names = ["a", "b", "c", "d", "e"];
    for name in names {
        let ext = HookExtension::new()
            .on_general_init(|cb| {
                let c = cb.new_callback();
                cb.register(0, SOURCE_FAX, G1, c).is_ok()
                    && cb.register(0, SOURCE_FAX, G2, c).is_ok()
            })
            .on_change(|cb, ch| {
                if ch.guid == G1 && ch.data.len() < 3 {
                    let mut v = ch.data.to_vec();
                    v.push(b'+');
                    cb.set_data(0, SOURCE_FAX, G2, &v);
                }
                NOERROR
            });
        svc.add_extension(spec(name, ExtensionKind::Routing), Rc::new(ext))
            .unwrap();
    }
    svc.start().unwrap();
    for i in 0..4u8 {
        svc.external_write(0, G1, &[i]).unwrap();
    }
    svc.settle().unwrap();
    svc.stop().unwrap();
    serde_json::to_vec(svc.events()).unwrap()
}

#[test]
fn one_seed_gives_a_byte_identical_event_stream_and_seeds_differ() {
    for delivery in [DeliveryPolicy::Shuffled, DeliveryPolicy::Deferred] {
        let mut distinct = std::collections::HashSet::new();
        for seed in 0..1000 {
            let a = multi_extension_run(seed, delivery);
            let b = multi_extension_run(seed, delivery);
            assert!(a == b, "{delivery:?}: seed {seed} is not reproducible");
            distinct.insert(a);
        }
        assert!(
            distinct.len() > 990,
            "{delivery:?}: only {} distinct orders in 1000 seeds",
            distinct.len()
        );
    }
    // Sync ignores the seed.
    assert_eq!(
        multi_extension_run(1, DeliveryPolicy::Sync),
        multi_extension_run(2, DeliveryPolicy::Sync)
    );
}

#[test]
fn step_and_event_limits_have_their_own_errors_and_keep_the_events() {
    let mut svc = Service::new(ServiceOptions {
        limits: Limits {
            events: 5,
            ..Limits::default()
        },
        ..ServiceOptions::default()
    });
    svc.add_extension(
        spec("x", ExtensionKind::Routing),
        Rc::new(HookExtension::new()),
    )
    .unwrap();
    let err = svc.start().unwrap_err();
    assert_eq!(
        err,
        SimError::LimitExceeded {
            kind: LimitKind::Events,
            limit: 5
        }
    );
    assert_eq!(svc.events().len(), 5);

    let mut svc = Service::new(ServiceOptions {
        delivery: DeliveryPolicy::Deferred,
        limits: Limits {
            steps: 50,
            nesting: 100_000,
            ..Limits::default()
        },
        ..ServiceOptions::default()
    });
    // With the nesting limit out of the way, only the step limit ends deferred echoes.
    svc.add_extension(spec("a", ExtensionKind::Routing), Rc::new(mirror(G2, G1)))
        .unwrap();
    svc.add_extension(spec("b", ExtensionKind::Routing), Rc::new(mirror(G1, G2)))
        .unwrap();
    svc.start().unwrap();
    svc.external_write(0, G1, b"ping").unwrap();
    let err = svc.settle().unwrap_err();
    assert!(matches!(
        err,
        SimError::LimitExceeded {
            kind: LimitKind::Steps,
            ..
        }
    ));
}

// ---- service deviations provoke the service-side rules --------------------------------------

/// Runs two routing extensions (a writer and a listener, each registered for G1 on
/// device 0) under `deviations`, with a write by each and an unregister, and returns the
/// service-side rules that fired.
fn deviation_rules(deviations: Deviations, config_fails: bool) -> Vec<Rule> {
    let mut svc = Service::new(ServiceOptions {
        deviations,
        ..ServiceOptions::default()
    });
    let register = |cb: &mut Callbacks<'_>| {
        let c = cb.new_callback();
        cb.register(0, SOURCE_FAX, G1, c).is_ok()
    };
    let a = svc
        .add_extension(
            spec("a", ExtensionKind::Routing),
            Rc::new(HookExtension::new().on_general_init(register)),
        )
        .unwrap();
    let b = svc
        .add_extension(
            spec("b", ExtensionKind::Routing),
            Rc::new(
                HookExtension::new()
                    .on_config_init(move |_| if config_fails { E_FAIL } else { NOERROR })
                    .on_general_init(register),
            ),
        )
        .unwrap();
    svc.start().unwrap();
    svc.callbacks(a, 1).set_data(0, SOURCE_FAX, G1, b"a");
    svc.callbacks(b, 1).set_data(0, SOURCE_FAX, G1, b"b");
    svc.external_write(0, G1, b"x").unwrap();
    svc.callbacks(a, 1).unregister(HandleId(1));
    svc.tick().unwrap();
    svc.stop().unwrap();
    let mut rules: Vec<Rule> = svc
        .finish()
        .into_iter()
        .map(|f| f.rule)
        .filter(|r| r.side() == Side::Service)
        .collect();
    rules.sort();
    rules.dedup();
    rules
}

#[test]
fn each_deviation_provokes_its_service_side_rule_and_none_without() {
    assert_eq!(deviation_rules(Deviations::default(), false), vec![]);
    assert_eq!(deviation_rules(Deviations::default(), true), vec![]);
    let cases: [(Deviations, bool, Rule); 6] = [
        (
            Deviations {
                general_init_first: true,
                ..Deviations::default()
            },
            false,
            Rule::InitOrder,
        ),
        (
            Deviations {
                init_after_config_failure: true,
                ..Deviations::default()
            },
            true,
            Rule::InitFailureIgnored,
        ),
        (
            Deviations {
                notify_writer: true,
                ..Deviations::default()
            },
            false,
            Rule::NotifySelf,
        ),
        (
            Deviations {
                notify_after_unregister: true,
                ..Deviations::default()
            },
            false,
            Rule::NotifyAfterUnregister,
        ),
        (
            Deviations {
                notify_after_shutdown: true,
                ..Deviations::default()
            },
            false,
            Rule::NotifyAfterShutdown,
        ),
        (
            Deviations {
                skip_registrant: true,
                ..Deviations::default()
            },
            false,
            Rule::MissedNotification,
        ),
    ];
    for (deviations, config_fails, rule) in cases {
        assert_eq!(
            deviation_rules(deviations, config_fails),
            vec![rule],
            "{deviations:?}"
        );
    }
}

#[test]
fn logical_ids_to_tapi_registrants_is_a_notify_mismatch() {
    for deviate in [false, true] {
        let mut svc = Service::new(ServiceOptions {
            deviations: Deviations {
                logical_ids_to_tapi_registrants: deviate,
                ..Deviations::default()
            },
            ..ServiceOptions::default()
        });
        svc.add_device(3, Some(0x30)).unwrap();
        svc.add_extension(
            spec("f", ExtensionKind::Fsp),
            Rc::new(CarefulTapiFsp::new(vec![0x30])),
        )
        .unwrap();
        svc.start().unwrap();
        svc.external_write(3, FLAGS_GUID, b"1").unwrap();
        svc.stop().unwrap();
        let rules: Vec<Rule> = svc.finish().iter().map(|f| f.rule).collect();
        let expected = if deviate {
            vec![Rule::NotifyMismatch]
        } else {
            vec![]
        };
        assert_eq!(rules, expected);
    }
}

#[test]
fn shutdown_that_begins_inside_a_handler_stops_the_rest_of_the_delivery() {
    let log = Rc::default();
    let mut svc = service();
    // The first registrant makes a callback from its handler; shutdown is planned to
    // begin at that callback.
    let stopper = svc
        .add_extension(
            spec("stopper", ExtensionKind::Routing),
            Rc::new(HookExtension::new().on_change(|cb, _| {
                assert_eq!(
                    cb.get_data(0, SOURCE_FAX, G1).err(),
                    Some(ERROR_SHUTDOWN_IN_PROGRESS)
                );
                NOERROR
            })),
        )
        .unwrap();
    let later = svc
        .add_extension(
            spec("later", ExtensionKind::Routing),
            Rc::new(recorder(&log)),
        )
        .unwrap();
    svc.start().unwrap();
    for x in [stopper, later] {
        let mut cb = svc.callbacks(x, 1);
        let c = cb.new_callback();
        cb.register(0, SOURCE_FAX, G1, c).unwrap();
    }
    svc.shutdown_at_event(svc.event_count());
    svc.external_write(0, G1, b"x").unwrap();
    assert!(log.borrow().is_empty(), "no delivery after shutdown began");
    svc.stop().unwrap();
    let rules: Vec<Rule> = svc.finish().iter().map(|f| f.rule).collect();
    assert!(rules.is_empty(), "{rules:?}");
}

#[test]
fn a_leaked_buffer_freed_after_restart_is_a_finding_not_a_crash() {
    let mut svc = service();
    let x = svc
        .add_extension(
            spec("x", ExtensionKind::Routing),
            Rc::new(HookExtension::new()),
        )
        .unwrap();
    svc.external_write(0, G1, b"v").unwrap();
    svc.start().unwrap();
    let buf = svc.callbacks(x, 1).get_data(0, SOURCE_FAX, G1).unwrap();
    svc.restart().unwrap();
    svc.callbacks(x, 1).free_buffer(FreeArg::Buffer(buf));
    svc.stop().unwrap();
    let rules: Vec<Rule> = svc.finish().iter().map(|f| f.rule).collect();
    assert!(rules.contains(&Rule::BufferLeak), "{rules:?}");
}

#[test]
fn last_error_is_per_thread() {
    let mut svc = service();
    let x = svc
        .add_extension(
            spec("x", ExtensionKind::Routing),
            Rc::new(HookExtension::new()),
        )
        .unwrap();
    svc.start().unwrap();
    let mut cb = svc.callbacks(x, 1);
    let c = cb.new_callback();
    assert_eq!(
        cb.register(0, SOURCE_FAX, "{bad}", c),
        Err(ERROR_INVALID_PARAMETER)
    );
    assert_eq!(cb.last_error(), ERROR_INVALID_PARAMETER);
    assert_eq!(svc.callbacks(x, 2).last_error(), ERROR_SUCCESS);
}

// ---- recording ----------------------------------------------------------------------------

/// A run streamed through a trace sink reads back as exactly the live events, with the
/// header the service built.
#[test]
fn a_recorded_run_reads_back_as_the_live_events() {
    use faxsim_sim::trace::{ExtensionInfo, FlushPolicy, SharedBytes, TraceSink, read_trace};
    let mut svc = service();
    let mut infos = Vec::new();
    for (name, imp) in [
        (
            "careful",
            Rc::new(CarefulRouting::default()) as Rc<dyn Extension>,
        ),
        (
            "buggy",
            Rc::new(BuggyRouting::default()) as Rc<dyn Extension>,
        ),
    ] {
        svc.add_extension(spec(name, ExtensionKind::Routing), imp)
            .unwrap();
        infos.push(ExtensionInfo::new(name, ExtensionKind::Routing, None));
    }
    let header = svc.trace_header(infos);
    let bytes = SharedBytes::default();
    svc.add_sink(Box::new(
        TraceSink::binary(bytes.clone(), &header, FlushPolicy::Batched).unwrap(),
    ));
    svc.start().unwrap();
    svc.external_write(0, FLAGS_GUID, &[1, 0, 0, 0]).unwrap();
    svc.stop().unwrap();
    svc.finish_sinks().unwrap();
    let trace = read_trace(&bytes.take()[..]).unwrap();
    assert_eq!(trace.header, header);
    assert_eq!(trace.events, svc.events());
    assert!(!trace.events.is_empty());
}

/// The seeded decisions are pinned: these runs must keep their exact event streams
/// across refactorings of the service (the choices seam, say), or every recorded seed
/// would replay differently. FNV-1a of the JSON events.
#[test]
fn seeded_runs_are_pinned() {
    fn fnv(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    let got: Vec<u64> = [
        (3, DeliveryPolicy::Shuffled),
        (4, DeliveryPolicy::Shuffled),
        (3, DeliveryPolicy::Deferred),
        (4, DeliveryPolicy::Deferred),
    ]
    .into_iter()
    .map(|(seed, d)| fnv(&multi_extension_run(seed, d)))
    .collect();
    assert_eq!(got, PINNED_RUNS.to_vec(), "{got:#x?}");
}

const PINNED_RUNS: [u64; 4] = [
    0x32c7_1a36_92f1_c3cb,
    0x47d1_2bff_741f_8d83,
    0x84aa_5ad0_1158_4fbd,
    0x768d_7d90_ad07_9ad3,
];

/// `multi_extension_run` with a choices seam of the caller's.
fn run_with_choices(seed: u64, delivery: DeliveryPolicy, choices: Box<dyn Choices>) -> Vec<Event> {
    let mut svc = Service::new(ServiceOptions {
        seed,
        delivery,
        ..ServiceOptions::default()
    });
    svc.set_choices(choices);
    for name in ["a", "b", "c"] {
        let ext = HookExtension::new().on_general_init(|cb| {
            let c = cb.new_callback();
            cb.register(0, SOURCE_FAX, G1, c).is_ok()
        });
        svc.add_extension(spec(name, ExtensionKind::Routing), Rc::new(ext))
            .unwrap();
    }
    svc.start().unwrap();
    for i in 0..3u8 {
        svc.external_write(0, G1, &[i]).unwrap();
    }
    svc.settle().unwrap();
    svc.stop().unwrap();
    svc.take_events()
}

#[test]
fn logged_choices_change_nothing_and_keep_every_decision() {
    for delivery in [
        DeliveryPolicy::Sync,
        DeliveryPolicy::Shuffled,
        DeliveryPolicy::Deferred,
    ] {
        let plain = run_with_choices(5, delivery, Box::new(SeededChoices::new(5)));
        let (logged, log) = LoggedChoices::new(SeededChoices::new(5));
        let again = run_with_choices(5, delivery, Box::new(logged));
        assert_eq!(plain, again, "{delivery:?}");
        let log = log.borrow();
        match delivery {
            // Synchronous delivery in registration order decides nothing.
            DeliveryPolicy::Sync => assert!(log.is_empty(), "{log:?}"),
            DeliveryPolicy::Shuffled => {
                assert_eq!(log.len(), 3, "one order per write: {log:?}");
                for c in log.iter() {
                    let Choice::Order { handles, .. } = c else {
                        panic!("{c:?}")
                    };
                    let mut sorted = handles.clone();
                    sorted.sort();
                    assert_eq!(sorted, vec![HandleId(1), HandleId(2), HandleId(3)]);
                }
            }
            DeliveryPolicy::Deferred => {
                assert_eq!(log.len(), 9, "one wait per notification: {log:?}");
                assert!(
                    log.iter()
                        .all(|c| matches!(c, Choice::Defer { wait, .. } if *wait <= 3))
                );
            }
        }
    }
}

/// A choices seam that orders by handle, descending, and fails the second GetData.
struct Scripted;

impl Choices for Scripted {
    fn order(&mut self, write: &WritePoint<'_>, order: &mut [usize]) {
        order.sort_by_key(|&i| std::cmp::Reverse(write.recipients[i].handle));
    }
    fn defer(&mut self, _: &WritePoint<'_>, _: &registry::Recipient, _: u32) -> u64 {
        0
    }
    fn fires(&mut self, _: &CallPoint, _: u32) -> bool {
        false
    }
    fn inject(&mut self, call: &CallPoint) -> Option<u32> {
        (call.callback == Callback::GetData && call.nth == 2).then_some(ERROR_NOT_ENOUGH_MEMORY)
    }
}

#[test]
fn a_choices_seam_decides_order_and_injected_failures() {
    let events = run_with_choices(0, DeliveryPolicy::Shuffled, Box::new(Scripted));
    let handles: Vec<u32> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ConfigChangeCall { handle, .. } => Some(handle.0),
            _ => None,
        })
        .collect();
    assert_eq!(handles, [3, 2, 1, 3, 2, 1, 3, 2, 1]);

    let (svc, codes) = during_init(ExtensionKind::Routing, |cb| {
        (0..3)
            .map(|_| cb.get_data(0, SOURCE_FAX, G1).err())
            .collect::<Vec<_>>()
    });
    // Without the seam: three "no data" answers.
    assert_eq!(codes, vec![Some(ERROR_FILE_NOT_FOUND); 3]);
    drop(svc);
    let mut svc = service();
    svc.set_choices(Box::new(Scripted));
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let ext = HookExtension::new().on_general_init(move |cb| {
        for _ in 0..3 {
            g.borrow_mut().push(cb.get_data(0, SOURCE_FAX, G1).err());
        }
        true
    });
    svc.add_extension(spec("x", ExtensionKind::Routing), Rc::new(ext))
        .unwrap();
    svc.start().unwrap();
    assert_eq!(
        *got.borrow(),
        vec![
            Some(ERROR_FILE_NOT_FOUND),
            Some(ERROR_NOT_ENOUGH_MEMORY),
            Some(ERROR_FILE_NOT_FOUND)
        ]
    );
    let injected = svc
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::GetDataReturn { injected: true, .. }))
        .count();
    assert_eq!(injected, 1);
}
