#![warn(missing_docs)]
//! The stable hash of a document id, and the shard it falls in.
//!
//! **Encoding.** A document id (the value of the index's primary key) is a JSON integer or a
//! JSON string. Meilisearch stores every id as a string, turning an integer into its decimal
//! form (`Display` of the `u64`/`i64`: no sign, no leading zeros, `-` for negatives), so the
//! integer `1` and the string `"1"` are the *same* document and must land on the same shard.
//! The hashed bytes are therefore the UTF-8 bytes of that canonical string ([`canonical_id`]);
//! the JSON type of the value never enters the hash. Characters are not validated here: the
//! document rules (allowed characters, 511 bytes) are checked before an id gets this far.
//!
//! **Hash.** XXH3-64 with the fixed seed [`HASH_SEED`] (the bytes of `"miroir"` followed by a
//! version `0x0001`). XXH3 is a published, fully specified algorithm with identical output on
//! every platform, endianness, compiler and release, and it is fast on short keys. `std`'s
//! `DefaultHasher` (SipHash with an unspecified algorithm and keys) must never be used: its
//! output may change between Rust releases, and a changed hash silently puts every existing
//! document on the wrong shard. Golden-value tests pin the encoding and the seed.
//!
//! **Shard.** With `S = 2^k` shards, a document's shard is the *high* `k` bits of its hash,
//! `hash >> (64 - k)` ([`shard_of`]). Doubling `S` then splits shard `s` exactly into shards
//! `2s` and `2s + 1` (one more bit of the same hash), so online resharding can move documents
//! shard by shard without re-hashing an index.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::Error;

/// The seed of every document-id hash: `"miroir"` in ASCII, then the encoding version `0x0001`.
///
/// Changing it (or the encoding) moves almost every document to another shard: never do it for
/// existing indexes.
pub const HASH_SEED: u64 = 0x6d69_726f_6972_0001;

/// The stable 64-bit hash of a canonical document id (see [`canonical_id`]): XXH3-64 of its
/// UTF-8 bytes with [`HASH_SEED`].
pub fn document_id_hash(canonical_id: &str) -> u64 {
    xxh3_64_with_seed(canonical_id.as_bytes(), HASH_SEED)
}

