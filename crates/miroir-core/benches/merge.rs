//! Merge benchmarks: ranking N shards × M hits as one index would.
//!
//! `merge_keys` times the k-way merge alone; `merge_raw_hits` times what a search with `sort`
//! pays per request (reading `_rankingScoreDetails` out of the raw JSON hits as they reach the
//! head of their list, and merging); `merge_raw_scores` what a search without `sort` pays (the
//! global score only).
//! Target (issue #3): 10 shards × 100 hits in ≤ 0.3 ms.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;

use miroir_core::merge::{merge_ranked, merge_ranked_lazily, rank_key_of_hit, RankKey};

/// Raw hits as a node returns them, best first, with realistic ranking details.
fn shard_hits(shard: usize, hits: usize) -> Vec<String> {
    (0..hits)
        .map(|i| {
            let words = 1.0 - (i as f64 / hits as f64) * 0.5;
            let typo = 1.0 - ((i * 7 + shard) % 3) as f64 / 3.0;
            json!({
                "id": shard * 1000 + i,
                "title": format!("document {i} of shard {shard} with a few words"),
                "overview": "a longer text field that the merge must skip without materializing it",
                "genres": ["drama", "comedy"],
                "_rankingScore": words * 0.9 + typo * 0.1,
                "_rankingScoreDetails": {
                    "words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 2, "score": words},
                    "typo": {"order": 1, "typoCount": 0, "maxTypoCount": 2, "score": typo},
                    "proximity": {"order": 2, "score": 0.75},
                    "attribute": {"order": 3, "attributeRankingOrderScore": 1.0, "queryWordDistanceScore": 0.9, "score": 0.95},
                    "exactness": {"order": 4, "matchType": "noExactMatch", "score": 0.33}
                }
            })
            .to_string()
        })
        .collect()
}

/// Raw hits without details (what nodes send for searches without `sort`).
fn score_only_hits(shard: usize, hits: usize) -> Vec<String> {
    (0..hits)
        .map(|i| {
            json!({
                "id": shard * 1000 + i,
                "title": format!("document {i} of shard {shard} with a few words"),
                "overview": "a longer text field that the merge must skip without materializing it",
                "genres": ["drama", "comedy"],
                "_rankingScore": 1.0 - (i as f64 / hits as f64) * 0.5,
            })
            .to_string()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("merge");
    for (shards, hits) in [(3, 20), (10, 100), (16, 100), (10, 1000)] {
        let raw: Vec<Vec<String>> = (0..shards).map(|s| shard_hits(s, hits)).collect();
        let keys: Vec<Vec<RankKey>> = raw
            .iter()
            .map(|list| list.iter().map(|h| rank_key_of_hit(h)).collect())
            .collect();
        let label = format!("{shards}x{hits}");
        group.bench_with_input(BenchmarkId::new("merge_keys", &label), &keys, |b, keys| {
            b.iter(|| merge_ranked(keys, hits))
        });
        group.bench_with_input(
            BenchmarkId::new("merge_raw_hits", &label),
            &raw,
            |b, raw| {
                b.iter(|| {
                    let lengths: Vec<usize> = raw.iter().map(Vec::len).collect();
                    merge_ranked_lazily(
                        &lengths,
                        |list, position| rank_key_of_hit(&raw[list][position]),
                        hits,
                    )
                })
            },
        );
    }
    for (shards, hits) in [(10, 100), (16, 100)] {
        let raw: Vec<Vec<String>> = (0..shards).map(|s| score_only_hits(s, hits)).collect();
        let label = format!("{shards}x{hits}");
        group.bench_with_input(
            BenchmarkId::new("merge_raw_scores", &label),
            &raw,
            |b, raw| {
                b.iter(|| {
                    let lengths: Vec<usize> = raw.iter().map(Vec::len).collect();
                    merge_ranked_lazily(
                        &lengths,
                        |list, position| rank_key_of_hit(&raw[list][position]),
                        hits,
                    )
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
