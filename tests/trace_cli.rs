//! Trace files end to end: recording a run, `faxsim show` in every format, `faxsim
//! check` against the live findings, `faxsim convert` both ways, the golden traces of
//! every format version, newer-version handling, and bad files at the command line.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::rc::Rc;
use std::sync::Arc;

use faxsim_sim::example_extensions::*;
use faxsim_sim::trace::*;
use faxsim_sim::*;

fn faxsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("faxsim runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 output")
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// A scratch folder for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faxsim-trace-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Streams events into a trace writer (the shape of every `--record`).
struct Sink(Rc<RefCell<Option<TraceWriter<Vec<u8>>>>>);

impl EventSink for Sink {
    fn event(&mut self, e: &Event) {
        if let Some(w) = self.0.borrow_mut().as_mut() {
            w.write_event(e).expect("recording succeeds");
        }
    }
}

/// The run of the `walkthrough` example (sim/core/examples/walkthrough.rs), recorded
/// through a sink with a fixed trace id and platform. Returns the trace bytes, the live
/// findings and the extension names.
fn walkthrough(opts: ServiceOptions) -> (Vec<u8>, Vec<Finding>, Vec<String>, Vec<Event>) {
    let mut svc = Service::new(opts.clone());
    svc.add_device(1, Some(0x0001_0001)).unwrap();
    svc.add_device(2, Some(0x0001_0002)).unwrap();
    let exts: Vec<(&str, ExtensionKind, Rc<dyn Extension>)> = vec![
        (
            "careful-fsp",
            ExtensionKind::Fsp,
            Rc::new(CarefulTapiFsp::new(vec![0x0001_0001, 0x0001_0002])),
        ),
        (
            "careful-vfsp",
            ExtensionKind::VirtualFsp,
            Rc::new(CarefulVirtualFsp::new(2, 0x100)),
        ),
        (
            "careful-routing",
            ExtensionKind::Routing,
            Rc::new(CarefulRouting::default()),
        ),
        (
            "buggy-routing",
            ExtensionKind::Routing,
            Rc::new(BuggyRouting::default()),
        ),
    ];
    let mut infos = Vec::new();
    for (name, kind, imp) in exts {
        svc.add_extension(
            ExtensionSpec {
                name: name.into(),
                kind,
            },
            imp,
        )
        .unwrap();
        infos.push(ExtensionInfo {
            name: name.into(),
            kind,
            sha256: None,
        });
    }
    let mut header = Header::new(opts.seed, serde_json::to_value(&opts).unwrap(), infos)
        .with_trace_id(uuid_for(opts.seed));
    header.platform = Platform {
        os: "linux".into(),
        arch: "x86_64".into(),
    };
    let writer = Rc::new(RefCell::new(Some(
        TraceWriter::new(Vec::new(), &header).unwrap(),
    )));
    svc.add_sink(Box::new(Sink(writer.clone())));
    svc.external_write(0, FLAGS_GUID, &1u32.to_le_bytes())
        .unwrap();
    svc.start().unwrap();
    svc.add_device(3, Some(0x0001_0003)).unwrap();
    svc.external_write(1, FLAGS_GUID, &0u32.to_le_bytes())
        .unwrap();
    svc.external_write(0, FLAGS_GUID, &2u32.to_le_bytes())
        .unwrap();
    svc.settle().unwrap();
    svc.stop().unwrap();
    let findings = svc.finish();
    let bytes = writer.borrow_mut().take().unwrap().finish().unwrap();
    (
        bytes,
        findings,
        svc.extension_names(),
        svc.events().to_vec(),
    )
}

fn uuid_for(seed: u64) -> Uuid {
    Uuid::from_u128(0x6661_7873_696d_4000_8000_0000_0000_0000 | u128::from(seed))
}

fn opts(seed: u64, delivery: DeliveryPolicy) -> ServiceOptions {
    ServiceOptions {
        seed,
        delivery,
        ..ServiceOptions::default()
    }
}

/// The golden traces, never edited once written: (file, events, rolling hash). A new
/// format version adds a folder and rows; rows are never changed.
const GOLDEN: &[(&str, u64, u64)] = &[
    (
        "v1/walkthrough-seed0-sync.trace",
        106,
        0x545c_eb93_1ad3_8216,
    ),
    (
        "v1/walkthrough-seed7-deferred.trace",
        106,
        0xf8a7_d4c5_c988_2274,
    ),
    ("v1/every-kind.trace", 63, 0x8e98_2c62_7435_93a3),
    ("v1/every-kind-1.1.trace", 75, 0x0b2e_5c31_f8a0_efcc),
    ("v1/every-kind-1.2.trace", 86, 0x1143_6360_a21e_2f12),
    ("v1/every-kind-1.3.trace", 86, 0x1143_6360_a21e_2f12),
];

