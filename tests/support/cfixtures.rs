//! Building the C fixture libraries of `extensions/c` with the compiler the `cc` crate
//! finds (gcc or clang: `-shared -fPIC`; MSVC: `/LD`). Shared by the tests and the benches
//! (`#[path]`-included), so both build fixtures the same way.

#![allow(dead_code)]

use std::path::Path;

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
