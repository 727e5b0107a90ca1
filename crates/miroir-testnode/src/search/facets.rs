//! Facet distribution, facet stats and facet search.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::filter::{field_values, normalize_facet};
use crate::settings::{FilterRule, PatternMatch};
use crate::store::Index;

/// A facet value: numbers sort before strings.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Number(f64),
    Text(String),
}

impl Key {
    fn order(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Number(a), Key::Number(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (Key::Number(_), Key::Text(_)) => Ordering::Less,
            (Key::Text(_), Key::Number(_)) => Ordering::Greater,
            (Key::Text(a), Key::Text(b)) => a.cmp(b),
        }
    }
}

fn leaves<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
        other => out.push(other),
    }
}

/// The distinct facet values of a document: (key, display).
fn doc_values(doc: &Map<String, Value>, facet: &str) -> Vec<(Key, String)> {
    let mut raw = Vec::new();
    for value in field_values(doc, facet) {
        leaves(value, &mut raw);
    }
    let mut out: Vec<(Key, String)> = Vec::new();
    for value in raw {
        let entry = match value {
            Value::Number(n) => match n.as_f64() {
                Some(f) => (Key::Number(f), f.to_string()),
                None => continue,
            },
            Value::String(s) => (Key::Text(normalize_facet(s)), s.trim().to_string()),
            Value::Bool(b) => (Key::Text(b.to_string()), b.to_string()),
            _ => continue,
        };
        if !out.iter().any(|(k, _)| *k == entry.0) {
            out.push(entry);
        }
    }
    out
}

/// Counts of each value of a facet over documents, in display order, cut at `max`.
pub fn counts(
    docs: &[&Map<String, Value>],
    facet: &str,
    by_count: bool,
    max: usize,
) -> Vec<(String, u64, Option<f64>)> {
    let mut entries: Vec<(Key, String, u64)> = Vec::new();
    for doc in docs {
        for (key, display) in doc_values(doc, facet) {
            match entries.iter_mut().find(|(k, _, _)| *k == key) {
                Some(entry) => entry.2 += 1,
                None => entries.push((key, display, 1)),
            }
        }
    }
    // Alphabetical order compares numbers by their text too: Meilisearch 1.50 lists `10`
    // between `1.9` and `2` (checked on a real node).
    let alpha = |a: &(Key, String, u64), b: &(Key, String, u64)| match (&a.0, &b.0) {
        (Key::Number(_), Key::Number(_)) => a.1.cmp(&b.1),
        _ => a.0.order(&b.0),
    };
    entries.sort_by(|a, b| {
        if by_count {
            b.2.cmp(&a.2).then_with(|| alpha(a, b))
        } else {
            alpha(a, b)
        }
    });
    entries
        .into_iter()
        .take(max)
        .map(|(key, display, count)| {
            let number = match key {
                Key::Number(n) => Some(n),
                Key::Text(_) => None,
            };
            (display, count, number)
        })
        .collect()
}

