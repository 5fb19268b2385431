//! An event whose source object does not exist, on the in-memory fakes: acknowledged (a
//! redelivery cannot make it appear) but never silently. An overwritten source stays a silent,
//! counted supersession.

use s3_replicator::metrics::EVENTS;

use s3_replicator::pipeline::Verdict;
use s3_replicator::queue::Message;
use s3_replicator::testkit::memory::StoredObject;

use super::world;

fn message(id: &str, key_encoded: &str, etag: &str) -> Message {
    super::message(id, vec![super::record(key_encoded, etag)])
}

#[tokio::test]
async fn a_missing_source_is_acknowledged_with_a_source_missing_alert() {
    let world = world();
    // Deleted after its event, or never under this key: the bucket has no such object.
    let verdict = world
        .pipeline
        .handle(&message("m1", "in/gone", "0123456789abcdef"))
        .await;
    assert_eq!(
        verdict,
        Verdict::Delete,
        "a redelivery cannot make it appear"
    );
    assert!(
        world.publisher.completions().is_empty(),
        "nothing announced"
    );
    let alerts = world.publisher.alerts();
    assert_eq!(alerts.len(), 1, "never silent");
    assert_eq!(alerts[0].kind.as_str(), "source_missing");
    assert_eq!(alerts[0].rule.as_deref(), Some("all"));
    assert_eq!(
        alerts[0].source.as_ref().map(|s| s.key.as_str()),
        Some("in/gone")
    );
    assert_eq!(alerts[0].message_id.as_deref(), Some("m1"));
    assert!(
        alerts[0].action.contains("key encoding"),
        "{}",
        alerts[0].action
    );
    assert!(
        alerts[0].action.contains("deleted after the event"),
        "{}",
        alerts[0].action
    );
    let metrics = world.pipeline.metrics();
    assert_eq!(metrics.counter(EVENTS, &["superseded"]), 0);
    assert_eq!(metrics.counter(EVENTS, &["source_missing"]), 1);
    assert_eq!(
        world
            .pipeline
            .metrics()
            .counter(s3_replicator::metrics::SOURCE_MISSING, &["all"]),
        1
    );
}

#[tokio::test]
async fn a_wrongly_decoded_key_is_a_missing_source_not_a_silent_supersession() {
    let world = world();
    // The object's real key has a literal '+'; an event with a bare '+' means a space.
    let etag = world
        .store
        .put("lake", "in/a+b", b"abc", StoredObject::default());
    let verdict = world.pipeline.handle(&message("m2", "in/a+b", &etag)).await;
    assert_eq!(verdict, Verdict::Delete);
    let alerts = world.publisher.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind.as_str(), "source_missing");
    assert_eq!(
        alerts[0].source.as_ref().map(|s| s.key.as_str()),
        Some("in/a b"),
        "the alert names the key that was looked for"
    );
}

#[tokio::test]
async fn an_overwritten_source_stays_a_silent_counted_supersession() {
    let world = world();
    let old = world
        .store
        .put("lake", "in/x", b"old", StoredObject::default());
    world
        .store
        .put("lake", "in/x", b"new", StoredObject::default());
    let verdict = world.pipeline.handle(&message("m3", "in/x", &old)).await;
    assert_eq!(verdict, Verdict::Delete);
    assert!(
        world.publisher.alerts().is_empty(),
        "an overwrite is no alert"
    );
    assert!(world.publisher.completions().is_empty());
    assert_eq!(world.pipeline.metrics().counter(EVENTS, &["superseded"]), 1);
}
