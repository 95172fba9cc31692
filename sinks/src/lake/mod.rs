//! The event lake: every distinct valid event, after dedup, as Parquet
//! files partitioned by type and UTC day, made visible only by committed
//! manifests that also record the input positions they cover. It is the
//! engine's durable state: a restart loads it and resumes each Kafka
//! partition where the last commit left off, and `replay --lake` computes
//! the views from it. See docs/lake.md.
//!
//! | module | owns |
//! |---|---|
//! | [`layout`] | paths of data files and manifests; what is foreign |
//! | [`schema`] | one Arrow schema per event type; events to batches and back |
//! | [`files`] | a data file's bytes: Parquet written and read, checksummed |
//! | [`manifest`] | the commit record, and opening the latest one with every check |
//! | [`read`] | the committed events back, checked file by file |
//! | [`store`] | a local directory or S3 through `object_store`, durable puts |
//! | [`compact`] | merging a day's small files, replaced rows dropped, as a commit |
//! | [`writer`] | the sink: dedup against the lake, files, then the manifest |

pub mod compact;
pub mod files;
pub mod layout;
pub mod manifest;
pub mod read;
pub mod schema;
pub mod store;
pub mod writer;

pub use manifest::{FileEntry, Manifest, Snapshot};
pub use read::{is_lake_position, LakeReader, LAKE_POSITION_KEY};
pub use store::{LakeStore, Location};
pub use writer::{LakeWriter, PositionsAt};

/// What went wrong with a lake, naming the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The store refused or failed an operation.
    #[error("{what}: {detail}")]
    Store { what: String, detail: String },
    /// Another writer committed first (two engines on one lake).
    #[error(
        "{path} already exists: another writer is committing to this lake; run one engine per lake"
    )]
    Conflict { path: String },
    /// A file the manifest lists is not there.
    #[error("{path}: listed by the lake's manifest but {detail}; the lake is damaged (restore the file, or move the lake aside and rebuild it)")]
    Missing { path: String, detail: String },
    /// A file is not what its manifest says (truncated, overwritten, unreadable).
    #[error("{path}: {detail}; the lake is damaged (restore the file, or move the lake aside and rebuild it)")]
    Torn { path: String, detail: String },
    /// A file the lake did not write.
    #[error("{path}: not a file this lake writes (data is {{type}}/year=YYYY/month=MM/day=DD/part-NNNNNNNNNN-NNNN.parquet, commits _helixflow/manifest-NNNNNNNNNN.json); move it out of the lake")]
    Foreign { path: String },
    /// A manifest that cannot be read.
    #[error("{path}: not a valid lake manifest: {detail}")]
    Manifest { path: String, detail: String },
    /// Events that could not be turned into a file.
    #[error("encoding {what}: {detail}")]
    Encode { what: String, detail: String },
}
