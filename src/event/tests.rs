//! Tests of the decoding as a whole (dispatch, keys, sequencers, serialization), and the
//! helpers that the tests of each wire format share.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::Value;
use time::macros::datetime;

use super::*;

/// The text of `tests/fixtures/events/NAME.json`.
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/events/",
            $name,
            ".json"
        ))
    };
}
pub(super) use fixture;

pub(super) fn objects(body: &str) -> (Vec<ObjectCreated>, usize) {
    match decode(body).unwrap() {
        Notification::Objects {
            objects,
            removed,
            skipped,
        } => (objects, skipped + removed.len()),
        other => panic!("expected objects, got {other:?}"),
    }
}

pub(super) fn single(body: &str) -> ObjectCreated {
    let (mut objects, skipped) = objects(body);
    assert_eq!(skipped, 0);
    assert_eq!(objects.len(), 1);
    objects.remove(0)
}

/// A minimal S3 event with one record built from `record` (a JSON object).
pub(super) fn s3_event(record: Value) -> String {
    serde_json::json!({ "Records": [record] }).to_string()
}

pub(super) fn put_record() -> Value {
    serde_json::json!({
        "eventVersion": "2.1",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": { "name": "b" },
            "object": { "key": "k", "size": 1, "eTag": "e" }
        }
    })
}

pub(super) fn with(mut record: Value, pointer: &str, value: Value) -> Value {
    *record.pointer_mut(pointer).unwrap() = value;
    record
}

pub(super) fn without(mut record: Value, parent: &str, field: &str) -> Value {
    record
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(field);
    record
}

#[test]
fn test_events_plain_and_sns_wrapped() {
    assert_eq!(
        decode(fixture!("s3_test_event")).unwrap(),
        Notification::Test
    );
    assert_eq!(
        decode(fixture!("sns_wrapped_test_event")).unwrap(),
        Notification::Test
    );
}

#[test]
fn not_json_is_rejected() {
    let err = decode(fixture!("malformed_not_json")).unwrap_err();
    assert!(matches!(err, DecodeError::NotJson(_)), "{err:?}");
    assert!(err.to_string().starts_with("not JSON: "), "{err}");
}

#[test]
fn unknown_shapes_are_rejected_with_a_hint() {
    for body in [r#"{"hello":"world"}"#, "[1,2]", "42", "null", "{}"] {
        let err = decode(body).unwrap_err();
        assert!(
            matches!(err, DecodeError::UnrecognisedShape { .. }),
            "{body}"
        );
        assert!(err.to_string().starts_with(
            "unrecognised message shape: expected an S3 event, an SNS notification or an EventBridge event"
        ));
    }
    let err = decode(r#"{"hello":"world"}"#).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("found a JSON object with fields hello"),
        "{err}"
    );
}

#[test]
fn decode_key_cases() {
    let cases = [
        ("plain/key.txt", "plain/key.txt"),
        ("a+b", "a b"),
        ("a%2Bb", "a+b"),
        ("a%20b", "a b"),
        ("%2F", "/"),
        ("%2525", "%25"),
        ("%C3%A9", "é"),
        ("%c3%a9", "é"),
        ("100%", "100%"),
        ("a%zzb", "a%zzb"),
        ("", ""),
    ];
    for (raw, expected) in cases {
        assert_eq!(decode_key(raw).unwrap(), expected, "raw {raw:?}");
    }
}

#[test]
fn decode_key_rejects_invalid_utf8() {
    let err = decode_key("x%FFy").unwrap_err();
    assert!(matches!(&err, DecodeError::InvalidKey { raw } if raw == "x%FFy"));
    assert_eq!(
        err.to_string(),
        "object key \"x%FFy\" is not valid UTF-8 after percent-decoding"
    );
}

// --- sequencer -------------------------------------------------------------------------

fn seq(s: &str) -> Sequencer {
    Sequencer::new(s)
}

#[test]
fn sequencer_orders_same_length_values() {
    assert!(seq("0055AED6DCD90281E5") < seq("0055AED6DCD90281E6"));
    assert!(seq("0055AED6DCD90281E6") > seq("0055AED6DCD90281E5"));
    assert!(seq("0055AED6DCD90281E9") < seq("0055AED6DCD90281EA"));
}

#[test]
fn sequencer_pads_the_shorter_value_with_zeros() {
    assert_eq!(seq("0A"), seq("0A00"));
    assert_eq!(seq("0A").cmp(&seq("0A00")), Ordering::Equal);
    assert!(seq("0B") > seq("0A0F"));
    assert!(seq("0A") < seq("0A01"));
    // As integers 0x0A0F > 0xB, but S3's ordering is by padded string, not by value.
    assert!(seq("0A0F") < seq("0B"));
}

#[test]
fn sequencer_handles_values_longer_than_64_bits() {
    let older = seq("0064D3901D000592420000000000000001");
    let newer = seq("0064D3901D000592420000000000000002");
    assert!(older < newer);
    assert!(seq("0064D3901D00059242") < newer);
    assert_eq!(
        seq("0064D3901D00059242"),
        seq("0064D3901D000592420000000000000000")
    );
}

#[test]
fn sequencer_ignores_hex_case_in_order_eq_and_hash() {
    assert_eq!(seq("617f08299329d189"), seq("617F08299329D189"));
    assert!(seq("617f08299329d189") < seq("617F08299329D18A"));
    let set: HashSet<Sequencer> = ["0a", "0A00", "0a0", "0B"].into_iter().map(seq).collect();
    assert_eq!(set.len(), 2);
}

#[test]
fn sequencer_sorts_a_batch() {
    let mut batch = [
        seq("0B"),
        seq("0A01"),
        seq("0A"),
        seq("00FFFFFFFFFFFFFFFFFF"),
    ];
    batch.sort();
    let sorted: Vec<&str> = batch.iter().map(Sequencer::as_str).collect();
    assert_eq!(sorted, ["00FFFFFFFFFFFFFFFFFF", "0A", "0A01", "0B"]);
}

// --- serialization ---------------------------------------------------------------------

#[test]
fn object_serializes_as_the_completion_source() {
    let object = single(fixture!("s3_versioned_put"));
    let json = serde_json::to_value(&object).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "bucket": "versioned-source",
            "key": "events/2026/11/21/batch-0001.json.gz",
            "region": "us-west-2",
            "version_id": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
            "etag": "e7ab36b6e3a3b2d1c9b6e0f2c4d8a1b3",
            "size": 73421,
            "sequencer": "00673F0A1B2C3D4E5F",
            "event_time": "2026-11-21T10:15:30.500Z",
            "event_name": "ObjectCreated:Put"
        })
    );
}

#[test]
fn event_time_serializes_with_fixed_millisecond_width() {
    let mut object = single(fixture!("eventbridge_object_created"));
    assert_eq!(
        serde_json::to_value(&object).unwrap()["event_time"],
        "2026-11-21T12:00:00.000Z"
    );
    object.event_time = datetime!(2026-11-21 14:00:00.123456 +02:00);
    assert_eq!(
        serde_json::to_value(&object).unwrap()["event_time"],
        "2026-11-21T12:00:00.123Z"
    );
}
