//! Search requests: the body a client sends (or the `GET` parameters turned into one), the
//! fields Miroir itself reads parsed once with Meilisearch's error codes, the pagination window
//! and the parts of a node's answer the merge reads.
//!
//! Everything else in a search body is the nodes' business: it is forwarded as given, so each
//! node validates it with Meilisearch's own messages.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use miroir_core::reserved::{reserved_in_filter, reserved_in_list, reserved_in_sort};

use super::error::{reserved_attribute, MeiliError};

/// The parts of a node's search (or federated multi-search) answer the merge reads; hits
/// stay raw.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeSearchAnswer {
    /// The node that answered (set by Miroir, not read from the answer).
    #[serde(skip)]
    pub node: String,
    pub hits: Vec<Box<RawValue>>,
    #[serde(default)]
    pub estimated_total_hits: Option<u64>,
    #[serde(default)]
    pub total_hits: Option<u64>,
    #[serde(default)]
    pub facet_distribution: Option<Map<String, Value>>,
    #[serde(default)]
    pub facet_stats: Option<Map<String, Value>>,
    #[serde(default)]
    pub facets_by_index: Option<Map<String, Value>>,
    #[serde(default)]
    pub processing_time_ms: u64,
    #[serde(default)]
    pub semantic_hit_count: Option<u64>,
    #[serde(default)]
    pub performance_details: Option<Value>,
}

/// Meilisearch's default `pagination.maxTotalHits`.
pub(crate) const DEFAULT_MAX_TOTAL_HITS: u64 = 1000;

/// The window of hits a query asks for, in either pagination mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    /// `page`/`hitsPerPage` mode (exact totals) rather than `offset`/`limit`.
    pub page_mode: bool,
    /// Hits to skip.
    pub skip: u64,
    /// Hits to return.
    pub want: u64,
    /// The requested page (page mode).
    pub page: u64,
    /// Hits per page (page mode; in offset mode, the limit).
    pub per_page: u64,
    /// Hits to fetch from each shard (the window's end, clipped by [`Window::within`]).
    fetch: u64,
}

impl Window {
    /// Clips the window to `pagination.maxTotalHits`: no hit beyond that rank is reachable,
    /// as on Meilisearch (the totals are not capped).
    pub fn within(mut self, max_total_hits: Option<u64>) -> Window {
        let max = max_total_hits.unwrap_or(DEFAULT_MAX_TOTAL_HITS);
        self.fetch = self.fetch.min(max);
        self
    }

    /// How deep every shard must be searched: the window's end, within `maxTotalHits`.
    pub fn depth(&self) -> u64 {
        self.fetch
    }
}

/// A search request: the client's body, and what Miroir reads of it, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct SearchQuery {
    /// The body as the client sent it (tenant-token rules already ANDed into `filter`).
    pub body: Map<String, Value>,
    /// Which hits the client asked for.
    pub window: Window,
    /// `showRankingScore`.
    pub show_ranking_score: bool,
    /// `showRankingScoreDetails`.
    pub show_ranking_score_details: bool,
    /// `showPerformanceDetails`.
    pub show_performance_details: bool,
}

impl SearchQuery {
    /// Reads a search body. `at` is where the body sits in the request (`""` for a search,
    /// `.queries[2]` inside a multi-search, `.federation` for federation options), as
    /// Meilisearch names it in its messages.
    pub fn parse(body: Map<String, Value>, at: &str) -> Result<SearchQuery, MeiliError> {
        refuse_reserved(&body)?;
        let offset = count(&body, at, "offset", "invalid_search_offset", false)?;
        let limit = count(&body, at, "limit", "invalid_search_limit", false)?;
        let page = count(&body, at, "page", "invalid_search_page", true)?;
        let per_page = count(
            &body,
            at,
            "hitsPerPage",
            "invalid_search_hits_per_page",
            true,
        )?;
        let page_mode = page.is_some() || per_page.is_some();
        let window = if page_mode {
            let page = page.unwrap_or(1);
            let per_page = per_page.unwrap_or(20);
            // Page 0 exists and is always empty (its totals are still computed).
            let (skip, want) = match page.checked_sub(1) {
                Some(before) => (before.saturating_mul(per_page), per_page),
                None => (0, 0),
            };
            Window {
                page_mode,
                skip,
                want,
                page,
                per_page,
                fetch: skip.saturating_add(want),
            }
        } else {
            let (skip, want) = (offset.unwrap_or(0), limit.unwrap_or(20));
            Window {
                page_mode,
                skip,
                want,
                page: 1,
                per_page: want,
                fetch: skip.saturating_add(want),
            }
        };
        let flag = |name: &str, code: &str| boolean(&body, at, name, code);
        Ok(SearchQuery {
            show_ranking_score: flag("showRankingScore", "invalid_search_show_ranking_score")?,
            show_ranking_score_details: flag(
                "showRankingScoreDetails",
                "invalid_search_show_ranking_score_details",
            )?,
            show_performance_details: flag(
                "showPerformanceDetails",
                "invalid_search_show_performance_details",
            )?,
            window,
            body,
        })
    }

