//! faxsim-host: hosts real fax extension libraries (`.dll`, `.so`, `.dylib`) in the
//! simulated fax service through the real C ABI.
//!
//! ```no_run
//! use faxsim_host::Host;
//! use faxsim_sim::{Service, ServiceOptions};
//!
//! let mut host = Host::new();
//! host.open("./libmy_routing.so".as_ref(), None)?;
//! let mut svc = Service::new(ServiceOptions::default());
//! host.attach(&mut svc)?;
//! host.start(&mut svc)?;
//! svc.external_write(0, "{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}", &[1, 0, 0, 0])?;
//! svc.stop()?;
//! for f in svc.finish() {
//!     println!("{} {}", f.rule, f.message);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it does:
//! - **Loading** ([`Host::open`]): checks the file (exists, is a library, is built for
//!   this system), loads it with libloading, resolves every entry point eagerly and
//!   detects its kind (virtual FSP if it exports `FaxDevVirtualDeviceCreation`, FSP if
//!   `FaxDevInitialize`, routing extension if `FaxRouteInitialize`).
//! - **Attribution**: each library is bound to one slot of a fixed pool of
//!   [`POOL_SIZE`] sets of monomorphised `extern "system"` callbacks, so a call names its
//!   extension by the function it came through, from whatever thread.
//! - **Threads**: calls from any thread are serialised into the simulation (see
//!   `shared.rs` for the mechanism and its one limitation) and recorded with a small
//!   thread id: 0 for the service thread, then 1, 2, … in first-seen order.
//! - **hInst**: the library's module handle on Windows, its `dladdr` base address
//!   elsewhere (what `faxsim_module_handle()` in the C header returns).
//! - **Memory**: GetData buffers are real memory with a guard zone, poisoned and
//!   quarantined when freed; damage is reported at FreeBuffer and at unload. FreeBuffer of
//!   an unknown pointer is reported and never reaches an allocator. ConfigChange's
//!   `lpData` is a host copy compared after the call.
//! - **Last error**: Register's failure reason is set with `SetLastError` on Windows and
//!   in `errno` elsewhere (C code reads it right after a NULL return).
//! - **Unload is real**: at the service's unload the library is closed, and loaded again
//!   at the next start, so a restart gives fresh globals as a real one does.
//!
//! One [`Host`] is active per process at a time ([`Host::new`] waits for the previous
//! one to be dropped), because the trampolines reach the simulation through
//! process-wide state.
//!
//! This crate holds faxsim's FFI `unsafe`; every block says why it is sound.

mod adapter;
pub mod battery;
pub mod coverage;
pub mod isolate;
mod jobs;
mod load;
mod memory;
mod methods;
mod platform;
mod routines;
mod shared;
mod trampolines;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use faxsim_sim::{Extension, ExtensionSpec, HInst, Service, SimError};
use faxsim_trace::{Exports, ExtId, ExtensionKind};

pub use adapter::FfiExtension;
pub use load::LoadError;
pub use memory::{GUARD_BYTE, GUARD_LEN, POISON_BYTE, QUARANTINE};
pub use shared::{DEFAULT_CALL_WAIT, POOL_SIZE};

/// Errors of the host's driver API.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A library could not be (re)loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The simulated service refused an operation.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// What the host knows about one opened library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryInfo {
    /// Its name in reports: the file stem (without a `lib` prefix off Windows).
    pub name: String,
    /// The path it was opened from.
    pub path: PathBuf,
    /// The kind it is hosted as.
    pub kind: ExtensionKind,
    /// The kind its exports say (`None` only when `--kind` forced one the exports lack
    /// nothing for… never in practice; kept for reports).
    pub detected: Option<ExtensionKind>,
    /// Its optional exports. Without `FaxExtInitializeConfig` it takes no part in the
    /// configuration protocol.
    pub exports: Exports,
    /// The routing entry points a running service calls when a routing method is
    /// administered (routing extensions only; all `false` for providers).
    pub routing_admin: RoutingAdmin,
    /// Its trampoline slot.
    pub slot: usize,
}

