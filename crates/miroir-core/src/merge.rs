//! Merging ranked hits from several shards into the order one index would have produced.
//!
//! Meilisearch ranks by a bucket sort over its ranking rules, so one index's order is the
//! lexicographic order of each hit's per-rule outcome. Every node reports that outcome in
//! `_rankingScoreDetails` (and its scores use no corpus statistics, so they are comparable
//! across shards). Comparison follows Meilisearch's own federated search: consecutive scored
//! rules form one group compared by score, `sort` rules compare their values (numbers before
//! strings, `null` last), `_geoPoint` rules compare distances; when two hits cannot be compared
//! rule by rule, the global `_rankingScore` decides. Equal hits keep their shard order (the
//! merge is stable), which is the "ties aside" of the equivalence promise.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::route::Name;

/// One comparable step of a hit's ranking.
#[derive(Debug, Clone, PartialEq)]
pub enum RankStep {
    /// Consecutive scored rules (words, typo, proximity, attribute…), each rule's local score.
    Scores(Vec<f64>),
    /// A `sort` rule's value for this hit.
    Sort {
        /// Ascending order.
        ascending: bool,
        /// The document's value (`null` when absent).
        value: Value,
    },
    /// A `_geoPoint` sort rule's distance for this hit.
    Geo {
        /// Ascending order (nearest first).
        ascending: bool,
        /// Distance in meters, if the document has a position.
        distance: Option<f64>,
    },
}

/// What the merge knows of one hit.
#[derive(Debug, Clone, PartialEq)]
pub struct RankKey {
    /// The ranking, rule by rule.
    pub steps: Vec<RankStep>,
    /// The global `_rankingScore`.
    pub score: f64,
}

impl RankKey {
    /// Applies a federated-search query weight: scores scale, sort values do not (as in
    /// Meilisearch's weighted comparison).
    pub fn weigh(&mut self, weight: f64) {
        self.score *= weight;
        for step in &mut self.steps {
            if let RankStep::Scores(scores) = step {
                for score in scores {
                    *score *= weight;
                }
            }
        }
    }
}

/// What the merge reads of one ranking rule's details; everything else is skipped unparsed.
#[derive(serde::Deserialize)]
pub(crate) struct RuleDetail {
    #[serde(default)]
    order: Option<u64>,
    /// A pinned hit's position (the `pin` rule of dynamic search rules).
    #[serde(default)]
    pub(crate) position: Option<u32>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    distance: Option<f64>,
}

/// The two ranking fields of a hit, read without materializing the rest of it.
#[derive(serde::Deserialize)]
#[serde(bound(deserialize = "'de: 'a, 'a: 'de"))]
pub(crate) struct HitRanking<'a> {
    #[serde(rename = "_rankingScore", default)]
    score: Option<f64>,
    #[serde(rename = "_rankingScoreDetails", default)]
    pub(crate) details: Option<RuleList<'a>>,
}

/// The rules of `_rankingScoreDetails`, as a list (a JSON object, read entry by entry; rule
/// names are borrowed from the hit's text when they need no unescaping, as they never do).
pub(crate) struct RuleList<'a>(pub(crate) Vec<(Cow<'a, str>, RuleDetail)>);

impl<'de> serde::Deserialize<'de> for RuleList<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<RuleList<'de>, D::Error> {
        struct Rules;
        impl<'de> serde::de::Visitor<'de> for Rules {
            type Value = RuleList<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("ranking score details")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RuleList<'de>, A::Error> {
                let mut rules = Vec::with_capacity(map.size_hint().unwrap_or(6));
                while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
                    rules.push((name, map.next_value::<RuleDetail>()?));
                }
                Ok(RuleList(rules))
            }
        }
        deserializer.deserialize_map(Rules)
    }
}

/// Builds a hit's rank key from its raw JSON text, reading only `_rankingScore` and
/// `_rankingScoreDetails` (every other field is skipped by the parser, not materialized).
pub fn rank_key_of_hit(raw: &str) -> RankKey {
    let Some(ranking) = ranking_of_hit(raw) else {
        return RankKey {
            steps: Vec::new(),
            score: 0.0,
        };
    };
    let score = ranking.score.unwrap_or(0.0);
    let Some(details) = ranking.details else {
        return score_only(score);
    };
    let mut rules = details.0;
    rules.sort_by_key(|(_, detail)| detail.order.unwrap_or(u64::MAX));
    let mut steps: Vec<RankStep> = Vec::with_capacity(rules.len());
    for (name, detail) in rules {
        push_step(
            &mut steps,
            &name,
            detail.score,
            detail.value,
            detail.distance,
        );
    }
    RankKey { steps, score }
}

