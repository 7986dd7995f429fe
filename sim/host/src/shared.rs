//! How a call from C reaches the simulation, from any thread.
//!
//! The [`Service`](faxsim_sim::Service) is single-threaded (`!Send`): exactly one thread
//! may touch it at a time. The host serialises every access with a *token* (a flag under
//! one mutex, with a condition variable):
//!
//! - The service thread holds the token while it runs Rust. Before it calls into C it
//!   publishes a pointer to the `Callbacks` it was given (pushes a *context*) and releases
//!   the token; after C returns it waits until its own context is on top of the stack and
//!   the token is free, takes the token and pops the context.
//! - A trampoline, on any thread, waits until the token is free and a context is
//!   published, takes the token, makes its call through the top context (as its own
//!   extension and thread, via `Callbacks::with_caller`), and releases the token.
//!   Re-entry nests: a trampoline's call may call back into C (a ConfigChange), which
//!   pushes a context of its own.
//!
//! So a published context is used only while its owner is inside C and not touching it,
//! and by one thread at a time. The limitation: a thread an extension started that calls
//! while the service thread is in Rust waits until the service next calls into any
//! extension (or the driver offers a scheduling point with [`pump`]); after
//! [`Shared::call_wait`] it gives up, the call fails with `ERROR_GEN_FAILURE`, and a host
//! note says so (a deadlock guard).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use faxsim_abi::PFAX_EXT_CONFIG_CHANGE;
use faxsim_sim::Callbacks;
use faxsim_trace::{CallbackId, ExtId, HandleId};

use crate::memory::GuardedHeap;

/// Slots in the trampoline pool: the most libraries hosted at once in one process.
pub const POOL_SIZE: usize = 64;

/// How long a call from C waits for the simulation by default.
pub const DEFAULT_CALL_WAIT: Duration = Duration::from_secs(5);

type ChangeFn = unsafe extern "system" fn(u32, *const u16, *mut u8, u32) -> i32;

/// What a slot is bound to.
#[derive(Debug, Default)]
pub(crate) struct SlotBinding {
    /// The extension in the current service (`None` until attached).
    pub ext: Option<ExtId>,
    /// Distinct ConfigChange pointers this library passed to Register → their ids.
    pub callback_ids: HashMap<usize, CallbackId>,
    /// The reverse, to call them.
    pub callback_fns: BTreeMap<CallbackId, ChangeFn>,
    /// `FaxRouteEnumFiles` calls in progress, innermost last.
    pub enumerations: Vec<crate::routines::Enumeration>,
}

impl SlotBinding {
    pub fn callback_fn(&self, id: CallbackId) -> PFAX_EXT_CONFIG_CHANGE {
        self.callback_fns.get(&id).copied()
    }
}

/// Registration handles handed to C: opaque values, never 0 or -1, never reused.
#[derive(Debug, Default)]
pub(crate) struct HandleTable {
    issued: u64,
    by_value: HashMap<usize, HandleId>,
}

impl HandleTable {
    const BASE: usize = 0x0FA0_0000;

    pub fn issue(&mut self, id: HandleId) -> usize {
        self.issued += 1;
        let value = Self::BASE.wrapping_add((self.issued as usize).wrapping_mul(16));
        self.by_value.insert(value, id);
        value
    }

    pub fn lookup(&self, value: usize) -> Option<HandleId> {
        self.by_value.get(&value).copied()
    }

    /// A new service instance: its handles start afresh; old values become unknown.
    pub fn reset(&mut self) {
        self.by_value.clear();
    }
}

struct Ctx {
    cb: CbPtr,
    owner: ThreadId,
}

