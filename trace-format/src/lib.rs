//! The faxsim trace: the event schema every other part of faxsim speaks, and the trace
//! file format that stores it.
//!
//! The simulator emits these events, the rule checker reads only these events, and the
//! recorder writes them from a real fax service, so one checker serves all three.
//!
//! - [`event`]: the schema, one [`Event`] per crossing of the service/extension boundary.
//! - [`TraceWriter`] / [`TraceReader`]: the binary container, streamed both ways.
//! - [`jsonl`]: the lossless JSON Lines form and its conversion back to binary.
//! - [`TraceInput`]: either form, opened by content; [`EventSink`] / [`TraceSink`]: where a
//!   run's events go as they happen.
//! - [`text`], [`mermaid`], [`render`]: the canonical text form, the interaction diagram
//!   (Mermaid) and Chrome trace-event JSON; [`marks`]: findings to show and the window of
//!   events shown.
//!
//! The rest of this page is the format specification (`docs/trace-format.md`).
//!
#![doc = include_str!("../../docs/trace-format.md")]
#![forbid(unsafe_code)]

mod bytes;
mod calls;
pub mod error;
pub mod event;
pub mod header;
pub mod input;
pub mod jsonl;
pub mod marks;
pub mod mermaid;
pub mod reader;
pub mod render;
pub mod sink;
pub mod text;
pub mod version;
pub mod wire;
pub mod writer;

pub use bytes::{from_hex, to_hex};
pub use calls::{OpenCall, OpenCalls};
pub use error::TraceError;
pub use event::*;
pub use header::{ExtensionInfo, Header, Platform, sha256, sha256_file};
pub use input::{OpenError, TraceInput};
pub use marks::{Mark, MarkLevel, Marks, Window};
pub use reader::{
    Divergence, EndSummary, Note, Salvaged, Trace, TraceReader, first_difference, read_trace,
    salvage,
};
pub use sink::{EventLog, EventSink, SharedBytes, TraceForm, TraceSink};
pub use text::TextLine;
/// The trace id type of [`Header::trace_id`].
pub use uuid::Uuid;
pub use version::{CURRENT as FORMAT_VERSION, Compatibility, FormatVersion};
pub use writer::{FlushPolicy, TraceWriter};

/// The first eight bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"FAXSIM\0T";

/// The largest frame payload a reader accepts and a writer produces (16 MiB): the
/// length is checked against it before anything is allocated.
pub const MAX_FRAME_LEN: u32 = 16 << 20;

/// The largest logical frame (format 1.3): an event larger than one frame is written as
/// `part` frames of at most [`MAX_FRAME_LEN`] followed by a last frame of its own kind,
/// and a reader joins them up to this many payload bytes (80 MiB: a 64 MiB value, the
/// most the service model stores, with room for the rest of the event).
pub const MAX_EVENT_LEN: u32 = 80 << 20;

/// The most distinct strings one trace may define (GUIDs, device name prefixes, crash
/// details), which bounds the reader's string table.
pub const MAX_STRINGS: usize = 1 << 20;

/// The most bytes the strings of one trace may hold together (64 MiB): with
/// [`MAX_STRINGS`], what bounds a reader's memory whatever the file's size.
pub const MAX_STRING_BYTES: usize = 64 << 20;

/// The faxsim version of this build (written into the preamble and new headers).
pub const FAXSIM_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The rolling hash over a trace's events: 64-bit FNV-1a over each event frame's kind
/// byte and payload, chained from one frame to the next. Equal event sequences encode
/// to equal bytes (string ids and deltas are assigned deterministically), so equal
/// hashes mean equal events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollingHash(u64);

impl RollingHash {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The hash of no events.
    pub fn new() -> RollingHash {
        RollingHash(Self::OFFSET)
    }

    /// Continues the hash over `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(Self::PRIME);
        }
        self.0 = h;
    }

    /// The current value.
    pub fn value(self) -> u64 {
        self.0
    }
}

impl Default for RollingHash {
    fn default() -> Self {
        RollingHash::new()
    }
}
