//! Tests of the backfill against the in-memory store: what it copies, skips, counts and
//! resumes, and how its arguments are read.

use super::*;
use crate::config::TargetConfig;
use crate::replicate::Target;
use crate::testkit::memory::{MemoryStore, StoredObject};
use crate::testkit::publisher::MemoryPublisher;

fn setup() -> (MemoryStore, Replicator<MemoryStore>, RuleConfig) {
    let store = MemoryStore::new("daemon");
    for bucket in ["lake", "eu"] {
        store.create_bucket(bucket);
    }
    let target = Target {
        config: TargetConfig::new("eu", "eu", "eu-west-1"),
        store: store.clone(),
    };
    let rule = RuleConfig {
        name: "lake".into(),
        source_bucket: "lake".into(),
        prefix: Some("d/".into()),
        suffix: Some(".csv".into()),
        targets: vec!["eu".into()],
        ..Default::default()
    };
    (store.clone(), Replicator::new(store, [target]), rule)
}

#[tokio::test]
async fn copies_what_is_missing_skips_what_is_present_and_a_second_run_copies_nothing() {
    let (store, replicator, rule) = setup();
    for i in 0..10 {
        store.put(
            "lake",
            &format!("d/{i:02}.csv"),
            format!("row {i}").as_bytes(),
            StoredObject::default(),
        );
    }
    store.put("lake", "d/readme.txt", b"not csv", StoredObject::default());
    store.put(
        "lake",
        "other/x.csv",
        b"other prefix",
        StoredObject::default(),
    );
    // Two objects are already replicated.
    let options = Options {
        concurrency: 4,
        ..Options::default()
    };
    let only_two = Options {
        prefix: Some("d/0".into()),
        ..options.clone()
    };
    let first = run(
        &replicator,
        None::<&MemoryPublisher>,
        &[&rule],
        &Options {
            start_after: [("lake".to_owned(), "d/07.csv".to_owned())].into(),
            ..only_two.clone()
        },
        Arc::default(),
        std::future::pending(),
    )
    .await;
    assert_eq!(first.copied, 2, "{first:?}");

    let publisher = MemoryPublisher::default();
    let full = run(
        &replicator,
        Some(&publisher),
        &[&rule],
        &options,
        Arc::default(),
        std::future::pending(),
    )
    .await;
    assert_eq!(
        (full.listed, full.copied, full.already_present, full.failed),
        (10, 8, 2, 0),
        "{full:?}"
    );
    assert_eq!(
        full.resume_after.get("lake").map(String::as_str),
        Some("d/09.csv")
    );
    assert_eq!(publisher.completions().len(), 10);
    assert!(store.get("eu", "d/readme.txt").is_none() && store.get("eu", "other/x.csv").is_none());

    let again = run(
        &replicator,
        None::<&MemoryPublisher>,
        &[&rule],
        &options,
        Arc::default(),
        std::future::pending(),
    )
    .await;
    assert_eq!((again.copied, again.already_present), (0, 10));
}

#[tokio::test]
async fn failures_are_counted_and_named() {
    let (store, replicator, rule) = setup();
    store.put("lake", "d/a.csv", b"a", StoredObject::default());
    store.deny("eu");
    let summary = run(
        &replicator,
        None::<&MemoryPublisher>,
        &[&rule],
        &Options {
            concurrency: 1,
            ..Options::default()
        },
        Arc::default(),
        std::future::pending(),
    )
    .await;
    assert_eq!(summary.failed, 1);
    assert!(
        summary.failures[0].contains("d/a.csv") && summary.failures[0].contains("access denied"),
        "{:?}",
        summary.failures
    );
}

