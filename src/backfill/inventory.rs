//! S3 Inventory as the input of `backfill --enqueue --inventory s3://…/manifest.json`: the way
//! to walk a bucket of a hundred million objects without listing it (docs/design.md, "Backfill
//! through the queue").
//!
//! The manifest names the data files and their columns (`fileSchema`). CSV inventories are
//! read (gzip-compressed, as S3 writes them); Parquet and ORC are refused with a clear error.
//! Keys in CSV inventories are URL-encoded (S3 documents that they must be decoded before use):
//! they are decoded as keys in S3's notifications are. Rows that are not the current version
//! (`IsLatest` false) or that are delete markers are skipped. Rows are taken in the manifest's
//! file order; `--inventory-resume N` skips the first N rows, as printed by an interrupted run.

use std::future::Future;
use std::io::Read;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use serde::Deserialize;
use tracing::info;

use super::enqueue::{send, Enqueue, BATCH, BATCHES_IN_FLIGHT};
use super::{note_failure, Progress, Summary};
use crate::config::RuleConfig;
use crate::event::{backfill_event, decode_key};
use crate::metrics::Metrics;
use crate::queue::MessageSource;
use crate::retry::with_retries;
use crate::store::{ObjectRef, ObjectStore};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("--inventory {0:?}: expected s3://BUCKET/KEY of a manifest.json")]
    Location(String),
    #[error("reading s3://{bucket}/{key}: {reason}")]
    Read {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("manifest s3://{bucket}/{key}: {reason}")]
    Manifest {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("inventory file s3://{bucket}/{key}, row {row}: {reason}")]
    Row {
        bucket: String,
        key: String,
        row: u64,
        reason: String,
    },
}

/// `s3://bucket/key` → (bucket, key).
pub fn parse_location(location: &str) -> Result<(String, String), InventoryError> {
    location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .map(|(bucket, key)| (bucket.to_owned(), key.to_owned()))
        .ok_or_else(|| InventoryError::Location(location.to_owned()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    destination_bucket: String,
    file_format: String,
    file_schema: String,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    key: String,
}

/// Where each needed field is in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    bucket: usize,
    key: usize,
    size: Option<usize>,
    etag: Option<usize>,
    is_latest: Option<usize>,
    is_delete_marker: Option<usize>,
}

/// What a manifest says: the data files (bucket, key) and their columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub files: Vec<(String, String)>,
    pub columns: Columns,
}

/// Reads a `manifest.json` (read from `bucket`/`key`, named in errors).
pub fn parse_manifest(bucket: &str, key: &str, json: &[u8]) -> Result<Manifest, InventoryError> {
    let error = |reason: String| InventoryError::Manifest {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let manifest: ManifestJson = serde_json::from_slice(json)
        .map_err(|e| error(format!("not an inventory manifest: {e}")))?;
    if manifest.file_format != "CSV" {
        return Err(error(format!(
            "fileFormat {:?}: only CSV inventories are read (configure the inventory with the CSV \
             format, or list the bucket instead of giving --inventory)",
            manifest.file_format
        )));
    }
    let names: Vec<&str> = manifest.file_schema.split(',').map(str::trim).collect();
    let find = |name: &str| names.iter().position(|n| *n == name);
    let columns = Columns {
        bucket: find("Bucket").ok_or_else(|| error("fileSchema has no Bucket".into()))?,
        key: find("Key").ok_or_else(|| error("fileSchema has no Key".into()))?,
        size: find("Size"),
        etag: find("ETag"),
        is_latest: find("IsLatest"),
        is_delete_marker: find("IsDeleteMarker"),
    };
    // "arn:aws:s3:::name", as S3 writes it.
    let destination = manifest
        .destination_bucket
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok(Manifest {
        files: manifest
            .files
            .into_iter()
            .map(|f| (destination.clone(), f.key))
            .collect(),
        columns,
    })
}

/// One current object of an inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
}