    /// The query text, as the answer echoes it.
    pub fn q(&self) -> Value {
        self.body
            .get("q")
            .filter(|q| !q.is_null())
            .cloned()
            .unwrap_or(Value::String(String::new()))
    }

    /// The `distinct` parameter, when it names an attribute.
    pub fn distinct(&self) -> Option<&str> {
        self.body.get("distinct").and_then(Value::as_str)
    }
}

/// Refuses a search that names the reserved marker attribute where an attribute is expected
/// (see `miroir_core::reserved`), with the code Meilisearch gives for an attribute that is not
/// filterable, facetable or sortable. The tenant token's rules are in `filter` already.
fn refuse_reserved(body: &Map<String, Value>) -> Result<(), MeiliError> {
    type Finder = fn(&Value) -> Option<String>;
    let checks: [(&str, &str, Finder); 4] = [
        ("filter", "invalid_search_filter", reserved_in_filter),
        ("facets", "invalid_search_facets", reserved_in_list),
        ("sort", "invalid_search_sort", reserved_in_sort),
        ("distinct", "invalid_search_distinct", reserved_in_list),
    ];
    for (field, code, find) in checks {
        if let Some(name) = body.get(field).and_then(find) {
            return Err(reserved_attribute(code, &name));
        }
    }
    Ok(())
}

/// How deserr (Meilisearch's deserializer) describes a value it did not expect.
fn found(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".to_string(),
        Value::Number(n) if n.is_u64() => "a positive integer",
        Value::Number(n) if n.is_i64() => "a negative integer",
        other => super::json_kind(other),
    };
    format!("{kind}: `{value}`")
}

/// A non-negative integer field; `null` is accepted (as absent) only where Meilisearch's field
/// is optional.
fn count(
    body: &Map<String, Value>,
    at: &str,
    name: &str,
    code: &str,
    nullable: bool,
) -> Result<Option<u64>, MeiliError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            MeiliError::invalid(
                code,
                format!(
                    "Invalid value type at `{at}.{name}`: expected a positive integer, but found {}",
                    found(value)
                ),
            )
        }),
    }
}

/// A boolean field (absent: `false`).
fn boolean(
    body: &Map<String, Value>,
    at: &str,
    name: &str,
    code: &str,
) -> Result<bool, MeiliError> {
    match body.get(name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(value) => Err(MeiliError::invalid(
            code,
            format!(
                "Invalid value type at `{at}.{name}`: expected a boolean, but found {}",
                found(value)
            ),
        )),
    }
}

