//! Property tests: any event sequence round-trips through the binary form, and through
//! binary → JSON Lines → binary, with the same events, header and bytes.

use std::sync::Arc;

use faxsim_trace::jsonl::{JsonlReader, JsonlWriter, jsonl_to_binary};
use faxsim_trace::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn any_str() -> impl Strategy<Value = Arc<str>> {
    prop_oneof![
        // GUID-like strings, drawn from a small pool so the string table is exercised.
        prop::sample::select(vec![
            "{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}",
            "{6f1c2a7e-93b4-4d0e-8a55-2b7c9e4d1f60}",
            "",
            "not a guid",
        ])
        .prop_map(Arc::from),
        any::<String>().prop_map(Arc::from),
    ]
}

fn any_guid() -> impl Strategy<Value = GuidArg> {
    prop::option::of(any_str())
}

fn any_bytes() -> impl Strategy<Value = Arc<[u8]>> {
    vec(any::<u8>(), 0..40).prop_map(Arc::from)
}

fn any_payload() -> impl Strategy<Value = PayloadArg> {
    prop::option::of(any_bytes())
}

fn any_ext_kind() -> impl Strategy<Value = ExtensionKind> {
    prop_oneof![
        Just(ExtensionKind::Fsp),
        Just(ExtensionKind::VirtualFsp),
        Just(ExtensionKind::Routing)
    ]
}

fn any_hinst() -> impl Strategy<Value = HInstArg> {
    prop_oneof![
        Just(HInstArg::Null),
        any::<u16>().prop_map(|x| HInstArg::Ext(ExtId(x))),
        any::<u32>().prop_map(|x| HInstArg::Foreign(ForeignId(x))),
    ]
}

