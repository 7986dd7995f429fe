//! faxsim-scenario: scenario files, a TOML description of a machine, its extensions
//! (scripted, or real libraries hosted through `faxsim-host`), the steps of a run, and what
//! must hold afterwards.
//!
//! [`Scenario::load`] parses strictly (unknown keys, wrong types and references to
//! undefined names are errors with file, line and column, and a "did you mean"); then
//! [`Scenario::run`] builds a [`Service`], runs the steps and judges the expectations.
//! `docs/scenario-format.md` documents the format. The service model (`faxsim-sim`)
//! knows nothing of this crate: a scenario is one more driver of it.
#![forbid(unsafe_code)]

mod decisions;
mod host;
pub mod model;
pub mod script;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use faxsim_abi::{Callback, E_FAIL};
use faxsim_sim::extension::{ExtensionSpec, VirtualDevices};
use faxsim_sim::faults::{Fault, Trigger};
use faxsim_sim::guid::parse_braced_guid;
use faxsim_sim::options::{Limits, ServiceOptions};
use faxsim_sim::rules::{Finding, Rule, Severity};
use faxsim_sim::service::{EventSink, Service, SimError};
use faxsim_trace::{Event, EventKind, Exports, ExtId, ExtensionKind, Half};

use self::host::{HostStepError, HostedLibraries};
use self::model::*;
use self::script::{
    HookScript, ScriptBuilder, ScriptShared, ScriptedExtension, code_by_name, decode_hex,
    default_result, pattern,
};

/// A scenario file that cannot be used: the message names the file, and where the
/// problem has a place in the text, its line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Whether a run may load the extension libraries a scenario names (`library = "..."`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Libraries {
    /// Host them in this process through `faxsim-host` (a crash of a library ends the
    /// process: `faxsim run` runs such scenarios in a worker process, `faxsim-worker`).
    Host,
    /// Load nothing: a scenario that names a library is an error in the file. For input
    /// that is not trusted to name libraries (the fuzz target, mutation tests).
    Refuse,
}

/// Makes the sinks of a scenario run once its extensions are known (see
/// [`Scenario::run_with`]); an `Err` message ends the run before it starts.
pub type SinkFactory<'a> = dyn FnMut(&Service) -> Result<Vec<Box<dyn EventSink>>, String> + 'a;

/// How to run a scenario. The default runs it with its own seed, hosts no library and
/// lets warnings pass.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The seed instead of the file's `[service] seed` (`faxsim run --seed`).
    pub seed: Option<u64>,
    /// Whether the libraries the file names are loaded.
    pub libraries: Libraries,
    /// For a scenario that states no expectation on findings: warnings fail it too, not
    /// only errors (`faxsim run --deny-warnings`).
    pub deny_warnings: bool,
    /// An exploration's strategy (`faxsim explore`): the service's open decisions are
    /// the exploration's for this seed (see [`Scenario::options_explored`] for the
    /// delivery policy).
    pub explore: Option<faxsim_sim::Strategy>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            seed: None,
            libraries: Libraries::Refuse,
            deny_warnings: false,
            explore: None,
        }
    }
}

/// A parsed, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it came from.
    pub path: PathBuf,
    /// Its name (the file stem unless the file names it).
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// The file's contents.
    pub file: ScenarioFile,
    source: String,
}

/// What a scenario run produced.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// Its name.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// The seed it ran with.
    pub seed: u64,
    /// Every expectation held.
    pub passed: bool,
    /// Findings of the run.
    pub findings: Vec<Finding>,
    /// Every expectation that failed, in words.
    pub failures: Vec<String>,
    /// Extension names, by `ExtId`.
    pub names: Vec<String>,
    /// The events of the run.
    pub events: Vec<Event>,
    /// The first error of a sink's recording (the run itself completed).
    pub recording_error: Option<String>,
}

/// The deepest nesting limit a scenario may set: each level is a nested call on the
/// service thread's stack (a hosted library's frames included), and this many hold with
/// room to spare; far deeper overflows the stack.
pub const MAX_NESTING: u32 = 256;

/// The most devices a scenario's virtual FSP may create.
pub const MAX_VIRTUAL_DEVICES: u32 = 4096;

/// The largest value a scenario builds from `size` (16 MiB): a write above 1 MiB is
/// refused by the service anyway, and an in-process SetData this large is already far
/// beyond what extensions store.
pub const MAX_VALUE_BYTES: u32 = 16 << 20;

/// The largest scenario file read (a scenario is a few kilobytes of text).
pub const MAX_SCENARIO_BYTES: u64 = 4 << 20;

/// Line and column (in characters, from 1) of byte `offset`.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Adds "did you mean" to serde's "unknown field `x`, expected one of `a`, `b`" messages.
fn suggest(message: &str) -> String {
    if !message.starts_with("unknown field") && !message.starts_with("unknown variant") {
        return message.to_string();
    }
    let (Some(start), Some(list)) = (message.find('`'), message.find("expected")) else {
        return message.to_string();
    };
    let Some(end) = message[start + 1..].find('`') else {
        return message.to_string();
    };
    let unknown = &message[start + 1..start + 1 + end];
    if unknown.len() > MAX_SUGGESTED_LEN {
        return message.to_string();
    }
    let candidates: Vec<&str> = message[list..]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.len() <= MAX_SUGGESTED_LEN)
        .collect();
    let best = candidates
        .iter()
        .map(|c| (strsim::osa_distance(unknown, c), *c))
        .min();
    match best {
        Some((d, c)) if d <= unknown.len().max(3) / 2 + 1 && !unknown.is_empty() => {
            format!("{message} (did you mean `{c}`?)")
        }
        _ => message.to_string(),
    }
}

/// Where a TOML error really is, and its message with a suggestion. serde reports a
/// field error at the table that holds it (a `[[step]]`'s first line, the start of an
/// `actions` array); the key itself is found in that span. An unknown key gets "did you
/// mean"; a missing key (`op`, the tag of steps and actions) is matched against a
/// misspelt key present in the table.
fn pinpoint(
    source: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
) -> (Option<usize>, String) {
    let Some(span) = span else {
        if message.contains("recursion limit") {
            // The TOML reader stops nesting at a fixed depth and gives no place: the
            // deepest line is the one.
            let deepest = source
                .split_inclusive('\n')
                .scan(0, |at, line| {
                    let o = *at;
                    *at += line.len();
                    Some((line.matches(['.', '[', '{']).count(), o))
                })
                .max_by_key(|&(depth, o)| (depth, std::cmp::Reverse(o)))
                .map(|(_, o)| o);
            return (
                deepest,
                "nested too deep for the TOML reader (a dotted key, table header, array or inline table of too many levels)".into(),
            );
        }
        return (None, suggest(message));
    };
    let field = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        let end = rest.find('`')?;
        Some(rest[..end].to_string())
    };
    // A table header's span is the header alone: its body runs to the next header.
    let body_end = source[span.start.min(source.len())..]
        .match_indices("\n[")
        .map(|(i, _)| span.start + i)
        .find(|&e| e >= span.end)
        .unwrap_or(source.len());
    let region = source.get(span.start..body_end.max(span.end)).unwrap_or("");
    // An array of tables (`[[step]]`) is reported at its first header whichever element
    // is wrong: the key is then the first such key after it.
    let after = source.get(span.start..).unwrap_or("");
    if let Some(unknown) = field("unknown field `") {
        let at = toml_keys(region)
            .find(|(_, k)| *k == unknown)
            .or_else(|| toml_keys(after).find(|(_, k)| *k == unknown))
            .map_or(span.start, |(o, _)| span.start + o);
        return (Some(at), suggest(message));
    }
    if let Some(missing) = field("missing field `") {
        let keys: Vec<(usize, &str)> = if toml_keys(region).any(|(_, k)| k == missing) {
            toml_keys(after).collect()
        } else {
            toml_keys(region).collect()
        };
        let near = keys
            .into_iter()
            .filter(|(_, k)| *k != missing && k.len() <= MAX_SUGGESTED_LEN)
            .map(|(o, k)| (strsim::osa_distance(k, &missing), o, k))
            .filter(|(d, _, k)| *d <= k.len().max(missing.len()).max(3) / 2)
            .min();
        if let Some((_, o, k)) = near {
            return (
                Some(span.start + o),
                format!("{message} (is `{k}` a misspelling of `{missing}`?)"),
            );
        }
    }
    (Some(span.start), suggest(message))
}