/// A hit's two ranking fields, read from its tail when they are there (see [`ranking_tail`]),
/// from the whole hit otherwise; `None` when the hit is not a JSON object.
pub(crate) fn ranking_of_hit(raw: &str) -> Option<HitRanking<'_>> {
    ranking_tail(raw).or_else(|| serde_json::from_str::<HitRanking<'_>>(raw).ok())
}

/// Meilisearch appends `_rankingScore` and `_rankingScoreDetails` after the document's own
/// fields, so reading the hit from the last top-level `"_rankingScore":` key on skips the
/// document entirely (large documents cost nothing to rank): the score, then the details when
/// they come next, each read in place. Returns `None` when the keys are not found where
/// expected (the caller then parses the whole hit, which is always correct).
fn ranking_tail(raw: &str) -> Option<HitRanking<'_>> {
    const KEY: &str = "\"_rankingScore\":";
    const DETAILS: &str = "\"_rankingScoreDetails\"";
    let bytes = raw.as_bytes();
    let (position, _) = raw.rmatch_indices(KEY).find(|(position, _)| {
        // A real key follows `{` or `,` (after optional whitespace); inside a string value the
        // quote would be escaped (`\"`).
        bytes[..*position]
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b',' || *b == b'{')
    })?;
    let rest = &raw[position + KEY.len()..];
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<f64>();
    let score = values.next()?.ok()?;
    let rest = rest[values.byte_offset()..].trim_start();
    if rest.starts_with('}') {
        return Some(HitRanking {
            score: Some(score),
            details: None,
        });
    }
    let rest = rest.strip_prefix(',')?.trim_start().strip_prefix(DETAILS)?;
    let rest = rest.trim_start().strip_prefix(':')?;
    let details = serde_json::Deserializer::from_str(rest)
        .into_iter::<RuleList<'_>>()
        .next()?
        .ok()?;
    Some(HitRanking {
        score: Some(score),
        details: Some(details),
    })
}

/// Appends one rule's outcome to a rank key (consecutive scored rules form one group).
fn push_step(
    steps: &mut Vec<RankStep>,
    name: &str,
    score: Option<f64>,
    value: Option<Value>,
    distance: Option<f64>,
) {
    let ascending = !name.ends_with(":desc");
    if name.starts_with("_geoPoint(") {
        steps.push(RankStep::Geo {
            ascending,
            distance,
        });
    } else if let Some(local) = score {
        match steps.last_mut() {
            Some(RankStep::Scores(group)) => group.push(local),
            _ => steps.push(RankStep::Scores(vec![local])),
        }
    } else if let Some(value) = value {
        steps.push(RankStep::Sort { ascending, value });
    }
}

/// The rank key of a hit known by its global score alone.
///
/// Without `sort`, this orders hits exactly as the rules do: Meilisearch's global score is the
/// merged rank of all scored rules read as one mixed-radix number, so comparing it is comparing
/// the rules lexicographically (the same equivalence its federated search relies on when it
/// coalesces consecutive rules). Searches without `sort` therefore need no details at all.
pub fn score_only(score: f64) -> RankKey {
    RankKey {
        steps: vec![RankStep::Scores(vec![score])],
        score,
    }
}

/// Builds a hit's rank key from its `_rankingScoreDetails` and `_rankingScore`.
pub fn rank_key(details: Option<&Map<String, Value>>, score: f64) -> RankKey {
    let Some(details) = details else {
        return score_only(score);
    };
    let mut rules: Vec<(u64, &String, &Value)> = Some(details)
        .map(|d| {
            d.iter()
                .map(|(name, detail)| {
                    let order = detail
                        .get("order")
                        .and_then(Value::as_u64)
                        .unwrap_or(u64::MAX);
                    (order, name, detail)
                })
                .collect()
        })
        .unwrap_or_default();
    rules.sort_by_key(|(order, _, _)| *order);
    let mut steps: Vec<RankStep> = Vec::with_capacity(rules.len());
    for (_, name, detail) in rules {
        push_step(
            &mut steps,
            name,
            detail.get("score").and_then(Value::as_f64),
            detail.get("value").cloned(),
            detail.get("distance").and_then(Value::as_f64),
        );
    }
    RankKey { steps, score }
}

fn close(left: f64, right: f64) -> bool {
    (left - right).abs() <= f64::EPSILON
}

/// Meilisearch's order of sort values: better first means `Greater`.
pub fn compare_sort_values(ascending: bool, left: &Value, right: &Value) -> Ordering {
    let order = match (left, right) {
        (Value::Null, Value::Null) => return Ordering::Equal,
        (Value::Null, _) => return Ordering::Less,
        (_, Value::Null) => return Ordering::Greater,
        (Value::Number(_), Value::String(_)) => return Ordering::Greater,
        (Value::String(_), Value::Number(_)) => return Ordering::Less,
        (Value::Number(l), Value::Number(r)) => l
            .as_f64()
            .zip(r.as_f64())
            .and_then(|(l, r)| l.partial_cmp(&r))
            .unwrap_or(Ordering::Equal),
        (Value::String(l), Value::String(r)) => l.cmp(r),
        _ => return Ordering::Equal,
    };
    // When ascending, the smaller value ranks better.
    if ascending {
        order.reverse()
    } else {
        order
    }
}

