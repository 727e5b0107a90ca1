//! Splitting a parsed payload by shard: each document's id is hashed to its shard, the shard
//! marker is appended, and the document becomes the NDJSON line the shard's nodes receive.
//! The server appends each line to the body of every replica of its shard.

use crate::document::{document_id, Document};
use crate::error::Error;
use crate::hash::{shard_of_id, ShardCount};
use crate::marker::inject;

/// Each document with its shard and its NDJSON line (newline included), in payload order; the
/// first document without a valid id ends the iteration with its error.
pub fn routed_lines<'a>(
    documents: Vec<Document>,
    primary_key: &'a str,
    count: ShardCount,
) -> impl Iterator<Item = Result<(u32, Vec<u8>), Error>> + 'a {
    documents.into_iter().map(move |mut document| {
        let id = document_id(&document, primary_key)?;
        let shard = shard_of_id(&id, count);
        inject(&mut document, shard);
        let mut line = serde_json::to_vec(&document).unwrap_or_default();
        line.push(b'\n');
        Ok((shard, line))
    })
}

/// NDJSON bodies by shard (index = shard), for measuring and for callers that send per shard.
pub fn split_by_shard(
    documents: Vec<Document>,
    primary_key: &str,
    count: ShardCount,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut bodies = vec![Vec::new(); count.get() as usize];
    for routed in routed_lines(documents, primary_key, count) {
        let (shard, line) = routed?;
        bodies[shard as usize].extend_from_slice(&line);
    }
    Ok(bodies)
}

/// A payload and the `[start, end)` byte range of each of its parts.
pub type Concatenated = (Vec<u8>, Vec<(u64, u64)>);

/// One payload holding every shard's body, stored once however many nodes receive parts of
/// it: the shard bodies concatenated in shard order, and each shard's `[start, end)` range.
pub fn concat_shards(bodies: Vec<Vec<u8>>) -> Concatenated {
    let total = bodies.iter().map(Vec::len).sum();
    let mut payload = Vec::with_capacity(total);
    let mut ranges = Vec::with_capacity(bodies.len());
    for body in bodies {
        let start = payload.len() as u64;
        payload.extend_from_slice(&body);
        ranges.push((start, payload.len() as u64));
    }
    (payload, ranges)
}

/// Routes every document (as [`routed_lines`]) into the body of its shard's group —
/// `group_of_shard[shard]`, e.g. the shard's replica set — keeping payload order within each
/// group, then concatenates the groups (as [`concat_shards`]). A node receives the groups it
/// belongs to; when that is a single group (one node, or a whole index), it receives the
/// documents in the client's order, as one Meilisearch would.
pub fn concat_groups(
    documents: Vec<Document>,
    primary_key: &str,
    count: ShardCount,
    group_of_shard: &[usize],
) -> Result<Concatenated, Error> {
    let groups = group_of_shard.iter().max().map_or(0, |g| g + 1);
    let mut bodies = vec![Vec::new(); groups];
    for routed in routed_lines(documents, primary_key, count) {
        let (shard, line) = routed?;
        if let Some(body) = group_of_shard
            .get(shard as usize)
            .and_then(|group| bodies.get_mut(*group))
        {
            body.extend_from_slice(&line);
        }
    }
    Ok(concat_shards(bodies))
}

/// The byte ranges of the non-empty bodies of `shards` (in shard order), adjacent ranges
/// merged: what one node receives of a payload built by [`concat_shards`] (or of the groups
/// of one built by [`concat_groups`]).
pub fn ranges_of(shard_ranges: &[(u64, u64)], shards: &[u32]) -> Vec<(u64, u64)> {
    let mut wanted: Vec<u32> = shards.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for shard in wanted {
        let Some(&(start, end)) = shard_ranges.get(shard as usize) else {
            continue;
        };
        if start == end {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => out.push((start, end)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_group_keeps_the_clients_order() {
        let documents = parse_payload(
            b"[{\"id\": 3}, {\"id\": 1}, {\"id\": 2}, {\"id\": 7}]",
            PayloadFormat::Json,
        )
        .unwrap();
        let count = ShardCount::new(8).unwrap();
        let (payload, ranges) = concat_groups(documents, "id", count, &[0; 8]).unwrap();
        let text = String::from_utf8(payload).unwrap();
        let ids: Vec<&str> = text
            .lines()
            .map(|l| l.split(',').next().unwrap_or(""))
            .collect();
        assert_eq!(ids, ["{\"id\":3", "{\"id\":1", "{\"id\":2", "{\"id\":7"]);
        assert_eq!(ranges.len(), 1);
    }

    #[test]
    fn a_node_gets_exactly_its_shards_bodies() {
        let bodies = vec![
            b"a\n".to_vec(),
            Vec::new(),
            b"cc\n".to_vec(),
            b"d\n".to_vec(),
        ];
        let (payload, ranges) = concat_shards(bodies.clone());
        assert_eq!(payload, b"a\ncc\nd\n");
        let part = |shards: &[u32]| -> Vec<u8> {
            ranges_of(&ranges, shards)
                .iter()
                .flat_map(|(s, e)| payload[*s as usize..*e as usize].to_vec())
                .collect()
        };
        assert_eq!(part(&[0, 2]), b"a\ncc\n");
        assert_eq!(ranges_of(&ranges, &[1, 2, 3, 0]), vec![(0, 7)]);
        assert_eq!(part(&[1]), b"");
        assert_eq!(part(&[3, 1]), b"d\n");
    }
    use crate::document::{parse_payload, PayloadFormat};
    use crate::marker::MARKER_FIELD;

    #[test]
    fn every_document_lands_once_in_its_shard_with_its_marker() {
        let payload: String = (0..200)
            .map(|i| format!("{{\"id\":{i},\"title\":\"t{i}\"}}\n"))
            .collect();
        let documents = parse_payload(payload.as_bytes(), PayloadFormat::Ndjson).unwrap();
        let count = ShardCount::new(8).unwrap();
        let bodies = split_by_shard(documents, "id", count).unwrap();
        let mut seen = 0;
        for (shard, body) in bodies.iter().enumerate() {
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let document: serde_json::Value = serde_json::from_slice(line).unwrap();
                let id = document["id"].to_string();
                assert_eq!(shard_of_id(&id, count) as usize, shard);
                assert!(document[MARKER_FIELD][format!("s{shard}")].is_null());
                seen += 1;
            }
        }
        assert_eq!(seen, 200);
    }

    #[test]
    fn an_invalid_id_is_an_error() {
        let documents = parse_payload(br#"[{"id": "a b"}]"#, PayloadFormat::Json).unwrap();
        let count = ShardCount::new(4).unwrap();
        assert!(split_by_shard(documents, "id", count).is_err());
    }
}
