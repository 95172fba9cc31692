//! A lake source: the committed events of a lake (optionally a range of
//! days), read once, file by file, and handed to the dataflow decoded, in
//! chunks of [`CHUNK_EVENTS`] (the feed's bound keeps memory bounded). It
//! serves `replay --lake` and a restart's restore of the engine's own lake;
//! [`LakeProgress`] is what health and the progress bar show meanwhile.
//! In a cluster each process reads its [`Share`] of the files.

use helixflow_sinks::lake::{LakeReader, Location, LAKE_POSITION_KEY};
use helixflow_sources::feed::{Chunk, Decoded, EpochCursor, EpochPolicy, Share, SourceHandle};
use helixflow_types::timestamp::Day;
use helixflow_types::topology::LakeSourceConfig;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Events per chunk handed to the dataflow.
const CHUNK_EVENTS: usize = 4096;

/// How far a lake source has read.
#[derive(Debug, Default)]
pub struct LakeProgress {
    /// The source's name.
    pub name: String,
    /// Where the lake is.
    pub location: String,
    /// True for the restore of the engine's own lake.
    pub restore: bool,
    /// The commit read (0 until the lake is open).
    pub commit: AtomicU64,
    /// Events and files to read (known once the lake is open), and read so far.
    pub events_total: AtomicU64,
    pub events_read: AtomicU64,
    pub files_total: AtomicU64,
    pub files_read: AtomicU64,
    /// Every event has been handed over (or the source failed).
    pub done: AtomicBool,
    /// Why the source stopped early, if it did.
    error: Mutex<Option<String>>,
}

impl LakeProgress {
    /// Progress of the source `config` describes, nothing read yet.
    pub fn new(config: &LakeSourceConfig) -> Self {
        LakeProgress {
            name: config.name.clone(),
            location: config.location.clone(),
            restore: config.restore,
            ..LakeProgress::default()
        }
    }

    /// Why the source stopped early, if it did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The position a seal records.
    fn position(&self) -> serde_json::Value {
        serde_json::json!({
            LAKE_POSITION_KEY: self.location,
            "commit": self.commit.load(Ordering::Relaxed),
            "events": self.events_read.load(Ordering::Relaxed),
            "total": self.events_total.load(Ordering::Relaxed),
        })
    }
}

/// Reads the lake `config` names into the feed through `handle`.
pub fn run(
    config: &LakeSourceConfig,
    handle: &SourceHandle,
    epochs: EpochPolicy,
    share: Share,
    progress: &LakeProgress,
    stop: &AtomicBool,
) -> Result<(), String> {
    let result = read_all(config, handle, epochs, share, progress, stop);
    if let Err(e) = &result {
        *progress.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
    }
    progress.done.store(true, Ordering::Release);
    result
}

fn read_all(
    config: &LakeSourceConfig,
    handle: &SourceHandle,
    epochs: EpochPolicy,
    share: Share,
    progress: &LakeProgress,
    stop: &AtomicBool,
) -> Result<(), String> {
    let mut cursor = EpochCursor::new(epochs);
    let location = Location::parse(&config.location)?;
    let reader = LakeReader::open(&location, &config.s3).map_err(|e| e.to_string())?;
    let day = |d: &Option<String>| d.as_deref().and_then(Day::parse);
    let files: Vec<_> = reader
        .files(day(&config.from), day(&config.to))
        .into_iter()
        .enumerate()
        .filter(|(n, _)| share.takes(*n))
        .map(|(_, f)| f)
        .collect();
    progress
        .commit
        .store(reader.manifest().commit, Ordering::Relaxed);
    progress
        .events_total
        .store(files.iter().map(|f| f.rows).sum(), Ordering::Relaxed);
    progress
        .files_total
        .store(files.len() as u64, Ordering::Relaxed);
    let origin: Arc<str> = Arc::from(location.to_string().as_str());
    let mut closed = false;
    for file in files {
        if stop.load(Ordering::Relaxed) || closed {
            break;
        }
        let read = reader.read(file, |mut events| {
            while !events.is_empty() && !closed {
                let rest = events.split_off(events.len().min(CHUNK_EVENTS));
                let n = events.len() as u64;
                let chunk = Chunk {
                    source: handle.index(),
                    epoch: cursor.current(),
                    first_line: 0,
                    origin: Arc::clone(&origin),
                    data: Vec::new(),
                    records: None,
                    decoded: Some(Decoded {
                        events,
                        restored: config.restore,
                    }),
                };
                closed = handle.send(chunk, n).is_err();
                progress.events_read.fetch_add(n, Ordering::Relaxed);
                cursor.sent(n);
                if let Some(sealed) = cursor.advance() {
                    handle.seal(sealed, progress.position());
                }
                events = rest;
            }
            Ok(())
        });
        read.map_err(|e| e.to_string())?;
        progress.files_read.fetch_add(1, Ordering::Relaxed);
    }
    handle.finish(cursor.current(), progress.position());
    Ok(())
}