/// The rows of one data file (gzip-compressed CSV, no header); `None` for a row that is not
/// the current version of an object.
pub fn read_rows(
    bucket: &str,
    key: &str,
    gz: &[u8],
    columns: &Columns,
) -> Result<Vec<Option<Row>>, InventoryError> {
    let error = |row: u64, reason: String| InventoryError::Row {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        row,
        reason,
    };
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut text)
        .map_err(|e| error(0, format!("not gzip: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_slice());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let n = i as u64 + 1;
        let record = record.map_err(|e| error(n, e.to_string()))?;
        let field = |at: Option<usize>| at.and_then(|at| record.get(at)).unwrap_or("");
        if field(columns.is_latest) == "false" || field(columns.is_delete_marker) == "true" {
            rows.push(None);
            continue;
        }
        let raw_key = field(Some(columns.key));
        let object_key = decode_key(raw_key).map_err(|e| error(n, e.to_string()))?;
        let size = match field(columns.size) {
            "" => 0,
            size => size
                .parse()
                .map_err(|_| error(n, format!("Size {size:?} is not a number")))?,
        };
        rows.push(Some(Row {
            bucket: field(Some(columns.bucket)).to_owned(),
            key: object_key,
            size,
            etag: field(columns.etag).trim_matches('"').to_owned(),
        }));
    }
    Ok(rows)
}

/// The whole object at `bucket`/`key`.
async fn read_object<S: ObjectStore>(
    store: &S,
    metrics: &Metrics,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, InventoryError> {
    let error = |reason: String| InventoryError::Read {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let object = ObjectRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: None,
    };
    let head = with_retries(metrics, || store.head_object(&object, None))
        .await
        .map_err(|e| error(e.to_string()))?
        .ok_or_else(|| error("no such object".into()))?;
    if head.size == 0 {
        return Ok(Vec::new());
    }
    let bytes = with_retries(metrics, || {
        store.get_object_range(&object, Some(&head.etag), 0..head.size)
    })
    .await
    .map_err(|e| error(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// Sends one event per current object of the inventory at `location` that a rule of `rules`
/// covers, skipping the first `resume` rows. `Summary::resume_rows` says where a resumed run
/// starts.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue_inventory<S, Q>(
    store: &S,
    metrics: &Metrics,
    to: Enqueue<'_, Q>,
    rules: &[&RuleConfig],
    prefix: Option<&str>,
    location: &str,
    resume: u64,
    progress: &Progress,
    stop: impl Future<Output = ()>,
) -> Result<Summary, InventoryError>
where
    S: ObjectStore,
    Q: MessageSource,
{
    let (bucket, key) = parse_location(location)?;
    let manifest = parse_manifest(
        &bucket,
        &key,
        &read_object(store, metrics, &bucket, &key).await?,
    )?;
    let mut summary = Summary {
        resume_rows: Some(resume),
        ..Summary::default()
    };
    let wanted = |row: &Row| {
        prefix.is_none_or(|p| row.key.starts_with(p))
            && rules
                .iter()
                .any(|r| r.source_bucket == row.bucket && r.covers(&row.key))
    };
    tokio::pin!(stop);
    let mut row_number = 0u64;
    for (file_bucket, file_key) in &manifest.files {
        let gz = read_object(store, metrics, file_bucket, file_key).await?;
        let rows = read_rows(file_bucket, file_key, &gz, &manifest.columns)?;
        // (row number after this one, the event, if the row is wanted)
        let numbered: Vec<(u64, Option<Row>)> = rows
            .into_iter()
            .map(|row| {
                row_number += 1;
                (row_number, row.filter(|r| wanted(r)))
            })
            .filter(|(n, _)| *n > resume)
            .collect();
        let batches = futures::stream::iter(numbered.chunks(BATCH).map(<[_]>::to_vec))
            .map(|chunk| async {
                let bodies: Vec<String> = chunk
                    .iter()
                    .filter_map(|(_, row)| row.as_ref())
                    .map(|r| backfill_event(&r.bucket, &r.key, r.size, &r.etag))
                    .collect();
                let failed = if to.dry_run || bodies.is_empty() {
                    Vec::new()
                } else {
                    send(to.queue, bodies.clone()).await
                };
                (chunk, bodies.len(), failed)
            })
            .buffered(BATCHES_IN_FLIGHT);
        tokio::pin!(batches);
        loop {
            let next = tokio::select! {
                biased;
                () = &mut stop => {
                    summary.interrupted = true;
                    return Ok(summary);
                }
                next = batches.next() => next,
            };
            let Some((chunk, events, failed)) = next else {
                break;
            };
            summary.listed += events as u64;
            progress.done.fetch_add(events as u64, Ordering::Relaxed);
            if let Some((i, why)) = failed.first() {
                // Stop at the first batch with a refused event: the resumed run sends that
                // batch again (the others of it arrive twice, which the daemon finds present).
                summary.enqueued += (events - failed.len()) as u64;
                summary.failed += 1;
                note_failure(
                    &mut summary,
                    format!("inventory event {i} of a batch refused by the queue: {why}"),
                );
                return Ok(summary);
            }
            if !to.dry_run {
                summary.enqueued += events as u64;
            }
            if let Some((n, _)) = chunk.last() {
                summary.resume_rows = Some(*n);
            }
        }
    }
    info!(
        message = "Inventory enqueued.",
        rows = row_number,
        events = summary.listed,
        enqueued = summary.enqueued
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{
        "sourceBucket": "lake",
        "destinationBucket": "arn:aws:s3:::inventories",
        "version": "2016-11-30",
        "creationTimestamp": "1514944800000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag",
        "files": [ { "key": "lake/daily/data/a.csv.gz", "size": 10, "MD5checksum": "x" } ]
    }"#;

    fn gz(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_csv_manifest_and_its_rows_are_read_with_keys_decoded() {
        let manifest = parse_manifest("inventories", "m.json", MANIFEST.as_bytes()).unwrap();
        assert_eq!(
            manifest.files,
            [(
                "inventories".to_owned(),
                "lake/daily/data/a.csv.gz".to_owned()
            )]
        );
        let data = gz(concat!(
            "\"lake\",\"dir/a+b%2Bc%2C%22q%22.csv\",\"v2\",\"true\",\"false\",\"5\",\"2026-12-01T00:00:00.000Z\",\"0cc175b9c0f1b6a831c399e269772661\"\n",
            "\"lake\",\"dir/old.csv\",\"v1\",\"false\",\"false\",\"3\",\"2026-12-01T00:00:00.000Z\",\"x\"\n",
            "\"lake\",\"dir/gone.csv\",\"v3\",\"true\",\"true\",\"\",\"2026-12-01T00:00:00.000Z\",\"\"\n",
        ));
        let rows = read_rows("inventories", "a.csv.gz", &data, &manifest.columns).unwrap();
        assert_eq!(
            rows,
            [
                Some(Row {
                    bucket: "lake".into(),
                    key: "dir/a b+c,\"q\".csv".into(),
                    size: 5,
                    etag: "0cc175b9c0f1b6a831c399e269772661".into()
                }),
                None,
                None
            ]
        );
    }

    #[test]
    fn other_formats_and_bad_locations_are_refused_by_name() {
        let parquet = MANIFEST.replace("\"CSV\"", "\"Parquet\"");
        let err = parse_manifest("b", "m.json", parquet.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("only CSV inventories are read"),
            "{err}"
        );
        assert!(parse_location("s3://b/m.json").is_ok());
        assert!(matches!(
            parse_location("b/m.json"),
            Err(InventoryError::Location(_))
        ));
        let err = read_rows(
            "b",
            "k",
            b"not gzip",
            &parse_manifest("b", "m", MANIFEST.as_bytes())
                .unwrap()
                .columns,
        )
        .unwrap_err();
        assert!(err.to_string().contains("inventory file s3://b/k"), "{err}");
    }
}
