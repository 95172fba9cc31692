//! The content store: the text of every distinct message, held once per
//! process, outside the arrangements.
//!
//! Message contents are the largest part of a message and no view reads
//! them; only context replay does. Arranging them would copy them into every
//! batch the arrangement merges, and a reduce would hold them again. Instead
//! the dedup operator, when it keeps a message (a new key, or a conflicting
//! copy that wins), appends the text here and the fact carries a
//! [`ContentRef`] of 8 bytes. The store is append-only and shared by all
//! workers (like the [`crate::intern::Interner`]); a reader that found a
//! `ContentRef` in the arrangements at some `as_of` reads exactly the text
//! that was stored with it, so reads stay consistent with the answer's
//! `as_of`. Text of a replaced message stays (conflicts are rare); nothing
//! is ever removed while the engine runs.
//!
//! Cost per message: the UTF-8 bytes, a 16-byte boxed-slice handle, the
//! allocator's rounding of the text, and the 8-byte reference in each fact
//! that holds it (docs/benchmarks.md measures it).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where a message's text is in the [`ContentStore`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ContentRef(pub u64);

/// The process-wide, append-only store of message texts.
#[derive(Clone, Default)]
pub struct ContentStore {
    texts: Arc<boxcar::Vec<Box<str>>>,
}

impl ContentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `text`; its reference.
    pub fn put(&self, text: &str) -> ContentRef {
        ContentRef(self.texts.push(Box::from(text)) as u64)
    }

    /// The text behind `r` ("" for a reference this store did not issue).
    pub fn get(&self, r: ContentRef) -> &str {
        usize::try_from(r.0)
            .ok()
            .and_then(|i| self.texts.get(i))
            .map_or("", |s| s)
    }

    /// Texts stored.
    pub fn len(&self) -> usize {
        self.texts.count()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of text stored (not counting per-text overhead).
    pub fn text_bytes(&self) -> u64 {
        self.texts.iter().map(|(_, t)| t.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_back_by_reference_from_any_thread() {
        let store = ContentStore::new();
        let a = store.put("héllo");
        let other = store.clone();
        let b = std::thread::spawn(move || other.put("")).join().unwrap();
        assert_ne!(a, b);
        assert_eq!(store.get(a), "héllo");
        assert_eq!(store.get(b), "");
        assert_eq!(store.get(ContentRef(99)), "");
        assert_eq!(store.len(), 2);
        assert_eq!(store.text_bytes(), 6);
    }
}
