//! A table keyed by small ids that are handed out counting up (registration handles):
//! an indexed `Vec` where the ids are dense, a hash map for the rest. Lookups on the
//! notification path cost one bounds check instead of a hash; ids from an untrusted trace
//! cannot make it allocate more than about twice what it holds (id 4,000,000,000 is one
//! map entry, not a 4 GB vector).

use crate::registry::FxMap;

/// How far past twice the number of stored values the dense part may reach.
const SLACK: usize = 1024;

/// Values by `u32` id. Invariant: every id in `sparse` is at least `dense.len()`, so an id
/// lives in exactly one of the two places and a lookup knows which.
#[derive(Debug)]
pub(crate) struct IdTable<V> {
    dense: Vec<Option<V>>,
    sparse: FxMap<u32, V>,
    len: usize,
}

impl<V> Default for IdTable<V> {
    fn default() -> Self {
        IdTable {
            dense: Vec::new(),
            sparse: FxMap::default(),
            len: 0,
        }
    }
}

impl<V> IdTable<V> {
    pub(crate) fn get(&self, id: u32) -> Option<&V> {
        match self.dense.get(id as usize) {
            Some(slot) => slot.as_ref(),
            None if self.sparse.is_empty() => None,
            None => self.sparse.get(&id),
        }
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut V> {
        match self.dense.get_mut(id as usize) {
            Some(slot) => slot.as_mut(),
            None if self.sparse.is_empty() => None,
            None => self.sparse.get_mut(&id),
        }
    }

    /// Stores `value` under `id`, returning what was there.
    pub(crate) fn insert(&mut self, id: u32, value: V) -> Option<V> {
        let i = id as usize;
        if i >= self.dense.len() && i <= 2 * self.len + SLACK {
            self.dense.resize_with(i + 1, || None);
            if !self.sparse.is_empty() {
                // Ids the dense part now covers move into it (keeps the invariant).
                let covered: Vec<u32> = self
                    .sparse
                    .keys()
                    .copied()
                    .filter(|&k| (k as usize) <= i)
                    .collect();
                for k in covered {
                    self.dense[k as usize] = self.sparse.remove(&k);
                }
            }
        }
        let old = match self.dense.get_mut(i) {
            Some(slot) => slot.replace(value),
            None => self.sparse.insert(id, value),
        };
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Every value, in id order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut V)> {
        let mut sparse: Vec<(u32, &mut V)> = self.sparse.iter_mut().map(|(k, v)| (*k, v)).collect();
        sparse.sort_unstable_by_key(|(k, _)| *k);
        self.dense
            .iter_mut()
            .enumerate()
            .filter_map(|(i, v)| Some((i as u32, v.as_mut()?)))
            .chain(sparse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_huge_id_costs_one_entry() {
        let mut t = IdTable::default();
        t.insert(u32::MAX, "far");
        t.insert(1, "near");
        assert!(t.dense.len() <= 2);
        assert_eq!(t.get(u32::MAX), Some(&"far"));
        assert_eq!(t.get(1), Some(&"near"));
        assert_eq!(t.get(2), None);
    }

    proptest! {
        /// Behaves as a map, and iterates in id order, whatever the mix of ids.
        #[test]
        fn behaves_as_an_ordered_map(ops in proptest::collection::vec(
            (prop_oneof![0u32..3000, any::<u32>()], any::<u16>()), 0..400)
        ) {
            let mut t = IdTable::default();
            let mut model = BTreeMap::new();
            for (id, v) in ops {
                prop_assert_eq!(t.insert(id, v), model.insert(id, v));
                prop_assert_eq!(t.get(id), model.get(&id));
                prop_assert!(t.dense.len() <= 2 * model.len() + SLACK + 1);
            }
            for (id, v) in &model {
                prop_assert_eq!(t.get(*id), Some(v));
                prop_assert_eq!(t.get_mut(*id).copied(), Some(*v));
            }
            let listed: Vec<(u32, u16)> = t.iter_mut().map(|(k, v)| (k, *v)).collect();
            let expected: Vec<(u32, u16)> = model.into_iter().collect();
            prop_assert_eq!(listed, expected);
        }
    }
}
