//! faxsim-worker: crash-safe hosting. Extension libraries run in child worker processes
//! (`faxsim __worker`), each loading them once and running many seeds; a worker that
//! crashes or hangs costs the seed it was running, reported as `extension-crashed` /
//! `extension-hung` with every event up to that point, and is replaced.
//!
//! - [`protocol`]: the envelopes on the private channel; a job's events travel as the
//!   binary trace format itself.
//! - [`child::serve`]: the worker.
//! - [`pool::run_jobs`]: the parent, with `--jobs` workers and results in job order:
//!   battery seeds (`validate`) and scenario files that host libraries (`run`).
//! - [`in_process::run_battery_in_process`]: the same jobs in this process (for a
//!   debugger), with results of the same shape.
//! - [`output`]: the extension's own stdout/stderr, drained into bounded lines.
//!
//! The process plumbing (the private pipes, the process group or job object) is
//! `faxsim_host::isolate`; this crate has no `unsafe`.
#![forbid(unsafe_code)]

pub mod child;
pub mod in_process;
pub mod output;
pub mod pool;
pub mod protocol;

pub use in_process::run_battery_in_process;
pub use pool::{
    JobEnd, JobResult, Library, PoolConfig, PoolError, SinkFor, fallback_header, run_jobs,
};
pub use protocol::{BatteryJob, Job, ReplayJob, ScenarioEnd, ScenarioJob};
