//! The recording proxy's conformance arm: a C fixture hosted by `faxsim validate` through
//! the proxy (`sim/recorder`) must look to the service exactly as it does without it, and
//! the proxy's own traces must say what the direct run says.
//!
//! For each fixture of the table:
//!
//! 1. `faxsim validate <proxy> --record host.trace --seeds 3 --isolate`, with a
//!    configuration file beside the proxy copy that wraps the fixture, and
//!    `faxsim validate <fixture> --record direct.trace --seeds 3 --isolate`: the two
//!    host traces must hold the same events, seed by seed, and the reports the same
//!    findings and exit code.
//! 2. The proxy wrote one trace per service run of the battery (each load of the proxy
//!    is a fresh instance). Per run, its events must equal the direct run's events of
//!    that extension, up to what a recorder cannot know ([`normalize`]), and
//!    `faxsim check` on them must give the direct run's rule ids for that run, but for
//!    the rules a recorder cannot observe ([`UNOBSERVABLE`]).
//!
//! The proxies are built with a nested `cargo build` into a target directory of this
//! test binary's own, or taken from `FAXSIM_PREBUILT_RECORDER` (a folder holding the three
//! proxy libraries, as `.ci/windows-under-wine` cross-builds them: Wine cannot run cargo).
//! The fixtures come from `tests/support/cfixtures.rs` (or `FAXSIM_PREBUILT_FIXTURES`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use faxsim_trace::{
    BufferArg, BufferId, CallbackId, Event, EventKind, ExtId, ForeignId, HInstArg, HandleArg,
    HandleId, read_trace,
};
use serde_json::Value;

#[path = "support/cfixtures.rs"]
mod cfixtures;

use cfixtures::lib_file;

// ---- building -------------------------------------------------------------------------

/// The fixtures of `extensions/c` and the ones of `tests/support/recorder_*.c`.
fn fixtures() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = cfixtures::build_all("recorder-fixtures")?;
        if std::env::var_os("FAXSIM_PREBUILT_FIXTURES").is_none() {
            let compiler = cfixtures::compiler(0)?;
            let support = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support");
            for stem in EXTRA_FIXTURES {
                let src = support.join(format!("{stem}.c"));
                if let Err(e) = cfixtures::compile(&compiler, &src, &dir.join(lib_file(stem))) {
                    panic!("{e}");
                }
            }
        }
        Some(dir)
    })
    .as_deref()
}

/// Fixtures of this test's own, in `tests/support/` (the Wine script builds them too).
const EXTRA_FIXTURES: [&str; 2] = ["recorder_vfsp_bugs", "recorder_entry_points"];

/// The folder with the three proxy libraries.
fn proxies() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FAXSIM_PREBUILT_RECORDER") {
            return PathBuf::from(dir);
        }
        // A target directory of its own: the test's cargo holds no lock while tests run,
        // but sharing its directory would rebuild the world.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("recorder-proxies");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet"])
            .args(["-p", "faxsim-recorder-fsp"])
            .args(["-p", "faxsim-recorder-vfsp"])
            .args(["-p", "faxsim-recorder-routing"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the proxies build");
        target.join("debug")
    })
}

/// The three proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proxy {
    Fsp,
    VirtualFsp,
    Routing,
}

impl Proxy {
    fn stem(self) -> &'static str {
        match self {
            Proxy::Fsp => "faxsim_recorder_fsp",
            Proxy::VirtualFsp => "faxsim_recorder_vfsp",
            Proxy::Routing => "faxsim_recorder_routing",
        }
    }
}

/// A fresh folder holding a copy of `proxy` and the configuration `config` beside it
/// (named after the copy); returns the copy's path.
fn install(name: &str, proxy: Proxy, config: Option<&str>) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("recorder-cases")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = lib_file(proxy.stem());
    let copy = dir.join(&file);
    std::fs::copy(proxies().join(&file), &copy)
        .unwrap_or_else(|e| panic!("{}: {e}", proxies().join(&file).display()));
    if let Some(text) = config {
        let stem = Path::new(&file).file_stem().unwrap().to_string_lossy();
        std::fs::write(dir.join(format!("{stem}.toml")), text).unwrap();
    }
    copy
}

/// A TOML string for a path (forward slashes: valid on Windows too, and no escapes).
fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

fn faxsim(args: &[&str], lib: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .arg("validate")
        .arg(lib)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("FAXSIM_RECORDER_CONFIG")
        .env_remove("FAXSIM_RECORDER_EXTENSION")
        .env_remove("FAXSIM_RECORDER_TRACE")
        .output()
        .expect("faxsim runs")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn events_of(path: &Path) -> Vec<Event> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_trace(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .events
}

// ---- what a recorder can know -----------------------------------------------------------

/// Rules a recorder's trace cannot support, excluded from the findings comparison:
/// - `buffer-overrun`, `write-after-free`: found by the guard zones and poison of the
///   host's buffers; a real service's buffers have none, so the recorder sees no damage
///   (the host still does, through the proxy: the host traces compare equal);
/// - `extension-crashed`, `extension-hung`: observations of an isolating host;
/// - `missed-notification`, `notify-self`, `notify-mismatch`, `notify-after-unregister`,
///   `notify-after-shutdown`, `notification-storm`: they need the writes of other
///   extensions and external writers (the `cause` of each notification) and the
///   service's delivery policy, which a recorder of one extension does not see;
/// - `call-after-unload`, `call-before-config-init`: calls through callback pointers
///   kept across an unload go to the unloaded proxy (see docs/recorder.md).
const UNOBSERVABLE: [&str; 12] = [
    "buffer-overrun",
    "write-after-free",
    "extension-crashed",
    "extension-hung",
    "missed-notification",
    "notify-self",
    "notify-mismatch",
    "notify-after-unregister",
    "notify-after-shutdown",
    "notification-storm",
    "call-after-unload",
    "call-before-config-init",
];

/// Whether an event of the direct run is invisible to a recorder (the host's own
/// observations).
fn host_only(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::BufferDamaged { .. }
            | EventKind::DeliveryCut { .. }
            | EventKind::ExtensionCrashed { .. }
            | EventKind::ExtensionHung { .. }
    )
}

/// The events without job calls that reached nothing: a proxy exports every job entry
/// point of its kind, so validate drives jobs on it even when the library behind it has
/// none, and the proxy answers its FaxDevStartJob FALSE at once (the battery goes no
/// further); directly, such a library is never called. (A FaxDevStartJob answered FALSE
/// with nothing inside it is dropped from both sides.) Renumbered.
/// Also returns the old → new event numbers.
fn without_unexported_jobs(events: Vec<Event>) -> (Vec<Event>, BTreeMap<u64, u64>) {
    let unanswered = |a: &Event, b: &Event| {
        matches!(&a.kind, EventKind::EntryPointCall { function } if &**function == "FaxDevStartJob")
            && matches!(b.kind, EventKind::EntryPointReturn { result: 0 })
    };
    let mut kept: Vec<Event> = Vec::with_capacity(events.len());
    let mut i = 0;
    while i < events.len() {
        if i + 1 < events.len() && unanswered(&events[i], &events[i + 1]) {
            i += 2;
            continue;
        }
        kept.push(events[i].clone());
        i += 1;
    }
    let new: BTreeMap<u64, u64> = kept
        .iter()
        .enumerate()
        .map(|(n, e)| (e.seq, n as u64))
        .collect();
    let at = |seq: &mut u64| *seq = new.get(seq).copied().unwrap_or(u64::MAX);
    for (n, e) in kept.iter_mut().enumerate() {
        e.seq = n as u64;
        match &mut e.kind {
            EventKind::ConfigChangeCall { cause: Some(c), .. } => at(c),
            EventKind::ChangeDataWritten { delivery, .. } => at(delivery),
            EventKind::InputWritten { call, .. } => at(call),
            EventKind::FreeBufferCall {
                buffer: BufferArg::ChangeData { delivery },
            } => at(delivery),
            _ => {}
        }
    }
    (kept, new)
}