fn compare_step(left: &RankStep, right: &RankStep) -> Option<Ordering> {
    match (left, right) {
        (RankStep::Scores(l), RankStep::Scores(r)) => {
            for (a, b) in l.iter().zip(r) {
                if !close(*a, *b) {
                    return a.partial_cmp(b);
                }
            }
            Some(l.len().cmp(&r.len()))
        }
        (
            RankStep::Sort {
                ascending: la,
                value: lv,
            },
            RankStep::Sort {
                ascending: ra,
                value: rv,
            },
        ) if la == ra => Some(compare_sort_values(*la, lv, rv)),
        (
            RankStep::Geo {
                ascending: la,
                distance: ld,
            },
            RankStep::Geo {
                ascending: ra,
                distance: rd,
            },
        ) if la == ra => Some(match (ld, rd) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(l), Some(r)) if close(*l, *r) => Ordering::Equal,
            // A smaller distance ranks better when ascending.
            (Some(l), Some(r)) => {
                let order = l.partial_cmp(r).unwrap_or(Ordering::Equal);
                if *la {
                    order.reverse()
                } else {
                    order
                }
            }
        }),
        _ => None,
    }
}

/// Compares two hits; `Greater` means `left` ranks before `right`.
pub fn compare(left: &RankKey, right: &RankKey) -> Ordering {
    let mut l = left.steps.iter();
    let mut r = right.steps.iter();
    loop {
        match (l.next(), r.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(a), Some(b)) => match compare_step(a, b) {
                Some(Ordering::Equal) => continue,
                Some(order) => return order,
                None => {
                    let remaining = l.count().cmp(&r.count());
                    if remaining.is_ne() {
                        return remaining;
                    }
                    return left
                        .score
                        .partial_cmp(&right.score)
                        .unwrap_or(Ordering::Equal);
                }
            },
        }
    }
}

/// K-way merge of per-shard lists that are each already in rank order. Returns
/// `(list, position)` pairs of the first `take` hits overall; ties keep list order.
pub fn merge_ranked(lists: &[Vec<RankKey>], take: usize) -> Vec<(usize, usize)> {
    let lengths: Vec<usize> = lists.iter().map(Vec::len).collect();
    merge_ranked_lazily(&lengths, |list, position| &lists[list][position], take)
}

