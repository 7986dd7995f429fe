//! The configuration store: values keyed by (logical device, GUID value). It outlives a
//! service run, as the real service's registry-backed store outlives a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

/// A key of the store: logical device id (0 is global data) and the GUID's value.
pub type Key = (u32, u128);

/// One stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredValue {
    /// The bytes last written.
    pub data: Arc<[u8]>,
    /// Marked corrupt by a scenario: GetData returns `ERROR_BADDB` until the next write.
    pub corrupt: bool,
}

/// All stored configuration data (ordered, so listing it is deterministic).
#[derive(Clone, Debug, Default)]
pub struct ConfigStore {
    values: BTreeMap<Key, StoredValue>,
}

impl ConfigStore {
    /// The value at `key`.
    pub fn get(&self, key: Key) -> Option<&StoredValue> {
        self.values.get(&key)
    }

    /// Replaces the value at `key` (a write also clears a corrupt mark).
    pub fn put(&mut self, key: Key, data: Arc<[u8]>) {
        self.values.insert(
            key,
            StoredValue {
                data,
                corrupt: false,
            },
        );
    }

    /// Marks `key` corrupt; a key with no value gets an empty corrupt one.
    pub fn corrupt(&mut self, key: Key) {
        self.values
            .entry(key)
            .or_insert_with(|| StoredValue {
                data: Arc::from(&[][..]),
                corrupt: true,
            })
            .corrupt = true;
    }

    /// Every value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &StoredValue)> {
        self.values.iter()
    }
}
