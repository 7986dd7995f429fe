//! `--in-process`: the same jobs, run inside this process (to debug a library under a
//! debugger). Results have the same shape as the pool's, so reports do not care how the
//! jobs ran; a crash of the library ends this process, and a hang hangs it.

use std::ops::ControlFlow;
use std::path::PathBuf;

use faxsim_host::{Host, battery};
use faxsim_trace::{EventSink, ExtensionKind};

use crate::pool::{JobEnd, JobResult, Library, PoolError, SinkFor};
use crate::protocol::{BatteryJob, Job};

/// Runs `jobs` in this process, handing each result to `each` in order (`each` breaks to
/// stop). `sink_for` sees each job's events as they happen, so a `--record` trace keeps
/// every event written before a crash of this process.
pub fn run_battery_in_process(
    libs: &[PathBuf],
    kind: Option<ExtensionKind>,
    jobs: &[BatteryJob],
    sink_for: &mut SinkFor<'_>,
    mut each: impl FnMut(&[Library], JobResult) -> ControlFlow<()>,
) -> Result<Vec<Library>, PoolError> {
    let mut host = Host::new();
    for path in libs {
        host.open(path, kind)
            .map_err(|e| PoolError::Usage(e.to_string()))?;
    }
    let libraries: Vec<Library> = host
        .libraries()
        .map(|i| Library {
            name: i.name.clone(),
            path: i.path.clone(),
            kind: Some(i.kind),
            takes_part: i.takes_part(),
        })
        .collect();
    let extensions = battery::header_extensions(&host);
    for job in jobs {
        let opts = job.options();
        let header = battery::trace_header(&extensions, &opts);
        let mut recording_error = None;
        let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
        let whole = Job::Battery(job.clone());
        match sink_for(&whole, &header) {
            Ok(Some(sink)) => sinks.push(sink),
            Ok(None) => {}
            Err(e) => recording_error = Some(e),
        }
        // The caller checks the events, as it does the workers'.
        let out = battery::run_checked(&mut host, &opts, sinks, false)
            .map_err(|e| PoolError::Usage(e.to_string()))?;
        let mut notes = out.notes;
        if let Some(e) = out.aborted {
            notes.push(format!("the run was cut short: {e}"));
        }
        let survivors = host.survivors();
        if !survivors.is_empty() {
            notes.push(format!(
                "{} stayed mapped after the service unloaded it (it pinned itself, or the \
                 system keeps it): in process, its globals carry into the next seed; run \
                 without --in-process for independent seeds",
                survivors.join(", ")
            ));
        }
        let result = JobResult {
            job: whole,
            header: Some(header),
            events: out.events,
            notes,
            end: JobEnd::Completed,
            scenario: None,
            replay: None,
            recording_error: recording_error.or(out.recording_error.map(|e| e.to_string())),
        };
        if each(&libraries, result).is_break() {
            break;
        }
    }
    Ok(libraries)
}
