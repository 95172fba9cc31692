//! A data file's bytes: events of one type and day written as Parquet
//! (zstd, dictionary-encoded, row groups of [`ROW_GROUP_ROWS`]), with the
//! xxh3 checksum the manifest records; and reading them back, checked
//! against that record first, one row group at a time.

use crate::lake::schema::{self, StoredEvent, FINGERPRINT};
use crate::lake::LakeError;
use arrow_array::RecordBatch;
use bytes::Bytes;
use helixflow_types::event::{EventKind, KeyDigest};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Rows per row group: what one read holds in memory at a time.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The checksum the manifest records for a file's bytes.
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// Writes events of `kind` as one Parquet file's bytes.
pub fn write_parquet(kind: EventKind, events: &[&StoredEvent]) -> Result<Bytes, LakeError> {
    let what = || format!("{} {} events", events.len(), kind.type_name());
    let fail = |detail: String| LakeError::Encode {
        what: what(),
        detail,
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| fail(e.to_string()))?,
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by("helixflow lake".into())
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema::schema(kind), Some(props))
        .map_err(|e| fail(e.to_string()))?;
    for chunk in events.chunks(ROW_GROUP_ROWS) {
        let batch = schema::encode(kind, chunk).map_err(fail)?;
        writer.write(&batch).map_err(|e| fail(e.to_string()))?;
    }
    writer.close().map_err(|e| fail(e.to_string()))?;
    Ok(Bytes::from(out))
}

/// Checks a file's bytes against what its manifest recorded.
pub fn verify(path: &str, bytes: &[u8], size: u64, sum: &str) -> Result<(), LakeError> {
    if bytes.len() as u64 != size {
        return Err(LakeError::Torn {
            path: path.to_owned(),
            detail: format!(
                "{} bytes, but the manifest recorded {size} (a torn or replaced file)",
                bytes.len()
            ),
        });
    }
    let actual = checksum(bytes);
    if actual != sum {
        return Err(LakeError::Torn {
            path: path.to_owned(),
            detail: format!("checksum {actual}, but the manifest recorded {sum}"),
        });
    }
    Ok(())
}

fn torn(path: &str) -> impl Fn(String) -> LakeError + '_ {
    move |detail| LakeError::Torn {
        path: path.to_owned(),
        detail,
    }
}

/// The record batches of a file, one row group at a time, all columns or
/// only `columns`.
fn batches<'p>(
    path: &'p str,
    bytes: Bytes,
    columns: Option<&[&str]>,
) -> Result<impl Iterator<Item = Result<RecordBatch, LakeError>> + 'p, LakeError> {
    let bad = torn(path);
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    if let Some(columns) = columns {
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        builder = builder.with_projection(mask);
    }
    let reader = builder
        .with_batch_size(ROW_GROUP_ROWS)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    Ok(reader.map(move |b| b.map_err(|e| torn(path)(format!("reading it: {e}")))))
}

/// Reads a file's events, handing each row group's to `each`.
pub fn read_events(
    path: &str,
    kind: EventKind,
    bytes: Bytes,
    mut each: impl FnMut(Vec<StoredEvent>) -> Result<(), LakeError>,
) -> Result<u64, LakeError> {
    let mut rows = 0u64;
    for batch in batches(path, bytes, None)? {
        let batch = batch?;
        let events = schema::decode(kind, &batch).map_err(torn(path))?;
        rows += events.len() as u64;
        each(events)?;
    }
    Ok(rows)
}

/// What the dedup rule needs of a stored event: its key, `ts` and fingerprint.
pub type KeyedRow = (KeyDigest, i64, u64);

/// Reads only the key columns, `ts` and the fingerprint of a file.
pub fn read_keys(path: &str, kind: EventKind, bytes: Bytes) -> Result<Vec<KeyedRow>, LakeError> {
    let mut columns = vec!["ts", FINGERPRINT];
    columns.extend_from_slice(if kind == EventKind::Message {
        &["conversation_id", "seq"]
    } else {
        &["event_id"]
    });
    let bad = torn(path);
    let mut out = Vec::new();
    for batch in batches(path, bytes, Some(&columns))? {
        let batch = batch?;
        let keys = schema::decode_keys(kind, &batch).map_err(&bad)?;
        out.extend(keys);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::schema::tests::samples;

    #[test]
    fn a_file_reads_back_its_events_and_keys_and_a_torn_one_is_named() {
        let events = samples();
        let mine: Vec<&StoredEvent> = events
            .iter()
            .filter(|(_, e)| e.kind() == EventKind::Message)
            .collect();
        let bytes = write_parquet(EventKind::Message, &mine).expect("writes");
        let mut back = Vec::new();
        let rows = read_events("m.parquet", EventKind::Message, bytes.clone(), |e| {
            back.extend(e);
            Ok(())
        })
        .expect("reads");
        assert_eq!(rows, 2);
        assert_eq!(back.iter().collect::<Vec<_>>(), mine);
        let keys = read_keys("m.parquet", EventKind::Message, bytes.clone()).expect("keys");
        let expected: Vec<KeyedRow> = mine
            .iter()
            .map(|(fp, e)| (e.key_digest(), e.ts(), *fp))
            .collect();
        assert_eq!(keys, expected);

        let sum = checksum(&bytes);
        verify("m.parquet", &bytes, bytes.len() as u64, &sum).expect("intact");
        let cut = bytes.slice(..bytes.len() - 10);
        let err = verify("lake/m.parquet", &cut, bytes.len() as u64, &sum).expect_err("torn");
        assert!(err.to_string().starts_with("lake/m.parquet: "), "{err}");
        let err = read_events("lake/m.parquet", EventKind::Message, cut, |_| Ok(()))
            .expect_err("unreadable");
        assert!(err.to_string().contains("lake/m.parquet"), "{err}");
    }
}
