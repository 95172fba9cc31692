//! Interning of identifiers (conversation, entity, user, provider ids...) to
//! dense `u32` ids shared by every worker thread of the process.
//!
//! Views key and exchange on [`Id`]s, which keeps state small (an entity pair
//! is 8 bytes); rendering turns ids back into strings and sorts by them.

use lasso::{Key, Spur, ThreadedRodeo};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An interned identifier. Its order is arbitrary (arrival order), never the
/// string order: sort by [`Interner::resolve`] when order matters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Id(pub u32);

/// The process-wide string table.
#[derive(Clone, Default)]
pub struct Interner {
    rodeo: Arc<ThreadedRodeo<Spur>>,
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

    /// The id of `s`, adding it if new.
    pub fn intern(&self, s: &str) -> Result<Id, InternerFull> {
        self.rodeo
            .try_get_or_intern(s)
            .map(|k| Id(k.into_usize() as u32))
            .map_err(|_| InternerFull)
    }

    /// The id of `s` if it was ever seen.
    pub fn lookup(&self, s: &str) -> Option<Id> {
        self.rodeo.get(s).map(|k| Id(k.into_usize() as u32))
    }

    /// The string of an id this table issued ("" for a foreign id).
    pub fn resolve(&self, id: Id) -> &str {
        Spur::try_from_usize(id.0 as usize)
            .and_then(|k| self.rodeo.try_resolve(&k))
            .unwrap_or("")
    }

    /// How many distinct strings are interned.
    pub fn len(&self) -> usize {
        self.rodeo.len()
    }

    /// True when nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.rodeo.is_empty()
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
    }
}
