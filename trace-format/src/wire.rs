//! The v1 wire form of frames and events. These types, their field order and their
//! variant order *are* the format: never reorder, remove or retype anything here; a
//! minor version may only append variants whose frames old readers skip, or fields at
//! the end of a frame payload.
//!
//! The in-memory schema ([`Event`]) is free to evolve; the conversion functions below
//! are the only place the two meet.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::*;

/// Frame kinds. Kinds with the high bit set each carry exactly one event: a reader that
/// does not know such a kind (a newer minor version) still counts it as an event, so
/// event indices stay aligned with the writer's.
pub mod kind {
    /// The header (always frame 0).
    pub const HEADER: u8 = 0x01;
    /// New entries of the string table.
    pub const STRINGS: u8 = 0x02;
    /// The end frame: event count and rolling hash.
    pub const END: u8 = 0x03;
    /// Format 1.3: the first bytes of the next frame's payload. A frame larger than
    /// [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN) is written as parts and a last frame of
    /// its own kind with the rest; a reader joins them into one logical frame.
    pub const PART: u8 = 0x04;
    /// One event of a kind format 1.0 defines ([`WireKind`](super::WireKind)).
    pub const EVENT: u8 = 0x80;
    /// One event of a kind format 1.1 added ([`WireKind11`](super::WireKind11)): 1.0
    /// readers skip it and count it.
    pub const EVENT_1_1: u8 = 0x81;
    /// One event of a kind format 1.2 added ([`WireKind12`](super::WireKind12)): older
    /// readers skip it and count it.
    pub const EVENT_1_2: u8 = 0x82;
    /// The bit that marks a frame as carrying one event.
    pub const EVENT_BIT: u8 = 0x80;
}

/// Payload bytes: written with `serialize_bytes` (a varint length and the raw bytes),
/// read borrowed from the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de [u8]>::deserialize(d).map(Bytes)
    }
}

/// The header frame's payload.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireHeader<'a> {
    pub trace_id: [u8; 16],
    pub faxsim: &'a str,
    pub os: &'a str,
    pub arch: &'a str,
    pub seed: u64,
    pub origin: &'a str,
    /// `Header::options` as JSON text.
    pub options: &'a str,
    #[serde(borrow)]
    pub extensions: Vec<WireExtension<'a>>,
}

/// One extension in the header.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireExtension<'a> {
    pub name: &'a str,
    /// 0 fsp, 1 virtual-fsp, 2 routing.
    pub kind: u8,
    pub sha256: Option<[u8; 32]>,
}

/// A strings frame: defines ids `first..first + strings.len()`. `first` must equal the
/// number of strings defined so far (ids are dense, in first-use order).
#[derive(Debug, Serialize, Deserialize)]
pub struct WireStrings<'a> {
    pub first: u32,
    #[serde(borrow)]
    pub strings: Vec<&'a str>,
}

/// The end frame.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireEnd {
    /// Event frames in the file (including kinds the reader skipped).
    pub events: u64,
    /// The rolling hash over every event frame.
    pub hash: u64,
}

/// One event. `seq` and `time` are deltas from the previous event (the first event's
/// predecessor has `seq = -1`, `time = 0`), wrapping, so any sequence is lossless and a
/// normal one costs one byte each. `K` is the kind table of the frame: [`WireKind`] in
/// frames of kind `0x80`, [`WireKind11`] in frames of kind `0x81`.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireEvent<K> {
    /// `seq - (previous seq + 1)`: 0 for consecutive events.
    pub seq_gap: u64,
    /// `time - previous time`.
    pub dt: u64,
    pub thread: u16,
    /// 0 for none, `ExtId + 1` otherwise.
    pub ext: u32,
    pub kind: K,
}

/// The event kinds format 1.1 added, in frozen order, each in a frame of kind `0x81`.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireKind11<'a> {
    RouteDeviceEnableCall {
        guid: OptStrId,
        device: u32,
        enabled: i32,
    },
    RouteDeviceEnableReturn {
        result: i32,
    },
    RouteGetRoutingInfoCall {
        guid: OptStrId,
        device: u32,
        buffer: bool,
        size: u32,
    },
    RouteGetRoutingInfoReturn {
        ok: bool,
        size: u32,
        #[serde(borrow)]
        data: Option<Bytes<'a>>,
    },
    RouteSetRoutingInfoCall {
        guid: OptStrId,
        device: u32,
        #[serde(borrow)]
        data: Option<Bytes<'a>>,
        size: u32,
    },
    RouteSetRoutingInfoReturn {
        ok: bool,
    },
    EntryPointCall {
        function: StrId,
    },
    EntryPointReturn {
        result: i32,
    },
    InputWritten {
        call: Back,
        input: u8,
        offset: u32,
    },
}

