//! faxsim-replay: replays a recorded trace against extension builds.
//!
//! A trace (from `faxsim validate --record`, `faxsim run --record`, or the recording
//! proxy on a real fax service) holds every call between the service and its extensions.
//! Replay loads fresh builds of the extensions, drives them with the recorded service
//! side, and compares what they do with what the recording shows:
//!
//! - **strict** ([`Mode::Strict`], the default): the recording drives and answers. Every
//!   call an extension makes must match the recorded one (callback, device, id source,
//!   GUID, sizes and bytes, symbolic handles and buffers); GetData hands back the recorded
//!   bytes in a fresh guarded buffer. The first difference ends the replay and is reported
//!   with the expected and the actual call and the events before it ([`Divergence`]).
//!   Replaying a trace against the build that recorded it reproduces it event for event,
//!   with the same rolling hash.
//! - Extensions of the recording without a build given are played by the recording
//!   itself (stand-ins), so only the extension under test is needed.
//!
//! The rule checker judges the replayed run like any other: its findings are in the
//! outcome too.
//!
//! ```no_run
//! use faxsim_replay::Replay;
//!
//! let outcome = Replay::open("bug-report.trace".as_ref())?
//!     .library("./target/debug/libmy_routing.so")
//!     .run()?;
//! if let Some(d) = &outcome.divergence {
//!     eprintln!("{}", d.report(&outcome.names));
//! }
//! # Ok::<(), faxsim_replay::ReplayError>(())
//! ```
#![forbid(unsafe_code)]

mod cursor;
pub mod diff;
mod model;
pub mod scenario;
pub mod snapshot;
mod standin;
mod strict;
pub mod transcript;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use faxsim_host::{Host, LoadError, Member};
use faxsim_sim::{Extension, ExtensionSpec, Finding, Service, ServiceOptions, SimError};
use faxsim_trace::{
    Event, EventKind, EventSink, ExtId, ExtensionInfo, ExtensionKind, FlushPolicy, Header,
    TextLine, TraceError, TraceInput, TraceWriter,
};
use serde::{Deserialize, Serialize};

pub use cursor::CONTEXT;
pub use diff::BehaviourDiff;
pub use transcript::{Transcript, TranscriptExtension};

use crate::cursor::{Comparer, Cursor, Source};
use crate::standin::{PlayedBack, StandIn};
use crate::strict::{Driver, Player, StrictOracle};

/// How a replay answers the extensions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The recording drives and answers; the first difference ends the replay.
    #[default]
    Strict,
    /// The service model answers, the recording supplies the inputs (starts, devices,
    /// administrators' writes, the other extensions' calls, the service's decisions); the
    /// replay goes on past every difference and reports them all.
    Model,
}

impl Mode {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Model => "model",
        }
    }
}

/// Why a replay could not run (bad input: exit code 2 on the command line).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The trace could not be opened or its header read.
    #[error("{path}: {message}")]
    Trace {
        /// The trace file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A library could not be loaded.
    #[error(transparent)]
    Library(#[from] LoadError),
    /// A library matches no extension of the recording.
    #[error(
        "{}: the trace has no extension this library could be (it has {}); name the library as the trace does, or pass the build the trace was recorded with",
        library.display(),
        candidates.join(", ")
    )]
    Unmatched {
        /// The library.
        library: PathBuf,
        /// The recording's extensions, as `name (kind)`.
        candidates: Vec<String>,
    },
    /// The trace does not fit the extensions given (another kind, other entry points, an
    /// event naming an extension the trace does not declare).
    #[error("{0}")]
    Misfit(String),
    /// Nothing to replay against.
    #[error("no extension to replay: give at least one library (--ext) or extension")]
    NoExtensions,
    /// The simulated service refused to set up.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// Where the replayed run and the recording part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    /// The index of the recorded event that was not reproduced (the recording's length
    /// when the replay did more than the recording shows).
    pub index: u64,
    /// That recorded event (`None`: the recording had ended).
    pub expected: Option<Event>,
    /// What the replayed run did instead (`None`: nothing; the extension returned, or
    /// never made the call).
    pub actual: Option<Event>,
    /// The reproduced events just before it, oldest first (at most [`CONTEXT`]).
    pub context: Vec<Event>,
    /// Why, when more can be said than the two events show.
    pub reason: String,
}

