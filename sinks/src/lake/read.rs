//! Reading a lake's committed events back: opened at its latest commit
//! (checked whole first, see [`Snapshot::open`]), then file by file, each
//! file checked against its manifest entry before a row of it is handed
//! out, one row group at a time (bounded memory).

use crate::lake::files;
use crate::lake::manifest::{FileEntry, Manifest, Snapshot};
use crate::lake::schema::StoredEvent;
use crate::lake::store::{LakeStore, Location};
use crate::lake::LakeError;
use helixflow_types::event::EventKind;
use helixflow_types::timestamp::Day;
use helixflow_types::topology::LakeS3Settings;

/// The key a lake source's position carries (its location): the lake sink
/// does not record such positions in its own manifests.
pub const LAKE_POSITION_KEY: &str = "lake";

/// True for a position a lake source recorded.
pub fn is_lake_position(position: &serde_json::Value) -> bool {
    position.get(LAKE_POSITION_KEY).is_some()
}

/// A lake opened for reading at its latest commit.
pub struct LakeReader {
    store: LakeStore,
    manifest: Manifest,
}

impl LakeReader {
    /// Opens and checks the lake at `location`.
    pub fn open(location: &Location, s3: &LakeS3Settings) -> Result<LakeReader, LakeError> {
        let store = LakeStore::open(location, s3)?;
        let snapshot = Snapshot::open(&store)?;
        Ok(LakeReader {
            store,
            manifest: snapshot.manifest,
        })
    }

    /// The commit read.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the lake is.
    pub fn location(&self) -> &Location {
        self.store.location()
    }

    /// The files holding days `from..=to` (either end open), in table and
    /// path order.
    pub fn files(&self, from: Option<Day>, to: Option<Day>) -> Vec<&FileEntry> {
        EventKind::ALL
            .into_iter()
            .flat_map(|k| self.manifest.files_of(k, from, to))
            .collect()
    }

    /// Reads one file, handing its events to `each` a row group at a time;
    /// returns the rows read.
    pub fn read(
        &self,
        file: &FileEntry,
        each: impl FnMut(Vec<StoredEvent>) -> Result<(), LakeError>,
    ) -> Result<u64, LakeError> {
        let named = format!("{}/{}", self.store.location(), file.path);
        let Some(place) = file.place() else {
            return Err(LakeError::Foreign { path: named });
        };
        let bytes = self.store.get(&file.path)?;
        files::verify(&named, &bytes, file.bytes, &file.xxh3)?;
        let rows = files::read_events(&named, place.kind, bytes, each)?;
        if rows != file.rows {
            return Err(LakeError::Torn {
                path: named,
                detail: format!("{rows} rows, but the manifest recorded {}", file.rows),
            });
        }
        Ok(rows)
    }
}
