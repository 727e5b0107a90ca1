//! Search: `POST`/`GET /indexes/{uid}/search`, `POST /indexes/{uid}/facet-search` and
//! `POST /multi-search` (plain and federated).
//!
//! Modelled: tokenization of strings, numbers and booleans (never `null`) in every
//! searchable attribute, nested objects and arrays included; prefix search on the last word;
//! typo tolerance with Meilisearch's default word sizes; phrases; `-word` exclusions; stop
//! words; matching strategies (`frequency` behaves like `last`); the ranking rules and
//! `_rankingScore` / `_rankingScoreDetails` (see [`rank`]); sort (including `_geoPoint`);
//! offset/limit and page/hitsPerPage; facets with stats; distinct; attributes to retrieve,
//! highlight and crop; `_matchesPosition`; ranking score threshold; attributes to search on;
//! `pagination.maxTotalHits`. Not modelled: synonyms, dictionary and separator settings,
//! localized attributes, hybrid/vector search, search cutoff.

pub mod facets;
pub mod format;
pub mod query;
pub mod rank;
pub mod routes;
pub mod tokenize;
pub mod words;

use serde_json::{json, Map, Value};

use crate::documents::{parse_sort, select_fields};
use crate::error::{ApiError, ApiResult};
use crate::filter::{self, field_values, normalize_facet};
use crate::settings::{is_faceted_by, PatternMatch};
use crate::store::Index;

use format::FormatOptions;
use query::SearchRequest;
use rank::{Rule, Searchable, TypoConfig};

/// The result of one search on one index.
#[derive(Debug, Clone)]
pub struct SearchResult {
    /// Formatted hits.
    pub hits: Vec<Map<String, Value>>,
    /// Global ranking score of each hit.
    pub scores: Vec<f64>,
    /// Internal document id of each hit.
    pub internal_ids: Vec<u32>,
    /// Comparable ranking steps of each hit (for federated merging).
    pub score_values: Vec<Vec<rank::ScoreValue>>,
    /// Internal ids of every matching document (after threshold and distinct).
    pub candidates: Vec<u32>,
    /// The query text.
    pub query: String,
    /// `limit`/`offset`/`estimatedTotalHits` or the page fields.
    pub hits_info: Map<String, Value>,
    /// `facetDistribution` when facets were asked for.
    pub facet_distribution: Option<Value>,
    /// `facetStats` when facets were asked for.
    pub facet_stats: Option<Value>,
}

impl SearchResult {
    /// The response body (without `processingTimeMs`, added by the caller).
    pub fn into_json(self, processing_ms: u128, extra_first: Option<(&str, Value)>) -> Value {
        let mut out = Map::new();
        if let Some((key, value)) = extra_first {
            out.insert(key.into(), value);
        }
        out.insert(
            "hits".into(),
            Value::Array(self.hits.into_iter().map(Value::Object).collect()),
        );
        out.insert("query".into(), json!(self.query));
        out.insert("processingTimeMs".into(), json!(processing_ms));
        for (k, v) in self.hits_info {
            out.insert(k, v);
        }
        if let Some(distribution) = self.facet_distribution {
            out.insert("facetDistribution".into(), distribution);
        }
        if let Some(stats) = self.facet_stats {
            out.insert("facetStats".into(), stats);
        }
        out.insert("requestUid".into(), json!(crate::util::uuid_v7_like()));
        Value::Object(out)
    }
}

fn parse_geo_point(expression: &str) -> Option<(f64, f64)> {
    let inner = expression.strip_prefix("_geoPoint(")?.strip_suffix(')')?;
    let (lat, lng) = inner.split_once(',')?;
    Some((lat.trim().parse().ok()?, lng.trim().parse().ok()?))
}

