//! Opening a trace of either form: [`TraceInput`] tells the binary container from JSON
//! Lines by the first byte and reads both as one stream of events. Every command and
//! library that reads traces (`show`, `check`, `convert`, replay) opens them here.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::TraceError;
use crate::event::Event;
use crate::header::Header;
use crate::jsonl::JsonlReader;
use crate::reader::{EndSummary, Note, TraceReader};
use crate::sink::TraceForm;
use crate::version::FormatVersion;

/// An opened trace in either form, streamed one event at a time.
#[derive(Debug)]
pub enum TraceInput<R: BufRead> {
    /// The binary form.
    Binary(TraceReader<R>),
    /// The JSON Lines form.
    Jsonl(JsonlReader<R>),
}

/// Why a trace file could not be opened: the file itself, or its content.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file could not be opened or read.
    #[error("cannot open: {0}")]
    Io(#[from] std::io::Error),
    /// The content is not a trace this build reads.
    #[error(transparent)]
    Trace(#[from] TraceError),
}

impl TraceInput<BufReader<File>> {
    /// Opens the trace file at `path`, in either form.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let file = File::open(path)?;
        Ok(TraceInput::from_reader(BufReader::with_capacity(
            64 * 1024,
            file,
        ))?)
    }
}

impl<R: BufRead> TraceInput<R> {
    /// Reads a trace of either form from `src`, telling them apart by the first byte
    /// (`{` starts JSON Lines).
    pub fn from_reader(mut src: R) -> Result<Self, TraceError> {
        let first = src.fill_buf()?.first().copied();
        if first == Some(b'{') {
            JsonlReader::new(src).map(TraceInput::Jsonl)
        } else {
            TraceReader::new(src).map(TraceInput::Binary)
        }
    }

    /// The form of the input.
    pub fn form(&self) -> TraceForm {
        match self {
            TraceInput::Binary(_) => TraceForm::Binary,
            TraceInput::Jsonl(_) => TraceForm::Jsonl,
        }
    }

    /// The header (a placeholder for JSON Lines without a header line: see
    /// [`TraceInput::is_headerless`]).
    pub fn header(&self) -> &Header {
        match self {
            TraceInput::Binary(r) => r.header(),
            TraceInput::Jsonl(r) => r.header(),
        }
    }

    /// JSON Lines without a header line: extension names, seed and options are unknown.
    pub fn is_headerless(&self) -> bool {
        matches!(self, TraceInput::Jsonl(r) if r.is_headerless())
    }

    /// The next event; `Ok(None)` at a clean end; an error at damage (every event before
    /// it was yielded).
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        match self {
            TraceInput::Binary(r) => r.next_event(),
            TraceInput::Jsonl(r) => r.next_event(),
        }
    }

    /// What the reader skipped (binary form only: frames of a newer minor version).
    pub fn notes(&self) -> &[Note] {
        match self {
            TraceInput::Binary(r) => r.notes(),
            TraceInput::Jsonl(_) => &[],
        }
    }

    /// The format version the file declares.
    pub fn version(&self) -> FormatVersion {
        match self {
            TraceInput::Binary(r) => r.version(),
            TraceInput::Jsonl(r) => r.version(),
        }
    }

    /// The faxsim version that wrote the file (the recording's, for JSON Lines).
    pub fn written_by(&self) -> &str {
        match self {
            TraceInput::Binary(r) => r.written_by(),
            TraceInput::Jsonl(r) => &r.header().faxsim,
        }
    }

    /// `(events, rolling hash)` of the end frame or end line, once the iteration reached
    /// it and it matched (`None` for the hash when a JSON Lines end line carries none).
    pub fn end(&self) -> Option<(u64, Option<u64>)> {
        match self {
            TraceInput::Binary(r) => r.end().map(|e| (e.events, Some(e.hash))),
            TraceInput::Jsonl(r) => r.end(),
        }
    }

    /// The binary end frame's summary (with the file size), once reached.
    pub fn binary_end(&self) -> Option<EndSummary> {
        match self {
            TraceInput::Binary(r) => r.end(),
            TraceInput::Jsonl(_) => None,
        }
    }
}

impl<R: BufRead> Iterator for TraceInput<R> {
    type Item = Result<Event, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}
