//! The GetData buffer ledger: buffers handed out and not yet freed (with their owner), the
//! freed or leaked ones (kept for messages, bounded), and the rules about them:
//! `buffer-leak`, `double-free`, `foreign-free`, `free-null`, `buffer-overrun` and
//! `write-after-free`.

use faxsim_abi::ERROR_SUCCESS;
use faxsim_trace::{BufferArg, BufferId, Damage, Event, ExtId, GuidArg, SOURCE_FAX};

use super::Checker;
use super::messages::{DevArg, guid_text};
use super::threads::Frame;
use crate::rules::Rule;

/// Freed buffers whose details are kept for `double-free` and `write-after-free` messages.
/// An older one freed again is still a `double-free` (ids are never reused), with fewer
/// details.
pub(super) const RETAINED_DEAD_BUFFERS: usize = 1 << 16;

/// A buffer a successful GetData handed out.
#[derive(Clone, Debug)]
pub(super) struct BufferInfo {
    owner: Option<ExtId>,
    /// `seq` of the GetDataCall.
    at: u64,
    device: u32,
    source: i32,
    guid: GuidArg,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum BufferEnd {
    Freed(u64),
    /// Reported as `buffer-leak` at this Unload.
    Leaked(u64),
}

impl Checker {
    pub(super) fn on_get_data_call(
        &mut self,
        event: &Event,
        device: u32,
        source: i32,
        guid: &GuidArg,
    ) {
        self.callback_lifecycle(event);
        self.check_guid(event, "GetData", device, source, guid);
        self.check_source(event, "GetData", device, source, guid);
        self.thread(event.thread).calls.push(Frame::GetData {
            at: event.seq,
            device,
            source,
            guid: guid.clone(),
        });
    }

    pub(super) fn on_get_data_return(
        &mut self,
        event: &Event,
        code: u32,
        buffer: Option<BufferId>,
    ) {
        let frame = self.pop_frame(event.thread, |f| matches!(f, Frame::GetData { .. }));
        if let (ERROR_SUCCESS, Some(b)) = (code, buffer) {
            let (at, device, source, guid) = match frame {
                Some(Frame::GetData {
                    at,
                    device,
                    source,
                    guid,
                }) => (at, device, source, guid),
                _ => (event.seq, 0, SOURCE_FAX, None),
            };
            self.dead_buffers.remove(&b);
            self.max_buffer = self.max_buffer.max(Some(b));
            self.live_buffers.insert(
                b,
                BufferInfo {
                    owner: event.ext,
                    at,
                    device,
                    source,
                    guid,
                },
            );
        }
    }

    pub(super) fn on_free_buffer_call(&mut self, event: &Event, buffer: BufferArg) {
        self.callback_lifecycle(event);
        self.on_free(event, buffer);
        self.thread(event.thread).calls.push(Frame::FreeBuffer);
    }

    pub(super) fn on_free_buffer_return(&mut self, thread: u16) {
        self.pop_frame(thread, |f| matches!(f, Frame::FreeBuffer));
    }

    /// At `ext`'s Unload: every buffer it still holds is a `buffer-leak` (in buffer
    /// order), and is kept as leaked.
    pub(super) fn leak_buffers_of(&mut self, ext: Option<ExtId>, seq: u64) {
        let mut leaked: Vec<BufferId> = self
            .live_buffers
            .iter()
            .filter(|(_, b)| b.owner == ext)
            .map(|(id, _)| *id)
            .collect();
        leaked.sort_unstable();
        for b in leaked {
            let msg = format!(
                "{} was never freed before {} was unloaded",
                self.buffer_text(b),
                self.name(ext)
            );
            self.report(Rule::BufferLeak, ext, seq, msg);
            if let Some(info) = self.live_buffers.remove(&b) {
                self.bury(b, info, BufferEnd::Leaked(seq));
            }
        }
    }

