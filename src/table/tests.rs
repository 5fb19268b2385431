use super::*;

#[test]
fn log_files_are_told_apart() {
    let c = |key: &str| classify(key).map(|t| (t.root, t.kind));
    assert_eq!(
        c("tables/orders/_delta_log/00000000000000000007.json"),
        Some(("tables/orders/".into(), Kind::Commit(7)))
    );
    assert_eq!(
        c("_delta_log/00000000000000000000.json"),
        Some((String::new(), Kind::Commit(0)))
    );
    assert_eq!(
        c("t/_delta_log/00000000000000000009.checkpoint.parquet").map(|x| x.1),
        Some(Kind::Checkpoint(9))
    );
    assert_eq!(
        c("t/_delta_log/00000000000000000009.checkpoint.0000000001.0000000003.parquet")
            .map(|x| x.1),
        Some(Kind::Checkpoint(9))
    );
    assert_eq!(
        c("t/_delta_log/00000000000000000006.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json")
            .map(|x| x.1),
        Some(Kind::Checkpoint(6))
    );
    assert_eq!(
        c("t/_delta_log/00000000000000000003.crc").map(|x| x.1),
        Some(Kind::Crc(3))
    );
    assert_eq!(
        c("t/_delta_log/00000000000000000000.00000000000000000004.compacted.json").map(|x| x.1),
        Some(Kind::Compacted(4))
    );
    assert_eq!(
        c("t/_delta_log/_last_checkpoint").map(|x| x.1),
        Some(Kind::LastCheckpoint)
    );
    for free in [
        "t/_delta_log/_sidecars/00000000000000000006.checkpoint.0000000001.0000000001.a.parquet",
        "t/_delta_log/_staged_commits/00000000000000000008.80a083e8-7026-4e79-81be-64bd76c43a11.json",
        "t/_delta_log/.00000000000000000001.json.crc",
        "t/_delta_log/7.json",
    ] {
        assert_eq!(c(free).map(|x| x.1), Some(Kind::Free), "{free}");
    }
    assert_eq!(c("t/region=eu/part-0.parquet"), None);
    assert_eq!(c("t/not_delta_log/00000000000000000001.json"), None);
}

#[test]
fn a_commit_needs_its_files_decoded_once() {
    // As delta-rs writes a partition value "eu west": encoded in the directory name, then the
    // whole path again in the log.
    let body = br#"{"commitInfo":{"operation":"WRITE"}}
{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}
{"add":{"path":"region=eu%2520west/part-0.parquet","size":100,"partitionValues":{},"modificationTime":1,"dataChange":true}}
{"add":{"path":"s3://lake/tables/t/part-1.parquet","size":50,"dataChange":true,"deletionVector":{"storageType":"u","pathOrInlineDv":"ab^-aqEH.-t@S}K{vb[*k^","offset":1,"sizeInBytes":36,"cardinality":2}}}
{"add":{"path":"part-2.parquet","size":7,"dataChange":true,"deletionVector":{"storageType":"i","pathOrInlineDv":"wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L","sizeInBytes":40,"cardinality":6}}}
{"remove":{"path":"old.parquet","dataChange":true}}
{"cdc":{"path":"_change_data/cdc-0.parquet","size":9,"partitionValues":{},"dataChange":false}}
"#;
    let commit = parse_commit("tables/t/", "lake", body).unwrap();
    assert_eq!(commit.files_added, 3);
    assert_eq!(commit.bytes_added, 157);
    let keys: Vec<&str> = commit.needs.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "tables/t/region=eu%20west/part-0.parquet",
            "tables/t/part-1.parquet",
            "tables/t/ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin",
            "tables/t/part-2.parquet",
            "tables/t/_change_data/cdc-0.parquet",
        ]
    );
    assert_eq!(commit.needs[0].size, Some(100));
}

#[test]
fn a_path_outside_the_bucket_is_refused() {
    let body = br#"{"add":{"path":"s3://elsewhere/t/part-0.parquet","size":1}}"#;
    let err = parse_commit("t/", "lake", body).unwrap_err();
    assert!(err.contains("outside the table's bucket"), "{err}");
    let local = br#"{"add":{"path":"file:/tmp/t/part-0.parquet","size":1}}"#;
    assert!(parse_commit("t/", "lake", local).is_err());
    assert!(parse_commit("t/", "lake", b"{not json").is_err());
}

#[test]
fn last_checkpoint_names_its_files() {
    assert_eq!(
        parse_last_checkpoint("t/", br#"{"version":9,"size":31}"#).unwrap(),
        (
            9,
            vec!["t/_delta_log/00000000000000000009.checkpoint.parquet".to_owned()]
        )
    );
    assert_eq!(
        parse_last_checkpoint("", br#"{"version":2,"size":3,"parts":2}"#)
            .unwrap()
            .1,
        [
            "_delta_log/00000000000000000002.checkpoint.0000000001.0000000002.parquet",
            "_delta_log/00000000000000000002.checkpoint.0000000002.0000000002.parquet"
        ]
    );
    let v2 = br#"{"version":6,"size":5,"v2Checkpoint":{"path":"00000000000000000006.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json","sizeInBytes":1,"modificationTime":1}}"#;
    assert_eq!(
        parse_last_checkpoint("t/", v2).unwrap().1,
        ["t/_delta_log/00000000000000000006.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json"]
    );
}

#[test]
fn a_v2_checkpoint_needs_its_sidecars() {
    let body = br#"{"checkpointMetadata":{"version":6}}
{"sidecar":{"path":"00000000000000000006.checkpoint.0000000001.0000000001.a1.parquet","sizeInBytes":9,"modificationTime":1}}
{"protocol":{"minReaderVersion":3,"minWriterVersion":7}}"#;
    assert_eq!(
        checkpoint_sidecars("t/", body).unwrap(),
        ["t/_delta_log/_sidecars/00000000000000000006.checkpoint.0000000001.0000000001.a1.parquet"]
    );
    let last = br#"{"version":6,"size":5,"v2Checkpoint":{"path":"00000000000000000006.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json","sizeInBytes":1,"modificationTime":1,"sidecarFiles":[{"path":"s1.parquet","sizeInBytes":1,"modificationTime":1}]}}"#;
    assert_eq!(
        parse_last_checkpoint("", last).unwrap().1,
        [
            "_delta_log/00000000000000000006.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json",
            "_delta_log/_sidecars/s1.parquet"
        ]
    );
}