fn sort_rules(index: &Index, sort: &[String]) -> ApiResult<Vec<Rule>> {
    let code = "invalid_search_sort";
    let mut rules = Vec::new();
    for item in sort {
        if let Some((expr, order)) = item.rsplit_once(':') {
            if expr.starts_with("_geoPoint(") {
                let Some(point) = parse_geo_point(expr) else {
                    return Err(ApiError::new(code, format!("Invalid syntax for the geo parameter: expected expression formated like `_geoPoint(latitude, longitude)` and ending by `:asc` or `:desc`, found `{item}`.")));
                };
                if order != "asc" && order != "desc" {
                    return Err(ApiError::new(code, format!("Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{item}`.")));
                }
                rules.push(Rule::Geo {
                    point,
                    ascending: order == "asc",
                });
                continue;
            }
            match expr {
                "_geo" => return Err(ApiError::new(code, "`_geo` is a reserved keyword and thus can't be used as a sort expression. Use the _geoPoint(latitude, longitude) built-in rule to sort on _geo field coordinates.")),
                "_geoDistance" => return Err(ApiError::new(code, "`_geoDistance` is a reserved keyword and thus can't be used as a sort expression.")),
                _ => {}
            }
        }
        let (field, ascending) = parse_sort(std::slice::from_ref(item), code)?.remove(0);
        rules.push(Rule::Sort { field, ascending });
    }
    let sortable = index.settings.sortable();
    for rule in &rules {
        let field = match rule {
            Rule::Sort { field, .. } => field.as_str(),
            _ => "_geo",
        };
        if !sortable.iter().any(|s| is_faceted_by(field, s)) {
            let tail = if sortable.is_empty() {
                "This index does not have configured sortable attributes.".to_string()
            } else {
                format!(
                    "Available sortable attributes are: `{}`.",
                    sortable.join(", ")
                )
            };
            return Err(ApiError::new(
                code,
                format!("Attribute `{field}` is not sortable. {tail}"),
            )
            .with_index_prefix(&index.uid));
        }
    }
    if !rules.is_empty() && !index.settings.ranking_rules().iter().any(|r| r == "sort") {
        return Err(ApiError::new(code, "You must specify where `sort` is listed in the rankingRules setting to use the sort parameter at search time.").with_index_prefix(&index.uid));
    }
    Ok(rules)
}

fn check_distinct(index: &Index, field: &str) -> ApiResult<()> {
    let rules = index.settings.filterable();
    let ok = rules
        .iter()
        .find(|r| r.match_str(field) == PatternMatch::Match)
        .is_some_and(|r| r.filterable());
    if ok {
        return Ok(());
    }
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
    Err(ApiError::new(
        "invalid_search_distinct",
        format!("Attribute `{field}` is not filterable and thus, cannot be used as distinct attribute. {tail}"),
    )
    .with_index_prefix(&index.uid))
}

fn check_search_on(index: &Index, attributes: &[String]) -> ApiResult<()> {
    let Some(searchable) = index.settings.searchable() else {
        return Ok(());
    };
    for attribute in attributes {
        if attribute == "*" {
            continue;
        }
        if !searchable.iter().any(|s| is_faceted_by(attribute, s)) {
            return Err(ApiError::new(
                "invalid_search_attributes_to_search_on",
                format!(
                    "Attribute `{attribute}` is not searchable. Available searchable attributes are: `{}`.",
                    searchable.join(", ")
                ),
            )
            .with_index_prefix(&index.uid));
        }
    }
    Ok(())
}

/// The value a document is deduplicated on, if any.
fn distinct_key(doc: &Map<String, Value>, field: &str) -> Option<String> {
    let mut leaves = Vec::new();
    for value in field_values(doc, field) {
        match value {
            Value::Array(items) => leaves.extend(items.iter()),
            other => leaves.push(other),
        }
    }
    leaves.into_iter().find_map(|v| match v {
        Value::String(s) => Some(format!("s:{}", normalize_facet(s))),
        Value::Number(n) => n.as_f64().map(|f| format!("n:{f}")),
        Value::Bool(b) => Some(format!("s:{b}")),
        _ => None,
    })
}

