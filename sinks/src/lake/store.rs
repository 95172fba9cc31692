//! Where a lake's objects are kept: a local directory (the default, the
//! embedded case) or S3-compatible object storage, both through the
//! `object_store` crate, behind blocking calls (the lake's users run on
//! threads of their own). On a local directory every file is synced to
//! disk, with its directory, before a put returns: a put is durable.
//!
//! Puts are atomic on both stores (a local put writes a staging file and
//! renames it; an S3 put is one request), so a reader sees a whole object
//! or none. Manifests are put with `PutMode::Create`: a second writer on
//! the same lake fails instead of overwriting a commit.

use crate::lake::LakeError;
use bytes::Bytes;
use futures::TryStreamExt;
use helixflow_types::topology::LakeS3Settings;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::path::PathBuf;
use std::sync::Arc;

/// A lake's location, as a topology or `--lake` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// `s3://bucket/prefix`.
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Parses a directory path, `file://DIR` or `s3://bucket[/prefix]`.
    pub fn parse(text: &str) -> Result<Location, String> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{text:?} names no bucket (use s3://BUCKET/PREFIX)"));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if let Some((scheme, _)) = text.split_once("://").filter(|(s, _)| *s != "file") {
            return Err(format!(
                "{text:?}: scheme `{scheme}` is not supported (use a directory, file://DIR or s3://BUCKET/PREFIX)"
            ));
        }
        let dir = text.strip_prefix("file://").unwrap_or(text);
        if dir.is_empty() {
            return Err("an empty lake location (use a directory or s3://BUCKET/PREFIX)".into());
        }
        Ok(Location::Local(PathBuf::from(dir)))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// An object under the lake's root.
#[derive(Clone, Debug)]
pub struct Listed {
    /// Path relative to the root.
    pub path: String,
    pub size: u64,
}

/// A lake's objects, with blocking calls.
pub struct LakeStore {
    location: Location,
    store: Arc<dyn ObjectStore>,
    prefix: Option<ObjectPath>,
    runtime: tokio::runtime::Runtime,
}

impl LakeStore {
    /// Opens a location (creating a local directory if absent). S3 settings
    /// come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`), then from `s3`.
    pub fn open(location: &Location, s3: &LakeS3Settings) -> Result<LakeStore, LakeError> {
        let err = |e: &dyn std::fmt::Display| LakeError::Store {
            what: format!("opening the lake at {location}"),
            detail: e.to_string(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(&e))?;
        let (store, prefix): (Arc<dyn ObjectStore>, _) = match location {
            Location::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
                let fs = LocalFileSystem::new_with_prefix(dir).map_err(|e| err(&e))?;
                (Arc::new(fs), None)
            }
            Location::S3 { bucket, prefix } => {
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(e) = &s3.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(r) = &s3.region {
                    b = b.with_region(r);
                }
                if let Some(h) = s3.allow_http {
                    b = b.with_allow_http(h);
                }
                let store = b.build().map_err(|e| err(&e))?;
                let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
                (Arc::new(store), prefix)
            }
        };
        Ok(LakeStore {
            location: location.clone(),
            store,
            prefix,
            runtime,
        })
    }