/// The event kinds format 1.2 added, in frozen order, each in a frame of kind `0x82`.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireKind12<'a> {
    RoutingStart {
        job: u32,
        device: u32,
        /// (GUID, function) string ids.
        methods: Vec<(StrId, StrId)>,
    },
    RoutingEnd {
        job: u32,
    },
    RouteFileCall {
        /// 0 add-file, 1 delete-file, 2 get-file, 3 enum-files, 4 modify-routing-data.
        routine: u8,
        job: u32,
        index: u32,
        file: OptStrId,
        guid: OptStrId,
        #[serde(borrow)]
        data: Option<Bytes<'a>>,
        /// 0 none, 1 fits, 2 too small.
        buffer: u8,
    },
    RouteFileReturn {
        result: i32,
        code: u32,
        file: OptStrId,
    },
}

/// An event in its wire form, with the frame kind that carries it.
#[derive(Debug)]
pub enum Encoded<'a> {
    /// A format 1.0 kind (frame `0x80`).
    V10(WireEvent<WireKind<'a>>),
    /// A format 1.1 kind (frame `0x81`).
    V11(WireEvent<WireKind11<'a>>),
    /// A format 1.2 kind (frame `0x82`).
    V12(WireEvent<WireKind12<'a>>),
}

impl Encoded<'_> {
    /// The frame kind.
    pub fn frame_kind(&self) -> u8 {
        match self {
            Encoded::V10(_) => kind::EVENT,
            Encoded::V11(_) => kind::EVENT_1_1,
            Encoded::V12(_) => kind::EVENT_1_2,
        }
    }
}

/// An index into the string table.
pub type StrId = u32;
/// 0 for NULL, `StrId + 1` otherwise.
pub type OptStrId = u32;
/// A reference back to an earlier event: `seq - referenced seq`, wrapping.
pub type Back = u64;

#[derive(Debug, Serialize, Deserialize)]
pub enum WireHInst {
    Null,
    Ext(u16),
    Foreign(u32),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireBufferArg {
    Null,
    Buffer(u32),
    ChangeData(Back),
    Foreign(u32),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireHandleArg {
    Null,
    InvalidValue,
    Handle(u32),
    Foreign(u32),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireDamage {
    Overrun(u32),
    WriteAfterFree(u32),
}

/// Every event kind of format 1.0, in frozen order (the postcard discriminant is the
/// position).
#[derive(Debug, Serialize, Deserialize)]
pub enum WireKind<'a> {
    ServiceStart {
        run: u32,
    },
    ServiceStopping,
    ServiceStopped,
    DeviceAdded {
        device: u32,
        tapi: Option<u32>,
        owner: Option<u16>,
    },
    DeviceRemoved {
        device: u32,
    },
    ValueCorrupted {
        device: u32,
        guid: StrId,
    },
    Load {
        kind: u8,
        /// Bit 0 initialize_config, bit 1 dev_shutdown, bit 2 route_device_change.
        exports: u8,
    },
    Unload,
    VirtualDeviceCreationCall,
    VirtualDeviceCreationReturn {
        ok: bool,
        count: u32,
        id_prefix: u32,
        name_prefix: StrId,
    },
    InitializeConfigCall,
    InitializeConfigReturn {
        hr: i32,
    },
    DevInitializeCall,
    DevInitializeReturn {
        ok: bool,
    },
    RouteInitializeCall,
    RouteInitializeReturn {
        ok: bool,
    },
    RouteDeviceChangeCall {
        device: u32,
        new_device: bool,
    },
    RouteDeviceChangeReturn {
        ok: bool,
    },
    DevShutdownCall,
    DevShutdownReturn {
        hr: i32,
    },
    ConfigChangeCall {
        handle: u32,
        callback: u32,
        device: u32,
        guid: StrId,
        #[serde(borrow)]
        data: Bytes<'a>,
        cause: Option<Back>,
    },
    ConfigChangeReturn {
        handle: u32,
        hr: i32,
    },
    GetDataCall {
        device: u32,
        source: i32,
        guid: OptStrId,
        null_out: bool,
    },
    GetDataReturn {
        code: u32,
        buffer: Option<u32>,
        #[serde(borrow)]
        data: Option<Bytes<'a>>,
        injected: bool,
    },
    SetDataCall {
        hinst: WireHInst,
        device: u32,
        source: i32,
        guid: OptStrId,
        #[serde(borrow)]
        data: Option<Bytes<'a>>,
        size: u32,
    },
    SetDataReturn {
        code: u32,
        injected: bool,
    },
    RegisterCall {
        hinst: WireHInst,
        device: u32,
        source: i32,
        guid: OptStrId,
        callback: Option<u32>,
    },
    RegisterReturn {
        handle: Option<u32>,
        last_error: u32,
        injected: bool,
    },
    UnregisterCall {
        handle: WireHandleArg,
    },
    UnregisterReturn {
        code: u32,
        injected: bool,
    },
    FreeBufferCall {
        buffer: WireBufferArg,
    },
    FreeBufferReturn,
    ExternalWriteCall {
        device: u32,
        guid: OptStrId,
        #[serde(borrow)]
        data: Option<Bytes<'a>>,
        size: u32,
    },
    ExternalWriteReturn {
        code: u32,
    },
    BufferDamaged {
        buffer: u32,
        damage: WireDamage,
    },
    ChangeDataWritten {
        delivery: Back,
        offset: u32,
    },
    DeliveryCut {
        depth: u32,
        handle: u32,
        cause: Back,
    },
    ExtensionCrashed {
        detail: StrId,
    },
    ExtensionHung {
        limit_ms: u64,
    },
}

/// Extension kind codes on the wire.
pub fn kind_code(k: ExtensionKind) -> u8 {
    match k {
        ExtensionKind::Fsp => 0,
        ExtensionKind::VirtualFsp => 1,
        ExtensionKind::Routing => 2,
    }
}

/// The extension kind of a wire code.
pub fn kind_from_code(c: u8) -> Option<ExtensionKind> {
    Some(match c {
        0 => ExtensionKind::Fsp,
        1 => ExtensionKind::VirtualFsp,
        2 => ExtensionKind::Routing,
        _ => return None,
    })
}

// ---- encoding --------------------------------------------------------------------------

/// Turns an event into its wire form; `intern` maps each string to its table id.
pub fn encode_event<'a>(
    e: &'a Event,
    prev_seq: Option<u64>,
    prev_time: u64,
    mut intern: impl FnMut(&Arc<str>) -> StrId,
) -> Encoded<'a> {
    use EventKind as K;
    use WireKind as W;
    let seq = e.seq;
    let back = |v: u64| seq.wrapping_sub(v);
    fn opt_id(intern: &mut impl FnMut(&Arc<str>) -> StrId, g: &GuidArg) -> OptStrId {
        g.as_ref().map_or(0, |s| intern(s) + 1)
    }
    let hinst = |h: &HInstArg| match *h {
        HInstArg::Null => WireHInst::Null,
        HInstArg::Ext(x) => WireHInst::Ext(x.0),
        HInstArg::Foreign(f) => WireHInst::Foreign(f.0),
    };
    let bytes = |d: &'a PayloadArg| d.as_deref().map(Bytes);
    fn wrap<K>(e: &Event, prev_seq: Option<u64>, prev_time: u64, kind: K) -> WireEvent<K> {
        WireEvent {
            seq_gap: e
                .seq
                .wrapping_sub(prev_seq.map_or(0, |p| p.wrapping_add(1))),
            dt: e.time.wrapping_sub(prev_time),
            thread: e.thread,
            ext: e.ext.map_or(0, |x| u32::from(x.0) + 1),
            kind,
        }
    }
    use WireKind12 as W12;
    let v12 = match &e.kind {
        K::RoutingStart {
            job,
            device,
            methods,
        } => Some(W12::RoutingStart {
            job: *job,
            device: *device,
            methods: methods
                .iter()
                .map(|m| (intern(&m.guid), intern(&m.function)))
                .collect(),
        }),
        K::RoutingEnd { job } => Some(W12::RoutingEnd { job: *job }),
        K::RouteFileCall {
            routine,
            job,
            index,
            file,
            guid,
            data,
            buffer,
        } => Some(W12::RouteFileCall {
            // Declaration order is wire order (`RouteRoutine::ALL`).
            routine: *routine as u8,
            job: *job,
            index: *index,
            file: opt_id(&mut intern, file),
            guid: opt_id(&mut intern, guid),
            data: bytes(data),
            buffer: match buffer {
                NameBuffer::None => 0,
                NameBuffer::Fits => 1,
                NameBuffer::TooSmall => 2,
            },
        }),
        K::RouteFileReturn { result, code, file } => Some(W12::RouteFileReturn {
            result: *result,
            code: *code,
            file: opt_id(&mut intern, file),
        }),
        _ => None,
    };
    if let Some(kind) = v12 {
        return Encoded::V12(wrap(e, prev_seq, prev_time, kind));
    }
    use WireKind11 as W11;
    let v11 = match &e.kind {
        K::RouteDeviceEnableCall {
            guid,
            device,
            enabled,
        } => Some(W11::RouteDeviceEnableCall {
            guid: opt_id(&mut intern, guid),
            device: *device,
            enabled: *enabled,
        }),
        K::RouteDeviceEnableReturn { result } => {
            Some(W11::RouteDeviceEnableReturn { result: *result })
        }
        K::RouteGetRoutingInfoCall {
            guid,
            device,
            buffer,
            size,
        } => Some(W11::RouteGetRoutingInfoCall {
            guid: opt_id(&mut intern, guid),
            device: *device,
            buffer: *buffer,
            size: *size,
        }),
        K::RouteGetRoutingInfoReturn { ok, size, data } => Some(W11::RouteGetRoutingInfoReturn {
            ok: *ok,
            size: *size,
            data: bytes(data),
        }),
        K::RouteSetRoutingInfoCall {
            guid,
            device,
            data,
            size,
        } => Some(W11::RouteSetRoutingInfoCall {
            guid: opt_id(&mut intern, guid),
            device: *device,
            data: bytes(data),
            size: *size,
        }),
        K::RouteSetRoutingInfoReturn { ok } => Some(W11::RouteSetRoutingInfoReturn { ok: *ok }),
        K::EntryPointCall { function } => Some(W11::EntryPointCall {
            function: intern(function),
        }),
        K::EntryPointReturn { result } => Some(W11::EntryPointReturn { result: *result }),
        K::InputWritten {
            call,
            input,
            offset,
        } => Some(W11::InputWritten {
            call: back(*call),
            input: match input {
                ServiceInput::Guid => 0,
                ServiceInput::RoutingInfo => 1,
            },
            offset: *offset,
        }),
        _ => None,
    };
    if let Some(k) = v11 {
        return Encoded::V11(wrap(e, prev_seq, prev_time, k));
    }
    let kind = match &e.kind {
        K::ServiceStart { run } => W::ServiceStart { run: *run },
        K::ServiceStopping => W::ServiceStopping,
        K::ServiceStopped => W::ServiceStopped,
        K::DeviceAdded {
            device,
            tapi,
            owner,
        } => W::DeviceAdded {
            device: *device,
            tapi: *tapi,
            owner: owner.map(|o| o.0),
        },
        K::DeviceRemoved { device } => W::DeviceRemoved { device: *device },
        K::ValueCorrupted { device, guid } => W::ValueCorrupted {
            device: *device,
            guid: intern(guid),
        },
        K::Load { kind, exports } => W::Load {
            kind: kind_code(*kind),
            exports: u8::from(exports.initialize_config)
                | u8::from(exports.dev_shutdown) << 1
                | u8::from(exports.route_device_change) << 2,
        },
        K::Unload => W::Unload,
        K::VirtualDeviceCreationCall => W::VirtualDeviceCreationCall,
        K::VirtualDeviceCreationReturn {
            ok,
            count,
            id_prefix,
            name_prefix,
        } => W::VirtualDeviceCreationReturn {
            ok: *ok,
            count: *count,
            id_prefix: *id_prefix,
            name_prefix: intern(name_prefix),
        },
        K::InitializeConfigCall => W::InitializeConfigCall,
        K::InitializeConfigReturn { hr } => W::InitializeConfigReturn { hr: *hr },
        K::DevInitializeCall => W::DevInitializeCall,
        K::DevInitializeReturn { ok } => W::DevInitializeReturn { ok: *ok },
        K::RouteInitializeCall => W::RouteInitializeCall,
        K::RouteInitializeReturn { ok } => W::RouteInitializeReturn { ok: *ok },
        K::RouteDeviceChangeCall { device, new_device } => W::RouteDeviceChangeCall {
            device: *device,
            new_device: *new_device,
        },
        K::RouteDeviceChangeReturn { ok } => W::RouteDeviceChangeReturn { ok: *ok },
        K::DevShutdownCall => W::DevShutdownCall,
        K::DevShutdownReturn { hr } => W::DevShutdownReturn { hr: *hr },
        K::ConfigChangeCall {
            handle,
            callback,
            device,
            guid,
            data,
            cause,
        } => W::ConfigChangeCall {
            handle: handle.0,
            callback: callback.0,
            device: *device,
            guid: intern(guid),
            data: Bytes(data),
            cause: cause.map(back),
        },
        K::ConfigChangeReturn { handle, hr } => W::ConfigChangeReturn {
            handle: handle.0,
            hr: *hr,
        },
        K::GetDataCall {
            device,
            source,
            guid,
            null_out,
        } => W::GetDataCall {
            device: *device,
            source: *source,
            guid: opt_id(&mut intern, guid),
            null_out: *null_out,
        },
        K::GetDataReturn {
            code,
            buffer,
            data,
            injected,
        } => W::GetDataReturn {
            code: *code,
            buffer: buffer.map(|b| b.0),
            data: bytes(data),
            injected: *injected,
        },
        K::SetDataCall {
            hinst: h,
            device,
            source,
            guid,
            data,
            size,
        } => W::SetDataCall {
            hinst: hinst(h),
            device: *device,
            source: *source,
            guid: opt_id(&mut intern, guid),
            data: bytes(data),
            size: *size,
        },
        K::SetDataReturn { code, injected } => W::SetDataReturn {
            code: *code,
            injected: *injected,
        },
        K::RegisterCall {
            hinst: h,
            device,
            source,
            guid,
            callback,
        } => W::RegisterCall {
            hinst: hinst(h),
            device: *device,
            source: *source,
            guid: opt_id(&mut intern, guid),
            callback: callback.map(|c| c.0),
        },
        K::RegisterReturn {
            handle,
            last_error,
            injected,
        } => W::RegisterReturn {
            handle: handle.map(|h| h.0),
            last_error: *last_error,
            injected: *injected,
        },
        K::UnregisterCall { handle } => W::UnregisterCall {
            handle: match *handle {
                HandleArg::Null => WireHandleArg::Null,
                HandleArg::InvalidValue => WireHandleArg::InvalidValue,
                HandleArg::Handle(h) => WireHandleArg::Handle(h.0),
                HandleArg::Foreign(f) => WireHandleArg::Foreign(f.0),
            },
        },
        K::UnregisterReturn { code, injected } => W::UnregisterReturn {
            code: *code,
            injected: *injected,
        },
        K::FreeBufferCall { buffer } => W::FreeBufferCall {
            buffer: match *buffer {
                BufferArg::Null => WireBufferArg::Null,
                BufferArg::Buffer(b) => WireBufferArg::Buffer(b.0),
                BufferArg::ChangeData { delivery } => WireBufferArg::ChangeData(back(delivery)),
                BufferArg::Foreign(f) => WireBufferArg::Foreign(f.0),
            },
        },
        K::FreeBufferReturn => W::FreeBufferReturn,
        K::ExternalWriteCall {
            device,
            guid,
            data,
            size,
        } => W::ExternalWriteCall {
            device: *device,
            guid: opt_id(&mut intern, guid),
            data: bytes(data),
            size: *size,
        },
        K::ExternalWriteReturn { code } => W::ExternalWriteReturn { code: *code },
        K::BufferDamaged { buffer, damage } => W::BufferDamaged {
            buffer: buffer.0,
            damage: match *damage {
                Damage::Overrun { offset } => WireDamage::Overrun(offset),
                Damage::WriteAfterFree { offset } => WireDamage::WriteAfterFree(offset),
            },
        },
        K::ChangeDataWritten { delivery, offset } => W::ChangeDataWritten {
            delivery: back(*delivery),
            offset: *offset,
        },
        K::DeliveryCut {
            depth,
            handle,
            cause,
        } => W::DeliveryCut {
            depth: *depth,
            handle: handle.0,
            cause: back(*cause),
        },
        K::ExtensionCrashed { detail } => W::ExtensionCrashed {
            detail: intern(detail),
        },
        K::ExtensionHung { limit_ms } => W::ExtensionHung {
            limit_ms: *limit_ms,
        },
        K::RouteDeviceEnableCall { .. }
        | K::RouteDeviceEnableReturn { .. }
        | K::RouteGetRoutingInfoCall { .. }
        | K::RouteGetRoutingInfoReturn { .. }
        | K::RouteSetRoutingInfoCall { .. }
        | K::RouteSetRoutingInfoReturn { .. }
        | K::EntryPointCall { .. }
        | K::EntryPointReturn { .. }
        | K::InputWritten { .. } => unreachable!("format 1.1 kinds are encoded above"),
        K::RoutingStart { .. }
        | K::RoutingEnd { .. }
        | K::RouteFileCall { .. }
        | K::RouteFileReturn { .. } => unreachable!("format 1.2 kinds are encoded above"),
    };
    Encoded::V10(wrap(e, prev_seq, prev_time, kind))
}

/// The strings an event refers to (for the writer's size check before encoding).
pub fn event_bulk(e: &Event) -> usize {
    use EventKind as K;
    let g = |g: &GuidArg| g.as_ref().map_or(0, |s| s.len());
    let d = |d: &PayloadArg| d.as_ref().map_or(0, |s| s.len());
    match &e.kind {
        K::ValueCorrupted { guid, .. } => guid.len(),
        K::VirtualDeviceCreationReturn { name_prefix, .. } => name_prefix.len(),
        K::ConfigChangeCall { guid, data, .. } => guid.len() + data.len(),
        K::GetDataCall { guid, .. } | K::RegisterCall { guid, .. } => g(guid),
        K::GetDataReturn { data, .. } | K::RouteGetRoutingInfoReturn { data, .. } => d(data),
        K::SetDataCall { guid, data, .. }
        | K::ExternalWriteCall { guid, data, .. }
        | K::RouteSetRoutingInfoCall { guid, data, .. } => g(guid) + d(data),
        K::RouteDeviceEnableCall { guid, .. } | K::RouteGetRoutingInfoCall { guid, .. } => g(guid),
        K::EntryPointCall { function } => function.len(),
        K::RouteFileCall {
            file, guid, data, ..
        } => g(file) + g(guid) + d(data),
        K::RouteFileReturn { file, .. } => g(file),
        K::RoutingStart { methods, .. } => methods
            .iter()
            .map(|m| m.guid.len() + m.function.len() + 8)
            .sum(),
        K::ExtensionCrashed { detail } => detail.len(),
        _ => 0,
    }
}

// ---- decoding --------------------------------------------------------------------------

/// `seq`, `time` and `ext` of a wire event.
fn decode_prologue<K>(
    w: &WireEvent<K>,
    prev_seq: Option<u64>,
    prev_time: u64,
) -> Result<(u64, u64, Option<ExtId>), String> {
    let seq = prev_seq
        .map_or(0, |p| p.wrapping_add(1))
        .wrapping_add(w.seq_gap);
    let time = prev_time.wrapping_add(w.dt);
    let ext = match w.ext {
        0 => None,
        n => {
            Some(ExtId(u16::try_from(n - 1).map_err(|_| {
                format!("extension index {} out of range", n - 1)
            })?))
        }
    };
    Ok((seq, time, ext))
}

/// A string of the table, by id.
fn table_string(strings: &[Arc<str>], id: StrId) -> Result<Arc<str>, String> {
    strings.get(id as usize).cloned().ok_or_else(|| {
        format!(
            "string id {id} is not defined (the table has {})",
            strings.len()
        )
    })
}

/// An optional string of the table (0 is NULL).
fn table_opt_string(strings: &[Arc<str>], id: OptStrId) -> Result<GuidArg, String> {
    match id {
        0 => Ok(None),
        n => table_string(strings, n - 1).map(Some),
    }
}

/// Turns a wire event of format 1.1's kinds back into an event (see [`decode_event`]).
pub fn decode_event11(
    w: WireEvent<WireKind11<'_>>,
    prev_seq: Option<u64>,
    prev_time: u64,
    strings: &[Arc<str>],
) -> Result<Event, String> {
    use EventKind as K;
    use WireKind11 as W;
    let (seq, time, ext) = decode_prologue(&w, prev_seq, prev_time)?;
    let payload = |d: Option<Bytes<'_>>| d.map(|b| Arc::<[u8]>::from(b.0));
    let kind = match w.kind {
        W::RouteDeviceEnableCall {
            guid,
            device,
            enabled,
        } => K::RouteDeviceEnableCall {
            guid: table_opt_string(strings, guid)?,
            device,
            enabled,
        },
        W::RouteDeviceEnableReturn { result } => K::RouteDeviceEnableReturn { result },
        W::RouteGetRoutingInfoCall {
            guid,
            device,
            buffer,
            size,
        } => K::RouteGetRoutingInfoCall {
            guid: table_opt_string(strings, guid)?,
            device,
            buffer,
            size,
        },
        W::RouteGetRoutingInfoReturn { ok, size, data } => K::RouteGetRoutingInfoReturn {
            ok,
            size,
            data: payload(data),
        },
        W::RouteSetRoutingInfoCall {
            guid,
            device,
            data,
            size,
        } => K::RouteSetRoutingInfoCall {
            guid: table_opt_string(strings, guid)?,
            device,
            data: payload(data),
            size,
        },
        W::RouteSetRoutingInfoReturn { ok } => K::RouteSetRoutingInfoReturn { ok },
        W::EntryPointCall { function } => K::EntryPointCall {
            function: table_string(strings, function)?,
        },
        W::EntryPointReturn { result } => K::EntryPointReturn { result },
        W::InputWritten {
            call,
            input,
            offset,
        } => K::InputWritten {
            call: seq.wrapping_sub(call),
            input: match input {
                0 => ServiceInput::Guid,
                1 => ServiceInput::RoutingInfo,
                n => return Err(format!("input-written: unknown input {n}")),
            },
            offset,
        },
    };
    Ok(Event {
        seq,
        time,
        thread: w.thread,
        ext,
        kind,
    })
}

/// Turns a wire event of format 1.2's kinds back into an event (see [`decode_event`]).
pub fn decode_event12(
    w: WireEvent<WireKind12<'_>>,
    prev_seq: Option<u64>,
    prev_time: u64,
    strings: &[Arc<str>],
) -> Result<Event, String> {
    use EventKind as K;
    use WireKind12 as W;
    let (seq, time, ext) = decode_prologue(&w, prev_seq, prev_time)?;
    let kind = match w.kind {
        W::RoutingStart {
            job,
            device,
            methods,
        } => K::RoutingStart {
            job,
            device,
            methods: methods
                .into_iter()
                .map(|(g, f)| {
                    Ok(RouteMethod {
                        guid: table_string(strings, g)?,
                        function: table_string(strings, f)?,
                    })
                })
                .collect::<Result<_, String>>()?,
        },
        W::RoutingEnd { job } => K::RoutingEnd { job },
        W::RouteFileCall {
            routine,
            job,
            index,
            file,
            guid,
            data,
            buffer,
        } => K::RouteFileCall {
            routine: *RouteRoutine::ALL
                .get(usize::from(routine))
                .ok_or_else(|| format!("route-file-call: unknown routine {routine}"))?,
            job,
            index,
            file: table_opt_string(strings, file)?,
            guid: table_opt_string(strings, guid)?,
            data: data.map(|b| Arc::<[u8]>::from(b.0)),
            buffer: match buffer {
                0 => NameBuffer::None,
                1 => NameBuffer::Fits,
                2 => NameBuffer::TooSmall,
                n => return Err(format!("route-file-call: unknown buffer {n}")),
            },
        },
        W::RouteFileReturn { result, code, file } => K::RouteFileReturn {
            result,
            code,
            file: table_opt_string(strings, file)?,
        },
    };
    Ok(Event {
        seq,
        time,
        thread: w.thread,
        ext,
        kind,
    })
}

/// Turns a wire event back into an event. `prev_seq`/`prev_time` are those of the
/// previous event frame; `strings` is the table so far. The error says what is wrong.
pub fn decode_event(
    w: WireEvent<WireKind<'_>>,
    prev_seq: Option<u64>,
    prev_time: u64,
    strings: &[Arc<str>],
) -> Result<Event, String> {
    use EventKind as K;
    use WireKind as W;
    let (seq, time, ext) = decode_prologue(&w, prev_seq, prev_time)?;
    let unback = |b: Back| seq.wrapping_sub(b);
    let s = |id: StrId| table_string(strings, id);
    let opt_s = |id: OptStrId| table_opt_string(strings, id);
    let hinst = |h: WireHInst| match h {
        WireHInst::Null => HInstArg::Null,
        WireHInst::Ext(x) => HInstArg::Ext(ExtId(x)),
        WireHInst::Foreign(f) => HInstArg::Foreign(ForeignId(f)),
    };
    let payload = |d: Option<Bytes<'_>>| d.map(|b| Arc::<[u8]>::from(b.0));
    let kind = match w.kind {
        W::ServiceStart { run } => K::ServiceStart { run },
        W::ServiceStopping => K::ServiceStopping,
        W::ServiceStopped => K::ServiceStopped,
        W::DeviceAdded {
            device,
            tapi,
            owner,
        } => K::DeviceAdded {
            device,
            tapi,
            owner: owner.map(ExtId),
        },
        W::DeviceRemoved { device } => K::DeviceRemoved { device },
        W::ValueCorrupted { device, guid } => K::ValueCorrupted {
            device,
            guid: s(guid)?,
        },
        W::Load { kind, exports } => K::Load {
            kind: kind_from_code(kind).ok_or_else(|| format!("unknown extension kind {kind}"))?,
            exports: {
                if exports > 7 {
                    return Err(format!("unknown export bits 0x{exports:02x}"));
                }
                Exports {
                    initialize_config: exports & 1 != 0,
                    dev_shutdown: exports & 2 != 0,
                    route_device_change: exports & 4 != 0,
                }
            },
        },
        W::Unload => K::Unload,
        W::VirtualDeviceCreationCall => K::VirtualDeviceCreationCall,
        W::VirtualDeviceCreationReturn {
            ok,
            count,
            id_prefix,
            name_prefix,
        } => K::VirtualDeviceCreationReturn {
            ok,
            count,
            id_prefix,
            name_prefix: s(name_prefix)?,
        },
        W::InitializeConfigCall => K::InitializeConfigCall,
        W::InitializeConfigReturn { hr } => K::InitializeConfigReturn { hr },
        W::DevInitializeCall => K::DevInitializeCall,
        W::DevInitializeReturn { ok } => K::DevInitializeReturn { ok },
        W::RouteInitializeCall => K::RouteInitializeCall,
        W::RouteInitializeReturn { ok } => K::RouteInitializeReturn { ok },
        W::RouteDeviceChangeCall { device, new_device } => {
            K::RouteDeviceChangeCall { device, new_device }
        }
        W::RouteDeviceChangeReturn { ok } => K::RouteDeviceChangeReturn { ok },
        W::DevShutdownCall => K::DevShutdownCall,
        W::DevShutdownReturn { hr } => K::DevShutdownReturn { hr },
        W::ConfigChangeCall {
            handle,
            callback,
            device,
            guid,
            data,
            cause,
        } => K::ConfigChangeCall {
            handle: HandleId(handle),
            callback: CallbackId(callback),
            device,
            guid: s(guid)?,
            data: Arc::from(data.0),
            cause: cause.map(unback),
        },
        W::ConfigChangeReturn { handle, hr } => K::ConfigChangeReturn {
            handle: HandleId(handle),
            hr,
        },
        W::GetDataCall {
            device,
            source,
            guid,
            null_out,
        } => K::GetDataCall {
            device,
            source,
            guid: opt_s(guid)?,
            null_out,
        },
        W::GetDataReturn {
            code,
            buffer,
            data,
            injected,
        } => K::GetDataReturn {
            code,
            buffer: buffer.map(BufferId),
            data: payload(data),
            injected,
        },
        W::SetDataCall {
            hinst: h,
            device,
            source,
            guid,
            data,
            size,
        } => K::SetDataCall {
            hinst: hinst(h),
            device,
            source,
            guid: opt_s(guid)?,
            data: payload(data),
            size,
        },
        W::SetDataReturn { code, injected } => K::SetDataReturn { code, injected },
        W::RegisterCall {
            hinst: h,
            device,
            source,
            guid,
            callback,
        } => K::RegisterCall {
            hinst: hinst(h),
            device,
            source,
            guid: opt_s(guid)?,
            callback: callback.map(CallbackId),
        },
        W::RegisterReturn {
            handle,
            last_error,
            injected,
        } => K::RegisterReturn {
            handle: handle.map(HandleId),
            last_error,
            injected,
        },
        W::UnregisterCall { handle } => K::UnregisterCall {
            handle: match handle {
                WireHandleArg::Null => HandleArg::Null,
                WireHandleArg::InvalidValue => HandleArg::InvalidValue,
                WireHandleArg::Handle(h) => HandleArg::Handle(HandleId(h)),
                WireHandleArg::Foreign(f) => HandleArg::Foreign(ForeignId(f)),
            },
        },
        W::UnregisterReturn { code, injected } => K::UnregisterReturn { code, injected },
        W::FreeBufferCall { buffer } => K::FreeBufferCall {
            buffer: match buffer {
                WireBufferArg::Null => BufferArg::Null,
                WireBufferArg::Buffer(b) => BufferArg::Buffer(BufferId(b)),
                WireBufferArg::ChangeData(b) => BufferArg::ChangeData {
                    delivery: unback(b),
                },
                WireBufferArg::Foreign(f) => BufferArg::Foreign(ForeignId(f)),
            },
        },
        W::FreeBufferReturn => K::FreeBufferReturn,
        W::ExternalWriteCall {
            device,
            guid,
            data,
            size,
        } => K::ExternalWriteCall {
            device,
            guid: opt_s(guid)?,
            data: payload(data),
            size,
        },
        W::ExternalWriteReturn { code } => K::ExternalWriteReturn { code },
        W::BufferDamaged { buffer, damage } => K::BufferDamaged {
            buffer: BufferId(buffer),
            damage: match damage {
                WireDamage::Overrun(offset) => Damage::Overrun { offset },
                WireDamage::WriteAfterFree(offset) => Damage::WriteAfterFree { offset },
            },
        },
        W::ChangeDataWritten { delivery, offset } => K::ChangeDataWritten {
            delivery: unback(delivery),
            offset,
        },
        W::DeliveryCut {
            depth,
            handle,
            cause,
        } => K::DeliveryCut {
            depth,
            handle: HandleId(handle),
            cause: unback(cause),
        },
        W::ExtensionCrashed { detail } => K::ExtensionCrashed { detail: s(detail)? },
        W::ExtensionHung { limit_ms } => K::ExtensionHung { limit_ms },
    };
    Ok(Event {
        seq,
        time,
        thread: w.thread,
        ext,
        kind,
    })
}