impl Divergence {
    fn new(
        index: u64,
        expected: Option<Event>,
        actual: Option<Event>,
        context: Vec<Event>,
        reason: String,
    ) -> Divergence {
        Divergence {
            index,
            expected,
            actual,
            context,
            reason,
        }
    }

    /// The extension involved.
    pub fn ext(&self) -> Option<ExtId> {
        self.actual
            .as_ref()
            .and_then(|e| e.ext)
            .or_else(|| self.expected.as_ref().and_then(|e| e.ext))
    }

    /// The configuration key involved (device and GUID of the call), when the events
    /// name one.
    pub fn key(&self) -> Option<(u32, Arc<str>)> {
        [&self.expected, &self.actual]
            .into_iter()
            .flatten()
            .find_map(|e| key_of(&e.kind))
    }

    /// The report for people: where, what was expected, what happened, the events before.
    pub fn report(&self, names: &[String]) -> String {
        let mut s = String::new();
        let who = self
            .ext()
            .map(|x| {
                names
                    .get(x.index())
                    .cloned()
                    .unwrap_or_else(|| format!("ext#{}", x.0))
            })
            .unwrap_or_else(|| "the service".into());
        let _ = writeln!(s, "divergence at event {} ({who})", self.index);
        if let Some((device, guid)) = self.key() {
            let _ = writeln!(s, "  key:      device {device}, {guid}");
        }
        match &self.expected {
            Some(e) => {
                let _ = writeln!(s, "  expected: {}", TextLine { event: e, names });
            }
            None => {
                let _ = writeln!(s, "  expected: nothing (the recording had ended)");
            }
        }
        match &self.actual {
            Some(e) => {
                let _ = writeln!(s, "  actual:   {}", TextLine { event: e, names });
            }
            None => {
                let _ = writeln!(s, "  actual:   nothing");
            }
        }
        if !self.reason.is_empty() {
            let _ = writeln!(s, "  why:      {}", self.reason);
        }
        if !self.context.is_empty() {
            let _ = writeln!(s, "  before it (reproduced):");
            for e in &self.context {
                let _ = writeln!(s, "    {}", TextLine { event: e, names });
            }
        }
        s
    }
}

/// The (device, GUID) a call names.
fn key_of(kind: &EventKind) -> Option<(u32, Arc<str>)> {
    match kind {
        EventKind::GetDataCall {
            device,
            guid: Some(g),
            ..
        }
        | EventKind::SetDataCall {
            device,
            guid: Some(g),
            ..
        }
        | EventKind::RegisterCall {
            device,
            guid: Some(g),
            ..
        }
        | EventKind::ExternalWriteCall {
            device,
            guid: Some(g),
            ..
        } => Some((*device, g.clone())),
        EventKind::ConfigChangeCall { device, guid, .. } => Some((*device, guid.clone())),
        _ => None,
    }
}

/// Who played an extension of the recording in the replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Played {
    /// A library, loaded from this path.
    Library {
        /// The path.
        path: PathBuf,
        /// Whether it is the build the trace was recorded with (same SHA-256), when the
        /// trace says which build that was.
        same_build: Option<bool>,
    },
    /// An in-process Rust extension.
    InProcess,
    /// The recording (no build was given).
    Recording,
}

/// What a replay found.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplayOutcome {
    /// How it was replayed.
    pub mode: Mode,
    /// The recording's extension names, by `ExtId`.
    pub names: Vec<String>,
    /// Their kinds, by `ExtId`.
    pub kinds: Vec<ExtensionKind>,
    /// Who played each extension, by `ExtId`.
    pub played: Vec<Played>,
    /// Recorded events reproduced exactly.
    pub reproduced: u64,
    /// The recording's event count and rolling hash, from its end frame (`None` for a cut
    /// recording, or one without an end).
    pub recorded_end: Option<(u64, Option<u64>)>,
    /// The rolling hash of the replayed run (when it was computed).
    pub hash: Option<u64>,
    /// The first difference.
    pub divergence: Option<Divergence>,
    /// Why the recording ended early (a cut or damaged trace); the replay went up to its
    /// last complete event.
    pub truncated: Option<String>,
    /// Observations the replay made that the recording could not have (a real service has
    /// no guard zones): reported, not compared.
    pub extras: Vec<Event>,
    /// Model mode: how the replayed run differs from the recording, per extension and
    /// key (with [`Replay::against`]: how the second build's run differs from the
    /// first's). Empty when they behave the same.
    pub differences: Option<BehaviourDiff>,
    /// Findings of the rule checker on the replayed run.
    pub findings: Vec<Finding>,
    /// Every event of the replayed run (empty unless kept).
    #[serde(skip)]
    pub events: Vec<Event>,
    /// Host notes, and anything else worth saying.
    pub notes: Vec<String>,
}

