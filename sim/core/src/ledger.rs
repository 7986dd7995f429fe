//! The buffer-ownership ledger: every buffer GetData handed out, who owns it, which key
//! it came from, the event that created it, and whether it was freed.
//!
//! In-process buffers carry guard bytes past their end and are poisoned when freed and
//! kept in a bounded quarantine, so an overrun is found at FreeBuffer or unload and a
//! write after free at unload, as the host's guarded allocator does for real libraries.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use faxsim_trace::{BufferId, Damage, ExtId};

/// Guard bytes after each buffer.
pub const GUARD_LEN: usize = 16;
/// The guard bytes' value.
pub const GUARD_BYTE: u8 = 0xFD;
/// What freed buffers are filled with.
pub const POISON_BYTE: u8 = 0xDD;
/// How many freed buffers keep their memory for write-after-free checks.
pub const QUARANTINE: usize = 1024;
/// How many freed buffers keep their record (so a late second free is still known as a
/// double free); older freed records are forgotten, which bounds a long run's memory.
pub const RETAINED_FREED: usize = 65_536;

/// Whether a buffer is still owned by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferState {
    /// Handed out and not yet freed.
    Live,
    /// Freed at this event.
    Freed {
        /// `seq` of the FreeBufferCall.
        at: u64,
    },
}

/// One buffer.
#[derive(Clone, Debug)]
pub struct BufferRecord {
    /// The extension GetData handed it to.
    pub owner: ExtId,
    /// Device id as the extension passed it.
    pub device: u32,
    /// GUID string as the extension passed it.
    pub guid: Arc<str>,
    /// `seq` of the GetDataCall.
    pub created_at: u64,
    /// The size handed out.
    pub size: usize,
    /// Live or freed.
    pub state: BufferState,
    /// The bytes, then the guard zone (empty once the buffer leaves quarantine).
    memory: Vec<u8>,
    damage_reported: bool,
}

impl BufferRecord {
    /// The bytes handed out (for a live buffer).
    pub fn data(&self) -> &[u8] {
        &self.memory[..self.size.min(self.memory.len())]
    }

    fn check(&self) -> Option<Damage> {
        if self.memory.is_empty() {
            return None;
        }
        if let BufferState::Freed { .. } = self.state
            && let Some(i) = self.memory[..self.size]
                .iter()
                .position(|&b| b != POISON_BYTE)
        {
            return Some(Damage::WriteAfterFree { offset: i as u32 });
        }
        self.memory[self.size..]
            .iter()
            .position(|&b| b != GUARD_BYTE)
            .map(|i| Damage::Overrun {
                offset: (self.size + i) as u32,
            })
    }
}

/// What FreeBuffer did with a buffer id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeOutcome {
    /// Freed; the guard check result.
    Freed(Option<Damage>),
    /// Already freed at this event.
    AlreadyFreed(u64),
    /// No such buffer.
    Unknown,
}

/// Every buffer of a service instance.
#[derive(Debug, Default)]
pub struct OwnershipLedger {
    buffers: BTreeMap<BufferId, BufferRecord>,
    issued: u32,
    quarantine: VecDeque<BufferId>,
    retained: VecDeque<BufferId>,
    evicted_damage: Vec<(BufferId, ExtId, Damage)>,
}

impl OwnershipLedger {
    /// Hands out a copy of `data`; returns its id.
    pub fn allocate(
        &mut self,
        owner: ExtId,
        device: u32,
        guid: Arc<str>,
        created_at: u64,
        data: &[u8],
    ) -> BufferId {
        let id = BufferId(self.issued.wrapping_add(1));
        self.allocate_as(id, owner, device, guid, created_at, data)
    }

    /// Hands out a copy of `data` under a given id (a replay hands out the buffer the
    /// recording names). A record under the same id is replaced.
    pub fn allocate_as(
        &mut self,
        id: BufferId,
        owner: ExtId,
        device: u32,
        guid: Arc<str>,
        created_at: u64,
        data: &[u8],
    ) -> BufferId {
        let mut memory = Vec::with_capacity(data.len() + GUARD_LEN);
        memory.extend_from_slice(data);
        memory.resize(data.len() + GUARD_LEN, GUARD_BYTE);
        self.issued = self.issued.max(id.0);
        self.buffers.insert(
            id,
            BufferRecord {
                owner,
                device,
                guid,
                created_at,
                size: data.len(),
                state: BufferState::Live,
                memory,
                damage_reported: false,
            },
        );
        id
    }

    /// The record of `id`.
    pub fn get(&self, id: BufferId) -> Option<&BufferRecord> {
        self.buffers.get(&id)
    }

    fn get_mut(&mut self, id: BufferId) -> Option<&mut BufferRecord> {
        self.buffers.get_mut(&id)
    }

    /// Writes `bytes` at `offset` of the buffer's memory, as a misbehaving extension
    /// would: past the end lands in the guard zone (clamped to it), after free in the
    /// poisoned memory. Returns false if the buffer is unknown or out of quarantine.
    pub fn write_raw(&mut self, id: BufferId, offset: usize, bytes: &[u8]) -> bool {
        let Some(b) = self.get_mut(id) else {
            return false;
        };
        let end = b.memory.len();
        if offset >= end {
            return false;
        }
        let n = bytes.len().min(end - offset);
        b.memory[offset..offset + n].copy_from_slice(&bytes[..n]);
        true
    }

