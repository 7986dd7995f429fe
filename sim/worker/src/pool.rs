//! The parent side: a pool of persistent workers that runs battery jobs in order.
//!
//! Each worker is a child `faxsim __worker` in a process tree of its own, linked by a
//! private channel (`faxsim_host::isolate::spawn_linked`). It loads the libraries once and
//! runs job after job; when it dies, the job it was running is reported as crashed (or
//! hung, when no event arrived for the time limit and the pool killed its tree) with every
//! event it streamed, and a fresh worker takes the next job. Results are handed on in job
//! order whatever the number of workers, so a report does not depend on `--jobs`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, BufReader, Read};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use faxsim_host::isolate::{self, ProcessTree};
use faxsim_replay::ReplayOutcome;
use faxsim_trace::{
    Event, EventKind, EventSink, ExtId, ExtensionKind, Header, OpenCalls, TraceReader,
};

use crate::output::{self, OutputFn};
use crate::protocol::{
    Job, LoadedLibrary, Message, ReplayEnd, ReplayJob, Request, ScenarioEnd, TAG_MESSAGE,
    TAG_TRACE, decode, read_envelope, send,
};

/// How the pool starts and watches its workers.
#[derive(Clone)]
pub struct PoolConfig {
    /// The program and its leading arguments that make it a worker (`faxsim __worker`);
    /// `--kind` and the libraries are appended.
    pub program: PathBuf,
    /// See [`PoolConfig::program`].
    pub worker_args: Vec<OsString>,
    /// The libraries, in order.
    pub libs: Vec<PathBuf>,
    /// `--kind`.
    pub kind: Option<ExtensionKind>,
    /// How long a worker may go without an event (or, while loading, without finishing a
    /// library) before it counts as hung.
    pub hang_limit: Duration,
    /// Workers run at once (at least 1; never more than there are jobs).
    pub workers: usize,
    /// The extension's own output, line by line.
    pub output: OutputFn,
}

impl std::fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolConfig")
            .field("program", &self.program)
            .field("libs", &self.libs)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// A library as reports show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Library {
    /// Its name in reports.
    pub name: String,
    /// The path it was given as.
    pub path: PathBuf,
    /// The kind it is hosted as (`None` until a worker loaded it: never, when a library
    /// crashed while loading).
    pub kind: Option<ExtensionKind>,
    /// Whether it takes part in the configuration protocol.
    pub takes_part: bool,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    /// The battery ran to its end.
    Completed,
    /// The worker died (the events end with `extension-crashed`).
    Crashed,
    /// The worker made no progress for the limit and was killed (the events end with
    /// `extension-hung`).
    Hung,
}

/// One job's outcome.
#[derive(Debug)]
pub struct JobResult {
    /// The job.
    pub job: Job,
    /// The header of the trace the worker streamed (`None` if it died before that).
    pub header: Option<Header>,
    /// Every event, ending with the crash or hang event when the job did not complete.
    pub events: Vec<Event>,
    /// Host notes and what cut the run short.
    pub notes: Vec<String>,
    /// How it ended.
    pub end: JobEnd,
    /// A scenario job's verdict (`None` for other jobs, and when the job did not
    /// complete).
    pub scenario: Option<ScenarioEnd>,
    /// A replay job's outcome (`None` for other jobs, and when the job did not complete).
    /// Its events are [`JobResult::events`].
    pub replay: Option<Box<ReplayOutcome>>,
    /// Why the sink the caller asked for (`sink_for`: a `--record` trace) could not be
    /// written whole.
    pub recording_error: Option<String>,
}

impl JobResult {
    /// A scenario job's extension names: from its verdict, or (a worker that died) from
    /// the header it sent.
    pub fn scenario_names(&self) -> Vec<String> {
        match (&self.scenario, &self.header) {
            (Some(end), _) => end.names.clone(),
            (None, Some(h)) => h.extension_names(),
            (None, None) => Vec::new(),
        }
    }

    /// A scenario job's findings: its verdict's, or (it crashed or hung) those of the
    /// events up to there, checked here, the crash or hang among them.
    pub fn scenario_findings(&self) -> Vec<faxsim_sim::Finding> {
        match &self.scenario {
            Some(end) => end.findings.clone(),
            None => faxsim_sim::explain::check_cut_run(&self.events, self.scenario_names()),
        }
    }
}

