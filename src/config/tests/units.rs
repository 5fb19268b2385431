//! Byte sizes and durations in values.

use super::*;

#[test]
fn byte_size_parses() {
    let cases: &[(&str, u64)] = &[
        ("0", 0),
        ("17", 17),
        ("17 B", 17),
        ("64 MiB", 64 << 20),
        ("5MiB", 5 << 20),
        ("1.5 GiB", 3 << 29),
        ("512 KB", 512_000),
        ("1.5 KB", 1_500),
        ("  2 gib ", 2 << 30),
        ("1 EB", 1_000_000_000_000_000_000),
        ("18446744073709551615", u64::MAX),
        ("00010 KiB", 10 << 10),
        ("2.50 MB", 2_500_000),
    ];
    for &(text, bytes) in cases {
        assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
    }
}

#[test]
fn byte_size_rejects_nonsense() {
    for text in [
        "",
        "12 parsecs",
        "-1 MiB",
        "MiB",
        "1.2.3 MiB",
        "1. MiB",
        ".5 MiB",
        "0.3 KiB",
        "1.5 B",
        "16 EiB",
        "18446744073709551616",
        "99999999999999999999999 B",
        "20 EB",
    ] {
        assert!(
            text.parse::<ByteSize>().is_err(),
            "{text:?} should not parse"
        );
    }
    let err = "12 parsecs".parse::<ByteSize>().unwrap_err().to_string();
    assert!(
        err.contains("unknown unit \"parsecs\"") && err.contains("MiB"),
        "{err}"
    );
    let err = "-1 MiB".parse::<ByteSize>().unwrap_err().to_string();
    assert!(err.contains("negative"), "{err}");
    let err = "16 EiB".parse::<ByteSize>().unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");
}

#[test]
fn byte_size_displays_shortest_exact_iec() {
    for (bytes, text) in [
        (0, "0 B"),
        (17, "17 B"),
        (1024, "1 KiB"),
        (64 << 20, "64 MiB"),
        (3 << 19, "1536 KiB"),
        (512_000, "500 KiB"),
        (1 << 60, "1 EiB"),
        (u64::MAX, "18446744073709551615 B"),
    ] {
        assert_eq!(ByteSize(bytes).to_string(), text);
    }
}

#[test]
fn byte_size_round_trips() {
    for bytes in [
        0,
        1,
        17,
        1000,
        1024,
        1536,
        3 << 19,
        5 << 20,
        5 << 30,
        1 << 62,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let size = ByteSize(bytes);
        assert_eq!(size.to_string().parse::<ByteSize>(), Ok(size), "{size}");
    }
    assert_eq!(ByteSize::mib(64).as_u64(), 64 * 1024 * 1024);
}

#[test]
fn byte_size_in_toml_as_integer_or_string_and_serializes_as_text() {
    let c = extract_text(&format!(
            "{MINIMAL}\n[copy]\nmultipart_threshold = 8388608\npart_size = \"8 MiB\"\nmax_inflight_bytes = \"1 GiB\""
        ));
    assert_eq!(c.copy.multipart_threshold, ByteSize::mib(8));
    assert_eq!(c.copy.part_size, ByteSize::mib(8));
    assert_eq!(c.copy.max_inflight_bytes, ByteSize::gib(1));

    let file = write_toml(&format!("{MINIMAL}\n[copy]\npart_size = -5"));
    let err = Config::from_figment(&Config::figment_with_env(file.path(), no_env())).unwrap_err();
    assert_eq!(fields(&err), ["copy.part_size"], "{err}");

    let value = figment::value::Value::serialize(ByteSize::mib(64)).unwrap();
    assert_eq!(value.as_str(), Some("64 MiB"));
}

#[test]
fn byte_size_fractions_are_exact_and_short_units_are_refused() {
    // Where a float-based parser (the `bytesize` crate's) is one byte short or accepts more.
    for (text, bytes) in [
        ("1.001 KB", 1_001),
        ("4.35 MB", 4_350_000),
        ("0.125 KiB", 128),
        ("1.999 GB", 1_999_000_000),
    ] {
        assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{text}");
    }
    for text in ["1.1 MiB", "64m", "64 k", "1Ki", "18446744073709551616 GiB"] {
        assert!(
            text.parse::<ByteSize>().is_err(),
            "{text:?} should not parse"
        );
    }
}
