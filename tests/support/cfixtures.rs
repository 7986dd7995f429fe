//! Building the C fixture libraries of `extensions/c` with the compiler the `cc` crate
//! finds (gcc or clang: `-shared -fPIC`; MSVC: `/LD`). Shared by the tests and the benches
//! (`#[path]`-included), so both build fixtures the same way.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

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

/// Builds every fixture of `extensions/c` into `CARGO_TARGET_TMPDIR/<dir>` (one folder per
/// test binary, so binaries running at once never write the same file), on two threads.
/// `FAXSIM_PREBUILT_FIXTURES` names a folder of fixtures built elsewhere instead (say,
/// Windows DLLs cross-compiled for a run under Wine, where a test cannot start a compiler).
/// `None` when no C compiler works here.
pub fn build_all(dir: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FAXSIM_PREBUILT_FIXTURES") {
        return Some(PathBuf::from(dir));
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::create_dir_all(&dir).ok()?;
    let compiler = compiler(0)?;
    let mut sources: Vec<PathBuf> = std::fs::read_dir(SOURCES)
        .ok()?
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
                chunk.iter().all(|src| {
                    let stem = src.file_stem().unwrap_or_default().to_string_lossy();
                    match compile(&compiler, src, &dir.join(lib_file(&stem))) {
                        Ok(()) => true,
                        Err(e) => {
                            eprintln!("{e}");
                            false
                        }
                    }
                })
            })
        })
        .collect();
    let ok = threads.into_iter().all(|t| t.join().unwrap_or(false));
    if !ok {
        eprintln!("note: the C fixtures did not build; skipping");
        return None;
    }
    // The storm needs two libraries: the same source under two names.
    let storm = dir.join(lib_file("buggy_notification_storm"));
    std::fs::copy(&storm, dir.join(lib_file("storm_mirror"))).ok()?;
    Some(dir)
}