    /// Where the lake is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    fn full(&self, path: &str) -> ObjectPath {
        match &self.prefix {
            Some(p) => ObjectPath::from(format!("{p}/{path}")),
            None => ObjectPath::from(path),
        }
    }

    fn relative(&self, full: &ObjectPath) -> String {
        let s = full.as_ref();
        match &self.prefix {
            Some(p) => s
                .strip_prefix(p.as_ref())
                .map_or(s, |r| r.trim_start_matches('/'))
                .to_owned(),
            None => s.to_owned(),
        }
    }

    fn failed(&self, what: String, e: impl std::fmt::Display) -> LakeError {
        LakeError::Store {
            what,
            detail: e.to_string(),
        }
    }

    /// Puts a data file: atomic, and durable once this returns.
    pub fn put(&self, path: &str, bytes: Bytes) -> Result<(), LakeError> {
        self.put_with(path, bytes, PutMode::Overwrite)
    }

    /// Puts a file that must not exist yet (a commit's manifest): fails
    /// with [`LakeError::Conflict`] if another writer got there first.
    pub fn put_new(&self, path: &str, bytes: Bytes) -> Result<(), LakeError> {
        self.put_with(path, bytes, PutMode::Create)
    }

    fn put_with(&self, path: &str, bytes: Bytes, mode: PutMode) -> Result<(), LakeError> {
        let full = self.full(path);
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let result =
            self.runtime
                .block_on(self.store.put_opts(&full, PutPayload::from(bytes), opts));
        match result {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(LakeError::Conflict {
                    path: format!("{}/{path}", self.location),
                })
            }
            Err(e) => return Err(self.failed(format!("writing {}/{path}", self.location), e)),
        }
        if let Location::Local(dir) = &self.location {
            let file = dir.join(path);
            sync_path(&file)
                .and_then(|()| file.parent().map_or(Ok(()), sync_path))
                .map_err(|e| self.failed(format!("syncing {}", file.display()), e))?;
        }
        Ok(())
    }

    /// Reads a whole object.
    pub fn get(&self, path: &str) -> Result<Bytes, LakeError> {
        let full = self.full(path);
        self.runtime
            .block_on(async { self.store.get(&full).await?.bytes().await })
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => LakeError::Missing {
                    path: format!("{}/{path}", self.location),
                    detail: "it is gone".into(),
                },
                e => self.failed(format!("reading {}/{path}", self.location), e),
            })
    }

    /// Every object under the root, paths relative to it.
    pub fn list(&self) -> Result<Vec<Listed>, LakeError> {
        let metas: Vec<_> = self
            .runtime
            .block_on(self.store.list(self.prefix.as_ref()).try_collect())
            .map_err(|e| self.failed(format!("listing {}", self.location), e))?;
        let mut out: Vec<Listed> = metas
            .iter()
            .map(|m| Listed {
                path: self.relative(&m.location),
                size: m.size,
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Deletes an object (absent already is fine).
    pub fn delete(&self, path: &str) -> Result<(), LakeError> {
        let full = self.full(path);
        match self.runtime.block_on(self.store.delete(&full)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(format!("deleting {}/{path}", self.location), e)),
        }
    }
}

/// Flushes a file (or directory) to disk.
fn sync_path(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_refuse_other_schemes() {
        assert_eq!(
            Location::parse("data/lake"),
            Ok(Location::Local("data/lake".into()))
        );
        assert_eq!(
            Location::parse("file:///tmp/l"),
            Ok(Location::Local("/tmp/l".into()))
        );
        assert_eq!(
            Location::parse("s3://b/p/q/"),
            Ok(Location::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            })
        );
        assert!(Location::parse("gs://b").is_err_and(|e| e.contains("`gs`")));
        assert!(Location::parse("s3://").is_err());
    }

    #[test]
    fn a_local_store_puts_lists_reads_and_refuses_a_second_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LakeStore::open(
            &Location::Local(dir.path().join("lake")),
            &LakeS3Settings::default(),
        )
        .expect("opens");
        store
            .put("a/b.parquet", Bytes::from_static(b"abc"))
            .expect("put");
        store
            .put_new(
                "_helixflow/manifest-0000000001.json",
                Bytes::from_static(b"{}"),
            )
            .expect("first");
        let again = store.put_new(
            "_helixflow/manifest-0000000001.json",
            Bytes::from_static(b"{}"),
        );
        assert!(
            matches!(again, Err(LakeError::Conflict { .. })),
            "{again:?}"
        );
        let listed: Vec<_> = store
            .list()
            .expect("list")
            .into_iter()
            .map(|l| (l.path, l.size))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("_helixflow/manifest-0000000001.json".to_owned(), 2),
                ("a/b.parquet".to_owned(), 3)
            ]
        );
        assert_eq!(store.get("a/b.parquet").expect("get").as_ref(), b"abc");
        store.delete("a/b.parquet").expect("delete");
        assert!(matches!(
            store.get("a/b.parquet"),
            Err(LakeError::Missing { .. })
        ));
    }
}