/// Which of the entry points a running service calls to administer a routing method
/// a routing extension exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoutingAdmin {
    /// `FaxRouteDeviceEnable`.
    pub device_enable: bool,
    /// `FaxRouteGetRoutingInfo`.
    pub get_routing_info: bool,
    /// `FaxRouteSetRoutingInfo`.
    pub set_routing_info: bool,
}

impl RoutingAdmin {
    /// Whether it exports any of them.
    pub fn any(&self) -> bool {
        self.device_enable || self.get_routing_info || self.set_routing_info
    }
}

impl LibraryInfo {
    /// Whether it exports `FaxExtInitializeConfig` (only those take part).
    pub fn takes_part(&self) -> bool {
        self.exports.initialize_config
    }
}

/// One member of the extension table [`Host::attach_in_order`] builds.
pub enum Member {
    /// The library opened `n`-th.
    Library(usize),
    /// Any other extension (in-process, or a stand-in).
    Other(ExtensionSpec, Rc<dyn Extension>),
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Member::Library(i) => write!(f, "Library({i})"),
            Member::Other(spec, _) => write!(f, "Other({:?})", spec.name),
        }
    }
}

static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// A library's name in reports: its file stem, without a `lib` prefix off Windows,
/// made unique against `taken` with a `-2`, `-3`, … suffix.
pub fn extension_name(path: &Path, taken: &[&str]) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "extension".into());
    let stem = match stem.strip_prefix("lib") {
        Some(rest) if !cfg!(windows) && !rest.is_empty() => rest.to_string(),
        _ => stem,
    };
    if !taken.contains(&stem.as_str()) {
        return stem;
    }
    (2..)
        .map(|i| format!("{stem}-{i}"))
        .find(|n| !taken.contains(&n.as_str()))
        .expect("some suffix is free")
}

/// Checks a library file without loading it: exists, is a shared library, is built for
/// this system (what an isolating parent does before its child loads the library).
pub fn preflight(path: &Path) -> Result<(), LoadError> {
    load::preflight(path)
}

/// Hosts a set of libraries for one or more simulated services, one after another.
#[derive(Debug)]
pub struct Host {
    libs: Vec<(LibraryInfo, Rc<FfiExtension>)>,
    exts: Vec<ExtId>,
    _exclusive: MutexGuard<'static, ()>,
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

impl Host {
    /// A host with no library (waits while another host of this process is alive).
    pub fn new() -> Host {
        let guard = EXCLUSIVE.lock().unwrap_or_else(PoisonError::into_inner);
        let mut g = shared::lock();
        g.notes.clear();
        g.call_wait = DEFAULT_CALL_WAIT;
        g.reserve_thread_ids(&[]);
        drop(g);
        Host {
            libs: Vec::new(),
            exts: Vec::new(),
            _exclusive: guard,
        }
    }

    /// How long a call from C waits for a scheduling point before it fails.
    pub fn set_call_wait(&self, wait: Duration) {
        shared::lock().call_wait = wait;
    }

    /// Loads `path`, resolves its entry points and binds it to a trampoline slot.
    /// `kind` overrides detection (the kind's required export must exist).
    pub fn open(
        &mut self,
        path: &Path,
        kind: Option<ExtensionKind>,
    ) -> Result<&LibraryInfo, LoadError> {
        load::preflight(path)?;
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if let Some((first, _)) = self.libs.iter().find(|(i, _)| same(&i.path, path)) {
            return Err(LoadError::Duplicate {
                path: path.into(),
                first: first.path.clone(),
            });
        }
        let instance = load::open(path)?;
        let detected = instance.entry.detected_kind();
        let kind = load::decide_kind(path, &instance.entry, kind)?;
        let slot = {
            let mut g = shared::lock();
            let Some(slot) = g.slots.iter().position(Option::is_none) else {
                return Err(LoadError::PoolExhausted {
                    path: path.into(),
                    max: POOL_SIZE,
                });
            };
            g.slots[slot] = Some(shared::SlotBinding::default());
            slot
        };
        let e = &instance.entry;
        let exports = Exports {
            initialize_config: e.initialize_config.is_some(),
            dev_shutdown: kind.is_provider() && e.dev_shutdown.is_some(),
            route_device_change: kind == ExtensionKind::Routing && e.route_device_change.is_some(),
        };
        let routing = kind == ExtensionKind::Routing;
        let routing_admin = RoutingAdmin {
            device_enable: routing && e.route_device_enable.is_some(),
            get_routing_info: routing && e.route_get_routing_info.is_some(),
            set_routing_info: routing && e.route_set_routing_info.is_some(),
        };
        let job_exports = if kind.is_provider() {
            jobs::exported(&e.job)
        } else {
            0
        };
        let name = self.unique_name(path);
        let info = LibraryInfo {
            name,
            path: path.into(),
            kind,
            detected,
            exports,
            routing_admin,
            slot,
        };
        // Where the library sits after its first load: a library that never unloads
        // (it pinned itself) is still there after every close (`survivors`).
        let first_mapping = e.any_address().map(|a| (a as usize, instance.hinst));
        let ext = Rc::new(FfiExtension {
            path: path.into(),
            first_mapping,
            slot,
            exports,
            instance: std::cell::RefCell::new(Some(instance)),
            closing: std::cell::RefCell::new(None),
            change_scratch: std::cell::RefCell::default(),
            heap: std::cell::RefCell::new(None),
            route_table: Box::default(),
            job: Default::default(),
            job_exports,
            routed: Default::default(),
            routing,
        });
        self.libs.push((info, ext));
        Ok(&self.libs.last().expect("just pushed").0)
    }

