//! Where things live in a lake, relative to its root:
//!
//! - data: `{type}/year=YYYY/month=MM/day=DD/part-{commit:010}-{n:04}.parquet`,
//!   Hive-style partitions by the UTC day of `ts`;
//! - commits: `_helixflow/manifest-{commit:010}.json`.
//!
//! Anything else under the root is foreign: the lake refuses to open with
//! it there rather than guess what it is.

use helixflow_types::event::EventKind;
use helixflow_types::timestamp::Day;

/// The directory of the manifests.
pub const MANIFEST_DIR: &str = "_helixflow";

/// A data file's place: its table, its day and the commit that wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataFile {
    pub kind: EventKind,
    pub day: Day,
    pub commit: u64,
    pub n: u32,
}

impl DataFile {
    /// The path relative to the lake's root.
    pub fn path(&self) -> String {
        format!(
            "{}/year={:04}/month={:02}/day={:02}/part-{:010}-{:04}.parquet",
            self.kind.type_name(),
            self.day.year,
            self.day.month,
            self.day.day,
            self.commit,
            self.n
        )
    }

    /// Parses a relative path written by [`DataFile::path`].
    pub fn parse(path: &str) -> Option<DataFile> {
        let mut parts = path.split('/');
        let kind = EventKind::from_type_name(parts.next()?)?;
        let year = parts.next()?.strip_prefix("year=")?;
        let month = parts.next()?.strip_prefix("month=")?;
        let day = parts.next()?.strip_prefix("day=")?;
        let name = parts.next()?;
        if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        let day = Day::parse(&format!("{year}-{month}-{day}"))?;
        let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let (commit, n) = rest.split_once('-')?;
        if commit.len() != 10 || n.len() != 4 {
            return None;
        }
        Some(DataFile {
            kind,
            day,
            commit: commit.parse().ok()?,
            n: n.parse().ok()?,
        })
    }
}

/// The path of commit `commit`'s manifest.
pub fn manifest_path(commit: u64) -> String {
    format!("{MANIFEST_DIR}/manifest-{commit:010}.json")
}

/// The commit a manifest path names, if it is one.
pub fn parse_manifest_path(path: &str) -> Option<u64> {
    let n = path
        .strip_prefix(MANIFEST_DIR)?
        .strip_prefix("/manifest-")?
        .strip_suffix(".json")?;
    (n.len() == 10).then(|| n.parse().ok()).flatten()
}

/// What a path under the root is.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    Data(DataFile),
    Manifest(u64),
    /// A file a writer is still putting in place (object_store's local
    /// staging names end in `#n`): not part of the lake yet.
    Staging,
    Foreign,
}

/// Classifies a path relative to the root.
pub fn classify(path: &str) -> Entry {
    if let Some(d) = DataFile::parse(path) {
        return Entry::Data(d);
    }
    if let Some(c) = parse_manifest_path(path) {
        return Entry::Manifest(c);
    }
    let staged = path.rsplit_once('#').is_some_and(|(base, n)| {
        n.bytes().all(|b| b.is_ascii_digit()) && classify(base) != Entry::Foreign
    });
    if staged {
        Entry::Staging
    } else {
        Entry::Foreign
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_back_and_anything_else_is_foreign() {
        let f = DataFile {
            kind: EventKind::ProviderCall,
            day: Day::parse("2026-01-30").expect("day"),
            commit: 42,
            n: 3,
        };
        let p = f.path();
        assert_eq!(
            p,
            "provider_call/year=2026/month=01/day=30/part-0000000042-0003.parquet"
        );
        assert_eq!(classify(&p), Entry::Data(f));
        assert_eq!(classify(&manifest_path(7)), Entry::Manifest(7));
        assert_eq!(classify(&format!("{p}#12")), Entry::Staging);
        for foreign in [
            "notes.txt",
            "provider_call/year=2026/month=01/day=30/other.parquet",
            "provider_call/year=2026/month=13/day=30/part-0000000042-0003.parquet",
            "chat/year=2026/month=01/day=30/part-0000000042-0003.parquet",
            "_helixflow/manifest-1.json",
            "_helixflow/lock",
        ] {
            assert_eq!(classify(foreign), Entry::Foreign, "{foreign}");
        }
    }
}