/// Writes a golden trace that does not exist yet (run once with
/// `FAXSIM_WRITE_GOLDEN=1`); otherwise only checks it is there.
#[test]
fn golden_traces_exist() {
    let write = std::env::var_os("FAXSIM_WRITE_GOLDEN").is_some();
    for (name, opts) in [
        (
            "v1/walkthrough-seed0-sync.trace",
            Some(opts(0, DeliveryPolicy::Sync)),
        ),
        (
            "v1/walkthrough-seed7-deferred.trace",
            Some(opts(7, DeliveryPolicy::Deferred)),
        ),
        ("v1/every-kind.trace", None),
        ("v1/every-kind-1.1.trace", None),
        ("v1/every-kind-1.2.trace", None),
        // 1.3 added only `part` frames (for events above one frame): the same events.
        ("v1/every-kind-1.3.trace", None),
    ] {
        let path = golden(name);
        if !path.exists() && write {
            let (bytes, ..) = match opts {
                Some(opts) => walkthrough(opts),
                None if name.ends_with("-1.1.trace") => every_kind_of(1),
                None if name.ends_with("-1.2.trace") || name.ends_with("-1.3.trace") => {
                    every_kind_of(2)
                }
                None => every_kind(),
            };
            std::fs::write(&path, bytes).unwrap();
            let t = read_trace(&std::fs::read(&path).unwrap()[..]).unwrap();
            let mut r = TraceReader::open(&path).unwrap();
            r.by_ref().for_each(drop);
            eprintln!(
                "wrote {name}: {} events, hash {:#x}",
                t.events.len(),
                r.end().unwrap().hash
            );
        }
        let jsonl = path.with_extension("jsonl");
        if !jsonl.exists() && write {
            let bytes = std::fs::read(&path).unwrap();
            let text = faxsim_sim::trace::jsonl::binary_to_jsonl(&bytes[..], Vec::new()).unwrap();
            std::fs::write(&jsonl, text).unwrap();
        }
        assert!(jsonl.exists(), "{} is missing", jsonl.display());
        assert!(
            path.exists(),
            "{name} is missing (FAXSIM_WRITE_GOLDEN=1 writes it once)"
        );
    }
}

/// One event of every kind, with unusual values (NULLs, foreign handles, large numbers,
/// non-ASCII text, empty and long payloads), so the golden files pin every encoding.
fn every_kind() -> (Vec<u8>, Vec<Finding>, Vec<String>, Vec<Event>) {
    every_kind_of(0)
}