    /// Like [`Host::open`], with the name the extension gets in reports (a scenario's
    /// `name`) instead of the file stem.
    pub fn open_named(
        &mut self,
        path: &Path,
        kind: Option<ExtensionKind>,
        name: &str,
    ) -> Result<&LibraryInfo, LoadError> {
        self.open(path, kind)?;
        let info = &mut self.libs.last_mut().expect("just opened").0;
        info.name = name.to_string();
        Ok(info)
    }

    /// Renames the `index`-th library (before it is attached): a replay names it as the
    /// recording did.
    pub fn set_name(&mut self, index: usize, name: &str) {
        if let Some((info, _)) = self.libs.get_mut(index) {
            info.name = name.to_string();
        }
    }

    fn unique_name(&self, path: &Path) -> String {
        let taken: Vec<&str> = self.libs.iter().map(|(i, _)| i.name.as_str()).collect();
        extension_name(path, &taken)
    }

    /// The libraries opened so far, in order.
    pub fn libraries(&self) -> impl Iterator<Item = &LibraryInfo> {
        self.libs.iter().map(|(i, _)| i)
    }

    /// Adds every library to `svc` (stopped) as an extension and binds its slot to it.
    /// A host drives one service at a time: attaching again moves the slots to the new one.
    pub fn attach(&mut self, svc: &mut Service) -> Result<Vec<ExtId>, SimError> {
        let order = (0..self.libs.len()).map(Member::Library).collect();
        self.attach_in_order(svc, order)
    }

    /// [`Host::attach`] with other extensions among the libraries, added to `svc` in the
    /// order given (a replay rebuilds a recorded run's extension table, where a library
    /// may follow an in-process extension). Every library must be named exactly once.
    /// Returns the ids of the members, in that order.
    pub fn attach_in_order(
        &mut self,
        svc: &mut Service,
        order: Vec<Member>,
    ) -> Result<Vec<ExtId>, SimError> {
        let mut ids = Vec::new();
        let mut lib_ids = vec![None; self.libs.len()];
        for member in order {
            match member {
                Member::Library(i) => {
                    let (info, ext) = &self.libs[i];
                    let id = svc.add_extension(
                        ExtensionSpec {
                            name: info.name.clone(),
                            kind: info.kind,
                        },
                        ext.clone(),
                    )?;
                    if ext.hinst() != 0 {
                        svc.set_hinst(id, HInst(ext.hinst()));
                    }
                    lib_ids[i] = Some(id);
                    ids.push(id);
                }
                Member::Other(spec, imp) => ids.push(svc.add_extension(spec, imp)?),
            }
        }
        let exts: Vec<ExtId> = lib_ids
            .into_iter()
            .map(|id| id.expect("every library is attached once"))
            .collect();
        let mut g = shared::lock();
        for ((info, _), id) in self.libs.iter().zip(&exts) {
            if let Some(Some(b)) = g.slots.get_mut(info.slot) {
                b.ext = Some(*id);
            }
        }
        g.begin_service();
        drop(g);
        self.exts = exts;
        Ok(ids)
    }