struct CbPtr(*mut Callbacks<'static>);

// SAFETY: the pointer is dereferenced only by the thread holding the token, while the
// thread that published it is inside C and does not use its `Callbacks` (see the module
// docs); the token's mutex orders every access. The Service behind it is only ever
// touched by one thread at a time.
unsafe impl Send for CbPtr {}

/// The process-wide host state.
pub(crate) struct Shared {
    busy: bool,
    stack: Vec<Ctx>,
    waiting: usize,
    /// Threads waiting on `TURN` for something other than entering (taking the simulation
    /// back after a call into C, a scheduling point): with `waiting`, whether a wake-up is
    /// needed at all (a futex call on every crossing was most of the FFI cost).
    watchers: usize,
    service_thread: Option<ThreadId>,
    threads: HashMap<ThreadId, u16>,
    /// Small thread ids kept for service threads a replay will use (see
    /// [`Shared::reserve_thread_ids`]): first-seen numbering skips them.
    reserved: Vec<u16>,
    pub slots: Vec<Option<SlotBinding>>,
    pub heap: GuardedHeap,
    pub handles: HandleTable,
    pub notes: Vec<String>,
    pub call_wait: Duration,
}

static SHARED: LazyLock<Mutex<Shared>> = LazyLock::new(|| {
    Mutex::new(Shared {
        busy: true,
        stack: Vec::new(),
        waiting: 0,
        watchers: 0,
        service_thread: None,
        threads: HashMap::new(),
        reserved: Vec::new(),
        slots: (0..POOL_SIZE).map(|_| None).collect(),
        heap: GuardedHeap::default(),
        handles: HandleTable::default(),
        notes: Vec::new(),
        call_wait: DEFAULT_CALL_WAIT,
    })
});
static TURN: Condvar = Condvar::new();

/// Locks the host state (a panic elsewhere must not wedge every later call).
pub(crate) fn lock() -> MutexGuard<'static, Shared> {
    SHARED.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// This thread's id, read once: `thread::current()` clones a reference-counted handle
    /// (two atomic operations) on every call, and every crossing asks.
    static ME: ThreadId = std::thread::current().id();
}

fn current_thread() -> ThreadId {
    ME.with(|me| *me)
}

impl Shared {
    fn anyone_waits(&self) -> bool {
        self.waiting + self.watchers > 0
    }

    /// A new service instance driven by the calling thread: it holds the token, thread
    /// ids start again, handles start afresh.
    pub fn begin_service(&mut self) {
        self.busy = true;
        self.stack.clear();
        self.service_thread = Some(current_thread());
        self.threads.clear();
        self.handles.reset();
        // The workers of a replay keep their ids across services of the same host.
        for (id, t) in workers::known() {
            self.threads.insert(t, id);
        }
    }

    fn thread_id(&mut self, t: ThreadId) -> u16 {
        if Some(t) == self.service_thread {
            return 0;
        }
        if let Some(&id) = self.threads.get(&t) {
            return id;
        }
        let next = (1..=u16::MAX)
            .find(|i| !self.reserved.contains(i) && !self.threads.values().any(|v| v == i))
            .unwrap_or(u16::MAX);
        self.threads.insert(t, next);
        next
    }

    /// Keeps `ids` for service threads (a replay's workers): threads seen first get the
    /// other numbers, as in the recording.
    pub fn reserve_thread_ids(&mut self, ids: &[u16]) {
        self.reserved = ids.to_vec();
    }
}

/// Why a call from C could not reach the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnterError {
    /// The slot is bound to no library of a running host.
    Unbound,
    /// No scheduling point came within the wait limit.
    Timeout,
}

