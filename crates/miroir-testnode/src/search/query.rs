//! Search request parsing: the JSON body of `POST …/search` (and of each multi-search
//! query), and `GET …/search` parameters converted to that body, with Meilisearch's
//! `invalid_search_*` codes and messages.

use serde_json::{Map, Value};

use super::rank::Strategy;
use crate::error::{ApiError, ApiResult};
use crate::http::Params;
use crate::util::{invalid_value, type_error, unknown_field, unknown_value, Kind};

/// Every field of a search query, in Meilisearch's order.
pub const SEARCH_FIELDS: [&str; 30] = [
    "q",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "attributesToRetrieve",
    "attributesToCrop",
    "cropLength",
    "cropMarker",
    "attributesToHighlight",
    "highlightPreTag",
    "highlightPostTag",
    "showMatchesPosition",
    "filter",
    "sort",
    "distinct",
    "facets",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
    "locales",
    "hybrid",
    "vector",
    "retrieveVectors",
    "media",
    "personalize",
    "useNetwork",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
];

/// A validated search request.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Query text.
    pub q: Option<String>,
    /// Offset.
    pub offset: usize,
    /// Limit.
    pub limit: usize,
    /// Page (finite pagination).
    pub page: Option<usize>,
    /// Hits per page (finite pagination).
    pub hits_per_page: Option<usize>,
    /// Attributes to retrieve.
    pub attributes_to_retrieve: Option<Vec<String>>,
    /// Attributes to crop.
    pub attributes_to_crop: Option<Vec<String>>,
    /// Crop length.
    pub crop_length: usize,
    /// Crop marker.
    pub crop_marker: String,
    /// Attributes to highlight.
    pub attributes_to_highlight: Option<Vec<String>>,
    /// Highlight pre tag.
    pub highlight_pre_tag: String,
    /// Highlight post tag.
    pub highlight_post_tag: String,
    /// Show `_matchesPosition`.
    pub show_matches_position: bool,
    /// Filter (JSON as sent).
    pub filter: Option<Value>,
    /// Sort criteria.
    pub sort: Option<Vec<String>>,
    /// Distinct attribute.
    pub distinct: Option<String>,
    /// Facets.
    pub facets: Option<Vec<String>>,
    /// Matching strategy.
    pub matching_strategy: Strategy,
    /// Attributes to search on.
    pub attributes_to_search_on: Option<Vec<String>>,
    /// Ranking score threshold.
    pub ranking_score_threshold: Option<f64>,
    /// Retrieve `_vectors`.
    pub retrieve_vectors: bool,
    /// Show `_rankingScore`.
    pub show_ranking_score: bool,
    /// Show `_rankingScoreDetails`.
    pub show_ranking_score_details: bool,
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

/// The error code of a search field.
pub fn code_of(field: &str) -> String {
    match field {
        "hybrid" => "invalid_search_hybrid_query".into(),
        other => format!("invalid_search_{}", snake(other)),
    }
}

struct Reader<'a> {
    object: &'a Map<String, Value>,
    path: &'a str,
}

impl Reader<'_> {
    fn err(&self, field: &str, message: String) -> ApiError {
        ApiError::new(&code_of(field), message)
    }

    fn location(&self, field: &str) -> String {
        format!("{}.{field}", self.path)
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    fn usize(&self, field: &str) -> ApiResult<Option<usize>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64().map(|n| n as usize)),
            Some(other) => Err(self.err(
                field,
                type_error(&self.location(field), &[Kind::PosInt], other),
            )),
        }
    }

    fn bool(&self, field: &str) -> ApiResult<bool> {
        match self.get(field) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.err(
                field,
                type_error(&self.location(field), &[Kind::Bool], other),
            )),
        }
    }

    fn string(&self, field: &str) -> ApiResult<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(
                field,
                type_error(&self.location(field), &[Kind::Str], other),
            )),
        }
    }

    fn strings(&self, field: &str) -> ApiResult<Option<Vec<String>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.err(
                        field,
                        type_error(
                            &format!("{}[{i}]", self.location(field)),
                            &[Kind::Str],
                            other,
                        ),
                    )),
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.err(
                field,
                type_error(&self.location(field), &[Kind::Seq], other),
            )),
        }
    }
}

