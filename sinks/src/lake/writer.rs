//! The lake sink's writer: takes the raw events ingest hands it, keeps the
//! ones the dedup rule keeps against everything the lake holds, and commits
//! them: files first (each durable), then the manifest that lists them with
//! the input positions covered. A failure anywhere leaves the last commit
//! as it was; the runner retries the whole batch (files of a failed commit
//! are overwritten by the retry, or deleted as orphans at the next start).
//!
//! The writer's index holds, per idempotency key, the `(ts, fingerprint)`
//! of the event the lake keeps (about 40 bytes a key). It is rebuilt at
//! start from the lake's key columns, so an event delivered again after a
//! restart is not stored twice. A conflicting event that wins is stored
//! beside the one it replaces; readers take the live row by the rule
//! (docs/lake.md) and compaction drops the replaced one.

use crate::lake::compact;
use crate::lake::files::{self, read_keys};
use crate::lake::layout::{self, DataFile};
use crate::lake::manifest::{FileEntry, Manifest, Snapshot, FORMAT};
use crate::lake::schema::StoredEvent;
use crate::lake::store::{LakeStore, Location};
use crate::lake::LakeError;
use crate::pending::Batch;
use crate::runner::{SinkError, SinkWriter};
use bytes::Bytes;
use foldhash::HashMap;
use helixflow_operators::dedup::{verdict, Verdict};
use helixflow_operators::Time;
use helixflow_types::event::{EventKind, KeyDigest};
use helixflow_types::timestamp::{format_millis, Day};
use helixflow_types::topology::LakeSinkConfig;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The input positions (per source name) that every event at an epoch
/// before `upper` had reached: what a commit covering `upper` records.
pub type PositionsAt =
    Arc<dyn Fn(Time) -> serde_json::Map<String, serde_json::Value> + Send + Sync>;

/// Manifests kept besides the latest (older ones are deleted).
const KEEP_MANIFESTS: u64 = 20;

/// The lake sink's writer (see the module docs).
pub struct LakeWriter {
    config: LakeSinkConfig,
    location: Location,
    store: Option<LakeStore>,
    manifest: Manifest,
    index: HashMap<KeyDigest, (i64, u64)>,
    positions: PositionsAt,
    /// False while compaction must wait (a restore is reading the files).
    may_compact: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Files compactions dropped, with the commit that dropped them.
    retired: VecDeque<(u64, Vec<String>)>,
}

impl LakeWriter {
    /// A writer for the lake `config` names; it opens the lake in `prepare`.
    pub fn new(config: &LakeSinkConfig, positions: PositionsAt) -> Result<LakeWriter, SinkError> {
        let location = Location::parse(&config.location)
            .map_err(|e| SinkError::new(format!("lake sink `{}`", config.name), e))?;
        Ok(LakeWriter {
            config: config.clone(),
            location,
            store: None,
            manifest: Manifest::empty(),
            index: HashMap::default(),
            positions,
            may_compact: Arc::new(|| true),
            retired: VecDeque::new(),
        })
    }

    /// Compaction waits while `may_compact` says no (the engine's restore
    /// is reading the lake's files).
    pub fn with_compaction_gate(
        mut self,
        may_compact: Arc<dyn Fn() -> bool + Send + Sync>,
    ) -> Self {
        self.may_compact = may_compact;
        self
    }

    /// Compacts one (table, day) if one is due; failures are logged (the
    /// commits are unaffected) and retried at a later commit.
    fn maybe_compact(&mut self) {
        if !self.config.compaction || !(self.may_compact)() {
            return;
        }
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let Some(group) = compact::pick(
            &self.manifest,
            self.config.file_rows,
            self.config.compact_files,
        ) else {
            return;
        };
        let at = format_millis(now_millis());
        match compact::compact(
            store,
            &self.manifest,
            &group,
            &self.index,
            self.config.file_rows,
            at,
        ) {
            Ok(done) => {
                tracing::debug!(
                    "lake {}: commit {} compacted {} files ({} replaced rows dropped)",
                    self.location,
                    done.manifest.commit,
                    done.dropped.len(),
                    done.replaced_dropped
                );
                self.retired.push_back((done.manifest.commit, done.dropped));
                self.manifest = done.manifest;
                self.collect_garbage();
            }
            Err(e) => tracing::warn!(
                "lake {}: compaction failed (retried later): {e}",
                self.location
            ),
        }
    }