/// Every event kind of format 1.`minor` (and edge values of their fields), in a trace.
fn every_kind_of(minor: u16) -> (Vec<u8>, Vec<Finding>, Vec<String>, Vec<Event>) {
    use EventKind::*;
    let g: Arc<str> = Arc::from(FLAGS_GUID);
    let odd: Arc<str> = Arc::from("not a guid \u{fffd} ünïcode");
    let long: Arc<[u8]> = (0..=255u8).collect::<Vec<_>>().into();
    let mut kinds = vec![
        ServiceStart { run: 1 },
        DeviceAdded {
            device: 1,
            tapi: Some(0x0001_0001),
            owner: None,
        },
        DeviceAdded {
            device: 256,
            tapi: None,
            owner: Some(ExtId(1)),
        },
        ValueCorrupted {
            device: 1,
            guid: g.clone(),
        },
        Load {
            kind: ExtensionKind::Fsp,
            exports: Exports {
                initialize_config: true,
                dev_shutdown: true,
                route_device_change: false,
            },
        },
        Load {
            kind: ExtensionKind::VirtualFsp,
            exports: Exports::default(),
        },
        Load {
            kind: ExtensionKind::Routing,
            exports: Exports {
                initialize_config: true,
                dev_shutdown: false,
                route_device_change: true,
            },
        },
        VirtualDeviceCreationCall,
        VirtualDeviceCreationReturn {
            ok: true,
            count: 2,
            id_prefix: 0x100,
            name_prefix: Arc::from("Virtual fax"),
        },
        InitializeConfigCall,
        InitializeConfigReturn {
            hr: 0x8000_4005_u32 as i32,
        },
        DevInitializeCall,
        DevInitializeReturn { ok: false },
        RouteInitializeCall,
        RouteInitializeReturn { ok: true },
        RouteDeviceChangeCall {
            device: 3,
            new_device: true,
        },
        RouteDeviceChangeReturn { ok: true },
        GetDataCall {
            device: 0,
            source: SOURCE_FAX,
            guid: Some(g.clone()),
            null_out: false,
        },
        GetDataReturn {
            code: 0,
            buffer: Some(BufferId(1)),
            data: Some(long.clone()),
            injected: false,
        },
        GetDataCall {
            device: u32::MAX,
            source: -7,
            guid: None,
            null_out: true,
        },
        GetDataReturn {
            code: 87,
            buffer: None,
            data: None,
            injected: true,
        },
        SetDataCall {
            hinst: HInstArg::Ext(ExtId(0)),
            device: 0x0001_0001,
            source: SOURCE_TAPI,
            guid: Some(g.clone()),
            data: Some(Arc::from(&[1u8, 0, 0, 0][..])),
            size: 4,
        },
        SetDataReturn {
            code: 0,
            injected: false,
        },
        SetDataCall {
            hinst: HInstArg::Foreign(ForeignId(1)),
            device: 0,
            source: SOURCE_FAX,
            guid: Some(odd.clone()),
            data: None,
            size: 0,
        },
        SetDataReturn {
            code: 8,
            injected: true,
        },
        RegisterCall {
            hinst: HInstArg::Null,
            device: 0,
            source: SOURCE_FAX,
            guid: Some(g.clone()),
            callback: Some(CallbackId(1)),
        },
        RegisterReturn {
            handle: Some(HandleId(1)),
            last_error: 0,
            injected: false,
        },
        RegisterCall {
            hinst: HInstArg::Ext(ExtId(2)),
            device: 0,
            source: SOURCE_FAX,
            guid: None,
            callback: None,
        },
        RegisterReturn {
            handle: None,
            last_error: 87,
            injected: false,
        },
        ExternalWriteCall {
            device: 0,
            guid: Some(g.clone()),
            data: Some(Arc::from(&[][..])),
            size: 0,
        },
        ConfigChangeCall {
            handle: HandleId(1),
            callback: CallbackId(1),
            device: 0,
            guid: g.clone(),
            data: Arc::from(&[][..]),
            cause: Some(29),
        },
        FreeBufferCall {
            buffer: BufferArg::ChangeData { delivery: 30 },
        },
        FreeBufferReturn,
        ChangeDataWritten {
            delivery: 30,
            offset: 2,
        },
        ConfigChangeReturn {
            handle: HandleId(1),
            hr: 0,
        },
        ConfigChangeCall {
            handle: HandleId(9),
            callback: CallbackId(2),
            device: 7,
            guid: odd.clone(),
            data: long.clone(),
            cause: None,
        },
        ConfigChangeReturn {
            handle: HandleId(9),
            hr: -1,
        },
        ExternalWriteReturn { code: 0 },
        DeliveryCut {
            depth: 16,
            handle: HandleId(1),
            cause: 29,
        },
        FreeBufferCall {
            buffer: BufferArg::Buffer(BufferId(1)),
        },
        FreeBufferReturn,
        FreeBufferCall {
            buffer: BufferArg::Null,
        },
        FreeBufferReturn,
        FreeBufferCall {
            buffer: BufferArg::Foreign(ForeignId(2)),
        },
        FreeBufferReturn,
        BufferDamaged {
            buffer: BufferId(1),
            damage: Damage::Overrun { offset: 256 },
        },
        BufferDamaged {
            buffer: BufferId(1),
            damage: Damage::WriteAfterFree { offset: 0 },
        },
        UnregisterCall {
            handle: HandleArg::Handle(HandleId(1)),
        },
        UnregisterReturn {
            code: 0,
            injected: false,
        },
        UnregisterCall {
            handle: HandleArg::Null,
        },
        UnregisterReturn {
            code: 87,
            injected: false,
        },
        UnregisterCall {
            handle: HandleArg::InvalidValue,
        },
        UnregisterReturn {
            code: 87,
            injected: true,
        },
        UnregisterCall {
            handle: HandleArg::Foreign(ForeignId(3)),
        },
        UnregisterReturn {
            code: 1168,
            injected: false,
        },
        ExtensionHung { limit_ms: 5000 },
        ExtensionCrashed {
            detail: Arc::from("SIGSEGV at 0x0"),
        },
    ];
    if minor >= 1 {
        kinds.extend([
            RouteDeviceEnableCall {
                guid: Some(g.clone()),
                device: 3,
                enabled: -1,
            },
            RouteDeviceEnableReturn { result: 1 },
            RouteGetRoutingInfoCall {
                guid: Some(g.clone()),
                device: 3,
                buffer: false,
                size: 0,
            },
            RouteGetRoutingInfoReturn {
                ok: true,
                size: 4,
                data: None,
            },
            RouteGetRoutingInfoCall {
                guid: None,
                device: u32::MAX,
                buffer: true,
                size: 4,
            },
            RouteGetRoutingInfoReturn {
                ok: true,
                size: 4,
                data: Some(Arc::from(&[1u8, 0, 0, 0][..])),
            },
            RouteSetRoutingInfoCall {
                guid: Some(odd.clone()),
                device: 0,
                data: Some(Arc::from(&[7u8][..])),
                size: 1,
            },
            RouteSetRoutingInfoReturn { ok: false },
            EntryPointCall {
                function: Arc::from("FaxDevStartJob"),
            },
            EntryPointReturn { result: 0 },
            InputWritten {
                call: 5,
                input: faxsim_sim::trace::ServiceInput::Guid,
                offset: 2,
            },
            InputWritten {
                call: 0,
                input: faxsim_sim::trace::ServiceInput::RoutingInfo,
                offset: u32::MAX,
            },
        ]);
    }
    if minor >= 2 {
        // Format 1.2: routing a received fax, the routines of FAX_ROUTE_CALLBACKROUTINES.
        use faxsim_sim::trace::{NameBuffer, RouteRoutine};
        kinds.extend([
            RoutingStart {
                job: 1,
                device: 0x0001_0001,
                methods: vec![
                    faxsim_sim::trace::RouteMethod {
                        guid: g.clone(),
                        function: Arc::from("StoreInFolder"),
                    },
                    faxsim_sim::trace::RouteMethod {
                        guid: odd.clone(),
                        function: Arc::from(""),
                    },
                ],
            },
            RouteFileCall {
                routine: RouteRoutine::GetFile,
                job: 1,
                index: 1,
                file: None,
                guid: None,
                data: None,
                buffer: NameBuffer::None,
            },
            RouteFileReturn {
                result: 1,
                code: 0,
                file: Some(Arc::from("%FAXSIM_QUEUE%\\1.tif")),
            },
            RouteFileCall {
                routine: RouteRoutine::GetFile,
                job: u32::MAX,
                index: u32::MAX,
                file: None,
                guid: None,
                data: None,
                buffer: NameBuffer::TooSmall,
            },
            RouteFileReturn {
                result: 0,
                code: 122,
                file: None,
            },
            RouteFileCall {
                routine: RouteRoutine::AddFile,
                job: 1,
                index: 0,
                file: Some(odd.clone()),
                guid: Some(g.clone()),
                data: None,
                buffer: NameBuffer::Fits,
            },
            RouteFileReturn {
                result: -1,
                code: 87,
                file: None,
            },
            RouteFileCall {
                routine: RouteRoutine::ModifyRoutingData,
                job: 1,
                index: 0,
                file: None,
                guid: Some(g.clone()),
                data: Some(long.clone()),
                buffer: NameBuffer::None,
            },
            RouteFileCall {
                routine: RouteRoutine::DeleteFile,
                job: 0,
                index: 0,
                file: Some(Arc::from("")),
                guid: None,
                data: Some(Arc::from(&[][..])),
                buffer: NameBuffer::None,
            },
            RouteFileCall {
                routine: RouteRoutine::EnumFiles,
                job: 1,
                index: 0,
                file: None,
                guid: None,
                data: None,
                buffer: NameBuffer::None,
            },
            RoutingEnd { job: 1 },
        ]);
    }
    kinds.extend([
        ServiceStopping,
        DevShutdownCall,
        DevShutdownReturn { hr: 0 },
        Unload,
        DeviceRemoved { device: 256 },
        ServiceStopped,
    ]);
    let events: Vec<Event> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            seq: i as u64,
            time: i as u64 / 5,
            thread: (i % 3) as u16,
            ext: (i % 4 != 0).then_some(ExtId((i % 3) as u16)),
            kind,
        })
        .collect();
    let names: Vec<String> = ["fsp", "vfsp", "routing"].map(String::from).to_vec();
    let header = Header {
        trace_id: uuid_for(u64::MAX),
        faxsim: "0.1.0".into(),
        platform: Platform {
            os: "windows".into(),
            arch: "x86".into(),
        },
        seed: u64::MAX,
        origin: "recorder".into(),
        options: serde_json::Value::Null,
        extensions: vec![
            ExtensionInfo {
                name: names[0].clone(),
                kind: ExtensionKind::Fsp,
                sha256: Some(sha256(b"fsp.dll")),
            },
            ExtensionInfo {
                name: names[1].clone(),
                kind: ExtensionKind::VirtualFsp,
                sha256: None,
            },
            ExtensionInfo {
                name: names[2].clone(),
                kind: ExtensionKind::Routing,
                sha256: Some([0xff; 32]),
            },
        ],
    };
    let mut w = TraceWriter::new(Vec::new(), &header).unwrap();
    for e in &events {
        w.write_event(e).unwrap();
    }
    let mut bytes = w.finish().unwrap();
    if minor < faxsim_sim::trace::version::CURRENT.minor {
        // An older format's kinds, as its writer stamped them (the frames are the same).
        bytes = with_version(bytes, 1, minor);
    }
    (bytes, Vec::new(), names, events)
}

