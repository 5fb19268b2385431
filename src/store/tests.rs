//! The store seam's own helpers: encodings and error dispositions.

use super::*;

#[test]
fn copy_source_encodes_each_segment_and_keeps_slashes() {
    let source = ObjectRef {
        bucket: "src".into(),
        key: "dir/a b+c%d?e#f/é.txt".into(),
        version_id: None,
    };
    assert_eq!(
        encode_copy_source(&source),
        "src/dir/a%20b%2Bc%25d%3Fe%23f/%C3%A9.txt"
    );
    let pinned = ObjectRef {
        version_id: Some("3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
        ..source
    };
    assert!(encode_copy_source(&pinned).ends_with("?versionId=3/L4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY"));
}

#[test]
fn tags_are_query_encoded() {
    let tags = vec![
        Tag {
            key: "team".into(),
            value: "data eng".into(),
        },
        Tag {
            key: "a&b".into(),
            value: "x=y".into(),
        },
    ];
    assert_eq!(encode_tags(&tags), "team=data%20eng&a%26b=x%3Dy");
}

#[test]
fn throttling_retries_and_denial_fails() {
    let e = |kind| StoreError::new(Operation::CopyObject, "b", "k", kind, "m");
    assert_eq!(
        e(StoreErrorKind::Throttled).disposition(),
        Disposition::Retry
    );
    assert_eq!(
        e(StoreErrorKind::Transient).disposition(),
        Disposition::Retry
    );
    assert_eq!(
        e(StoreErrorKind::AccessDenied).disposition(),
        Disposition::Fail
    );
    assert_eq!(
        e(StoreErrorKind::NoSuchBucket).disposition(),
        Disposition::Fail
    );
    assert_eq!(
        e(StoreErrorKind::AccessDenied).to_string(),
        "CopyObject s3://b/k: access denied: m"
    );
}
