//! Compaction: merges a day's small files of one table into files of up to
//! `file_rows` rows, dropping rows a later winner replaced, as a commit of
//! its own (the new files first, then a manifest without the old ones; the
//! input positions are unchanged). It runs on the writer's thread between
//! commits, one (table, day) at a time, so it never races a commit; events
//! keep arriving in the sink's queue meanwhile.
//!
//! Files a compaction drops stay on the store while a kept manifest lists
//! them (readers of those commits keep working) and are deleted once the
//! last such manifest is pruned; a restart deletes any left as orphans.

use crate::lake::files;
use crate::lake::layout::DataFile;
use crate::lake::manifest::{FileEntry, Manifest};
use crate::lake::schema::StoredEvent;
use crate::lake::store::LakeStore;
use crate::lake::LakeError;
use foldhash::HashMap;
use helixflow_types::event::{EventKind, KeyDigest};
use helixflow_types::timestamp::Day;
use std::collections::BTreeMap;

/// A file counts as small below this share of `file_rows`.
const SMALL_SHARE: u64 = 2;

/// The (table, day) with the most small files, if it has at least `min_files`.
pub fn pick(manifest: &Manifest, file_rows: u64, min_files: usize) -> Option<Vec<FileEntry>> {
    let mut groups: BTreeMap<(EventKind, Day), Vec<&FileEntry>> = BTreeMap::new();
    for f in &manifest.files {
        if let Some(p) = f.place().filter(|_| f.rows < file_rows / SMALL_SHARE) {
            groups.entry((p.kind, p.day)).or_default().push(f);
        }
    }
    groups
        .into_values()
        .filter(|g| g.len() >= min_files)
        .max_by_key(Vec::len)
        .map(|g| g.into_iter().cloned().collect())
}

/// What a compaction produced.
pub struct Compacted {
    /// The manifest of the compaction's commit.
    pub manifest: Manifest,
    /// Files it no longer lists.
    pub dropped: Vec<String>,
    /// Replaced rows left out.
    pub replaced_dropped: u64,
}

/// Merges `group` (files of one table and day) into files of up to
/// `file_rows` rows, keeping only live rows (those `index` keeps), and
/// commits the result as commit `manifest.commit + 1`.
pub fn compact(
    store: &LakeStore,
    manifest: &Manifest,
    group: &[FileEntry],
    index: &HashMap<KeyDigest, (i64, u64)>,
    file_rows: u64,
    committed_at: String,
) -> Result<Compacted, LakeError> {
    let Some(first) = group.first().and_then(FileEntry::place) else {
        return Err(LakeError::Encode {
            what: "a compaction".into(),
            detail: "no files to compact".into(),
        });
    };
    let mut live: Vec<StoredEvent> = Vec::new();
    let mut read_rows = 0u64;
    for f in group {
        let named = format!("{}/{}", store.location(), f.path);
        let bytes = store.get(&f.path)?;
        files::verify(&named, &bytes, f.bytes, &f.xxh3)?;
        read_rows += files::read_events(&named, first.kind, bytes, |events| {
            live.extend(
                events
                    .into_iter()
                    .filter(|(fp, e)| index.get(&e.key_digest()) == Some(&(e.ts(), *fp))),
            );
            Ok(())
        })?;
    }
    let replaced_dropped = read_rows - live.len() as u64;
    live.sort_unstable_by_key(|(fp, e)| (e.ts(), *fp));
    let commit = manifest.commit + 1;
    let refs: Vec<&StoredEvent> = live.iter().collect();
    let mut added = Vec::new();
    for (n, part) in refs.chunks(file_rows.max(1) as usize).enumerate() {
        let place = DataFile {
            kind: first.kind,
            day: first.day,
            commit,
            n: u32::try_from(n).unwrap_or(u32::MAX),
        };
        added.push(crate::lake::writer::write_file(store, place, part)?);
    }
    let dropped: Vec<String> = group.iter().map(|f| f.path.clone()).collect();
    let mut next = Manifest {
        commit,
        committed_at,
        rows: manifest.rows - replaced_dropped,
        replaced: manifest.replaced.saturating_sub(replaced_dropped),
        files: manifest
            .files
            .iter()
            .filter(|f| !dropped.contains(&f.path))
            .cloned()
            .collect(),
        ..manifest.clone()
    };
    next.files.extend(added);
    crate::lake::writer::put_manifest(store, &next)?;
    Ok(Compacted {
        manifest: next,
        dropped,
        replaced_dropped,
    })
}
