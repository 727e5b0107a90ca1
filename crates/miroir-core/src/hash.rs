//! The stable hash of a document id, and the shard it falls in.
//!
//! Encoding: a document id is hashed as the UTF-8 bytes of its canonical string form — the
//! string itself, or an integer in decimal (`-` for negatives). Meilisearch stores ids as
//! strings, so `1` and `"1"` are the same document and must land on the same shard.
//!
//! Hash: XXH3-64 with the fixed seed [`HASH_SEED`]. It is specified, fast and identical on every
//! platform and build (std's `DefaultHasher` is none of those: it may change between Rust
//! releases, which would silently re-shard every index). Golden values in the tests pin it.
//!
//! Shard: the hash's *high* bits, `hash >> (64 - log2(S))`, so that doubling `S` splits shard
//! `s` exactly into `2s` and `2s + 1` and resharding never needs a full re-hash.

use std::borrow::Cow;

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::Error;

/// The seed of every document-id hash. Changing it moves every document: never do.
pub const HASH_SEED: u64 = 0x6d69_726f_6972_0001;

/// Hashes a canonical document id (see [`canonical_id`]).
pub fn document_id_hash(canonical_id: &str) -> u64 {
    xxh3_64_with_seed(canonical_id.as_bytes(), HASH_SEED)
}

/// The canonical form of an id value: strings as they are, integers in decimal; `None` for
/// any other JSON value (which Meilisearch rejects as an id).
pub fn canonical_id(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// A shard count: a power of two from 1 to 65536.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardCount(u32);

impl ShardCount {
    /// The largest shard count.
    pub const MAX: u32 = 65536;

    /// Validates a shard count.
    pub fn new(count: u32) -> Result<ShardCount, Error> {
        if count.is_power_of_two() && count <= Self::MAX {
            Ok(ShardCount(count))
        } else {
            Err(Error::InvalidShardCount(u64::from(count)))
        }
    }

    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }

    /// log2 of the count: how many high bits of the hash pick the shard.
    pub fn bits(self) -> u32 {
        self.0.trailing_zeros()
    }
}

/// The shard of a hash: its `log2(count)` high bits.
pub fn shard_of(hash: u64, count: ShardCount) -> u32 {
    match count.bits() {
        0 => 0,
        bits => (hash >> (64 - bits)) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn golden_values() {
        // Pinned: a change here re-shards every existing index.
        let cases = [
            ("1", 0x1759_4e21_4406_5dd0_u64, 1, 5),
            ("42", 0x808c_f0d8_9468_082e, 8, 32),
            ("movie-7", 0xd2cc_1bf6_9db7_9e68, 13, 52),
            ("é", 0x27dd_1c3f_1241_e4c2, 2, 9),
        ];
        for (id, hash, shard16, shard64) in cases {
            assert_eq!(document_id_hash(id), hash, "{id}");
            assert_eq!(shard_of(hash, ShardCount(16)), shard16, "{id}");
            assert_eq!(shard_of(hash, ShardCount(64)), shard64, "{id}");
        }
    }

    #[test]
    fn integers_and_strings_are_the_same_id() {
        assert_eq!(canonical_id(&json!(1)).as_deref(), Some("1"));
        assert_eq!(canonical_id(&json!("1")).as_deref(), Some("1"));
        assert_eq!(canonical_id(&json!(-12)).as_deref(), Some("-12"));
        assert_eq!(canonical_id(&json!(1.5)), None);
        assert_eq!(canonical_id(&json!(null)), None);
    }

    #[test]
    fn shard_counts() {
        assert!(ShardCount::new(0).is_err());
        assert!(ShardCount::new(48).is_err());
        assert!(ShardCount::new(131072).is_err());
        assert_eq!(ShardCount::new(1).map(|c| c.bits()), Ok(0));
        assert_eq!(ShardCount::new(64).map(|c| c.bits()), Ok(6));
        assert_eq!(shard_of(u64::MAX, ShardCount(1)), 0);
        assert_eq!(shard_of(u64::MAX, ShardCount(16)), 15);
        assert_eq!(shard_of(0x1000_0000_0000_0000, ShardCount(16)), 1);
    }

    proptest! {
        #[test]
        fn doubling_splits_each_shard_in_two(hash in any::<u64>(), bits in 0u32..16) {
            let count = ShardCount(1 << bits);
            let doubled = ShardCount(1 << (bits + 1));
            let shard = shard_of(hash, count);
            let child = shard_of(hash, doubled);
            prop_assert!(child == 2 * shard || child == 2 * shard + 1);
        }

        #[test]
        fn shard_in_range(id in ".{0,40}", bits in 0u32..17) {
            let count = ShardCount(1 << bits);
            prop_assert!(shard_of(document_id_hash(&id), count) < count.get());
        }
    }
}