/// The host traces with foreign buffer ids left out: a foreign id names a raw pointer in
/// first-seen order, and a pointer into a library (`buggy_foreign_free` frees its own
/// static copy) depends on where the loader mapped it at each reload, which differs
/// between the proxy's process and the direct one.
fn without_foreign_buffer_ids(mut events: Vec<Event>) -> Vec<Event> {
    for e in &mut events {
        if let EventKind::FreeBufferCall {
            buffer: BufferArg::Foreign(f),
        } = &mut e.kind
        {
            *f = ForeignId(0);
        }
    }
    events
}

/// First-seen renumbering.
struct Renumber<K: Ord>(BTreeMap<K, u32>);

impl<K: Ord> Default for Renumber<K> {
    fn default() -> Self {
        Renumber(BTreeMap::new())
    }
}

impl<K: Ord> Renumber<K> {
    fn id(&mut self, k: K) -> u32 {
        let next = self.0.len() as u32 + 1;
        *self.0.entry(k).or_insert(next)
    }
}

/// A foreign value of the direct run: one the service never issued, or another
/// extension's module handle (a recorder of one extension cannot tell the two apart).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Stranger {
    Foreign(u32),
    OtherExt(u16),
}

/// One run's events of extension 0 as a recorder can know them, each with whether the
/// direct run marked it injected. What differs, and why:
/// - `seq`, `time`: a recorder numbers its own events and has no virtual clock;
/// - thread ids: the host numbers extension threads over the whole battery, a recorder
///   per instance (0 being the service's thread on both sides): renumbered per run;
/// - handle, buffer, callback and foreign ids: the simulator numbers them per machine
///   (they keep counting across restarts, and include other extensions'); a recorder
///   numbers them per instance: both are renumbered in first-seen order;
/// - `injected`: faxsim's fault injection is invisible on the other side of the ABI (a
///   real service injects nothing);
/// - `cause`: the write behind a notification is another party's event;
/// - another extension's hInst is just a foreign value to a recorder;
/// - the host's own observations (buffer damage, cut deliveries, crashes) are dropped.
fn normalize(events: &[Event]) -> (Vec<Event>, Vec<bool>) {
    let kept: Vec<&Event> = events.iter().filter(|e| !host_only(&e.kind)).collect();
    let index: BTreeMap<u64, u64> = kept
        .iter()
        .enumerate()
        .map(|(i, e)| (e.seq, i as u64))
        .collect();
    let mut handles = Renumber::default();
    let mut buffers = Renumber::default();
    let mut callbacks = Renumber::default();
    let mut strangers = Renumber::default();
    let mut threads = Renumber::default();
    let mut injected = Vec::new();
    let hinst = |h: HInstArg, strangers: &mut Renumber<Stranger>| match h {
        HInstArg::Ext(ExtId(0)) | HInstArg::Null => h,
        HInstArg::Ext(ExtId(n)) => {
            HInstArg::Foreign(ForeignId(strangers.id(Stranger::OtherExt(n))))
        }
        HInstArg::Foreign(ForeignId(f)) => {
            HInstArg::Foreign(ForeignId(strangers.id(Stranger::Foreign(f))))
        }
    };
    let out = kept
        .iter()
        .enumerate()
        .map(|(i, e)| {
            use EventKind as K;
            let mut was_injected = false;
            let mut clear = |flag: &mut bool| {
                was_injected |= *flag;
                *flag = false;
            };
            let mut kind = e.kind.clone();
            match &mut kind {
                K::GetDataReturn {
                    buffer, injected, ..
                } => {
                    *buffer = buffer.map(|b| BufferId(buffers.id(b.0)));
                    clear(injected);
                }
                K::SetDataCall { hinst: h, .. } => *h = hinst(*h, &mut strangers),
                K::SetDataReturn { injected, .. } | K::UnregisterReturn { injected, .. } => {
                    clear(injected)
                }
                K::RegisterCall {
                    hinst: h, callback, ..
                } => {
                    *h = hinst(*h, &mut strangers);
                    *callback = callback.map(|c| CallbackId(callbacks.id(c.0)));
                }
                K::RegisterReturn {
                    handle, injected, ..
                } => {
                    *handle = handle.map(|h| HandleId(handles.id(h.0)));
                    clear(injected);
                }
                K::UnregisterCall { handle } => {
                    *handle = match *handle {
                        HandleArg::Handle(h) => HandleArg::Handle(HandleId(handles.id(h.0))),
                        HandleArg::Foreign(ForeignId(f)) => {
                            HandleArg::Foreign(ForeignId(strangers.id(Stranger::Foreign(f))))
                        }
                        other => other,
                    }
                }
                K::FreeBufferCall { buffer } => {
                    *buffer = match *buffer {
                        BufferArg::Buffer(b) => BufferArg::Buffer(BufferId(buffers.id(b.0))),
                        BufferArg::ChangeData { delivery } => BufferArg::ChangeData {
                            delivery: index.get(&delivery).copied().unwrap_or(u64::MAX),
                        },
                        BufferArg::Foreign(ForeignId(f)) => {
                            BufferArg::Foreign(ForeignId(strangers.id(Stranger::Foreign(f))))
                        }
                        BufferArg::Null => BufferArg::Null,
                    }
                }
                K::ConfigChangeCall {
                    handle,
                    callback,
                    cause,
                    ..
                } => {
                    *handle = HandleId(handles.id(handle.0));
                    *callback = CallbackId(callbacks.id(callback.0));
                    *cause = None;
                }
                K::ConfigChangeReturn { handle, .. } => *handle = HandleId(handles.id(handle.0)),
                K::ChangeDataWritten { delivery, .. } => {
                    *delivery = index.get(delivery).copied().unwrap_or(u64::MAX)
                }
                K::InputWritten { call, .. } => {
                    *call = index.get(call).copied().unwrap_or(u64::MAX)
                }
                _ => {}
            }
            injected.push(was_injected);
            Event {
                seq: i as u64,
                time: 0,
                thread: threads.id(e.thread) as u16 - 1,
                ext: e.ext,
                kind,
            }
        })
        .collect();
    (out, injected)
}

/// The direct run of one seed, cut into service runs (at each `ServiceStart`): each
/// run's normalised events of extension 0 with their injected flags, and the index of
/// the run's first event in the seed's trace.
struct DirectRun {
    start: u64,
    events: Vec<Event>,
    injected: Vec<bool>,
}

