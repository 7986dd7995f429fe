//! The faxsim trace: the event schema every other part of faxsim speaks.
//!
//! The simulator emits these events, the rule checker reads only these events, and the
//! recorder writes them from a real fax service, so one checker serves all three.
//! The file container and its codecs build on this schema.
#![forbid(unsafe_code)]

pub mod event;
pub mod text;

pub use event::*;
pub use text::TextLine;
