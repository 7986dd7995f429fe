//! Where a proxy learns which library to wrap and where its traces go.
//!
//! Three sources, the first that exists wins:
//!
//! 1. `FAXSIM_RECORDER_CONFIG`: the path of a configuration file;
//! 2. the file beside the proxy named after it (`faxsim_recorder_routing.toml` beside
//!    `faxsim_recorder_routing.dll`; off Windows, `libfaxsim_recorder_routing.toml` or
//!    `faxsim_recorder_routing.toml` beside `libfaxsim_recorder_routing.so`);
//! 3. `FAXSIM_RECORDER_EXTENSION` (the real library) and, optionally,
//!    `FAXSIM_RECORDER_TRACE` (the trace path template), without a file.
//!
//! A file has three keys: `extension` (required; relative paths are relative to the
//! file's folder), `trace` (a path template, relative to the same folder) and `methods`
//! (routing method export names, bound in order to the forwarders `FaxsimRouteMethod0`,
//! `FaxsimRouteMethod1`, …). Paths from the environment are relative to the proxy's
//! folder. Everything here is plain data: no I/O beyond reading the file.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The environment variable naming a configuration file (it takes precedence).
pub const ENV_CONFIG: &str = "FAXSIM_RECORDER_CONFIG";
/// The environment variable naming the real library when there is no file.
pub const ENV_EXTENSION: &str = "FAXSIM_RECORDER_EXTENSION";
/// The environment variable naming the trace path template when there is no file.
pub const ENV_TRACE: &str = "FAXSIM_RECORDER_TRACE";

/// How many routing-method forwarders a routing proxy exports (`FaxsimRouteMethod0` to
/// `FaxsimRouteMethod15`).
pub const ROUTE_METHODS: usize = 16;

/// The trace path template used when none is configured.
pub const DEFAULT_TRACE: &str = "{ext}-{time}-{pid}-{n}.trace";

/// A proxy's configuration, with every path resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where it came from (for messages).
    pub source: Source,
    /// The real library.
    pub extension: PathBuf,
    /// Where traces go.
    pub trace: TraceTemplate,
    /// Routing method export names, by forwarder number.
    pub methods: Vec<String>,
}

/// Where a [`Config`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file (named by `FAXSIM_RECORDER_CONFIG` or found beside the proxy).
    File(PathBuf),
    /// `FAXSIM_RECORDER_EXTENSION` / `FAXSIM_RECORDER_TRACE`.
    Environment,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Environment => write!(f, "the environment ({ENV_EXTENSION})"),
        }
    }
}

/// Why there is no usable configuration. Every message names the file, and for a file
/// that does not parse, the line and column.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Nothing configured.
    Missing {
        /// The files that were looked for.
        looked_for: Vec<PathBuf>,
    },
    /// A file that could not be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// A file that is not a valid configuration.
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: usize,
        /// 1-based column (in characters), when known.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value from the environment that is not valid.
    BadEnvironment {
        /// The variable.
        variable: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing { looked_for } => {
                write!(
                    f,
                    "not configured: {ENV_CONFIG} is not set, there is no configuration file ("
                )?;
                for (i, p) in looked_for.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{}", p.display())?;
                }
                write!(
                    f,
                    ") and {ENV_EXTENSION} is not set; the proxy does not know which library to wrap"
                )
            }
            ConfigError::Unreadable { path, reason } => {
                write!(
                    f,
                    "{}: cannot read the configuration: {reason}",
                    path.display()
                )
            }
            ConfigError::Invalid {
                path,
                line,
                column,
                message,
            } => write!(f, "{}:{line}:{column}: {message}", path.display()),
            ConfigError::BadEnvironment { variable, message } => write!(f, "{variable}: {message}"),
        }
    }
}

/// The file's form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    extension: toml::Spanned<String>,
    #[serde(default)]
    trace: Option<toml::Spanned<String>>,
    #[serde(default)]
    methods: Option<toml::Spanned<Vec<toml::Spanned<String>>>>,
}