// ---- golden files and versions ----------------------------------------------------------

#[test]
fn every_golden_trace_reads_with_its_recorded_count_and_hash() {
    for &(name, events, hash) in GOLDEN {
        let path = golden(name);
        let mut r = TraceReader::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.version().major, 1, "{name}");
        let read: Vec<Event> = r
            .by_ref()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let end = r.end().expect("an end frame");
        assert_eq!(
            (read.len() as u64, end.events, end.hash),
            (events, events, hash),
            "{name}"
        );
        assert!(
            read.iter().enumerate().all(|(i, e)| e.seq == i as u64),
            "{name}"
        );
        assert!(r.notes().is_empty(), "{name}: {:?}", r.notes());
        // The JSON Lines twin holds the same header and events.
        let jsonl = std::fs::read(path.with_extension("jsonl")).unwrap();
        let mut j = faxsim_sim::trace::jsonl::JsonlReader::new(&jsonl[..]).unwrap();
        assert_eq!(j.header(), r.header(), "{name}");
        let from_json: Vec<Event> = j.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(from_json, read, "{name}");
        assert_eq!(j.end(), Some((events, Some(hash))), "{name}");
    }
}

#[test]
fn the_every_kind_goldens_hold_every_event_kind_of_their_version() {
    for (minor, name, count) in [
        (0, "v1/every-kind.trace", 39),
        (1, "v1/every-kind-1.1.trace", 48),
        (2, "v1/every-kind-1.2.trace", 52),
    ] {
        let file = std::fs::read(golden(name)).unwrap();
        let t = read_trace(&file[..]).unwrap();
        let kinds: std::collections::BTreeSet<&str> =
            t.events.iter().map(|e| e.kind.name()).collect();
        assert_eq!(kinds.len(), count, "{name}: {kinds:?}");
        assert_eq!(TraceReader::new(&file[..]).unwrap().version().minor, minor);
        // And it is what the generator makes today (the encoder is deterministic, and
        // encodes format 1.0's kinds as the 1.0 writer did).
        let (bytes, _, _, events) = every_kind_of(minor);
        assert_eq!(t.events, events, "{name}");
        assert_eq!(bytes[..], file[..], "{name}");
    }
}

#[test]
fn a_recording_is_deterministic_and_first_difference_names_the_event() {
    let (a, ..) = walkthrough(opts(3, DeliveryPolicy::Shuffled));
    let (b, ..) = walkthrough(opts(3, DeliveryPolicy::Shuffled));
    assert_eq!(a, b, "same seed, same bytes");
    let (c, ..) = walkthrough(opts(3, DeliveryPolicy::Deferred));
    let diff = first_difference(
        TraceReader::new(&a[..]).unwrap(),
        TraceReader::new(&c[..]).unwrap(),
    )
    .unwrap();
    match diff {
        Some(Divergence::Event { index, left, right }) => {
            assert_eq!(left.seq, index);
            assert_ne!(left, right);
        }
        other => panic!("expected an event difference, got {other:?}"),
    }
    assert_eq!(
        first_difference(
            TraceReader::new(&a[..]).unwrap(),
            TraceReader::new(&b[..]).unwrap()
        )
        .unwrap(),
        None
    );
}

/// Rewrites the preamble's version of `bytes`.
fn with_version(mut bytes: Vec<u8>, major: u16, minor: u16) -> Vec<u8> {
    bytes[8..10].copy_from_slice(&major.to_le_bytes());
    bytes[10..12].copy_from_slice(&minor.to_le_bytes());
    bytes
}

/// A frame built by hand from the documented layout.
fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.push(kind);
    f.extend_from_slice(payload);
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    f.extend_from_slice(&h.finalize().to_le_bytes());
    f
}

/// Splits a trace into its preamble and frames (start, kind).
fn frames(bytes: &[u8]) -> (usize, Vec<(usize, u8, usize)>) {
    let pre = 13 + bytes[12] as usize;
    let mut at = pre;
    let mut out = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, bytes[at + 4], len));
        at += 9 + len;
    }
    (pre, out)
}