impl ReplayOutcome {
    /// The normalised transcript of the replayed run, for snapshots (needs the events:
    /// see [`Replay::keep_events`]).
    pub fn transcript(&self) -> Transcript {
        Transcript::of(self, &self.kinds)
    }

    /// Whether the replayed run reproduced the whole recording (no divergence, no
    /// difference, not cut).
    pub fn reproduced_all(&self) -> bool {
        self.divergence.is_none()
            && self.truncated.is_none()
            && self
                .differences
                .as_ref()
                .is_none_or(BehaviourDiff::is_empty)
    }

    /// Whether the replayed run has the recording's rolling hash: `None` when either is
    /// unknown (a recording without an end frame, a hash not computed); `Some(false)`
    /// whenever the replay diverged or the recording was cut.
    pub fn hash_reproduced(&self) -> Option<bool> {
        if !self.reproduced_all() {
            return Some(false);
        }
        match (self.recorded_end, self.hash) {
            (Some((_, Some(recorded))), Some(replayed)) => Some(recorded == replayed),
            _ => None,
        }
    }
}

/// A recorded stream: its events and, once read to the end, its end record.
trait Recording: Iterator<Item = Result<Event, TraceError>> {
    fn end(&self) -> Option<(u64, Option<u64>)>;
}

impl<R: BufRead> Recording for TraceInput<R> {
    fn end(&self) -> Option<(u64, Option<u64>)> {
        TraceInput::end(self)
    }
}

/// Events held in memory.
struct InMemory(std::vec::IntoIter<Event>);

impl Iterator for InMemory {
    type Item = Result<Event, TraceError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(Ok)
    }
}

impl Recording for InMemory {
    fn end(&self) -> Option<(u64, Option<u64>)> {
        None
    }
}

/// Shares a recording between the cursor (which reads it) and the outcome (which wants
/// its end record).
struct SharedRecording(Rc<RefCell<Box<dyn Recording>>>);

impl Iterator for SharedRecording {
    type Item = Result<Event, TraceError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.borrow_mut().next()
    }
}

/// The rolling hash of the replayed run, as its trace would have it: of what it replayed,
/// not of the winding down after the recording's end (a recording proxy's trace ends
/// with the unload, without the service's stop, which the replay then adds).
struct HashSink {
    hash: Rc<RefCell<Option<TraceWriter<std::io::Sink>>>>,
    cursor: Rc<RefCell<Cursor>>,
}

impl EventSink for HashSink {
    fn event(&mut self, event: &Event) {
        if self.cursor.borrow().closed {
            return;
        }
        let mut w = self.hash.borrow_mut();
        if let Some(writer) = w.as_mut()
            && writer.write_event(event).is_err()
        {
            *w = None;
        }
    }
}

