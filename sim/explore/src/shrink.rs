//! Shrinking a failing scenario file to its core: delta debugging (Zeller's ddmin) over
//! its steps (each `[[decision]]` with its step; a job or a routed fax whole), then over
//! each action list of its scripted extensions, its decisions, values and devices, keeping a change only
//! when the same finding (same rule, same extension) still fires under the same seed and
//! the same exploration decisions. The file is edited as a TOML document, so what comes
//! out is a scenario file like any other, minus what the finding did not need; its
//! `[expect]` is dropped, so `faxsim run` fails on it while the bug is there (a file
//! without an expectation on findings fails on an error finding) and passes once it is
//! fixed: a regression test.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use faxsim_scenario::Scenario;
use faxsim_sim::{Finding, Severity, Strategy};
use faxsim_worker::{Job, PoolConfig, ScenarioJob};
use toml::{Table, Value};

/// Where each candidate runs.
#[derive(Clone, Debug, Default)]
pub struct Runner {
    /// A file that hosts libraries runs in a worker process of this pool (`None`: every
    /// file in this process), so a candidate that crashes or hangs costs its run, not
    /// faxsim, and a crash or a hang can itself be shrunk.
    pub pool: Option<PoolConfig>,
}

/// What one run of a candidate showed.
struct Ran {
    findings: Vec<Finding>,
    names: Vec<String>,
    /// The libraries loaded (a worker that dies while loading one sends no header).
    loaded: bool,
}

impl Ran {
    fn shows(&self, wanted: &Wanted) -> bool {
        self.findings.iter().any(|f| {
            f.rule.id() == wanted.rule
                && wanted
                    .extension
                    .as_ref()
                    .is_none_or(|w| f.ext.and_then(|x| self.names.get(x.index())) == Some(w))
        })
    }
}

impl Runner {
    /// Every candidate in this process.
    pub fn in_process() -> Runner {
        Runner { pool: None }
    }

    /// Runs `scenario` (whose file is `text`, its library paths absolute) once; `None`
    /// if it cannot run (a step the service refuses, a worker that could not start).
    fn run(&self, scenario: &Scenario, text: &str, how: Shrinking) -> Option<Ran> {
        let Some(cfg) = self.pool.as_ref().filter(|_| scenario.hosts_libraries()) else {
            let r = scenario
                .run(crate::scenarios::run_options(how.seed, how.explore))
                .ok()?;
            return Some(Ran {
                findings: r.findings,
                names: r.names,
                loaded: true,
            });
        };
        // The worker reads the candidate from a file of its own, where the file's relative
        // library paths would not resolve: they are made absolute first.
        let mut doc: Table = toml::from_str(text).ok()?;
        let dir = scenario
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        anchor_libraries(&mut doc, dir);
        let text = toml::to_string(&doc).ok()?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let file = std::env::temp_dir().join(format!(
            "faxsim-shrink-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&file, text).ok()?;
        let job = Job::Scenario(ScenarioJob {
            path: file.to_str()?.to_string(),
            seed: how.seed,
            deny_warnings: false,
            explore: how.explore,
        });
        let mut cfg = cfg.clone();
        cfg.workers = 1;
        let mut ran = None;
        let mut no_sink = |_: &Job, _: &faxsim_trace::Header| Ok(None);
        let result = faxsim_worker::run_jobs(&cfg, &[job], &mut no_sink, |_, r| {
            ran = Some(Ran {
                findings: r.scenario_findings(),
                names: r.scenario_names(),
                loaded: r.header.is_some(),
            });
            ControlFlow::Break(())
        });
        let _ = std::fs::remove_file(&file);
        result.ok()?;
        ran
    }
}

/// What to keep firing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The rule's id.
    pub rule: String,
    /// The extension it is about (`None`: any).
    pub extension: Option<String>,
}

impl Wanted {
    /// The finding of an exploration's failure (its rule, and its extension unless `-`).
    pub fn of(f: &crate::Failure) -> Wanted {
        Wanted {
            rule: f.rule.clone(),
            extension: (f.extension != "-").then(|| f.extension.clone()),
        }
    }
}

/// How to run each candidate.
#[derive(Clone, Copy, Debug)]
pub struct Shrinking {
    /// The seed.
    pub seed: Option<u64>,
    /// The exploration's decisions, when the failure was found by one.
    pub explore: Option<Strategy>,
}

/// A shrunk scenario.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The finding kept.
    pub wanted: Wanted,
    /// The minimal file (its library paths made absolute).
    pub text: String,
    /// Steps before and after.
    pub steps: (usize, usize),
    /// Actions of scripted extensions before and after.
    pub actions: (usize, usize),
    /// `[[decision]]`s before and after.
    pub decisions: (usize, usize),
    /// Candidate runs it took.
    pub runs: usize,
}

