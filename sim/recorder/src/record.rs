//! The recording state of one proxy instance: the trace being written and the symbolic
//! ids that stand for pointers in it (buffers, registration handles, ConfigChange
//! pointers, foreign values, threads).
//!
//! Everything sits behind one mutex, held only to number and write events, never while
//! the extension or the service runs (a SetData may deliver a ConfigChange on the same
//! thread, which records too).

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::BufWriter;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use faxsim_trace::{
    BufferArg, BufferId, CallbackId, Event, EventKind, EventSink, ExtId, ForeignId, HInstArg,
    HandleArg, HandleId, TraceSink,
};

use crate::log;

/// A `HashMap` with a fixed hasher: std's default one seeds itself from a thread-local
/// (a library that is unloaded and loaded again should create none), and SipHash is more
/// than pointer keys need.
pub type Map<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// A multiply-rotate hasher for the integer keys of the recorder's maps (pointers,
/// handles, thread ids): no DoS concern, the keys come from the process itself.
#[derive(Default)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// The trace writer of an instance.
pub type Sink = TraceSink<BufWriter<File>>;

/// The extension every event of a recorder trace names (one extension per proxy).
pub const EXT: ExtId = ExtId(0);

/// One registration the extension made through this proxy.
#[derive(Clone, Debug)]
struct Registration {
    handle: HandleId,
    callback: usize,
    device: u32,
    guid: Option<Arc<str>>,
    live: bool,
}

/// The recording state. Lock it with [`Recorder::lock`].
#[derive(Debug, Default)]
pub struct Recorder {
    state: Mutex<State>,
}

/// What the lock protects.
#[derive(Default)]
pub struct State {
    sink: Option<Sink>,
    trace_name: String,
    broken: bool,
    seq: u64,
    threads: Map<u64, u16>,
    buffers: Map<usize, BufferId>,
    issued_buffers: u32,
    handles: Map<usize, HandleId>,
    issued_handles: u32,
    callbacks: Map<usize, CallbackId>,
    foreign: Map<(u8, usize), ForeignId>,
    registrations: Vec<Registration>,
    /// ConfigChange calls in progress: their `lpData` and the call's `seq`.
    changes: Vec<(usize, u64)>,
    /// GUID strings seen, so events share one `Arc` per spelling (the trace writer then
    /// finds it by address).
    guids: Vec<(Box<[u16]>, Arc<str>)>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("trace", &self.trace_name)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// The most GUID spellings kept for sharing.
const MAX_GUIDS: usize = 256;

impl Recorder {
    /// A recorder writing into `sink` (`None`: the trace could not be created; ids are
    /// still kept so the proxy behaves the same).
    pub fn new(sink: Option<Sink>, trace_name: String) -> Recorder {
        Recorder {
            state: Mutex::new(State {
                sink,
                trace_name,
                ..State::default()
            }),
        }
    }

    /// Locks the state (a panic elsewhere must not stop the recording).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state if nobody holds it: at process exit on Windows, other threads were
    /// ended wherever they were, perhaps holding the lock.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, State>> {
        match self.state.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

impl State {
    /// Writes one event of the extension (or, with `ext` `None`, of the service as a
    /// whole); returns its `seq`.
    pub fn emit_as(&mut self, ext: Option<ExtId>, kind: EventKind) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        let thread = self.thread(crate::platform::thread_id());
        if let Some(sink) = self.sink.as_mut() {
            sink.event(&Event {
                seq,
                time: 0,
                thread,
                ext,
                kind,
            });
            if !sink.is_intact() && !self.broken {
                self.broken = true;
                log::problem(&format!(
                    "{}: writing the trace failed at event {seq}; the trace is incomplete from there (the extension keeps running unrecorded)",
                    self.trace_name
                ));
            }
        }
        seq
    }

    /// Writes one event of the extension; returns its `seq`.
    pub fn emit(&mut self, kind: EventKind) -> u64 {
        self.emit_as(Some(EXT), kind)
    }

    /// Ends the trace (its end frame) and closes the file; later events are dropped.
    pub fn finish(&mut self) {
        let Some(mut sink) = self.sink.take() else {
            return;
        };
        match sink.finish() {
            Ok(()) => {}
            Err(_) if self.broken => {}
            Err(e) => log::problem(&format!(
                "{}: finishing the trace failed: {e}",
                self.trace_name
            )),
        }
    }

    /// The small id of OS thread `os` (see `platform::thread_id`): 0 for the thread of
    /// the first event, then 1, 2, … in first-seen order.
    fn thread(&mut self, os: u64) -> u16 {
        let next = self.threads.len().min(u16::MAX as usize) as u16;
        *self.threads.entry(os).or_insert(next)
    }