/// Finds and reads the configuration of the proxy at `proxy` (its own file), with
/// `env` as the environment.
pub fn discover(
    proxy: &Path,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Config, ConfigError> {
    let nonempty = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(path) = nonempty(ENV_CONFIG) {
        let path = absolute(
            Path::new(&path),
            &std::env::current_dir().unwrap_or_default(),
        );
        return read_file(&path);
    }
    let beside = files_beside(proxy);
    for path in &beside {
        if path.is_file() {
            return read_file(path);
        }
    }
    let folder = proxy.parent().unwrap_or(Path::new("."));
    if let Some(ext) = nonempty(ENV_EXTENSION) {
        let trace = match nonempty(ENV_TRACE) {
            Some(t) => {
                let text = t.into_string().map_err(|_| ConfigError::BadEnvironment {
                    variable: ENV_TRACE,
                    message: "not valid Unicode".into(),
                })?;
                TraceTemplate::parse(folder, &text).map_err(|message| {
                    ConfigError::BadEnvironment {
                        variable: ENV_TRACE,
                        message,
                    }
                })?
            }
            None => TraceTemplate::default_in(folder),
        };
        return Ok(Config {
            source: Source::Environment,
            extension: absolute(Path::new(&ext), folder),
            trace,
            methods: Vec::new(),
        });
    }
    Err(ConfigError::Missing { looked_for: beside })
}

/// The configuration files a proxy looks for beside itself.
pub fn files_beside(proxy: &Path) -> Vec<PathBuf> {
    let folder = proxy.parent().unwrap_or(Path::new("."));
    let stem = proxy
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut names = vec![format!("{stem}.toml")];
    if let Some(rest) = stem.strip_prefix("lib")
        && !cfg!(windows)
        && !rest.is_empty()
    {
        names.push(format!("{rest}.toml"));
    }
    names.into_iter().map(|n| folder.join(n)).collect()
}

fn read_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse(&text, path)
}

/// Parses the text of the configuration file `path`.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
        let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        invalid(e.span(), message)
    })?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let ext = file.extension.get_ref();
    if ext.trim().is_empty() {
        return Err(invalid(
            Some(file.extension.span()),
            "`extension` is empty: name the real extension library".into(),
        ));
    }
    let trace = match &file.trace {
        Some(t) => TraceTemplate::parse(folder, t.get_ref())
            .map_err(|message| invalid(Some(t.span()), message))?,
        None => TraceTemplate::default_in(folder),
    };
    let mut methods = Vec::new();
    if let Some(list) = &file.methods {
        if list.get_ref().len() > ROUTE_METHODS {
            return Err(invalid(
                Some(list.span()),
                format!(
                    "{} routing methods, but the proxy has only {ROUTE_METHODS} forwarders (FaxsimRouteMethod0 to FaxsimRouteMethod{})",
                    list.get_ref().len(),
                    ROUTE_METHODS - 1
                ),
            ));
        }
        for m in list.get_ref() {
            let name = m.get_ref();
            if name.is_empty() || name.contains('\0') || name.trim() != name {
                return Err(invalid(
                    Some(m.span()),
                    format!("{name:?} is not an export name"),
                ));
            }
            methods.push(name.clone());
        }
    }
    Ok(Config {
        source: Source::File(path.to_path_buf()),
        extension: absolute(Path::new(ext), folder),
        trace,
        methods,
    })
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[start..].chars().count() + 1;
    (line, column)
}

/// `p` itself if absolute, else `base/p`.
fn absolute(p: &Path, base: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// A trace path with placeholders: `{ext}` (the real library's name), `{pid}` (the
/// process id), `{time}` (UTC, `YYYYMMDDTHHMMSSZ`) and `{n}` (the smallest number from 1
/// that names a file that does not exist yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceTemplate {
    /// Relative templates are relative to this folder.
    base: PathBuf,
    text: String,
}

/// The values a template is expanded with (all but the counter).
#[derive(Clone, Debug)]
pub struct TraceNames<'a> {
    /// `{ext}`.
    pub ext: &'a str,
    /// `{pid}`.
    pub pid: u32,
    /// `{time}`.
    pub time: &'a str,
}

impl TraceTemplate {
    /// The default template in `folder`.
    pub fn default_in(folder: &Path) -> TraceTemplate {
        TraceTemplate {
            base: folder.to_path_buf(),
            text: DEFAULT_TRACE.into(),
        }
    }

