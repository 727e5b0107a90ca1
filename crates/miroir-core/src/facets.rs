//! Merging facet counts from several shards.
//!
//! Each value's count is the sum of its per-shard counts; values are then ordered as the index's
//! `sortFacetValuesBy` says (alphabetical by default, or by decreasing count) and cut to the
//! client's `maxValuesPerFacet`. Alphabetical is Meilisearch's order: by the value's normalized
//! form ([`facet_key`]: trimmed, compatibility-decomposed, lowercased), under which values that
//! differ only by case are one value — so `text` comes before `TODO`, and two shards showing
//! `Drama` and `drama` count as one. Numbers are ordered as their text, as Meilisearch's
//! distribution does (`10` before `9`). The nodes return far more values than the client's cap (see
//! the server's node defaults), so the cut happens once, on exact sums. Numeric facet stats
//! merge as the minimum of minimums and the maximum of maximums.

use std::collections::HashMap;

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

/// How a facet's values are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacetOrder {
    /// By value, ascending.
    Alpha,
    /// By count, descending (ties by value, ascending).
    Count,
}

/// The order of `facet` under a `sortFacetValuesBy` setting (`{"*": "alpha", "genre": "count"}`).
pub fn facet_order(sort_by: Option<&Value>, facet: &str) -> FacetOrder {
    let rule = sort_by.and_then(|s| s.get(facet).or_else(|| s.get("*")));
    match rule.and_then(Value::as_str) {
        Some("count") => FacetOrder::Count,
        _ => FacetOrder::Alpha,
    }
}

/// The form Meilisearch stores, orders and groups facet string values by: trimmed,
/// compatibility-decomposed (NFKD), lowercased.
pub fn facet_key(value: &str) -> String {
    value.trim().nfkd().collect::<String>().to_lowercase()
}

/// Sums `(value, count)` lists (values with the same [`facet_key`] together, shown as the
/// smallest of their spellings), orders them and keeps the first `cap`.
pub fn merge_counts<'a>(
    lists: impl IntoIterator<Item = Vec<(&'a str, u64)>>,
    order: FacetOrder,
    cap: usize,
) -> Vec<(String, u64)> {
    let mut sums: HashMap<String, (&str, u64)> = HashMap::new();
    for list in lists {
        for (value, count) in list {
            let entry = sums.entry(facet_key(value)).or_insert((value, 0));
            entry.0 = entry.0.min(value);
            entry.1 += count;
        }
    }
    let mut merged: Vec<(String, &str, u64)> = sums
        .into_iter()
        .map(|(key, (shown, count))| (key, shown, count))
        .collect();
    match order {
        FacetOrder::Alpha => merged.sort_by(|a, b| a.0.cmp(&b.0)),
        FacetOrder::Count => merged.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0))),
    }
    merged.truncate(cap);
    merged
        .into_iter()
        .map(|(_, shown, count)| (shown.to_string(), count))
        .collect()
}

