//! Units in configuration values: byte sizes (`"64 MiB"`, `"512 KB"`, integers of bytes) and
//! durations (`"15m"`, `"1h 30m"`, integers of seconds). Part of [`crate::config`]: the types
//! of [`super::schema`] and [`super::timeouts`] deserialize through them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Human byte size: accepts "64 MiB", "5MiB", "1.5 GiB", "512 KB" (SI: KB = 1000, MB, GB, TB,
/// PB, EB; IEC: KiB = 1024, MiB, GiB, TiB, PiB, EiB; units are case-insensitive), "0", "17 B",
/// and plain integers as bytes (in TOML as an integer or a string). A fraction must come out as
/// a whole number of bytes. Displays as the shortest exact IEC form ("64 MiB", "1536 KiB",
/// "17 B").
///
/// Parsed here rather than by the `bytesize` crate (2.7), which agrees on the units but computes
/// fractions in `f64` and truncates ("1.001 KB" is 1000 bytes there, "1.5 B" is 1), saturates
/// instead of failing ("16 EiB" is 16 EiB − 1 B), takes "64m" as 64,000,000 bytes, and displays
/// rounded values ("1.5 MiB" for 1536 KiB + 1 B). Sizes here are exact or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` KiB.
    pub const fn kib(n: u64) -> Self {
        ByteSize(n * 1024)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    /// `n` GiB.
    pub const fn gib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024 * 1024)
    }

    /// The number of bytes.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

const IEC_UNITS: [(&str, u64); 6] = [
    ("EiB", 1 << 60),
    ("PiB", 1 << 50),
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
];

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n != 0 {
            for (unit, size) in IEC_UNITS {
                if n.is_multiple_of(size) {
                    return write!(f, "{} {unit}", n / size);
                }
            }
        }
        write!(f, "{n} B")
    }
}

/// Why a byte size could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid byte size {input:?}: {reason}")]
pub struct ParseByteSizeError {
    input: String,
    reason: String,
}

impl ParseByteSizeError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        Self {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

const UNIT_HELP: &str =
    "use B, KB, MB, GB, TB, PB, EB (powers of 1000) or KiB, MiB, GiB, TiB, PiB, EiB (powers of 1024)";

fn unit_multiplier(unit: &str) -> Option<u64> {
    let m = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        "eb" => 1_000_000_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "pib" => 1 << 50,
        "eib" => 1 << 60,
        _ => return None,
    };
    Some(m)
}

impl FromStr for ByteSize {
    type Err = ParseByteSizeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ParseByteSizeError::new(input, reason);
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty; expected a size such as \"64 MiB\""));
        }
        if s.starts_with('-') {
            return Err(err("sizes cannot be negative"));
        }
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, unit) = (&s[..split], s[split..].trim());
        if number.is_empty() {
            return Err(err(
                "expected a number followed by a unit, such as \"64 MiB\"",
            ));
        }
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() || frac.contains('.') || (number.contains('.') && frac.is_empty()) {
            return Err(err(
                "not a number; expected e.g. \"64\" or \"1.5\" followed by a unit",
            ));
        }
        let multiplier = unit_multiplier(unit)
            .ok_or_else(|| err(&format!("unknown unit {unit:?}; {UNIT_HELP}")))?;

        let too_large = || err("too large; the maximum is 18446744073709551615 B (16 EiB - 1 B)");
        // 10^20 > u64::MAX: more integer digits than that (after leading zeros) cannot fit.
        let int = int.trim_start_matches('0');
        if int.len() > 20 {
            return Err(too_large());
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| too_large())?
        };
        let frac = frac.trim_end_matches('0');
        if frac.len() > 19 {
            return Err(err("too many decimal places"));
        }
        let frac_value: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| err("not a number"))?
        };
        let denominator = 10u128.pow(frac.len() as u32);
        // Both products fit: 10^20 · 2^60 < 2^128.
        let frac_bytes = frac_value * u128::from(multiplier);
        if !frac_bytes.is_multiple_of(denominator) {
            return Err(err("not a whole number of bytes"));
        }
        let total = int * u128::from(multiplier) + frac_bytes / denominator;
        u64::try_from(total).map(ByteSize).map_err(|_| too_large())
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a byte size such as \"64 MiB\" or \"512 KB\", or an integer number of bytes",
                )
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Durations

/// What a duration key accepts, for error messages.
const DURATION_HELP: &str =
    "expected whole seconds (900) or a duration such as \"15m\", \"90s\", \"1h 30m\"";

/// Parses a duration given as text into whole seconds: digits alone are seconds (`"900"`),
/// anything else is [`humantime`]'s syntax (`"15m"`, `"90s"`, `"1h 30m"`, `"2h15m"`, `"1d"`;
/// units `s`, `m`, `h`, `d`, `w` and their long forms, `ms`/`us`/`ns`, `M` for 30.44 days,
/// `y` for 365.25 days). The total must be a whole number of seconds. Fractions (`"1.5h"`) are
/// refused: humantime rounds some of them down silently (`"0.001h"` to 3 s).
pub(super) fn parse_secs(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let invalid = |reason: &dyn fmt::Display| {
        format!("invalid duration {input:?}: {reason}; {DURATION_HELP}")
    };
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs);
    }
    if s.contains('.') {
        return Err(invalid(
            &"fractions are not accepted (write \"1h 30m\", not \"1.5h\")",
        ));
    }
    let duration = humantime::parse_duration(s).map_err(|e| invalid(&e))?;
    if duration.subsec_nanos() != 0 {
        return Err(invalid(&"not a whole number of seconds"));
    }
    Ok(duration.as_secs())
}

/// The integer types of the duration keys: `u64`, and `i32` for the two SQS settings whose
/// API type it is.
pub(super) trait Seconds: TryFrom<i128> + fmt::Display {
    /// The most seconds the type holds.
    const MAX: Self;
}

impl Seconds for u64 {
    const MAX: Self = u64::MAX;
}

impl Seconds for i32 {
    const MAX: Self = i32::MAX;
}

/// `deserialize_with` for the duration keys (`…_secs`): an integer keeps its meaning (seconds),
/// a string goes through [`parse_secs`]. Deserializes into the field's integer type; a value out
/// of its range is an error naming the value (never wrapped or saturated).
pub(super) fn secs<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Seconds,
{
    use serde::de::{Error as _, Unexpected};

    struct Visitor;

    impl serde::de::Visitor<'_> for Visitor {
        type Value = i128;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(DURATION_HELP.trim_start_matches("expected "))
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i128, E> {
            Ok(i128::from(v))
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i128, E> {
            Ok(i128::from(v))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<i128, E> {
            parse_secs(v).map(i128::from).map_err(E::custom)
        }
    }

    let value = deserializer.deserialize_any(Visitor)?;
    T::try_from(value).map_err(|_| match (i64::try_from(value), u64::try_from(value)) {
        (Ok(v), _) if v < 0 => {
            D::Error::invalid_value(Unexpected::Signed(v), &"a number of seconds, not negative")
        }
        (_, Ok(v)) => D::Error::invalid_value(
            Unexpected::Unsigned(v),
            &format!("at most {} seconds", T::MAX).as_str(),
        ),
        // The visitor only yields values of an i64 or a u64.
        _ => D::Error::custom(format!("{value} seconds is out of range")),
    })
}

/// `deserialize_with` for an optional duration key: present means [`secs`].
pub(super) fn opt_secs<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    secs(deserializer).map(Some)
}