impl Shrunk {
    /// The file to write: a comment saying what made it (`by`), from which file, how
    /// much of it is left, and the command that shows the finding (`see`); then the text.
    pub fn file(&self, by: &str, from: &Path, see: &str) -> String {
        format!(
            "# Shrunk by `{by}` from {} ({}): {} still fires.\n# See it: {see}\n\n{}",
            from.display(),
            self.summary(),
            self.wanted.rule,
            self.text
        )
    }

    /// What is left of what: `2 of 201 steps, 1 of 11 decisions` (parts the input did
    /// not have are left out).
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} of {} steps", self.steps.1, self.steps.0)];
        for (n, what) in [(self.actions, "actions"), (self.decisions, "decisions")] {
            if n.0 > 0 {
                parts.push(format!("{} of {} {what}", n.1, n.0));
            }
        }
        parts.join(", ")
    }
}

/// The first failing finding of a run of `scenario`: an error (a warning with
/// `deny_warnings`) whose rule the file does not allow.
pub fn first_failure(
    scenario: &Scenario,
    text: &str,
    how: Shrinking,
    deny_warnings: bool,
    runner: &Runner,
) -> Option<Wanted> {
    let r = runner.run(scenario, text, how)?;
    let allowed = scenario.allowed_rules();
    r.findings
        .iter()
        .find(|f| {
            (f.severity == Severity::Error || deny_warnings) && !allowed.contains(f.rule.id())
        })
        .map(|f| Wanted {
            rule: f.rule.id().into(),
            extension: f.ext.and_then(|x| r.names.get(x.index()).cloned()),
        })
}

/// Shrinks the scenario in `source` (read from `path`, which relative library paths are
/// resolved against) while `wanted` still fires.
pub fn shrink(
    path: &Path,
    source: &str,
    wanted: &Wanted,
    how: Shrinking,
    runner: &Runner,
) -> Result<Shrunk, String> {
    let doc: Table = toml::from_str(source).map_err(|e| format!("{}: {e}", path.display()))?;
    shrink_table(path, doc, wanted, how, runner)
}

