//! The worker protocol: what travels over a linked child's private pipes.
//!
//! Every message is an envelope: a tag byte, a little-endian `u32` length, then the
//! payload. Tag [`TAG_MESSAGE`] carries a postcard-encoded [`Request`] or [`Message`];
//! tag [`TAG_TRACE`] carries bytes of the running job's binary trace (the trace file
//! format, unchanged), so the parent decodes them with the trace reader and a crashed
//! child's prefix is salvaged like any damaged trace. Lengths are checked against
//! [`MAX_ENVELOPE`] before anything is allocated.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use faxsim_replay::{Mode, Replay, ReplayError, ReplayOutcome};
use faxsim_sim::DeliveryPolicy;
use faxsim_trace::{ExtensionKind, Header};
use serde::{Deserialize, Serialize};

/// A postcard-encoded [`Request`] or [`Message`].
pub const TAG_MESSAGE: u8 = 0;
/// Bytes of the running job's trace.
pub const TAG_TRACE: u8 = 1;

/// The largest envelope either side accepts: one trace frame (16 MiB) with room to spare.
pub const MAX_ENVELOPE: usize = 32 << 20;

/// One battery run: what `faxsim validate` runs per seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatteryJob {
    /// The seed.
    pub seed: u64,
    /// The delivery policy.
    pub delivery: DeliveryPolicy,
    /// `--routing-method` GUIDs.
    pub extra_guids: Vec<String>,
    /// `--routing-method GUID=FUNCTION` pairs.
    pub method_functions: Vec<(String, String)>,
    /// An exploration's strategy (`faxsim explore`), or the service's defaults.
    pub explore: Option<faxsim_sim::Strategy>,
}

impl BatteryJob {
    /// The host's options for this job.
    pub fn options(&self) -> faxsim_host::battery::BatteryOptions {
        faxsim_host::battery::BatteryOptions {
            seed: self.seed,
            delivery: self.delivery,
            extra_guids: self.extra_guids.clone(),
            method_functions: self.method_functions.clone(),
            explore: self.explore,
        }
    }
}