/// The canonical string form of a document id value, the form Meilisearch stores: a string as
/// it is, an integer in decimal (`-` for negatives). `None` for every other JSON value (floats,
/// booleans, null, arrays, objects), which Meilisearch rejects as an id.
///
/// The characters of a string are not validated here.
pub fn canonical_id(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        // Same test as Meilisearch (`!number.is_f64()`): any `u64` or `i64`.
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// The number of virtual shards of an index: a power of two from 1 to [`ShardCount::MAX`].
///
/// Fixed when the index is created. A power of two so that a shard is a prefix of the hash
/// (see [`shard_of`]) and doubling the count splits every shard in two. Serialized as a plain
/// integer, and validated when deserialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct ShardCount(u32);

impl ShardCount {
    /// The largest shard count, 65536 (2^16): a shard number always fits in 16 bits.
    pub const MAX: u32 = 1 << 16;

    /// The default shard count of a new index (see the architecture's data model).
    pub const DEFAULT: ShardCount = ShardCount(64);

    /// Validates a shard count: a power of two in `1..=65536`, else
    /// [`Error::InvalidShardCount`].
    pub fn new(count: u32) -> Result<ShardCount, Error> {
        if count.is_power_of_two() && count <= Self::MAX {
            Ok(ShardCount(count))
        } else {
            Err(Error::InvalidShardCount(u64::from(count)))
        }
    }

    /// The number of shards.
    pub fn get(self) -> u32 {
        self.0
    }

    /// `log2` of the count: how many high bits of a hash select the shard (0 to 16).
    pub fn bits(self) -> u32 {
        self.0.trailing_zeros()
    }

    /// Every shard number, `0..count`.
    pub fn shards(self) -> std::ops::Range<u32> {
        0..self.0
    }
}

impl TryFrom<u32> for ShardCount {
    type Error = Error;

    fn try_from(count: u32) -> Result<ShardCount, Error> {
        ShardCount::new(count)
    }
}

impl From<ShardCount> for u32 {
    fn from(count: ShardCount) -> u32 {
        count.0
    }
}

impl fmt::Display for ShardCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The shard of a hash: its `log2(count)` high bits, so always `< count` (0 when `count` is 1).
///
/// High bits rather than a modulo: with twice the shards, shard `s` becomes exactly `2s` and
/// `2s + 1`.
pub fn shard_of(hash: u64, count: ShardCount) -> u32 {
    match count.bits() {
        0 => 0,
        // At most 16 bits remain after the shift, so the cast is lossless.
        bits => (hash >> (64 - bits)) as u32,
    }
}

/// The shard of a canonical document id: [`shard_of`] of [`document_id_hash`].
pub fn shard_of_id(canonical_id: &str, count: ShardCount) -> u32 {
    shard_of(document_id_hash(canonical_id), count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn count(c: u32) -> ShardCount {
        ShardCount::new(c).unwrap()
    }

    #[test]
    fn golden_values() {
        // Pinned: if this fails, the encoding or the seed changed, and every document of every
        // existing index would move to another shard.
        let cases = [
            // (canonical id, hash, shard of 16, shard of 64)
            ("1", 0x1759_4e21_4406_5dd0_u64, 1, 5),
            ("42", 0x808c_f0d8_9468_082e, 8, 32),
            ("movie-7", 0xd2cc_1bf6_9db7_9e68, 13, 52),
            ("é", 0x27dd_1c3f_1241_e4c2, 2, 9),
        ];
        for (id, hash, shard16, shard64) in cases {
            assert_eq!(document_id_hash(id), hash, "hash of {id:?}");
            assert_eq!(shard_of(hash, count(16)), shard16, "shard/16 of {id:?}");
            assert_eq!(shard_of(hash, count(64)), shard64, "shard/64 of {id:?}");
            assert_eq!(shard_of_id(id, count(64)), shard64, "shard/64 of {id:?}");
        }
    }

    #[test]
    fn integers_and_strings_are_the_same_id() {
        assert_eq!(canonical_id(&json!(1)).as_deref(), Some("1"));
        assert_eq!(canonical_id(&json!("1")).as_deref(), Some("1"));
        assert_eq!(
            canonical_id(&json!(1)).map(|id| document_id_hash(&id)),
            canonical_id(&json!("1")).map(|id| document_id_hash(&id)),
        );
        assert_eq!(canonical_id(&json!(0)).as_deref(), Some("0"));
        assert_eq!(canonical_id(&json!(-12)).as_deref(), Some("-12"));
        assert_eq!(
            canonical_id(&json!(u64::MAX)).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            canonical_id(&json!(i64::MIN)).as_deref(),
            Some("-9223372036854775808")
        );
        // Parsed from text, as payloads are: no sign or exponent survives for integers.
        let parsed: Value = serde_json::from_str("[7, -7, 7.0, -0]").unwrap();
        let ids: Vec<Option<String>> = parsed
            .as_array()
            .unwrap()
            .iter()
            .map(|v| canonical_id(v).map(Cow::into_owned))
            .collect();
        assert_eq!(ids, [Some("7".into()), Some("-7".into()), None, None]);
    }

    #[test]
    fn other_values_have_no_canonical_id() {
        for value in [
            json!(1.5),
            json!(null),
            json!(true),
            json!([1]),
            json!({"id": 1}),
        ] {
            assert_eq!(canonical_id(&value), None, "{value}");
        }
        // Strings are not validated here.
        assert_eq!(canonical_id(&json!("a b/é")).as_deref(), Some("a b/é"));
        assert_eq!(canonical_id(&json!("")).as_deref(), Some(""));
    }

    #[test]
    fn shard_counts() {
        for bad in [0, 3, 48, 65535, 1 << 17, u32::MAX] {
            assert_eq!(
                ShardCount::new(bad),
                Err(Error::InvalidShardCount(u64::from(bad)))
            );
        }
        for bits in 0..=16 {
            let c = ShardCount::new(1 << bits).unwrap();
            assert_eq!(c.bits(), bits);
            assert_eq!(c.get(), 1 << bits);
            assert_eq!(c.shards().len(), 1 << bits);
        }
        assert_eq!(ShardCount::DEFAULT.get(), 64);
        assert_eq!(count(256).to_string(), "256");
        assert!(ShardCount::new(7)
            .unwrap_err()
            .to_string()
            .contains("power of two"));
    }

    #[test]
    fn shard_count_serde() {
        assert_eq!(serde_json::to_string(&count(64)).unwrap(), "64");
        assert_eq!(
            serde_json::from_str::<ShardCount>("128").unwrap(),
            count(128)
        );
        assert!(serde_json::from_str::<ShardCount>("100").is_err());
        assert!(serde_json::from_str::<ShardCount>("0").is_err());
    }

    #[test]
    fn shard_edges() {
        assert_eq!(shard_of(u64::MAX, count(1)), 0);
        assert_eq!(shard_of(u64::MAX, count(16)), 15);
        assert_eq!(shard_of(u64::MAX, count(65536)), 65535);
        assert_eq!(shard_of(0, count(65536)), 0);
        assert_eq!(shard_of(0x1000_0000_0000_0000, count(16)), 1);
        assert_eq!(shard_of(0x0fff_ffff_ffff_ffff, count(16)), 0);
        assert_eq!(shard_of(0x8000_0000_0000_0000, count(2)), 1);
    }

    #[test]
    fn shards_are_even() {
        // 16384 sequential integer ids over 64 shards: 256 expected per shard, standard
        // deviation about 16; the bound is 5 deviations, deterministic since the hash is.
        let mut held = [0u32; 64];
        for id in 0..16384u32 {
            held[shard_of_id(&id.to_string(), count(64)) as usize] += 1;
        }
        for (shard, n) in held.iter().enumerate() {
            assert!((176..=336).contains(n), "shard {shard} holds {n}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn doubling_splits_each_shard_in_two(hash in any::<u64>(), bits in 0u32..16) {
            let shard = shard_of(hash, count(1 << bits));
            let child = shard_of(hash, count(1 << (bits + 1)));
            prop_assert!(child == 2 * shard || child == 2 * shard + 1);
            prop_assert_eq!(child / 2, shard);
        }

        #[test]
        fn doubling_splits_ids_too(id in "[a-zA-Z0-9_-]{1,40}", bits in 0u32..16) {
            let hash = document_id_hash(&id);
            prop_assert_eq!(shard_of(hash, count(1 << (bits + 1))) / 2, shard_of(hash, count(1 << bits)));
        }

        #[test]
        fn shard_in_range(id in ".{0,40}", bits in 0u32..17) {
            let c = count(1 << bits);
            prop_assert!(shard_of_id(&id, c) < c.get());
        }

        #[test]
        fn integer_ids_hash_as_their_string(n in any::<i64>(), m in any::<u64>()) {
            let from_int = canonical_id(&json!(n)).map(|id| document_id_hash(&id));
            prop_assert_eq!(from_int, Some(document_id_hash(&n.to_string())));
            let from_str = canonical_id(&json!(m.to_string())).map(|id| document_id_hash(&id));
            prop_assert_eq!(canonical_id(&json!(m)).map(|id| document_id_hash(&id)), from_str);
        }
    }
}
