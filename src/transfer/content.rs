//! Full-object CRC checksums computed by the daemon over the bytes it streams, for targets whose
//! ETags it does not trust (another S3 implementation: docs/design.md, "Targets beyond AWS").
//!
//! S3 keeps full-object checksums in CRC32, CRC32C and CRC64NVME; a CRC of a whole object is
//! the combination of its parts' CRCs, so parts read and written out of order still give the
//! checksum of the object without a second pass over its bytes.

use aws_smithy_types::base64;
use crc_fast::CrcAlgorithm;

use crate::store::{Checksum, ChecksumAlgorithm, ObjectHead};

/// The algorithm a streamed copy of `source` is checksummed in: the source's own full-object
/// CRC, so that the two can be compared, else CRC64NVME (what S3 gives new objects by default).
pub fn algorithm_for(source: &ObjectHead) -> ChecksumAlgorithm {
    match &source.checksum {
        Some(c) if c.full_object && crc_of(c.algorithm).is_some() => c.algorithm,
        _ => ChecksumAlgorithm::Crc64Nvme,
    }
}

fn crc_of(algorithm: ChecksumAlgorithm) -> Option<CrcAlgorithm> {
    match algorithm {
        ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
        ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
        ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
    }
}

/// The CRC of one run of bytes, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc {
    pub value: u64,
    pub len: u64,
}

/// The CRC of `bytes` in `algorithm` (a CRC algorithm: [`algorithm_for`] gives only those).
pub fn crc(algorithm: ChecksumAlgorithm, bytes: &[u8]) -> Crc {
    let value = crc_of(algorithm).map_or(0, |a| crc_fast::checksum(a, bytes));
    Crc {
        value,
        len: bytes.len() as u64,
    }
}

/// The CRC of the concatenation of `parts`, in order.
pub fn combine(algorithm: ChecksumAlgorithm, parts: impl IntoIterator<Item = Crc>) -> Crc {
    let Some(a) = crc_of(algorithm) else {
        return Crc { value: 0, len: 0 };
    };
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return crc(algorithm, &[]);
    };
    parts.fold(first, |whole, part| Crc {
        value: crc_fast::checksum_combine(a, whole.value, part.value, part.len),
        len: whole.len + part.len,
    })
}

/// `crc` as S3 writes a full-object checksum: the big-endian bytes (4 for the CRC32s, 8 for
/// CRC64NVME), base64.
pub fn full_object(algorithm: ChecksumAlgorithm, crc: Crc) -> Checksum {
    let bytes = crc.value.to_be_bytes();
    let value = match algorithm {
        ChecksumAlgorithm::Crc64Nvme => base64::encode(bytes),
        _ => base64::encode(&bytes[4..]),
    };
    Checksum {
        algorithm,
        value,
        full_object: true,
    }
}

/// The checksum of `bytes` as S3 would report it for an object of exactly these bytes.
pub fn checksum_of(algorithm: ChecksumAlgorithm, bytes: &[u8]) -> Checksum {
    full_object(algorithm, crc(algorithm, bytes))
}

/// How a checksum is recorded in a replica's metadata ([`crate::store::META_CONTENT_CHECKSUM`]):
/// `ALGORITHM:base64`.
pub fn recorded(checksum: &Checksum) -> String {
    format!("{}:{}", checksum.algorithm, checksum.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values as S3 documents and returns them for the ASCII bytes "hello" / "123456789".
    #[test]
    fn checksums_are_those_s3_reports() {
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Crc32c, b"hello").value,
            "mnG7TA=="
        );
        // The CRC-64/NVME check value of "123456789" is 0xae8b14860a799888.
        assert_eq!(
            crc(ChecksumAlgorithm::Crc64Nvme, b"123456789").value,
            0xae8b_1486_0a79_9888
        );
        // The CRC-32 (ISO-HDLC) check value.
        assert_eq!(
            crc(ChecksumAlgorithm::Crc32, b"123456789").value,
            0xcbf4_3926
        );
    }

    #[test]
    fn parts_combine_into_the_whole() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let parts = body.chunks(30_000).map(|p| crc(algorithm, p));
            assert_eq!(
                combine(algorithm, parts),
                crc(algorithm, &body),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn the_sources_crc_is_kept_and_anything_else_becomes_crc64nvme() {
        let mut head = ObjectHead::default();
        assert_eq!(algorithm_for(&head), ChecksumAlgorithm::Crc64Nvme);
        head.checksum = Some(Checksum {
            algorithm: ChecksumAlgorithm::Crc32c,
            value: "x".into(),
            full_object: true,
        });
        assert_eq!(algorithm_for(&head), ChecksumAlgorithm::Crc32c);
        head.checksum = Some(Checksum {
            algorithm: ChecksumAlgorithm::Crc32c,
            value: "x-3".into(),
            full_object: false,
        });
        assert_eq!(algorithm_for(&head), ChecksumAlgorithm::Crc64Nvme);
        head.checksum = Some(Checksum {
            algorithm: ChecksumAlgorithm::Sha256,
            value: "x".into(),
            full_object: true,
        });
        assert_eq!(algorithm_for(&head), ChecksumAlgorithm::Crc64Nvme);
    }
}
