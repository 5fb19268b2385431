//! What to do about a failure.
//!
//! SDK errors are translated once, in the adapters, into errors that carry a [`Disposition`].
//! The pipeline decides on the disposition alone and never looks at SDK error types.

use std::fmt;

/// What the pipeline does with a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Worth trying again: throttling, 5xx, timeouts, dropped connections, expired credentials.
    Retry,
    /// Will not succeed by itself (missing bucket, access denied, malformed input): a person must act.
    /// The message is alerted on and left for the queue's redrive policy to dead-letter.
    Fail,
    /// Nothing to do: the work is obsolete (the source was overwritten or deleted since the event).
    Ignore,
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Disposition::Retry => "retry",
            Disposition::Fail => "fail",
            Disposition::Ignore => "ignore",
        })
    }
}

/// Shortens `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
///
/// Used wherever foreign text (message bodies, error messages) goes into alerts or logs,
/// whose sizes are limited (SNS subjects, email bodies).
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let budget = max.saturating_sub('…'.len_utf8());
    let mut end = budget;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_short_text_and_cuts_on_char_boundaries() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdef", 5), "ab…");
        // 'é' is two bytes: the cut must not split it.
        let cut = truncate("ééééé", 6);
        assert!(cut.len() <= 6, "{cut}");
        assert_eq!(cut, "é…");
    }
}