/// Validates a search body. `path` prefixes error locations (`.queries[0]` in multi-search);
/// `extra` lists additional accepted fields.
pub fn parse_request(body: &Value, path: &str, extra: &[&str]) -> ApiResult<SearchRequest> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(type_error(path, &[Kind::Map], body)));
    };
    let mut accepted: Vec<&str> = extra.to_vec();
    accepted.extend(SEARCH_FIELDS);
    for key in object.keys() {
        if !accepted.contains(&key.as_str()) {
            return Err(ApiError::bad_request(unknown_field(path, key, &accepted)));
        }
    }
    let r = Reader { object, path };
    for unsupported in ["hybrid", "vector", "media", "personalize"] {
        if r.get(unsupported).is_some() {
            return Err(r.err(
                unsupported,
                format!("The test node does not support `{unsupported}` (no embedders)."),
            ));
        }
    }
    let matching_strategy = match r.get("matchingStrategy") {
        None => Strategy::Last,
        Some(Value::String(s)) => match s.as_str() {
            "last" => Strategy::Last,
            "all" => Strategy::All,
            "frequency" => Strategy::Frequency,
            other => {
                return Err(r.err(
                    "matchingStrategy",
                    unknown_value(
                        &r.location("matchingStrategy"),
                        other,
                        &["last", "all", "frequency"],
                    ),
                ))
            }
        },
        Some(other) => {
            return Err(r.err(
                "matchingStrategy",
                type_error(&r.location("matchingStrategy"), &[Kind::Str], other),
            ))
        }
    };
    let ranking_score_threshold = match r.get("rankingScoreThreshold") {
        None => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if (0.0..=1.0).contains(&f) => Some(f),
            _ => {
                return Err(r.err(
                    "rankingScoreThreshold",
                    invalid_value(
                        &r.location("rankingScoreThreshold"),
                        "the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`.",
                    ),
                ))
            }
        },
        Some(other) => {
            return Err(r.err(
                "rankingScoreThreshold",
                type_error(&r.location("rankingScoreThreshold"), &[Kind::Float], other),
            ))
        }
    };
    let request = SearchRequest {
        q: r.string("q")?,
        offset: r.usize("offset")?.unwrap_or(0),
        limit: r.usize("limit")?.unwrap_or(20),
        page: r.usize("page")?,
        hits_per_page: r.usize("hitsPerPage")?,
        attributes_to_retrieve: r.strings("attributesToRetrieve")?,
        attributes_to_crop: r.strings("attributesToCrop")?,
        crop_length: r.usize("cropLength")?.unwrap_or(10),
        crop_marker: r.string("cropMarker")?.unwrap_or_else(|| "…".into()),
        attributes_to_highlight: r.strings("attributesToHighlight")?,
        highlight_pre_tag: r
            .string("highlightPreTag")?
            .unwrap_or_else(|| "<em>".into()),
        highlight_post_tag: r
            .string("highlightPostTag")?
            .unwrap_or_else(|| "</em>".into()),
        show_matches_position: r.bool("showMatchesPosition")?,
        filter: r.get("filter").cloned(),
        sort: r.strings("sort")?,
        distinct: r.string("distinct")?,
        facets: r.strings("facets")?,
        matching_strategy,
        attributes_to_search_on: r.strings("attributesToSearchOn")?,
        ranking_score_threshold,
        retrieve_vectors: r.bool("retrieveVectors")?,
        show_ranking_score: r.bool("showRankingScore")?,
        show_ranking_score_details: r.bool("showRankingScoreDetails")?,
    };
    r.strings("locales")?;
    r.bool("showPerformanceDetails")?;
    r.bool("useNetwork")?;
    Ok(request)
}

const GET_PARAMS: [&str; 30] = [
    "q",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "attributesToRetrieve",
    "retrieveVectors",
    "attributesToCrop",
    "cropLength",
    "cropMarker",
    "attributesToHighlight",
    "filter",
    "sort",
    "distinct",
    "showMatchesPosition",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
    "facets",
    "highlightPreTag",
    "highlightPostTag",
    "matchingStrategy",
    "attributesToSearchOn",
    "hybridEmbedder",
    "hybridSemanticRatio",
    "vector",
    "rankingScoreThreshold",
    "locales",
    "personalizeUserContext",
    "useNetwork",
];

/// Converts `GET /search` parameters into the equivalent JSON body.
pub fn params_to_body(params: &Params) -> ApiResult<Value> {
    params.deny_unknown(&GET_PARAMS)?;
    let mut body = Map::new();
    for (name, raw) in params.pairs() {
        let code = code_of(name);
        let value = match name.as_str() {
            "offset" | "limit" | "page" | "hitsPerPage" | "cropLength" => {
                Value::from(params.usize(name, &code)?.unwrap_or(0))
            }
            "showMatchesPosition"
            | "showRankingScore"
            | "showRankingScoreDetails"
            | "showPerformanceDetails"
            | "retrieveVectors"
            | "useNetwork" => Value::Bool(params.bool(name, &code)?.unwrap_or(false)),
            "rankingScoreThreshold" => {
                let number = raw.parse::<f64>().map_err(|_| {
                    ApiError::new(
                        &code,
                        format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a number"),
                    )
                })?;
                if !(0.0..=1.0).contains(&number) {
                    return Err(ApiError::new(
                        &code,
                        format!("Invalid value in parameter `{name}`: the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`."),
                    ));
                }
                serde_json::json!(number)
            }
            "matchingStrategy" => {
                if !["last", "all", "frequency"].contains(&raw.as_str()) {
                    return Err(ApiError::new(
                        &code,
                        format!("Unknown value `{raw}` for parameter `matchingStrategy`: expected one of `last`, `all`, `frequency`"),
                    ));
                }
                Value::String(raw.clone())
            }
            "attributesToRetrieve"
            | "attributesToCrop"
            | "attributesToHighlight"
            | "sort"
            | "facets"
            | "attributesToSearchOn"
            | "locales" => Value::Array(
                raw.split(',')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect(),
            ),
            "filter" => match serde_json::from_str::<Value>(raw) {
                Ok(v @ Value::Array(_)) => v,
                _ => Value::String(raw.clone()),
            },
            "hybridEmbedder" | "hybridSemanticRatio" | "vector" | "personalizeUserContext" => {
                return Err(ApiError::new(
                    &code,
                    "The test node does not support hybrid, vector or personalized search.",
                ))
            }
            _ => Value::String(raw.clone()),
        };
        body.insert(name.clone(), value);
    }
    Ok(Value::Object(body))
}