    fn on_free(&mut self, event: &Event, arg: BufferArg) {
        let seq = event.seq;
        let ext = event.ext;
        match arg {
            BufferArg::Null => {
                let msg = format!("{} called FreeBuffer(NULL)", self.name(ext));
                self.report(Rule::FreeNull, ext, seq, msg);
            }
            BufferArg::Buffer(b) => {
                if let Some(info) = self.live_buffers.remove(&b) {
                    self.bury(b, info, BufferEnd::Freed(seq));
                    return;
                }
                match self.dead_buffers.get(&b).map(|(_, end)| *end) {
                    Some(BufferEnd::Freed(f)) => {
                        let msg = format!(
                            "{} freed {} again: it was already freed by FreeBuffer at event {f}",
                            self.name(ext),
                            self.buffer_text(b)
                        );
                        self.report(Rule::DoubleFree, ext, seq, msg);
                    }
                    Some(BufferEnd::Leaked(_)) => {
                        // Reported as a leak when its owner was unloaded; the free comes
                        // from a later life (call-after-unload covers the call itself).
                        if let Some((_, end)) = self.dead_buffers.get_mut(&b) {
                            *end = BufferEnd::Freed(seq);
                        }
                    }
                    None if self.max_buffer.is_some_and(|m| b <= m) => {
                        let msg = format!(
                            "{} freed buffer #{} again: it was freed long before (more than {RETAINED_DEAD_BUFFERS} buffers ago, so its details are no longer kept)",
                            self.name(ext),
                            b.0
                        );
                        self.report(Rule::DoubleFree, ext, seq, msg);
                    }
                    None => {
                        let msg = format!(
                            "{} called FreeBuffer on buffer #{}, which no successful GetData returned",
                            self.name(ext),
                            b.0
                        );
                        self.report(Rule::ForeignFree, ext, seq, msg);
                    }
                }
            }
            BufferArg::ChangeData { delivery } => {
                let msg = format!(
                    "{} called FreeBuffer on the lpData of {}; it belongs to the service",
                    self.name(ext),
                    self.describe_delivery(event.thread, delivery)
                );
                self.report(Rule::ForeignFree, ext, seq, msg);
            }
            BufferArg::Foreign(n) => {
                let msg = format!(
                    "{} called FreeBuffer on foreign pointer #{}, which no GetData returned",
                    self.name(ext),
                    n.0
                );
                self.report(Rule::ForeignFree, ext, seq, msg);
            }
        }
    }

    /// Records a buffer that is no longer live, forgetting the oldest beyond the bound.
    fn bury(&mut self, b: BufferId, info: BufferInfo, end: BufferEnd) {
        self.dead_buffers.insert(b, (info, end));
        self.dead_order.push_back(b);
        if self.dead_order.len() > RETAINED_DEAD_BUFFERS
            && let Some(old) = self.dead_order.pop_front()
        {
            self.dead_buffers.remove(&old);
        }
    }

    pub(super) fn on_damage(&mut self, ext: Option<ExtId>, seq: u64, b: BufferId, damage: Damage) {
        let (owner, end) = match self.live_buffers.get(&b) {
            Some(i) => (i.owner, None),
            None => match self.dead_buffers.get(&b) {
                Some((i, end)) => (i.owner, Some(*end)),
                None => (None, None),
            },
        };
        let who = ext.or(owner);
        let (rule, msg) = match damage {
            Damage::Overrun { offset } => (
                Rule::BufferOverrun,
                format!(
                    "bytes past the end of {} were written (first damaged byte at offset {offset})",
                    self.buffer_text(b)
                ),
            ),
            Damage::WriteAfterFree { offset } => {
                let freed = match end {
                    Some(BufferEnd::Freed(f)) => format!(" after FreeBuffer at event {f}"),
                    Some(BufferEnd::Leaked(u)) => {
                        format!(" after its owner was unloaded at event {u}")
                    }
                    None => " after it was freed".to_string(),
                };
                (
                    Rule::WriteAfterFree,
                    format!(
                        "{} was written{freed} (first changed byte at offset {offset})",
                        self.buffer_text(b)
                    ),
                )
            }
        };
        self.report(rule, who, seq, msg);
    }

    fn buffer_text(&self, b: BufferId) -> String {
        let info = self
            .live_buffers
            .get(&b)
            .or_else(|| self.dead_buffers.get(&b).map(|(i, _)| i));
        match info {
            Some(i) => format!(
                "buffer #{} from GetData at event {} ({}, {})",
                b.0,
                i.at,
                DevArg(i.device, i.source),
                guid_text(&i.guid)
            ),
            None => format!("buffer #{}", b.0),
        }
    }
}
