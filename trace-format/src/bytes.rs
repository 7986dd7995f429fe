//! Serde forms of payload bytes: an array of numbers in human-readable formats (the shape
//! every JSON consumer of events already reads), raw bytes (`serialize_bytes`) otherwise.
//! Deserialising also accepts a hex string, handy in hand-written JSON Lines.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

/// Lowercase hex of `data`.
pub fn to_hex(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses hex (either case, even length); `None` for anything else.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("payload bytes (a hex string or an array of bytes)")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        from_hex(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &"a hex string"))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        // The hint comes from the input: never trust it beyond a small preallocation.
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(v)
    }
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    if d.is_human_readable() {
        d.deserialize_any(BytesVisitor)
    } else {
        d.deserialize_byte_buf(BytesVisitor)
    }
}

/// `#[serde(with = "crate::bytes::payload")]` for `Arc<[u8]>`.
pub mod payload {
    use super::*;

    /// An array of numbers, or raw bytes.
    pub fn serialize<S: Serializer>(data: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_seq(data.iter())
        } else {
            s.serialize_bytes(data)
        }
    }

    /// Hex string, array of numbers, or raw bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        de_bytes(d).map(Arc::from)
    }
}

/// `#[serde(with = "crate::bytes::opt_payload")]` for `Option<Arc<[u8]>>` (`null` is NULL).
pub mod opt_payload {
    use super::*;

    /// `null`, or as [`payload`](super::payload).
    pub fn serialize<S: Serializer>(data: &Option<Arc<[u8]>>, s: S) -> Result<S::Ok, S::Error> {
        struct Inner<'a>(&'a Arc<[u8]>);
        impl serde::Serialize for Inner<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                super::payload::serialize(self.0, s)
            }
        }
        match data {
            None => s.serialize_none(),
            Some(d) => s.serialize_some(&Inner(d)),
        }
    }

    /// `null`, or as [`payload`](super::payload).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<[u8]>>, D::Error> {
        struct OptVisitor;
        impl<'de> Visitor<'de> for OptVisitor {
            type Value = Option<Arc<[u8]>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null or payload bytes")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::payload::deserialize(d).map(Some)
            }
        }
        d.deserialize_option(OptVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(to_hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(from_hex("00AB10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(from_hex(""), Some(vec![]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é0"), None);
    }
}
