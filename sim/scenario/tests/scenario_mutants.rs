//! Property: any scenario the parser accepts runs to an end. The library's scenarios are
//! mutated (numbers replaced by extreme values, lines dropped, repeated or swapped) and
//! every mutant the parser accepts is run; a mutant it refuses must be refused with a
//! message, never a panic. (The cargo-fuzz target `scenario` does the same with arbitrary
//! text: fuzz/README.md.)

use std::path::{Path, PathBuf};

use faxsim_scenario::{RunOptions, Scenario};
use proptest::prelude::*;

fn library() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out.sort();
    out
}

const EXTREMES: &[&str] = &[
    "0",
    "1",
    "255",
    "256",
    "4096",
    "65535",
    "2147483647",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-1",
    "100000",
];

#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the n-th number in the text.
    Number(usize, usize),
    DropLine(usize),
    RepeatLine(usize, u8),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..EXTREMES.len()).prop_map(|(n, v)| Mutation::Number(n, v)),
        any::<usize>().prop_map(Mutation::DropLine),
        (any::<usize>(), 1..40u8).prop_map(|(n, k)| Mutation::RepeatLine(n, k)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    let n = lines.len();
    match *m {
        Mutation::Number(which, v) => {
            // The byte ranges of the decimal numbers outside comments.
            let mut numbers = Vec::new();
            for (li, line) in lines.iter().enumerate() {
                let code = line.split('#').next().unwrap_or("");
                let b = code.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
                        let start = i;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                        numbers.push((li, start, i));
                    } else {
                        i += 1;
                    }
                }
            }
            if let Some(&(li, a, b)) = numbers.get(which % numbers.len().max(1)) {
                lines[li].replace_range(a..b, EXTREMES[v]);
            }
        }
        Mutation::DropLine(i) => {
            lines.remove(i % n);
        }
        Mutation::RepeatLine(i, k) => {
            let l = lines[i % n].clone();
            for _ in 0..k {
                lines.insert(i % n, l.clone());
            }
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn accepted_mutants_run_to_an_end(
        file in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
        seed in 0u64..12,
    ) {
        let scenarios = library();
        let (path, text) = &scenarios[file % scenarios.len()];
        let mut text = text.clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        match Scenario::parse(path, &text) {
            // Ends (under the scenario's limits), whatever it reports; a library it names
            // is refused (the default hosts none).
            Ok(s) => {
                let _ = s.run(RunOptions {
                    seed: Some(seed),
                    ..RunOptions::default()
                });
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
