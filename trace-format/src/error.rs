//! Everything that can go wrong reading or writing a trace. Readers never panic: every
//! damaged, hostile or foreign input ends in one of these.

use crate::version::FormatVersion;

/// A trace could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Reading or writing the underlying file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The file has no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The file does not start with the trace magic.
    #[error("not a faxsim trace (the file does not start with the trace magic bytes)")]
    NotATrace,
    /// The file's major version is newer than this build's.
    #[error("written by faxsim {written_by} in format {version}; this build reads {reads}.x")]
    NewerMajor {
        /// The writer's version string, from the preamble.
        written_by: String,
        /// The file's format version.
        version: FormatVersion,
        /// The major version this build reads.
        reads: u16,
    },
    /// The file's major version is older than any this build reads.
    #[error("written by faxsim {written_by} in format {version}, which this build no longer reads")]
    OlderMajor {
        /// The writer's version string.
        written_by: String,
        /// The file's format version.
        version: FormatVersion,
    },
    /// The file ends before its end frame: everything before `offset` was read.
    #[error("{}", truncated_message(*events, *offset))]
    Truncated {
        /// Complete events before the cut (the last one has index `events - 1`).
        events: u64,
        /// Byte offset where the incomplete part begins (the valid prefix's length).
        offset: u64,
    },
    /// A frame's CRC32 does not match its bytes.
    #[error("CRC mismatch in frame {frame} at byte {offset} (after {events} events)")]
    Crc {
        /// Frame index (the header is frame 0).
        frame: u64,
        /// Byte offset of the frame's first byte.
        offset: u64,
        /// Complete events before it.
        events: u64,
    },
    /// A frame declares a payload above the cap; nothing was allocated for it.
    #[error("frame {frame} at byte {offset} declares {len} bytes, above the {cap}-byte cap")]
    FrameTooLarge {
        /// Frame index.
        frame: u64,
        /// Byte offset of the frame's first byte.
        offset: u64,
        /// The declared payload length.
        len: u32,
        /// [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN).
        cap: u32,
    },
    /// A frame kind this version does not define, in a file of a version that should not
    /// contain it.
    #[error(
        "frame {frame} at byte {offset} has kind 0x{kind:02x}, which format {version} does not define"
    )]
    UnknownFrame {
        /// Frame index.
        frame: u64,
        /// Byte offset.
        offset: u64,
        /// The kind byte.
        kind: u8,
        /// The file's version.
        version: FormatVersion,
    },
    /// A frame whose CRC is right but whose content is not valid (a bug in the writer, or
    /// a crafted file).
    #[error("frame {frame} at byte {offset} is malformed: {what}")]
    Malformed {
        /// Frame index.
        frame: u64,
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// The end frame disagrees with the events read.
    #[error(
        "the end frame at byte {offset} records {expected_events} events with hash {expected_hash:016x}, but the file holds {events} with hash {hash:016x}"
    )]
    EndMismatch {
        /// Byte offset of the end frame.
        offset: u64,
        /// Event count the end frame records.
        expected_events: u64,
        /// Rolling hash the end frame records.
        expected_hash: u64,
        /// Events read.
        events: u64,
        /// Rolling hash of the events read.
        hash: u64,
    },
    /// Bytes follow the end frame.
    #[error("unexpected bytes after the end frame, at byte {offset}")]
    TrailingData {
        /// Byte offset of the first extra byte.
        offset: u64,
    },
    /// More distinct strings than the table holds.
    #[error("more than {cap} distinct strings")]
    TooManyStrings {
        /// [`MAX_STRINGS`](crate::MAX_STRINGS).
        cap: usize,
    },
    /// The strings together hold more bytes than the table may.
    #[error("the string table holds more than {cap} bytes")]
    StringTableTooLarge {
        /// [`MAX_STRING_BYTES`](crate::MAX_STRING_BYTES).
        cap: usize,
    },
    /// The writer got an event too large for the trace.
    #[error("event {seq} needs about {len} bytes, above the {cap}-byte event cap")]
    EventTooLarge {
        /// The event's `seq`.
        seq: u64,
        /// Its approximate encoded size.
        len: usize,
        /// [`MAX_EVENT_LEN`](crate::MAX_EVENT_LEN).
        cap: u32,
    },
    /// An earlier write failed, so the file may end in a torn frame; nothing more is written.
    #[error("an earlier write failed; the trace is closed")]
    WriterFailed,
    /// A line of a JSON Lines trace is not what the format says.
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// 1-based line number.
        line: u64,
        /// 1-based column (0 when the whole line is at fault).
        column: u64,
        /// What is wrong.
        message: String,
    },
}

fn truncated_message(events: u64, offset: u64) -> String {
    match events {
        0 => format!("truncated before the first event at byte {offset}"),
        n => format!(
            "truncated after event {} at byte {offset} ({n} events salvaged)",
            n - 1
        ),
    }
}

impl TraceError {
    /// Damage after a readable header: the events before it were yielded and are usable
    /// (salvage), as opposed to a file that could not be opened as a trace at all.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            TraceError::Truncated { .. }
                | TraceError::Crc { .. }
                | TraceError::FrameTooLarge { .. }
                | TraceError::UnknownFrame { .. }
                | TraceError::Malformed { .. }
                | TraceError::EndMismatch { .. }
                | TraceError::TrailingData { .. }
                | TraceError::TooManyStrings { .. }
                | TraceError::StringTableTooLarge { .. }
        )
    }
}
