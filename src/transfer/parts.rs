//! How an object is cut into parts: S3 allows at most 10,000 parts of 5 MiB to 5 GiB each
//! (the last one may be smaller), so the part size must grow with the object.

use std::ops::Range;

const MIB: u64 = 1024 * 1024;
/// Smallest part S3 accepts (except the last one).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// Largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;
/// The largest object a multipart upload can produce: 10,000 parts of 5 GiB, about 48.8 TiB,
/// which is also the largest object S3 stores.
pub const MAX_OBJECT_SIZE: u64 = MAX_PARTS * MAX_PART_SIZE;

/// The object is larger than any multipart upload can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the object is {size} bytes, more than the {MAX_OBJECT_SIZE} bytes (10,000 parts of 5 GiB) a multipart upload can hold")]
pub struct TooLarge {
    pub size: u64,
}

/// The part layout of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub object_size: u64,
    pub part_size: u64,
    pub parts: u32,
}

impl PartPlan {
    /// Parts of at least `configured` bytes (clamped to 5 MiB..=5 GiB), grown to whole MiB when
    /// 10,000 parts of that size could not hold the object.
    pub fn new(object_size: u64, configured: u64) -> Result<Self, TooLarge> {
        if object_size > MAX_OBJECT_SIZE {
            return Err(TooLarge { size: object_size });
        }
        let needed = object_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        let part_size = configured
            .max(needed)
            .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
            // Rounding up to whole MiB can pass 5 GiB only for objects that need exactly 5 GiB
            // parts; the clamp keeps them legal and the division below still fits 10,000.
            .max(object_size.div_ceil(MAX_PARTS));
        let parts = object_size.div_ceil(part_size).max(1);
        Ok(Self {
            object_size,
            part_size,
            parts: parts as u32,
        })
    }

    /// Part numbers (from 1) and the half-open byte range of each.
    pub fn ranges(&self) -> impl Iterator<Item = (u32, Range<u64>)> + '_ {
        (0..self.parts).map(move |i| {
            let start = u64::from(i) * self.part_size;
            let end = (start + self.part_size).min(self.object_size);
            (i + 1, start..end)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;
    const TIB: u64 = 1024 * GIB;

    fn check(plan: &PartPlan) {
        assert!(u64::from(plan.parts) <= MAX_PARTS, "{plan:?}");
        assert!(plan.part_size >= MIN_PART_SIZE, "{plan:?}");
        assert!(plan.part_size <= MAX_PART_SIZE, "{plan:?}");
        let ranges: Vec<_> = plan.ranges().collect();
        assert_eq!(ranges.len(), plan.parts as usize);
        assert_eq!(ranges[0].1.start, 0);
        assert_eq!(ranges.last().unwrap().1.end, plan.object_size);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1.end, pair[1].1.start, "contiguous");
            assert_eq!(pair[0].0 + 1, pair[1].0, "numbered from 1 without gaps");
            assert_eq!(pair[0].1.end - pair[0].1.start, plan.part_size);
        }
    }

    #[test]
    fn the_configured_size_is_kept_while_it_fits_ten_thousand_parts() {
        let plan = PartPlan::new(50 * MIB, 5 * MIB).unwrap();
        assert_eq!((plan.part_size, plan.parts), (5 * MIB, 10));
        check(&plan);
        let plan = PartPlan::new(50 * MIB + 1, 5 * MIB).unwrap();
        assert_eq!(plan.parts, 11, "a last part of one byte");
        assert_eq!(plan.ranges().last().unwrap().1, 50 * MIB..50 * MIB + 1);
        check(&plan);
        // Exactly 10,000 parts of the configured size.
        let plan = PartPlan::new(10_000 * 64 * MIB, 64 * MIB).unwrap();
        assert_eq!((plan.part_size, plan.parts), (64 * MIB, 10_000));
    }

    #[test]
    fn parts_grow_so_that_no_object_needs_more_than_ten_thousand() {
        // 1 TiB with 64 MiB parts would be 16,384 parts.
        let plan = PartPlan::new(TIB, 64 * MIB).unwrap();
        assert_eq!(plan.part_size, 105 * MIB, "whole MiB ≥ 1 TiB / 10,000");
        check(&plan);
        let plan = PartPlan::new(10_000 * 64 * MIB + 1, 64 * MIB).unwrap();
        assert_eq!(plan.part_size, 65 * MIB);
        check(&plan);
    }

    #[test]
    fn the_largest_object_uses_five_gib_parts_and_one_byte_more_is_refused() {
        let largest = MAX_OBJECT_SIZE;
        assert_eq!(largest, 10_000 * 5 * GIB);
        assert!(largest > 48 * TIB + 800 * GIB, "about 48.8 TiB");
        let plan = PartPlan::new(largest, 64 * MIB).unwrap();
        assert_eq!((plan.part_size, plan.parts), (5 * GIB, 10_000));
        check(&plan);
        // 48.8 TiB as S3 documents it.
        let documented = (48.8 * TIB as f64) as u64;
        let plan = PartPlan::new(documented, 5 * MIB).unwrap();
        check(&plan);
        assert_eq!(
            PartPlan::new(largest + 1, 64 * MIB),
            Err(TooLarge { size: largest + 1 })
        );
    }

    #[test]
    fn configured_sizes_outside_s3_limits_are_clamped() {
        assert_eq!(PartPlan::new(100 * MIB, MIB).unwrap().part_size, 5 * MIB);
        let plan = PartPlan::new(12 * GIB, 6 * GIB).unwrap();
        assert_eq!((plan.part_size, plan.parts), (5 * GIB, 3));
        check(&plan);
    }

    #[test]
    fn an_empty_object_is_one_empty_part() {
        let plan = PartPlan::new(0, 5 * MIB).unwrap();
        assert_eq!(plan.parts, 1);
        assert_eq!(plan.ranges().collect::<Vec<_>>(), [(1, 0..0)]);
    }
}
