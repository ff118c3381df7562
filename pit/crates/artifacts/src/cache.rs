//! Recently read or written blobs, in memory. Content is named by its hash
//! and never changes, so a cached blob is never wrong; the cache only has to
//! stay within its bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::Hash;

pub(crate) struct BlobCache {
    capacity: usize,
    used: usize,
    tick: u64,
    blobs: HashMap<Hash, (Arc<[u8]>, u64)>,
    /// Least recently used first.
    order: BTreeMap<u64, Hash>,
}

impl BlobCache {
    pub(crate) fn new(capacity: usize) -> Self {
        BlobCache {
            capacity,
            used: 0,
            tick: 0,
            blobs: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    pub(crate) fn get(&mut self, hash: &Hash) -> Option<Arc<[u8]>> {
        self.tick += 1;
        let tick = self.tick;
        let (data, last) = self.blobs.get_mut(hash)?;
        self.order.remove(last);
        *last = tick;
        self.order.insert(tick, *hash);
        Some(data.clone())
    }

    /// Keeps `data`, unless it would take more than an eighth of the cache
    /// (large blobs would only push the small, hot ones out).
    pub(crate) fn insert(&mut self, hash: Hash, data: &[u8]) {
        if data.len() > self.capacity / 8 || self.blobs.contains_key(&hash) {
            return;
        }
        self.tick += 1;
        self.used += data.len();
        self.blobs.insert(hash, (Arc::from(data), self.tick));
        self.order.insert(self.tick, hash);
        while self.used > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((gone, _)) = self.blobs.remove(&oldest) {
                self.used -= gone.len();
            }
        }
    }

    pub(crate) fn remove(&mut self, hash: &Hash) {
        if let Some((gone, tick)) = self.blobs.remove(hash) {
            self.used -= gone.len();
            self.order.remove(&tick);
        }
    }
}
