//! The trace header: who wrote the trace, on what, with which seed, options and extensions.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::ExtensionKind;

/// The operating system and CPU architecture a trace was recorded on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `std::env::consts::OS` of the writer (`linux`, `windows`, …).
    pub os: String,
    /// `std::env::consts::ARCH` of the writer (`x86_64`, `x86`, `aarch64`, …).
    pub arch: String,
}

impl Platform {
    /// The platform this build runs on.
    pub fn current() -> Platform {
        Platform {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
        }
    }
}

/// One extension of the run, in `ExtId` order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionInfo {
    /// Its name (the library's file stem unless a scenario names it).
    pub name: String,
    /// Its kind.
    pub kind: ExtensionKind,
    /// SHA-256 of the library file, when the extension is a library (see [`sha256_file`]),
    /// so a trace names exactly which build it exercised.
    #[serde(with = "sha_hex", default)]
    pub sha256: Option<[u8; 32]>,
}

impl ExtensionInfo {
    /// The entry of an extension; a library gets the SHA-256 of its file (none if the
    /// file cannot be read).
    pub fn new(name: &str, kind: ExtensionKind, library: Option<&Path>) -> ExtensionInfo {
        ExtensionInfo {
            name: name.to_string(),
            kind,
            sha256: library.and_then(|p| sha256_file(p).ok()),
        }
    }
}

/// The metadata at the start of every trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// A random (v4) id naming this trace; tests pass a fixed one.
    pub trace_id: Uuid,
    /// The faxsim version that recorded the events (kept when a trace is converted).
    pub faxsim: String,
    /// Where the events were recorded.
    pub platform: Platform,
    /// The run's seed (0 when the producer has none, like a recorder on a real service).
    pub seed: u64,
    /// What produced the events: `simulator`, `recorder`, or another tool's name.
    pub origin: String,
    /// The producer's options as JSON, opaque to this crate: for the simulator, its
    /// `ServiceOptions`; `null` when there are none. Stored as JSON text so the trace
    /// crate needs no knowledge of the simulator's types, and options added by later
    /// versions survive a round trip through an older one.
    pub options: serde_json::Value,
    /// The extensions, indexed by `ExtId`.
    pub extensions: Vec<ExtensionInfo>,
}

impl Header {
    /// A header for a simulator run on this platform, by this faxsim version, with a
    /// fresh random trace id.
    pub fn new(seed: u64, options: serde_json::Value, extensions: Vec<ExtensionInfo>) -> Header {
        Header {
            trace_id: Uuid::new_v4(),
            faxsim: crate::FAXSIM_VERSION.into(),
            platform: Platform::current(),
            seed,
            origin: "simulator".into(),
            options,
            extensions,
        }
    }

    /// [`Header::new`] with the producer's options serialised to JSON (`null` if they
    /// cannot be).
    pub fn for_options<T: Serialize>(
        seed: u64,
        options: &T,
        extensions: Vec<ExtensionInfo>,
    ) -> Header {
        Header::new(
            seed,
            serde_json::to_value(options).unwrap_or(serde_json::Value::Null),
            extensions,
        )
    }

    /// The same header with a fixed trace id (deterministic tests and golden files).
    pub fn with_trace_id(mut self, id: Uuid) -> Header {
        self.trace_id = id;
        self
    }

    /// Extension names indexed by `ExtId` (for the text form and the checker).
    pub fn extension_names(&self) -> Vec<String> {
        self.extensions.iter().map(|e| e.name.clone()).collect()
    }
}

/// SHA-256 of a file's bytes, read in blocks (libraries can be large).
pub fn sha256_file(path: impl AsRef<Path>) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// SHA-256 of bytes (redaction digests).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// `Option<[u8; 32]>` as a hex string or `null`.
mod sha_hex {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(d) => s.serialize_some(&crate::bytes::to_hex(d)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        crate::bytes::from_hex(&s)
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| de::Error::custom("sha256 must be 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_file_matches_a_known_digest() {
        let dir = std::env::temp_dir().join(format!("faxsim-sha-{}", std::process::id()));
        std::fs::write(&dir, b"abc").unwrap();
        let d = sha256_file(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(
            crate::bytes::to_hex(&d),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d, sha256(b"abc"));
    }
}