fn direct_runs(events: &[Event]) -> Vec<DirectRun> {
    let mut runs: Vec<(u64, Vec<Event>)> = Vec::new();
    for e in events {
        if matches!(e.kind, EventKind::ServiceStart { .. }) {
            runs.push((e.seq, Vec::new()));
        } else if e.ext == Some(ExtId(0))
            && let Some((_, run)) = runs.last_mut()
        {
            run.push(e.clone());
        }
    }
    runs.into_iter()
        .map(|(start, evs)| {
            let (events, injected) = normalize(&evs);
            DirectRun {
                start,
                events,
                injected,
            }
        })
        .collect()
}

/// A recorder trace's events, normalised (the leading `ServiceStart` dropped); the
/// header must name the real library `real` (when given) by name and SHA-256.
fn recorder_run(path: &Path, real: Option<&Path>) -> Vec<Event> {
    let file = std::fs::File::open(path).unwrap();
    let trace = read_trace(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: not a whole trace: {e}", path.display()));
    assert_eq!(trace.header.origin, "recorder");
    assert_eq!(trace.header.seed, 0);
    assert_eq!(trace.header.extensions.len(), 1);
    if let Some(real) = real {
        let ext = &trace.header.extensions[0];
        assert_eq!(ext.name, cfixtures_name(real));
        assert_eq!(ext.sha256, Some(faxsim_trace::sha256_file(real).unwrap()));
    }
    let first = trace.events.first().map(|e| &e.kind);
    assert!(
        matches!(first, Some(EventKind::ServiceStart { run: 1 })),
        "{}: starts with {first:?}",
        path.display()
    );
    assert!(trace.events[1..].iter().all(|e| e.ext == Some(ExtId(0))));
    normalize(&trace.events[1..]).0
}

/// The first difference between two event lists, for a message.
fn first_difference(a: &[Event], b: &[Event]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |v: &[Event]| {
        v.get(i)
            .map(|e| serde_json::to_string(e).unwrap())
            .unwrap_or_else(|| "(end)".into())
    };
    format!(
        "at event {i} of {} vs {}:\n  recorder: {}\n  direct:   {}",
        a.len(),
        b.len(),
        show(a),
        show(b)
    )
}

/// Rule ids by extension name from a report's run (`runs[i].findings`).
fn rules(findings: &Value, ext: &str) -> Vec<(String, u64)> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["extension"] == ext)
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["event"].as_u64().unwrap(),
            )
        })
        .collect()
}

// ---- the conformance arm ------------------------------------------------------------------