/// Runs `f` inside the simulation as the extension bound to `slot`, from this thread.
pub(crate) fn enter<R>(
    slot: usize,
    f: impl FnOnce(&mut Callbacks<'_>) -> R,
) -> Result<R, EnterError> {
    let me = current_thread();
    let mut g = lock();
    let Some(ext) = g
        .slots
        .get(slot)
        .and_then(|s| s.as_ref())
        .and_then(|s| s.ext)
    else {
        return Err(EnterError::Unbound);
    };
    let thread = g.thread_id(me);
    let deadline = Instant::now() + g.call_wait;
    g.waiting += 1;
    while g.busy || g.stack.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            g.waiting -= 1;
            let wait = g.call_wait;
            g.notes.push(format!(
                "a call from thread {thread} of extension #{} waited {} ms for a scheduling point and was failed with ERROR_GEN_FAILURE",
                ext.0,
                wait.as_millis()
            ));
            return Err(EnterError::Timeout);
        }
        g = TURN
            .wait_timeout(g, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    g.waiting -= 1;
    g.busy = true;
    let ptr = g.stack.last().expect("checked non-empty").cb.0;
    drop(g);
    let _release = ReleaseOnDrop;
    // SAFETY: this thread holds the token, so no other thread uses the simulation; the
    // context's owner is inside C and does not touch its `Callbacks` until it takes the
    // token back (after we release it), so the pointee is alive and unaliased. The
    // `'static` is a lie confined to this call: `with_caller` reborrows for `f` only.
    let cb = unsafe { &mut *ptr };
    Ok(cb.with_caller(ext, thread, f))
}

struct ReleaseOnDrop;

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let mut g = lock();
        g.busy = false;
        let wake = g.anyone_waits();
        drop(g);
        if wake {
            TURN.notify_all();
        }
    }
}

/// Calls into C (`f`) with `cb` published for calls back from any thread.
pub(crate) fn call_c<R>(cb: &mut Callbacks<'_>, f: impl FnOnce() -> R) -> R {
    publish_and_call(cb, lock(), (), |()| f(), |_| {})
}

/// As [`call_c`], with host bookkeeping folded into the two locks a crossing takes anyway
/// (each lock is two atomic operations, a good part of a crossing's cost): `before` runs
/// under the lock that publishes `cb` and may cancel the call (`None`: nothing is
/// published, `f` is not called); `after` runs under the lock that takes the token back.
pub(crate) fn call_c_with<T, R>(
    cb: &mut Callbacks<'_>,
    before: impl FnOnce(&mut Shared) -> Option<T>,
    f: impl FnOnce(T) -> R,
    after: impl FnOnce(&mut Shared),
) -> Option<R> {
    let mut g = lock();
    let t = before(&mut g)?;
    Some(publish_and_call(cb, g, t, f, after))
}

