//! The deadline of one message (`timeouts.message_deadline_secs`), on in-memory fakes with
//! tokio's paused clock: a message whose handling never ends is cancelled when its deadline
//! passes, handed back for a retry (never deleted), alerted, and its heartbeat stops.

use std::sync::Arc;
use std::time::Duration;

use s3_replicator::config::RuleConfig;
use s3_replicator::daemon::{retry_delay, run_with_deadline, MessageDeadline};
use s3_replicator::event::{decode, Notification, PartitionRecheck};
use s3_replicator::publish::AlertKind;
use s3_replicator::testkit::memory::StoredObject;
use s3_replicator::testkit::queue::MemoryQueue;
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(600);

#[tokio::test(start_paused = true)]
async fn a_message_past_its_deadline_is_handed_back_alerted_and_its_heartbeat_stops() {
    overrun(false).await;
}

/// A re-check message (here of a held table object) that overruns: the alert names the object
/// it carries, not only the message (found by the simulation, seed 75: a held commit's
/// re-checks dead-lettered with alerts that named no object).
#[tokio::test(start_paused = true)]
async fn a_re_check_past_its_deadline_is_alerted_naming_its_object() {
    overrun(true).await;
}

async fn overrun(recheck: bool) {
    let world = super::world_with(RuleConfig {
        name: "all".into(),
        source_bucket: "lake".into(),
        targets: vec!["eu".into()],
        ..Default::default()
    });
    let (store, publisher, pipeline) = (world.store, world.publisher, world.pipeline);
    // Copies into `eu` never finish: a request that stalls before its response.
    store.stall("eu");
    let queue = MemoryQueue::default();
    let etag = store.put("lake", "in/a.csv", b"abc", StoredObject::default());
    let body = super::event_body("in/a.csv", &etag);
    let body = if recheck {
        let Ok(Notification::Objects { mut objects, .. }) = decode(&body) else {
            panic!("an event");
        };
        PartitionRecheck {
            rule: "all".into(),
            marker: objects.remove(0),
            first_seen: time::OffsetDateTime::now_utc(),
            checks: 1,
            alerted: false,
            table: true,
        }
        .to_body()
    } else {
        body
    };
    let id = queue.send(&body);
    let handle = format!("{id}-r1");
    let settings = super::settings();
    let deadline = MessageDeadline {
        after: DEADLINE,
        alert_window: Duration::ZERO,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let daemon = tokio::spawn(run_with_deadline(
        Arc::new(queue.clone()),
        Arc::clone(&pipeline),
        settings,
        deadline,
        async {
            let _ = stopped.await;
        },
    ));

    // Handed back with the retry delay of a first delivery, polled in virtual time; an hour of
    // it without a hand-back means the handler still hangs.
    let retry = retry_delay(1).as_secs() as i32;
    let handed_back = tokio::time::timeout(Duration::from_secs(3_600), async {
        while !queue
            .visibility_changes()
            .contains(&(handle.clone(), retry))
        {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    assert!(
        handed_back.is_ok(),
        "the stalled message was not handed back within an hour ({} heartbeat extensions)",
        queue.visibility_changes().len()
    );
    let took = started.elapsed();
    assert!(
        took >= DEADLINE && took < DEADLINE + Duration::from_secs(30),
        "handed back after {took:?}, not at its deadline"
    );
    assert!(queue.deleted().is_empty(), "never deleted");

    // The alert names the message and the object.
    let alerts = publisher.alerts();
    let overran: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::DeadlineExceeded)
        .collect();
    assert_eq!(overran.len(), 1, "{alerts:?}");
    assert_eq!(overran[0].message_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        overran[0].source.as_ref().map(|s| s.key.as_str()),
        Some("in/a.csv")
    );
    assert!(overran[0].error.contains("600 s"), "{}", overran[0].error);

    // The heartbeat stopped with the handler: nothing extends that delivery any more (the
    // message itself comes back after the retry delay, and its next delivery has a new handle).
    let of_first_delivery = || {
        queue
            .visibility_changes()
            .iter()
            .filter(|(h, _)| *h == handle)
            .count()
    };
    let changes = of_first_delivery();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        of_first_delivery(),
        changes,
        "{:?}",
        queue.visibility_changes()
    );

    let _ = stop.send(());
    daemon.await.expect("daemon");
    assert!(queue.deleted().is_empty(), "never deleted");
}