/// [`shrink`] of a scenario already read as a TOML table (a recording made into a
/// scenario, `faxsim_replay::scenario`); `path` names it in messages and anchors its
/// relative library paths.
pub fn shrink_table(
    path: &Path,
    mut doc: Table,
    wanted: &Wanted,
    how: Shrinking,
    runner: &Runner,
) -> Result<Shrunk, String> {
    doc.remove("expect");
    // Library paths absolute first: a candidate may run from a file elsewhere.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    anchor_libraries(&mut doc, dir);
    if let Some(seed) = how.seed {
        // The seed the finding needs, in the file.
        let service = doc
            .entry("service")
            .or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(t) = service {
            t.insert("seed".into(), Value::Integer(seed as i64));
        }
    }
    let mut runs = 0;
    let mut fires = |doc: &Table| -> bool {
        runs += 1;
        let Ok(text) = toml::to_string(&flatten(doc)) else {
            return false;
        };
        let Ok(s) = Scenario::parse(path, &text) else {
            return false;
        };
        // A candidate the service could not produce (a job never ended) shows nothing.
        if s.leaves_work_open() {
            return false;
        }
        runner.run(&s, &text, how).is_some_and(|r| r.shows(wanted))
    };
    if !fires(&doc) {
        return Err(format!(
            "{}: {} does not fire{} in this run, so there is nothing to keep",
            path.display(),
            wanted.rule,
            wanted
                .extension
                .as_ref()
                .map_or_else(String::new, |e| format!(" for {e}"))
        ));
    }
    let steps = ["step".to_string()];
    let decisions = ["decision".to_string()];
    let steps_before = count(&doc, &steps);
    let actions_before = action_lists(&doc).iter().map(|p| count(&doc, p)).sum();
    let decisions_before = count(&doc, &decisions);
    // Each decision travels with its step while steps go (see `nest`); an empty step
    // list means "start, settle, stop": keep at least one step.
    nest(&mut doc);
    ddmin(&mut doc, &steps, 1, &mut fires);
    // A job or a routing goes whole (its start, its calls, its end): one removal at a
    // time would leave calls the service never makes, which no candidate may have.
    while drop_spans(&mut doc, &mut fires) {
        ddmin(&mut doc, &steps, 1, &mut fires);
    }
    doc = flatten(&doc);
    // Until nothing more goes: a value or device removed can make a decision needless.
    for _ in 0..3 {
        let before = doc.clone();
        for list in action_lists(&doc) {
            ddmin(&mut doc, &list, 0, &mut fires);
        }
        ddmin(&mut doc, &decisions, 0, &mut fires);
        ddmin(&mut doc, &["value".to_string()], 0, &mut fires);
        ddmin(&mut doc, &["device".to_string()], 0, &mut fires);
        drop_unused_scripts(&mut doc, &mut fires);
        if doc == before {
            break;
        }
    }
    for key in ["step", "decision", "value", "device"] {
        if matches!(doc.get(key), Some(Value::Array(a)) if a.is_empty()) {
            doc.remove(key);
        }
    }
    let text = toml::to_string(&doc).map_err(|e| e.to_string())?;
    Ok(Shrunk {
        wanted: wanted.clone(),
        steps: (steps_before, count(&doc, &steps)),
        actions: (
            actions_before,
            action_lists(&doc).iter().map(|p| count(&doc, p)).sum(),
        ),
        decisions: (decisions_before, count(&doc, &decisions)),
        text,
        runs,
    })
}

/// A recording shrunk into a scenario file.
#[derive(Clone, Debug)]
pub struct ShrunkTrace {
    /// The shrunk scenario.
    pub shrunk: Shrunk,
    /// The recording's events.
    pub events: usize,
    /// What the scenario made from it could not repeat (see `faxsim_replay::scenario`).
    pub notes: Vec<String>,
}