#[test]
fn a_newer_minor_version_skips_unknown_frames_with_a_note_and_keeps_event_indices() {
    let bytes = std::fs::read(golden("v1/walkthrough-seed0-sync.trace")).unwrap();
    let original = read_trace(&bytes[..]).unwrap().events;
    let (pre, fr) = frames(&bytes);
    // A 1.4 writer adds a metadata frame (kind 0x10) after the header, and an event of a
    // kind 1.3 does not know (0x84: seq gap 0, time delta 5, then fields) after event 9.
    let mut out = with_version(bytes[..pre].to_vec(), 1, 4);
    let mut events_seen = 0;
    let mut extra_hash_bytes = Vec::new();
    for (i, &(at, kind, len)) in fr.iter().enumerate() {
        let end_frame = kind == 0x03;
        if end_frame {
            break;
        }
        out.extend_from_slice(&bytes[at..at + 9 + len]);
        if i == 0 {
            out.extend_from_slice(&frame(0x10, b"future metadata"));
        }
        if kind == 0x80 {
            events_seen += 1;
            if events_seen == 10 {
                let payload = [0u8, 5, 0xaa, 0xbb];
                out.extend_from_slice(&frame(0x84, &payload));
                extra_hash_bytes = payload.to_vec();
            }
        }
    }
    assert!(!extra_hash_bytes.is_empty());
    // No end frame: the 1.3 reader reports the cut but yields everything before it.
    let mut r = TraceReader::new(&out[..]).unwrap();
    let mut read = Vec::new();
    let err = loop {
        match r.next_event() {
            Ok(Some(e)) => read.push(e),
            Ok(None) => panic!("no end frame was written"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, TraceError::Truncated { events: 107, .. }),
        "{err}"
    );
    assert_eq!(read.len(), 106);
    // Events before the unknown one keep their seq; later ones are shifted by one index
    // and by the unknown event's time delta.
    assert_eq!(read[..10], original[..10]);
    assert_eq!(read[10].seq, 11);
    assert_eq!(read[10].time, original[10].time + 5);
    let notes: Vec<String> = r.notes().iter().map(ToString::to_string).collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(
        notes[0].contains("format 1.4; this build reads 1.3"),
        "{notes:?}"
    );
    assert!(
        notes[1].contains("0x10") && !notes[1].contains("event"),
        "{notes:?}"
    );
    assert!(
        notes[2].contains("0x84") && notes[2].contains("one event"),
        "{notes:?}"
    );
}

/// A file of string frames alone is read in bounded memory: past 64 MiB of strings the
/// reader stops with an error naming the limit, however long the file goes on.
#[test]
fn a_string_table_past_its_byte_limit_is_refused() {
    let bytes = std::fs::read(golden("v1/walkthrough-seed0-sync.trace")).unwrap();
    let (pre, fr) = frames(&bytes);
    // The preamble and the header frame, then strings frames of one 8 MiB string each.
    let (at, _, len) = fr[0];
    let mut out = bytes[..pre].to_vec();
    out.extend_from_slice(&bytes[at..at + 9 + len]);
    let big = "x".repeat(8 << 20);
    for first in 0..9u32 {
        #[derive(serde::Serialize)]
        struct Strings<'a> {
            first: u32,
            strings: Vec<&'a str>,
        }
        let payload = postcard::to_stdvec(&Strings {
            first,
            strings: vec![&big],
        })
        .unwrap();
        out.extend_from_slice(&frame(0x02, &payload));
    }
    let mut r = TraceReader::new(&out[..]).unwrap();
    let err = loop {
        match r.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no end frame was written"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, TraceError::StringTableTooLarge { cap } if cap == 64 << 20),
        "{err}"
    );
}

#[test]
fn a_newer_major_version_is_refused_naming_the_writer() {
    let bytes = with_version(std::fs::read(golden("v1/every-kind.trace")).unwrap(), 2, 1);
    let err = TraceReader::new(&bytes[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "written by faxsim 0.1.0 in format 2.1; this build reads 1.x"
    );
    let err = TraceReader::new(&with_version(bytes, 0, 3)[..]).unwrap_err();
    assert!(matches!(err, TraceError::OlderMajor { .. }), "{err}");
}

// ---- check -------------------------------------------------------------------------------

/// The live findings of a run in the JSON form of `faxsim check`.
fn findings_json(findings: &[Finding], names: &[String]) -> serde_json::Value {
    serde_json::Value::Array(
        findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "rule": f.rule.id(),
                    "severity": f.severity.name(),
                    "extension": f.ext.map(|e| names[e.index()].clone()),
                    "event": f.event,
                    "message": f.message,
                })
            })
            .collect(),
    )
}