/// Every variant of [`EventKind`], with arbitrary fields. A new variant added to the
/// schema without a line here fails `every_variant_is_generated`.
fn any_kind() -> impl Strategy<Value = EventKind> {
    use EventKind::*;
    let lifecycle = prop_oneof![
        any::<u32>().prop_map(|run| ServiceStart { run }),
        Just(ServiceStopping),
        Just(ServiceStopped),
        (any::<u32>(), any::<Option<u32>>(), any::<Option<u16>>()).prop_map(
            |(device, tapi, owner)| DeviceAdded {
                device,
                tapi,
                owner: owner.map(ExtId)
            }
        ),
        any::<u32>().prop_map(|device| DeviceRemoved { device }),
        (any::<u32>(), any_str()).prop_map(|(device, guid)| ValueCorrupted { device, guid }),
        (any_ext_kind(), any::<(bool, bool, bool)>()).prop_map(|(kind, (a, b, c))| Load {
            kind,
            exports: Exports {
                initialize_config: a,
                dev_shutdown: b,
                route_device_change: c
            }
        }),
        Just(Unload),
        Just(VirtualDeviceCreationCall),
        (any::<bool>(), any::<u32>(), any::<u32>(), any_str()).prop_map(
            |(ok, count, id_prefix, name_prefix)| VirtualDeviceCreationReturn {
                ok,
                count,
                id_prefix,
                name_prefix
            }
        ),
        Just(InitializeConfigCall),
        any::<i32>().prop_map(|hr| InitializeConfigReturn { hr }),
        Just(DevInitializeCall),
        any::<bool>().prop_map(|ok| DevInitializeReturn { ok }),
        Just(RouteInitializeCall),
        any::<bool>().prop_map(|ok| RouteInitializeReturn { ok }),
        (any::<u32>(), any::<bool>())
            .prop_map(|(device, new_device)| RouteDeviceChangeCall { device, new_device }),
        any::<bool>().prop_map(|ok| RouteDeviceChangeReturn { ok }),
        Just(DevShutdownCall),
        any::<i32>().prop_map(|hr| DevShutdownReturn { hr }),
    ];
    let calls = prop_oneof![
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any_str(),
            any_bytes(),
            any::<Option<u64>>()
        )
            .prop_map(
                |(handle, callback, device, guid, data, cause)| ConfigChangeCall {
                    handle: HandleId(handle),
                    callback: CallbackId(callback),
                    device,
                    guid,
                    data,
                    cause
                }
            ),
        (any::<u32>(), any::<i32>()).prop_map(|(handle, hr)| ConfigChangeReturn {
            handle: HandleId(handle),
            hr
        }),
        (any::<u32>(), any::<i32>(), any_guid(), any::<bool>()).prop_map(
            |(device, source, guid, null_out)| GetDataCall {
                device,
                source,
                guid,
                null_out
            }
        ),
        (
            any::<u32>(),
            any::<Option<u32>>(),
            any_payload(),
            any::<bool>()
        )
            .prop_map(|(code, buffer, data, injected)| GetDataReturn {
                code,
                buffer: buffer.map(BufferId),
                data,
                injected
            }),
        (
            any_hinst(),
            any::<u32>(),
            any::<i32>(),
            any_guid(),
            any_payload(),
            any::<u32>()
        )
            .prop_map(|(hinst, device, source, guid, data, size)| SetDataCall {
                hinst,
                device,
                source,
                guid,
                data,
                size
            }),
        (any::<u32>(), any::<bool>()).prop_map(|(code, injected)| SetDataReturn { code, injected }),
        (
            any_hinst(),
            any::<u32>(),
            any::<i32>(),
            any_guid(),
            any::<Option<u32>>()
        )
            .prop_map(|(hinst, device, source, guid, callback)| RegisterCall {
                hinst,
                device,
                source,
                guid,
                callback: callback.map(CallbackId)
            }),
        (any::<Option<u32>>(), any::<u32>(), any::<bool>()).prop_map(
            |(handle, last_error, injected)| RegisterReturn {
                handle: handle.map(HandleId),
                last_error,
                injected
            }
        ),
        prop_oneof![
            Just(HandleArg::Null),
            Just(HandleArg::InvalidValue),
            any::<u32>().prop_map(|h| HandleArg::Handle(HandleId(h))),
            any::<u32>().prop_map(|h| HandleArg::Foreign(ForeignId(h))),
        ]
        .prop_map(|handle| UnregisterCall { handle }),
        (any::<u32>(), any::<bool>())
            .prop_map(|(code, injected)| UnregisterReturn { code, injected }),
        prop_oneof![
            Just(BufferArg::Null),
            any::<u32>().prop_map(|b| BufferArg::Buffer(BufferId(b))),
            any::<u64>().prop_map(|delivery| BufferArg::ChangeData { delivery }),
            any::<u32>().prop_map(|b| BufferArg::Foreign(ForeignId(b))),
        ]
        .prop_map(|buffer| FreeBufferCall { buffer }),
        Just(FreeBufferReturn),
    ];
    let others = prop_oneof![
        (any::<u32>(), any_guid(), any_payload(), any::<u32>()).prop_map(
            |(device, guid, data, size)| ExternalWriteCall {
                device,
                guid,
                data,
                size
            }
        ),
        any::<u32>().prop_map(|code| ExternalWriteReturn { code }),
        (any::<u32>(), any::<bool>(), any::<u32>()).prop_map(|(b, overrun, offset)| {
            BufferDamaged {
                buffer: BufferId(b),
                damage: if overrun {
                    Damage::Overrun { offset }
                } else {
                    Damage::WriteAfterFree { offset }
                },
            }
        }),
        (any::<u64>(), any::<u32>())
            .prop_map(|(delivery, offset)| ChangeDataWritten { delivery, offset }),
        (any::<u64>(), any::<bool>(), any::<u32>()).prop_map(|(call, guid, offset)| {
            InputWritten {
                call,
                input: if guid {
                    ServiceInput::Guid
                } else {
                    ServiceInput::RoutingInfo
                },
                offset,
            }
        }),
        (any::<u32>(), any::<u32>(), any::<u64>()).prop_map(|(depth, handle, cause)| {
            DeliveryCut {
                depth,
                handle: HandleId(handle),
                cause,
            }
        }),
        any_str().prop_map(|detail| ExtensionCrashed { detail }),
        any::<u64>().prop_map(|limit_ms| ExtensionHung { limit_ms }),
    ];
    // Format 1.1: the routing entry points of a running service, unmodelled entry points.
    let v11 = prop_oneof![
        (any_guid(), any::<u32>(), any::<i32>()).prop_map(|(guid, device, enabled)| {
            RouteDeviceEnableCall {
                guid,
                device,
                enabled,
            }
        }),
        any::<i32>().prop_map(|result| RouteDeviceEnableReturn { result }),
        (any_guid(), any::<u32>(), any::<bool>(), any::<u32>()).prop_map(
            |(guid, device, buffer, size)| RouteGetRoutingInfoCall {
                guid,
                device,
                buffer,
                size
            }
        ),
        (any::<bool>(), any::<u32>(), any_payload())
            .prop_map(|(ok, size, data)| RouteGetRoutingInfoReturn { ok, size, data }),
        (any_guid(), any::<u32>(), any_payload(), any::<u32>()).prop_map(
            |(guid, device, data, size)| RouteSetRoutingInfoCall {
                guid,
                device,
                data,
                size
            }
        ),
        any::<bool>().prop_map(|ok| RouteSetRoutingInfoReturn { ok }),
        any_str().prop_map(|function| EntryPointCall { function }),
        any::<i32>().prop_map(|result| EntryPointReturn { result }),
    ];
    prop_oneof![3 => lifecycle, 3 => calls, 2 => others, 1 => v11]
}