    /// Deletes dropped files no kept manifest lists any more, and the
    /// manifest that falls out of the kept ones.
    fn collect_garbage(&mut self) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let commit = self.manifest.commit;
        if commit > KEEP_MANIFESTS {
            if let Err(e) = store.delete(&layout::manifest_path(commit - KEEP_MANIFESTS - 1)) {
                tracing::warn!("lake {}: {e}", self.location);
            }
        }
        while self
            .retired
            .front()
            .is_some_and(|(at, _)| commit >= at + KEEP_MANIFESTS)
        {
            let Some((_, paths)) = self.retired.pop_front() else {
                break;
            };
            for p in paths {
                if let Err(e) = store.delete(&p) {
                    tracing::warn!("lake {}: {e}", self.location);
                }
            }
        }
    }

    /// The last commit.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn open(&mut self) -> Result<(), LakeError> {
        let store = LakeStore::open(&self.location, &self.config.s3)?;
        let snapshot = Snapshot::open(&store)?;
        for orphan in &snapshot.orphans {
            tracing::info!(
                "lake {}: deleting {orphan}, which no commit lists (left by an interrupted commit or a compaction)",
                self.location
            );
            store.delete(orphan)?;
        }
        prune_manifests(&store, &snapshot.older, snapshot.manifest.commit)?;
        let mut index = HashMap::default();
        for f in &snapshot.manifest.files {
            let Some(place) = f.place() else { continue };
            let named = format!("{}/{}", self.location, f.path);
            let bytes = store.get(&f.path)?;
            files::verify(&named, &bytes, f.bytes, &f.xxh3)?;
            for (key, ts, fp) in read_keys(&named, place.kind, bytes)? {
                let e = index.entry(key).or_insert((ts, fp));
                if (ts, fp) > *e {
                    *e = (ts, fp);
                }
            }
        }
        self.index = index;
        self.manifest = snapshot.manifest;
        self.store = Some(store);
        Ok(())
    }

    /// Commits `batch`: the events the rule keeps, then the manifest.
    fn commit(&mut self, batch: &Batch) -> Result<(), LakeError> {
        let Some(store) = self.store.as_ref() else {
            return Err(LakeError::Store {
                what: format!("writing to the lake at {}", self.location),
                detail: "the lake is not open".into(),
            });
        };
        // The events to store: per key, the one the rule keeps over what the
        // lake holds and the rest of the batch.
        let mut chosen: HashMap<KeyDigest, (i64, u64, &StoredEvent)> = HashMap::default();
        for stored in &batch.raw {
            let (fp, event) = stored;
            let key = event.key_digest();
            let candidate = (event.ts(), *fp);
            let held = chosen
                .get(&key)
                .map(|(ts, fp, _)| (*ts, *fp))
                .or_else(|| self.index.get(&key).copied());
            let keep = match held {
                None => true,
                Some(h) => verdict(h, candidate) == Verdict::Replaces,
            };
            if keep {
                chosen.insert(key, (candidate.0, candidate.1, stored));
            }
        }
        let replaced = chosen
            .keys()
            .filter(|k| self.index.contains_key(*k))
            .count() as u64;
        let mut positions = self.manifest.positions.clone();
        merge_positions(&mut positions, (self.positions)(batch.upper));
        if chosen.is_empty() && positions == self.manifest.positions {
            return Ok(());
        }
        let commit = self.manifest.commit + 1;
        // Group by table and day, each group's events in (ts, fingerprint) order.
        let mut groups: BTreeMap<(EventKind, Day), Vec<&StoredEvent>> = BTreeMap::new();
        for (_, _, stored) in chosen.values() {
            let (_, e) = stored;
            groups
                .entry((e.kind(), Day::of(e.ts())))
                .or_default()
                .push(stored);
        }
        let mut added = Vec::new();
        for ((kind, day), mut events) in groups {
            events.sort_unstable_by_key(|(fp, e)| (e.ts(), *fp));
            let rows_per_file = self.config.file_rows.max(1) as usize;
            for (n, part) in events.chunks(rows_per_file).enumerate() {
                let place = DataFile {
                    kind,
                    day,
                    commit,
                    n: u32::try_from(n).unwrap_or(u32::MAX),
                };
                added.push(write_file(store, place, part)?);
            }
        }
        let rows: u64 = added.iter().map(|f| f.rows).sum();
        let mut manifest = Manifest {
            format: FORMAT.into(),
            commit,
            committed_at: format_millis(now_millis()),
            positions,
            rows: self.manifest.rows + rows,
            replaced: self.manifest.replaced + replaced,
            files: self.manifest.files.clone(),
        };
        manifest.files.extend(added);
        put_manifest(store, &manifest)?;
        for (key, (ts, fp, _)) in chosen {
            self.index.insert(key, (ts, fp));
        }
        self.manifest = manifest;
        self.collect_garbage();
        Ok(())
    }
}