    /// A value nobody issued, numbered from 1 in first-seen order. `space` keeps apart
    /// values of different meaning that happen to be equal (0 = hInst, 1 = pointer or
    /// handle).
    fn foreign(&mut self, space: u8, value: usize) -> ForeignId {
        let next = ForeignId(self.foreign.len() as u32 + 1);
        *self.foreign.entry((space, value)).or_insert(next)
    }

    /// How an hInst the extension passed is recorded.
    pub fn hinst(&mut self, value: usize, own: usize) -> HInstArg {
        if value == 0 {
            HInstArg::Null
        } else if value == own {
            HInstArg::Ext(EXT)
        } else {
            HInstArg::Foreign(self.foreign(0, value))
        }
    }

    /// The shared `Arc` of a GUID string read from C.
    pub fn guid(&mut self, units: Option<&[u16]>) -> Option<Arc<str>> {
        let units = units?;
        if let Some((_, a)) = self.guids.iter().find(|(u, _)| **u == *units) {
            return Some(a.clone());
        }
        let a: Arc<str> = Arc::from(String::from_utf16_lossy(units));
        if self.guids.len() < MAX_GUIDS {
            self.guids.push((units.into(), a.clone()));
        }
        Some(a)
    }

    /// A successful GetData handed out `ptr`: its new buffer id.
    pub fn new_buffer(&mut self, ptr: usize) -> BufferId {
        self.issued_buffers += 1;
        let id = BufferId(self.issued_buffers);
        if ptr != 0 {
            self.buffers.insert(ptr, id);
        }
        id
    }

    /// What FreeBuffer was given: NULL, the `lpData` of a ConfigChange in progress, a
    /// GetData buffer (live or freed), or something else.
    pub fn buffer_arg(&mut self, ptr: usize) -> BufferArg {
        if ptr == 0 {
            return BufferArg::Null;
        }
        if let Some(&(_, delivery)) = self.changes.iter().rev().find(|(p, _)| *p == ptr) {
            return BufferArg::ChangeData { delivery };
        }
        match self.buffers.get(&ptr) {
            Some(&id) => BufferArg::Buffer(id),
            None => BufferArg::Foreign(self.foreign(1, ptr)),
        }
    }

    /// The id of ConfigChange pointer `f` (a new one the first time it is seen).
    pub fn callback(&mut self, f: usize) -> CallbackId {
        let next = CallbackId(self.callbacks.len() as u32 + 1);
        *self.callbacks.entry(f).or_insert(next)
    }

    /// A successful Register returned `value` for (`device`, `guid`) with callback `f`.
    pub fn new_handle(
        &mut self,
        value: usize,
        callback: usize,
        device: u32,
        guid: Option<Arc<str>>,
    ) -> HandleId {
        self.issued_handles += 1;
        let id = HandleId(self.issued_handles);
        self.handles.insert(value, id);
        self.registrations.push(Registration {
            handle: id,
            callback,
            device,
            guid,
            live: true,
        });
        id
    }

    /// What Unregister was given.
    pub fn handle_arg(&mut self, value: usize) -> HandleArg {
        if value == 0 {
            HandleArg::Null
        } else if value == usize::MAX {
            HandleArg::InvalidValue
        } else {
            match self.handles.get(&value) {
                Some(&id) => HandleArg::Handle(id),
                None => HandleArg::Foreign(self.foreign(1, value)),
            }
        }
    }

    /// Unregister succeeded for `arg`.
    pub fn unregistered(&mut self, arg: HandleArg) {
        if let HandleArg::Handle(id) = arg
            && let Some(r) = self.registrations.iter_mut().find(|r| r.handle == id)
        {
            r.live = false;
        }
    }

    /// The registration a ConfigChange through callback `f` for (`device`, `guid`)
    /// belongs to: the live one of that callback for that key (GUIDs compared by value,
    /// case-insensitively), else the last one for that key, else the callback's last.
    pub fn registration_for(&self, f: usize, device: u32, guid: &str) -> HandleId {
        let same_key = |r: &&Registration| {
            r.callback == f
                && r.device == device
                && r.guid
                    .as_deref()
                    .is_some_and(|g| g.eq_ignore_ascii_case(guid))
        };
        let regs = &self.registrations;
        regs.iter()
            .rev()
            .filter(same_key)
            .find(|r| r.live)
            .or_else(|| regs.iter().rev().find(same_key))
            .or_else(|| regs.iter().rev().find(|r| r.callback == f))
            .map_or(HandleId(0), |r| r.handle)
    }

    /// A ConfigChange with `lpData` `ptr` starts (call event `delivery`).
    pub fn change_begins(&mut self, ptr: usize, delivery: u64) {
        self.changes.push((ptr, delivery));
    }

    /// That ConfigChange returned.
    pub fn change_ends(&mut self, delivery: u64) {
        if let Some(i) = self.changes.iter().rposition(|&(_, d)| d == delivery) {
            self.changes.remove(i);
        }
    }
}