/// Asked once per job, with the header of its trace: a sink that sees every event of the
/// job as it arrives (a `--record` trace: a tee of the worker's stream), or why there is
/// none.
pub type SinkFor<'a> = dyn FnMut(&Job, &Header) -> Result<Option<Box<dyn EventSink>>, String> + 'a;

/// The header of a job whose worker died before it sent one: a battery's lists the
/// libraries as given, then the peer; a scenario's, nothing it could know.
pub fn fallback_header(libraries: &[Library], job: &Job) -> Header {
    match job {
        Job::Battery(b) => {
            let extensions = faxsim_host::battery::with_peer(libraries.iter().map(|l| {
                faxsim_trace::ExtensionInfo::new(
                    &l.name,
                    l.kind.unwrap_or(ExtensionKind::Routing),
                    Some(&l.path),
                )
            }));
            faxsim_host::battery::trace_header(&extensions, &b.options())
        }
        Job::Scenario(s) => Header::new(s.seed.unwrap_or(0), serde_json::Value::Null, Vec::new()),
        // The worker sends the header before the libraries load; this is for a worker
        // that died before that.
        Job::Replay(r) => faxsim_trace::TraceInput::open(&r.trace).map_or_else(
            |_| Header::new(0, serde_json::Value::Null, Vec::new()),
            |input| ReplayJob::replayed_header(input.header()),
        ),
    }
}

/// Why the pool could not run the jobs.
#[derive(Debug)]
pub enum PoolError {
    /// A library could not be loaded, or a job could not be set up (a usage error).
    Usage(String),
    /// Starting or talking to a worker failed.
    Io(io::Error),
}

impl From<io::Error> for PoolError {
    fn from(e: io::Error) -> Self {
        PoolError::Io(e)
    }
}

/// What a worker's reader thread reports.
enum Report {
    Message(Message),
    Header(Header),
    /// Events in order: as many as the channel held before it would have to wait.
    Events(Vec<Event>),
    /// The channel ended; the words say how, when not cleanly.
    Closed(Option<String>),
}

struct Running {
    index: usize,
    header: Option<Header>,
    events: Vec<Event>,
    sink: Option<Box<dyn EventSink>>,
    recording_error: Option<String>,
}

impl Running {
    fn new(index: usize) -> Running {
        Running {
            index,
            header: None,
            events: Vec::new(),
            sink: None,
            recording_error: None,
        }
    }

    /// Ends the job's sink; the first error of its recording.
    fn finish_recording(&mut self) -> Option<String> {
        let finished = self.sink.take().and_then(|mut s| s.finish().err());
        self.recording_error
            .take()
            .or_else(|| finished.map(|e| e.to_string()))
    }

    fn into_result(
        mut self,
        job: &Job,
        notes: Vec<String>,
        end: JobEnd,
        verdict: Verdict,
    ) -> JobResult {
        let recording_error = self.finish_recording();
        JobResult {
            job: job.clone(),
            header: self.header,
            events: self.events,
            notes,
            end,
            scenario: verdict.scenario,
            replay: verdict.replay.map(|r| r.0),
            recording_error,
        }
    }
}

/// What a completed job decided, beside its events.
#[derive(Default)]
struct Verdict {
    scenario: Option<ScenarioEnd>,
    replay: Option<ReplayEnd>,
}

struct Slot {
    generation: u64,
    child: Child,
    tree: ProcessTree,
    requests: Option<io::PipeWriter>,
    /// The library being loaded, until `Ready`.
    loading: Option<u32>,
    ready: bool,
    running: Option<Running>,
    /// When it counts as hung, while it owes progress.
    deadline: Option<Instant>,
    /// Ends after its job (see `Message::JobDone::survivors`): no new job for it.
    retiring: bool,
}

