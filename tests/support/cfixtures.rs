//! Building the C fixture libraries of `extensions/c` with the compiler the `cc` crate
//! finds (gcc or clang: `-shared -fPIC`; MSVC: `/LD`). Shared by the tests and the benches
//! (`#[path]`-included), so both build fixtures the same way.
//!
//! A test that needs the fixtures fails where no C compiler runs, unless `FAXSIM_ALLOW_SKIP`
//! (a comma-separated list) names `fixtures`; and always when a fixture does not build.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the fixture sources are.
pub const SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/extensions/c");

/// The platform's file name of library `name` (`libname.so`, `name.dll`, …).
pub fn lib_file(name: &str) -> String {
    format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The target triple this test binary was built for, as `cc` wants it.
fn target() -> String {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "linux" => format!("{arch}-unknown-linux-gnu"),
        "macos" => format!("{arch}-apple-darwin"),
        "windows" if cfg!(target_env = "gnu") => format!("{arch}-pc-windows-gnu"),
        "windows" => format!("{arch}-pc-windows-msvc"),
        os => format!("{arch}-unknown-{os}"),
    }
}

/// The C compiler, at this optimisation level; `None` when there is none.
pub fn compiler(opt_level: u32) -> Option<cc::Tool> {
    cc::Build::new()
        .opt_level(opt_level)
        .target(&target())
        .host(&target())
        .cargo_metadata(false)
        .cargo_warnings(false)
        .try_get_compiler()
        .ok()
}

/// Compiles `src` into the shared library `out` (objects beside it); the compiler's
/// message on failure.
pub fn compile(compiler: &cc::Tool, src: &Path, out: &Path) -> Result<(), String> {
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim/abi/include");
    let stem = src.file_stem().unwrap_or_default().to_string_lossy();
    let mut cmd = compiler.to_command();
    if compiler.is_like_msvc() {
        let obj = out.parent().unwrap_or(Path::new(".")).join(&*stem);
        cmd.arg("/nologo")
            .arg("/LD")
            .arg(format!("/I{}", include.display()))
            .arg(src)
            .arg(format!("/Fe{}", out.display()))
            .arg(format!("/Fo{}\\", obj.display()));
    } else {
        cmd.args(["-shared", "-fPIC", "-pthread", "-std=c11"])
            .arg("-I")
            .arg(&include)
            .arg(src)
            .arg("-o")
            .arg(out);
        if cfg!(target_os = "linux") {
            cmd.arg("-ldl");
        }
    }
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{}: {}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(format!("{}: {e}", src.display())),
    }
}

/// `FAXSIM_PREBUILT_FIXTURES`: a folder of fixtures built elsewhere (say, Windows DLLs
/// cross-compiled for a run under Wine, where a test cannot start a compiler).
fn prebuilt() -> Option<PathBuf> {
    std::env::var_os("FAXSIM_PREBUILT_FIXTURES").map(PathBuf::from)
}

/// The C compiler at `opt_level`, for a test. If none runs here, the test cannot run: that
/// fails it, unless `FAXSIM_ALLOW_SKIP` names `fixtures`; then the skip is written to
/// stderr (past the harness's capture, so `cargo test` shows it) and this is `None`.
pub fn compiler_for_test(opt_level: u32) -> Option<cc::Tool> {
    let tool = compiler(opt_level);
    let runs = tool.as_ref().is_some_and(|t| {
        let mut cmd = t.to_command();
        if !t.is_like_msvc() {
            cmd.arg("--version");
        }
        cmd.output().is_ok()
    });
    if runs {
        return tool;
    }
    let allowed = std::env::var("FAXSIM_ALLOW_SKIP")
        .is_ok_and(|v| v.split(',').any(|k| k.trim() == "fixtures"));
    assert!(
        allowed,
        "no C compiler runs here: the tests that host the C fixtures cannot run; install \
         one (or set CC), name a folder of prebuilt ones in FAXSIM_PREBUILT_FIXTURES, or set \
         FAXSIM_ALLOW_SKIP=fixtures to skip them"
    );
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test} (and every test of this binary that hosts a C fixture): no C \
         compiler runs here, allowed by FAXSIM_ALLOW_SKIP=fixtures"
    );
    None
}

/// The first fixture build that failed in this process: the tests after it fail at once
/// with the same message instead of building again.
static FAILED: OnceLock<String> = OnceLock::new();

fn failed(message: String) -> ! {
    let message = FAILED.get_or_init(|| message);
    panic!("a C fixture did not build:\n{message}");
}

/// Builds the fixture `stem` of `extensions/c` into `CARGO_TARGET_TMPDIR/<dir>`, or takes
/// it from `FAXSIM_PREBUILT_FIXTURES`. `None` when no C compiler runs here and
/// `FAXSIM_ALLOW_SKIP` allows that (see [`compiler_for_test`]); a failed build fails.
pub fn build_one(dir: &str, stem: &str) -> Option<PathBuf> {
    if let Some(dir) = prebuilt() {
        let lib = dir.join(lib_file(stem));
        assert!(
            lib.is_file(),
            "FAXSIM_PREBUILT_FIXTURES: no {} in {}",
            lib_file(stem),
            dir.display()
        );
        return Some(lib);
    }
    if let Some(message) = FAILED.get() {
        failed(message.clone());
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let compiler = compiler_for_test(0)?;
    let out = dir.join(lib_file(stem));
    let src = Path::new(SOURCES).join(format!("{stem}.c"));
    compile(&compiler, &src, &out).unwrap_or_else(|e| failed(e));
    Some(out)
}

/// Builds every fixture of `extensions/c` into `CARGO_TARGET_TMPDIR/<dir>` (one folder per
/// test binary, so binaries running at once never write the same file), on two threads,
/// or takes the folder `FAXSIM_PREBUILT_FIXTURES` names. `None` when no C compiler runs
/// here and `FAXSIM_ALLOW_SKIP` allows that (see [`compiler_for_test`]); a fixture that
/// does not build fails the test.
pub fn build_all(dir: &str) -> Option<PathBuf> {
    if let Some(dir) = prebuilt() {
        return Some(dir);
    }
    if let Some(message) = FAILED.get() {
        failed(message.clone());
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let compiler = compiler_for_test(0)?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(SOURCES)
        .unwrap_or_else(|e| panic!("{SOURCES}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let threads: Vec<_> = sources
        .chunks(sources.len().div_ceil(2).max(1))
        .map(|chunk| {
            let chunk = chunk.to_vec();
            let compiler = compiler.clone();
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                for src in &chunk {
                    let stem = src.file_stem().unwrap_or_default().to_string_lossy();
                    if let Err(e) = compile(&compiler, src, &dir.join(lib_file(&stem))) {
                        errors.push(e);
                    }
                }
                errors
            })
        })
        .collect();
    let errors: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a build thread"))
        .collect();
    if !errors.is_empty() {
        failed(errors.join("\n"));
    }
    // The storm needs two libraries: the same source under two names.
    let storm = dir.join(lib_file("buggy_notification_storm"));
    std::fs::copy(&storm, dir.join(lib_file("storm_mirror")))
        .unwrap_or_else(|e| panic!("{}: {e}", storm.display()));
    Some(dir)
}
