//! Tests of the S3 adapter's reading of answers, against a local HTTP server that answers
//! every request with one canned response.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;

use super::*;

/// A store whose every request is answered with `response`.
async fn answering(response: &'static [u8]) -> String {
    let (port, _requests) = crate::test_http::answering(response).await;
    format!("http://127.0.0.1:{port}")
}

fn store_at(endpoint: &str) -> S3Store {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new("test", "test", None, None, "unit"))
        .build();
    S3Store::new(Client::from_conf(config))
}

#[tokio::test]
async fn a_head_answer_without_content_length_is_a_bad_response_not_an_empty_object() {
    let endpoint = answering(
        b"HTTP/1.1 200 OK\r\netag: \"0123456789abcdef0123456789abcdef\"\r\nconnection: close\r\n\r\n",
    )
    .await;
    let object = ObjectRef {
        bucket: "bucket".into(),
        key: "key".into(),
        version_id: None,
    };
    let err = store_at(&endpoint)
        .head_object(&object, None)
        .await
        .expect_err("no size is no answer");
    assert_eq!(err.kind, StoreErrorKind::BadResponse, "{err}");
    assert!(err.message.contains("Content-Length"), "{err}");
}

#[tokio::test]
async fn a_conditional_write_conflict_is_read_as_one() {
    let endpoint = answering(
        b"HTTP/1.1 409 Conflict\r\ncontent-type: application/xml\r\ncontent-length: 118\r\nconnection: close\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ConditionalRequestConflict</Code><Message>retry</Message></Error>\n",
    )
    .await;
    let object = NewObject {
        bucket: "bucket".into(),
        key: "key".into(),
        condition: crate::store::WriteCondition::Absent,
        ..Default::default()
    };
    let err = store_at(&endpoint)
        .put_object(&object, Bytes::from_static(b"x"))
        .await
        .expect_err("409");
    assert_eq!(err.kind, StoreErrorKind::WriteConflict, "{err}");
}
