//! Interning of identifiers (conversation, entity, user, provider ids...) to
//! dense `u32` ids shared by every worker thread of the process.
//!
//! Views key and exchange on [`Id`]s, which keeps state small (an entity pair
//! is 8 bytes); rendering turns ids back into strings and sorts by them.
//! Lookups by string go through a sharded map (read-locked on the hot path);
//! lookups by id read an append-only vector without any lock.
//!
//! # Across processes
//!
//! An id is a handle into its own process's table; a cluster has no shared
//! address space, so the numbers differ from process to process. What
//! crosses a process boundary (timely's exchange serializes with serde) is
//! the string: [`Id`] serializes as the string it stands for, read from
//! [`Interner::global`], and deserializes by interning that string into the
//! receiving process's global table. Two different strings therefore never
//! share an id, whatever their hashes, and the same string means the same
//! thing everywhere. Where an id is routed (an exchange picks a worker by
//! its hash), every process must pick the same worker for the same string:
//! after [`route_by_name`], an id hashes as its string's hash (kept beside
//! the string in the table, computed once), not its number.
//! A hash collision then only puts two strings on one worker, where they
//! stay two keys. Inside a [`WithIds`](crate::wire_ids::WithIds) (a large
//! message), each string crosses once and ids as indices into it.

use serde::de::{Error as _, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// An interned identifier. Its order is arbitrary (arrival order), never the
/// string order: sort by [`Interner::resolve`] when order matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Id(pub u32);

/// The table of this process that ids crossing processes are read from
/// and interned into.
static GLOBAL: OnceLock<Interner> = OnceLock::new();

/// Whether ids hash as their strings (a cluster) or as their numbers.
static ROUTE_BY_NAME: AtomicBool = AtomicBool::new(false);

fn global() -> &'static Interner {
    GLOBAL.get_or_init(Interner::new)
}

/// From now on, in this process, an [`Id`] hashes as its string in the
/// [global table](Interner::global), so that every process of a cluster
/// routes the same string to the same worker. Call it before any id is
/// made; it cannot be undone.
pub fn route_by_name() {
    ROUTE_BY_NAME.store(true, Ordering::Release);
}

impl Id {
    /// A total order on ids that every process agrees on (for a pair's
    /// canonical order): by number in one process; in a cluster, where
    /// numbers differ from process to process, by the string's hash, then
    /// by the string (a tie of hashes is ordered, never merged).
    pub fn precedes(self, other: Id) -> bool {
        if ROUTE_BY_NAME.load(Ordering::Relaxed) {
            let table = global();
            let key = |id: Id| (table.hash_of(id), table.resolve(id));
            key(self) < key(other)
        } else {
            self < other
        }
    }
}

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        if ROUTE_BY_NAME.load(Ordering::Relaxed) {
            state.write_u64(global().hash_of(*self));
        } else {
            state.write_u32(self.0);
        }
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Indices only in a binary format, inside a WithIds.
        let index = (!serializer.is_human_readable())
            .then(|| crate::wire_ids::serialize_index(*self))
            .flatten();
        match index {
            Some(index) => serializer.serialize_u32(index),
            None => serializer.serialize_str(global().resolve(*self)),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an identifier's string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Id, E> {
                global().intern(s).map_err(E::custom)
            }
        }
        if !deserializer.is_human_readable() && crate::wire_ids::reading_indices() {
            let index = u32::deserialize(deserializer)?;
            return crate::wire_ids::id_at(index).ok_or_else(|| {
                D::Error::custom(format!(
                    "an id's index {index} is past its message's dictionary"
                ))
            });
        }
        deserializer
            .deserialize_str(Name)
            .map_err(|e| D::Error::custom(format!("an interned id: {e}")))
    }
}

const SHARDS: usize = 32;

type Shard = RwLock<HashMap<Arc<str>, u32, foldhash::fast::FixedState>>;

struct Table {
    shards: Vec<Shard>,
    /// Each id's string, and the string's hash (the same in every process).
    names: boxcar::Vec<(Arc<str>, u64)>,
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

    /// This process's global table: the one a cluster's engine uses, and
    /// the one ids crossing processes are written from and read into.
    pub fn global() -> Self {
        global().clone()
    }

    fn hash(&self, s: &str) -> u64 {
        self.table.hasher.hash_one(s)
    }

    fn shard(&self, hash: u64) -> &Shard {
        &self.table.shards[(hash as usize) % SHARDS]
    }

    /// The id of `s`, adding it if new.
    pub fn intern(&self, s: &str) -> Result<Id, InternerFull> {
        let hash = self.hash(s);
        let shard = self.shard(hash);
        if let Some(id) = shard.read().unwrap_or_else(|e| e.into_inner()).get(s) {
            return Ok(Id(*id));
        }
        let mut map = shard.write().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = map.get(s) {
            return Ok(Id(*id));
        }
        let name: Arc<str> = Arc::from(s);
        let index = self.table.names.push((Arc::clone(&name), hash));
        let id = u32::try_from(index).map_err(|_| InternerFull)?;
        map.insert(name, id);
        Ok(Id(id))
    }

    /// The id of `s` if it was ever seen.
    pub fn lookup(&self, s: &str) -> Option<Id> {
        self.shard(self.hash(s))
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(s)
            .map(|id| Id(*id))
    }

    /// The string of an id this table issued ("" for a foreign id).
    pub fn resolve(&self, id: Id) -> &str {
        self.table.names.get(id.0 as usize).map_or("", |(s, _)| s)
    }

    /// The hash of an id's string (fixed-seed: the same string hashes the
    /// same in every process; 0 for a foreign id).
    pub fn hash_of(&self, id: Id) -> u64 {
        self.table.names.get(id.0 as usize).map_or(0, |(_, h)| *h)
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
    fn an_id_crosses_as_its_string() {
        let ids = Interner::global();
        let id = ids.intern("conv-üx").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"conv-üx\"");
        let back: Id = serde_json::from_str("\"conv-üx\"").unwrap();
        assert_eq!(back, id);
        // A string this process never saw is interned on arrival.
        let new: Id = serde_json::from_str("\"seen-first-on-the-wire\"").unwrap();
        assert_eq!(ids.resolve(new), "seen-first-on-the-wire");
        assert_ne!(new, id);
        assert!(serde_json::from_str::<Id>("17").is_err());
    }

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
