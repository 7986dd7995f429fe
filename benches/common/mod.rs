//! Shared by the benches that host real C libraries: builds fixtures from `extensions/c`
//! with the compiler the `cc` crate finds (as `tests/validate.rs` does), optimised.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

const SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/extensions/c");

/// The platform's file name of library `name` (`libname.so`, `name.dll`, …).
pub fn lib_file(name: &str) -> String {
    format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

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

/// A directory of this bench's build products.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("bench output directory");
    dir
}

/// Compiles `extensions/c/<stem>.c` into `dir`; `None` (with a note) when no C compiler
/// works here.
pub fn build_fixture(stem: &str, dir: &Path) -> Option<PathBuf> {
    let compiler = cc::Build::new()
        .opt_level(2)
        .target(&target())
        .host(&target())
        .cargo_metadata(false)
        .cargo_warnings(false)
        .try_get_compiler()
        .ok()?;
    let src = Path::new(SOURCES).join(format!("{stem}.c"));
    let out = dir.join(lib_file(stem));
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim/abi/include");
    let mut cmd = compiler.to_command();
    if compiler.is_like_msvc() {
        cmd.arg("/nologo")
            .arg("/LD")
            .arg(format!("/I{}", include.display()))
            .arg(&src)
            .arg(format!("/Fe{}", out.display()))
            .arg(format!("/Fo{}\\", dir.join(stem).display()));
    } else {
        cmd.args(["-shared", "-fPIC", "-pthread", "-std=c11"])
            .arg("-I")
            .arg(&include)
            .arg(&src)
            .arg("-o")
            .arg(&out);
        if cfg!(target_os = "linux") {
            cmd.arg("-ldl");
        }
    }
    match cmd.output() {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => {
            eprintln!(
                "note: {} did not build; skipping: {}",
                src.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("note: no C compiler ({e}); skipping {}", src.display());
            None
        }
    }
}

/// `n` copies of `lib` under distinct names in `dir` (a library is loaded once per
/// process per file, and each hosted library needs its own globals and slot).
pub fn copies(lib: &Path, dir: &Path, n: usize) -> Vec<PathBuf> {
    let stem = lib
        .file_stem()
        .expect("a file name")
        .to_string_lossy()
        .trim_start_matches(std::env::consts::DLL_PREFIX)
        .to_string();
    (0..n)
        .map(|i| {
            let p = dir.join(lib_file(&format!("{stem}_{i}")));
            std::fs::copy(lib, &p).expect("copy the library");
            p
        })
        .collect()
}