fn known_fields(index: &Index) -> Vec<String> {
    fn walk(value: &Value, name: &str, out: &mut Vec<String>) {
        if !out.iter().any(|f| f == name) {
            out.push(name.to_string());
        }
        match value {
            Value::Object(map) => map
                .iter()
                .for_each(|(k, v)| walk(v, &format!("{name}.{k}"), out)),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(map) = item {
                        map.iter()
                            .for_each(|(k, v)| walk(v, &format!("{name}.{k}"), out));
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for doc in index.docs.values() {
        for (k, v) in &doc.body {
            walk(v, k, &mut out);
        }
    }
    out
}

fn filterable(rules: &[FilterRule], field: &str) -> bool {
    rules
        .iter()
        .find(|r| r.match_str(field) == PatternMatch::Match)
        .is_some_and(FilterRule::filterable)
}

/// Validates the `facets` parameter and expands it into the index's matching facet fields.
pub fn resolve(index: &Index, requested: &[String]) -> ApiResult<Vec<String>> {
    let rules = index.settings.filterable();
    for facet in requested {
        let valid = facet.contains('*')
            || rules
                .iter()
                .any(|r| r.filterable() && r.match_str(facet) != PatternMatch::NoMatch);
        if !valid {
            let mut patterns: Vec<String> = rules
                .iter()
                .filter(|r| r.filterable())
                .flat_map(|r| r.patterns())
                .collect();
            patterns.sort();
            patterns.dedup();
            let tail = if patterns.is_empty() {
                "This index does not have configured filterable attributes.".to_string()
            } else {
                format!(
                    "Available filterable attributes patterns are: `{}`.",
                    patterns.join(", ")
                )
            };
            return Err(ApiError::new(
                "invalid_search_facets",
                format!("Invalid facet distribution: Pattern `{facet}` is not filterable. {tail}"),
            ));
        }
    }
    Ok(known_fields(index)
        .into_iter()
        .filter(|field| {
            requested
                .iter()
                .any(|f| crate::settings::match_pattern(f, field) == PatternMatch::Match)
                && filterable(&rules, field)
        })
        .collect())
}

/// `facetDistribution` and `facetStats` over the candidates.
pub fn distribution(
    index: &Index,
    docs: &[&Map<String, Value>],
    facets: &[String],
    max_values: usize,
) -> (Value, Value) {
    let mut distribution = BTreeMap::new();
    let mut stats = BTreeMap::new();
    for facet in facets {
        let by_count = index.settings.sort_facet_values_by(facet) == "count";
        let values = counts(docs, facet, by_count, max_values);
        let all = counts(docs, facet, false, usize::MAX);
        let numbers: Vec<f64> = all.iter().filter_map(|(_, _, n)| *n).collect();
        if let (Some(min), Some(max)) = (
            numbers.iter().copied().reduce(f64::min),
            numbers.iter().copied().reduce(f64::max),
        ) {
            stats.insert(facet.clone(), json!({"min": min, "max": max}));
        }
        let map: Map<String, Value> = values
            .into_iter()
            .map(|(display, count, _)| (display, json!(count)))
            .collect();
        distribution.insert(facet.clone(), Value::Object(map));
    }
    (
        Value::Object(distribution.into_iter().collect()),
        Value::Object(stats.into_iter().collect()),
    )
}

/// Checks that a facet can be facet-searched.
pub fn check_facet_search(index: &Index, facet: &str) -> ApiResult<()> {
    if !index.settings.facet_search_enabled() {
        return Err(ApiError::new(
            "facet_search_disabled",
            "The facet search is disabled for this index",
        ));
    }
    let rules = index.settings.filterable();
    let matching = rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.match_str(facet) == PatternMatch::Match);
    match matching {
        Some((_, rule)) if rule.facet_search() => Ok(()),
        Some((i, _)) => Err(ApiError::new(
            "invalid_facet_search_facet_name",
            format!("Attribute `{facet}` is not facet-searchable. Note: this attribute matches rule #{i} in filterableAttributes, but this rule does not enable facetSearch.\nHint: enable facetSearch in rule #{i} by adding `\"facetSearch\": true` to the rule.\nHint: prepend another rule matching {facet} with facetSearch: true before rule #{i}"),
        )),
        None => {
            let mut patterns: Vec<String> = rules
                .iter()
                .filter(|r| r.facet_search())
                .flat_map(|r| r.patterns())
                .collect();
            patterns.sort();
            patterns.dedup();
            let tail = if patterns.is_empty() {
                "This index does not have configured facet-searchable attributes. To make it facet-searchable add it to the `filterableAttributes` index settings.".to_string()
            } else {
                format!("Available facet-searchable attributes patterns are: `{}`. To make it facet-searchable add it to the `filterableAttributes` index settings.", patterns.join(", "))
            };
            Err(ApiError::new(
                "invalid_facet_search_facet_name",
                format!("Attribute `{facet}` is not facet-searchable. {tail}"),
            ))
        }
    }
}

/// Facet values starting with the facet query (normalized, with typo tolerance as Meilisearch's
/// facet search: 1 typo from `oneTypo` bytes, 2 from `twoTypos`), with their counts.
pub fn facet_hits(
    index: &Index,
    docs: &[&Map<String, Value>],
    facet: &str,
    query: Option<&str>,
) -> Vec<Value> {
    let by_count = index.settings.sort_facet_values_by(facet) == "count";
    let typo = index.settings.typo();
    let wanted: Option<(Vec<char>, usize)> = query.map(|q| {
        let normalized = super::tokenize::normalize(q.trim());
        let one = typo["minWordSizeForTypos"]["oneTypo"].as_u64().unwrap_or(5) as usize;
        let two = typo["minWordSizeForTypos"]["twoTypos"]
            .as_u64()
            .unwrap_or(9) as usize;
        let typos = if !typo["enabled"].as_bool().unwrap_or(true) || normalized.len() < one {
            0
        } else if normalized.len() < two {
            1
        } else {
            2
        };
        (normalized.chars().collect(), typos)
    });
    counts(docs, facet, by_count, usize::MAX)
        .into_iter()
        .filter(|(_, _, number)| number.is_none())
        .filter(|(display, _, _)| match &wanted {
            Some((query, typos)) => {
                let value: Vec<char> = super::tokenize::normalize(display).chars().collect();
                crate::util::prefix_levenshtein(query, &value) <= *typos
            }
            None => true,
        })
        .take(index.settings.max_values_per_facet())
        .map(|(display, count, _)| json!({"value": display, "count": count}))
        .collect()
}