/// Runs `jobs` on a pool of workers and hands each result to `each`, in job order; `each`
/// breaks to stop early (results of later jobs already running are dropped). Returns the
/// libraries as the workers loaded them.
pub fn run_jobs(
    cfg: &PoolConfig,
    jobs: &[Job],
    sink_for: &mut SinkFor<'_>,
    mut each: impl FnMut(&[Library], JobResult) -> ControlFlow<()>,
) -> Result<Vec<Library>, PoolError> {
    let mut taken: Vec<String> = Vec::new();
    let mut libraries: Vec<Library> = Vec::new();
    for p in &cfg.libs {
        faxsim_host::preflight(p).map_err(|e| PoolError::Usage(e.to_string()))?;
        let refs: Vec<&str> = taken.iter().map(String::as_str).collect();
        let name = faxsim_host::extension_name(p, &refs);
        taken.push(name.clone());
        libraries.push(Library {
            name,
            path: p.clone(),
            kind: None,
            takes_part: true,
        });
    }
    let mut pool = Pool {
        cfg,
        sink_for,
        tx: None,
        generation: 0,
        slots: Vec::new(),
    };
    let (tx, rx) = mpsc::channel();
    pool.tx = Some(tx);
    let n = cfg.workers.clamp(1, jobs.len().max(1));
    for i in 0..n {
        let slot = pool.spawn(i)?;
        pool.slots.push(Some(slot));
    }
    let mut next_job = 0usize;
    let mut done: BTreeMap<usize, JobResult> = BTreeMap::new();
    let mut next_emit = 0usize;
    // `each` asked to stop / no further job can run (a library crashes while loading).
    let mut stop = false;
    let mut exhausted = false;
    let result = loop {
        // Hand out jobs to idle workers; replace dead ones while work remains.
        for i in 0..pool.slots.len() {
            let more = !stop && !exhausted && next_job < jobs.len();
            if pool.slots[i].is_none() && more {
                pool.slots[i] = Some(pool.spawn(i)?);
            }
            let Some(slot) = pool.slots[i].as_mut() else {
                continue;
            };
            if slot.ready && !slot.retiring && slot.running.is_none() && more {
                let sent = match slot.requests.as_mut() {
                    Some(w) => send(w, &Request::Run(jobs[next_job].clone())),
                    None => Err(io::ErrorKind::BrokenPipe.into()),
                };
                slot.running = Some(Running::new(next_job));
                slot.retiring = jobs[next_job].retires_worker();
                slot.deadline = Some(Instant::now() + cfg.hang_limit);
                next_job += 1;
                // A failed send means the worker died: its Closed report follows.
                let _ = sent;
            }
        }
        let busy = pool.slots.iter().flatten().any(|s| s.running.is_some());
        let owed = if exhausted { next_job } else { jobs.len() };
        if !busy && (stop || next_emit >= owed) {
            break Ok(());
        }
        let now = Instant::now();
        let wait = pool
            .slots
            .iter()
            .flatten()
            .filter_map(|s| s.deadline)
            .min()
            .map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(now)
            });
        let finished = match rx.recv_timeout(wait) {
            Ok((i, generation, report)) => {
                let Some(slot) = pool.slots.get_mut(i).and_then(Option::as_mut) else {
                    continue;
                };
                if slot.generation != generation {
                    continue;
                }
                match pool.handle(i, report, jobs, &mut next_job, &mut libraries) {
                    Ok(f) => f,
                    Err(e) => break Err(e),
                }
            }
            Err(RecvTimeoutError::Timeout) => pool.hangs(jobs, &mut next_job, &libraries),
            Err(RecvTimeoutError::Disconnected) => Vec::new(),
        };
        for (r, fatal_to_all) in finished {
            exhausted |= fatal_to_all;
            done.insert(r.0, r.1);
        }
        while let Some(r) = done.remove(&next_emit) {
            next_emit += 1;
            if !stop && each(&libraries, r).is_break() {
                stop = true;
            }
            if stop {
                break;
            }
        }
        if stop {
            // Work past the stopping point is not reported: end it now. (When only no
            // further job can start, the jobs running still finish and are reported.)
            for slot in pool.slots.iter_mut().flatten() {
                if slot.running.is_some() {
                    slot.tree.kill(&mut slot.child);
                    slot.running = None;
                    slot.deadline = None;
                }
            }
        }
    };
    pool.shut_down();
    result.map(|()| libraries)
}

/// A finished job (its index and result), and whether no further job can run.
type Finished = Vec<((usize, JobResult), bool)>;

struct Pool<'a, 's> {
    cfg: &'a PoolConfig,
    sink_for: &'a mut SinkFor<'s>,
    tx: Option<Sender<(usize, u64, Report)>>,
    generation: u64,
    slots: Vec<Option<Slot>>,
}