/// Makes the recording at `trace` into a scenario that hosts `libraries` in place of the
/// recorded extensions they match (by name, then by build), and shrinks it while the
/// finding `wanted` still fires (default: the recording's first failing finding, an
/// error, or a warning with `deny_warnings`, that the scenario shows too). With an
/// in-process runner, a recording that crashes or hangs is refused: a candidate would
/// take faxsim with it.
pub fn shrink_trace(
    trace: &Path,
    libraries: &[std::path::PathBuf],
    wanted: Option<Wanted>,
    deny_warnings: bool,
    runner: &Runner,
) -> Result<ShrunkTrace, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", trace.display());
    let mut input = faxsim_trace::TraceInput::open(trace).map_err(|e| at(&e))?;
    let header = input.header().clone();
    let mut events = Vec::new();
    while let Some(e) = input.next_event().map_err(|e| at(&e))? {
        events.push(e);
    }
    let libraries = libraries
        .iter()
        .map(|l| std::path::absolute(l).unwrap_or_else(|_| l.clone()))
        .collect::<Vec<_>>();
    let made =
        faxsim_replay::scenario::scenario_of(&header, &events, &libraries).map_err(|e| at(&e))?;
    let names = header.extension_names();
    let recorded =
        faxsim_sim::check_events(&events, faxsim_sim::CheckerConfig::for_header(&header));
    let failing = |f: &faxsim_sim::Finding| f.severity == Severity::Error || deny_warnings;
    let wanted_of = |f: &faxsim_sim::Finding| Wanted {
        rule: f.rule.id().into(),
        extension: f.ext.and_then(|x| names.get(x.index()).cloned()),
    };
    let crash = |rule: &str| matches!(rule, "extension-crashed" | "extension-hung");
    let how = Shrinking {
        seed: Some(header.seed),
        explore: None,
    };
    if runner.pool.is_none()
        && let Some(f) = recorded.iter().find(|f| crash(f.rule.id()))
    {
        // Any run of the scenario would take faxsim with it.
        return Err(at(&format!(
            "the recording ends in {}: it is not shrunk in process (each candidate would take faxsim with it)",
            f.rule.id()
        )));
    }
    let wanted = match wanted {
        Some(w) => w,
        None => {
            let text = toml::to_string(&made.table).map_err(|e| e.to_string())?;
            let scenario = Scenario::parse(trace, &text).map_err(|e| e.to_string())?;
            let run = runner
                .run(&scenario, &text, how)
                .ok_or_else(|| at(&"the scenario made from the recording does not run"))?;
            let shown = |w: &Wanted| run.shows(w);
            let candidates: Vec<Wanted> = recorded
                .iter()
                .filter(|f| failing(f))
                .map(wanted_of)
                .collect();
            match candidates.iter().find(|w| shown(w)) {
                Some(w) => w.clone(),
                None if candidates.is_empty() => {
                    return Err(at(
                        &"the recording has no failing finding (name one with --rule)",
                    ));
                }
                None if !run.loaded => {
                    return Err(at(
                        &"the library crashes while it is being loaded, before any input reaches it: there is nothing to shrink (`faxsim validate` shows it)",
                    ));
                }
                None => {
                    let w = &candidates[0];
                    let mut m = format!(
                        "the scenario made from the recording does not show {}{} (the recording's first failing finding), nor any other of its {} failing findings",
                        w.rule,
                        w.extension
                            .as_ref()
                            .map_or_else(String::new, |e| format!(" in {e}")),
                        candidates.len()
                    );
                    for n in made.notes.iter().take(3) {
                        m.push_str(&format!("\n  note: {n}"));
                    }
                    return Err(at(&m));
                }
            }
        }
    };
    let shrunk = shrink_table(trace, made.table, &wanted, how, runner)?;
    Ok(ShrunkTrace {
        shrunk,
        events: events.len(),
        notes: made.notes,
    })
}

/// The spans of steps that stand or fall together: a job (`call FaxDevStartJob` to its
/// `FaxDevEndJob`) and a routing (`routing-start` to `routing-end`), as (first, last).
fn spans(steps: &[Value]) -> Vec<(usize, usize)> {
    let field = |v: &Value, k: &str| -> Option<String> {
        v.get(k).and_then(Value::as_str).map(str::to_string)
    };
    let mut out = Vec::new();
    let mut open_job: Vec<(String, usize)> = Vec::new();
    let mut open_routing = None;
    for (i, s) in steps.iter().enumerate() {
        match (field(s, "op").as_deref(), field(s, "function").as_deref()) {
            (Some("call"), Some(faxsim_abi::FAX_DEV_START_JOB_SYMBOL)) => {
                open_job.push((field(s, "ext").unwrap_or_default(), i));
            }
            (Some("call"), Some(faxsim_abi::FAX_DEV_END_JOB_SYMBOL)) => {
                let ext = field(s, "ext").unwrap_or_default();
                if let Some(p) = open_job.iter().position(|(e, _)| *e == ext) {
                    out.push((open_job.remove(p).1, i));
                }
            }
            (Some("routing-start"), _) => open_routing = Some(i),
            (Some("routing-end"), _) => {
                if let Some(start) = open_routing.take() {
                    out.push((start, i));
                }
            }
            _ => {}
        }
    }
    out
}

