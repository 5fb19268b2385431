//! Timestamps: the one place that reads and writes them.
//!
//! Read: RFC 3339 (S3 events, EventBridge, the daemon's own re-check messages) and the Unix
//! seconds moto sends in its EventBridge events, always normalised to UTC. Written: the fixed
//! millisecond form of every published timestamp (docs/design.md, "Timestamps"). Sits below
//! [`crate::event`] and [`crate::publish`], which use it; it uses nothing of the crate.

use serde::Serializer;
use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Why a text is not a timestamp; the message names the text.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{text:?} is not an RFC 3339 timestamp: {source}")]
    NotRfc3339 {
        text: String,
        source: time::error::Parse,
    },
    #[error("{text:?} is out of range in UTC")]
    OutOfRange { text: String },
}

/// Parses an RFC 3339 timestamp and converts it to UTC.
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, ParseError> {
    let parsed =
        OffsetDateTime::parse(text, &Rfc3339).map_err(|source| ParseError::NotRfc3339 {
            text: text.to_owned(),
            source,
        })?;
    parsed
        .checked_to_offset(UtcOffset::UTC)
        .ok_or_else(|| ParseError::OutOfRange {
            text: text.to_owned(),
        })
}

/// Whole seconds and the fraction are converted separately because an f64 cannot hold today's
/// Unix time in nanoseconds exactly; the fraction is rounded to microseconds, the precision
/// moto writes.
pub fn from_unix_seconds(seconds: f64) -> Option<OffsetDateTime> {
    if !seconds.is_finite() {
        return None;
    }
    let whole = seconds.floor();
    // `as` saturates; a saturated value is rejected by `from_unix_timestamp` below.
    let micros = ((seconds - whole) * 1_000_000.0).round() as i64;
    OffsetDateTime::from_unix_timestamp(whole as i64)
        .ok()?
        .checked_add(Duration::microseconds(micros))
}

/// Fixed width (always three fractional digits, always `Z`) so that timestamps in published
/// completion events sort correctly as strings, as the examples in docs/design.md
/// ("Timestamps") show them.
const MILLIS_UTC: &[BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// Formats `time` as docs/design.md's timestamps ("Timestamps"): RFC 3339, UTC, milliseconds
/// (`2026-11-21T10:00:00.412Z`).
pub fn format_millis(time: OffsetDateTime) -> Result<String, time::error::Format> {
    let utc = time
        .checked_to_offset(UtcOffset::UTC)
        .ok_or(time::error::Format::InvalidComponent("offset"))?;
    utc.format(MILLIS_UTC)
}

/// Serde adapter for [`format_millis`], shared by every published timestamp.
pub fn serialize_millis_utc<S: Serializer>(
    time: &OffsetDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let text = format_millis(*time).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn rfc3339_with_an_offset_is_normalised_to_utc() {
        let parsed = parse_rfc3339("2026-11-21T12:00:00.5+02:00").unwrap();
        assert_eq!(parsed, datetime!(2026-11-21 10:00:00.5 UTC));
        assert_eq!(parsed.offset(), UtcOffset::UTC);
    }

    #[test]
    fn a_text_that_is_not_rfc3339_is_named_in_the_error() {
        let err = parse_rfc3339("yesterday").unwrap_err();
        assert!(matches!(err, ParseError::NotRfc3339 { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("\"yesterday\" is not an RFC 3339 timestamp: "),
            "{err}"
        );
        // Valid RFC 3339, but a year past 9999 once moved to UTC.
        let err = parse_rfc3339("9999-12-31T23:59:59-01:00").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"9999-12-31T23:59:59-01:00\" is out of range in UTC"
        );
    }

    #[test]
    fn unix_seconds_keep_microseconds_and_refuse_what_is_not_a_time() {
        assert_eq!(
            from_unix_seconds(1_795_262_400.25),
            Some(datetime!(2026-11-21 12:00:00.25 UTC))
        );
        assert_eq!(
            from_unix_seconds(1_795_262_400.0000014),
            Some(datetime!(2026-11-21 12:00:00.000001 UTC))
        );
        assert_eq!(
            from_unix_seconds(-0.5),
            Some(datetime!(1969-12-31 23:59:59.5 UTC))
        );
        for nonsense in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
            assert_eq!(from_unix_seconds(nonsense), None, "{nonsense}");
        }
    }

    #[test]
    fn millis_are_fixed_width_in_utc() {
        assert_eq!(
            format_millis(datetime!(2026-11-21 10:00:00 UTC)).unwrap(),
            "2026-11-21T10:00:00.000Z"
        );
        assert_eq!(
            format_millis(datetime!(2026-11-21 14:00:00.123456 +02:00)).unwrap(),
            "2026-11-21T12:00:00.123Z"
        );
    }

    #[test]
    fn the_serde_adapter_writes_the_same_text() {
        #[derive(serde::Serialize)]
        struct At {
            #[serde(serialize_with = "serialize_millis_utc")]
            at: OffsetDateTime,
        }
        let json = serde_json::to_string(&At {
            at: datetime!(2026-11-21 10:00:00.412 UTC),
        })
        .unwrap();
        assert_eq!(json, r#"{"at":"2026-11-21T10:00:00.412Z"}"#);
    }
}