impl Pool<'_, '_> {
    /// Starts the worker of slot `index`.
    fn spawn(&mut self, index: usize) -> Result<Slot, PoolError> {
        self.generation += 1;
        let generation = self.generation;
        let mut cmd = Command::new(&self.cfg.program);
        cmd.args(&self.cfg.worker_args);
        if let Some(k) = self.cfg.kind {
            cmd.args(["--kind", k.name()]);
        }
        cmd.arg("--").args(&self.cfg.libs);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, link, tree) = isolate::spawn_linked(cmd)?;
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = self.cfg.output.clone();
            std::thread::spawn(move || output::drain(stream, &out));
        }
        let tx = self
            .tx
            .clone()
            .expect("the pool's sender lives while it runs");
        let from = link.from_child;
        std::thread::spawn(move || read_worker(from, &tx, index, generation));
        Ok(Slot {
            generation,
            child,
            tree,
            requests: Some(link.to_child),
            loading: None,
            ready: false,
            running: None,
            deadline: Some(Instant::now() + self.cfg.hang_limit),
            retiring: false,
        })
    }

    fn handle(
        &mut self,
        i: usize,
        report: Report,
        jobs: &[Job],
        next_job: &mut usize,
        libraries: &mut [Library],
    ) -> Result<Finished, PoolError> {
        let limit = self.cfg.hang_limit;
        let slot = self.slots[i].as_mut().expect("checked by the caller");
        let progress = Some(Instant::now() + limit);
        match report {
            Report::Message(Message::Loading { index }) => {
                slot.loading = Some(index);
                slot.deadline = progress;
            }
            Report::Message(Message::LoadFailed { message }) => {
                return Err(PoolError::Usage(message));
            }
            Report::Message(Message::Ready { libraries: loaded }) => {
                // Every worker loads the same libraries: the latest word stands.
                for (lib, l) in libraries.iter_mut().zip(loaded) {
                    let LoadedLibrary {
                        name,
                        kind,
                        takes_part,
                    } = l;
                    lib.name = name;
                    lib.kind = Some(kind);
                    lib.takes_part = takes_part;
                }
                slot.loading = None;
                slot.ready = true;
                slot.deadline = slot.running.as_ref().and(progress);
            }
            Report::Message(Message::JobStarted) => slot.deadline = progress,
            Report::Header(h) => {
                if let Some(r) = slot.running.as_mut() {
                    match (self.sink_for)(&jobs[r.index], &h) {
                        Ok(sink) => r.sink = sink,
                        Err(e) => r.recording_error = Some(e),
                    }
                    r.header = Some(h);
                }
                slot.deadline = progress;
            }
            Report::Events(mut e) => {
                if let Some(r) = slot.running.as_mut() {
                    if let Some(sink) = r.sink.as_mut() {
                        for event in &e {
                            sink.event(event);
                        }
                    }
                    r.events.append(&mut e);
                }
                slot.deadline = progress;
            }
            Report::Message(Message::JobDone {
                mut notes,
                aborted,
                stream_error,
                survivors,
                scenario,
                replay,
            }) => {
                slot.deadline = None;
                if !survivors.is_empty() {
                    // Its next job would start from this one's globals: the worker has
                    // ended itself (its channel closes next); a fresh one takes over.
                    slot.retiring = true;
                    notes.push(format!(
                        "{} stayed mapped after the service unloaded it (it pinned itself, \
                         or the system keeps it): each seed ran in a fresh worker, so \
                         seeds stay independent",
                        survivors.join(", ")
                    ));
                }
                let Some(r) = slot.running.take() else {
                    return Ok(Vec::new());
                };
                if let Some(e) = aborted {
                    notes.push(format!("the run was cut short: {e}"));
                }
                if let Some(e) = stream_error {
                    notes.push(format!(
                        "the worker could not stream the whole run (the events end early): {e}"
                    ));
                }
                let index = r.index;
                let verdict = Verdict { scenario, replay };
                let result = r.into_result(&jobs[index], notes, JobEnd::Completed, verdict);
                return Ok(vec![((index, result), false)]);
            }
            Report::Message(Message::JobFailed { message }) => {
                return Err(PoolError::Usage(message));
            }
            Report::Closed(why) => {
                let status = reap(&mut slot.child, &mut slot.tree, limit);
                let job = slot.running.as_ref().map(|r| &jobs[r.index]);
                let mut detail = describe(&status, job);
                if let Some(w) = why {
                    detail.push_str(&format!(" ({w})"));
                }
                let slot = self.slots[i].take().expect("present");
                return Ok(self.died(slot, detail, JobEnd::Crashed, jobs, next_job, libraries));
            }
        }
        Ok(Vec::new())
    }

    /// A worker that died (or was killed as hung): the job it owed ends here.
    fn died(
        &mut self,
        slot: Slot,
        detail: String,
        end: JobEnd,
        jobs: &[Job],
        next_job: &mut usize,
        libraries: &[Library],
    ) -> Finished {
        let hang_ms = u64::try_from(self.cfg.hang_limit.as_millis()).unwrap_or(u64::MAX);
        let kind = |detail: String| match end {
            JobEnd::Hung => EventKind::ExtensionHung { limit_ms: hang_ms },
            _ => EventKind::ExtensionCrashed {
                detail: Arc::from(detail),
            },
        };
        if let Some(lib) = slot.loading.filter(|_| !slot.ready) {
            // It died loading a library: every worker would, so the run ends with the
            // next job, blamed on that library.
            let name = libraries
                .get(lib as usize)
                .map_or_else(|| format!("library {lib}"), |l| l.name.clone());
            let what = match end {
                JobEnd::Hung => "hung",
                _ => "crashed",
            };
            let mut r = match slot.running {
                Some(r) => r,
                None if *next_job < jobs.len() => {
                    *next_job += 1;
                    Running::new(*next_job - 1)
                }
                None => return Vec::new(),
            };
            let event = Event {
                seq: 0,
                time: 0,
                thread: 0,
                ext: Some(ExtId(lib as u16)),
                kind: kind(format!(
                    "{detail}, while loading {name} (its constructor or DllMain)"
                )),
            };
            let job = &jobs[r.index];
            let header = fallback_header(libraries, job);
            match (self.sink_for)(job, &header) {
                Ok(Some(mut sink)) => {
                    sink.event(&event);
                    r.sink = Some(sink);
                }
                Ok(None) => {}
                Err(e) => r.recording_error = Some(e),
            }
            r.header = Some(header);
            r.events.push(event);
            let notes = vec![format!(
                "{name} {what} while it was being loaded; no seed can run"
            )];
            let index = r.index;
            let result = r.into_result(job, notes, end, Verdict::default());
            return vec![((index, result), true)];
        }
        let Some(mut r) = slot.running else {
            // Died between jobs (an extension thread, say): nothing was owed.
            return Vec::new();
        };
        let ext = OpenCalls::of(&r.events)
            .innermost()
            .and_then(|c| c.ext)
            .or_else(|| r.events.last().and_then(|e| e.ext));
        let last = r.events.last();
        let event = Event {
            seq: last.map_or(0, |e| e.seq + 1),
            time: last.map_or(0, |e| e.time),
            thread: 0,
            ext,
            kind: kind(detail),
        };
        if let Some(sink) = r.sink.as_mut() {
            sink.event(&event);
        }
        r.events.push(event);
        let index = r.index;
        vec![(
            (
                index,
                r.into_result(&jobs[index], Vec::new(), end, Verdict::default()),
            ),
            false,
        )]
    }

    /// Kills every worker past its deadline.
    fn hangs(&mut self, jobs: &[Job], next_job: &mut usize, libraries: &[Library]) -> Finished {
        let now = Instant::now();
        let mut out = Vec::new();
        for i in 0..self.slots.len() {
            let overdue = self.slots[i]
                .as_ref()
                .and_then(|s| s.deadline)
                .is_some_and(|d| d <= now);
            if !overdue {
                continue;
            }
            let mut slot = self.slots[i].take().expect("present");
            slot.tree.kill(&mut slot.child);
            let _ = slot.child.wait();
            let detail = "no progress".to_string();
            out.extend(self.died(slot, detail, JobEnd::Hung, jobs, next_job, libraries));
        }
        out
    }

    fn shut_down(&mut self) {
        self.tx = None;
        for slot in self.slots.iter_mut().flatten() {
            // Closing its requests is the worker's signal to exit.
            slot.requests = None;
        }
        for slot in self.slots.iter_mut().flatten() {
            let _ = reap(&mut slot.child, &mut slot.tree, Duration::from_secs(2));
        }
    }
}