/// Tries removing each job and routing whole; true if one went.
fn drop_spans(doc: &mut Table, fires: &mut impl FnMut(&Table) -> bool) -> bool {
    let Some(Value::Array(steps)) = doc.get("step") else {
        return false;
    };
    for (first, last) in spans(steps) {
        let mut candidate = doc.clone();
        if let Some(Value::Array(a)) = candidate.get_mut("step") {
            a.drain(first..=last);
        }
        if fires(&candidate) {
            *doc = candidate;
            return true;
        }
    }
    false
}

/// Removes each scripted extension (one without a library) the finding does not need:
/// a recording's peer that no step uses any more, say. Libraries stay: they are what
/// the file tests.
fn drop_unused_scripts(doc: &mut Table, fires: &mut impl FnMut(&Table) -> bool) {
    let mut i = 0;
    loop {
        let Some(Value::Array(exts)) = doc.get("extension") else {
            return;
        };
        if i >= exts.len() {
            return;
        }
        let scripted = matches!(&exts[i], Value::Table(t) if !t.contains_key("library"));
        if scripted {
            let mut candidate = doc.clone();
            if let Some(Value::Array(a)) = candidate.get_mut("extension") {
                a.remove(i);
            }
            if fires(&candidate) {
                *doc = candidate;
                continue;
            }
        }
        i += 1;
    }
}

/// The key a step keeps its decisions under while steps are shrunk.
const STEP_DECISIONS: &str = "__decisions";

/// Moves each `[[decision]]` into the step it names (under [`STEP_DECISIONS`]), so a
/// step removed takes its decisions along and the others keep theirs.
fn nest(doc: &mut Table) {
    let Some(Value::Array(decisions)) = doc.remove("decision") else {
        return;
    };
    let Some(Value::Array(steps)) = doc.get_mut("step") else {
        return;
    };
    for d in decisions {
        let Value::Table(d) = d else { continue };
        let Some(step) = d.get("step").and_then(Value::as_integer) else {
            continue;
        };
        // Rebuilt, not edited: the keys keep their order.
        let d: Table = d.into_iter().filter(|(k, _)| k != "step").collect();
        if let Some(Value::Table(s)) = usize::try_from(step - 1)
            .ok()
            .and_then(|i| steps.get_mut(i))
            && let Value::Array(a) = s
                .entry(STEP_DECISIONS)
                .or_insert_with(|| Value::Array(Vec::new()))
        {
            a.push(Value::Table(d));
        }
    }
}

/// The file form of a nested document: each step's decisions back in `[[decision]]`,
/// numbered by where the step now is.
fn flatten(doc: &Table) -> Table {
    let mut out = doc.clone();
    let mut decisions = match out.remove("decision") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    if let Some(Value::Array(steps)) = out.get_mut("step") {
        for (i, s) in steps.iter_mut().enumerate() {
            if let Value::Table(s) = s
                && let Some(Value::Array(ds)) = s.remove(STEP_DECISIONS)
            {
                for d in ds {
                    if let Value::Table(d) = d {
                        let mut t = Table::new();
                        t.insert("step".into(), Value::Integer(i as i64 + 1));
                        t.extend(d);
                        decisions.push(Value::Table(t));
                    }
                }
            }
        }
    }
    if !decisions.is_empty() {
        out.insert("decision".into(), Value::Array(decisions));
    }
    out
}

/// The file's `library = "…"` paths made absolute (from `dir`, the folder of the file
/// they were relative to), so the shrunk file can be written anywhere.
fn anchor_libraries(doc: &mut Table, dir: &Path) {
    if let Some(Value::Array(exts)) = doc.get_mut("extension") {
        for e in exts {
            if let Value::Table(t) = e
                && let Some(Value::String(lib)) = t.get_mut("library")
                && Path::new(lib.as_str()).is_relative()
            {
                let abs = std::path::absolute(dir.join(&*lib)).unwrap_or_else(|_| dir.join(&*lib));
                *lib = abs.display().to_string();
            }
        }
    }
}