/// The keys written in a piece of TOML (`key =` at a line start or after `{` or `,`),
/// with their offsets. Good enough to point at a key; not a parser.
fn toml_keys(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' {
            in_string = !in_string;
        } else if !in_string && (b == b'#') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if !in_string && (b.is_ascii_alphabetic() || b == b'_') {
            let before = text[..i].trim_end_matches([' ', '\t']);
            let starts_key = before.is_empty()
                || before.ends_with('\n')
                || before.ends_with('{')
                || before.ends_with(',');
            let end = i + text[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(text.len() - i);
            let after = text[end..].trim_start_matches([' ', '\t']);
            if starts_key && after.starts_with('=') {
                out.push((i, &text[i..end]));
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out.into_iter()
}

/// Names longer than this get no "did you mean" (and are no suggestion): edit distance
/// costs the product of the lengths, and no real name is this long.
const MAX_SUGGESTED_LEN: usize = 64;

/// Every string in a piece of TOML (basic, literal and their multi-line forms, not in
/// comments), with its offset and its value once escapes are decoded. Good enough to
/// point at a value; not a parser (an escape it does not know is kept as written).
fn toml_strings(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'"' | b'\'') => {
                let start = i;
                let triple = if q == b'"' { "\"\"\"" } else { "'''" };
                let multi = text[i..].starts_with(triple);
                let delim = if multi { 3 } else { 1 };
                i += delim;
                let mut value = String::new();
                let mut chars = text[i..].char_indices();
                let mut end = text.len();
                while let Some((k, c)) = chars.next() {
                    let at = i + k;
                    if c as u32 == u32::from(q) && (!multi || text[at..].starts_with(triple)) {
                        end = at + delim;
                        break;
                    }
                    if c == '\n' && !multi {
                        end = at;
                        break;
                    }
                    if c == '\\' && q == b'"' {
                        let Some((_, e)) = chars.next() else { break };
                        let mut hex = |n: usize| {
                            let digits: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                            u32::from_str_radix(&digits, 16)
                                .ok()
                                .and_then(char::from_u32)
                        };
                        match e {
                            'n' => value.push('\n'),
                            't' => value.push('\t'),
                            'r' => value.push('\r'),
                            'b' => value.push('\u{8}'),
                            'f' => value.push('\u{c}'),
                            'e' => value.push('\u{1b}'),
                            'u' => value.extend(hex(4)),
                            'U' => value.extend(hex(8)),
                            'x' => value.extend(hex(2)),
                            other => value.push(other),
                        }
                        continue;
                    }
                    value.push(c);
                }
                out.push((start, value));
                i = end.max(start + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    if name.len() > MAX_SUGGESTED_LEN {
        return String::new();
    }
    known
        .filter(|k| k.len() <= MAX_SUGGESTED_LEN)
        .map(|k| (strsim::osa_distance(name, k), k))
        .min()
        .filter(|(d, _)| *d <= name.len().max(3) / 2 + 1)
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let error = |at, message| ScenarioError {
            path: path.to_path_buf(),
            at,
            message,
        };
        let meta = std::fs::metadata(path)
            .map_err(|e| error(None, format!("cannot read the scenario: {e}")))?;
        if !meta.is_file() {
            return Err(error(
                None,
                "not a regular file (a folder, FIFO, socket or device): scenarios are read from regular files".into(),
            ));
        }
        if meta.len() > MAX_SCENARIO_BYTES {
            return Err(error(
                None,
                format!(
                    "{} bytes, above the {MAX_SCENARIO_BYTES}-byte limit for a scenario file",
                    meta.len()
                ),
            ));
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(
                std::fs::File::open(path)
                    .map_err(|e| error(None, format!("cannot read the scenario: {e}")))?,
                MAX_SCENARIO_BYTES + 1,
            ),
            &mut bytes,
        )
        .map_err(|e| error(None, format!("cannot read the scenario: {e}")))?;
        let source = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                // The prefix up to `valid` is UTF-8 by definition.
                let prefix = String::from_utf8_lossy(&bytes[..valid]);
                return Err(error(
                    Some(line_col(&prefix, valid)),
                    "not valid UTF-8 (a scenario is UTF-8 text)".into(),
                ));
            }
        };
        Scenario::parse(path, &source)
    }

    /// Parses and checks scenario text (`path` names it in errors).
    pub fn parse(path: &Path, source: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(source).map_err(|e| {
            let (offset, message) = pinpoint(source, e.span(), e.message().trim());
            ScenarioError {
                path: path.to_path_buf(),
                at: offset.map(|o| line_col(source, o)),
                message,
            }
        })?;
        let name = file.scenario.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
        });
        let scenario = Scenario {
            path: path.to_path_buf(),
            name,
            description: file.scenario.description.clone(),
            file,
            source: source.to_string(),
        };
        scenario.check()?;
        Ok(scenario)
    }

    /// An error at the first string value that reads `needle` once its escapes are
    /// decoded (so not inside a longer string such as a description), else at the first
    /// place the text itself appears (or without a place).
    fn error_at(&self, needle: &str, message: String) -> ScenarioError {
        self.error_at_nth(needle, 0, message)
    }

    /// [`Scenario::error_at`] at the `nth` (from 0) string value reading `needle`.
    fn error_at_nth(&self, needle: &str, nth: usize, message: String) -> ScenarioError {
        let at = toml_strings(&self.source)
            .into_iter()
            .filter(|(_, value)| value == needle)
            .nth(nth)
            .map(|(o, _)| o)
            .or_else(|| self.source.find(needle))
            .map(|o| line_col(&self.source, o));
        ScenarioError {
            path: self.path.clone(),
            at,
            message,
        }
    }

    /// An error at key `key` written with value `value` (`key = value`), or at the first
    /// `key` if no such line is found.
    fn error_at_key(&self, key: &str, value: &str, message: String) -> ScenarioError {
        let keys: Vec<(usize, &str)> = toml_keys(&self.source).filter(|(_, k)| *k == key).collect();
        let with_value = keys.iter().find(|(o, k)| {
            self.source[o + k.len()..]
                .trim_start_matches([' ', '\t'])
                .strip_prefix('=')
                .is_some_and(|v| v.trim_start_matches([' ', '\t']).starts_with(value))
        });
        let at = with_value
            .or(keys.first())
            .map(|(o, _)| line_col(&self.source, *o));
        ScenarioError {
            path: self.path.clone(),
            at,
            message,
        }
    }

    /// A `size` of pattern bytes the scenario would allocate.
    fn check_size(&self, n: u32) -> Result<(), ScenarioError> {
        if n > MAX_VALUE_BYTES {
            return Err(self.error_at_key(
                "size",
                &n.to_string(),
                format!(
                    "size = {n} is above the {MAX_VALUE_BYTES}-byte limit of a scenario value (the service itself refuses external writes above 1 MiB; `null_data = true` passes any size without data)"
                ),
            ));
        }
        Ok(())
    }

    /// Numbers with a documented limit, checked before anything is allocated for them.
    fn check_limits(&self) -> Result<(), ScenarioError> {
        let f = &self.file;
        if let Some(n) = f.service.limits.nesting
            && n > MAX_NESTING
        {
            return Err(self.error_at_key(
                "nesting",
                &n.to_string(),
                format!(
                    "nesting = {n} is above the limit of {MAX_NESTING} (each level is a nested call on the service thread's stack; the default is 16)"
                ),
            ));
        }
        for e in &f.extensions {
            if let Some(v) = &e.virtual_devices {
                if v.count > MAX_VIRTUAL_DEVICES {
                    return Err(self.error_at_key(
                        "count",
                        &v.count.to_string(),
                        format!(
                            "virtual_devices count = {} of {:?} is above the limit of {MAX_VIRTUAL_DEVICES} devices",
                            v.count, e.name
                        ),
                    ));
                }
                if v.prefix.checked_add(v.count).is_none() {
                    return Err(self.error_at_key(
                        "prefix",
                        &v.prefix.to_string(),
                        format!(
                            "virtual_devices of {:?}: device ids {} + {} run past 4294967295",
                            e.name, v.prefix, v.count
                        ),
                    ));
                }
            }
        }
        for s in &f.steps {
            if let Step::Write { size: Some(n), .. } = s {
                self.check_size(*n)?;
            }
        }
        Ok(())
    }

    /// Checks names, codes, hex and rule ids, which serde cannot.
    fn check(&self) -> Result<(), ScenarioError> {
        self.check_limits()?;
        let f = &self.file;
        let mut names = BTreeSet::new();
        for e in &f.extensions {
            if !names.insert(e.name.as_str()) {
                return Err(self.error_at_nth(
                    &e.name,
                    1,
                    format!("extension {:?} is defined twice", e.name),
                ));
            }
        }
        let ext_ref = |n: &str| -> Result<(), ScenarioError> {
            if names.contains(n) {
                Ok(())
            } else {
                Err(self.error_at(
                    n,
                    format!(
                        "no extension is named {n:?}{}",
                        closest(n, names.iter().copied())
                    ),
                ))
            }
        };
        let code = |c: &str| -> Result<(), ScenarioError> {
            code_by_name(c).map(|_| ()).ok_or_else(|| {
                self.error_at(
                    c,
                    format!(
                        "{c:?} is not a known Win32 error code name{}",
                        closest(c, faxsim_abi::WIN32_ERROR_NAMES.iter().map(|(_, n)| *n))
                    ),
                )
            })
        };
        let hex = |h: &str| -> Result<(), ScenarioError> {
            decode_hex(h).map(|_| ()).map_err(|m| self.error_at(h, m))
        };
        let guid_ref = |g: &str| -> Result<(), ScenarioError> {
            parse_braced_guid(g)
                .map(|_| ())
                .ok_or_else(|| self.error_at(g, format!("{g:?} is not a braced GUID")))
        };
        // Names bound anywhere in an extension's hooks or its `run` steps.
        for e in &f.extensions {
            let mut actions: Vec<&Action> = e
                .hooks()
                .into_iter()
                .flat_map(|h| h.actions.iter())
                .collect();
            for s in &f.steps {
                if let Step::Run {
                    ext, actions: a, ..
                } = s
                    && *ext == e.name
                {
                    actions.extend(a.iter());
                }
            }
            let mut buffers = BTreeSet::new();
            let mut handles = BTreeSet::new();
            for a in &actions {
                match a {
                    Action::Get { bind: Some(b), .. } => {
                        buffers.insert(b.as_str());
                    }
                    Action::Register { bind: Some(b), .. } => {
                        handles.insert(b.as_str());
                    }
                    _ => {}
                }
            }
            for a in &actions {
                self.check_action(a, &e.name, &buffers, &handles, &ext_ref, &code, &hex)?;
            }
            for (hook_name, hook) in e.named_hooks() {
                if let Some(g) = &hook.guid
                    && parse_braced_guid(g).is_none()
                {
                    return Err(self.error_at(g, format!("hook guid {g:?} is not a braced GUID")));
                }
                let bool_hook = matches!(
                    hook_name,
                    "general_init" | "on_device_arrival" | "on_device_removal"
                );
                match &hook.result {
                    Some(ResultDecl::Name(n)) if bool_hook => {
                        return Err(self.error_at(
                            n,
                            format!(
                                "{hook_name} returns a BOOL: write result = true or false, not {n:?}"
                            ),
                        ));
                    }
                    Some(ResultDecl::Name(n)) if hresult(n).is_none() => {
                        return Err(self.error_at(
                            n,
                            format!(
                                "{n:?} is not a known HRESULT name{}",
                                closest(n, faxsim_abi::HRESULT_NAMES.iter().map(|(_, n)| *n))
                            ),
                        ));
                    }
                    Some(ResultDecl::Bool(b)) if !bool_hook => {
                        return Err(self.error_at(
                            &format!("{hook_name}]"),
                            format!(
                                "{hook_name} returns an HRESULT: write \"S_OK\", \"E_FAIL\" or a number, not {b} (a BOOL returned by mistake is result = 1)"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
            if e.kind == KindDecl::VirtualFsp && e.virtual_devices.is_none() && e.library.is_none()
            {
                return Err(self.error_at(
                    &e.name,
                    format!(
                        "virtual FSP {:?} needs virtual_devices = {{ count = N, prefix = P }}",
                        e.name
                    ),
                ));
            }
        }
        for s in &f.steps {
            match s {
                Step::Run { ext, .. } => ext_ref(ext)?,
                Step::Write {
                    guid,
                    hex: h,
                    expect,
                    ..
                } => {
                    if let Some(h) = h {
                        hex(h)?;
                    }
                    if let Some(c) = expect {
                        code(c)?;
                    }
                    let _ = guid;
                }
                Step::Fault {
                    callback,
                    code: c,
                    ext,
                    device,
                    guid,
                    nth,
                    per_million,
                    ..
                } => {
                    let cbk = Callback::from_kebab(callback).ok_or_else(|| {
                        self.error_at(
                            callback,
                            format!(
                                "{callback:?} is not a callback{}",
                                closest(callback, Callback::ALL.iter().map(|c| c.kebab()))
                            ),
                        )
                    })?;
                    code(c)?;
                    let value = code_by_name(c).unwrap_or_default();
                    if !cbk.documented_errors().contains(&value) {
                        return Err(self.error_at(
                            c,
                            format!("{c} is not a documented error of {}", cbk.name()),
                        ));
                    }
                    if let Some(x) = ext {
                        ext_ref(x)?;
                    }
                    let triggers = [
                        nth.is_some(),
                        device.is_some() || guid.is_some(),
                        per_million.is_some(),
                    ];
                    if device.is_some() && guid.is_none() {
                        return Err(self.error_at(
                            callback,
                            "a fault for a key needs both device and guid (guid alone means device 0)"
                                .into(),
                        ));
                    }
                    if triggers.iter().filter(|t| **t).count() > 1 {
                        return Err(self.error_at(
                            callback,
                            "a fault takes one of nth, device+guid, per_million".into(),
                        ));
                    }
                    if let Some(g) = guid
                        && parse_braced_guid(g).is_none()
                    {
                        return Err(self.error_at(g, format!("{g:?} is not a braced GUID")));
                    }
                }
                Step::Corrupt { guid, .. } if parse_braced_guid(guid).is_none() => {
                    return Err(self.error_at(guid, format!("{guid:?} is not a braced GUID")));
                }
                Step::DeviceEnable { ext, guid, .. }
                | Step::GetRoutingInfo { ext, guid, .. }
                | Step::SetRoutingInfo { ext, guid, .. } => {
                    ext_ref(ext)?;
                    self.routing_ext(ext, s.name())?;
                    guid_ref(guid)?;
                    if let Step::SetRoutingInfo { hex: Some(h), .. } = s {
                        hex(h)?;
                    }
                }
                Step::Call { ext, .. } => ext_ref(ext)?,
                Step::RoutingStart { methods, .. } => {
                    for m in methods {
                        guid_ref(&m.guid)?;
                    }
                }
                _ => {}
            }
        }
        self.check_call_order()?;
        for v in &f.values {
            guid_ref(&v.guid)?;
            if let Some(h) = &v.hex {
                hex(h)?;
            }
        }
        for d in &f.decisions {
            ext_ref(&d.ext)?;
            let at = format!("step = {}", d.step);
            if d.step == 0 || d.step > f.steps.len() {
                return Err(self.error_at(
                    &at,
                    format!(
                        "a decision names step {}, but the file has {} steps",
                        d.step,
                        f.steps.len()
                    ),
                ));
            }
            match (&d.fail, d.write) {
                (Some(fail), None) => {
                    let cbk = Callback::from_kebab(fail)
                        .filter(|c| *c != Callback::FreeBuffer)
                        .ok_or_else(|| {
                            self.error_at(
                                fail,
                                format!(
                                    "{fail:?} is not get-data, set-data, register or unregister"
                                ),
                            )
                        })?;
                    let (Some(_), Some(c)) = (d.call, &d.code) else {
                        return Err(self.error_at(
                            fail,
                            "a failure decision needs call = N (the n-th call in the step) and code".into(),
                        ));
                    };
                    code(c)?;
                    if !cbk
                        .documented_errors()
                        .contains(&code_by_name(c).unwrap_or_default())
                    {
                        return Err(self.error_at(
                            c,
                            format!("{c} is not a documented error of {}", cbk.name()),
                        ));
                    }
                }
                (None, Some(_)) => {
                    if d.wait.is_none() && !d.never && d.rank.is_none() {
                        return Err(self.error_at(
                            &at,
                            "a delivery decision needs wait = N, never = true or rank = N".into(),
                        ));
                    }
                }
                _ => {
                    return Err(self.error_at(
                        &at,
                        "a decision is either a failure (fail = \"get-data\", call, code) or a delivery (write = N with wait, never or rank)".into(),
                    ));
                }
            }
        }
        let e = &f.expect;
        for id in e
            .findings
            .iter()
            .chain(&e.findings_include)
            .chain(&e.findings_exclude)
            .flatten()
            .chain(e.finding.iter().map(|x| &x.rule))
        {
            if Rule::from_id(id).is_none() {
                return Err(self.error_at(
                    id,
                    format!(
                        "{id:?} is not a rule id{}",
                        closest(id, Rule::ALL.iter().map(|r| r.id()))
                    ),
                ));
            }
        }
        for x in e.finding.iter().filter_map(|x| x.ext.as_deref()) {
            ext_ref(x)?;
        }
        for n in &e.notifications {
            ext_ref(&n.ext)?;
            if let Some(h) = &n.last_hex {
                hex(h)?;
            }
        }
        for l in &e.lifecycle {
            ext_ref(&l.ext)?;
        }
        for v in &e.values {
            if parse_braced_guid(&v.guid).is_none() {
                return Err(self.error_at(&v.guid, format!("{:?} is not a braced GUID", v.guid)));
            }
            if let Some(h) = &v.hex {
                hex(h)?;
            }
        }
        Ok(())
    }

    /// Entry points in the order a real service calls them: a provider's job functions
    /// (`FaxDevSend`, `FaxDevReceive`, `FaxDevReportStatus`, `FaxDevAbortOperation`,
    /// `FaxDevEndJob`) only inside a job its `FaxDevStartJob` began, a routing method only
    /// while a fax is routed (`routing-start` … `routing-end`), routings not nested.
    fn check_call_order(&self) -> Result<(), ScenarioError> {
        let mut jobs: BTreeSet<&str> = BTreeSet::new();
        let mut routing = false;
        for s in &self.file.steps {
            match s {
                Step::Call { ext, function, .. } => {
                    let f = function.as_str();
                    if f == faxsim_abi::FAX_DEV_START_JOB_SYMBOL {
                        if !jobs.insert(ext) {
                            return Err(self.error_at(
                                function,
                                format!("{ext} is already in a job: the service ends a job (FaxDevEndJob) before it starts another"),
                            ));
                        }
                    } else if JOB_FUNCTIONS.contains(&f) {
                        if !jobs.contains(ext.as_str()) {
                            return Err(self.error_at(
                                function,
                                format!("the service calls {f} of {ext} only inside a job (after its FaxDevStartJob)"),
                            ));
                        }
                        if f == faxsim_abi::FAX_DEV_END_JOB_SYMBOL {
                            jobs.remove(ext.as_str());
                        }
                    } else if !routing {
                        return Err(self.error_at(
                            function,
                            format!("{f} is called as a routing method only while a fax is routed (between routing-start and routing-end)"),
                        ));
                    }
                }
                Step::RoutingStart { .. } if routing => {
                    return Err(self.error_at(
                        "routing-start",
                        "routing-start again before routing-end: the service routes one fax at a time here".into(),
                    ));
                }
                Step::RoutingStart { .. } => routing = true,
                Step::RoutingEnd { .. } => routing = false,
                // A stop ends what was running.
                Step::Stop | Step::Restart => {
                    jobs.clear();
                    routing = false;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a job begun by `FaxDevStartJob` is left without its `FaxDevEndJob` (before
    /// the next stop or the end of the steps), or a routing without its `routing-end`. A
    /// real service ends every job it began (when the start succeeded), so a file cut
    /// from a recording (shrinking) must too; a hand-written file may leave a job whose
    /// start fails.
    pub fn leaves_work_open(&self) -> bool {
        let mut open = false;
        for s in &self.file.steps {
            match s {
                Step::Call { function, .. } if function == faxsim_abi::FAX_DEV_START_JOB_SYMBOL => {
                    open = true;
                }
                Step::Call { function, .. } if function == faxsim_abi::FAX_DEV_END_JOB_SYMBOL => {
                    open = false;
                }
                Step::RoutingStart { .. } => open = true,
                Step::RoutingEnd { .. } => open = false,
                Step::Stop | Step::Restart if open => return true,
                _ => {}
            }
        }
        open
    }

    /// A routing administration step names a routing extension.
    fn routing_ext(&self, name: &str, op: &str) -> Result<(), ScenarioError> {
        match self.file.extensions.iter().find(|e| e.name == name) {
            Some(e) if e.kind != KindDecl::Routing => Err(self.error_at(
                name,
                format!("{op} calls a routing extension's entry point, and {name:?} is not one"),
            )),
            _ => Ok(()),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the checking context of one action"
    )]
    fn check_action(
        &self,
        a: &Action,
        ext: &str,
        buffers: &BTreeSet<&str>,
        handles: &BTreeSet<&str>,
        ext_ref: &dyn Fn(&str) -> Result<(), ScenarioError>,
        code: &dyn Fn(&str) -> Result<(), ScenarioError>,
        hex: &dyn Fn(&str) -> Result<(), ScenarioError>,
    ) -> Result<(), ScenarioError> {
        let buffer_ref = |b: &str| {
            if buffers.contains(b) {
                Ok(())
            } else {
                Err(self.error_at(
                    b,
                    format!(
                        "extension {ext:?} never binds a buffer named {b:?}{}",
                        closest(b, buffers.iter().copied())
                    ),
                ))
            }
        };
        let hinst_ref = |h: &Option<String>| match h.as_deref() {
            None | Some("own" | "null" | "bogus") => Ok(()),
            Some(other) => ext_ref(other),
        };
        match a {
            Action::Get { expect, .. } => expect.as_deref().map_or(Ok(()), code),
            Action::Free { buffer, target } => match (buffer, target.as_deref()) {
                (Some(b), None) => buffer_ref(b),
                (None, Some("change-data" | "null" | "bogus")) => Ok(()),
                (None, Some(t)) => Err(self.error_at(
                    t,
                    format!("free target {t:?} is not one of change-data, null, bogus"),
                )),
                _ => Err(self.error_at(ext, "free takes either buffer or target".into())),
            },
            Action::Set {
                hex: h,
                append_hex,
                expect,
                hinst,
                size,
                null_data,
                ..
            } => {
                if let Some(n) = size
                    && !null_data
                {
                    self.check_size(*n)?;
                }
                for x in [h, append_hex].into_iter().flatten() {
                    hex(x)?;
                }
                hinst_ref(hinst)?;
                expect.as_deref().map_or(Ok(()), code)
            }
            Action::Register { expect, hinst, .. } => {
                hinst_ref(hinst)?;
                expect.as_deref().map_or(Ok(()), code)
            }
            Action::Unregister {
                handle,
                target,
                expect,
            } => {
                match (handle, target.as_deref()) {
                    (Some(h), None) if !handles.contains(h.as_str()) => {
                        return Err(self.error_at(
                            h,
                            format!(
                                "extension {ext:?} never binds a handle named {h:?}{}",
                                closest(h, handles.iter().copied())
                            ),
                        ));
                    }
                    (Some(_), None) | (None, Some("null" | "invalid" | "bogus")) => {}
                    (None, Some(t)) => {
                        return Err(self.error_at(
                            t,
                            format!("unregister target {t:?} is not one of null, invalid, bogus"),
                        ));
                    }
                    _ => {
                        return Err(
                            self.error_at(ext, "unregister takes either handle or target".into())
                        );
                    }
                }
                expect.as_deref().map_or(Ok(()), code)
            }
            Action::Overrun { buffer, .. } | Action::WriteAfterFree { buffer } => {
                buffer_ref(buffer)
            }
            Action::WriteBuffer { buffer, hex: h, .. } => {
                buffer_ref(buffer)?;
                h.as_deref().map_or(Ok(()), hex)
            }
            Action::WriteChangeData
            | Action::WriteChangeGuid
            | Action::Crash { .. }
            | Action::Hang { .. } => Ok(()),
        }
    }

    /// The service options the file asks for, with the seed (or `seed` instead).
    pub fn options(&self, seed: Option<u64>) -> ServiceOptions {
        let s = &self.file.service;
        let d = ServiceOptions::default();
        let l = Limits::default();
        ServiceOptions {
            seed: seed.or(s.seed).unwrap_or(d.seed),
            delivery: s.delivery.unwrap_or(d.delivery),
            max_defer_steps: s.max_defer_steps.unwrap_or(d.max_defer_steps),
            virtual_fsp_init: s.virtual_fsp_init.unwrap_or(d.virtual_fsp_init),
            load_order: s.load_order.unwrap_or(d.load_order),
            announce_devices_at_start: s
                .announce_devices_at_start
                .unwrap_or(d.announce_devices_at_start),
            in_process_value_cap: s.in_process_value_cap,
            limits: Limits {
                nesting: s.limits.nesting.unwrap_or(l.nesting),
                events: s.limits.events.unwrap_or(l.events),
                steps: s.limits.steps.unwrap_or(l.steps),
            },
            deviations: s.deviations,
            record_events: true,
            live_check: true,
        }
    }

    /// The service options of an exploration's seed: the file's, with notifications
    /// still delivered when the file has them delivered (its steps are written for
    /// that: a deferred notification that was never due before a `stop` is dropped), but
    /// in an order the exploration decides: a file with `sync` delivery is explored
    /// under `shuffled` (immediate, with the order of each write's registrants open),
    /// `shuffled` and `deferred` files under their own policy.
    pub fn options_explored(&self, seed: Option<u64>) -> ServiceOptions {
        let mut opts = self.options(seed);
        if opts.delivery == faxsim_sim::DeliveryPolicy::Sync {
            opts.delivery = faxsim_sim::DeliveryPolicy::Shuffled;
        }
        opts
    }

    /// The rules the file allows to fire: those its `findings`, `findings_include` and
    /// `[[expect.finding]]` name (a scenario that demonstrates a bug says so). Any other
    /// error finding of a run is a failure of the extension, not of the file.
    pub fn allowed_rules(&self) -> std::collections::BTreeSet<String> {
        let e = &self.file.expect;
        e.findings
            .iter()
            .chain(&e.findings_include)
            .flatten()
            .cloned()
            .chain(e.finding.iter().map(|f| f.rule.clone()))
            .collect()
    }

    /// The extensions a trace of this scenario's run lists, once `svc` holds them all
    /// (in a sink factory of [`Scenario::run_with`]): each with its kind, and the file of
    /// a library it loads (for its SHA-256).
    pub fn trace_extensions(&self, svc: &Service) -> Vec<faxsim_trace::ExtensionInfo> {
        svc.extension_names()
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let ext = faxsim_trace::ExtId(i as u16);
                let library = self
                    .file
                    .extensions
                    .iter()
                    .find(|e| &e.name == name)
                    .and_then(|e| e.library.as_ref())
                    .map(|l| self.path.parent().unwrap_or(Path::new(".")).join(l));
                faxsim_trace::ExtensionInfo::new(name, svc.extension_kind(ext), library.as_deref())
            })
            .collect()
    }

    /// Whether the file states any expectation on findings (`findings`,
    /// `findings_include`, `findings_exclude` or an `[[expect.finding]]`). Without one, a
    /// run fails on an error finding (and on a warning with `deny_warnings`).
    pub fn expects_findings(&self) -> bool {
        let e = &self.file.expect;
        e.findings.is_some()
            || e.findings_include.is_some()
            || e.findings_exclude.is_some()
            || !e.finding.is_empty()
    }

    /// Whether the scenario hosts extension libraries (`library = "..."`).
    pub fn hosts_libraries(&self) -> bool {
        self.file.extensions.iter().any(|e| e.library.is_some())
    }

    /// Runs the scenario. Errors are problems with the scenario itself (a step the
    /// service refuses, a library that does not load); unmet expectations are failures
    /// in the report.
    pub fn run(&self, opts: RunOptions) -> Result<ScenarioReport, ScenarioError> {
        self.run_with(opts, &mut |_| Ok(Vec::new()))
    }

    /// [`Scenario::run`] with sinks that see every event (trace files): `sinks` is called
    /// with the service once every extension is added, before the first step (so it can
    /// build a trace header from [`Service::trace_header`]); an `Err` message ends the
    /// run before it starts. The sinks are finished when the run ends; the first error of
    /// a recording is in [`ScenarioReport::recording_error`].
    pub fn run_with(
        &self,
        opts: RunOptions,
        sinks: &mut SinkFactory<'_>,
    ) -> Result<ScenarioReport, ScenarioError> {
        // Declared before the service, so the service is dropped first and the libraries
        // it holds are closed after it.
        let mut libraries = (opts.libraries == Libraries::Host && self.hosts_libraries())
            .then(HostedLibraries::new);
        let service_opts = match opts.explore {
            Some(_) => self.options_explored(opts.seed),
            None => self.options(opts.seed),
        };
        let seed = service_opts.seed;
        let mut svc = Service::new(service_opts);
        let shared = Rc::new(ScriptShared::default());
        let mut scripted: BTreeMap<String, Rc<ScriptedExtension>> = BTreeMap::new();
        let err = |m: String| ScenarioError {
            path: self.path.clone(),
            at: None,
            message: m,
        };
        for d in &self.file.devices {
            svc.add_device(d.id, d.tapi)
                .map_err(|e| self.error_at(&d.id.to_string(), e.to_string()))?;
        }
        for v in &self.file.values {
            svc.seed_store(v.device, &v.guid, &data_of(&v.hex, &v.text, &v.size))
                .map_err(|e| self.error_at(&v.guid, e.to_string()))?;
        }
        // Libraries first (a host adds them together), then the scripted extensions.
        let libs: Vec<&ExtensionDecl> = self
            .file
            .extensions
            .iter()
            .filter(|e| e.library.is_some())
            .collect();
        if !libs.is_empty() {
            let Some(host) = libraries.as_mut() else {
                let lib = libs[0].library.as_deref().unwrap_or_default();
                return Err(self.error_at(lib, "this run does not host extension libraries".into()));
            };
            for e in &libs {
                let lib = e.library.as_deref().unwrap_or_default();
                let path = self.path.parent().unwrap_or(Path::new(".")).join(lib);
                host.open(&path, &e.name, e.kind.kind())
                    .map_err(|m| self.error_at(lib, m))?;
            }
            host.attach(&mut svc).map_err(err)?;
        }
        for e in self.file.extensions.iter().filter(|e| e.library.is_none()) {
            let spec = ExtensionSpec {
                name: e.name.clone(),
                kind: e.kind.kind(),
            };
            let x = Rc::new(e.script().build(shared.clone()));
            scripted.insert(e.name.clone(), x.clone());
            svc.add_extension(spec, x).map_err(|e| err(e.to_string()))?;
        }
        let ext_ids: Vec<ExtId> = (0..svc.extension_names().len())
            .map(|i| ExtId(i as u16))
            .collect();
        for (i, name) in svc.extension_names().into_iter().enumerate() {
            let hinst = svc.hinst(ExtId(i as u16));
            shared.hinsts.borrow_mut().insert(name, hinst);
        }
        // The service's open decisions: the file's `[[decision]]`s, over the
        // exploration's (or the seeded defaults).
        let inner: Option<Box<dyn faxsim_sim::Choices>> = opts.explore.map(|strategy| {
            Box::new(faxsim_sim::ExploringChoices::new(seed, strategy))
                as Box<dyn faxsim_sim::Choices>
        });
        let decided = self.decided(&svc);
        let mark = if decided.is_empty() {
            if let Some(inner) = inner {
                svc.set_choices(inner);
            }
            None
        } else {
            let inner = inner.unwrap_or_else(|| Box::new(faxsim_sim::SeededChoices::new(seed)));
            let (choices, mark) = decisions::FileChoices::new(inner, decided);
            svc.set_choices(Box::new(choices));
            Some(mark)
        };
        if let Some(host) = libraries.as_ref() {
            host.reserve_threads(&self.service_threads());
        }
        for sink in sinks(&svc).map_err(err)? {
            svc.add_sink(sink);
        }
        let steps: Vec<Step> = if self.file.steps.is_empty() {
            vec![Step::Start, Step::Settle, Step::Stop]
        } else {
            self.file.steps.clone()
        };
        let mut failures = Vec::new();
        let mut aborted = None;
        let mut crashed = false;
        for (i, step) in steps.iter().enumerate() {
            // An exploration decides where each step falls relative to the deferred
            // notifications still pending (the seeded defaults pass no time).
            let paused = if i > 0 {
                svc.pause_before_step(i as u64)
            } else {
                Ok(())
            };
            if let Some(mark) = &mark {
                decisions::begin_step(mark, &svc, i + 1, &ext_ids);
            }
            let r = paused
                .map_err(HostStepError::Sim)
                .and_then(|()| self.step(&mut svc, step, &scripted, &mut failures, &mut libraries));
            if let Some(host) = libraries.as_mut() {
                host.pump(&mut svc);
            }
            match r {
                Ok(()) => {}
                Err(HostStepError::Sim(e @ SimError::LimitExceeded { .. })) => {
                    aborted = Some(e);
                    break;
                }
                // A crash or hang ends the run (the service is gone with the extension);
                // the expectations judge what happened up to it.
                Err(HostStepError::Sim(SimError::ExtensionFailed { .. })) => {
                    crashed = true;
                    break;
                }
                Err(HostStepError::Sim(e)) => {
                    return Err(err(format!("step {} ({}): {e}", i + 1, step.name())));
                }
                Err(HostStepError::Other(e)) => {
                    return Err(err(format!("step {} ({}): {e}", i + 1, step.name())));
                }
            }
        }
        // A run whose steps leave the service up is stopped, so the checks that only
        // unload can make (buffer-leak, registration-leak, damaged buffers) always happen.
        let stopped = if crashed {
            Err(SimError::NotRunning)
        } else {
            svc.stop()
        };
        match stopped {
            Ok(()) | Err(SimError::NotRunning | SimError::ExtensionFailed { .. }) => {}
            Err(e @ SimError::LimitExceeded { .. }) => {
                aborted.get_or_insert(e);
            }
            Err(e) => return Err(err(format!("the final stop: {e}"))),
        }
        if let Some(host) = libraries.as_mut() {
            host.stopped(&mut svc);
            host.pump(&mut svc);
        }
        if let Some(e) = aborted {
            failures.push(format!("the run stopped early: {e}"));
        }
        let findings = svc.finish();
        let recording_error = svc.finish_sinks().err().map(|e| e.to_string());
        failures.extend(shared.failures.borrow().iter().cloned());
        let names = svc.extension_names();
        let events = svc.take_events();
        self.judge(
            &findings,
            &names,
            &events,
            &svc,
            opts.deny_warnings,
            &mut failures,
        );
        Ok(ScenarioReport {
            name: self.name.clone(),
            path: self.path.clone(),
            seed,
            passed: failures.is_empty(),
            findings,
            failures,
            names,
            events,
            recording_error,
        })
    }

    fn step(
        &self,
        svc: &mut Service,
        step: &Step,
        scripted: &BTreeMap<String, Rc<ScriptedExtension>>,
        failures: &mut Vec<String>,
        libraries: &mut Option<HostedLibraries>,
    ) -> Result<(), HostStepError> {
        let start = |svc: &mut Service, libraries: &mut Option<HostedLibraries>| match libraries {
            Some(host) => host.start(svc),
            None => svc.start().map_err(HostStepError::Sim),
        };
        match step {
            Step::Start => start(svc, libraries),
            Step::Stop => {
                svc.stop().map_err(HostStepError::Sim)?;
                if let Some(host) = libraries {
                    host.stopped(svc);
                }
                Ok(())
            }
            Step::Restart => {
                svc.stop().map_err(HostStepError::Sim)?;
                if let Some(host) = libraries {
                    host.stopped(svc);
                }
                start(svc, libraries)
            }
            Step::DeviceEnable {
                ext,
                guid,
                device,
                enabled,
                thread,
            } => {
                let x = self.ext_id(svc, ext);
                let enabled = match enabled {
                    EnableDecl::Query => faxsim_abi::QUERY_STATUS,
                    EnableDecl::Enable => faxsim_abi::STATUS_ENABLE,
                    EnableDecl::Disable => faxsim_abi::STATUS_DISABLE,
                };
                on_service_thread(svc, libraries, thread.unwrap_or(ADMIN_THREAD), |svc| {
                    svc.route_device_enable(x, guid, *device, enabled)
                })
                .map(drop)
                .map_err(HostStepError::Sim)
            }
            Step::GetRoutingInfo {
                ext,
                guid,
                device,
                size,
                thread,
            } => {
                let x = self.ext_id(svc, ext);
                on_service_thread(svc, libraries, thread.unwrap_or(ADMIN_THREAD), |svc| {
                    svc.route_get_routing_info(x, guid, *device, *size)
                })
                .map(drop)
                .map_err(HostStepError::Sim)
            }
            Step::SetRoutingInfo {
                ext,
                guid,
                device,
                hex,
                text,
                size,
                thread,
            } => {
                let x = self.ext_id(svc, ext);
                let data = data_of(hex, text, size);
                on_service_thread(svc, libraries, thread.unwrap_or(ADMIN_THREAD), |svc| {
                    svc.route_set_routing_info(x, guid, *device, &data)
                })
                .map(drop)
                .map_err(HostStepError::Sim)
            }
            Step::Call {
                ext,
                function,
                thread,
            } => {
                let x = self.ext_id(svc, ext);
                if !svc.drives_entry_point(x, function) {
                    return Err(HostStepError::Other(format!(
                        "{ext} has no {function} that faxsim can call (a library that exports it is needed)"
                    )));
                }
                on_service_thread(svc, libraries, thread.unwrap_or(JOB_THREAD), |svc| {
                    svc.entry_point_call(x, function)
                })
                .map(drop)
                .map_err(HostStepError::Sim)
            }
            Step::RoutingStart {
                device,
                methods,
                thread,
            } => {
                let methods: Vec<(String, String)> = methods
                    .iter()
                    .map(|m| (m.guid.clone(), m.function.clone()))
                    .collect();
                on_service_thread(svc, libraries, thread.unwrap_or(JOB_THREAD), |svc| {
                    svc.routing_start(*device, &methods)
                })
                .map(drop)
                .map_err(HostStepError::Sim)
            }
            Step::RoutingEnd { thread } => {
                on_service_thread(svc, libraries, thread.unwrap_or(JOB_THREAD), |svc| {
                    svc.routing_end()
                })
                .map_err(HostStepError::Sim)
            }
            other => self
                .simple_step(svc, other, scripted, failures)
                .map_err(HostStepError::Sim),
        }
    }

    fn ext_id(&self, svc: &Service, name: &str) -> ExtId {
        svc.extension_id(name).expect("checked at load")
    }

    /// The service threads the file's steps come from (other than 0): a host numbers the
    /// threads its libraries start around them.
    fn service_threads(&self) -> Vec<u16> {
        let mut threads = BTreeSet::new();
        for s in &self.file.steps {
            let t = match s {
                Step::DeviceEnable { thread, .. }
                | Step::GetRoutingInfo { thread, .. }
                | Step::SetRoutingInfo { thread, .. } => thread.unwrap_or(ADMIN_THREAD),
                Step::Call { thread, .. }
                | Step::RoutingStart { thread, .. }
                | Step::RoutingEnd { thread } => thread.unwrap_or(JOB_THREAD),
                _ => continue,
            };
            threads.insert(t);
        }
        threads.remove(&0);
        threads.into_iter().collect()
    }

    /// The file's `[[decision]]`s, resolved against the service's extensions (checked at
    /// load, so every name and code resolves).
    fn decided(&self, svc: &Service) -> decisions::Decided {
        let mut d = decisions::Decided::default();
        for x in &self.file.decisions {
            let Some(ext) = svc.extension_id(&x.ext) else {
                continue;
            };
            if let (Some(fail), Some(call), Some(code)) = (&x.fail, x.call, &x.code) {
                let (Some(callback), Some(code)) = (Callback::from_kebab(fail), code_by_name(code))
                else {
                    continue;
                };
                d.fails
                    .entry((x.step, ext, callback))
                    .or_default()
                    .insert(call, code);
            } else if let Some(write) = x.write {
                let wait = if x.never {
                    Some(decisions::Decided::never())
                } else {
                    x.wait
                };
                d.deliveries.insert(
                    (x.step, write, ext),
                    decisions::Delivery { wait, rank: x.rank },
                );
            }
        }
        d
    }

    fn simple_step(
        &self,
        svc: &mut Service,
        step: &Step,
        scripted: &BTreeMap<String, Rc<ScriptedExtension>>,
        failures: &mut Vec<String>,
    ) -> Result<(), SimError> {
        match step {
            Step::Start | Step::Stop | Step::Restart => unreachable!("handled by step()"),
            Step::BeginShutdown => svc.begin_shutdown(),
            Step::ShutdownAt { event } => {
                svc.shutdown_at_event(*event);
                Ok(())
            }
            Step::Write {
                device,
                guid,
                hex,
                text,
                size,
                expect,
            } => {
                let data = data_of(hex, text, size);
                let code = svc.external_write(*device, guid, &data)?;
                if let Some(e) = expect
                    && code_by_name(e) != Some(code)
                {
                    let name = faxsim_abi::win32_error_name(code).unwrap_or("?");
                    failures.push(format!(
                        "external write to ({device}, {guid}) returned {name} ({code}), expected {e}"
                    ));
                }
                Ok(())
            }
            Step::Run {
                ext,
                thread,
                actions,
                tick,
            } => {
                let id = svc.extension_id(ext).expect("checked at load");
                match scripted.get(ext) {
                    Some(x) => {
                        let mut cb = svc.callbacks(id, thread.unwrap_or(1));
                        x.run_actions(&mut cb, actions, None);
                    }
                    None => failures.push(format!(
                        "extension {ext:?} is a library: it cannot run scripted actions"
                    )),
                }
                if tick.unwrap_or(true) {
                    svc.tick()
                } else {
                    Ok(())
                }
            }
            Step::AddDevice { id, tapi } => svc.add_device(*id, *tapi),
            Step::RemoveDevice { id } => svc.remove_device(*id),
            Step::Fault {
                callback,
                code,
                nth,
                device,
                guid,
                per_million,
                ext,
                times,
            } => {
                let callback = Callback::from_kebab(callback).expect("checked at load");
                let code = code_by_name(code).expect("checked at load");
                let trigger = match (nth, guid, per_million) {
                    (Some(n), _, _) => Trigger::NthCall(*n),
                    (_, Some(g), _) => {
                        Trigger::Key((device.unwrap_or(0), parse_braced_guid(g).expect("checked")))
                    }
                    (_, _, Some(p)) => Trigger::PerMillion(*p),
                    _ => Trigger::Always,
                };
                let mut fault = Fault::new(callback, code, trigger);
                if let Some(x) = ext {
                    fault = fault.for_ext(svc.extension_id(x).expect("checked at load"));
                }
                if let Some(t) = times {
                    fault = fault.times(*t);
                }
                svc.add_fault(fault)
            }
            Step::Corrupt { device, guid } => svc.corrupt_value(*device, guid),
            Step::Tick { count } => {
                for _ in 0..count.unwrap_or(1) {
                    svc.tick()?;
                }
                Ok(())
            }
            Step::Settle => svc.settle(),
            Step::DeviceEnable { .. }
            | Step::GetRoutingInfo { .. }
            | Step::SetRoutingInfo { .. }
            | Step::Call { .. }
            | Step::RoutingStart { .. }
            | Step::RoutingEnd { .. } => unreachable!("handled by step()"),
        }
    }

    fn judge(
        &self,
        findings: &[Finding],
        names: &[String],
        events: &[Event],
        svc: &Service,
        deny_warnings: bool,
        failures: &mut Vec<String>,
    ) {
        let e = &self.file.expect;
        let fired: BTreeSet<&str> = findings.iter().map(|f| f.rule.id()).collect();
        let show = |s: &BTreeSet<&str>| {
            if s.is_empty() {
                "none".to_string()
            } else {
                s.iter().copied().collect::<Vec<_>>().join(", ")
            }
        };
        if !self.expects_findings() {
            // Nothing said about findings: judged as `faxsim validate` judges a library,
            // so a forgotten `[expect]` never passes over a bug.
            let failing: BTreeSet<&str> = findings
                .iter()
                .filter(|f| f.severity == Severity::Error || deny_warnings)
                .map(|f| f.rule.id())
                .collect();
            if !failing.is_empty() {
                let which = if deny_warnings {
                    "findings (warnings too, with --deny-warnings)"
                } else {
                    "error findings"
                };
                let all: Vec<String> = fired.iter().map(|r| format!("{r:?}")).collect();
                failures.push(format!(
                    "{} fired, and the file states no expectation on findings, so {which} fail it (if the scenario is meant to show them, say so: [expect] findings = [{}])",
                    show(&failing),
                    all.join(", ")
                ));
            }
        }
        if let Some(exact) = &e.findings {
            let want: BTreeSet<&str> = exact.iter().map(String::as_str).collect();
            if want != fired {
                failures.push(format!(
                    "expected exactly the findings [{}], got [{}]",
                    show(&want),
                    show(&fired)
                ));
            }
        }
        for id in e.findings_include.iter().flatten() {
            if !fired.contains(id.as_str()) {
                failures.push(format!("expected a {id} finding, got [{}]", show(&fired)));
            }
        }
        for id in e.findings_exclude.iter().flatten() {
            if fired.contains(id.as_str()) {
                failures.push(format!("expected no {id} finding, but it fired"));
            }
        }
        let ext_of = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .map(|i| ExtId(i as u16))
        };
        for fx in &e.finding {
            let n = findings
                .iter()
                .filter(|f| f.rule.id() == fx.rule)
                .filter(|f| fx.ext.as_deref().is_none_or(|x| f.ext == ext_of(x)))
                .filter(|f| {
                    fx.message_contains
                        .as_deref()
                        .is_none_or(|m| f.message.contains(m))
                })
                .count();
            let ok = match fx.count {
                Some(c) => n == c,
                None => n > 0,
            };
            if !ok {
                failures.push(format!(
                    "expected {} {} finding(s){}{}, got {n}",
                    fx.count
                        .map_or("at least one".to_string(), |c| c.to_string()),
                    fx.rule,
                    fx.ext
                        .as_ref()
                        .map(|x| format!(" about {x}"))
                        .unwrap_or_default(),
                    fx.message_contains
                        .as_ref()
                        .map(|m| format!(" mentioning {m:?}"))
                        .unwrap_or_default(),
                ));
            }
        }
        for v in &e.values {
            let got = svc.stored(v.device, &v.guid);
            let want = if v.absent {
                None
            } else {
                Some(data_of(&v.hex, &v.text, &None))
            };
            if got.map(<[u8]>::to_vec) != want {
                failures.push(format!(
                    "expected ({}, {}) to hold {}, it holds {}",
                    v.device,
                    v.guid,
                    want.as_deref().map_or("nothing".into(), hex_of),
                    got.map_or("nothing".into(), hex_of)
                ));
            }
        }
        for n in &e.notifications {
            let Some(id) = ext_of(&n.ext) else { continue };
            let got: Vec<(u32, &[u8], &str)> = events
                .iter()
                .filter(|ev| ev.ext == Some(id))
                .filter_map(|ev| match &ev.kind {
                    EventKind::ConfigChangeCall {
                        device, data, guid, ..
                    } => Some((*device, &**data, &**guid)),
                    _ => None,
                })
                .collect();
            if let Some(c) = n.count
                && got.len() != c
            {
                failures.push(format!(
                    "expected {} to receive {c} notification(s), it received {}",
                    n.ext,
                    got.len()
                ));
            }
            let last = got.last();
            if let Some(d) = n.last_device
                && last.map(|l| l.0) != Some(d)
            {
                failures.push(format!(
                    "expected {}'s last notification for device {d}, got {}",
                    n.ext,
                    last.map_or("none".into(), |l| l.0.to_string())
                ));
            }
            let want = match (&n.last_hex, &n.last_text) {
                (Some(h), _) => Some(decode_hex(h).unwrap_or_default()),
                (_, Some(t)) => Some(t.as_bytes().to_vec()),
                _ => None,
            };
            if let Some(w) = want
                && last.map(|l| l.1.to_vec()) != Some(w.clone())
            {
                failures.push(format!(
                    "expected {}'s last notification to carry {}, got {}",
                    n.ext,
                    hex_of(&w),
                    last.map_or("none".into(), |l| hex_of(l.1))
                ));
            }
            if let Some(g) = &n.last_guid
                && last.map(|l| l.2) != Some(g.as_str())
            {
                failures.push(format!(
                    "expected {}'s last notification to name the GUID {g}, got {}",
                    n.ext,
                    last.map_or("none", |l| l.2)
                ));
            }
        }
        for l in &e.lifecycle {
            let Some(id) = ext_of(&l.ext) else { continue };
            let got: Vec<&str> = events
                .iter()
                .filter(|ev| ev.ext == Some(id))
                .filter_map(|ev| lifecycle_name(&ev.kind))
                .collect();
            if got != l.order.iter().map(String::as_str).collect::<Vec<_>>() {
                failures.push(format!(
                    "expected {}'s lifecycle [{}], got [{}]",
                    l.ext,
                    l.order.join(", "),
                    got.join(", ")
                ));
            }
        }
    }
}

/// The lifecycle name of an event (service-to-extension calls, load, unload).
pub fn lifecycle_name(kind: &EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Load { .. } => Some("load"),
        EventKind::Unload => Some("unload"),
        _ => match kind.half()? {
            Half::Call(c) if c.is_lifecycle() => Some(c.name()),
            _ => None,
        },
    }
}

/// A provider's job functions other than `FaxDevStartJob`: called only inside a job.
const JOB_FUNCTIONS: [&str; 5] = [
    faxsim_abi::FAX_DEV_SEND_SYMBOL,
    faxsim_abi::FAX_DEV_RECEIVE_SYMBOL,
    faxsim_abi::FAX_DEV_REPORT_STATUS_SYMBOL,
    faxsim_abi::FAX_DEV_ABORT_OPERATION_SYMBOL,
    faxsim_abi::FAX_DEV_END_JOB_SYMBOL,
];

/// The service thread routing administration steps come from by default (a real
/// service makes those calls from its RPC threads, not the thread that initialised the
/// extension); the battery uses the same.
const ADMIN_THREAD: u16 = 1;

/// The service thread job and routing steps come from by default.
const JOB_THREAD: u16 = 2;

/// Runs `f` as service thread `thread`: a hosted library sees the call come from an OS
/// thread of that id, as from a real service's worker thread.
fn on_service_thread<R>(
    svc: &mut Service,
    libraries: &Option<HostedLibraries>,
    thread: u16,
    f: impl FnOnce(&mut Service) -> R,
) -> R {
    svc.set_thread(thread);
    let r = match libraries {
        Some(host) if thread != 0 => host.on_service_thread(thread, || f(svc)),
        _ => f(svc),
    };
    svc.set_thread(0);
    r
}

fn data_of(hex: &Option<String>, text: &Option<String>, size: &Option<u32>) -> Vec<u8> {
    match (hex, text, size) {
        (Some(h), _, _) => decode_hex(h).unwrap_or_default(),
        (_, Some(t), _) => t.as_bytes().to_vec(),
        (_, _, Some(n)) => pattern(*n),
        _ => Vec::new(),
    }
}

fn hex_of(b: &[u8]) -> String {
    if b.is_empty() {
        return "(empty)".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hresult(name: &str) -> Option<i32> {
    faxsim_abi::hresult_from_name(name).or_else(|| {
        let n = name.strip_prefix("0x").map_or_else(
            || name.parse::<i64>().ok(),
            |h| i64::from_str_radix(h, 16).ok(),
        )?;
        Some(n as i32)
    })
}

impl KindDecl {
    /// The extension kind.
    pub fn kind(self) -> ExtensionKind {
        match self {
            KindDecl::Fsp => ExtensionKind::Fsp,
            KindDecl::VirtualFsp => ExtensionKind::VirtualFsp,
            KindDecl::Routing => ExtensionKind::Routing,
        }
    }
}

impl ExtensionDecl {
    /// The hooks the file gives, with their TOML names.
    fn named_hooks(&self) -> Vec<(&'static str, &Hook)> {
        [
            ("config_init", &self.config_init),
            ("general_init", &self.general_init),
            ("on_change", &self.on_change),
            ("on_device_arrival", &self.on_device_arrival),
            ("on_device_removal", &self.on_device_removal),
            ("shutdown", &self.shutdown),
        ]
        .into_iter()
        .filter_map(|(n, h)| h.as_ref().map(|h| (n, h)))
        .collect()
    }

    fn hooks(&self) -> Vec<&Hook> {
        [
            &self.config_init,
            &self.general_init,
            &self.on_change,
            &self.on_device_arrival,
            &self.on_device_removal,
            &self.shutdown,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn script(&self) -> ScriptBuilder {
        let hook = |h: &Option<Hook>, bool_hook: bool| -> HookScript {
            let Some(h) = h else {
                return HookScript::new(default_result(bool_hook), None, None, Vec::new());
            };
            let result = match &h.result {
                None => default_result(bool_hook),
                Some(ResultDecl::Bool(b)) => i64::from(*b),
                Some(ResultDecl::Number(n)) => *n,
                Some(ResultDecl::Name(n)) => i64::from(hresult(n).unwrap_or(E_FAIL)),
            };
            HookScript::new(
                result,
                h.times,
                h.guid.as_deref().and_then(parse_braced_guid),
                h.actions.clone(),
            )
        };
        let vd = self.virtual_devices.as_ref();
        ScriptBuilder {
            name: self.name.clone(),
            kind: self.kind.kind(),
            exports: Exports {
                initialize_config: self.exports_config.unwrap_or(true),
                dev_shutdown: self.exports_shutdown.unwrap_or(true),
                route_device_change: true,
            },
            virtual_devices: VirtualDevices {
                ok: vd.and_then(|v| v.ok).unwrap_or(true),
                count: vd.map_or(0, |v| v.count),
                id_prefix: vd.map_or(0, |v| v.prefix),
                name_prefix: format!("{} line", self.name),
            },
            config_init: hook(&self.config_init, false),
            general_init: hook(&self.general_init, true),
            on_change: hook(&self.on_change, false),
            on_arrival: hook(&self.on_device_arrival, true),
            on_removal: hook(&self.on_device_removal, true),
            shutdown: hook(&self.shutdown, false),
        }
    }
}

impl Step {
    /// The step's `op`.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Start => "start",
            Step::Stop => "stop",
            Step::Restart => "restart",
            Step::BeginShutdown => "begin-shutdown",
            Step::ShutdownAt { .. } => "shutdown-at",
            Step::Write { .. } => "write",
            Step::Run { .. } => "run",
            Step::AddDevice { .. } => "add-device",
            Step::RemoveDevice { .. } => "remove-device",
            Step::Fault { .. } => "fault",
            Step::Corrupt { .. } => "corrupt",
            Step::Tick { .. } => "tick",
            Step::Settle => "settle",
            Step::DeviceEnable { .. } => "device-enable",
            Step::GetRoutingInfo { .. } => "get-routing-info",
            Step::SetRoutingInfo { .. } => "set-routing-info",
            Step::Call { .. } => "call",
            Step::RoutingStart { .. } => "routing-start",
            Step::RoutingEnd { .. } => "routing-end",
        }
    }
}

/// The scenario files a path names, and what a folder walk left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScenarioFiles {
    /// Every `*.toml` regular file, sorted.
    pub files: Vec<PathBuf>,
    /// Entries left out, each with the reason (a link back into a folder already walked,
    /// a link that does not resolve, a `*.toml` that is not a regular file).
    pub skipped: Vec<String>,
}

/// Every `*.toml` below `path` in sorted order (or `path` itself if it is a file). Links
/// are followed, but never into a folder already walked (a loop, or a second way to the
/// same folder); a FIFO, socket or device named `*.toml` is skipped, not opened. The error
/// says what is wrong with `path` itself.
pub fn collect_files(path: &Path) -> Result<ScenarioFiles, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        match e.kind() {
            _ if link => {
                format!("a symbolic link that does not resolve (a loop, or a missing target): {e}")
            }
            std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
            _ => format!("cannot read: {e}"),
        }
    })?;
    if meta.is_file() {
        return Ok(ScenarioFiles {
            files: vec![path.to_path_buf()],
            skipped: Vec::new(),
        });
    }
    if !meta.is_dir() {
        return Err(
            "not a regular file or a folder (a FIFO, socket or device): scenarios are read from regular files"
                .to_string(),
        );
    }
    let mut out = ScenarioFiles::default();
    let mut walked = std::collections::HashSet::new();
    if let Ok(c) = std::fs::canonicalize(path) {
        walked.insert(c);
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let p = entry.path();
            let toml = p.extension().is_some_and(|e| e == "toml");
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            // Through a link: what it leads to (and whether that resolves at all).
            let target = if kind.is_symlink() {
                match std::fs::metadata(&p) {
                    Ok(m) => m.file_type(),
                    Err(e) => {
                        out.skipped.push(format!(
                            "{}: a link that does not resolve ({e}), skipped",
                            p.display()
                        ));
                        continue;
                    }
                }
            } else {
                kind
            };
            if target.is_dir() {
                let canonical = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
                if walked.insert(canonical) {
                    stack.push(p);
                } else if kind.is_symlink() {
                    out.skipped.push(format!(
                        "{}: a link to a folder already walked, skipped",
                        p.display()
                    ));
                }
            } else if toml && target.is_file() {
                out.files.push(p);
            } else if toml {
                out.skipped.push(format!(
                    "{}: not a regular file (a FIFO, socket or device), skipped",
                    p.display()
                ));
            }
        }
    }
    out.files.sort();
    out.skipped.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTER: &str = "[[extension]]\nname = \"r\"\nkind = \"routing\"\n";

    fn run(body: &str, deny_warnings: bool) -> ScenarioReport {
        Scenario::parse(Path::new("t.toml"), body)
            .unwrap()
            .run(RunOptions {
                deny_warnings,
                ..RunOptions::default()
            })
            .unwrap()
    }

    const KEY: &str = "{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}";

    /// Two scripted routing extensions registered for one key, a write from outside, and
    /// `decisions` (TOML) on top, under `delivery`.
    fn two_listeners(delivery: &str, decisions: &str) -> ScenarioReport {
        run(&two_listeners_file(delivery, decisions), false)
    }

    fn two_listeners_file(delivery: &str, decisions: &str) -> String {
        format!(
            r#"
[service]
delivery = "{delivery}"
[[extension]]
name = "a"
kind = "routing"
general_init = {{ actions = [{{ op = "register", guid = "{KEY}" }}] }}
[[extension]]
name = "b"
kind = "routing"
general_init = {{ actions = [{{ op = "register", guid = "{KEY}" }}] }}
[[step]]
op = "start"
[[step]]
op = "write"
guid = "{KEY}"
hex = "01"
[[step]]
op = "tick"
count = 4
{decisions}
"#
        )
    }

    /// Which extensions heard of a write, in order.
    fn notified(r: &ScenarioReport) -> Vec<String> {
        r.events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ConfigChangeCall { .. }))
            .map(|e| r.names[e.ext.unwrap().index()].clone())
            .collect()
    }

    #[test]
    fn a_rank_decision_orders_a_writes_registrants() {
        let first_heard = |decision: &str, seed: u64| {
            let r = Scenario::parse(
                Path::new("t.toml"),
                &two_listeners_file("shuffled", decision),
            )
            .unwrap()
            .run(RunOptions {
                seed: Some(seed),
                ..RunOptions::default()
            })
            .unwrap();
            notified(&r)[0].clone()
        };
        // Seeded, either may hear first; ranked, b always does.
        let seeded: BTreeSet<String> = (0..16).map(|s| first_heard("", s)).collect();
        assert_eq!(seeded.len(), 2, "{seeded:?}");
        let rank_b = "[[decision]]\nstep = 2\nwrite = 1\next = \"b\"\nrank = 0\n";
        assert!((0..16).all(|s| first_heard(rank_b, s) == "b"));
    }

    #[test]
    fn wait_decisions_decide_when_each_registrant_hears() {
        let r = two_listeners(
            "deferred",
            "[[decision]]\nstep = 2\nwrite = 1\next = \"a\"\nwait = 3\n[[decision]]\nstep = 2\nwrite = 1\next = \"b\"\nwait = 0\n",
        );
        assert_eq!(notified(&r), ["b", "a"]);
        let r = two_listeners(
            "deferred",
            "[[decision]]\nstep = 2\nwrite = 1\next = \"a\"\nwait = 0\n[[decision]]\nstep = 2\nwrite = 1\next = \"b\"\nnever = true\n",
        );
        assert_eq!(notified(&r), ["a"]);
    }

    #[test]
    fn a_failure_decision_fails_the_nth_call_of_its_step() {
        let body = |decision: &str| {
            format!(
                r#"
[[extension]]
name = "a"
kind = "routing"
[[step]]
op = "start"
[[step]]
op = "run"
ext = "a"
actions = [{{ op = "set", guid = "{KEY}", hex = "01" }}, {{ op = "get", guid = "{KEY}", bind = "x", expect = "ERROR_SUCCESS" }}, {{ op = "free", buffer = "x" }}]
[[step]]
op = "run"
ext = "a"
actions = [{{ op = "get", guid = "{KEY}", bind = "y", expect = "ERROR_SUCCESS" }}, {{ op = "free", buffer = "y" }}, {{ op = "get", guid = "{KEY}", bind = "z", expect = "ERROR_NOT_ENOUGH_MEMORY" }}]
{decision}
"#
            )
        };
        // Without the decision the third step's second read succeeds: its expectation fails.
        assert!(!run(&body(""), false).passed);
        // The decision counts calls from its step's start: the second GetData of step 3
        // (the fourth of the run) fails.
        let r = run(
            &body(
                "[[decision]]\nstep = 3\next = \"a\"\nfail = \"get-data\"\ncall = 2\ncode = \"ERROR_NOT_ENOUGH_MEMORY\"\n",
            ),
            false,
        );
        assert!(r.passed, "{:?}", r.failures);
    }

    #[test]
    fn entry_points_are_called_in_the_order_a_service_calls_them() {
        let file = |steps: &str| {
            format!(
                "[[extension]]\nname = \"p\"\nkind = \"fsp\"\nlibrary = \"libp.so\"\n[[step]]\nop = \"start\"\n{steps}"
            )
        };
        let send = "[[step]]\nop = \"call\"\next = \"p\"\nfunction = \"FaxDevSend\"\n";
        let e = Scenario::parse(Path::new("t.toml"), &file(send)).unwrap_err();
        assert!(e.message.contains("only inside a job"), "{e}");
        assert!(e.to_string().contains("t.toml:"), "{e}");
        let method = "[[step]]\nop = \"call\"\next = \"p\"\nfunction = \"RouteToInbox\"\n";
        let e = Scenario::parse(Path::new("t.toml"), &file(method)).unwrap_err();
        assert!(e.message.contains("routing-start"), "{e}");
        let job = "[[step]]\nop = \"call\"\next = \"p\"\nfunction = \"FaxDevStartJob\"\n";
        let open = Scenario::parse(Path::new("t.toml"), &file(job)).unwrap();
        assert!(open.leaves_work_open());
        let closed = format!(
            "{job}{send}[[step]]\nop = \"call\"\next = \"p\"\nfunction = \"FaxDevEndJob\"\n"
        );
        assert!(
            !Scenario::parse(Path::new("t.toml"), &file(&closed))
                .unwrap()
                .leaves_work_open()
        );
    }

    #[test]
    fn a_bad_decision_is_named_in_the_file() {
        let base = "[[extension]]\nname = \"a\"\nkind = \"routing\"\n[[step]]\nop = \"start\"\n";
        for (decision, says) in [
            (
                "[[decision]]\nstep = 5\next = \"a\"\nwrite = 1\nwait = 1\n",
                "the file has 1 steps",
            ),
            (
                "[[decision]]\nstep = 1\next = \"b\"\nwrite = 1\nwait = 1\n",
                "no extension is named",
            ),
            (
                "[[decision]]\nstep = 1\next = \"a\"\nwrite = 1\n",
                "wait = N, never = true or rank = N",
            ),
            (
                "[[decision]]\nstep = 1\next = \"a\"\nfail = \"free-buffer\"\ncall = 1\ncode = \"ERROR_BADDB\"\n",
                "is not get-data",
            ),
            (
                "[[decision]]\nstep = 1\next = \"a\"\nfail = \"unregister\"\ncall = 1\ncode = \"ERROR_BADDB\"\n",
                "not a documented error",
            ),
        ] {
            let e = Scenario::parse(Path::new("t.toml"), &format!("{base}{decision}")).unwrap_err();
            assert!(e.message.contains(says), "{decision}: {e}");
        }
    }

    #[test]
    fn without_an_expectation_on_findings_errors_fail_and_warnings_only_when_denied() {
        let leak = format!(
            "{ROUTER}[extension.config_init]\nactions = [ {{ op = \"set\", guid = \"{{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}}\", hex = \"01\" }}, {{ op = \"get\", guid = \"{{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}}\", bind = \"b\" }} ]\n"
        );
        let free_null = format!(
            "{ROUTER}[extension.general_init]\nactions = [ {{ op = \"free\", target = \"null\" }} ]\n"
        );
        let cases: &[(&str, &str, bool, bool)] = &[
            // body, [expect], --deny-warnings, passes
            (&leak, "", false, false),
            (&leak, "", true, false),
            // A value expectation that holds says nothing about findings.
            (
                &leak,
                "[expect]\n[[expect.value]]\nguid = \"{0a9d7b3a-a35e-4cc6-b73c-1f635136057b}\"\nhex = \"01\"\n",
                false,
                false,
            ),
            (
                &leak,
                "[expect]\nfindings = [\"buffer-leak\"]\n",
                true,
                true,
            ),
            (
                &leak,
                "[expect]\nfindings_include = [\"buffer-leak\"]\n",
                true,
                true,
            ),
            (
                &leak,
                "[expect]\nfindings_exclude = [\"double-free\"]\n",
                true,
                true,
            ),
            (
                &leak,
                "[expect]\n[[expect.finding]]\nrule = \"buffer-leak\"\n",
                true,
                true,
            ),
            (&leak, "[expect]\nfindings = []\n", false, false),
            (&free_null, "", false, true),
            (&free_null, "", true, false),
            (
                &free_null,
                "[expect]\nfindings = [\"free-null\"]\n",
                true,
                true,
            ),
            (ROUTER, "", true, true),
        ];
        for (i, (body, expect, deny, passes)) in cases.iter().enumerate() {
            let r = run(&format!("{body}{expect}"), *deny);
            assert_eq!(r.passed, *passes, "case {i}: {:?}", r.failures);
            // A failure here is the judgement of findings alone.
            assert!(r.failures.len() <= 1, "case {i}: {:?}", r.failures);
        }
        let r = run(&leak, false);
        assert_eq!(
            r.failures,
            [
                "buffer-leak fired, and the file states no expectation on findings, so error findings fail it (if the scenario is meant to show them, say so: [expect] findings = [\"buffer-leak\"])"
            ]
        );
    }

    #[test]
    fn a_run_that_refuses_libraries_names_the_library() {
        let body = "[[extension]]\nname = \"r\"\nkind = \"routing\"\nlibrary = \"librouter.so\"\n";
        let err = Scenario::parse(Path::new("t.toml"), body)
            .unwrap()
            .run(RunOptions::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.toml:4:11: this run does not host extension libraries"
        );
    }
}
