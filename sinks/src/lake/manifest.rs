//! The commit record of a lake, and opening a lake at its latest commit.
//!
//! A manifest lists every live data file (path, rows, bytes, checksum, `ts`
//! range) and, per source, the input positions the files cover: every
//! event before those positions is in the listed files. Commit `n` is the
//! object `_helixflow/manifest-{n}.json`, put only after every file it
//! lists is durable; the greatest `n` is the lake's state. Opening checks
//! that state whole before anything is read: every listed file present at
//! its recorded size, no foreign file under the root. Data files of ours
//! that no commit lists (a crash between writing files and committing, or
//! files a compaction replaced) are reported as orphans: readers ignore
//! them and the writer deletes them.

use crate::lake::layout::{self, DataFile, Entry};
use crate::lake::store::{LakeStore, Listed};
use crate::lake::LakeError;
use helixflow_types::event::EventKind;
use helixflow_types::timestamp::Day;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The `format` of the manifests this code writes and reads.
pub const FORMAT: &str = "helixflow-lake/1";

/// One commit: the live files and the input positions they cover.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The commit number (0: the empty lake, never written).
    pub commit: u64,
    /// When the commit was made (RFC 3339 UTC).
    pub committed_at: String,
    /// Per source name, the positions reached (for Kafka, `{"topic/partition":
    /// next offset}`): every event before them is in `files`.
    pub positions: serde_json::Map<String, serde_json::Value>,
    /// Rows in `files` (a replaced winner not yet compacted away counts).
    pub rows: u64,
    /// Rows a later event with the same key has replaced (the live-row rule
    /// hides them; compaction drops them).
    pub replaced: u64,
    /// The live data files.
    pub files: Vec<FileEntry>,
}

/// A live data file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the lake's root.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// xxh3-64 of the file's bytes, hex.
    pub xxh3: String,
    /// Least and greatest `ts` in the file (ms since the Unix epoch).
    pub min_ts: i64,
    pub max_ts: i64,
}

impl FileEntry {
    /// The file's table, day and commit (its path is checked at open).
    pub fn place(&self) -> Option<DataFile> {
        DataFile::parse(&self.path)
    }
}

impl Manifest {
    /// The state of a lake nothing has been committed to.
    pub fn empty() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            commit: 0,
            committed_at: String::new(),
            positions: serde_json::Map::new(),
            rows: 0,
            replaced: 0,
            files: Vec::new(),
        }
    }

    /// Files of `kind` whose day is within `from..=to` (either end open).
    pub fn files_of(
        &self,
        kind: EventKind,
        from: Option<Day>,
        to: Option<Day>,
    ) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(move |f| {
            f.place().is_some_and(|p| {
                p.kind == kind && from.is_none_or(|d| p.day >= d) && to.is_none_or(|d| p.day <= d)
            })
        })
    }
}

/// A lake opened at its latest commit, checked.
pub struct Snapshot {
    pub manifest: Manifest,
    /// Data files of ours that no commit lists.
    pub orphans: Vec<String>,
    /// Manifests older than the latest.
    pub older: Vec<u64>,
}

impl Snapshot {
    /// Opens the latest commit of the lake in `store` and checks it (an
    /// empty or new lake opens at [`Manifest::empty`]).
    pub fn open(store: &LakeStore) -> Result<Snapshot, LakeError> {
        let listed = store.list()?;
        let root = store.location().to_string();
        let named = |p: &str| format!("{root}/{p}");
        let mut manifests = Vec::new();
        let mut data: HashMap<String, u64> = HashMap::new();
        for Listed { path, size } in &listed {
            match layout::classify(path) {
                Entry::Manifest(n) => manifests.push(n),
                Entry::Data(_) => {
                    data.insert(path.clone(), *size);
                }
                Entry::Staging => {}
                Entry::Foreign => return Err(LakeError::Foreign { path: named(path) }),
            }
        }
        manifests.sort_unstable();
        let Some(&latest) = manifests.last() else {
            let orphans = data.into_keys().collect();
            return Ok(Snapshot {
                manifest: Manifest::empty(),
                orphans,
                older: Vec::new(),
            });
        };
        let path = layout::manifest_path(latest);
        let bytes = store.get(&path)?;
        let bad = |detail: String| LakeError::Manifest {
            path: named(&path),
            detail,
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if manifest.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, but this engine reads {FORMAT:?}",
                manifest.format
            )));
        }
        if manifest.commit != latest {
            return Err(bad(format!("it says commit {}", manifest.commit)));
        }
        for f in &manifest.files {
            if f.place().is_none() {
                return Err(bad(format!("it lists {:?}, not a data file path", f.path)));
            }
            match data.remove(&f.path) {
                None => {
                    return Err(LakeError::Missing {
                        path: named(&f.path),
                        detail: format!("not found (commit {latest})"),
                    })
                }
                Some(size) if size != f.bytes => {
                    return Err(LakeError::Torn {
                        path: named(&f.path),
                        detail: format!(
                        "{size} bytes, but commit {latest} recorded {} (a torn or replaced file)",
                        f.bytes
                    ),
                    })
                }
                Some(_) => {}
            }
        }
        let mut orphans: Vec<String> = data.into_keys().collect();
        orphans.sort();
        manifests.pop();
        Ok(Snapshot {
            manifest,
            orphans,
            older: manifests,
        })
    }
}
