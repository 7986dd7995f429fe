//! One proxy instance: created lazily at the first entry point the service calls (never
//! while the loader runs the proxy's initialisers), ended when the proxy is unloaded.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use faxsim_abi::{
    PFAX_EXT_FREE_BUFFER, PFAX_EXT_GET_DATA, PFAX_EXT_REGISTER_FOR_EVENTS, PFAX_EXT_SET_DATA,
    PFAX_EXT_UNREGISTER_FOR_EVENTS,
};
use faxsim_trace::{EventKind, ExtensionInfo, Header, TraceSink};

use crate::config::{self, TraceNames};
use crate::log;
use crate::platform;
use crate::real::{self, EntryPoints, PFAXROUTEMETHOD, ProxyKind};
use crate::record::Recorder;

/// What the proxy knows while it wraps a library.
#[derive(Debug)]
pub struct Instance {
    /// The real library's entry points (valid until unload).
    pub entry: EntryPoints,
    /// Routing methods by forwarder number: export name and address.
    pub methods: Vec<(Arc<str>, PFAXROUTEMETHOD)>,
    /// The real library's module handle.
    pub real_hinst: usize,
    /// The proxy's module handle: the service knows the extension by this one.
    pub proxy_hinst: usize,
    /// The real library's file.
    pub real_path: PathBuf,
    /// The recording.
    pub rec: Recorder,
    /// The service's callbacks, as `FaxExtInitializeConfig` handed them to the proxy.
    pub service: ServiceFns,
}

/// The instance, once the first entry point ran (`None` inside: it failed to start).
static INSTANCE: OnceLock<Option<Instance>> = OnceLock::new();

/// The real library's loader handle, taken at unload.
static LIBRARY: Mutex<Option<libloading::Library>> = Mutex::new(None);

/// The instance, starting it if this is the first entry point called.
pub fn instance(kind: ProxyKind) -> Option<&'static Instance> {
    INSTANCE.get_or_init(|| start(kind)).as_ref()
}

/// The instance if it started (for callbacks, which only exist once it has).
pub fn current() -> Option<&'static Instance> {
    INSTANCE.get()?.as_ref()
}

/// Runs an entry point or callback body, turning a panic into `fallback` and a log line:
/// no panic crosses the C boundary.
pub fn guarded<R>(what: &str, fallback: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            log::problem(&format!(
                "internal error in {what} (answered its failure value): {msg}"
            ));
            fallback
        }
    }
}

fn start(kind: ProxyKind) -> Option<Instance> {
    let Some((proxy_hinst, proxy_path)) = platform::this_module() else {
        log::problem(
            "the proxy cannot find its own file, so it cannot find its configuration; failing its initialisation",
        );
        return None;
    };
    let fail = |why: String| {
        log::problem(&format!(
            "{}: {why}; failing the extension's initialisation",
            proxy_path.display()
        ));
        None
    };
    let config = match config::discover(&proxy_path, &|name| std::env::var_os(name)) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let real = match real::open(&config.extension, kind, &config.methods) {
        Ok(r) => r,
        Err(e) => return fail(format!("{e} (configured in {})", config.source)),
    };
    if real.hinst == proxy_hinst {
        // The loader handed back the proxy itself: forwarding would call it forever.
        return fail(format!(
            "{} is this proxy itself, not the real extension (configured in {})",
            config.extension.display(),
            config.source
        ));
    }
    if let Some(note) = real::kind_note(&real, kind) {
        log::info(&format!("{}: {note}", config.extension.display()));
    }
    for (i, (name, f)) in real.methods.iter().enumerate() {
        if f.is_none() {
            log::problem(&format!(
                "{}: FaxsimRouteMethod{i} is bound to {name}, which the library does not export; the forwarder answers FALSE",
                config.extension.display()
            ));
        }
    }
    let name = real::extension_name(&config.extension);
    let exports = real.exports(kind);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let time = config::utc_stamp(secs);
    let names = TraceNames {
        ext: &name,
        pid: std::process::id(),
        time: &time,
    };
    let (sink, trace_name) = match config.trace.create_unique(&names) {
        Ok(path) => {
            let mut header = Header::new(
                0,
                serde_json::json!({ "proxy": kind.kind().name() }),
                vec![ExtensionInfo::new(
                    &name,
                    kind.kind(),
                    Some(&config.extension),
                )],
            );
            header.origin = "recorder".into();
            match TraceSink::create(&path, &header) {
                Ok(s) => (Some(s), path.display().to_string()),
                Err(e) => {
                    log::problem(&format!(
                        "{}: cannot write the trace ({e}); the extension runs unrecorded",
                        path.display()
                    ));
                    (None, path.display().to_string())
                }
            }
        }
        Err(e) => {
            log::problem(&format!(
                "cannot create a trace file from the template {:?} ({e}); the extension runs unrecorded",
                config.trace.text()
            ));
            (None, String::new())
        }
    };
    log::info(&format!(
        "wrapping {} as a {} (configured in {}), recording into {}",
        config.extension.display(),
        kind.kind(),
        config.source,
        if trace_name.is_empty() {
            "nothing"
        } else {
            &trace_name
        }
    ));
    let rec = Recorder::new(sink, trace_name);
    {
        let mut st = rec.lock();
        st.emit_as(None, EventKind::ServiceStart { run: 1 });
        st.emit(EventKind::Load {
            kind: kind.kind(),
            exports,
        });
    }
    let methods = real
        .methods
        .iter()
        .map(|(n, f)| (Arc::from(n.as_str()), *f))
        .collect();
    let instance = Instance {
        entry: real.entry,
        methods,
        real_hinst: real.hinst,
        proxy_hinst,
        real_path: config.extension.clone(),
        rec,
        service: ServiceFns::default(),
    };
    *LIBRARY.lock().unwrap_or_else(PoisonError::into_inner) = Some(real.library);
    Some(instance)
}