impl SinkWriter for LakeWriter {
    fn prepare(&mut self) -> Result<(), SinkError> {
        self.open()
            .map_err(|e| SinkError::new(format!("opening the lake at {}", self.location), e))
    }

    fn write(&mut self, _version: u64, batch: &Batch) -> Result<(), SinkError> {
        let events = batch.raw.len();
        self.commit(batch).map_err(|e| {
            SinkError::new(
                format!(
                    "committing {events} events to the lake at {} (commit {})",
                    self.location,
                    self.manifest.commit + 1
                ),
                e,
            )
        })?;
        self.maybe_compact();
        Ok(())
    }

    fn commits_progress(&self) -> bool {
        true
    }
}

/// Writes one data file and returns its manifest entry.
pub(crate) fn write_file(
    store: &LakeStore,
    place: DataFile,
    events: &[&StoredEvent],
) -> Result<FileEntry, LakeError> {
    let bytes = files::write_parquet(place.kind, events)?;
    let path = place.path();
    let (min_ts, max_ts) = events
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), (_, e)| {
            (lo.min(e.ts()), hi.max(e.ts()))
        });
    let entry = FileEntry {
        path: path.clone(),
        rows: events.len() as u64,
        bytes: bytes.len() as u64,
        xxh3: files::checksum(&bytes),
        min_ts,
        max_ts,
    };
    store.put(&path, bytes)?;
    Ok(entry)
}

/// Puts a commit's manifest; an identical one already there (a retry whose
/// first reply was lost) counts as done.
pub(crate) fn put_manifest(store: &LakeStore, manifest: &Manifest) -> Result<(), LakeError> {
    let path = layout::manifest_path(manifest.commit);
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| LakeError::Encode {
        what: path.clone(),
        detail: e.to_string(),
    })?;
    match store.put_new(&path, Bytes::from(text)) {
        Err(LakeError::Conflict { path: named }) => {
            let there: Option<Manifest> = store
                .get(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if there.is_some_and(|m| m.files == manifest.files) {
                Ok(())
            } else {
                Err(LakeError::Conflict { path: named })
            }
        }
        other => other,
    }
}

/// Deletes manifests older than the newest [`KEEP_MANIFESTS`].
fn prune_manifests(store: &LakeStore, older: &[u64], latest: u64) -> Result<(), LakeError> {
    for &n in older.iter().filter(|&&n| n + KEEP_MANIFESTS < latest) {
        store.delete(&layout::manifest_path(n))?;
    }
    Ok(())
}

