//! Guarded memory for GetData buffers: real bytes handed to C, a guard zone past the end,
//! poison and quarantine after FreeBuffer. Pointers are mapped to the model's `BufferId`s;
//! a pointer the host never handed out never reaches an allocator.

use std::alloc::{Layout, alloc, dealloc};
use std::collections::{BTreeMap, VecDeque};
use std::ptr::NonNull;

use faxsim_sim::FreeArg;
use faxsim_trace::{BufferId, Damage, ExtId};

/// Guard bytes after each buffer (as the model's ledger uses).
pub const GUARD_LEN: usize = 16;
/// The guard bytes' value.
pub const GUARD_BYTE: u8 = 0xFD;
/// What freed buffers are filled with.
pub const POISON_BYTE: u8 = 0xDD;
/// Freed buffers kept (and checked) before their memory is released.
pub const QUARANTINE: usize = 1024;
const ALIGN: usize = 16;

#[derive(Debug)]
struct Block {
    ext: ExtId,
    id: BufferId,
    ptr: NonNull<u8>,
    size: usize,
    freed: bool,
    reported: bool,
}

impl Block {
    fn layout(&self) -> Layout {
        Layout::from_size_align(self.size + GUARD_LEN, ALIGN).expect("sizes fit a layout")
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points to `size + GUARD_LEN` bytes this heap allocated and still
        // owns (blocks are removed from the map before their memory is released).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size + GUARD_LEN) }
    }

    /// What a guard/poison check finds (once per block).
    fn check(&mut self) -> Option<Damage> {
        if self.reported {
            return None;
        }
        let bytes = self.bytes();
        let found = if self.freed
            && let Some(i) = bytes[..self.size].iter().position(|&b| b != POISON_BYTE)
        {
            Some(Damage::WriteAfterFree { offset: i as u32 })
        } else {
            bytes[self.size..]
                .iter()
                .position(|&b| b != GUARD_BYTE)
                .map(|i| Damage::Overrun {
                    offset: (self.size + i) as u32,
                })
        };
        self.reported |= found.is_some();
        found
    }
}

/// Every GetData buffer handed to C, by address.
#[derive(Debug, Default)]
pub(crate) struct GuardedHeap {
    blocks: BTreeMap<usize, Block>,
    quarantine: VecDeque<usize>,
    /// The `lpData` of ConfigChange calls in progress, innermost last: (address, delivery
    /// event). As deep as the nesting of deliveries, so a list beats hashing an address
    /// twice per notification.
    change_data: Vec<(usize, u64)>,
    /// Buffers leaked by extensions that were unloaded: the memory stays valid, and a
    /// late FreeBuffer of one (from a destructor, a thread that outlived the unload) is
    /// still named by its buffer, not taken for a foreign pointer.
    orphans: BTreeMap<usize, Block>,
}

// SAFETY: the heap owns its blocks' memory outright (no aliasing owner elsewhere); the
// raw pointers are what makes it !Send by default. It lives behind the host's mutex.
unsafe impl Send for GuardedHeap {}

/// The result of classifying a FreeBuffer pointer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Freed {
    pub arg: FreeArg,
    /// Damage found now (the freed buffer's guard zone; blocks leaving quarantine).
    pub damage: Vec<(ExtId, BufferId, Damage)>,
}

