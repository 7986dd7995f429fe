//! Shared by the benches that host real C libraries: builds fixtures from `extensions/c`
//! with the compiler the `cc` crate finds (as `tests/validate.rs` does), optimised.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[path = "../../tests/support/cfixtures.rs"]
mod cfixtures;

use cfixtures::SOURCES;
pub use cfixtures::lib_file;

/// A directory of this bench's build products.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("bench output directory");
    dir
}

/// Compiles `extensions/c/<stem>.c` into `dir`; `None` (with a note) when no C compiler
/// works here.
pub fn build_fixture(stem: &str, dir: &Path) -> Option<PathBuf> {
    let Some(compiler) = cfixtures::compiler(2) else {
        eprintln!("note: no C compiler; skipping {stem}");
        return None;
    };
    let src = Path::new(SOURCES).join(format!("{stem}.c"));
    let out = dir.join(lib_file(stem));
    match cfixtures::compile(&compiler, &src, &out) {
        Ok(()) => Some(out),
        Err(e) => {
            eprintln!("note: a fixture did not build; skipping: {e}");
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