/// Realistic sequences (increasing seq and time) and arbitrary ones (any values).
fn any_events() -> impl Strategy<Value = Vec<Event>> {
    let fields = (
        any::<u64>(),
        0u64..3,
        any::<u16>(),
        any::<Option<u16>>(),
        any_kind(),
    );
    (any::<bool>(), vec(fields, 0..40)).prop_map(|(realistic, raw)| {
        let mut time = 0u64;
        raw.into_iter()
            .enumerate()
            .map(|(i, (anyv, dt, thread, ext, kind))| {
                time += dt;
                Event {
                    seq: if realistic { i as u64 } else { anyv },
                    time: if realistic { time } else { anyv.rotate_left(7) },
                    thread,
                    ext: ext.map(ExtId),
                    kind,
                }
            })
            .collect()
    })
}

fn header() -> Header {
    Header::new(
        42,
        serde_json::json!({"seed": 42, "delivery": "shuffled", "limits": {"nesting": 4}}),
        vec![
            ExtensionInfo {
                name: "a".into(),
                kind: ExtensionKind::Fsp,
                sha256: Some([7; 32]),
            },
            ExtensionInfo {
                name: "b with spaces".into(),
                kind: ExtensionKind::Routing,
                sha256: None,
            },
        ],
    )
}

fn encode(header: &Header, events: &[Event]) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), header).unwrap();
    for e in events {
        w.write_event(e).unwrap();
    }
    w.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn binary_round_trips(events in any_events()) {
        let h = header();
        let bytes = encode(&h, &events);
        let trace = read_trace(&bytes[..]).unwrap();
        prop_assert_eq!(&trace.header, &h);
        prop_assert_eq!(&trace.events, &events);
    }

    #[test]
    fn binary_jsonl_binary_round_trips(events in any_events()) {
        let h = header();
        let bytes = encode(&h, &events);
        let jsonl = jsonl::binary_to_jsonl(&bytes[..], Vec::new()).unwrap();
        // The JSON form alone decodes to the same events.
        let r = JsonlReader::new(&jsonl[..]).unwrap();
        prop_assert_eq!(r.header(), &h);
        let from_json: Vec<Event> = r.collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&from_json, &events);
        // And converting back gives the identical file.
        let again = jsonl_to_binary(&jsonl[..], Vec::new()).unwrap();
        prop_assert_eq!(again, bytes);
    }
}

#[test]
fn every_variant_is_generated() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = any_kind();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20_000 {
        seen.insert(strategy.new_tree(&mut runner).unwrap().current().name());
    }
    assert_eq!(seen.len(), 48, "variants generated: {seen:?}");
}