/// The proxy is being unloaded: `Unload` is recorded, the trace finished (end frame) and
/// the real library closed. `dynamic` is false when the whole process is exiting
/// (Windows tells the two apart): then nothing is unloaded by hand, and the recording is
/// finished only if no other thread holds its lock.
pub fn unload(dynamic: bool) {
    guarded("the proxy's unload", (), || {
        if let Some(inst) = current() {
            // At process exit (Windows) other threads were ended wherever they were: a
            // lock one of them held is never released, and waiting for it would hang the
            // exit. The trace then keeps every event but lacks its end frame.
            let st = if dynamic {
                Some(inst.rec.lock())
            } else {
                inst.rec.try_lock()
            };
            if let Some(mut st) = st {
                st.emit(EventKind::Unload);
                st.finish();
            }
        }
        if !dynamic {
            return; // the loader unloads everything itself
        }
        let lib = LIBRARY
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(lib) = lib else { return };
        close(lib);
    });
}

/// Closes the real library. Off Windows this runs in the proxy's destructor (a
/// `.fini_array` entry), inside the loader's unload of the proxy: glibc finishes the
/// nested unload right after the proxy's own, so the library is gone when the service's
/// `dlclose` returns.
#[cfg(not(windows))]
fn close(lib: libloading::Library) {
    drop(lib);
}

/// On Windows this runs in `DllMain(DLL_PROCESS_DETACH)` of a `FreeLibrary`, where
/// `FreeLibrary` must not be called: the unload is handed to a kernel32 thread (see
/// [`platform::pending_unload`]).
#[cfg(windows)]
fn close(lib: libloading::Library) {
    let raw = libloading::os::windows::Library::from(lib).into_raw();
    let path = current().map(|i| i.real_path.clone()).unwrap_or_default();
    if !platform::pending_unload::hand_over(raw, &path) {
        log::problem(&format!(
            "{}: could not start the thread that unloads the real library; it stays loaded (a restart keeps its globals)",
            path.display()
        ));
    }
}

/// The five service callbacks, as the service handed them to the proxy. Stored as
/// atomics: callbacks read them from any thread without a lock.
#[derive(Debug, Default)]
pub struct ServiceFns {
    get_data: AtomicPtr<c_void>,
    set_data: AtomicPtr<c_void>,
    register: AtomicPtr<c_void>,
    unregister: AtomicPtr<c_void>,
    free_buffer: AtomicPtr<c_void>,
}

macro_rules! service_fn {
    ($field:ident, $ty:ty) => {
        /// The service's callback (`None` if it handed NULL).
        pub fn $field(&self) -> $ty {
            let p = self.$field.load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            // SAFETY: `p` was stored from a value of this very function-pointer type by
            // `ServiceFns::set`, so it is a valid pointer of that type.
            Some(unsafe { std::mem::transmute::<*mut c_void, <$ty as FnOf>::F>(p) })
        }
    };
}

/// The function-pointer type inside an `Option<fn>` callback type.
pub trait FnOf {
    /// The bare function pointer.
    type F;
}
impl<F> FnOf for Option<F> {
    type F = F;
}

impl ServiceFns {
    /// Keeps the callbacks `FaxExtInitializeConfig` received.
    pub fn set(
        &self,
        get: PFAX_EXT_GET_DATA,
        set: PFAX_EXT_SET_DATA,
        reg: PFAX_EXT_REGISTER_FOR_EVENTS,
        unreg: PFAX_EXT_UNREGISTER_FOR_EVENTS,
        free: PFAX_EXT_FREE_BUFFER,
    ) {
        let p = |f: Option<*const ()>| f.map_or(std::ptr::null_mut(), |f| f.cast_mut().cast());
        self.get_data
            .store(p(get.map(|f| f as *const ())), Ordering::Release);
        self.set_data
            .store(p(set.map(|f| f as *const ())), Ordering::Release);
        self.register
            .store(p(reg.map(|f| f as *const ())), Ordering::Release);
        self.unregister
            .store(p(unreg.map(|f| f as *const ())), Ordering::Release);
        self.free_buffer
            .store(p(free.map(|f| f as *const ())), Ordering::Release);
    }

    service_fn!(get_data, PFAX_EXT_GET_DATA);
    service_fn!(set_data, PFAX_EXT_SET_DATA);
    service_fn!(register, PFAX_EXT_REGISTER_FOR_EVENTS);
    service_fn!(unregister, PFAX_EXT_UNREGISTER_FOR_EVENTS);
    service_fn!(free_buffer, PFAX_EXT_FREE_BUFFER);
}
