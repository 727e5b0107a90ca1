//! Comparing the replicas of a shard: a digest of every document (independent of field order,
//! which differs between nodes that saw fields in another order), a count and an
//! order-independent checksum per replica, and what to copy where to make them agree.
//!
//! Repair policy: a document missing on some replicas is copied from one that has it (a
//! replica that lost a document is the likelier accident than one that gained it); a document
//! whose contents differ takes the contents most replicas hold, and on a tie (always, with two
//! replicas) the reference replica's (the first in sync in placement order): with two copies
//! nothing tells which one is right, so the repair makes them agree, not necessarily right.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

/// The digest of a document: its JSON with object keys sorted, hashed.
pub fn document_digest(document: &Value) -> u64 {
    let mut canonical = String::new();
    write_canonical(document, &mut canonical);
    xxh3_64(canonical.as_bytes())
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One replica's documents of a shard: id → digest.
pub type Replica = BTreeMap<String, u64>;

/// A replica's count and checksum (a wrapping sum over documents, so independent of order).
pub fn summary(replica: &Replica) -> (u64, u64) {
    let checksum = replica.iter().fold(0u64, |sum, (id, digest)| {
        sum.wrapping_add(xxh3_64(id.as_bytes()) ^ digest)
    });
    (replica.len() as u64, checksum)
}

/// What differs between the replicas of a shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Divergence {
    /// Per replica (by position), the ids it lacks that another replica holds.
    pub missing: Vec<Vec<String>>,
    /// Ids held everywhere with different contents.
    pub different: Vec<String>,
}

impl Divergence {
    /// Whether the replicas agree.
    pub fn is_empty(&self) -> bool {
        self.different.is_empty() && self.missing.iter().all(Vec::is_empty)
    }
}

/// Compares the replicas of one shard.
pub fn compare(replicas: &[Replica]) -> Divergence {
    let all: BTreeSet<&String> = replicas.iter().flat_map(|r| r.keys()).collect();
    let missing = replicas
        .iter()
        .map(|replica| {
            all.iter()
                .filter(|id| !replica.contains_key(**id))
                .map(|id| (*id).clone())
                .collect()
        })
        .collect();
    let different = all
        .iter()
        .filter(|id| {
            let digests: BTreeSet<u64> = replicas
                .iter()
                .filter_map(|r| r.get(**id))
                .copied()
                .collect();
            digests.len() > 1
        })
        .map(|id| (*id).clone())
        .collect();
    Divergence { missing, different }
}

/// What to write to make the replicas agree: per target replica, the ids to write and the
/// replica to read each from (see the module docs for the policy). `reference` is the replica
/// whose contents win.
pub fn repair_plan(replicas: &[Replica], reference: usize) -> Vec<(usize, Vec<(String, usize)>)> {
    let divergence = compare(replicas);
    let mut plan: Vec<(usize, Vec<(String, usize)>)> = Vec::new();
    for (target, missing) in divergence.missing.iter().enumerate() {
        let mut writes: Vec<(String, usize)> = Vec::new();
        for id in missing {
            let source = if replicas.get(reference).is_some_and(|r| r.contains_key(id)) {
                Some(reference)
            } else {
                replicas.iter().position(|r| r.contains_key(id))
            };
            writes.extend(source.map(|source| (id.clone(), source)));
        }
        for id in &divergence.different {
            let Some((winner, source)) = winning(replicas, reference, id) else {
                continue;
            };
            if replicas[target].get(id) != Some(&winner) {
                writes.push((id.clone(), source));
            }
        }
        if !writes.is_empty() {
            plan.push((target, writes));
        }
    }
    plan
}

/// The contents a differing document should have everywhere (most replicas', the reference's
/// on a tie) and a replica holding them.
fn winning(replicas: &[Replica], reference: usize, id: &str) -> Option<(u64, usize)> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for digest in replicas.iter().filter_map(|r| r.get(id)) {
        *counts.entry(*digest).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    let tied: Vec<u64> = counts
        .iter()
        .filter(|(_, count)| **count == best)
        .map(|(digest, _)| *digest)
        .collect();
    let reference_digest = replicas.get(reference).and_then(|r| r.get(id));
    let winner = match reference_digest {
        Some(digest) if tied.contains(digest) => *digest,
        _ => *tied.first()?,
    };
    let source = replicas.iter().position(|r| r.get(id) == Some(&winner))?;
    Some((winner, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn replica(documents: &[(&str, Value)]) -> Replica {
        documents
            .iter()
            .map(|(id, doc)| (id.to_string(), document_digest(doc)))
            .collect()
    }

    #[test]
    fn field_order_does_not_matter_but_contents_do() {
        let a = json!({"id": 1, "title": "x", "nested": {"b": 1, "a": 2}});
        let b = json!({"nested": {"a": 2, "b": 1}, "title": "x", "id": 1});
        assert_eq!(document_digest(&a), document_digest(&b));
        assert_ne!(
            document_digest(&a),
            document_digest(&json!({"id": 1, "title": "y"}))
        );
    }

    #[test]
    fn divergences_are_found_and_planned_away() {
        let one = json!({"id": 1});
        let two = json!({"id": 2});
        let left = replica(&[("1", one.clone()), ("2", two.clone())]);
        let right = replica(&[("1", one.clone()), ("2", json!({"id": 2, "edited": true}))]);
        let short = replica(&[("1", one.clone())]);
        assert!(compare(&[left.clone(), left.clone()]).is_empty());
        assert_eq!(summary(&left), summary(&left.clone()));
        assert_ne!(summary(&left), summary(&short));

        let found = compare(&[left.clone(), short.clone()]);
        assert_eq!(
            found.missing,
            vec![Vec::<String>::new(), vec!["2".to_string()]]
        );
        assert_eq!(
            repair_plan(&[left.clone(), short.clone()], 0),
            vec![(1, vec![("2".to_string(), 0)])]
        );
        // Missing on the reference: copied to it from the replica that has it.
        assert_eq!(
            repair_plan(&[short, left.clone()], 0),
            vec![(0, vec![("2".to_string(), 1)])]
        );

        let found = compare(&[left.clone(), right.clone()]);
        assert_eq!(found.different, vec!["2".to_string()]);
        assert_eq!(
            repair_plan(&[left.clone(), right.clone()], 0),
            vec![(1, vec![("2".to_string(), 0)])]
        );
        assert_eq!(
            repair_plan(&[left.clone(), right.clone()], 1),
            vec![(0, vec![("2".to_string(), 1)])]
        );
        // Three replicas: the majority wins whatever the reference.
        assert_eq!(
            repair_plan(&[right, left.clone(), left], 0),
            vec![(0, vec![("2".to_string(), 1)])]
        );
    }
}