#[test]
fn redacted_jsonl_hides_payloads_and_refuses_conversion() {
    let h = header();
    let e = Event {
        seq: 0,
        time: 0,
        thread: 0,
        ext: None,
        kind: EventKind::ExternalWriteCall {
            device: 0,
            guid: Some(Arc::from("{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}")),
            data: Some(Arc::from(&b"secret"[..])),
            size: 6,
        },
    };
    let mut w = JsonlWriter::new(Vec::new(), &h, true).unwrap();
    w.write_event(&e).unwrap();
    let out = String::from_utf8(w.finish().unwrap()).unwrap();
    assert!(!out.contains(&to_hex(b"secret")), "{out}");
    assert!(out.contains("\"data\":\"len=6 sha256:"), "{out}");
    let err = jsonl_to_binary(out.as_bytes(), Vec::new()).unwrap_err();
    assert!(matches!(err, TraceError::Json { line: 2, .. }), "{err}");
}

/// Activation bars as Mermaid counts them: per participant, never closed more often than
/// opened (Mermaid refuses that diagram), and all closed at the end.
fn bars_balance(diagram: &str) -> Result<(), String> {
    let mut depth: std::collections::BTreeMap<String, i64> = Default::default();
    for line in diagram.lines().map(str::trim) {
        let (who, delta) = if let Some(p) = line.strip_prefix("deactivate ") {
            (p.to_string(), -1)
        } else if let Some((arrow, _)) = line.split_once(':') {
            if let Some((_, to)) = arrow.split_once("->>+") {
                (to.to_string(), 1)
            } else if let Some((from, _)) = arrow.split_once("-->>-") {
                (from.to_string(), -1)
            } else {
                continue;
            }
        } else {
            continue;
        };
        let d = depth.entry(who.clone()).or_default();
        *d += delta;
        if *d < 0 {
            return Err(format!("{who} closed more often than opened at {line:?}"));
        }
    }
    match depth.iter().find(|(_, d)| **d != 0) {
        Some((who, d)) => Err(format!("{who} left open {d} times")),
        None => Ok(()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever a trace holds (calls without returns, returns without calls, crashes
    /// anywhere, any extension and thread), the diagram of any window of it balances its
    /// bars, closes its blocks and stays under Mermaid's size limit.
    #[test]
    fn any_trace_draws_a_balanced_diagram(
        events in any_events(),
        from in 0u64..40,
        len in prop::option::of(0u64..40),
        small in any::<bool>(),
        fold in any::<bool>(),
    ) {
        use faxsim_trace::mermaid::{MermaidOptions, MermaidWriter, MERMAID_MAX_TEXT_SIZE};
        let h = header();
        let marks = Marks::new(events.iter().take(5).map(|e| Mark {
            event: e.seq,
            ext: e.ext,
            level: MarkLevel::Error,
            rule: "buffer-leak".into(),
            message: "a message; with # and <html> at event 3".into(),
        }).collect());
        let opts = MermaidOptions {
            window: Window { from, to: len.map_or(u64::MAX, |l| from + l), ext: None },
            fold,
            max_chars: if small { 3_000 } else { MERMAID_MAX_TEXT_SIZE },
            ..MermaidOptions::default()
        };
        let mut w = MermaidWriter::new(Vec::new(), &h, &marks, opts);
        for e in &events {
            w.event(e).unwrap();
        }
        let d = String::from_utf8(w.finish(Some("damaged")).unwrap()).unwrap();
        prop_assert!(d.len() <= MERMAID_MAX_TEXT_SIZE);
        prop_assert!(d.starts_with("sequenceDiagram\n"));
        prop_assert!(!d.contains('\u{1}'), "{}", d);
        if let Err(e) = bars_balance(&d) {
            prop_assert!(false, "{}\n{}", e, d);
        }
        let opened = d.lines().filter(|l| {
            let l = l.trim_start();
            l.starts_with("rect ") || l.starts_with("loop ") || l.starts_with("box ")
        }).count();
        let closed = d.lines().filter(|l| l.trim() == "end").count();
        prop_assert_eq!(opened, closed, "{}", d);
    }
}