#[test]
fn check_finds_on_a_recorded_trace_exactly_the_live_findings_of_its_run() {
    let dir = scratch("check-live");
    let mut total = 0;
    for (seed, delivery) in [
        (0, DeliveryPolicy::Sync),
        (7, DeliveryPolicy::Shuffled),
        (11, DeliveryPolicy::Deferred),
        (12, DeliveryPolicy::Deferred),
    ] {
        let (bytes, live, names, _) = walkthrough(opts(seed, delivery));
        assert!(!live.is_empty());
        total += live.len();
        let path = dir.join(format!("seed{seed}.trace"));
        std::fs::write(&path, &bytes).unwrap();
        let out = faxsim(&["check", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(doc["format"], 1);
        assert_eq!(doc["faxsim"], env!("CARGO_PKG_VERSION"));
        let run = &doc["runs"][0];
        assert_eq!(run["name"], format!("check:{}", path.display()));
        assert_eq!(run["seed"], seed);
        assert_eq!(run["passed"], false);
        assert_eq!(run["findings"], findings_json(&live, &names), "seed {seed}");
        assert_eq!(doc["findings"], run["findings"]);
        // The JSON Lines form checks the same.
        let jsonl = dir.join(format!("seed{seed}.jsonl"));
        let conv = faxsim(&["convert", path.to_str().unwrap(), jsonl.to_str().unwrap()]);
        assert!(conv.status.success(), "{}", stderr(&conv));
        let out = faxsim(&["check", "--format", "json", jsonl.to_str().unwrap()]);
        let doc2: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(doc2["runs"][0]["findings"], run["findings"]);
    }
    assert!(total > 0);
}

#[test]
fn check_exit_codes_follow_severity_and_deny_warnings() {
    let dir = scratch("check-exit");
    // A clean run: only the careful routing extension.
    let mut svc = Service::new(ServiceOptions::default());
    svc.add_extension(
        ExtensionSpec {
            name: "careful".into(),
            kind: ExtensionKind::Routing,
        },
        Rc::new(CarefulRouting::default()),
    )
    .unwrap();
    let header = Header::new(
        0,
        serde_json::Value::Null,
        vec![ExtensionInfo {
            name: "careful".into(),
            kind: ExtensionKind::Routing,
            sha256: None,
        }],
    );
    svc.start().unwrap();
    svc.external_write(0, FLAGS_GUID, &[9, 0, 0, 0]).unwrap();
    svc.stop().unwrap();
    assert!(svc.finish().is_empty());
    let mut w = TraceWriter::new(Vec::new(), &header).unwrap();
    for e in svc.events() {
        w.write_event(e).unwrap();
    }
    let clean = dir.join("clean.trace");
    std::fs::write(&clean, w.finish().unwrap()).unwrap();
    let out = faxsim(&["check", clean.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("PASS "), "{}", stdout(&out));
    // Warnings only pass unless denied: the buggy walkthrough has errors, so build one
    // with warnings only by keeping the events before the first error finding (event 80).
    let bytes = std::fs::read(golden("v1/walkthrough-seed0-sync.trace")).unwrap();
    let t = read_trace(&bytes[..]).unwrap();
    let mut w = TraceWriter::new(Vec::new(), &t.header).unwrap();
    for e in t.events.iter().take(79) {
        w.write_event(e).unwrap();
    }
    let warn = dir.join("warnings.trace");
    std::fs::write(&warn, w.finish().unwrap()).unwrap();
    let out = faxsim(&["check", warn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = faxsim(&["check", "--deny-warnings", warn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn check_text_of_the_golden_trace_is_stable() {
    let out = faxsim(&["check", "tests/golden/v1/walkthrough-seed0-sync.trace"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&out));
}

// ---- show and convert ------------------------------------------------------------------

#[test]
fn show_text_of_the_golden_traces_is_stable() {
    for name in ["walkthrough-seed0-sync", "every-kind"] {
        let out = faxsim(&["show", &format!("tests/golden/v1/{name}.trace")]);
        assert!(out.status.success(), "{}", stderr(&out));
        insta::assert_snapshot!(format!("show_text_{name}"), stdout(&out));
    }
}

/// The event indexes a form shows: text lines, JSON Lines events, Chrome `args.seq`.
fn shown_seqs(format: &str, out: &str) -> Vec<u64> {
    match format {
        "text" => out
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect(),
        "jsonl" => out
            .lines()
            .filter(|l| l.starts_with("{\"seq\""))
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect(),
        "chrome" => {
            let doc: serde_json::Value = serde_json::from_str(out).unwrap();
            doc["traceEvents"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["cat"] != "finding")
                .filter_map(|e| e["args"]["seq"].as_u64())
                .collect()
        }
        _ => unreachable!(),
    }
}

#[test]
fn show_draws_the_part_of_a_trace_asked_for_in_every_format() {
    let path = "tests/golden/v1/walkthrough-seed0-sync.trace";
    let all = stdout(&faxsim(&["show", path]));
    let ext_of = |seq: u64| -> String {
        let line = all
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&seq.to_string()))
            .unwrap();
        line.split_whitespace().nth(3).unwrap().to_string()
    };
    for format in ["text", "jsonl", "chrome"] {
        let out = faxsim(&[
            "show", "--format", format, "--from", "40", "--to", "60", path,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            shown_seqs(format, &stdout(&out)),
            (40..=60).collect::<Vec<_>>(),
            "{format}"
        );
        let out = faxsim(&[
            "show",
            "--format",
            format,
            "--around",
            "80",
            "--context",
            "3",
            path,
        ]);
        assert_eq!(
            shown_seqs(format, &stdout(&out)),
            (77..=83).collect::<Vec<_>>(),
            "{format}"
        );
        let out = faxsim(&["show", "--format", format, "--ext", "careful-fsp", path]);
        let seqs = shown_seqs(format, &stdout(&out));
        assert!(seqs.len() > 10 && seqs.len() < 106, "{format}: {seqs:?}");
        for seq in seqs {
            let who = ext_of(seq);
            assert!(
                who == "careful-fsp" || who == "-",
                "{format}: [{seq}] is {who}"
            );
        }
    }
    // A part in JSON Lines is a trace of its own.
    let dir = scratch("show-window");
    let part = dir.join("part.jsonl");
    let out = faxsim(&[
        "show", "--format", "jsonl", "--from", "40", "--to", "60", path,
    ]);
    std::fs::write(&part, &out.stdout).unwrap();
    let back = faxsim(&["check", part.to_str().unwrap()]);
    assert_ne!(back.status.code(), Some(2), "{}", stderr(&back));
    // The text form names the part and shows the findings after their events.
    let text = stdout(&faxsim(&["show", "--around", "99", "--context", "1", path]));
    assert!(text.contains("# showing events [98]–[100]"), "{text}");
    let unload = text.find("buggy-routing unload").unwrap();
    let finding = text
        .find("# ^ error buffer-leak: buffer #3 from GetData at event 78")
        .unwrap();
    assert!(unload < finding, "{text}");
    let text = stdout(&faxsim(&["show", "--no-findings", path]));
    assert!(!text.contains("# ^ "), "{text}");
    // The diagram of a part: what was left out, and the finding at its event.
    let out = faxsim(&[
        "show",
        "--format",
        "mermaid",
        "--around",
        "99",
        "--context",
        "6",
        path,
    ]);
    assert!(out.status.success());
    insta::assert_snapshot!("show_mermaid_around_99", stdout(&out));
    let d = stdout(&faxsim(&[
        "show",
        "--format",
        "mermaid",
        "--no-findings",
        path,
    ]));
    assert!(
        !d.contains("error buffer-leak") && d.contains("(7) FaxExtConfigChange"),
        "{d}"
    );
    // Bad windows and names are usage errors that name what exists.
    let out = faxsim(&["show", "--ext", "nosuch", path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no extension \"nosuch\": the trace has careful-fsp, careful-vfsp, careful-routing, buggy-routing"), "{}", stderr(&out));
    let out = faxsim(&["show", "--from", "10", "--to", "5", path]);
    assert_eq!(out.status.code(), Some(2));
    let out = faxsim(&["show", "--around", "5", "--from", "1", path]);
    assert_eq!(out.status.code(), Some(2));
    // A window past the end draws an empty, valid diagram that says so.
    let d = stdout(&faxsim(&[
        "show", "--format", "mermaid", "--from", "5000", path,
    ]));
    assert!(d.contains("no event of the trace is in this window"), "{d}");
}

#[test]
fn show_mermaid_and_redacted_text_are_stable() {
    let path = "tests/golden/v1/walkthrough-seed0-sync.trace";
    let out = faxsim(&["show", "--format", "mermaid", path]);
    assert!(out.status.success());
    insta::assert_snapshot!("show_mermaid", stdout(&out));
    let out = faxsim(&["show", "--redact", "tests/golden/v1/every-kind.trace"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(!text.contains("01000000"), "a payload leaked:\n{text}");
    insta::assert_snapshot!("show_text_redacted", text);
    // Every format redacts.
    for format in ["text", "jsonl", "mermaid", "chrome"] {
        for file in ["every-kind", "walkthrough-seed0-sync"] {
            let path = format!("tests/golden/v1/{file}.trace");
            let out = faxsim(&["show", "--redact", "--format", format, &path]);
            assert!(out.status.success());
            let text = stdout(&out);
            for secret in [
                "01000000",
                "02000000",
                "000102030405",
                "69646c65",
                "[1,0,0,0]",
                "[2,0,0,0]",
                "0,1,2,3,4,5",
            ] {
                assert!(!text.contains(secret), "{format} {file}: {secret} leaked");
            }
            assert!(text.contains("len=4 sha256:"), "{format} {file}");
        }
    }
}

#[test]
fn show_chrome_pairs_every_call_with_its_return_per_thread() {
    for name in [
        "walkthrough-seed0-sync",
        "walkthrough-seed7-deferred",
        "every-kind",
    ] {
        let out = faxsim(&[
            "show",
            "--format",
            "chrome",
            &format!("tests/golden/v1/{name}.trace"),
        ]);
        assert!(out.status.success());
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let events = doc["traceEvents"].as_array().unwrap();
        let mut depth: std::collections::HashMap<u64, i64> = Default::default();
        let mut last_ts = 0;
        let mut findings = 0;
        for e in events {
            let tid = e["tid"].as_u64().unwrap();
            // A finding is an instant event at the time of the event it marks.
            if e["cat"] == "finding" {
                findings += 1;
                assert_eq!(e["ph"], "i", "{e}");
                assert_eq!(e["ts"].as_u64(), Some(last_ts), "{name}: {e}");
                assert!(e["args"]["message"].is_string(), "{e}");
                continue;
            }
            match e["ph"].as_str().unwrap() {
                "B" => *depth.entry(tid).or_default() += 1,
                "E" => {
                    let d = depth.entry(tid).or_default();
                    *d -= 1;
                    assert!(*d >= 0, "{name}: unmatched E on thread {tid}: {e}");
                }
                "i" | "M" => {}
                other => panic!("unexpected phase {other}"),
            }
            if let Some(ts) = e["ts"].as_u64() {
                assert!(ts > last_ts || last_ts == 0, "{name}: ts goes back at {e}");
                last_ts = ts;
            }
        }
        if name != "every-kind" {
            assert!(depth.values().all(|&d| d == 0), "{name}: {depth:?}");
        }
        assert!(events.len() > 20, "{name}");
        // The buggy routing extension of the walkthrough has findings, shown at their events.
        if name.starts_with("walkthrough") {
            assert!(findings > 0, "{name}: no finding marked");
        }
    }
}

#[test]
fn convert_binary_to_jsonl_and_back_gives_the_same_trace() {
    let dir = scratch("convert");
    for &(name, _, _) in GOLDEN {
        let src = golden(name);
        let jsonl = dir.join("t.jsonl");
        let back = dir.join("t.trace");
        let out = faxsim(&["convert", src.to_str().unwrap(), jsonl.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        // `show --format jsonl` prints the same text.
        let shown = faxsim(&["show", "--format", "jsonl", src.to_str().unwrap()]);
        assert_eq!(shown.stdout, std::fs::read(&jsonl).unwrap());
        let out = faxsim(&["convert", jsonl.to_str().unwrap(), back.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!dir.join("t.trace.partial").exists());
        let a = read_trace(&std::fs::read(&src).unwrap()[..]).unwrap();
        let b = read_trace(&std::fs::read(&back).unwrap()[..]).unwrap();
        assert_eq!(a, b, "{name}");
        // Same build, same bytes.
        let original = std::fs::read(&src).unwrap();
        let again = std::fs::read(&back).unwrap();
        let skip = 13 + original[12] as usize;
        assert_eq!(original[skip..], again[13 + again[12] as usize..], "{name}");
    }
}

#[test]
fn convert_rejects_an_edited_jsonl_with_its_line_and_leaves_no_output() {
    let dir = scratch("convert-bad");
    let text = std::fs::read_to_string(golden("v1/walkthrough-seed0-sync.jsonl")).unwrap();
    let cases = [
        // An event dropped: the end line's count catches it.
        (
            text.lines()
                .filter(|l| !l.starts_with("{\"seq\":5,"))
                .collect::<Vec<_>>()
                .join("\n"),
            "line 107",
        ),
        // A payload edited: the hash catches it.
        (
            text.replacen("\"data\":[0,0,0,0]", "\"data\":[0,0,0,1]", 1),
            "line 108",
        ),
        // Broken JSON.
        (
            text.replacen("\"seq\":3,", "\"seq\":3", 1),
            "line 5, column",
        ),
    ];
    for (content, expected) in cases {
        let src = dir.join("in.jsonl");
        std::fs::write(&src, content).unwrap();
        let dst = dir.join("out.trace");
        let out = faxsim(&["convert", src.to_str().unwrap(), dst.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("in.jsonl") && err.contains(expected),
            "{expected}: {err}"
        );
        assert!(!dst.exists() && !dir.join("out.trace.partial").exists());
    }
}

// ---- bad files ----------------------------------------------------------------------------

#[test]
fn bad_files_exit_2_with_one_line_naming_the_file() {
    let dir = scratch("bad");
    let golden_bytes = std::fs::read(golden("v1/every-kind.trace")).unwrap();
    let files: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.trace", vec![], "the file is empty"),
        (
            "text.trace",
            b"hello, world\n".to_vec(),
            "not a faxsim trace",
        ),
        (
            "elf.trace",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(),
            "not a faxsim trace",
        ),
        (
            "future.trace",
            with_version(golden_bytes.clone(), 2, 1),
            "written by faxsim 0.1.0 in format 2.1; this build reads 1.x",
        ),
        (
            "magic-only.trace",
            golden_bytes[..8].to_vec(),
            "truncated before the first event",
        ),
        ("notjson.jsonl", b"{nope\n".to_vec(), "line 1, column 2"),
    ];
    let missing = dir.join("missing.trace");
    let mut cases: Vec<(PathBuf, &str)> = vec![(missing, "cannot open")];
    for (name, bytes, msg) in &files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        cases.push((p, msg));
    }
    for (path, msg) in &cases {
        let p = path.to_str().unwrap();
        for args in [
            vec!["show", p],
            vec!["show", "--format", "chrome", p],
            vec!["check", p],
            vec!["check", "--format", "json", p],
            vec!["convert", p, dir.join("out").to_str().unwrap()],
        ] {
            let out = faxsim(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(
                err.starts_with(&format!("faxsim: {p}: ")),
                "{args:?}: {err}"
            );
            assert!(err.contains(msg), "{args:?}: expected {msg:?} in {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn a_truncated_trace_shows_and_checks_what_it_has_then_exits_2() {
    let dir = scratch("torn");
    let bytes = std::fs::read(golden("v1/walkthrough-seed0-sync.trace")).unwrap();
    let (_, fr) = frames(&bytes);
    // Cut in the middle of the frame holding event 50.
    let events_before: Vec<_> = fr.iter().filter(|f| f.1 == 0x80).collect();
    let cut = events_before[50].0 + 3;
    let path = dir.join("torn.trace");
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let p = path.to_str().unwrap();
    let out = faxsim(&["show", p]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("    49 t="), "{text}");
    assert!(!text.contains("    50 t="), "{text}");
    let msg = format!(
        "truncated after event 49 at byte {} (50 events salvaged)",
        events_before[50].0
    );
    assert!(text.contains(&format!("# damaged: {msg}")), "{text}");
    assert_eq!(stderr(&out).trim(), format!("faxsim: {p}: {msg}"));
    let out = faxsim(&["check", "--format", "json", p]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    // The duplicate registration at event 53 is after the cut; nothing before it fires.
    assert_eq!(doc["runs"][0]["findings"], serde_json::json!([]));
    assert!(
        stderr(&out).contains("checked the 50 events before it"),
        "{}",
        stderr(&out)
    );
    // Salvage into a clean file.
    let fixed = dir.join("fixed.trace");
    let out = faxsim(&[
        "convert",
        "--to",
        "binary",
        "--salvage",
        p,
        fixed.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let t = read_trace(&std::fs::read(&fixed).unwrap()[..]).unwrap();
    assert_eq!(t.events.len(), 50);
}

#[test]
fn a_corrupted_frame_is_named_by_index_and_offset() {
    let dir = scratch("crc");
    let mut bytes = std::fs::read(golden("v1/walkthrough-seed0-sync.trace")).unwrap();
    let (_, fr) = frames(&bytes);
    let (at, _, _) = fr[20];
    bytes[at + 6] ^= 0x10;
    let path = dir.join("crc.trace");
    std::fs::write(&path, &bytes).unwrap();
    let out = faxsim(&["show", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("CRC mismatch in frame 20 at byte {at}")),
        "{err}"
    );
}

#[test]
fn json_lines_without_a_header_still_show_and_check() {
    let dir = scratch("headerless");
    let text = std::fs::read_to_string(golden("v1/walkthrough-seed0-sync.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let bare = lines[1..lines.len() - 1].join("\n") + "\n";
    let path = dir.join("bare.jsonl");
    std::fs::write(&path, bare).unwrap();
    let p = path.to_str().unwrap();
    let out = faxsim(&["check", "--format", "json", p]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("note: no header line"),
        "{}",
        stderr(&out)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let findings = doc["runs"][0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 5);
    assert_eq!(findings[0]["extension"], "ext#3");
    let out = faxsim(&["show", p]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("    71 t=2      th0  ext#0"),
        "{}",
        stdout(&out)
    );
}