/// A replay to set up and run: the recording, the builds to replay it against, and how.
pub struct Replay {
    header: Header,
    /// The trace file, when the replay reads one (read once more beforehand to learn
    /// which service threads it shows).
    path: Option<PathBuf>,
    recording: Box<dyn Recording>,
    libraries: Vec<PathBuf>,
    extensions: Vec<(String, Rc<dyn Extension>)>,
    sinks: Vec<Box<dyn EventSink>>,
    mode: Mode,
    against: Option<PathBuf>,
    keep_events: bool,
    verify_hash: bool,
    thread_wait: Duration,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("extensions", &self.header.extension_names())
            .field("libraries", &self.libraries)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// The trace at `path` (binary or JSON Lines), read as the replay goes.
    pub fn open(path: &Path) -> Result<Replay, ReplayError> {
        let input = TraceInput::open(path).map_err(|e| ReplayError::Trace {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut replay = Replay::with_recording(input.header().clone(), Box::new(input));
        replay.path = Some(path.to_path_buf());
        Ok(replay)
    }

    /// A trace read from `src` (either form).
    pub fn from_reader(src: impl BufRead + 'static) -> Result<Replay, ReplayError> {
        let input = TraceInput::from_reader(src).map_err(|e| ReplayError::Trace {
            path: "(trace)".into(),
            message: e.to_string(),
        })?;
        Ok(Replay::with_recording(
            input.header().clone(),
            Box::new(input),
        ))
    }

    /// Events in memory with their header (the recording's end hash is then unknown).
    pub fn from_events(header: Header, events: Vec<Event>) -> Replay {
        Replay::with_recording(header, Box::new(InMemory(events.into_iter())))
    }

    fn with_recording(header: Header, recording: Box<dyn Recording>) -> Replay {
        Replay {
            header,
            path: None,
            recording,
            libraries: Vec::new(),
            extensions: Vec::new(),
            sinks: Vec::new(),
            mode: Mode::Strict,
            against: None,
            keep_events: true,
            verify_hash: true,
            thread_wait: Duration::from_secs(2),
        }
    }

    /// The recording's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Replays this library in place of the recorded extension it matches: the one of the
    /// same name (the library's file stem), else the one recorded from a file with the
    /// same SHA-256, else the only one of its kind.
    pub fn library(mut self, path: impl Into<PathBuf>) -> Replay {
        self.libraries.push(path.into());
        self
    }

    /// Replays an in-process Rust extension in place of the recorded extension `name`.
    pub fn extension(mut self, name: &str, imp: Rc<dyn Extension>) -> Replay {
        self.extensions.push((name.to_string(), imp));
        self
    }

    /// How to replay (strict by default).
    pub fn mode(mut self, mode: Mode) -> Replay {
        self.mode = mode;
        self
    }

    /// Model mode against a second build: the recording is replayed in model mode with
    /// the libraries given, then again with `path` in place of the one it matches, and the
    /// outcome's [`ReplayOutcome::differences`] is how the second run differs from the
    /// first (its events and findings are the second run's).
    pub fn against(mut self, path: impl Into<PathBuf>) -> Replay {
        self.against = Some(path.into());
        self.mode = Mode::Model;
        self
    }

    /// A sink that sees every event of the replayed run (a trace file of it, say).
    pub fn sink(mut self, sink: Box<dyn EventSink>) -> Replay {
        self.sinks.push(sink);
        self
    }

    /// Whether to keep the replayed run's events in the outcome (default: yes).
    pub fn keep_events(mut self, keep: bool) -> Replay {
        self.keep_events = keep;
        self
    }

    /// Whether to compute the replayed run's rolling hash (default: yes; it costs an
    /// encoding of every event).
    pub fn verify_hash(mut self, verify: bool) -> Replay {
        self.verify_hash = verify;
        self
    }

    /// How long to wait for a call the recording shows an extension's own thread making.
    pub fn thread_wait(mut self, wait: Duration) -> Replay {
        self.thread_wait = wait;
        self
    }

    /// The service options of the replayed run: the recording's (so the checker judges
    /// with its limits and policy), with the run's own limits lifted (the recording
    /// already stayed within them).
    fn service_options(&self) -> ServiceOptions {
        let mut opts: ServiceOptions =
            serde_json::from_value(self.header.options.clone()).unwrap_or_default();
        opts.seed = self.header.seed;
        opts.record_events = self.keep_events;
        opts.live_check = true;
        opts.limits.events = u64::MAX;
        opts.limits.steps = u64::MAX;
        opts
    }

    /// Runs the replay.
    pub fn run(self) -> Result<ReplayOutcome, ReplayError> {
        if self.libraries.is_empty() && self.extensions.is_empty() {
            return Err(ReplayError::NoExtensions);
        }
        match self.mode {
            Mode::Strict => self.run_strict(),
            Mode::Model => model::run(self),
        }
    }

    fn run_strict(self) -> Result<ReplayOutcome, ReplayError> {
        let opts = self.service_options();
        let Replay {
            header,
            path,
            recording,
            libraries,
            extensions,
            sinks,
            mode,
            against: _,
            keep_events: _,
            verify_hash,
            thread_wait,
        } = self;
        let recording = Rc::new(RefCell::new(recording));
        let unobservable: fn(&EventKind) -> bool = if header.origin == "recorder" {
            // A real service has no guard zones: damage only the replay can see.
            |k| matches!(k, EventKind::BufferDamaged { .. })
        } else {
            |_| false
        };
        let cursor = Rc::new(RefCell::new(Cursor::new(
            Box::new(SharedRecording(recording.clone())) as Source,
            unobservable,
        )));

        // Who plays each recorded extension.
        let mut host = (!libraries.is_empty()).then(Host::new);
        let mut plan: Vec<Option<Plan>> = vec![None; header.extensions.len()];
        if let Some(host) = host.as_mut() {
            match_libraries(host, &libraries, &header.extensions, &mut plan)?;
        }
        for (name, imp) in extensions {
            let Some(i) = header.extensions.iter().position(|e| e.name == name) else {
                return Err(ReplayError::Unmatched {
                    library: PathBuf::from(name),
                    candidates: candidates(&header.extensions),
                });
            };
            if plan[i].is_some() {
                return Err(ReplayError::Misfit(format!(
                    "two builds given for {name:?}"
                )));
            }
            plan[i] = Some(Plan::InProcess(imp));
        }

        let mut svc = Service::new(opts);
        svc.set_one_sided(header.origin == "recorder");
        svc.add_sink(Box::new(Comparer(cursor.clone())));
        let hash = Rc::new(RefCell::new(None));
        if verify_hash {
            *hash.borrow_mut() = Some(
                TraceWriter::with_policy(std::io::sink(), &header, FlushPolicy::Batched)
                    .map_err(|e| ReplayError::Misfit(e.to_string()))?,
            );
            svc.add_sink(Box::new(HashSink {
                hash: hash.clone(),
                cursor: cursor.clone(),
            }));
        }
        for s in sinks {
            svc.add_sink(s);
        }
        let mut members = Vec::new();
        let mut players = BTreeMap::new();
        let mut played = Vec::new();
        for (i, (info, p)) in header.extensions.iter().zip(plan).enumerate() {
            let ext = ExtId(i as u16);
            let spec = ExtensionSpec {
                name: info.name.clone(),
                kind: info.kind,
            };
            match p {
                Some(Plan::Library(lib, path)) => {
                    let same_build = info
                        .sha256
                        .map(|h| faxsim_trace::sha256_file(&path).ok() == Some(h));
                    played.push(Played::Library { path, same_build });
                    players.insert(ext, Player::Library);
                    members.push(Member::Library(lib));
                }
                Some(Plan::InProcess(imp)) => {
                    played.push(Played::InProcess);
                    players.insert(ext, Player::InProcess);
                    members.push(Member::Other(spec, imp));
                }
                None => {
                    let s = Rc::new(PlayedBack(StandIn::new(ext, cursor.clone())));
                    played.push(Played::Recording);
                    players.insert(ext, Player::StandIn(s.clone()));
                    members.push(Member::Other(spec, s));
                }
            }
        }
        attach_members(host.as_mut(), &mut svc, members)?;

        if let (Some(h), Some(p)) = (host.as_ref(), &path)
            && let Ok(input) = TraceInput::open(p)
        {
            // Threads the library will see first are numbered around the service threads,
            // as the recording numbered them.
            h.reserve_thread_ids(&strict::service_threads(input.map_while(Result::ok)));
        }
        svc.set_oracle(Some(Rc::new(StrictOracle {
            cursor: cursor.clone(),
        })));
        let driven = Driver {
            cursor: cursor.clone(),
            players: &players,
            host: host.as_ref(),
            thread_wait,
        }
        .run(&mut svc);

        // Wind down whatever the recording left running (a cut trace, a divergence), so
        // the libraries are unloaded and the checker sees the end.
        cursor.borrow_mut().closed = true;
        svc.set_oracle(None);
        if svc.is_running() || (0..header.extensions.len()).any(|i| svc.is_loaded(ExtId(i as u16)))
        {
            let _ = svc.stop();
        }
        let mut notes = Vec::new();
        if let Some(h) = host.as_ref() {
            h.close_unloaded(&mut svc);
            h.pump(&mut svc, Duration::from_millis(50));
            notes.extend(h.take_notes());
        }
        driven?;
        let findings = svc.finish();
        if let Err(e) = svc.finish_sinks() {
            notes.push(format!("the replayed run could not be recorded: {e}"));
        }
        let mut c = cursor.borrow_mut();
        let truncated = c.damage.take().map(|e| e.to_string());
        if truncated.is_none() {
            // Read to the end frame, for the recording's count and hash (and any damage
            // after the point where the replay stopped).
            let mut r = recording.borrow_mut();
            for e in r.by_ref() {
                if let Err(e) = e {
                    notes.push(format!(
                        "the recording is damaged after the replayed part: {e}"
                    ));
                    break;
                }
            }
        }
        let recorded_end = recording.borrow().end();
        let hash = hash.borrow().as_ref().map(TraceWriter::hash);
        Ok(ReplayOutcome {
            mode,
            names: header.extension_names(),
            kinds: header.extensions.iter().map(|e| e.kind).collect(),
            played,
            reproduced: c.matched,
            recorded_end,
            hash,
            divergence: c.divergence.take(),
            truncated,
            extras: std::mem::take(&mut c.extras),
            differences: None,
            findings,
            events: svc.take_events(),
            notes,
        })
    }
}

/// Who plays one recorded extension.
#[derive(Clone)]
pub(crate) enum Plan {
    /// The host's `n`-th library, from this path.
    Library(usize, PathBuf),
    /// An in-process extension.
    InProcess(Rc<dyn Extension>),
}

pub(crate) fn candidates(exts: &[ExtensionInfo]) -> Vec<String> {
    exts.iter()
        .map(|e| format!("{} ({})", e.name, e.kind))
        .collect()
}

/// Opens every library and finds the recorded extension it replaces.
pub(crate) fn match_libraries(
    host: &mut Host,
    libraries: &[PathBuf],
    recorded: &[ExtensionInfo],
    plan: &mut [Option<Plan>],
) -> Result<(), ReplayError> {
    for (n, path) in libraries.iter().enumerate() {
        let info = host.open(path, None)?.clone();
        let free = |i: &usize| plan[*i].is_none();
        let by_name = (0..recorded.len())
            .filter(free)
            .find(|&i| recorded[i].name == info.name);
        let by_build = || {
            let hash = faxsim_trace::sha256_file(path).ok()?;
            (0..recorded.len())
                .filter(free)
                .find(|&i| recorded[i].sha256 == Some(hash))
        };
        let by_kind = || {
            let same: Vec<usize> = (0..recorded.len())
                .filter(free)
                .filter(|&i| recorded[i].kind == info.kind && recorded[i].sha256.is_some())
                .collect();
            (same.len() == 1).then(|| same[0])
        };
        let Some(i) = by_name.or_else(by_build).or_else(by_kind) else {
            return Err(ReplayError::Unmatched {
                library: path.clone(),
                candidates: candidates(recorded),
            });
        };
        let want = recorded[i].kind;
        if info.kind != want {
            return Err(ReplayError::Misfit(format!(
                "{}: the trace has {:?} as {}, but this library is {} (its exports say so)",
                path.display(),
                recorded[i].name,
                kind_phrase(want),
                kind_phrase(info.kind)
            )));
        }
        host.set_name(n, &recorded[i].name);
        plan[i] = Some(Plan::Library(n, path.clone()));
    }
    Ok(())
}

fn kind_phrase(k: ExtensionKind) -> &'static str {
    match k {
        ExtensionKind::Fsp => "an FSP",
        ExtensionKind::VirtualFsp => "a virtual FSP",
        ExtensionKind::Routing => "a routing extension",
    }
}

/// Adds the replay's extensions to the service in the recorded order: through the host
/// when any is a library (it attaches the in-process ones between them), directly when
/// none is.
fn attach_members(
    host: Option<&mut Host>,
    svc: &mut Service,
    members: Vec<Member>,
) -> Result<(), ReplayError> {
    match host {
        Some(h) => {
            h.attach_in_order(svc, members)?;
        }
        None => {
            for m in members {
                if let Member::Other(spec, imp) = m {
                    svc.add_extension(spec, imp)?;
                }
            }
        }
    }
    Ok(())
}