/// Runs one fixture through both paths and compares; `Err` says what differs.
fn conformance(fixture: &str, proxy: Proxy) -> Result<(), String> {
    let real = fixtures().unwrap().join(lib_file(fixture));
    let lib = install(
        fixture,
        proxy,
        Some(&format!(
            "extension = \"{}\"\ntrace = \"rec/{{pid}}-{{n}}.trace\"\n",
            toml_path(&real)
        )),
    );
    let dir = lib.parent().unwrap().to_path_buf();
    let host_trace = dir.join("host.trace");
    let direct_trace = dir.join("direct.trace");
    let seed_trace = |t: &Path, s: usize| {
        t.with_file_name(format!(
            "{}-seed{s}.trace",
            t.file_stem().unwrap().to_string_lossy()
        ))
    };
    // One validate per seed: each seed's worker is a process of its own, so the
    // recorder (which writes one trace per process and load) records each seed apart.
    let run = |lib: &Path, t: &Path, s: usize| {
        let args = [
            "--record".to_string(),
            seed_trace(t, s).display().to_string(),
            "--seed".into(),
            s.to_string(),
            "--format".into(),
            "json".into(),
        ];
        faxsim(&args.iter().map(String::as_str).collect::<Vec<_>>(), lib)
    };
    let mut problems = Vec::new();
    let proxy_name = cfixtures_name(&lib);
    let mut direct_seeds = Vec::new();
    let mut direct_findings_of = Vec::new();
    for s in 0..3 {
        let (host, direct) = (run(&lib, &host_trace, s), run(&real, &direct_trace, s));
        if host.status.code() != direct.status.code() {
            problems.push(format!(
                "seed {s}: exit {:?} through the proxy, {:?} direct",
                host.status.code(),
                direct.status.code()
            ));
        }
        let (host_json, direct_json) = (json(&host), json(&direct));
        let (h, h_seq) = without_unexported_jobs(events_of(&seed_trace(&host_trace, s)));
        let (d, d_seq) = without_unexported_jobs(events_of(&seed_trace(&direct_trace, s)));
        if without_foreign_buffer_ids(h.clone()) != without_foreign_buffer_ids(d.clone()) {
            problems.push(format!(
                "seed {s}: the host traces differ {}",
                first_difference(&h, &d)
            ));
        }
        let renumber = |found: Vec<(String, u64)>, seq: &BTreeMap<u64, u64>| {
            found
                .into_iter()
                .map(|(r, e)| (r, seq.get(&e).copied().unwrap_or(e)))
                .collect::<Vec<_>>()
        };
        let hf = renumber(
            rules(&host_json["runs"][0]["findings"], &proxy_name),
            &h_seq,
        );
        direct_findings_of.push(rules(&direct_json["runs"][0]["findings"], fixture));
        let df = renumber(rules(&direct_json["runs"][0]["findings"], fixture), &d_seq);
        if hf != df {
            problems.push(format!(
                "seed {s}: findings {hf:?} through the proxy, {df:?} direct"
            ));
        }
        direct_seeds.push(direct_runs(&d));
    }

    // The recorder's traces: one folder, `{pid}-{n}.trace`; one process per seed.
    let rec = dir.join("rec");
    let mut groups: BTreeMap<u64, BTreeMap<u32, PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(&rec).map_err(|e| format!("{}: {e}", rec.display()))? {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (pid, n) = stem.split_once('-').expect("{pid}-{n}");
        groups
            .entry(pid.parse().unwrap())
            .or_default()
            .insert(n.parse().unwrap(), path);
    }
    if groups.len() != 3 {
        problems.push(format!(
            "{} recorder processes, want 3 (one per seed)",
            groups.len()
        ));
    }
    let check = Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .args(["check", "--format", "json"])
        .args(groups.values().flat_map(|g| g.values()))
        .output()
        .expect("faxsim runs");
    let checked = json(&check);
    let mut rec_findings: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for run in checked["runs"].as_array().unwrap() {
        let name = run["name"].as_str().unwrap().trim_start_matches("check:");
        rec_findings.insert(
            Path::new(name)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            rules(&run["findings"], fixture),
        );
    }
    let mut unmatched: Vec<usize> = (0..3).collect();
    for (rank, (pid, files)) in groups.iter().enumerate() {
        let runs: Vec<Vec<Event>> = files
            .values()
            .map(|p| recorder_run(p, Some(&real)))
            .collect();
        let fits = |s: &usize| {
            let d = &direct_seeds[*s];
            d.len() == runs.len() && d.iter().zip(&runs).all(|(d, r)| d.events == *r)
        };
        let Some(pos) = unmatched.iter().position(fits) else {
            let s = unmatched
                .get(rank.min(unmatched.len().saturating_sub(1)))
                .copied();
            let detail = match s {
                Some(s) => {
                    let d = &direct_seeds[s];
                    match d.iter().zip(&runs).position(|(d, r)| d.events != *r) {
                        Some(i) => format!(
                            "run {} differs from seed {s}'s {}",
                            i + 1,
                            first_difference(&runs[i], &d[i].events)
                        ),
                        None => format!("{} runs, seed {s} has {}", runs.len(), d.len()),
                    }
                }
                None => "no seed left".into(),
            };
            problems.push(format!("process {pid}: no seed's runs match: {detail}"));
            continue;
        };
        let s = unmatched.remove(pos);
        // Findings, run by run: the direct run's for extension 0 (located by their event
        // index) against `faxsim check` on the recorder's trace of that run, leaving out
        // what a recorder cannot observe and what only faxsim's fault injection caused.
        let direct_findings = &direct_findings_of[s];
        for (i, (file, direct_run)) in files.values().zip(&direct_seeds[s]).enumerate() {
            let end = direct_seeds[s].get(i + 1).map_or(u64::MAX, |r| r.start);
            let mut want: Vec<&str> = direct_findings
                .iter()
                .filter(|(r, at)| {
                    *at >= direct_run.start && *at < end && !UNOBSERVABLE.contains(&r.as_str())
                })
                .map(|(r, _)| r.as_str())
                .collect();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let mut got: Vec<&str> = rec_findings
                .get(&name)
                .map(|v| v.as_slice())
                .unwrap_or_default()
                .iter()
                .filter(|(r, at)| {
                    // Event `at` of the recorder's trace is event `at - 1` of the run.
                    let injected = at
                        .checked_sub(1)
                        .and_then(|j| direct_run.injected.get(j as usize))
                        .copied()
                        .unwrap_or(false);
                    !injected && !UNOBSERVABLE.contains(&r.as_str())
                })
                .map(|(r, _)| r.as_str())
                .collect();
            want.sort();
            got.sort();
            if want != got {
                problems.push(format!(
                    "seed {s}, run {}: faxsim check on {} gives {got:?}, the direct run {want:?}",
                    i + 1,
                    file.display()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{fixture} through {proxy:?}:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The extension name faxsim gives a library file.
fn cfixtures_name(lib: &Path) -> String {
    let stem = lib.file_stem().unwrap().to_string_lossy().into_owned();
    match stem.strip_prefix("lib") {
        Some(rest) if !cfg!(windows) => rest.to_string(),
        _ => stem,
    }
}

/// Runs a table of fixtures on two threads; every failure is reported.
fn conformance_table(table: &[(&'static str, Proxy)]) {
    if fixtures().is_none() {
        return;
    }
    proxies();
    let chunks: Vec<Vec<(&'static str, Proxy)>> = table
        .chunks(table.len().div_ceil(2))
        .map(<[_]>::to_vec)
        .collect();
    let failures: Vec<String> = chunks
        .into_iter()
        .map(|chunk| {
            std::thread::spawn(move || {
                chunk
                    .into_iter()
                    .filter_map(|(f, p)| conformance(f, p).err())
                    .collect::<Vec<_>>()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// The fixtures export every optional entry point the proxy of their kind exports
// (FaxExtInitializeConfig for all; FaxDevShutdown for providers;
// FaxRouteDeviceChangeNotification for routing extensions): the service reads a
// library's optional exports into its `Load` event and calls them, so a fixture without
// one would look different through the proxy, which must export it.

#[test]
fn routing_extensions_look_the_same_through_the_proxy() {
    conformance_table(&[
        ("careful_routing", Proxy::Routing),
        // Calls from a thread the extension started.
        ("careful_threads", Proxy::Routing),
        // Register's failure reason, read from errno / GetLastError after the call and
        // published by the extension: the recording must not disturb it.
        ("errno_probe", Proxy::Routing),
        ("buggy_buffer_leak", Proxy::Routing),
        ("buggy_double_free", Proxy::Routing),
        ("buggy_foreign_free", Proxy::Routing),
        ("buggy_free_null", Proxy::Routing),
        ("buggy_change_buffer_written", Proxy::Routing),
        // Writes into the GUID strings of its ConfigChange and of FaxRouteDeviceEnable:
        // the proxy sees it too.
        ("buggy_input_written", Proxy::Routing),
        // Its configuration work is in the routing administration the battery drives.
        ("careful_routing_info", Proxy::Routing),
        ("buggy_foreign_hinst", Proxy::Routing),
        ("buggy_invalid_guid", Proxy::Routing),
        ("buggy_wrong_id_source", Proxy::Routing),
        ("buggy_busy_reentry", Proxy::Routing),
        ("buggy_duplicate_registration", Proxy::Routing),
        ("buggy_stale_unregister", Proxy::Routing),
        ("buggy_config_init_failed", Proxy::Routing),
        // Its rule needs guard zones: the host traces still match, the recorder's does
        // not report it (UNOBSERVABLE).
        ("buggy_write_after_free", Proxy::Routing),
    ]);
}

#[test]
fn providers_look_the_same_through_the_proxy() {
    conformance_table(&[
        ("careful_fsp", Proxy::Fsp),
        ("careful_job_fsp", Proxy::Fsp),
        ("buggy_registration_leak", Proxy::Fsp),
        ("buggy_config_init_failed_fsp", Proxy::Fsp),
        ("careful_vfsp", Proxy::VirtualFsp),
        ("recorder_vfsp_bugs", Proxy::VirtualFsp),
    ]);
}

/// The comparison can fail: a proxy wrapping another library than the one validated
/// directly is caught, in the host traces and in the recorder's.
#[test]
fn the_comparison_catches_a_different_extension() {
    let Some(dir) = fixtures() else { return };
    let real = dir.join(lib_file("buggy_buffer_leak"));
    let lib = install(
        "mismatch",
        Proxy::Routing,
        Some(&format!(
            "extension = \"{}\"\ntrace = \"rec/{{pid}}-{{n}}.trace\"\n",
            toml_path(&real)
        )),
    );
    // Validate the proxy (wrapping the leaky one) against the careful one directly.
    let o = faxsim(&["--format", "json"], &lib);
    let d = faxsim(
        &["--format", "json"],
        &dir.join(lib_file("careful_routing")),
    );
    assert_ne!(o.status.code(), d.status.code());
    let rec: Vec<PathBuf> = std::fs::read_dir(lib.parent().unwrap().join("rec"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!rec.is_empty());
    let direct = direct_runs(&{
        let t = lib.parent().unwrap().join("careful.trace");
        let _ = faxsim(
            &["--seed", "0", "--record", t.to_str().unwrap()],
            &dir.join(lib_file("careful_routing")),
        );
        events_of(&t)
    });
    let mut sorted = rec.clone();
    sorted.sort();
    let runs: Vec<Vec<Event>> = sorted.iter().map(|p| recorder_run(p, None)).collect();
    assert!(
        runs.iter().zip(&direct).any(|(r, d)| *r != d.events),
        "the normalisation must not hide a different extension"
    );
}

// ---- configuration and failure paths ------------------------------------------------------

/// The proxy's log beside it.
fn log_of(lib: &Path) -> String {
    let stem = lib.file_stem().unwrap().to_string_lossy();
    std::fs::read_to_string(lib.with_file_name(format!("{stem}.log"))).unwrap_or_default()
}

/// The rule ids of a validate report.
fn rule_set(v: &Value) -> Vec<String> {
    let mut r: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    r.sort();
    r.dedup();
    r
}

#[test]
fn an_unconfigured_proxy_fails_its_initialisation_and_says_why() {
    for (name, proxy, rule) in [
        ("unconfigured-routing", Proxy::Routing, "config-init-failed"),
        ("unconfigured-fsp", Proxy::Fsp, "config-init-failed"),
    ] {
        let lib = install(name, proxy, None);
        let o = faxsim(&["--format", "json"], &lib);
        assert_eq!(o.status.code(), Some(1), "{name}");
        assert_eq!(rule_set(&json(&o)), [rule], "{name}");
        let log = log_of(&lib);
        assert!(log.contains("not configured"), "{name}: {log}");
        assert!(log.contains("FAXSIM_RECORDER_CONFIG"), "{log}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("not configured"),
            "the reason is on stderr too"
        );
        // No trace without a configuration.
        assert!(!lib.with_file_name("rec").exists());
    }
    // A virtual FSP proxy fails its device creation, the first thing the service calls.
    let lib = install("unconfigured-vfsp", Proxy::VirtualFsp, None);
    let _ = faxsim(&["--format", "json"], &lib);
    assert!(log_of(&lib).contains("not configured"));
    assert!(!lib.with_file_name("rec").exists());
}

#[test]
fn a_broken_configuration_is_named_with_its_line_and_column() {
    let lib = install(
        "broken-config",
        Proxy::Routing,
        Some("extension = \"x.dll\"\ntrace = 5\n"),
    );
    let o = faxsim(&["--format", "json"], &lib);
    assert_eq!(rule_set(&json(&o)), ["config-init-failed"]);
    // The file as the proxy names it (its own spelling of the path), line 2, column 9.
    let stem = lib.file_stem().unwrap().to_string_lossy();
    let log = log_of(&lib);
    assert!(log.contains(&format!("{stem}.toml:2:9: ")), "{log}");
    assert!(log.contains("expected a string"), "{log}");
    let lib = install(
        "unknown-placeholder",
        Proxy::Routing,
        Some("extension = \"x.dll\"\ntrace = \"{ext}-{seq}.trace\"\n"),
    );
    let _ = faxsim(&[], &lib);
    let log = log_of(&lib);
    assert!(log.contains(":2:9: ") && log.contains("{seq}"), "{log}");
}

#[test]
fn a_real_library_that_does_not_load_fails_cleanly() {
    let lib = install(
        "missing-real",
        Proxy::Routing,
        Some("extension = \"no-such-extension.dll\"\n"),
    );
    let o = faxsim(&["--format", "json"], &lib);
    assert_eq!(rule_set(&json(&o)), ["config-init-failed"]);
    let log = log_of(&lib);
    assert!(log.contains("no-such-extension.dll"), "{log}");
    assert!(log.contains("cannot use the real extension"), "{log}");

    // The proxy itself, by mistake: forwarding would call it forever.
    let lib = install("itself", Proxy::Routing, None);
    let file = lib.file_name().unwrap().to_string_lossy().into_owned();
    let stem = lib.file_stem().unwrap().to_string_lossy().into_owned();
    std::fs::write(
        lib.with_file_name(format!("{stem}.toml")),
        format!("extension = \"{file}\"\n"),
    )
    .unwrap();
    let o = faxsim(&["--format", "json"], &lib);
    assert_eq!(rule_set(&json(&o)), ["config-init-failed"]);
    let log = log_of(&lib);
    assert!(log.contains("is this proxy itself"), "{log}");

    // The wrong kind: an FSP behind the routing proxy.
    let Some(dir) = fixtures() else { return };
    let lib = install(
        "wrong-kind",
        Proxy::Routing,
        Some(&format!(
            "extension = \"{}\"\n",
            toml_path(&dir.join(lib_file("careful_fsp")))
        )),
    );
    let o = faxsim(&["--format", "json", "--kind", "routing"], &lib);
    assert_eq!(rule_set(&json(&o)), ["config-init-failed"]);
    let log = log_of(&lib);
    assert!(log.contains("needs the export FaxRouteInitialize"), "{log}");
    assert!(log.contains("faxsim_recorder_fsp"), "{log}");
}

#[test]
fn the_environment_configures_a_proxy_and_a_named_file_takes_precedence() {
    let Some(dir) = fixtures() else { return };
    let careful = dir.join(lib_file("careful_routing"));
    let lib = install("environment", Proxy::Routing, None);
    let out = lib.with_file_name("env");
    let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .arg("validate")
        .arg(&lib)
        .args(["--format", "json"])
        .env("FAXSIM_RECORDER_EXTENSION", &careful)
        .env("FAXSIM_RECORDER_TRACE", out.join("{ext}.jsonl"))
        .env_remove("FAXSIM_RECORDER_CONFIG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", log_of(&lib));
    // One trace per service run, JSON Lines by its name, numbered when the name repeats.
    assert!(out.join("careful_routing.jsonl").is_file());
    assert!(out.join("careful_routing-2.jsonl").is_file());
    let first = std::fs::read_to_string(out.join("careful_routing.jsonl")).unwrap();
    assert!(
        first
            .lines()
            .next()
            .unwrap()
            .contains("\"origin\":\"recorder\"")
    );

    // A file beside the proxy wraps the leaky library; FAXSIM_RECORDER_CONFIG names one
    // that wraps the careful one, and wins.
    let lib = install(
        "config-precedence",
        Proxy::Routing,
        Some(&format!(
            "extension = \"{}\"\n",
            toml_path(&dir.join(lib_file("buggy_buffer_leak")))
        )),
    );
    let named = lib.with_file_name("named.toml");
    std::fs::write(
        &named,
        format!(
            "extension = \"{}\"\ntrace = \"named/{{n}}.trace\"\n",
            toml_path(&careful)
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
        .arg("validate")
        .arg(&lib)
        .args(["--format", "json"])
        .env("FAXSIM_RECORDER_CONFIG", &named)
        .env_remove("FAXSIM_RECORDER_EXTENSION")
        .output()
        .unwrap();
    assert_eq!(rule_set(&json(&o)), Vec::<String>::new());
    assert!(lib.with_file_name("named").join("1.trace").is_file());
}

// ---- in-process: the proxy with a fake service ------------------------------------------

/// A fake fax service: the five callbacks, each keeping what it was given.
mod fake {
    use std::ffi::c_void;
    use std::sync::Mutex;

    /// What the service saw.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Call {
        GetData(u32),
        SetData {
            hinst: usize,
            device: u32,
        },
        Register {
            hinst: usize,
            device: u32,
            callback: usize,
        },
        Unregister(usize),
        FreeBuffer(usize),
    }

    pub static CALLS: Mutex<Vec<Call>> = Mutex::new(Vec::new());
    static DATA: [u8; 4] = [1, 0, 0, 0];

    fn push(c: Call) {
        CALLS.lock().unwrap().push(c);
    }

    pub unsafe extern "system" fn get_data(
        device: u32,
        _source: i32,
        _guid: *const u16,
        pp: *mut *mut u8,
        psize: *mut u32,
    ) -> u32 {
        push(Call::GetData(device));
        // SAFETY: the extension's out-pointers, valid for the call.
        unsafe {
            *pp = DATA.as_ptr().cast_mut();
            *psize = 4;
        }
        0
    }

    pub unsafe extern "system" fn set_data(
        hinst: *mut c_void,
        device: u32,
        _source: i32,
        _guid: *const u16,
        _data: *mut u8,
        _size: u32,
    ) -> u32 {
        push(Call::SetData {
            hinst: hinst as usize,
            device,
        });
        0
    }

    pub unsafe extern "system" fn register(
        hinst: *mut c_void,
        device: u32,
        _source: i32,
        _guid: *const u16,
        callback: Option<unsafe extern "system" fn(u32, *const u16, *mut u8, u32) -> i32>,
    ) -> *mut c_void {
        let mut calls = CALLS.lock().unwrap();
        calls.push(Call::Register {
            hinst: hinst as usize,
            device,
            callback: callback.map_or(0, |f| f as usize),
        });
        std::ptr::without_provenance_mut(0x1000 + 16 * calls.len())
    }

    pub unsafe extern "system" fn unregister(h: *mut c_void) -> u32 {
        push(Call::Unregister(h as usize));
        0
    }

    pub unsafe extern "system" fn free_buffer(p: *mut c_void) {
        push(Call::FreeBuffer(p as usize));
    }

    /// The callbacks registered so far, in order.
    pub fn callbacks() -> Vec<usize> {
        CALLS
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| match c {
                Call::Register { callback, .. } => Some(*callback),
                _ => None,
            })
            .collect()
    }
}

/// The address range a library file is mapped at in this process (Linux), or its module
/// handle as a one-byte range (Windows); `None` elsewhere or when it is not loaded.
fn mapping(path: &Path) -> Option<std::ops::Range<usize>> {
    #[cfg(target_os = "linux")]
    {
        let path = std::fs::canonicalize(path).ok()?;
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let mut range: Option<std::ops::Range<usize>> = None;
        for line in maps.lines() {
            if !line.ends_with(&*path.to_string_lossy()) {
                continue;
            }
            let (a, rest) = line.split_once('-')?;
            let b = rest.split_whitespace().next()?;
            let (a, b) = (
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            );
            range = Some(match range {
                Some(r) => r.start.min(a)..r.end.max(b),
                None => a..b,
            });
        }
        range
    }
    #[cfg(windows)]
    {
        let lib = libloading::os::windows::Library::open_already_loaded(path).ok()?;
        let h = lib.into_raw() as usize;
        // SAFETY: the handle just taken, given back to be released.
        drop(unsafe { libloading::os::windows::Library::from_raw(h as _) });
        Some(h..h + 1)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = path;
        None
    }
}

type InitConfig = unsafe extern "system" fn(
    Option<unsafe extern "system" fn(u32, i32, *const u16, *mut *mut u8, *mut u32) -> u32>,
    Option<
        unsafe extern "system" fn(*mut std::ffi::c_void, u32, i32, *const u16, *mut u8, u32) -> u32,
    >,
    Option<
        unsafe extern "system" fn(
            *mut std::ffi::c_void,
            u32,
            i32,
            *const u16,
            Option<unsafe extern "system" fn(u32, *const u16, *mut u8, u32) -> i32>,
        ) -> *mut std::ffi::c_void,
    >,
    Option<unsafe extern "system" fn(*mut std::ffi::c_void) -> u32>,
    Option<unsafe extern "system" fn(*mut std::ffi::c_void)>,
) -> i32;
type ChangeFn = unsafe extern "system" fn(u32, *const u16, *mut u8, u32) -> i32;
type Method =
    unsafe extern "system" fn(*const std::ffi::c_void, *mut *mut std::ffi::c_void, *mut u32) -> i32;

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

/// Resolves an export of the proxy.
///
/// # Safety
///
/// `T` is the export's C type.
unsafe fn export<T: Copy>(lib: &libloading::Library, name: &str) -> T {
    // SAFETY: per the contract.
    *unsafe { lib.get::<T>(name.as_bytes()) }.unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The routing entry points the battery never calls, the routing-method forwarders, the
/// ConfigChange pool's limit, the hInst translation, and the real library's unload,
/// through the routing proxy with a fake service; then the job side through the FSP
/// proxy. One test: the fake service is process-wide.
#[test]
fn every_entry_point_is_forwarded_and_recorded() {
    let Some(dir) = fixtures() else { return };
    let real = dir.join(lib_file("recorder_entry_points"));
    let lib_path = install(
        "entry-points",
        Proxy::Routing,
        Some(&format!(
            "extension = \"{}\"\ntrace = \"rec/{{ext}}.jsonl\"\nmethods = [\"RouteToNowhere\", \"RegisterMany\", \"NoSuchExport\"]\n",
            toml_path(&real)
        )),
    );
    let trace = lib_path
        .with_file_name("rec")
        .join("recorder_entry_points.jsonl");
    let guid = wide("{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}");
    fake::CALLS.lock().unwrap().clear();
    // SAFETY: our own proxy library; loading it runs no initialiser of note (the real
    // library is loaded at the first call).
    let lib = unsafe { libloading::Library::new(&lib_path) }.unwrap();
    let proxy_range = mapping(&lib_path);
    assert!(
        proxy_range.is_some() || !cfg!(any(target_os = "linux", windows)),
        "the proxy is found among the loaded modules"
    );
    assert!(
        mapping(&real).is_none(),
        "the real library is loaded at the first entry point, not with the proxy"
    );
    let lp_data;
    // SAFETY: (every call below) the proxy's exports with their documented C types,
    // called with valid arguments that outlive each call.
    unsafe {
        let init: InitConfig = export(&lib, "FaxExtInitializeConfig");
        let hr = init(
            Some(fake::get_data),
            Some(fake::set_data),
            Some(fake::register),
            Some(fake::unregister),
            Some(fake::free_buffer),
        );
        assert_eq!(hr, 0);
        assert!(
            mapping(&real).is_some() || !cfg!(target_os = "linux"),
            "loaded lazily, now"
        );
        let route_init: unsafe extern "system" fn(
            *mut std::ffi::c_void,
            *mut std::ffi::c_void,
        ) -> i32 = export(&lib, "FaxRouteInitialize");
        assert_ne!(route_init(std::ptr::null_mut(), std::ptr::null_mut()), 0);
        // The real library lacks it: TRUE, and no event.
        let change: unsafe extern "system" fn(u32, i32) -> i32 =
            export(&lib, "FaxRouteDeviceChangeNotification");
        assert_eq!(change(1, 1), 1);
        let enable: unsafe extern "system" fn(*const u16, u32, i32) -> i32 =
            export(&lib, "FaxRouteDeviceEnable");
        assert_ne!(
            enable(guid.as_ptr(), 1, -1),
            0,
            "the flag the fake service stores is 1"
        );
        let get_info: unsafe extern "system" fn(*const u16, u32, *mut u8, *mut u32) -> i32 =
            export(&lib, "FaxRouteGetRoutingInfo");
        let mut size = 0u32;
        assert_ne!(
            get_info(guid.as_ptr(), 1, std::ptr::null_mut(), &mut size),
            0
        );
        assert_eq!(size, 4);
        let mut buf = [0u8; 8];
        size = buf.len() as u32;
        assert_ne!(get_info(guid.as_ptr(), 1, buf.as_mut_ptr(), &mut size), 0);
        assert_eq!((size, &buf[..4]), (4, &[1u8, 2, 3, 4][..]));
        let set_info: unsafe extern "system" fn(*const u16, u32, *const u8, u32) -> i32 =
            export(&lib, "FaxRouteSetRoutingInfo");
        assert_ne!(set_info(guid.as_ptr(), 1, [9u8, 9].as_ptr(), 2), 0);
        let method = |n: usize| -> i32 {
            let f: Method = export(&lib, &format!("FaxsimRouteMethod{n}"));
            let mut failure = std::ptr::null_mut();
            let mut failure_size = 0u32;
            f(std::ptr::null(), &mut failure, &mut failure_size)
        };
        assert_ne!(method(0), 0, "RouteToNowhere writes");
        assert_eq!(method(2), 0, "bound to an export the library lacks");
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(127),
            "ERROR_PROC_NOT_FOUND"
        );
        assert_eq!(method(9), 0, "bound to nothing");
        // A notification whose handler frees lpData.
        let callbacks = fake::callbacks();
        let mut data = [0xEEu8, 1];
        lp_data = data.as_ptr() as usize;
        let notify: ChangeFn = std::mem::transmute::<usize, ChangeFn>(callbacks[0]);
        assert_eq!(notify(0, guid.as_ptr(), data.as_mut_ptr(), 2), 0);
        // 65 more distinct ConfigChange functions: the pool (64) has 63 places left.
        assert_ne!(method(1), 0);
        let callbacks = fake::callbacks();
        assert_eq!(callbacks.len(), 66);
        for (i, &cb) in callbacks.iter().enumerate().skip(1) {
            let f: ChangeFn = std::mem::transmute::<usize, ChangeFn>(cb);
            let mut d = [i as u8];
            f(1000 + i as u32 - 1, guid.as_ptr(), d.as_mut_ptr(), 1);
        }
    }
    let calls = fake::CALLS.lock().unwrap().clone();
    // hInst translation: the service saw the proxy's module handle, never the real one's.
    let hinsts: Vec<usize> = calls
        .iter()
        .filter_map(|c| match c {
            fake::Call::SetData { hinst, .. } | fake::Call::Register { hinst, .. } => Some(*hinst),
            _ => None,
        })
        .collect();
    assert_eq!(hinsts.len(), 67);
    if let (Some(p), Some(r)) = (&proxy_range, mapping(&real)) {
        assert!(
            hinsts.iter().all(|h| p.contains(h)),
            "{hinsts:x?} not in {p:x?}"
        );
        assert!(hinsts.iter().all(|h| !r.contains(h)));
        // The first 64 distinct callbacks are wrappers inside the proxy, the rest the
        // extension's own functions (address ranges are known on Linux only).
        if cfg!(target_os = "linux") {
            let cbs = fake::callbacks();
            assert!(cbs[..64].iter().all(|c| p.contains(c)));
            assert!(cbs[64..].iter().all(|c| r.contains(c)));
        }
    }
    // The notification's lpData reached the service's FreeBuffer unchanged.
    assert!(
        calls.contains(&fake::Call::FreeBuffer(lp_data)),
        "{calls:?}"
    );
    drop(lib);
    // Unloaded: the proxy, and with it the real library (its globals reset as without
    // the proxy).
    if cfg!(target_os = "linux") {
        assert!(mapping(&lib_path).is_none(), "the proxy is unloaded");
        assert!(mapping(&real).is_none(), "the real library is unloaded");
    }
    if cfg!(windows) {
        // The proxy's DllMain hands the unload to a kernel32 thread (no FreeLibrary
        // inside DllMain): it is gone soon after.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while mapping(&real).is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(mapping(&lib_path).is_none(), "the proxy is unloaded");
        assert!(mapping(&real).is_none(), "the real library is unloaded");
    }
    let events: Vec<Value> = std::fs::read_to_string(&trace)
        .unwrap_or_else(|e| panic!("{}: {e}", trace.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<String> = events[1..events.len() - 1]
        .iter()
        .map(|e| e["kind"]["type"].as_str().unwrap().to_string())
        .collect();
    let head: Vec<&str> = kinds.iter().take(29).map(String::as_str).collect();
    assert_eq!(
        head,
        [
            "service-start",
            "load",
            "initialize-config-call",
            "initialize-config-return",
            "route-initialize-call",
            "register-call",
            "register-return",
            "route-initialize-return",
            // FaxRouteDeviceChangeNotification: not exported, not recorded.
            "route-device-enable-call",
            "get-data-call",
            "get-data-return",
            "free-buffer-call",
            "free-buffer-return",
            "route-device-enable-return",
            "route-get-routing-info-call",
            "route-get-routing-info-return",
            "route-get-routing-info-call",
            "route-get-routing-info-return",
            "route-set-routing-info-call",
            "route-set-routing-info-return",
            "entry-point-call",
            "set-data-call",
            "set-data-return",
            "entry-point-return",
            // FaxsimRouteMethod2 and 9: nothing to forward to, not recorded.
            "config-change-call",
            "free-buffer-call",
            "free-buffer-return",
            "config-change-return",
            "entry-point-call",
        ],
        "{kinds:#?}"
    );
    let ev = |i: usize| &events[1 + i]["kind"];
    assert_eq!(events[0]["origin"], "recorder");
    assert_eq!(ev(1)["exports"]["route_device_change"], false);
    assert_eq!(ev(5)["hinst"], serde_json::json!({"ext": 0}));
    assert_eq!(ev(15)["data"], Value::Null);
    assert_eq!(ev(15)["size"], 4);
    assert_eq!(ev(17)["data"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(ev(21)["hinst"], serde_json::json!({"ext": 0}));
    assert_eq!(ev(14)["buffer"], false);
    assert_eq!(ev(16)["buffer"], true);
    assert_eq!(ev(16)["size"], 8);
    assert_eq!(ev(18)["data"], serde_json::json!([9, 9]));
    assert_eq!(ev(20)["function"], "RouteToNowhere");
    assert_eq!(
        ev(25)["buffer"],
        serde_json::json!({"change-data": {"delivery": 24}})
    );
    // 65 registrations inside RegisterMany, then 65 notifications of which 63 go through
    // wrappers (the pool is full after 64 distinct functions) and are recorded.
    assert_eq!(kinds.iter().filter(|k| *k == "register-call").count(), 66);
    assert_eq!(
        kinds.iter().filter(|k| *k == "config-change-call").count(),
        1 + 63
    );
    assert_eq!(kinds.last().unwrap(), "unload");
    assert!(
        events.last().unwrap().get("end").is_some(),
        "the trace is finished"
    );
    let log = log_of(&lib_path);
    assert!(
        log.contains("more than 64 distinct ConfigChange functions"),
        "{log}"
    );
    assert!(log.contains("NoSuchExport"), "{log}");

    // The job side of a provider, through the FSP proxy.
    let lib_path = install(
        "entry-points-fsp",
        Proxy::Fsp,
        Some(&format!(
            "extension = \"{}\"\ntrace = \"rec/fsp.jsonl\"\n",
            toml_path(&real)
        )),
    );
    // SAFETY: as above.
    let lib = unsafe { libloading::Library::new(&lib_path) }.unwrap();
    // SAFETY: (every call below) as above.
    unsafe {
        let start: unsafe extern "system" fn(
            u32,
            u32,
            *mut *mut std::ffi::c_void,
            *mut std::ffi::c_void,
            usize,
        ) -> i32 = export(&lib, "FaxDevStartJob");
        let mut job = std::ptr::null_mut();
        assert_ne!(start(0, 7, &mut job, std::ptr::null_mut(), 0), 0);
        assert_eq!(job as usize, 0x5007);
        let report: unsafe extern "system" fn(
            *mut std::ffi::c_void,
            *mut std::ffi::c_void,
            u32,
            *mut u32,
        ) -> i32 = export(&lib, "FaxDevReportStatus");
        let mut required = 0;
        assert_eq!(report(job, std::ptr::null_mut(), 0, &mut required), 0);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(122),
            "the extension's last error survives the recording"
        );
        assert_eq!(required, 64);
        for name in ["FaxDevEndJob", "FaxDevAbortOperation"] {
            let f: unsafe extern "system" fn(*mut std::ffi::c_void) -> i32 = export(&lib, name);
            assert_ne!(f(job), 0, "{name}");
        }
        let send: unsafe extern "system" fn(
            *mut std::ffi::c_void,
            *mut std::ffi::c_void,
            *mut std::ffi::c_void,
        ) -> i32 = export(&lib, "FaxDevSend");
        assert_ne!(send(job, std::ptr::null_mut(), std::ptr::null_mut()), 0);
        let receive: unsafe extern "system" fn(
            *mut std::ffi::c_void,
            u32,
            *mut std::ffi::c_void,
        ) -> i32 = export(&lib, "FaxDevReceive");
        assert_ne!(receive(job, 3, std::ptr::null_mut()), 0);
        // The real library has no FaxDevShutdown: S_OK, unrecorded.
        let shutdown: unsafe extern "system" fn() -> i32 = export(&lib, "FaxDevShutdown");
        assert_eq!(shutdown(), 0);
    }
    drop(lib);
    let events: Vec<Value> =
        std::fs::read_to_string(lib_path.with_file_name("rec").join("fsp.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let functions: Vec<(String, Value)> = events[1..events.len() - 1]
        .iter()
        .map(|e| {
            (
                e["kind"]["type"].as_str().unwrap().to_string(),
                e["kind"]
                    .get("function")
                    .or_else(|| e["kind"].get("result"))
                    .cloned()
                    .unwrap_or(Value::Null),
            )
        })
        .collect();
    let expect: Vec<(String, Value)> = [
        ("service-start", Value::Null),
        ("load", Value::Null),
        ("entry-point-call", "FaxDevStartJob".into()),
        ("entry-point-return", 1.into()),
        ("entry-point-call", "FaxDevReportStatus".into()),
        ("entry-point-return", 0.into()),
        ("entry-point-call", "FaxDevEndJob".into()),
        ("entry-point-return", 1.into()),
        ("entry-point-call", "FaxDevAbortOperation".into()),
        ("entry-point-return", 1.into()),
        ("entry-point-call", "FaxDevSend".into()),
        ("entry-point-return", 1.into()),
        ("entry-point-call", "FaxDevReceive".into()),
        ("entry-point-return", 1.into()),
        ("unload", Value::Null),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(functions, expect);
}

// ---- the proxy's traces replay ------------------------------------------------------------

/// The bug-report workflow end to end: the proxy records a session of a real extension
/// (here with faxsim's host as the service), and every trace it wrote replays against
/// the same build, strict (event for event, to the rolling hash) and in model mode (the
/// same behaviour, the service's failures taken from the recording); a changed build
/// diverges.
#[test]
fn the_proxys_traces_replay_against_the_extension() {
    let Some(fixtures) = fixtures() else {
        return;
    };
    for (fixture, proxy) in [
        ("careful_routing", Proxy::Routing),
        ("careful_routing_info", Proxy::Routing),
        ("careful_fsp", Proxy::Fsp),
        ("careful_vfsp", Proxy::VirtualFsp),
        ("buggy_double_free", Proxy::Routing),
    ] {
        let real = fixtures.join(lib_file(fixture));
        let name = format!("replay-{fixture}");
        let proxy_lib = install(
            &name,
            proxy,
            Some(&format!(
                "extension = \"{}\"\ntrace = \"{{ext}}-{{n}}.trace\"\n",
                toml_path(&real)
            )),
        );
        let dir = proxy_lib.parent().unwrap().to_path_buf();
        let o = faxsim(&["--seeds", "3"], &proxy_lib);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{fixture}");
        let mut traces: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "trace"))
            .collect();
        traces.sort();
        assert!(traces.len() >= 3, "{fixture}: {traces:?}");
        for trace in &traces {
            for mode in ["strict", "model"] {
                let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
                    .args(["replay"])
                    .arg(trace)
                    .arg("--ext")
                    .arg(&real)
                    .args(["--mode", mode, "--format", "json"])
                    .output()
                    .unwrap();
                let v = json(&o);
                let r = &v["replay"];
                assert!(
                    r["divergence"].is_null(),
                    "{fixture} {} {mode}: {r}",
                    trace.display()
                );
                if mode == "strict" {
                    assert_eq!(
                        r["hash_reproduced"],
                        true,
                        "{fixture} {} {mode}: {r}",
                        trace.display()
                    );
                } else {
                    // The model's run holds what the proxy could not see (devices, the
                    // stop): the behaviour compares, no hash can.
                    assert_eq!(r["differences"]["groups"], serde_json::json!([]), "{r}");
                    assert!(r["hash_reproduced"].is_null(), "{r}");
                }
            }
        }
        // A customer's recording becomes a regression test: each trace that shows the
        // double free shrinks into a scenario that hosts the real build and shows it.
        if fixture == "buggy_double_free" {
            let mut shrunk = 0;
            for (n, trace) in traces.iter().enumerate() {
                let min = dir.join(format!("min-{n}.toml"));
                let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
                    .arg("shrink")
                    .arg(trace)
                    .arg("--ext")
                    .arg(&real)
                    .arg("--output")
                    .arg(&min)
                    .output()
                    .unwrap();
                let err = String::from_utf8_lossy(&o.stderr);
                if o.status.code() == Some(2) && err.contains("no failing finding") {
                    continue;
                }
                assert_eq!(o.status.code(), Some(0), "{}: {err}", trace.display());
                let text = std::fs::read_to_string(&min).unwrap();
                assert!(text.matches("[[step]]").count() <= 3, "{text}");
                let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
                    .arg("run")
                    .arg(&min)
                    .output()
                    .unwrap();
                let out = String::from_utf8_lossy(&o.stdout);
                assert_eq!(o.status.code(), Some(1), "{out}");
                assert!(out.contains("double-free"), "{out}");
                shrunk += 1;
            }
            assert!(shrunk > 0, "no trace of {fixture} showed its bug");
        }
        // Another build under the recorded name: caught at its first difference.
        if fixture == "careful_routing" {
            let changed = dir.join("changed").join(lib_file("careful_routing"));
            std::fs::create_dir_all(changed.parent().unwrap()).unwrap();
            std::fs::copy(fixtures.join(lib_file("buggy_buffer_leak")), &changed).unwrap();
            let o = Command::new(env!("CARGO_BIN_EXE_faxsim"))
                .arg("replay")
                .arg(&traces[0])
                .arg("--ext")
                .arg(&changed)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(o.status.code(), Some(1), "{text}");
            assert!(
                text.contains("DIVERGED") && text.contains("recorder of faxsim"),
                "{text}"
            );
        }
    }
}