/// Waits for a child that closed its channel; kills its tree if it lingers past `grace`.
fn reap(child: &mut Child, tree: &mut ProcessTree, grace: Duration) -> io::Result<ExitStatus> {
    let until = Instant::now() + grace.min(Duration::from_secs(5));
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= until {
            tree.kill(child);
            return child.wait();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How a worker ended, in words, for the job it owed (an exit code means the job did not
/// end by itself: the worker exits only between jobs).
fn describe(status: &io::Result<ExitStatus>, job: Option<&Job>) -> String {
    match status {
        Ok(s) => {
            let words = isolate::describe_exit(s);
            match (s.code(), job) {
                (Some(c), Some(job)) if c >= 0 => {
                    format!("{words} before the {} ended", job.noun())
                }
                _ => words,
            }
        }
        Err(e) => format!("its exit status is unknown: {e}"),
    }
}

/// A worker's channel: messages as they come, each job's trace decoded event by event.
fn read_worker(from: io::PipeReader, tx: &Sender<(usize, u64, Report)>, i: usize, generation: u64) {
    let send = |r: Report| tx.send((i, generation, r)).is_ok();
    let mut src = BufReader::with_capacity(64 << 10, from);
    let mut buf = Vec::new();
    loop {
        match read_envelope(&mut src, &mut buf) {
            Ok(None) => {
                send(Report::Closed(None));
                return;
            }
            Err(e) => {
                send(Report::Closed(Some(format!("its channel broke: {e}"))));
                return;
            }
            Ok(Some(TAG_MESSAGE)) => {}
            Ok(Some(_)) => {
                send(Report::Closed(Some("trace bytes outside a job".into())));
                return;
            }
        }
        let message: Message = match decode(&buf) {
            Ok(m) => m,
            Err(e) => {
                send(Report::Closed(Some(format!("an unreadable message: {e}"))));
                return;
            }
        };
        let started = matches!(message, Message::JobStarted);
        if !send(Report::Message(message)) {
            return;
        }
        if !started {
            continue;
        }
        // Events go on in batches: whatever was decoded when the channel runs dry.
        let pending = RefCell::new(Vec::new());
        let hand_on = || {
            let batch = std::mem::take(&mut *pending.borrow_mut());
            batch.is_empty() || send(Report::Events(batch))
        };
        let mut stream = JobStream {
            src: &mut src,
            chunk: Vec::new(),
            at: 0,
            after: None,
            before_waiting: &hand_on,
        };
        let mut trouble = None;
        match TraceReader::new(&mut stream) {
            Ok(mut reader) => {
                if !send(Report::Header(reader.header().clone())) {
                    return;
                }
                loop {
                    match reader.next_event() {
                        Ok(Some(e)) => pending.borrow_mut().push(e),
                        Ok(None) => break,
                        Err(e) => {
                            trouble = Some(e.to_string());
                            break;
                        }
                    }
                }
            }
            Err(e) => trouble = Some(e.to_string()),
        }
        if !hand_on() {
            return;
        }
        // What followed the trace: JobDone, the end of the channel, or damage.
        let after = match stream.after.take() {
            Some(a) => a,
            None => stream.rest(),
        };
        match (after, trouble) {
            // A job the worker could not finish (its trace stops where it gave up).
            (After::Message(m @ Message::JobFailed { .. }), _) | (After::Message(m), None) => {
                if !send(Report::Message(m)) {
                    return;
                }
            }
            // A living worker whose trace does not read: a fault of its own, treated as
            // a crash with the reader's words.
            (After::Message(_), Some(t)) => {
                send(Report::Closed(Some(format!(
                    "its trace stream is damaged: {t}"
                ))));
                return;
            }
            // A trace cut off by the worker's death is expected: no words for that.
            (After::Closed(why), _) => {
                send(Report::Closed(why));
                return;
            }
        }
    }
}

enum After {
    Message(Message),
    Closed(Option<String>),
}

/// One job's trace bytes, read from the envelopes that carry them; the stream ends (for
/// the trace reader) at the first message after them, kept in `after`.
struct JobStream<'a> {
    src: &'a mut BufReader<io::PipeReader>,
    chunk: Vec<u8>,
    at: usize,
    after: Option<After>,
    /// Called before a read that may wait for the worker.
    before_waiting: &'a dyn Fn() -> bool,
}

impl JobStream<'_> {
    /// Skips what is left of the trace (after damage) up to the next message.
    fn rest(&mut self) -> After {
        let mut sink = [0u8; 4096];
        while self.after.is_none() {
            match self.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return After::Closed(Some(e.to_string())),
            }
        }
        self.after.take().unwrap_or(After::Closed(None))
    }
}

impl Read for JobStream<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            if self.after.is_some() {
                return Ok(0);
            }
            if self.src.buffer().is_empty() && !(self.before_waiting)() {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            match read_envelope(self.src, &mut self.chunk)? {
                None => {
                    self.after = Some(After::Closed(None));
                    return Ok(0);
                }
                Some(TAG_TRACE) => self.at = 0,
                Some(_) => {
                    let m = decode(&self.chunk)?;
                    self.chunk.clear();
                    self.at = 0;
                    self.after = Some(After::Message(m));
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