/// A scenario file that hosts libraries (`faxsim run`): the worker loads it and the
/// libraries it names, and runs it once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioJob {
    /// The file (UTF-8: a path that is not runs in process).
    pub path: String,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--deny-warnings`: without an expectation on findings, warnings fail it too.
    pub deny_warnings: bool,
    /// An exploration's strategy (`faxsim explore`), or the file's own decisions.
    pub explore: Option<faxsim_sim::Strategy>,
}

/// A replay of a recorded trace against builds of its extensions (`faxsim replay`): the
/// worker loads the libraries as the replay matches them, and runs it once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayJob {
    /// The recorded trace (UTF-8, as every path of a job: the command runs a replay whose
    /// paths are not in process).
    pub trace: PathBuf,
    /// `--ext` builds.
    pub libs: Vec<PathBuf>,
    /// `--mode`.
    pub mode: Mode,
    /// `--against`: the second build (model mode).
    pub against: Option<PathBuf>,
    /// `--thread-wait-ms`.
    pub thread_wait_ms: u64,
}

impl ReplayJob {
    /// The replay this job describes, ready for its sinks (the same in a worker and in
    /// process). The libraries load when it runs.
    pub fn build(&self) -> Result<Replay, ReplayError> {
        let mut replay =
            Replay::open(&self.trace)?.thread_wait(Duration::from_millis(self.thread_wait_ms));
        for lib in &self.libs {
            replay = replay.library(lib);
        }
        if self.mode == Mode::Model {
            replay = replay.mode(Mode::Model);
        }
        if let Some(new) = &self.against {
            replay = replay.against(new);
        }
        Ok(replay)
    }

    /// The header of the replayed run's trace: the recording's, from `origin` replay.
    pub fn replayed_header(recorded: &Header) -> Header {
        let mut h = recorded.clone();
        h.origin = "replay".into();
        h
    }
}

/// What a worker runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    /// One battery run (`faxsim validate`, one seed).
    Battery(BatteryJob),
    /// One scenario run (`faxsim run`).
    Scenario(ScenarioJob),
    /// One replay (`faxsim replay`).
    Replay(ReplayJob),
}

impl Job {
    /// The seed it runs with, when it names one.
    pub fn seed(&self) -> Option<u64> {
        match self {
            Job::Battery(b) => Some(b.seed),
            Job::Scenario(s) => s.seed,
            Job::Replay(_) => None,
        }
    }

    /// What it runs, in a word, for messages ("… before the replay ended").
    pub fn noun(&self) -> &'static str {
        match self {
            Job::Battery(_) => "battery",
            Job::Scenario(_) => "scenario",
            Job::Replay(_) => "replay",
        }
    }

    /// Whether the worker ends after it (a scenario or a replay loads its libraries in a
    /// host of its own, and a process holds one host at a time).
    pub fn retires_worker(&self) -> bool {
        !matches!(self, Job::Battery(_))
    }
}

/// What a replay found, on the wire. The outcome's types are shaped for the JSON report
/// (internally tagged enums) and postcard cannot read those, so this one payload travels
/// as JSON inside the message; it is small (the events travel as the trace).
#[derive(Debug)]
pub struct ReplayEnd(pub Box<ReplayOutcome>);

impl Serialize for ReplayEnd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let json = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&json)
    }
}

impl<'de> Deserialize<'de> for ReplayEnd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = String::deserialize(d)?;
        serde_json::from_str(&json)
            .map(|o| ReplayEnd(Box::new(o)))
            .map_err(serde::de::Error::custom)
    }
}

/// What a scenario run decided (its events travel as the trace).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioEnd {
    /// The scenario's name.
    pub name: String,
    /// The seed it ran with.
    pub seed: u64,
    /// Every expectation held.
    pub passed: bool,
    /// The live checker's findings.
    pub findings: Vec<faxsim_sim::Finding>,
    /// Unmet expectations, in words.
    pub failures: Vec<String>,
    /// Extension names by id.
    pub names: Vec<String>,
}

/// Parent to child.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Run one job.
    Run(Job),
}

/// A library as the child loaded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedLibrary {
    /// Its name in reports.
    pub name: String,
    /// The kind it is hosted as.
    pub kind: ExtensionKind,
    /// Whether it takes part in the configuration protocol.
    pub takes_part: bool,
}

/// Child to parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    /// About to load library `index` (its constructor or `DllMain` runs next).
    Loading {
        /// Into the worker's library list.
        index: u32,
    },
    /// A library could not be loaded (a usage error: not a library, wrong architecture).
    LoadFailed {
        /// The loader's words, naming the file.
        message: String,
    },
    /// Every library is loaded; the worker takes jobs.
    Ready {
        /// The libraries, in order.
        libraries: Vec<LoadedLibrary>,
    },
    /// The job's trace follows as [`TAG_TRACE`] envelopes, then [`Message::JobDone`].
    JobStarted,
    /// The job ended (its trace is complete).
    JobDone {
        /// Host notes.
        notes: Vec<String>,
        /// A limit that cut the run short, in words.
        aborted: Option<String>,
        /// Why the run could not be streamed whole (its trace stops early).
        stream_error: Option<String>,
        /// Libraries still mapped after their unload (`Host::survivors`): their globals
        /// would carry into this worker's next job, so it takes no other.
        survivors: Vec<String>,
        /// A scenario job's verdict.
        scenario: Option<ScenarioEnd>,
        /// A replay job's outcome.
        replay: Option<ReplayEnd>,
    },
    /// The job could not run (the service refused its setup).
    JobFailed {
        /// Why.
        message: String,
    },
}

/// Writes one envelope (one `write_all`, so a reader never sees half of a small one).
pub fn write_envelope(out: &mut impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&n| n as usize <= MAX_ENVELOPE)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "envelope too large"))?;
    let mut buf = Vec::with_capacity(5 + payload.len());
    buf.push(tag);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(payload);
    out.write_all(&buf)?;
    out.flush()
}

/// Writes a [`Request`] or [`Message`].
pub fn send<T: Serialize>(out: &mut impl Write, value: &T) -> io::Result<()> {
    let bytes = postcard::to_stdvec(value).map_err(io::Error::other)?;
    write_envelope(out, TAG_MESSAGE, &bytes)
}

/// Reads one envelope into `buf`: its tag, or `None` at a clean end of the stream.
pub fn read_envelope(src: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Option<u8>> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match src.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_ENVELOPE || !matches!(head[0], TAG_MESSAGE | TAG_TRACE) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a malformed envelope (tag {}, {len} bytes)", head[0]),
        ));
    }
    buf.clear();
    buf.resize(len, 0);
    src.read_exact(buf)?;
    Ok(Some(head[0]))
}

/// Decodes a [`TAG_MESSAGE`] payload.
pub fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> io::Result<T> {
    postcard::from_bytes(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_a_clean_end_is_none() {
        let mut wire = Vec::new();
        send(&mut wire, &Message::Loading { index: 3 }).unwrap();
        write_envelope(&mut wire, TAG_TRACE, b"FAXSIM").unwrap();
        let mut src = &wire[..];
        let mut buf = Vec::new();
        assert_eq!(
            read_envelope(&mut src, &mut buf).unwrap(),
            Some(TAG_MESSAGE)
        );
        assert!(matches!(
            decode(&buf).unwrap(),
            Message::Loading { index: 3 }
        ));
        assert_eq!(read_envelope(&mut src, &mut buf).unwrap(), Some(TAG_TRACE));
        assert_eq!(buf, b"FAXSIM");
        assert_eq!(read_envelope(&mut src, &mut buf).unwrap(), None);
    }

    #[test]
    fn a_replay_outcome_crosses_the_channel_whole() {
        let outcome = ReplayOutcome {
            mode: Mode::Model,
            names: vec!["routing".into()],
            kinds: vec![ExtensionKind::Routing],
            played: vec![faxsim_replay::Played::Library {
                path: "/x/librouting.so".into(),
                same_build: Some(false),
            }],
            reproduced: 7,
            recorded_end: Some((9, Some(0xfeed))),
            hash: Some(1),
            divergence: None,
            truncated: Some("cut".into()),
            extras: Vec::new(),
            differences: Some(faxsim_replay::BehaviourDiff::default()),
            findings: Vec::new(),
            events: Vec::new(),
            notes: vec!["a note".into()],
        };
        let message = Message::JobDone {
            notes: Vec::new(),
            aborted: None,
            stream_error: None,
            survivors: Vec::new(),
            scenario: None,
            replay: Some(ReplayEnd(Box::new(outcome))),
        };
        let before = format!("{message:?}");
        let mut wire = Vec::new();
        send(&mut wire, &message).unwrap();
        let mut buf = Vec::new();
        read_envelope(&mut &wire[..], &mut buf).unwrap();
        let after: Message = decode(&buf).unwrap();
        assert_eq!(format!("{after:?}"), before);
    }

    #[test]
    fn a_cut_or_oversized_envelope_is_an_error_before_allocating() {
        let mut wire = Vec::new();
        write_envelope(&mut wire, TAG_TRACE, b"abcdef").unwrap();
        let mut cut = &wire[..7];
        assert!(read_envelope(&mut cut, &mut Vec::new()).is_err());
        let mut huge = vec![TAG_TRACE];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut buf = Vec::new();
        let err = read_envelope(&mut &huge[..], &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(buf.capacity(), 0);
        let bad_tag = [9u8, 0, 0, 0, 0];
        assert!(read_envelope(&mut &bad_tag[..], &mut buf).is_err());
    }
}