#[tokio::test]
async fn an_interrupted_run_of_two_rules_resumes_each_rule_where_it_stopped() {
    let store = MemoryStore::new("daemon");
    for bucket in ["lake", "eu"] {
        store.create_bucket(bucket);
    }
    let replicator = Replicator::new(
        store.clone(),
        [Target {
            config: TargetConfig::new("eu", "eu", "eu-west-1"),
            store: store.clone(),
        }],
    );
    let rule = |name: &str, prefix: &str| RuleConfig {
        name: name.into(),
        source_bucket: "lake".into(),
        prefix: Some(prefix.into()),
        targets: vec!["eu".into()],
        ..Default::default()
    };
    // The second rule's keys sort before the first rule's.
    let (later, earlier) = (rule("later", "m/"), rule("earlier", "c/"));
    for prefix in ["m", "c"] {
        for i in 1..=5 {
            let key = format!("{prefix}/{i}");
            store.put("lake", &key, key.as_bytes(), StoredObject::default());
        }
    }
    let options = Options {
        concurrency: 1,
        ..Options::default()
    };
    // Interrupted after three objects of the first rule.
    let progress = Arc::new(Progress::default());
    let first = run(
        &replicator,
        None::<&MemoryPublisher>,
        &[&later, &earlier],
        &options,
        Arc::clone(&progress),
        async {
            while progress.done.load(Ordering::Relaxed) < 3 {
                tokio::task::yield_now().await;
            }
        },
    )
    .await;
    assert!(first.interrupted, "{first:?}");
    assert_eq!(first.copied, 3, "{first:?}");

    let resumed = run(
        &replicator,
        None::<&MemoryPublisher>,
        &[&later, &earlier],
        &Options {
            start_after: first.resume_after.clone(),
            ..options
        },
        Arc::default(),
        std::future::pending(),
    )
    .await;
    assert_eq!(
        (resumed.copied, resumed.already_present),
        (7, 0),
        "the rest of the first rule and all of the second: {resumed:?}"
    );
    for prefix in ["m", "c"] {
        for i in 1..=5 {
            let key = format!("{prefix}/{i}");
            assert!(store.get("eu", &key).is_some(), "{key} not replicated");
        }
    }
}

#[test]
fn start_after_is_per_rule_and_a_plain_key_only_with_one_rule() {
    let rule = |name: &str| RuleConfig {
        name: name.into(),
        source_bucket: "lake".into(),
        targets: vec!["eu".into()],
        ..Default::default()
    };
    let all = [rule("a"), rule("b")];
    let both: Vec<&RuleConfig> = all.iter().collect();
    let values = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let parsed = parse_start_after(&values(&["a=x/1", "b=y=2"]), &all, &both).unwrap();
    assert_eq!(parsed.get("a").map(String::as_str), Some("x/1"));
    assert_eq!(parsed.get("b").map(String::as_str), Some("y=2"));

    // One rule selected: a plain key is its key, even with a '=' in it.
    let only_a = [&all[0]];
    let parsed = parse_start_after(&values(&["k=v/1"]), &all, &only_a).unwrap();
    assert_eq!(parsed.get("a").map(String::as_str), Some("k=v/1"));

    let err = parse_start_after(&values(&["x/1"]), &all, &both).unwrap_err();
    assert!(
        err.to_string().contains("RULE=KEY") && err.to_string().contains("a, b"),
        "{err}"
    );
    let err = parse_start_after(&values(&["b=x"]), &all, &only_a).unwrap_err();
    assert!(err.to_string().contains("not being backfilled"), "{err}");
    let err = parse_start_after(&values(&["a=x", "a=y"]), &all, &both).unwrap_err();
    assert!(err.to_string().contains("more than once"), "{err}");
    let err = parse_start_after(&values(&["a="]), &all, &both).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn the_resume_line_names_every_rule_and_quotes_for_the_shell() {
    let resume: BTreeMap<String, String> = [
        ("b".to_owned(), "it's/2".to_owned()),
        ("a".to_owned(), "x y/1".to_owned()),
    ]
    .into();
    assert_eq!(
        resume_arguments(&resume),
        r"--start-after 'a=x y/1' --start-after 'b=it'\''s/2'"
    );
    assert_eq!(resume_arguments(&BTreeMap::new()), "");
}

#[test]
fn an_unknown_rule_is_named_with_the_known_ones() {
    let (_, _, rule) = setup();
    let err = select_rules(&[rule], Some("nope")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no rule named \"nope\"; the rules are: lake"
    );
}