/// The paths of every `actions` array of the file's extensions
/// (`extension[i].HOOK.actions`), as keys and indices rendered as strings.
fn action_lists(doc: &Table) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let Some(Value::Array(exts)) = doc.get("extension") {
        for (i, e) in exts.iter().enumerate() {
            if let Value::Table(t) = e {
                for (hook, v) in t {
                    if let Value::Table(h) = v
                        && matches!(h.get("actions"), Some(Value::Array(_)))
                    {
                        out.push(vec![
                            "extension".into(),
                            i.to_string(),
                            hook.clone(),
                            "actions".into(),
                        ]);
                    }
                }
            }
        }
    }
    out
}

fn array_at<'a>(doc: &'a mut Table, path: &[String]) -> Option<&'a mut Vec<Value>> {
    let (first, rest) = path.split_first()?;
    let mut v = doc.get_mut(first)?;
    for key in rest {
        v = match v {
            Value::Table(t) => t.get_mut(key)?,
            Value::Array(a) => a.get_mut(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match v {
        Value::Array(a) => Some(a),
        _ => None,
    }
}

fn count(doc: &Table, path: &[String]) -> usize {
    let Some((first, rest)) = path.split_first() else {
        return 0;
    };
    let mut v = doc.get(first);
    for key in rest {
        v = match v {
            Some(Value::Table(t)) => t.get(key),
            Some(Value::Array(a)) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
    }
    match v {
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// ddmin over the array at `path`: removes ever smaller chunks while `fires` holds,
/// keeping at least `keep` elements; ends 1-minimal (no single element can go).
fn ddmin(doc: &mut Table, path: &[String], keep: usize, fires: &mut impl FnMut(&Table) -> bool) {
    let Some(len) = array_at(doc, path).map(|a| a.len()) else {
        return;
    };
    let mut items: Vec<Value> = array_at(doc, path).map(std::mem::take).unwrap_or_default();
    debug_assert_eq!(items.len(), len);
    let mut n = 2usize;
    while items.len() > keep {
        let chunk = items.len().div_ceil(n);
        let mut removed = false;
        let mut start = 0;
        while start < items.len() {
            let end = (start + chunk).min(items.len());
            if items.len() - (end - start) < keep {
                start = end;
                continue;
            }
            let mut candidate = items.clone();
            candidate.drain(start..end);
            if let Some(a) = array_at(doc, path) {
                *a = candidate.clone();
            }
            if fires(doc) {
                items = candidate;
                removed = true;
                n = (n - 1).max(2);
                break;
            }
            start = end;
        }
        if !removed {
            if chunk == 1 {
                break;
            }
            n = (n * 2).min(items.len());
        }
    }
    if let Some(a) = array_at(doc, path) {
        *a = items;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddmin_finds_the_one_element_that_matters() {
        let mut doc: Table =
            toml::from_str("step = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]").unwrap();
        let mut runs = 0;
        ddmin(&mut doc, &["step".to_string()], 1, &mut |d: &Table| {
            runs += 1;
            d["step"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v.as_integer() == Some(7))
        });
        assert_eq!(doc["step"].as_array().unwrap(), &vec![Value::Integer(7)]);
        assert!(runs < 40, "{runs}");
    }

    #[test]
    fn ddmin_keeps_a_pair_that_matters_together() {
        let mut doc: Table = toml::from_str("step = [1, 2, 3, 4, 5, 6, 7, 8]").unwrap();
        ddmin(&mut doc, &["step".to_string()], 0, &mut |d: &Table| {
            let a = d["step"].as_array().unwrap();
            a.contains(&Value::Integer(2)) && a.contains(&Value::Integer(8))
        });
        assert_eq!(
            doc["step"].as_array().unwrap(),
            &vec![Value::Integer(2), Value::Integer(8)]
        );
    }
}
