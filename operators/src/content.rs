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
//!
//! Across the processes of a cluster a reference means nothing, so it
//! crosses as its text: a [`ContentRef`] serializes as the text it points
//! to in [`ContentStore::global`], and deserializes by storing that text in
//! the receiving process's global store (as [`crate::intern::Id`] does).

use serde::de::{Error as _, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::{Arc, OnceLock};

/// Where a message's text is in the [`ContentStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentRef(pub u64);

/// The store a cluster's engine uses, and references crossing processes
/// are written from and read into.
static GLOBAL: OnceLock<ContentStore> = OnceLock::new();

fn global() -> &'static ContentStore {
    GLOBAL.get_or_init(ContentStore::new)
}

impl Serialize for ContentRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(global().get(*self))
    }
}

impl<'de> Deserialize<'de> for ContentRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = ContentRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a message's text")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ContentRef, E> {
                Ok(global().put(s))
            }
        }
        deserializer
            .deserialize_str(Text)
            .map_err(|e| D::Error::custom(format!("a message text: {e}")))
    }
}

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

    /// This process's global store (a cluster's engine uses it).
    pub fn global() -> Self {
        global().clone()
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
    fn a_reference_crosses_as_its_text() {
        let store = ContentStore::global();
        let r = store.put("a text with \"quotes\"");
        let json = serde_json::to_string(&r).unwrap();
        let back: ContentRef = serde_json::from_str(&json).unwrap();
        assert_eq!(store.get(back), "a text with \"quotes\"");
    }

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