/// Runs one search on one index. `window` overrides the (offset, limit) pagination, as
/// federated search does. `pins` are the dynamic search rules' `(position, document id)` in
/// force (see `crate::rules`): each document that exists and passes the filter is taken out of
/// the ranking and placed at its position (after the last hit when there are fewer).
pub fn execute(
    index: &Index,
    request: &SearchRequest,
    window: Option<(usize, usize)>,
    pins: &[(u32, String)],
) -> ApiResult<SearchResult> {
    let settings = &index.settings;
    let expr = match &request.filter {
        Some(f) => filter::parse_json(f, "invalid_search_filter")?,
        None => None,
    };
    if let Some(expr) = &expr {
        expr.check(&settings.filterable()).map_err(|e| {
            ApiError::new("invalid_search_filter", e.message).with_index_prefix(&index.uid)
        })?;
    }
    let sort = sort_rules(index, request.sort.as_deref().unwrap_or(&[]))?;
    let distinct = match &request.distinct {
        Some(field) => {
            check_distinct(index, field)?;
            Some(field.clone())
        }
        None => settings.distinct(),
    };
    if let Some(attributes) = &request.attributes_to_search_on {
        check_search_on(index, attributes)?;
    }
    let facets = match &request.facets {
        Some(requested) => Some(facets::resolve(index, requested)?),
        None => None,
    };

    let typo = TypoConfig::from_settings(settings);
    let parsed = rank::parse_query(
        request.q.as_deref().unwrap_or(""),
        &settings.stop_words(),
        &typo,
    );
    let placeholder = parsed.terms.is_empty();
    let (rules, unified) = rank::rules(settings, placeholder, request.matching_strategy, &sort);
    let searchable = Searchable::new(settings, request.attributes_to_search_on.clone());

    // A keyword search ranks only the documents that can match its first term (the ranking
    // drops every other); a placeholder search ranks them all.
    let candidates = parsed
        .terms
        .first()
        .map(|first| index.word_index().candidates(first));
    let scanned: Box<dyn Iterator<Item = (&u32, &crate::store::Doc)>> = match &candidates {
        Some(ids) => Box::new(ids.iter().filter_map(|id| index.docs.get_key_value(id))),
        None => Box::new(index.docs.iter()),
    };
    let mut ranked: Vec<rank::Ranked> = Vec::new();
    for (internal, doc) in scanned {
        if let Some(expr) = &expr {
            if !filter::matches(expr, &doc.body) {
                continue;
            }
        }
        if let Some(r) = rank::rank_document(
            *internal,
            &doc.body,
            doc.leaves(),
            &parsed,
            &rules,
            request.matching_strategy,
            &searchable,
            &typo,
        ) {
            ranked.push(r);
        }
    }
    if let Some(threshold) = request.ranking_score_threshold {
        ranked.retain(|r| r.score >= threshold);
    }
    let mut pinned: Vec<(u32, u32)> = Vec::new();
    for (position, id) in pins {
        let Some(internal) = index.ids.get(id).copied() else {
            continue;
        };
        let in_filter = index.docs.get(&internal).is_some_and(|doc| {
            expr.as_ref()
                .is_none_or(|expr| filter::matches(expr, &doc.body))
        });
        if in_filter && !pinned.iter().any(|(_, p)| *p == internal) {
            pinned.push((*position, internal));
        }
    }
    ranked.retain(|r| !pinned.iter().any(|(_, p)| *p == r.internal));
    ranked.sort_by(|a, b| rank::compare(&rules, a, b));
    if let Some(field) = &distinct {
        let mut seen = std::collections::HashSet::new();
        ranked.retain(|r| {
            match index
                .docs
                .get(&r.internal)
                .and_then(|d| distinct_key(&d.body, field))
            {
                Some(key) => seen.insert(key),
                None => true,
            }
        });
    }

    // Pins in position order (ties in rule order), each at its position or right after the
    // previous pin, never past the end.
    pinned.sort_by_key(|(position, _)| *position);
    let mut pinned_at = std::collections::HashMap::new();
    let mut previous: Option<usize> = None;
    for (position, internal) in &pinned {
        let wanted = (*position as usize).max(previous.map_or(0, |p| p + 1));
        let place = wanted.min(ranked.len());
        ranked.insert(place, rank::Ranked::pinned(*internal));
        pinned_at.insert(*internal, *position);
        previous = Some(place);
    }

    let max_total_hits = settings.max_total_hits();
    let finite = request.page.is_some() || request.hits_per_page.is_some();
    let (offset, limit) = match window {
        Some(window) => window,
        None if finite => {
            let per_page = request.hits_per_page.unwrap_or(20);
            match request.page.unwrap_or(1).checked_sub(1) {
                Some(p) => (per_page.saturating_mul(p), per_page),
                None => (0, 0),
            }
        }
        None => (request.offset, request.limit),
    };
    let offset = offset.min(max_total_hits);
    let clamped_limit = limit.min(max_total_hits - offset);
    // Totals are not capped by `maxTotalHits` (checked on Meilisearch 1.50): only the
    // reachable window is.
    let number_of_hits = ranked.len();

    let format_options = FormatOptions {
        highlight: request.attributes_to_highlight.clone().unwrap_or_default(),
        crop: request.attributes_to_crop.clone().unwrap_or_default(),
        crop_length: request.crop_length,
        crop_marker: request.crop_marker.clone(),
        pre_tag: request.highlight_pre_tag.clone(),
        post_tag: request.highlight_post_tag.clone(),
    };
    let wants_formatted = !format_options.highlight.is_empty() || !format_options.crop.is_empty();
    let displayed = settings.displayed();
    let geo_target = rules.iter().find_map(|r| match r {
        Rule::Geo { point, .. } => Some(*point),
        _ => None,
    });

    let mut hits = Vec::new();
    let mut scores = Vec::new();
    let mut internal_ids = Vec::new();
    let mut score_values = Vec::new();
    for r in ranked.iter().skip(offset).take(clamped_limit) {
        let Some(doc) = index.docs.get(&r.internal) else {
            continue;
        };
        let mut ordered = index.ordered(&doc.body);
        if !request.retrieve_vectors {
            ordered.shift_remove("_vectors");
        }
        let visible = format::displayed(&ordered, displayed.as_deref());
        let mut hit = match &request.attributes_to_retrieve {
            Some(fields) => select_fields(&visible, fields),
            None => visible.clone(),
        };
        if let (Some(point), Some(position)) = (geo_target, filter::geo_point(&doc.body)) {
            hit.insert(
                "_geoDistance".into(),
                json!(filter::distance(point, position).round() as u64),
            );
        }
        if wants_formatted {
            let mut fields: Vec<String> = request
                .attributes_to_retrieve
                .clone()
                .unwrap_or_else(|| vec!["*".into()]);
            for list in [&format_options.highlight, &format_options.crop] {
                fields.extend(
                    list.iter()
                        .map(|f| f.split(':').next().unwrap_or(f).to_string()),
                );
            }
            let source = select_fields(&visible, &fields);
            hit.insert(
                "_formatted".into(),
                Value::Object(format::formatted(&source, &parsed.terms, &format_options)),
            );
        }
        if request.show_matches_position {
            hit.insert(
                "_matchesPosition".into(),
                Value::Object(format::matches_position(&visible, &parsed.terms)),
            );
        }
        if request.show_ranking_score {
            hit.insert("_rankingScore".into(), json!(r.score));
        }
        if request.show_ranking_score_details {
            let details = match pinned_at.get(&r.internal) {
                Some(position) => json!({"pin": {"order": 0, "position": position}}),
                None => Value::Object(rank::details(&rules, unified, r)),
            };
            hit.insert("_rankingScoreDetails".into(), details);
        }
        hits.push(hit);
        scores.push(r.score);
        internal_ids.push(r.internal);
        score_values.push(rank::score_values(&rules, r));
    }

    let mut hits_info = Map::new();
    if finite && window.is_none() {
        let per_page = request.hits_per_page.unwrap_or(20);
        let total_pages = number_of_hits
            .saturating_add(per_page.saturating_sub(1))
            .checked_div(per_page)
            .unwrap_or(0);
        hits_info.insert("hitsPerPage".into(), json!(per_page));
        hits_info.insert("page".into(), json!(request.page.unwrap_or(1)));
        hits_info.insert("totalPages".into(), json!(total_pages));
        hits_info.insert("totalHits".into(), json!(number_of_hits));
    } else {
        hits_info.insert("limit".into(), json!(limit));
        hits_info.insert("offset".into(), json!(offset));
        hits_info.insert("estimatedTotalHits".into(), json!(number_of_hits));
    }

    let (facet_distribution, facet_stats) = match facets {
        Some(facets) => {
            let docs: Vec<&Map<String, Value>> = ranked
                .iter()
                .filter_map(|r| index.docs.get(&r.internal).map(|d| &d.body))
                .collect();
            let (distribution, stats) =
                facets::distribution(index, &docs, &facets, settings.max_values_per_facet());
            (Some(distribution), Some(stats))
        }
        None => (None, None),
    };

    Ok(SearchResult {
        hits,
        scores,
        internal_ids,
        score_values,
        candidates: ranked.iter().map(|r| r.internal).collect(),
        query: request.q.clone().unwrap_or_default(),
        hits_info,
        facet_distribution,
        facet_stats,
    })
}