/// Publishes `cb` under `g`, releases the token, calls `f`, and takes the token back.
fn publish_and_call<T, R, A: FnOnce(&mut Shared)>(
    cb: &mut Callbacks<'_>,
    mut g: MutexGuard<'static, Shared>,
    t: T,
    f: impl FnOnce(T) -> R,
    after: A,
) -> R {
    let me = current_thread();
    let ptr = (cb as *mut Callbacks<'_>).cast::<Callbacks<'static>>();
    g.stack.push(Ctx {
        cb: CbPtr(ptr),
        owner: me,
    });
    g.busy = false;
    if g.anyone_waits() {
        TURN.notify_all();
    }
    drop(g);
    let _reacquire = Reacquire {
        me,
        ptr,
        after: Some(after),
    };
    f(t)
}

/// Runs `f` (anything that drives the simulation: a replayed call into an extension) on
/// service thread `id`, known to the host by that small id, while this thread waits.
/// Calls into C that `f` makes come from that thread, and the callbacks C makes on it
/// are attributed to it.
pub(crate) fn on_service_thread<R>(id: u16, f: impl FnOnce() -> R) -> R {
    let t = workers::thread_of(id);
    lock().threads.insert(t, id);
    workers::run_on(id, f)
}

struct Reacquire<A: FnOnce(&mut Shared)> {
    me: ThreadId,
    ptr: *mut Callbacks<'static>,
    after: Option<A>,
}

impl<A: FnOnce(&mut Shared)> Drop for Reacquire<A> {
    fn drop(&mut self) {
        let mut g = lock();
        let mine = |g: &Shared| {
            !g.busy
                && g.stack
                    .last()
                    .is_some_and(|c| c.owner == self.me && std::ptr::eq(c.cb.0, self.ptr))
        };
        if !mine(&g) {
            g.watchers += 1;
            while !mine(&g) {
                g = TURN.wait(g).unwrap_or_else(PoisonError::into_inner);
            }
            g.watchers -= 1;
        }
        g.stack.pop();
        g.busy = true;
        if let Some(after) = self.after.take() {
            after(&mut g);
        }
    }
}

/// A scheduling point for threads the extensions started: if any is waiting to call, the
/// token is released (with `cb` published) until none waits or `limit` passes.
pub(crate) fn pump(cb: &mut Callbacks<'_>, limit: Duration) {
    if lock().waiting == 0 {
        return;
    }
    call_c(cb, || {
        let deadline = Instant::now() + limit;
        let mut g = lock();
        g.watchers += 1;
        while g.waiting > 0 || g.busy {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = TURN
                .wait_timeout(g, (deadline - now).min(Duration::from_millis(20)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        g.watchers -= 1;
    });
}

/// The service threads of a replay: one OS thread per recorded thread id, kept for the
/// process's life, running what the driving thread hands over while it waits (so a C
/// library sees the calls of one recorded thread come from one thread of its own, as on
/// the real service).
mod workers {
    use std::collections::HashMap;
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::mpsc::{Sender, channel};
    use std::sync::{LazyLock, Mutex, PoisonError};
    use std::thread::ThreadId;

    type Job = Box<dyn FnOnce() + Send + 'static>;

    struct Worker {
        jobs: Sender<Job>,
        thread: ThreadId,
    }

    static WORKERS: LazyLock<Mutex<HashMap<u16, Worker>>> = LazyLock::new(Mutex::default);

    fn with<R>(id: u16, f: impl FnOnce(&Worker) -> R) -> R {
        let mut w = WORKERS.lock().unwrap_or_else(PoisonError::into_inner);
        let worker = w.entry(id).or_insert_with(|| {
            let (tx, rx) = channel::<Job>();
            let handle = std::thread::Builder::new()
                .name(format!("faxsim-service-{id}"))
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .expect("a service thread starts");
            Worker {
                jobs: tx,
                thread: handle.thread().id(),
            }
        });
        f(worker)
    }

    /// The OS thread of service thread `id` (started on first use).
    pub fn thread_of(id: u16) -> ThreadId {
        with(id, |w| w.thread)
    }

    /// Every service thread started so far.
    pub fn known() -> Vec<(u16, ThreadId)> {
        WORKERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, w)| (*id, w.thread))
            .collect()
    }

    /// A value moved to a service thread for one call while its owner waits.
    struct AssertSend<F>(F);

    // SAFETY: used only by `run_on`, whose caller blocks until the job is done, so what
    // the closure holds (the simulation, reached through references into the caller's
    // frame: `Rc`s and `RefCell`s included, and the result) is used by one thread at a
    // time, never concurrently with its owner, and the channels order every access
    // before and after. The simulation keeps no thread-affine state; the host already
    // lets any thread holding its token touch it.
    unsafe impl<F> Send for AssertSend<F> {}

    impl<F: FnOnce()> AssertSend<F> {
        fn call(self) {
            (self.0)()
        }
    }

    /// Runs `f` on service thread `id` and waits for it; a panic in `f` continues here.
    pub fn run_on<R>(id: u16, f: impl FnOnce() -> R) -> R {
        let (done_tx, done_rx) = channel();
        let job = move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = done_tx.send(r);
        };
        let job = AssertSend(job);
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || job.call());
        // SAFETY: the job borrows from this stack frame; erasing its lifetime is sound
        // because this function does not return until the job has run to completion and
        // reported (the `recv` below), so every borrow outlives its use.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
        with(id, |w| w.jobs.send(job)).expect("the service thread runs");
        match done_rx.recv().expect("the service thread reports") {
            Ok(r) => r,
            Err(panic) => resume_unwind(panic),
        }
    }
}