/// Overlays newer positions on a commit's: per source, an object's offsets
/// only move forward (a position this run has not reached yet keeps the
/// earlier commit's).
fn merge_positions(
    into: &mut serde_json::Map<String, serde_json::Value>,
    newer: serde_json::Map<String, serde_json::Value>,
) {
    use serde_json::Value;
    for (source, position) in newer {
        match (into.get_mut(&source), position) {
            (_, Value::Null) => {}
            (Some(Value::Object(old)), Value::Object(new)) => {
                for (k, v) in new {
                    let behind = match (old.get(&k).and_then(Value::as_i64), v.as_i64()) {
                        (Some(o), Some(n)) => n < o,
                        _ => false,
                    };
                    if !behind {
                        old.insert(k, v);
                    }
                }
            }
            (_, position) => {
                into.insert(source, position);
            }
        }
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::schema::tests::samples;
    use helixflow_types::event::Event;

    fn writer(dir: &std::path::Path, at: Arc<std::sync::Mutex<i64>>) -> LakeWriter {
        let config = LakeSinkConfig::at("lake", &dir.display().to_string());
        let positions: PositionsAt = Arc::new(move |upper| {
            let mut m = serde_json::Map::new();
            let offset = *at.lock().unwrap_or_else(|e| e.into_inner());
            m.insert(
                "kafka".into(),
                serde_json::json!({"t/0": offset, "upper": upper}),
            );
            m
        });
        LakeWriter::new(&config, positions).expect("writer")
    }

    fn batch(raw: Vec<StoredEvent>, upper: Time) -> Batch {
        Batch {
            changes: Vec::new(),
            raw,
            upper,
        }
    }

    fn read_all(dir: &std::path::Path) -> (Manifest, Vec<StoredEvent>) {
        let store = LakeStore::open(&Location::Local(dir.to_path_buf()), &Default::default())
            .expect("store");
        let snap = Snapshot::open(&store).expect("opens");
        let mut out = Vec::new();
        for f in &snap.manifest.files {
            let place = f.place().expect("place");
            let bytes = store.get(&f.path).expect("get");
            files::read_events(&f.path, place.kind, bytes, |e| {
                out.extend(e);
                Ok(())
            })
            .expect("reads");
        }
        (snap.manifest, out)
    }

    #[test]
    fn commits_keep_one_event_per_key_across_restarts_and_record_positions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = Arc::new(std::sync::Mutex::new(10));
        let events = samples();
        let mut w = writer(dir.path(), Arc::clone(&at));
        w.prepare().expect("opens an empty lake");
        // Every sample twice in one batch: stored once.
        let mut twice = events.clone();
        twice.extend(events.clone());
        w.write(1, &batch(twice, 5)).expect("commit 1");
        assert_eq!(w.manifest().commit, 1);
        let (m, stored) = read_all(dir.path());
        assert_eq!(stored.len(), events.len());
        assert_eq!(m.rows, events.len() as u64);
        assert_eq!(m.positions["kafka"]["t/0"], 10);

        // A new writer (a restart) knows what is stored: duplicates are not
        // written again; a conflicting copy that wins is stored beside the
        // one it replaces; one that loses is not.
        *at.lock().unwrap_or_else(|e| e.into_inner()) = 20;
        let mut w = writer(dir.path(), Arc::clone(&at));
        w.prepare().expect("reopens");
        let mut winner = events[8].clone();
        let mut loser = events[9].clone();
        if let Event::ProviderCall(c) = &mut winner.1 {
            c.ts += 1;
            c.latency_ms += 1;
        }
        if let Event::DebateRound(d) = &mut loser.1 {
            d.ts -= 1;
        }
        winner.0 = winner.1.payload_fingerprint();
        loser.0 = loser.1.payload_fingerprint();
        w.write(2, &batch(vec![events[0].clone(), winner.clone(), loser], 9))
            .expect("commit 2");
        let (m, stored) = read_all(dir.path());
        assert_eq!(m.commit, 2);
        assert_eq!(stored.len(), events.len() + 1);
        assert_eq!(m.replaced, 1);
        assert!(stored.contains(&winner));
        assert_eq!(m.positions["kafka"]["t/0"], 20);

        // Nothing new and positions unchanged: no commit.
        w.write(3, &batch(vec![events[1].clone()], 9))
            .expect("no-op");
        assert_eq!(w.manifest().commit, 2);
    }

    #[test]
    fn a_crash_before_the_manifest_leaves_the_last_commit_and_its_files_are_cleaned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = Arc::new(std::sync::Mutex::new(1));
        let events = samples();
        let mut w = writer(dir.path(), Arc::clone(&at));
        w.prepare().expect("opens");
        w.write(1, &batch(events[..3].to_vec(), 2))
            .expect("commit 1");
        // The files of commit 2, put without their manifest (a crash).
        let store = LakeStore::open(
            &Location::Local(dir.path().to_path_buf()),
            &Default::default(),
        )
        .expect("store");
        let refs: Vec<&StoredEvent> = events[3..5].iter().collect();
        let place = DataFile {
            kind: EventKind::Memory,
            day: Day::of(events[3].1.ts()),
            commit: 2,
            n: 0,
        };
        write_file(&store, place, &refs).expect("orphan");
        let (m, stored) = read_all(dir.path());
        assert_eq!((m.commit, stored.len()), (1, 3), "the orphan is invisible");
        let snap = Snapshot::open(&store).expect("opens");
        assert_eq!(snap.orphans, vec![place.path()]);
        let mut w = writer(dir.path(), at);
        w.prepare().expect("reopens and cleans");
        assert!(Snapshot::open(&store).expect("opens").orphans.is_empty());
        w.write(2, &batch(events[3..5].to_vec(), 3))
            .expect("commit 2");
        assert_eq!(read_all(dir.path()).1.len(), 5);
    }

    #[test]
    fn compaction_merges_a_days_small_files_and_drops_replaced_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = LakeSinkConfig::at("lake", &dir.path().display().to_string());
        config.compact_files = 3;
        config.file_rows = 1000;
        let positions: PositionsAt = Arc::new(|_| serde_json::Map::new());
        let mut w = LakeWriter::new(&config, positions).expect("writer");
        w.prepare().expect("opens");
        // Provider calls of one day, one commit each; each odd one replaces
        // the one before it (same event_id, later ts).
        let base = samples().remove(8);
        let mut expected = Vec::new();
        for i in 0..9u32 {
            let mut e = base.clone();
            if let Event::ProviderCall(c) = &mut e.1 {
                c.event_id = format!("p{}", i / 2);
                c.ts += i64::from(i);
                c.latency_ms = i;
            }
            e.0 = e.1.payload_fingerprint();
            w.write(u64::from(i), &batch(vec![e.clone()], u64::from(i) + 1))
                .expect("commit");
            expected.push(e);
        }
        let (m, stored) = read_all(dir.path());
        let files = m
            .files
            .iter()
            .filter(|f| f.path.starts_with("provider_call/"))
            .count();
        assert!(files < 9, "compacted: {files} files for 9 commits");
        // Live rows only: per event_id, the latest.
        let mut live: BTreeMap<String, StoredEvent> = BTreeMap::new();
        for e in expected {
            if let Event::ProviderCall(c) = &e.1 {
                live.insert(c.event_id.clone(), e.clone());
            }
        }
        assert_eq!(m.rows, stored.len() as u64);
        for e in live.values() {
            assert!(stored.contains(e), "{e:?} kept");
        }
        assert!(
            stored.len() as u64 - m.replaced == live.len() as u64,
            "rows {} replaced {} live {}",
            stored.len(),
            m.replaced,
            live.len()
        );
        // A restart sees the same state, and stores a known event no more.
        let positions: PositionsAt = Arc::new(|_| serde_json::Map::new());
        let mut again = LakeWriter::new(&config, positions).expect("writer");
        again.prepare().expect("reopens");
        let first = live.values().next().cloned().expect("one");
        again.write(99, &batch(vec![first], 99)).expect("no-op");
        assert_eq!(read_all(dir.path()).1.len(), stored.len());
    }

    #[test]
    fn positions_only_move_forward() {
        let mut into = serde_json::Map::new();
        merge_positions(
            &mut into,
            serde_json::from_str(r#"{"k":{"a/0":5,"a/1":7},"f":3}"#).expect("json"),
        );
        merge_positions(
            &mut into,
            serde_json::from_str(r#"{"k":{"a/0":4,"a/2":1},"f":null}"#).expect("json"),
        );
        assert_eq!(
            serde_json::Value::Object(into),
            serde_json::json!({"k":{"a/0":5,"a/1":7,"a/2":1},"f":3})
        );
    }
}