    /// Frees `id` at event `at`: checks its guard zone, poisons it, quarantines it.
    pub fn free(&mut self, id: BufferId, at: u64) -> FreeOutcome {
        let Some(b) = self.get_mut(id) else {
            return FreeOutcome::Unknown;
        };
        if let BufferState::Freed { at } = b.state {
            return FreeOutcome::AlreadyFreed(at);
        }
        let damage = b.check();
        b.damage_reported |= damage.is_some();
        b.state = BufferState::Freed { at };
        if b.memory.is_empty() {
            // Its memory was already released (the owner was unloaded): nothing to poison.
            return FreeOutcome::Freed(damage);
        }
        let size = b.size;
        b.memory[..size].fill(POISON_BYTE);
        self.quarantine.push_back(id);
        self.retained.push_back(id);
        if self.retained.len() > RETAINED_FREED
            && let Some(old) = self.retained.pop_front()
        {
            self.buffers.remove(&old);
        }
        if self.quarantine.len() > QUARANTINE
            && let Some(old) = self.quarantine.pop_front()
            && let Some(o) = self.buffers.get_mut(&old)
        {
            // Check before forgetting, so a write after free is never lost to eviction.
            if !o.damage_reported
                && let Some(d) = o.check()
            {
                o.damage_reported = true;
                self.evicted_damage.push((old, o.owner, d));
            }
            o.memory = Vec::new();
        }
        FreeOutcome::Freed(damage)
    }

    /// At unload of `owner`: damage not yet reported on its buffers (overruns of live
    /// buffers, writes after free), in id order. Releases their memory.
    pub fn unload_checks(&mut self, owner: ExtId) -> Vec<(BufferId, Damage)> {
        let mut found = Vec::new();
        for (id, b) in self.buffers.iter_mut() {
            if b.owner != owner || b.memory.is_empty() {
                continue;
            }
            if !b.damage_reported
                && let Some(d) = b.check()
            {
                found.push((*id, d));
            }
            b.memory = Vec::new();
        }
        found
    }

    /// Damage found on buffers as they left the quarantine (buffer, owner, damage).
    pub fn drain_evicted_damage(&mut self) -> std::vec::Drain<'_, (BufferId, ExtId, Damage)> {
        self.evicted_damage.drain(..)
    }

    /// Live buffers of `owner`.
    pub fn live_of(&self, owner: ExtId) -> impl Iterator<Item = (BufferId, &BufferRecord)> {
        self.buffers
            .iter()
            .filter(move |(_, b)| b.owner == owner && b.state == BufferState::Live)
            .map(|(id, b)| (*id, b))
    }

    /// Number of buffers ever handed out.
    pub fn issued(&self) -> u32 {
        self.issued
    }

    /// Records kept now (live buffers and recently freed ones).
    pub fn records(&self) -> usize {
        self.buffers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger_with_one() -> (OwnershipLedger, BufferId) {
        let mut l = OwnershipLedger::default();
        let id = l.allocate(ExtId(0), 0, Arc::from("{g}"), 3, &[1, 2, 3, 4]);
        (l, id)
    }

    #[test]
    fn clean_free_then_double_free() {
        let (mut l, id) = ledger_with_one();
        assert_eq!(l.get(id).unwrap().data(), &[1, 2, 3, 4]);
        assert_eq!(l.free(id, 9), FreeOutcome::Freed(None));
        assert_eq!(l.free(id, 10), FreeOutcome::AlreadyFreed(9));
        assert_eq!(l.free(BufferId(77), 11), FreeOutcome::Unknown);
        assert!(l.unload_checks(ExtId(0)).is_empty());
    }

    #[test]
    fn freeing_a_buffer_released_at_unload_does_not_panic() {
        let (mut l, id) = ledger_with_one();
        assert!(l.unload_checks(ExtId(0)).is_empty());
        assert_eq!(l.free(id, 20), FreeOutcome::Freed(None));
        assert_eq!(l.free(id, 21), FreeOutcome::AlreadyFreed(20));
    }

    #[test]
    fn write_after_free_is_found_when_the_buffer_leaves_quarantine() {
        let (mut l, first) = ledger_with_one();
        l.free(first, 1);
        l.write_raw(first, 0, &[1]);
        for i in 0..QUARANTINE {
            let b = l.allocate(ExtId(1), 0, Arc::from("{g}"), 2, &[0]);
            l.free(b, 3 + i as u64);
        }
        let found: Vec<_> = l.drain_evicted_damage().collect();
        assert_eq!(
            found,
            vec![(first, ExtId(0), Damage::WriteAfterFree { offset: 0 })]
        );
    }

    #[test]
    fn overrun_found_at_free() {
        let (mut l, id) = ledger_with_one();
        assert!(l.write_raw(id, 2, &[9, 9, 9]));
        assert_eq!(
            l.free(id, 9),
            FreeOutcome::Freed(Some(Damage::Overrun { offset: 4 }))
        );
        assert!(l.unload_checks(ExtId(0)).is_empty(), "reported once");
    }

    #[test]
    fn overrun_of_live_buffer_and_write_after_free_found_at_unload() {
        let (mut l, a) = ledger_with_one();
        let b = l.allocate(ExtId(0), 0, Arc::from("{g}"), 5, &[0; 8]);
        l.write_raw(a, 4, &[0]);
        l.free(b, 6);
        l.write_raw(b, 1, &[7]);
        assert_eq!(
            l.unload_checks(ExtId(0)),
            vec![
                (a, Damage::Overrun { offset: 4 }),
                (b, Damage::WriteAfterFree { offset: 1 })
            ]
        );
    }
}