/// [`merge_ranked`] over lists of `lengths` hits whose keys are built on demand:
/// `key_of(list, position)` is called once for each hit that reaches the head of its list, so a
/// merge cut at `take` builds about `take` plus one per list keys, whatever the lists' lengths
/// (reading a hit's ranking details is the merge's main cost).
pub fn merge_ranked_lazily<K: Borrow<RankKey>>(
    lengths: &[usize],
    mut key_of: impl FnMut(usize, usize) -> K,
    take: usize,
) -> Vec<(usize, usize)> {
    let mut cursors = vec![0usize; lengths.len()];
    let mut heads: Vec<Option<K>> = lengths
        .iter()
        .enumerate()
        .map(|(list, length)| (*length > 0).then(|| key_of(list, 0)))
        .collect();
    let mut merged = Vec::with_capacity(take.min(lengths.iter().sum()));
    while merged.len() < take {
        let mut best: Option<(usize, &RankKey)> = None;
        for (list, head) in heads.iter().enumerate() {
            let Some(candidate) = head.as_ref().map(Borrow::borrow) else {
                continue;
            };
            best = match best {
                Some((_, incumbent)) if compare(candidate, incumbent) != Ordering::Greater => best,
                _ => Some((list, candidate)),
            };
        }
        let Some((list, _)) = best else { break };
        merged.push((list, cursors[list]));
        cursors[list] += 1;
        heads[list] = (cursors[list] < lengths[list]).then(|| key_of(list, cursors[list]));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn key(details: Value, score: f64) -> RankKey {
        rank_key(details.as_object(), score)
    }

    #[test]
    fn steps_from_details() {
        let k = key(
            json!({
                "words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 2, "score": 1.0},
                "year:desc": {"order": 2, "value": 1999},
                "typo": {"order": 1, "typoCount": 0, "maxTypoCount": 2, "score": 1.0},
                "_geoPoint(1, 2):asc": {"order": 3, "value": {"lat": 1.0, "lng": 2.0}, "distance": 12.5},
                "exactness": {"order": 4, "matchType": "noExactMatch", "score": 0.3}
            }),
            0.9,
        );
        assert_eq!(
            k.steps,
            vec![
                RankStep::Scores(vec![1.0, 1.0]),
                RankStep::Sort {
                    ascending: false,
                    value: json!(1999)
                },
                RankStep::Geo {
                    ascending: true,
                    distance: Some(12.5)
                },
                RankStep::Scores(vec![0.3]),
            ]
        );
    }

    #[test]
    fn raw_hits_read_from_the_tail_or_in_full() {
        let details =
            json!({"words": {"order": 0, "score": 0.5}, "year:asc": {"order": 1, "value": 1999}});
        let expected = rank_key(details.as_object(), 0.4);
        let tail_last = json!({"id": 1, "note": "\"_rankingScore\": 9", "_rankingScore": 0.4, "_rankingScoreDetails": details});
        assert_eq!(rank_key_of_hit(&tail_last.to_string()), expected);
        let ranking_first =
            json!({"_rankingScore": 0.4, "_rankingScoreDetails": details, "title": "x"});
        assert_eq!(rank_key_of_hit(&ranking_first.to_string()), expected);
        let pretty = serde_json::to_string_pretty(&tail_last).unwrap_or_default();
        assert_eq!(rank_key_of_hit(&pretty), expected);
        let score_last = json!({"id": 1, "_rankingScore": 0.4});
        assert_eq!(rank_key_of_hit(&score_last.to_string()), score_only(0.4));
        let no_ranking = json!({"id": 1, "text": "\"_rankingScore\":"});
        assert_eq!(rank_key_of_hit(&no_ranking.to_string()).score, 0.0);
    }

    #[test]
    fn rule_by_rule_beats_global_score() {
        // Better on the first rule, worse globally: the first rule decides, as in one index.
        let a = key(
            json!({"words": {"order": 0, "score": 1.0}, "typo": {"order": 1, "score": 0.0}}),
            0.5,
        );
        let b = key(
            json!({"words": {"order": 0, "score": 0.5}, "typo": {"order": 1, "score": 1.0}}),
            0.7,
        );
        assert_eq!(compare(&a, &b), Ordering::Greater);
    }

    #[test]
    fn sort_values() {
        let asc = |v: Value| key(json!({"price:asc": {"order": 0, "value": v}}), 1.0);
        assert_eq!(compare(&asc(json!(3)), &asc(json!(10))), Ordering::Greater);
        assert_eq!(compare(&asc(json!(3)), &asc(json!("a"))), Ordering::Greater);
        assert_eq!(compare(&asc(json!(null)), &asc(json!("a"))), Ordering::Less);
        let desc = |v: Value| key(json!({"price:desc": {"order": 0, "value": v}}), 1.0);
        assert_eq!(compare(&desc(json!(3)), &desc(json!(10))), Ordering::Less);
    }

    #[test]
    fn merge_is_stable_and_cut() {
        let s = |x: f64| key(json!({"words": {"order": 0, "score": x}}), x);
        let lists = vec![vec![s(0.9), s(0.5), s(0.1)], vec![s(0.9), s(0.7)], vec![]];
        assert_eq!(
            merge_ranked(&lists, 4),
            vec![(0, 0), (1, 0), (1, 1), (0, 1)]
        );
        assert_eq!(merge_ranked(&lists, 100).len(), 5);
    }

    proptest! {
        #[test]
        fn merge_equals_sorting_everything(
            scores in prop::collection::vec(prop::collection::vec(0u32..20, 0..30), 1..6),
            take in 0usize..200,
        ) {
            let lists: Vec<Vec<RankKey>> = scores
                .iter()
                .map(|list| {
                    let mut list: Vec<f64> = list.iter().map(|s| f64::from(*s) / 20.0).collect();
                    list.sort_by(|a, b| b.partial_cmp(a).unwrap_or(Ordering::Equal));
                    list.into_iter()
                        .map(|s| key(json!({"words": {"order": 0, "score": s}}), s))
                        .collect()
                })
                .collect();
            let merged: Vec<f64> = merge_ranked(&lists, take)
                .iter()
                .map(|(l, p)| lists[*l][*p].score)
                .collect();
            let mut all: Vec<f64> = lists.iter().flatten().map(|k| k.score).collect();
            all.sort_by(|a, b| b.partial_cmp(a).unwrap_or(Ordering::Equal));
            all.truncate(take);
            prop_assert_eq!(merged, all);

            // Built on demand, the keys give the same merge, and only the hits that reached a
            // list's head were read.
            let lengths: Vec<usize> = lists.iter().map(Vec::len).collect();
            let mut built = 0;
            let lazily = merge_ranked_lazily(
                &lengths,
                |list, position| {
                    built += 1;
                    lists[list][position].clone()
                },
                take,
            );
            prop_assert_eq!(&lazily, &merge_ranked(&lists, take));
            prop_assert!(built <= lazily.len() + lists.len());
        }
    }
}
