//! Interning of identifiers (conversation, entity, user, provider ids...) to
//! dense `u32` ids shared by every worker thread of the process.
//!
//! Views key and exchange on [`Id`]s, which keeps state small (an entity pair
//! is 8 bytes); rendering turns ids back into strings and sorts by them.
//! Lookups by string go through a sharded map (read-locked on the hot path);
//! lookups by id read an append-only vector without any lock.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};

/// An interned identifier. Its order is arbitrary (arrival order), never the
/// string order: sort by [`Interner::resolve`] when order matters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Id(pub u32);

const SHARDS: usize = 32;

type Shard = RwLock<HashMap<Arc<str>, u32, foldhash::fast::FixedState>>;

struct Table {
    shards: Vec<Shard>,
    names: boxcar::Vec<Arc<str>>,
    hasher: foldhash::fast::FixedState,
}

/// The process-wide string table.
#[derive(Clone)]
pub struct Interner {
    table: Arc<Table>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            table: Arc::new(Table {
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
                names: boxcar::Vec::new(),
                hasher: foldhash::fast::FixedState::default(),
            }),
        }
    }
}

/// The string table is full (more than 2^32 - 1 distinct identifiers).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the identifier table is full (4,294,967,295 distinct ids)")]
pub struct InternerFull;

impl Interner {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, s: &str) -> &Shard {
        let h = self.table.hasher.hash_one(s);
        &self.table.shards[(h as usize) % SHARDS]
    }

    /// The id of `s`, adding it if new.
    pub fn intern(&self, s: &str) -> Result<Id, InternerFull> {
        let shard = self.shard(s);
        if let Some(id) = shard.read().unwrap_or_else(|e| e.into_inner()).get(s) {
            return Ok(Id(*id));
        }
        let mut map = shard.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = map.get(s) {
            return Ok(Id(*id));
        }
        let name: Arc<str> = Arc::from(s);
        let index = self.table.names.push(Arc::clone(&name));
        let id = u32::try_from(index).map_err(|_| InternerFull)?;
        map.insert(name, id);
        Ok(Id(id))
    }

    /// The id of `s` if it was ever seen.
    pub fn lookup(&self, s: &str) -> Option<Id> {
        self.shard(s)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(s)
            .map(|id| Id(*id))
    }

    /// The string of an id this table issued ("" for a foreign id).
    pub fn resolve(&self, id: Id) -> &str {
        self.table.names.get(id.0 as usize).map_or("", |s| s)
    }

    /// How many distinct strings are interned.
    pub fn len(&self) -> usize {
        self.table.names.count()
    }

    /// True when nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_string_same_id_across_threads() {
        let i = Interner::new();
        let a = i.intern("ünïcode-id").unwrap();
        let j = i.clone();
        let b = std::thread::spawn(move || j.intern("ünïcode-id").unwrap())
            .join()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(i.resolve(a), "ünïcode-id");
        assert_eq!(i.lookup("missing"), None);
        assert_eq!(i.resolve(Id(99)), "");
    }

    #[test]
    fn concurrent_interning_gives_one_id_per_string() {
        let i = Interner::new();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let i = i.clone();
                std::thread::spawn(move || {
                    (0..2000)
                        .map(|n| i.intern(&format!("s{}", (n * (t + 1)) % 3000)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for n in 0..3000 {
            if let Some(id) = i.lookup(&format!("s{n}")) {
                assert_eq!(i.resolve(id), format!("s{n}"));
            }
        }
        let distinct: std::collections::HashSet<_> = (0..3000)
            .filter_map(|n| i.lookup(&format!("s{n}")))
            .collect();
        assert_eq!(distinct.len(), i.len());
    }
}
