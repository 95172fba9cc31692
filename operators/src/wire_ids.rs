//! [`WithIds`]: a value that crosses processes with each of its ids'
//! strings written once, not once per occurrence.
//!
//! An [`Id`] alone crosses as its string (see [`crate::intern`]). A large
//! message, such as one worker's part of a view on its way to the asking
//! process (11.8M pairs at 1M events, about 10K distinct entities), would
//! repeat every string thousands of times and intern each on arrival. In a
//! [`WithIds`] the message carries a dictionary instead: the distinct ids,
//! as strings, once, then the value with every id written as its 4-byte
//! index into that dictionary. On arrival the dictionary's strings are
//! interned into the receiving process's table (once each) and the indices
//! are read back into its ids.
//!
//! The dictionary belongs to one message, never to a connection, so it is
//! sound whatever order timely delivers or decodes messages in: nothing
//! outlives the (de)serialization of the value that carries it. The mode is
//! a thread-local for the duration of that one call; a [`WithIds`] inside
//! another shares the outer dictionary. Human-readable formats (JSON) see
//! the plain value, ids as strings.

use crate::intern::Id;
use serde::de::{DeserializeOwned, Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A value whose ids cross processes through a dictionary of its own.
#[derive(Clone, Debug, Default)]
pub struct WithIds<T> {
    value: T,
    /// The distinct ids in first-seen order, computed on the first
    /// serialization (timely sizes a message before writing it).
    dictionary: OnceCell<Arc<Dictionary>>,
}

#[derive(Clone, Debug, Default)]
struct Dictionary {
    ids: Vec<Id>,
    index: HashMap<u32, u32, foldhash::fast::FixedState>,
}

impl Dictionary {
    fn index_of(&mut self, id: Id) -> u32 {
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        *self.index.entry(id.0).or_insert_with(|| {
            self.ids.push(id);
            next
        })
    }
}

impl<T> WithIds<T> {
    pub fn new(value: T) -> Self {
        WithIds {
            value,
            dictionary: OnceCell::new(),
        }
    }

    pub fn into_inner(self) -> T {
        self.value
    }

    pub fn get(&self) -> &T {
        &self.value
    }
}

/// What an [`Id`] on this thread is serialized as, for the value being
/// (de)serialized now.
enum Mode {
    /// Collecting the distinct ids (each written as a placeholder index).
    Collecting(Dictionary),
    /// Writing each id as its index in this dictionary (shared with the
    /// value, which keeps it for timely's second pass: no copy).
    Writing(Arc<Dictionary>),
    /// Reading indices into these ids.
    Reading(Vec<Id>),
}

thread_local! {
    static MODE: RefCell<Option<Mode>> = const { RefCell::new(None) };
}

fn active() -> bool {
    MODE.with(|m| m.borrow().is_some())
}

/// Runs `f` in `mode`, and gives the mode back with `f`'s result; the
/// thread is left as it was found, whatever `f` returns.
fn within<R>(mode: Mode, f: impl FnOnce() -> R) -> (R, Option<Mode>) {
    struct Restore(Option<Mode>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            MODE.with(|m| *m.borrow_mut() = before);
        }
    }
    let before = MODE.with(|m| m.borrow_mut().replace(mode));
    let restore = Restore(before);
    let result = f();
    let mode = MODE.with(|m| m.borrow_mut().take());
    drop(restore);
    (result, mode)
}

/// How an id is written inside a [`WithIds`] being serialized: its index
/// (`None`: not inside one, write the string).
pub(crate) fn serialize_index(id: Id) -> Option<u32> {
    MODE.with(|m| match m.borrow_mut().as_mut()? {
        Mode::Collecting(d) => Some(d.index_of(id)),
        // Every id was collected; one that was not reads back as an error.
        Mode::Writing(d) => Some(d.index.get(&id.0).copied().unwrap_or(u32::MAX)),
        Mode::Reading(_) => None,
    })
}

/// Whether ids are being read as indices (inside a [`WithIds`]).
pub(crate) fn reading_indices() -> bool {
    MODE.with(|m| matches!(m.borrow().as_ref(), Some(Mode::Reading(_))))
}

/// The id at `index` of the dictionary being read.
pub(crate) fn id_at(index: u32) -> Option<Id> {
    MODE.with(|m| match m.borrow().as_ref()? {
        Mode::Reading(ids) => ids.get(index as usize).copied(),
        _ => None,
    })
}

