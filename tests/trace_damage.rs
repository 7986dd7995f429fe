//! Damage tests: a golden trace cut at every byte offset and with bits flipped at many
//! positions, and frames that lie about their length. Every case must end in salvaged
//! events or a clean error, never a panic, and no single allocation may exceed the
//! frame cap (a counting allocator in this test binary watches the reader's thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use faxsim_trace::{
    Event, MAX_FRAME_LEN, TraceError, TraceReader, jsonl::JsonlReader, read_trace, salvage,
};

/// Records the largest single allocation made on a thread while it is watching.
struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the thread-locals may be gone while a thread exits.
    let _ = WATCHING.try_with(|w| {
        if w.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// bookkeeping only reads sizes and touches const-initialised thread-locals, which never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the largest allocation it made.
fn watched<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    WATCHING.with(|w| w.set(true));
    let out = f();
    WATCHING.with(|w| w.set(false));
    (out, LARGEST.with(Cell::get))
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/v1")
            .join(name),
    )
    .unwrap()
}

/// Reads what it can; checks the salvage is a prefix of the intact events.
fn read_damaged(bytes: &[u8], intact: &[Event]) -> Result<(usize, Option<TraceError>), TraceError> {
    let s = salvage(bytes)?;
    let n = s.trace.events.len();
    assert!(n <= intact.len(), "more events than the intact trace");
    assert_eq!(
        s.trace.events[..],
        intact[..n],
        "salvaged events differ from the intact ones"
    );
    if let Some(TraceError::Truncated { events, offset }) = &s.damage {
        assert_eq!(*events as usize, n);
        assert!(*offset <= bytes.len() as u64);
    }
    Ok((n, s.damage))
}

const FILES: &[&str] = &[
    "walkthrough-seed0-sync.trace",
    "walkthrough-seed7-deferred.trace",
    "every-kind.trace",
];

#[test]
fn a_trace_cut_at_every_byte_yields_every_complete_event_then_a_clean_report() {
    let mut largest = 0;
    for name in FILES {
        let bytes = golden(name);
        let intact = read_trace(&bytes[..]).unwrap().events;
        let mut last = 0;
        for cut in 0..bytes.len() {
            let (r, big) = watched(|| read_damaged(&bytes[..cut], &intact));
            largest = largest.max(big);
            match r {
                Ok((n, damage)) => {
                    // Never fewer events than a shorter cut gave.
                    assert!(n >= last, "{name} cut at {cut}: {n} < {last}");
                    last = n;
                    match damage {
                        Some(TraceError::Truncated { .. }) => {}
                        other => {
                            panic!("{name} cut at {cut}: expected a truncation, got {other:?}")
                        }
                    }
                }
                // Only cuts inside the preamble or the header fail outright.
                Err(e) => assert!(
                    matches!(
                        e,
                        TraceError::Empty | TraceError::Truncated { events: 0, .. }
                    ),
                    "{name} cut at {cut}: {e}"
                ),
            }
        }
        assert_eq!(
            last,
            intact.len(),
            "{name}: the cut before the end frame keeps every event"
        );
    }
    assert!(
        largest <= MAX_FRAME_LEN as usize,
        "largest allocation {largest}"
    );
}

/// A small deterministic generator (the test must not depend on a seed source).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn flipped_bits_end_in_salvage_or_a_clean_error() {
    let mut rng = Lcg(0x5eed);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let mut largest = 0;
    for name in FILES {
        let bytes = golden(name);
        let intact = read_trace(&bytes[..]).unwrap().events;
        // One flip at every byte (a bit chosen per byte), then bursts of several flips.
        let mut cases: Vec<Vec<usize>> = (0..bytes.len())
            .map(|i| vec![i * 8 + (rng.next() % 8) as usize])
            .collect();
        for _ in 0..1500 {
            let k = 2 + rng.next() % 6;
            cases.push(
                (0..k)
                    .map(|_| (rng.next() % (bytes.len() as u64 * 8)) as usize)
                    .collect(),
            );
        }
        for flips in cases {
            let mut damaged = bytes.clone();
            for &bit in &flips {
                damaged[bit / 8] ^= 1 << (bit % 8);
            }
            let (r, big) = watched(|| read_damaged(&damaged, &intact));
            largest = largest.max(big);
            let kind = match r {
                Ok((_, None)) => "intact".to_string(),
                Ok((_, Some(e))) | Err(e) => format!("{e:?}")
                    .split([' ', '{', '('])
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            *outcomes.entry(kind).or_default() += 1;
        }
    }
    eprintln!("outcomes: {outcomes:?}; largest allocation {largest} bytes");
    assert!(
        largest <= MAX_FRAME_LEN as usize,
        "largest allocation {largest}"
    );
    // CRC32 catches every single-bit flip in a frame: the mismatches dominate.
    assert!(
        outcomes.get("Crc").copied().unwrap_or(0) > 1000,
        "{outcomes:?}"
    );
}

#[test]
fn lying_lengths_allocate_nothing_near_the_claim() {
    let bytes = golden("every-kind.trace");
    let pre = 13 + bytes[12] as usize;
    for claim in [
        u32::MAX,
        MAX_FRAME_LEN + 1,
        MAX_FRAME_LEN,
        MAX_FRAME_LEN / 2,
        70_000,
    ] {
        let mut damaged = bytes.clone();
        damaged[pre..pre + 4].copy_from_slice(&claim.to_le_bytes());
        let (r, big) = watched(|| TraceReader::new(&damaged[..]).map(|_| ()));
        let err = r.unwrap_err();
        if claim > MAX_FRAME_LEN {
            assert!(
                matches!(err, TraceError::FrameTooLarge { frame: 0, .. }),
                "{err}"
            );
        } else {
            assert!(
                matches!(err, TraceError::Truncated { events: 0, .. }),
                "{err}"
            );
        }
        // The file is under 2 KiB: nothing like the claimed length was allocated.
        assert!(big < 64 * 1024, "claim {claim}: allocated {big}");
    }
}

#[test]
fn damaged_json_lines_fail_cleanly() {
    let text = golden("every-kind.jsonl");
    let mut rng = Lcg(7);
    for cut in (0..text.len()).step_by(7) {
        let _ = JsonlReader::new(&text[..cut]).map(|r| r.count());
    }
    for _ in 0..2000 {
        let mut damaged = text.clone();
        let at = (rng.next() % text.len() as u64) as usize;
        damaged[at] ^= 1 << (rng.next() % 8);
        if let Ok(r) = JsonlReader::new(&damaged[..]) {
            for e in r {
                if e.is_err() {
                    break;
                }
            }
        }
    }
}