/// Candidates of a facet search: documents matching `q` and `filter`.
pub fn facet_candidates<'a>(
    index: &'a Index,
    request: &SearchRequest,
) -> ApiResult<Vec<&'a Map<String, Value>>> {
    let settings = &index.settings;
    let expr = match &request.filter {
        Some(f) => filter::parse_json(f, "invalid_search_filter")?,
        None => None,
    };
    if let Some(expr) = &expr {
        expr.check(&settings.filterable()).map_err(|e| {
            ApiError::new("invalid_search_filter", e.message).with_index_prefix(&index.uid)
        })?;
    }
    let typo = TypoConfig::from_settings(settings);
    let parsed = rank::parse_query(
        request.q.as_deref().unwrap_or(""),
        &settings.stop_words(),
        &typo,
    );
    let (rules, _) = rank::rules(
        settings,
        parsed.terms.is_empty(),
        request.matching_strategy,
        &[],
    );
    let searchable = Searchable::new(settings, request.attributes_to_search_on.clone());
    let mut out = Vec::new();
    for (internal, doc) in &index.docs {
        if expr
            .as_ref()
            .is_some_and(|e| !filter::matches(e, &doc.body))
        {
            continue;
        }
        if rank::rank_document(
            *internal,
            &doc.body,
            doc.leaves(),
            &parsed,
            &rules,
            request.matching_strategy,
            &searchable,
            &typo,
        )
        .is_some()
        {
            out.push(&doc.body);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::rank::{self, parse_query, rank_document, Searchable, Strategy, TypoConfig};
    use crate::store::Index;

    /// Every document a full scan ranks for a query is among the candidates of its first term,
    /// so ranking only the candidates gives the same hits.
    #[test]
    fn a_scan_ranks_no_document_outside_the_candidates() {
        let words = [
            "amber", "ambers", "breeze", "canyon", "cañon", "delta", "ember", "amberly",
        ];
        let mut index = Index::new("docs", Some("id".into()));
        for id in 0..200usize {
            let title = format!(
                "{} {}",
                words[id % words.len()],
                words[(id * 5 + 3) % words.len()]
            );
            let body =
                json!({"id": id, "title": title, "more": {"note": words[(id * 3) % words.len()]}});
            index.put(
                id.to_string(),
                body.as_object().cloned().unwrap_or_default(),
            );
        }
        let settings = &index.settings;
        let typo = TypoConfig::from_settings(settings);
        let searchable = Searchable::new(settings, None);
        for q in [
            "amber",
            "amb",
            "ambar",
            "ambers delta",
            "\"amber canyon\"",
            "canon",
            "zzz",
            "delta -ember",
        ] {
            let parsed = parse_query(q, &settings.stop_words(), &typo);
            let (rules, _) = rank::rules(settings, parsed.terms.is_empty(), Strategy::Last, &[]);
            let candidates = index.word_index().candidates(&parsed.terms[0]);
            let scanned: Vec<u32> = index
                .docs
                .iter()
                .filter(|(internal, doc)| {
                    rank_document(
                        **internal,
                        &doc.body,
                        doc.leaves(),
                        &parsed,
                        &rules,
                        Strategy::Last,
                        &searchable,
                        &typo,
                    )
                    .is_some()
                })
                .map(|(internal, _)| *internal)
                .collect();
            assert!(
                scanned
                    .iter()
                    .all(|id| candidates.binary_search(id).is_ok()),
                "{q}: scanned {scanned:?}, candidates {candidates:?}"
            );
            if q != "zzz" {
                assert!(!scanned.is_empty(), "{q} matches something");
            }
        }
        // A change of the documents is seen by the next search.
        index.put(
            "999".into(),
            json!({"id": 999, "title": "zzz"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let parsed = parse_query("zzz", &[], &typo);
        assert_eq!(index.word_index().candidates(&parsed.terms[0]).len(), 1);
    }
}
