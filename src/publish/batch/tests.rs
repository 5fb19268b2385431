use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::*;
use crate::publish::{Alert, PrefixCompletedEvent, SourceReport};

/// Records every batch it was given; fails the entries whose key starts with `bad`; holds each
/// batch until the test lets it go when gated.
#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<Vec<String>>>,
    gate: Option<Arc<Semaphore>>,
}

impl Recorder {
    fn gated() -> (Self, Arc<Semaphore>) {
        let gate = Arc::new(Semaphore::new(0));
        let recorder = Self {
            gate: Some(Arc::clone(&gate)),
            ..Self::default()
        };
        (recorder, gate)
    }

    fn batches(&self) -> Vec<Vec<String>> {
        self.batches.lock().unwrap().clone()
    }
}

impl Publisher for Recorder {
    async fn publish_completion(&self, _: &CompletionEvent) -> Result<(), PublishError> {
        unreachable!("the batcher sends batches")
    }

    async fn publish_completions(
        &self,
        events: &[CompletionEvent],
    ) -> Vec<Result<(), PublishError>> {
        let keys: Vec<String> = events.iter().map(|e| e.source.key.clone()).collect();
        self.batches.lock().unwrap().push(keys);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        events
            .iter()
            .map(|e| {
                if e.source.key.starts_with("bad") {
                    Err(PublishError {
                        topic_arn: "t".into(),
                        message: format!("refused {}", e.source.key),
                        transient: false,
                    })
                } else {
                    Ok(())
                }
            })
            .collect()
    }

    async fn publish_prefix_completed(&self, _: &PrefixCompletedEvent) -> Result<(), PublishError> {
        Ok(())
    }

    async fn publish_alert(&self, _: &Alert) -> Result<(), PublishError> {
        Ok(())
    }

    async fn publish_table_committed(
        &self,
        _: &crate::publish::TableCommittedEvent,
    ) -> Result<(), PublishError> {
        Ok(())
    }

    async fn publish_deletion(
        &self,
        _: &crate::publish::DeletionEvent,
    ) -> Result<(), PublishError> {
        Ok(())
    }
}

fn event(key: &str) -> CompletionEvent {
    CompletionEvent::new(
        "rule",
        SourceReport {
            bucket: "lake".into(),
            key: key.into(),
            region: "us-east-1".into(),
            version_id: None,
            etag: "abc".into(),
            size: 1,
            sequencer: None,
            event_time: OffsetDateTime::UNIX_EPOCH,
            restored_from: None,
        },
        vec![],
    )
}

/// Lets the runtime run every task that is ready (the clock is paused: nothing else moves).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_batcher_sends_a_completion_at_once_alone() {
    let batching = Batching::new(Recorder::default());
    let started = tokio::time::Instant::now();
    batching.publish_completion(&event("a")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO, "no waiting when idle");
    batching.publish_completion(&event("b")).await.unwrap();
    assert_eq!(batching.inner().batches(), [vec!["a"], vec!["b"]]);
}

#[tokio::test(start_paused = true)]
async fn completions_gather_while_a_batch_is_in_flight() {
    let (recorder, gate) = Recorder::gated();
    let batching = Arc::new(Batching::new(recorder));
    let mut callers = JoinSet::new();
    let publish = |key: String| {
        let batching = Arc::clone(&batching);
        async move { batching.publish_completion(&event(&key)).await }
    };
    callers.spawn(publish("first".into()));
    settle().await;
    assert_eq!(
        batching.inner().batches().len(),
        1,
        "the first goes at once"
    );
    for i in 0..14 {
        callers.spawn(publish(format!("k{i}")));
    }
    settle().await;
    // While the first is in flight: a full batch may go beside it, the rest waits.
    let batches = batching.inner().batches();
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!(batches[1].len(), BATCH_ENTRIES);
    gate.add_permits(1000);
    while let Some(result) = callers.join_next().await {
        result.unwrap().unwrap();
    }
    let batches = batching.inner().batches();
    assert_eq!(
        batches.iter().map(Vec::len).collect::<Vec<_>>(),
        [1, 10, 4],
        "{batches:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_caller_gets_its_own_entrys_result() {
    let (recorder, gate) = Recorder::gated();
    let batching = Arc::new(Batching::new(recorder));
    let mut callers = JoinSet::new();
    for key in ["first", "good-1", "bad-1", "good-2"] {
        let batching = Arc::clone(&batching);
        callers.spawn(async move { (key, batching.publish_completion(&event(key)).await) });
        settle().await;
    }
    gate.add_permits(1000);
    let mut results = Vec::new();
    while let Some(result) = callers.join_next().await {
        let (key, result) = result.unwrap();
        results.push((key, result.is_ok()));
    }
    results.sort();
    assert_eq!(
        results,
        [
            ("bad-1", false),
            ("first", true),
            ("good-1", true),
            ("good-2", true)
        ]
    );
    // The three that waited went together.
    assert_eq!(batching.inner().batches().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_batch_stays_within_sns_size_limit() {
    let (recorder, gate) = Recorder::gated();
    let batching = Arc::new(Batching::new(recorder));
    let mut callers = JoinSet::new();
    // About 60 KB each: four fit in 256 KiB.
    let big = |i: usize| format!("{i}-{}", "x".repeat(60_000));
    for i in 0..9 {
        let batching = Arc::clone(&batching);
        let key = big(i);
        callers.spawn(async move { batching.publish_completion(&event(&key)).await });
    }
    settle().await;
    gate.add_permits(1000);
    while let Some(result) = callers.join_next().await {
        result.unwrap().unwrap();
    }
    let batches = batching.inner().batches();
    assert!(batches.len() >= 3, "{}", batches.len());
    for batch in &batches {
        let bytes: usize = batch.iter().map(|key| event(key).batch_size()).sum();
        assert!(bytes <= BATCH_BYTES, "a batch of {bytes} bytes");
    }
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 9);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_callers_completion_is_not_sent() {
    let (recorder, gate) = Recorder::gated();
    let batching = Arc::new(Batching::new(recorder));
    let first = {
        let batching = Arc::clone(&batching);
        tokio::spawn(async move { batching.publish_completion(&event("first")).await })
    };
    settle().await;
    let cancelled = {
        let batching = Arc::clone(&batching);
        tokio::spawn(async move { batching.publish_completion(&event("cancelled")).await })
    };
    settle().await;
    cancelled.abort();
    let _ = cancelled.await;
    let kept = {
        let batching = Arc::clone(&batching);
        tokio::spawn(async move { batching.publish_completion(&event("kept")).await })
    };
    settle().await;
    gate.add_permits(1000);
    first.await.unwrap().unwrap();
    kept.await.unwrap().unwrap();
    assert_eq!(
        batching.inner().batches(),
        [vec!["first".to_owned()], vec!["kept".to_owned()]]
    );
}
