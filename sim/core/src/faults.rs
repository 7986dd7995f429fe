//! Fault injection: make a callback fail with one of its documented codes, on the n-th
//! call, for a key, with a seeded probability, or every time.

use faxsim_abi::Callback;
use faxsim_trace::ExtId;
use serde::{Deserialize, Serialize};

use crate::store::Key;

/// When a fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// On the n-th matching call (1-based).
    NthCall(u64),
    /// On calls for this (logical device, GUID value).
    Key(Key),
    /// On each matching call with this probability, from the seeded fault stream.
    PerMillion(u32),
    /// On every matching call.
    Always,
}

/// One planned fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The callback that fails.
    pub callback: Callback,
    /// The documented code it fails with.
    pub code: u32,
    /// When.
    pub trigger: Trigger,
    /// Only calls from this extension (`None`: any).
    pub ext: Option<ExtId>,
    /// How many times it may fire (`None`: no limit).
    pub times: Option<u32>,
    pub(crate) calls: u64,
    pub(crate) fired: u32,
}

impl Fault {
    /// A fault; `code` is checked against the callback's documented codes when it is
    /// added to a service.
    pub fn new(callback: Callback, code: u32, trigger: Trigger) -> Fault {
        Fault {
            callback,
            code,
            trigger,
            ext: None,
            times: None,
            calls: 0,
            fired: 0,
        }
    }

    /// Only for calls from `ext`.
    pub fn for_ext(mut self, ext: ExtId) -> Fault {
        self.ext = Some(ext);
        self
    }

    /// At most `n` times.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }

    /// How many times it fired.
    pub fn fired(&self) -> u32 {
        self.fired
    }
}
