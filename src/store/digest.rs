//! What S3 computes over an object's bytes and keys, computed here the same way: the MD5 ETags
//! of single-part and multipart objects, and the digest a replica records of its source key.
//!
//! Where it sits: below [`crate::store`] (re-exported there), used by the streamed copy
//! ([`crate::transfer`]) to know the ETag it should get, and by [`crate::replicate`] for the
//! replica's record of its source.

use super::unquote_etag;

/// Lower-case hex of a digest.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MD5 of `bytes`, hex: the ETag S3 gives a single-part object without SSE-KMS.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(bytes))
}

/// The ETag S3 gives a multipart object (without SSE-KMS) of parts with these ETags: the MD5 of
/// their binary MD5s, then `-` and the number of parts.
pub fn multipart_etag<'a>(part_etags: impl IntoIterator<Item = &'a str>) -> String {
    use md5::Digest;
    let mut digest = md5::Md5::new();
    let mut parts = 0;
    for etag in part_etags {
        let etag = unquote_etag(etag);
        let bytes: Vec<u8> = (0..etag.len() / 2)
            .filter_map(|i| u8::from_str_radix(etag.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        digest.update(&bytes);
        parts += 1;
    }
    format!("{}-{parts}", hex(&digest.finalize()))
}

/// The value of [`META_SOURCE_KEY_SHA256`](super::META_SOURCE_KEY_SHA256) for `key`.
pub fn source_key_digest(key: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_etags_are_lower_case_hex() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn a_multipart_etag_is_the_md5_of_the_parts_md5s_and_their_count() {
        let parts = [
            "5d41402abc4b2a76b9719d911017c592",
            "\"acbd18db4cc2f85cedef654fccc4a4d8\"",
        ];
        assert_eq!(multipart_etag(parts), "b15fbc55e45f971dd4d8b913200cfb12-2");
        assert_eq!(multipart_etag([]), "d41d8cd98f00b204e9800998ecf8427e-0");
    }

    #[test]
    fn the_source_key_digest_is_sha256_hex() {
        assert_eq!(
            source_key_digest("a b.txt"),
            "cd6c4a051a480e945b3d907e87ba10ce76ee2e02a29e4dac7ea0751b3d9af24d"
        );
    }
}
