//! The registration table of one service run: who asked to be told about which key.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use faxsim_trace::{CallbackId, ExtId, HandleId};

use crate::store::Key;

/// A module handle value. `HInst(0)` is NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HInst(pub u64);

impl HInst {
    /// NULL.
    pub const NULL: HInst = HInst(0);
}

/// One registration.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Its handle.
    pub handle: HandleId,
    /// The extension that registered.
    pub ext: ExtId,
    /// The hInst it passed (self-exclusion compares this with the writer's).
    pub hinst: HInst,
    /// What it is registered for.
    pub key: Key,
    /// The device id it passed, and its source.
    pub device: u32,
    /// The `DevIdSrc` it passed.
    pub source: i32,
    /// The GUID string exactly as it passed it (ConfigChange echoes it).
    pub guid: Arc<str>,
    /// Its callback pointer.
    pub callback: CallbackId,
    /// `seq` of the RegisterCall.
    pub registered_at: u64,
    /// Still registered.
    pub live: bool,
}

/// A fast hasher for small integer keys (the Fx multiply-rotate scheme). The registration
/// index is only ever looked up, never iterated, so its hash order is unobservable.
#[derive(Default, Clone, Copy, Debug)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// All registrations of a service run, with an index by key kept in registration order.
#[derive(Debug, Default)]
pub struct RegistrationTable {
    regs: Vec<Registration>,
    by_key: FxMap<Key, Vec<HandleId>>,
    next_handle: u32,
}

impl RegistrationTable {
    /// Forgets every registration (a new service run); handle numbers keep counting so a
    /// handle from an earlier run never names a new registration.
    pub fn reset(&mut self) {
        self.regs.clear();
        self.by_key.clear();
    }

    /// The live registration of `ext` for `key`, if any.
    pub fn find(&self, ext: ExtId, key: Key) -> Option<HandleId> {
        self.by_key
            .get(&key)?
            .iter()
            .copied()
            .find(|h| self.get(*h).is_some_and(|r| r.ext == ext))
    }

    /// Adds a registration and returns its handle.
    pub fn add(&mut self, mut reg: Registration) -> HandleId {
        self.next_handle += 1;
        let handle = HandleId(self.next_handle);
        reg.handle = handle;
        self.by_key.entry(reg.key).or_default().push(handle);
        self.regs.push(reg);
        handle
    }

    /// The registration with `handle` (live or not) in this run.
    pub fn get(&self, handle: HandleId) -> Option<&Registration> {
        let first = self.regs.first()?.handle.0;
        self.regs.get(handle.0.checked_sub(first)? as usize)
    }

    /// Ends a live registration; false if it is unknown or already ended.
    pub fn remove(&mut self, handle: HandleId) -> bool {
        let Some(first) = self.regs.first().map(|r| r.handle.0) else {
            return false;
        };
        let Some(reg) = handle
            .0
            .checked_sub(first)
            .and_then(|i| self.regs.get_mut(i as usize))
        else {
            return false;
        };
        if !reg.live {
            return false;
        }
        reg.live = false;
        if let Some(list) = self.by_key.get_mut(&reg.key) {
            list.retain(|h| *h != handle);
        }
        true
    }

    /// Live handles registered for `key`, in registration order.
    pub fn for_key(&self, key: Key) -> &[HandleId] {
        self.by_key.get(&key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Live registrations of `ext`.
    pub fn live_of(&self, ext: ExtId) -> impl Iterator<Item = &Registration> {
        self.regs.iter().filter(move |r| r.live && r.ext == ext)
    }

    /// Ends every registration of `ext` (its unload).
    pub fn drop_ext(&mut self, ext: ExtId) {
        let handles: Vec<HandleId> = self.live_of(ext).map(|r| r.handle).collect();
        for h in handles {
            self.remove(h);
        }
    }
}