/// Converts `GET /search` query parameters into the JSON body Meilisearch accepts on `POST`.
pub(crate) fn params_to_body(
    params: &HashMap<String, String>,
) -> Result<Map<String, Value>, MeiliError> {
    let mut body = Map::new();
    for (name, raw) in params {
        let value = match name.as_str() {
            "offset" | "limit" | "page" | "hitsPerPage" | "cropLength" => {
                let code = format!("invalid_search_{}", snake(name));
                let number = raw.parse::<u64>().map_err(|_| {
                    MeiliError::invalid(
                        &code,
                        format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer"),
                    )
                })?;
                Value::from(number)
            }
            "rankingScoreThreshold" | "hybridSemanticRatio" => {
                let number = raw.parse::<f64>().map_err(|_| {
                    MeiliError::invalid(
                        &format!("invalid_search_{}", snake(name)),
                        format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a number"),
                    )
                })?;
                json!(number)
            }
            "showMatchesPosition" | "showRankingScore" | "showRankingScoreDetails"
            | "retrieveVectors" | "showPerformanceDetails" | "exhaustiveFacetCount" => {
                match raw.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(MeiliError::invalid(
                        &format!("invalid_search_{}", snake(name)),
                        format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a boolean, expected either `true` or `false`"),
                    ))
                }
                }
            }
            "attributesToRetrieve" | "attributesToCrop" | "attributesToHighlight" | "sort"
            | "facets" | "attributesToSearchOn" | "locales" => Value::Array(
                raw.split(',')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect(),
            ),
            "vector" => Value::Array(
                raw.split(',')
                    .map(|s| {
                        s.trim().parse::<f64>().map(|f| json!(f)).map_err(|_| {
                            MeiliError::invalid(
                                "invalid_search_vector",
                                format!("Invalid value in parameter `vector`: could not parse `{s}` as a number"),
                            )
                        })
                    })
                    .collect::<Result<Vec<Value>, MeiliError>>()?,
            ),
            "filter" => serde_json::from_str::<Value>(raw)
                .ok()
                .filter(Value::is_array)
                .unwrap_or_else(|| Value::String(raw.clone())),
            _ => Value::String(raw.clone()),
        };
        body.insert(name.clone(), value);
    }
    if let (Some(embedder), ratio) = (
        body.remove("hybridEmbedder"),
        body.remove("hybridSemanticRatio"),
    ) {
        let mut hybrid = Map::new();
        hybrid.insert("embedder".into(), embedder);
        if let Some(ratio) = ratio {
            hybrid.insert("semanticRatio".into(), ratio);
        }
        body.insert("hybrid".into(), Value::Object(hybrid));
    }
    Ok(body)
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<SearchQuery, MeiliError> {
        let Value::Object(map) = body else {
            panic!("not an object")
        };
        SearchQuery::parse(map, "")
    }

    #[test]
    fn windows_in_both_modes() {
        let q = parse(json!({"offset": 5, "limit": 10})).unwrap();
        assert_eq!(
            (q.window.skip, q.window.want, q.window.depth()),
            (5, 10, 15)
        );
        let q = parse(json!({"page": 3, "hitsPerPage": 7})).unwrap();
        assert!(q.window.page_mode);
        assert_eq!(
            (q.window.skip, q.window.want, q.window.depth()),
            (14, 7, 21)
        );
        let q = parse(json!({"page": 0})).unwrap();
        assert_eq!(
            (q.window.want, q.window.depth(), q.window.per_page),
            (0, 0, 20)
        );
        let q = parse(json!({"offset": 990, "limit": 20})).unwrap();
        assert_eq!(q.window.within(None).depth(), 1000);
        assert_eq!(q.window.within(Some(2000)).depth(), 1010);
    }

    #[test]
    fn wrong_types_answer_meilisearch_errors() {
        let e = parse(json!({"offset": "doggo"})).unwrap_err();
        assert_eq!(e.code, "invalid_search_offset");
        assert_eq!(
            e.message,
            "Invalid value type at `.offset`: expected a positive integer, but found a string: `\"doggo\"`"
        );
        let e = parse(json!({"limit": -1})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value type at `.limit`: expected a positive integer, but found a negative integer: `-1`"
        );
        let e = SearchQuery::parse(
            json!({"showRankingScore": 1}).as_object().cloned().unwrap(),
            ".queries[0]",
        )
        .unwrap_err();
        assert_eq!(e.code, "invalid_search_show_ranking_score");
        assert!(
            e.message.contains("`.queries[0].showRankingScore`"),
            "{}",
            e.message
        );
        assert!(parse(json!({"page": null, "hitsPerPage": 3})).is_ok());
        assert!(parse(json!({"offset": null})).is_err());
    }

    #[test]
    fn get_parameters_become_a_body() {
        let params: HashMap<String, String> = [
            ("limit", "3"),
            ("attributesToRetrieve", "a, b"),
            ("vector", "0.5,1"),
            ("hybridEmbedder", "e"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let body = params_to_body(&params).unwrap();
        assert_eq!(body["limit"], json!(3));
        assert_eq!(body["attributesToRetrieve"], json!(["a", "b"]));
        assert_eq!(body["vector"], json!([0.5, 1.0]));
        assert_eq!(body["hybrid"], json!({"embedder": "e"}));
        let bad: HashMap<String, String> = [("vector".to_string(), "1,x".to_string())]
            .into_iter()
            .collect();
        assert_eq!(
            params_to_body(&bad).unwrap_err().code,
            "invalid_search_vector"
        );
    }
}