/// Merges several `facetDistribution` objects.
pub fn merge_distributions(
    distributions: &[&Map<String, Value>],
    sort_by: Option<&Value>,
    cap: usize,
) -> Map<String, Value> {
    let mut facets: Vec<&String> = Vec::new();
    for distribution in distributions {
        for facet in distribution.keys() {
            if !facets.contains(&facet) {
                facets.push(facet);
            }
        }
    }
    let mut merged = Map::new();
    for facet in facets {
        let lists = distributions.iter().map(|d| {
            d.get(facet.as_str())
                .and_then(Value::as_object)
                .map(|values| {
                    values
                        .iter()
                        .map(|(v, c)| (v.as_str(), c.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default()
        });
        let values = merge_counts(lists, facet_order(sort_by, facet), cap);
        let object: Map<String, Value> = values
            .into_iter()
            .map(|(v, c)| (v, Value::from(c)))
            .collect();
        merged.insert(facet.clone(), Value::Object(object));
    }
    merged
}

/// Merges several `facetStats` objects (`{"price": {"min": 1, "max": 9}}`).
pub fn merge_stats(stats: &[&Map<String, Value>]) -> Map<String, Value> {
    let mut merged: Map<String, Value> = Map::new();
    for per_node in stats {
        for (facet, s) in per_node.iter() {
            let (Some(min), Some(max)) = (
                s.get("min").and_then(Value::as_f64),
                s.get("max").and_then(Value::as_f64),
            ) else {
                continue;
            };
            let entry = merged.entry(facet.clone()).or_insert_with(|| s.clone());
            let current_min = entry.get("min").and_then(Value::as_f64).unwrap_or(min);
            let current_max = entry.get("max").and_then(Value::as_f64).unwrap_or(max);
            if min < current_min {
                entry["min"] = s["min"].clone();
            }
            if max > current_max {
                entry["max"] = s["max"].clone();
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn orders() {
        let sort = json!({"*": "alpha", "genre": "count"});
        assert_eq!(facet_order(Some(&sort), "genre"), FacetOrder::Count);
        assert_eq!(facet_order(Some(&sort), "year"), FacetOrder::Alpha);
        assert_eq!(facet_order(None, "x"), FacetOrder::Alpha);
    }

    #[test]
    fn sums_then_cuts() {
        let a = json!({"genre": {"drama": 5, "comedy": 1}, "year": {"1999": 2}});
        let b = json!({"genre": {"comedy": 9, "action": 1}});
        let maps = [
            a.as_object().unwrap_or(&Map::new()).clone(),
            b.as_object().unwrap_or(&Map::new()).clone(),
        ];
        let refs: Vec<&Map<String, Value>> = maps.iter().collect();
        let merged = merge_distributions(&refs, None, 2);
        assert_eq!(
            Value::Object(merged),
            json!({"genre": {"action": 1, "comedy": 10}, "year": {"1999": 2}})
        );
        let by_count = json!({"*": "count"});
        let merged = merge_distributions(&refs, Some(&by_count), 2);
        assert_eq!(merged["genre"], json!({"comedy": 10, "drama": 5}));
        let keys: Vec<&String> = merged["genre"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["comedy", "drama"]);
    }

    #[test]
    fn alphabetical_is_meilisearchs_normalized_order() {
        let a = vec![("works-with::TODO", 2), ("Sci Fi", 1), ("Drama", 1)];
        let b = vec![
            ("works-with::text", 1),
            ("action", 4),
            ("drama", 2),
            (" Éclair", 1),
        ];
        let merged = merge_counts([a, b], FacetOrder::Alpha, 10);
        assert_eq!(
            merged,
            vec![
                ("action".to_string(), 4),
                ("Drama".to_string(), 3),
                (" Éclair".to_string(), 1),
                ("Sci Fi".to_string(), 1),
                ("works-with::text".to_string(), 1),
                ("works-with::TODO".to_string(), 2),
            ]
        );
        assert_eq!(facet_key(" Éclair "), "e\u{301}clair");
        let numbers = merge_counts(
            [
                vec![("10", 1), ("9", 1), ("b", 1)],
                vec![("-2.5", 1), ("A", 1)],
            ],
            FacetOrder::Alpha,
            10,
        );
        let shown: Vec<&str> = numbers.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(shown, ["-2.5", "10", "9", "A", "b"]);
        let by_count = merge_counts([vec![("b", 1), ("B", 1), ("a", 2)]], FacetOrder::Count, 10);
        assert_eq!(by_count, vec![("a".to_string(), 2), ("B".to_string(), 2)]);
    }

    #[test]
    fn stats() {
        let a = json!({"price": {"min": 3, "max": 10}});
        let b = json!({"price": {"min": 1.5, "max": 7}, "year": {"min": 1, "max": 2}});
        let maps = [
            a.as_object().cloned().unwrap_or_default(),
            b.as_object().cloned().unwrap_or_default(),
        ];
        let refs: Vec<&Map<String, Value>> = maps.iter().collect();
        assert_eq!(
            Value::Object(merge_stats(&refs)),
            json!({"price": {"min": 1.5, "max": 10}, "year": {"min": 1, "max": 2}})
        );
    }
}
