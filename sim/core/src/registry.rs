//! The registration table of one service run: who asked to be told about which key.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use faxsim_trace::{CallbackId, ExtId, HandleId};

use crate::extension::Extension;
use crate::store::Key;

/// A module handle value. `HInst(0)` is NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HInst(pub u64);

impl HInst {
    /// NULL.
    pub const NULL: HInst = HInst(0);
}

/// One registration.
#[derive(Clone)]
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
    /// The registrant's implementation: what a delivery calls.
    pub imp: Rc<dyn Extension>,
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

/// A hash map with [`FxHasher`] (for small integer and short string keys).
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// A hash set with [`FxHasher`].
pub(crate) type FxSet<K> = std::collections::HashSet<K, BuildHasherDefault<FxHasher>>;

/// What a delivery needs of one live registration, copied out so a write can walk its
/// recipients while the service is borrowed mutably by the handlers it calls.
#[derive(Clone)]
pub struct Recipient {
    /// The registration's handle.
    pub handle: HandleId,
    /// The registrant.
    pub ext: ExtId,
    /// The hInst it registered with (self-exclusion compares it with the writer's).
    pub hinst: HInst,
    /// Its callback pointer.
    pub callback: CallbackId,
    /// The device id it registered with.
    pub device: u32,
    /// The key it is registered for (its logical device id is `key.0`).
    pub key: Key,
    /// The GUID string exactly as it passed it.
    pub guid: Arc<str>,
    /// The registrant's implementation (held here so a delivery calls it without
    /// touching a reference count).
    pub imp: Rc<dyn Extension>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("handle", &self.handle)
            .field("ext", &self.ext)
            .field("key", &self.key)
            .field("guid", &self.guid)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("handle", &self.handle)
            .field("ext", &self.ext)
            .field("guid", &self.guid)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RegistrationTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationTable")
            .field("registrations", &self.regs)
            .finish_non_exhaustive()
    }
}

impl Recipient {
    pub(crate) fn of(reg: &Registration) -> Recipient {
        Recipient {
            handle: reg.handle,
            ext: reg.ext,
            hinst: reg.hinst,
            callback: reg.callback,
            device: reg.device,
            key: reg.key,
            guid: reg.guid.clone(),
            imp: reg.imp.clone(),
        }
    }
}

/// All registrations of a service run, with the live ones of each key kept in
/// registration order as a shared list: a write takes the list with one reference-count
/// increment instead of copying it. Changes edit the list in place, unless a write still
/// holds it, in which case that write keeps its snapshot and the table a fresh copy.
#[derive(Default)]
pub struct RegistrationTable {
    regs: Vec<Registration>,
    by_key: FxMap<Key, Rc<Vec<Recipient>>>,
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
            .find(|r| r.ext == ext)
            .map(|r| r.handle)
    }

    /// Adds a registration and returns its handle.
    pub fn add(&mut self, mut reg: Registration) -> HandleId {
        self.next_handle += 1;
        let handle = HandleId(self.next_handle);
        reg.handle = handle;
        Rc::make_mut(self.by_key.entry(reg.key).or_default()).push(Recipient::of(&reg));
        self.regs.push(reg);
        handle
    }

    /// The registration with `handle` (live or not) in this run.
    pub fn get(&self, handle: HandleId) -> Option<&Registration> {
        let first = self.regs.first()?.handle.0;
        self.regs.get(handle.0.checked_sub(first)? as usize)
    }

    /// What a delivery to `handle` needs (live or not).
    pub fn recipient(&self, handle: HandleId) -> Option<Recipient> {
        self.get(handle).map(Recipient::of)
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
            Rc::make_mut(list).retain(|r| r.handle != handle);
        }
        true
    }

    /// The live registrations for `key`, in registration order.
    pub fn for_key(&self, key: Key) -> Option<Rc<Vec<Recipient>>> {
        self.by_key.get(&key).filter(|l| !l.is_empty()).cloned()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(ext: u16, key: Key) -> Registration {
        Registration {
            handle: HandleId(0),
            ext: ExtId(ext),
            hinst: HInst(u64::from(ext) + 1),
            key,
            device: key.0,
            source: 0,
            guid: Arc::from("{00000000-0000-0000-0000-000000000001}"),
            callback: CallbackId(1),
            registered_at: 0,
            live: true,
            imp: Rc::new(crate::HookExtension::new()),
        }
    }

    #[test]
    fn the_key_list_follows_adds_and_removes_in_registration_order() {
        let mut t = RegistrationTable::default();
        let k = (0, 1);
        let a = t.add(reg(0, k));
        let b = t.add(reg(1, k));
        let other = t.add(reg(2, (0, 2)));
        let c = t.add(reg(3, k));
        let handles = |t: &RegistrationTable| -> Vec<HandleId> {
            t.for_key(k)
                .map(|l| l.iter().map(|r| r.handle).collect())
                .unwrap_or_default()
        };
        assert_eq!(handles(&t), [a, b, c]);
        // A write that took the list keeps its snapshot while the key changes.
        let snapshot = t.for_key(k).unwrap();
        assert!(t.remove(b));
        assert!(!t.remove(b), "a second remove finds nothing live");
        assert_eq!(handles(&t), [a, c]);
        assert_eq!(snapshot.len(), 3);
        assert_eq!(t.find(ExtId(3), k), Some(c));
        assert_eq!(t.find(ExtId(1), k), None);
        t.drop_ext(ExtId(0));
        t.drop_ext(ExtId(3));
        assert!(t.for_key(k).is_none(), "an emptied key has no recipients");
        assert_eq!(t.for_key((0, 2)).unwrap()[0].handle, other);
        assert!(
            t.get(b).is_some_and(|r| !r.live),
            "ended registrations stay readable"
        );
    }
}