    /// Loads again every library the last stop unloaded (updating its hInst), then
    /// starts the service.
    pub fn start(&self, svc: &mut Service) -> Result<(), HostError> {
        self.reload(svc)?;
        svc.start()?;
        Ok(())
    }

    /// Loads again every library the service unloaded, updating its hInst (what
    /// [`Host::start`] does before it starts the service; a driver that loads extensions
    /// itself, like replay, calls it before each load).
    pub fn reload(&self, svc: &mut Service) -> Result<(), HostError> {
        self.close_unloaded(svc);
        for ((info, ext), id) in self.libs.iter().zip(&self.exts) {
            if ext.instance.borrow().is_none() {
                let instance = load::open(&info.path)?;
                *ext.instance.borrow_mut() = Some(instance);
            }
            if ext.hinst() != 0 {
                svc.set_hinst(*id, HInst(ext.hinst()));
            }
        }
        Ok(())
    }

    /// Stops the service (the libraries are unloaded) and starts it again.
    pub fn restart(&self, svc: &mut Service) -> Result<(), HostError> {
        svc.stop()?;
        self.close_unloaded(svc);
        self.start(svc)
    }

    /// Closes (`dlclose` / `FreeLibrary`) every library the service unloaded, with the
    /// callbacks published: code that runs at unload (a destructor, `DllMain` detach)
    /// and calls back is served and recorded (as `call-after-unload`).
    pub fn close_unloaded(&self, svc: &mut Service) {
        for ((_, ext), id) in self.libs.iter().zip(&self.exts) {
            let Some(instance) = ext.closing.borrow_mut().take() else {
                continue;
            };
            shared::call_c(&mut svc.callbacks(*id, 0), || drop(instance));
            // Its heap goes with it; the next load gets a fresh one.
            ext.heap.borrow_mut().take();
            routines::remove_queue(ext.slot);
        }
    }

    /// The names of the libraries that are still mapped although none of them is open
    /// (call it between runs): a library that pinned itself, or one the system will not
    /// unload. Their globals carry from one run into the next, so a run that follows
    /// another in the same process can differ from the same run alone.
    pub fn survivors(&self) -> Vec<String> {
        self.libs
            .iter()
            .filter(|(_, ext)| !ext.is_open())
            .filter(|(_, ext)| ext.still_mapped())
            .map(|(info, _)| info.name.clone())
            .collect()
    }

    /// A scheduling point for threads the extensions started: calls they are waiting
    /// to make are served now, for at most `limit`.
    pub fn pump(&self, svc: &mut Service, limit: Duration) {
        if let Some(&ext) = self.exts.first() {
            shared::pump(&mut svc.callbacks(ext, 0), limit);
        }
    }

    /// Runs `f` on service thread `id` while this thread waits: an OS thread of its own,
    /// the same one for every call with the same id, known to the host by that small id.
    /// A replay drives each recorded service thread's calls through it, so a library sees
    /// them come from one thread, as on the real service. `f` may use the service this
    /// thread drives (it is not touched here meanwhile).
    pub fn on_service_thread<R>(&self, id: u16, f: impl FnOnce() -> R) -> R {
        shared::on_service_thread(id, f)
    }

    /// Keeps the small thread ids `ids` for service threads (see
    /// [`Host::on_service_thread`]): threads an extension starts are numbered around
    /// them, as the recording numbered them.
    pub fn reserve_thread_ids(&self, ids: &[u16]) {
        shared::lock().reserve_thread_ids(ids);
    }

    /// What the host noticed that is not a protocol finding (internal errors caught at
    /// the boundary, calls that timed out waiting), oldest first.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut shared::lock().notes)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let mut g = shared::lock();
        for (info, _) in &self.libs {
            if let Some(s) = g.slots.get_mut(info.slot) {
                *s = None;
            }
            routines::remove_queue(info.slot);
        }
        g.heap.clear();
        g.begin_service();
        drop(g);
        // Libraries are closed as their last `Rc` goes (services holding them may
        // outlive the host; their calls then find the slot unbound).
    }
}