impl GuardedHeap {
    /// Copies `data` into new guarded memory for buffer `id` of `ext`.
    pub fn allocate(&mut self, ext: ExtId, id: BufferId, data: &[u8]) -> *mut u8 {
        let size = data.len();
        let layout = Layout::from_size_align(size + GUARD_LEN, ALIGN).expect("sizes fit a layout");
        // SAFETY: the layout is never zero-sized (GUARD_LEN > 0).
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: `ptr` is a fresh allocation of `size + GUARD_LEN` bytes; `data` does not
        // overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr(), size);
            std::ptr::write_bytes(ptr.as_ptr().add(size), GUARD_BYTE, GUARD_LEN);
        }
        self.blocks.insert(
            ptr.as_ptr() as usize,
            Block {
                ext,
                id,
                ptr,
                size,
                freed: false,
                reported: false,
            },
        );
        ptr.as_ptr()
    }

    /// Marks `lpData` of delivery `delivery` as live for the duration of the call.
    pub fn begin_change(&mut self, addr: usize, delivery: u64) {
        self.change_data.push((addr, delivery));
    }

    /// Ends a ConfigChange call.
    pub fn end_change(&mut self, addr: usize) {
        if let Some(i) = self.change_data.iter().rposition(|&(a, _)| a == addr) {
            self.change_data.remove(i);
        }
    }

    /// FreeBuffer of `addr`: what the model should be told, and damage found. A buffer of
    /// this heap is checked, poisoned and quarantined; anything else is left alone.
    pub fn free(&mut self, addr: usize) -> Freed {
        let mut damage = Vec::new();
        if let Some(b) = self.orphans.remove(&addr) {
            // Freed at last, late: it takes the usual path (poison, quarantine).
            self.blocks.insert(addr, b);
        }
        let arg = if addr == 0 {
            FreeArg::Null
        } else if let Some(&(_, delivery)) =
            self.change_data.iter().rev().find(|&&(a, _)| a == addr)
        {
            FreeArg::ChangeData(delivery)
        } else if let Some(b) = self.blocks.get_mut(&addr) {
            if !b.freed {
                if let Some(d) = b.check() {
                    damage.push((b.ext, b.id, d));
                }
                b.freed = true;
                // SAFETY: the block's first `size` bytes are its own live memory.
                unsafe { std::ptr::write_bytes(b.ptr.as_ptr(), POISON_BYTE, b.size) };
                self.quarantine.push_back(addr);
            }
            let id = b.id;
            while self.quarantine.len() > QUARANTINE {
                let Some(old) = self.quarantine.pop_front() else {
                    break;
                };
                if let Some(mut b) = self.blocks.remove(&old) {
                    if let Some(d) = b.check() {
                        damage.push((b.ext, b.id, d));
                    }
                    release(b);
                }
            }
            FreeArg::Buffer(id)
        } else {
            FreeArg::Foreign(addr as u64)
        };
        Freed { arg, damage }
    }

    /// At unload of `ext`: damage on its buffers not reported yet (overruns of live
    /// buffers, writes after free), in buffer order. Freed buffers are released; leaked
    /// ones are kept, as a service would never reclaim them (a thread of the library that
    /// outlives the unload may still use them).
    pub fn unload(&mut self, ext: ExtId) -> Vec<(BufferId, Damage)> {
        let mut found = Vec::new();
        let mine: Vec<usize> = self
            .blocks
            .iter()
            .filter(|(_, b)| b.ext == ext)
            .map(|(a, _)| *a)
            .collect();
        for addr in mine {
            let Some(b) = self.blocks.get_mut(&addr) else {
                continue;
            };
            if let Some(d) = b.check() {
                found.push((b.id, d));
            }
            if b.freed {
                self.quarantine.retain(|a| *a != addr);
                if let Some(b) = self.blocks.remove(&addr) {
                    release(b);
                }
            } else if let Some(b) = self.blocks.remove(&addr) {
                // Leaked, not freed: the memory stays valid for the process's life.
                self.orphans.insert(addr, b);
            }
        }
        found.sort_by_key(|(id, _)| *id);
        found
    }

    /// Releases every freed block (end of hosting).
    pub fn clear(&mut self) {
        for (_, b) in std::mem::take(&mut self.blocks) {
            if b.freed {
                release(b);
            }
        }
        self.quarantine.clear();
        self.change_data.clear();
    }
}

fn release(b: Block) {
    let layout = b.layout();
    // SAFETY: `b.ptr` was allocated by `allocate` with exactly this layout and is removed
    // from the map, so it is released once.
    unsafe { dealloc(b.ptr.as_ptr(), layout) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrun_found_at_free_and_write_after_free_at_unload() {
        let mut h = GuardedHeap::default();
        let e = ExtId(0);
        let a = h.allocate(e, BufferId(1), &[1, 2, 3, 4]);
        let b = h.allocate(e, BufferId(2), &[5; 8]);
        // SAFETY: test writes inside the allocation (4 bytes + guard zone).
        unsafe { *a.add(4) = 0 };
        let f = h.free(a as usize);
        assert_eq!(f.arg, FreeArg::Buffer(BufferId(1)));
        assert_eq!(
            f.damage,
            vec![(e, BufferId(1), Damage::Overrun { offset: 4 })]
        );
        assert_eq!(h.free(b as usize).damage, vec![]);
        // SAFETY: the freed block is quarantined, so its memory is still ours.
        unsafe { *b.add(2) = 7 };
        assert_eq!(
            h.free(b as usize).arg,
            FreeArg::Buffer(BufferId(2)),
            "double free"
        );
        assert_eq!(h.free(0).arg, FreeArg::Null);
        assert_eq!(h.free(0x1234).arg, FreeArg::Foreign(0x1234));
        assert_eq!(
            h.unload(e),
            vec![(BufferId(2), Damage::WriteAfterFree { offset: 2 })]
        );
        h.clear();
    }

    #[test]
    fn change_data_is_named_by_delivery() {
        let mut h = GuardedHeap::default();
        h.begin_change(0x5000, 42);
        assert_eq!(h.free(0x5000).arg, FreeArg::ChangeData(42));
        h.end_change(0x5000);
        assert_eq!(h.free(0x5000).arg, FreeArg::Foreign(0x5000));
    }

    #[test]
    fn a_buffer_leaked_at_unload_is_still_named_when_freed_late() {
        let mut h = GuardedHeap::default();
        let e = ExtId(3);
        let a = h.allocate(e, BufferId(9), &[1, 2]);
        assert_eq!(h.unload(e), vec![]);
        assert_eq!(h.free(a as usize).arg, FreeArg::Buffer(BufferId(9)));
        // Now freed like any other: a second free is a double free of the same buffer.
        assert_eq!(h.free(a as usize).arg, FreeArg::Buffer(BufferId(9)));
        h.clear();
    }
}