impl<T: Serialize> Serialize for WithIds<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() || active() {
            return self.value.serialize(serializer);
        }
        let dictionary = match self.dictionary.get() {
            Some(d) => Arc::clone(d),
            None => {
                let (collected, mode) = within(Mode::Collecting(Dictionary::default()), || {
                    bincode::serialize_into(std::io::sink(), &self.value)
                });
                collected.map_err(serde::ser::Error::custom)?;
                let Some(Mode::Collecting(d)) = mode else {
                    return Err(serde::ser::Error::custom("the id dictionary was lost"));
                };
                Arc::clone(self.dictionary.get_or_init(|| Arc::new(d)))
            }
        };
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&dictionary.ids)?;
        let (written, _) = within(Mode::Writing(dictionary), || {
            tuple.serialize_element(&self.value)
        });
        written?;
        tuple.end()
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for WithIds<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() || active() {
            return T::deserialize(deserializer).map(WithIds::new);
        }
        struct Parts<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for Parts<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an id dictionary and a value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
                let ids: Vec<Id> = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::custom("no id dictionary"))?;
                let (value, _) = within(Mode::Reading(ids), || seq.next_element::<T>());
                value?.ok_or_else(|| A::Error::custom("no value after the id dictionary"))
            }
        }
        deserializer
            .deserialize_tuple(2, Parts(PhantomData))
            .map(WithIds::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::Interner;

    fn ids(names: &[&str]) -> Vec<Id> {
        let table = Interner::global();
        names.iter().map(|n| table.intern(n).unwrap()).collect()
    }

    #[test]
    fn each_string_crosses_once_and_reads_back_the_same_ids() {
        let [a, b, c] = ids(&["wire-a", "wire-b", "wire-c-üñï"])[..] else {
            unreachable!()
        };
        let pairs: Vec<((Id, Id), i64)> = (0..1000)
            .map(|n| match n % 3 {
                0 => ((a, b), n),
                1 => ((b, c), n),
                _ => ((a, c), n),
            })
            .collect();
        let plain = bincode::serialize(&pairs).unwrap();
        let wrapped = WithIds::new(pairs.clone());
        let bytes = bincode::serialize(&wrapped).unwrap();
        assert_eq!(
            bincode::serialized_size(&wrapped).unwrap(),
            bytes.len() as u64
        );
        // Three strings once, then 4-byte indices: well under half.
        assert!(
            bytes.len() * 2 < plain.len(),
            "{} vs {}",
            bytes.len(),
            plain.len()
        );
        assert_eq!(bytes.windows(6).filter(|w| w == b"wire-a").count(), 1);
        let back: WithIds<Vec<((Id, Id), i64)>> = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.into_inner(), pairs);
        // Outside a dictionary, ids are strings again.
        assert_eq!(
            bincode::deserialize::<Vec<((Id, Id), i64)>>(&plain).unwrap(),
            pairs
        );
    }

    #[test]
    fn a_nested_dictionary_shares_the_outer_one_and_json_stays_plain() {
        let v = ids(&["wire-n1", "wire-n2"]);
        let nested = WithIds::new((v[0], WithIds::new(vec![v[1], v[0]])));
        let bytes = bincode::serialize(&nested).unwrap();
        let back: WithIds<(Id, WithIds<Vec<Id>>)> = bincode::deserialize(&bytes).unwrap();
        let (first, inner) = back.into_inner();
        assert_eq!((first, inner.into_inner()), (v[0], vec![v[1], v[0]]));
        let json = serde_json::to_string(&WithIds::new(v.clone())).unwrap();
        assert_eq!(json, r#"["wire-n1","wire-n2"]"#);
    }

    #[test]
    fn a_bad_index_is_an_error_not_a_wrong_id() {
        let v = ids(&["wire-only"]);
        let mut bytes = bincode::serialize(&WithIds::new(vec![v[0]])).unwrap();
        // The last 4 bytes are the one index: point it past the dictionary.
        let n = bytes.len();
        bytes[n - 4..].copy_from_slice(&7u32.to_le_bytes());
        assert!(bincode::deserialize::<WithIds<Vec<Id>>>(&bytes).is_err());
        assert!(!active(), "the thread is left as it was");
    }
}