    /// Checks `text`'s placeholders.
    pub fn parse(base: &Path, text: &str) -> Result<TraceTemplate, String> {
        if text.trim().is_empty() {
            return Err(
                "`trace` is empty: give a path (placeholders: {ext}, {pid}, {time}, {n})".into(),
            );
        }
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("{text:?}: a `{{` without its `}}`"));
            };
            let name = &after[..close];
            if !matches!(name, "ext" | "pid" | "time" | "n") {
                return Err(format!(
                    "{text:?}: unknown placeholder {{{name}}} (known: {{ext}}, {{pid}}, {{time}}, {{n}})"
                ));
            }
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("{text:?}: a `}}` without its `{{`"));
        }
        Ok(TraceTemplate {
            base: base.to_path_buf(),
            text: text.to_string(),
        })
    }

    /// The template's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The path for counter value `n` (`None`: the template has no `{n}` and this is the
    /// first try; a second try inserts `-n` before the file's extension).
    pub fn expand(&self, names: &TraceNames<'_>, n: Option<u32>) -> PathBuf {
        let has_n = self.text.contains("{n}");
        let counter = n.unwrap_or(1).to_string();
        let text = self
            .text
            .replace("{ext}", names.ext)
            .replace("{pid}", &names.pid.to_string())
            .replace("{time}", names.time)
            .replace("{n}", &counter);
        let path = absolute(Path::new(&text), &self.base);
        match n {
            Some(n) if !has_n => {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let name = match path.extension() {
                    Some(e) => format!("{stem}-{n}.{}", e.to_string_lossy()),
                    None => format!("{stem}-{n}"),
                };
                path.with_file_name(name)
            }
            _ => path,
        }
    }

    /// Creates a new, empty trace file (missing folders are created) under the first
    /// name that does not exist yet, atomically (`create_new`), and returns its path.
    pub fn create_unique(&self, names: &TraceNames<'_>) -> std::io::Result<PathBuf> {
        let has_n = self.text.contains("{n}");
        let first = if has_n { 1 } else { 0 };
        for n in first..=1_000_000u32 {
            let path = match (has_n, n) {
                (false, 0) => self.expand(names, None),
                (false, 1) => continue,
                _ => self.expand(names, Some(n)),
            };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(format!(
            "every name of the template {:?} is taken",
            self.text
        )))
    }
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the Unix epoch (UTC; days to civil date after
/// Howard Hinnant's algorithm).
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{d:02}T{h:02}{m:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "faxsim-recorder-config-{}-{}",
            std::process::id(),
            std::thread::current()
                .name()
                .unwrap_or("t")
                .replace("::", "-")
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    #[test]
    fn a_file_resolves_paths_against_its_folder() {
        let c = parse(
            "extension = \"real/ext.dll\"\ntrace = \"t/{ext}-{n}.jsonl\"\nmethods = [\"RouteIt\"]\n",
            Path::new("/etc/fax/faxsim_recorder_routing.toml"),
        )
        .unwrap();
        assert_eq!(c.extension, Path::new("/etc/fax/real/ext.dll"));
        assert_eq!(c.methods, ["RouteIt"]);
        let names = TraceNames {
            ext: "ext",
            pid: 7,
            time: "T",
        };
        assert_eq!(
            c.trace.expand(&names, Some(3)),
            Path::new("/etc/fax/t/ext-3.jsonl")
        );
        assert_eq!(
            c.source,
            Source::File("/etc/fax/faxsim_recorder_routing.toml".into())
        );
    }

    #[test]
    fn bad_files_name_the_file_line_and_column() {
        let p = Path::new("/x/proxy.toml");
        let e = parse("extension = \"a.dll\"\ntrace = 5\n", p).unwrap_err();
        assert!(e.to_string().starts_with("/x/proxy.toml:2:9: "), "{e}");
        let e = parse("extension = \"a.dll\"\ntrcae = \"x\"\n", p).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("/x/proxy.toml:2:1: "), "{text}");
        assert!(text.contains("trcae"), "{text}");
        let e = parse("trace = \"x\"\n", p).unwrap_err();
        assert!(e.to_string().contains("extension"), "{e}");
        let e = parse("extension = \"a.dll\"\ntrace = \"{ext}-{seq}\"\n", p).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("/x/proxy.toml:2:9: "), "{text}");
        assert!(text.contains("unknown placeholder {seq}"), "{text}");
        let e = parse("extension = \"\"\n", p).unwrap_err();
        assert!(e.to_string().starts_with("/x/proxy.toml:1:13: "), "{e}");
        let many: Vec<String> = (0..17).map(|i| format!("\"M{i}\"")).collect();
        let e = parse(
            &format!("extension = \"a\"\nmethods = [{}]\n", many.join(", ")),
            p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("only 16 forwarders"), "{e}");
        let e = parse("extension = \"a\"\nmethods = [\"\"]\n", p).unwrap_err();
        assert!(e.to_string().starts_with("/x/proxy.toml:2:12: "), "{e}");
        let e = parse("extension = \"a\" = \n", p).unwrap_err();
        assert!(e.to_string().starts_with("/x/proxy.toml:1:"), "{e}");
    }

    #[test]
    fn sources_take_precedence_in_order() {
        let d = dir();
        let proxy = d.join(if cfg!(windows) {
            "faxsim_recorder_fsp.dll"
        } else {
            "libfaxsim_recorder_fsp.so"
        });
        // Nothing: the message lists the files looked for.
        let e = discover(&proxy, &no_env).unwrap_err();
        assert!(e.to_string().contains("not configured"), "{e}");
        assert!(
            e.to_string()
                .contains(&files_beside(&proxy)[0].display().to_string())
        );
        // The environment alone.
        let env = |name: &str| match name {
            ENV_EXTENSION => Some(OsString::from("real.so")),
            ENV_TRACE => Some(OsString::from("out/{pid}.trace")),
            _ => None,
        };
        let c = discover(&proxy, &env).unwrap();
        assert_eq!(c.source, Source::Environment);
        assert_eq!(c.extension, d.join("real.so"));
        // A file beside wins over the environment's library.
        let beside = files_beside(&proxy).pop().unwrap();
        std::fs::write(&beside, "extension = \"beside.so\"\n").unwrap();
        let c = discover(&proxy, &env).unwrap();
        assert_eq!(c.extension, d.join("beside.so"));
        // FAXSIM_RECORDER_CONFIG wins over the file beside.
        let other = d.join("other.toml");
        let abs = d.join("elsewhere").join("other.so");
        std::fs::write(
            &other,
            format!(
                "extension = \"{}\"\n",
                abs.display().to_string().replace('\\', "/")
            ),
        )
        .unwrap();
        let env2 = |name: &str| match name {
            ENV_CONFIG => Some(other.clone().into_os_string()),
            _ => env(name),
        };
        let c = discover(&proxy, &env2).unwrap();
        assert_eq!(c.extension, abs);
        assert_eq!(c.source, Source::File(other.clone()));
        // A named file that is missing is an error, not a fall-back.
        let env3 = |name: &str| match name {
            ENV_CONFIG => Some(d.join("missing.toml").into_os_string()),
            _ => None,
        };
        assert!(matches!(
            discover(&proxy, &env3),
            Err(ConfigError::Unreadable { .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn unique_names_count_up() {
        let d = dir().join("unique");
        let _ = std::fs::remove_dir_all(&d);
        let names = TraceNames {
            ext: "careful",
            pid: 42,
            time: "20260101T000000Z",
        };
        let t = TraceTemplate::parse(&d, "sub/{ext}-{pid}-{n}.trace").unwrap();
        let a = t.create_unique(&names).unwrap();
        let b = t.create_unique(&names).unwrap();
        assert_eq!(a, d.join("sub/careful-42-1.trace"));
        assert_eq!(b, d.join("sub/careful-42-2.trace"));
        let t = TraceTemplate::parse(&d, "{ext}-{time}.jsonl").unwrap();
        let a = t.create_unique(&names).unwrap();
        let b = t.create_unique(&names).unwrap();
        assert_eq!(a, d.join("careful-20260101T000000Z.jsonl"));
        assert_eq!(b, d.join("careful-20260101T000000Z-2.jsonl"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_767_225_599), "20251231T235959Z");
    }
}
