//! The description `check-config` prints.

use super::*;

#[test]
fn describe_resolves_rules_and_targets() {
    let config = load_text(EXAMPLE).unwrap();
    let text = config.describe();
    for needle in [
            "url:                     https://sqs.us-east-1.amazonaws.com/111111111111/replication-events",
            "completion:              arn:aws:sns:us-east-1:111111111111:replication-completed",
            "part_size:               64 MiB",
            "Rules (1)",
            "  curated\n    source bucket: data-lake-curated\n    prefix:        \"curated/\"\n    suffix:        (any)",
            "analytics-eu -> s3://analytics-eu-west-1/<source key>",
            "role:          arn:aws:iam::222222222222:role/replication-writer",
            "copy mode:     auto",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    assert!(!text.contains("Targets used by no rule"), "{text}");
    assert_eq!(text, config.describe(), "stable");

    let mut broken = config.clone();
    broken.rules[0].targets.push("ghost".into());
    assert!(broken.describe().contains("ghost  (NOT DEFINED)"));
}
