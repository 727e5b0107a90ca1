//! Payloads stored once for several nodes: per-shard NDJSON bodies concatenated, and the byte
//! ranges of that payload one node receives. (Client payloads are routed by `route`; this is
//! for bodies Miroir builds itself, e.g. documents copied during a repair.)

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

/// The byte ranges of the non-empty bodies of `shards` (in shard order), adjacent ranges
/// merged: what one node receives of a payload built by [`concat_shards`] (or of the groups
/// of a routed payload, see `route`).
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
}
