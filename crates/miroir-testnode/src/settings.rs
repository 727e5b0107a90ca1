//! Index settings: Meilisearch 1.50's defaults, synchronous validation of updates (with the
//! `invalid_settings_*` codes and deserr-shaped messages), and application by the worker.
//! Settings that only affect indexing internals (dictionary, separators, proximity precision,
//! localized attributes, embedders, prefix search, search cutoff) are stored and echoed but do
//! not change search behaviour here.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::util::{invalid_value, type_error, unknown_field, unknown_value, Kind};

/// Every key `PATCH /settings` accepts, in Meilisearch's struct order.
pub const ALL_KEYS: [&str; 22] = [
    "displayedAttributes",
    "searchableAttributes",
    "filterableAttributes",
    "sortableAttributes",
    "foreignKeys",
    "rankingRules",
    "stopWords",
    "nonSeparatorTokens",
    "separatorTokens",
    "dictionary",
    "synonyms",
    "distinctAttribute",
    "proximityPrecision",
    "typoTolerance",
    "faceting",
    "pagination",
    "embedders",
    "searchCutoffMs",
    "localizedAttributes",
    "facetSearch",
    "prefixSearch",
    "chat",
];

/// The experimental feature a setting needs, if any: without it the setting is hidden and
/// refused.
pub fn feature_of(key: &str) -> Option<&'static str> {
    match key {
        "foreignKeys" => Some("foreignKeys"),
        "chat" => Some("chatCompletions"),
        _ => None,
    }
}

/// The settings sub-routes: URL segment, JSON key, update verb (`put` or `patch`).
pub const SUB_ROUTES: [(&str, &str, &str); 22] = [
    ("foreign-keys", "foreignKeys", "put"),
    ("chat", "chat", "patch"),
    ("displayed-attributes", "displayedAttributes", "put"),
    ("searchable-attributes", "searchableAttributes", "put"),
    ("filterable-attributes", "filterableAttributes", "put"),
    ("sortable-attributes", "sortableAttributes", "put"),
    ("ranking-rules", "rankingRules", "put"),
    ("stop-words", "stopWords", "put"),
    ("non-separator-tokens", "nonSeparatorTokens", "put"),
    ("separator-tokens", "separatorTokens", "put"),
    ("dictionary", "dictionary", "put"),
    ("synonyms", "synonyms", "put"),
    ("distinct-attribute", "distinctAttribute", "put"),
    ("proximity-precision", "proximityPrecision", "put"),
    ("typo-tolerance", "typoTolerance", "patch"),
    ("faceting", "faceting", "patch"),
    ("pagination", "pagination", "patch"),
    ("embedders", "embedders", "patch"),
    ("search-cutoff-ms", "searchCutoffMs", "put"),
    ("localized-attributes", "localizedAttributes", "put"),
    ("facet-search", "facetSearch", "put"),
    ("prefix-search", "prefixSearch", "put"),
];

/// The default ranking rules of Meilisearch 1.50.
pub const DEFAULT_RANKING_RULES: [&str; 7] = [
    "words",
    "typo",
    "proximity",
    "attributeRank",
    "sort",
    "wordPosition",
    "exactness",
];

/// The default value of one setting (as `GET` shows it on a new index).
pub fn default_value(key: &str) -> Value {
    match key {
        "displayedAttributes" | "searchableAttributes" => json!(["*"]),
        "filterableAttributes"
        | "sortableAttributes"
        | "stopWords"
        | "nonSeparatorTokens"
        | "separatorTokens"
        | "dictionary"
        | "foreignKeys" => json!([]),
        "rankingRules" => json!(DEFAULT_RANKING_RULES),
        "synonyms" | "embedders" => json!({}),
        "proximityPrecision" => json!("byWord"),
        "typoTolerance" => json!({
            "enabled": true,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
            "disableOnWords": [],
            "disableOnAttributes": [],
            "disableOnNumbers": false
        }),
        "faceting" => json!({"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}}),
        "pagination" => json!({"maxTotalHits": 1000}),
        "facetSearch" => json!(true),
        "prefixSearch" => json!("indexingTime"),
        "chat" => json!({
            "description": "",
            "documentTemplate": "{% for field in fields %}{{ field.name }}: {{ field.value }}\n{% endfor %}",
            "documentTemplateMaxBytes": 400,
            "searchParameters": {}
        }),
        _ => Value::Null,
    }
}

/// An index's current settings (every visible key, in `GET` order).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    values: Map<String, Value>,
}

impl Default for Settings {
    fn default() -> Self {
        let mut values = Map::new();
        for key in ALL_KEYS {
            values.insert(key.to_string(), default_value(key));
        }
        Settings { values }
    }
}

/// One `filterableAttributes` rule.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterRule {
    /// A plain attribute name: filters on it and its nested fields, facet search on.
    Field(String),
    /// `attributePatterns` with explicit features.
    Patterns {
        /// Patterns (`*` wildcards at either end).
        patterns: Vec<String>,
        /// Facet search allowed.
        facet_search: bool,
        /// `=`, `!=`, `IN` allowed.
        equality: bool,
        /// `<`, `>`, `TO` allowed.
        comparison: bool,
    },
}

/// How a field matches a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternMatch {
    /// The field matches.
    Match,
    /// The field is a parent of something the pattern matches.
    Parent,
    /// No relation.
    NoMatch,
}

/// `field` is `facet` or nested under it.
pub fn is_faceted_by(field: &str, facet: &str) -> bool {
    field.starts_with(facet) && field[facet.len()..].chars().next().is_none_or(|c| c == '.')
}

/// Meilisearch's wildcard pattern matching.
pub fn match_pattern(pattern: &str, field: &str) -> PatternMatch {
    let matched = if pattern == "*" {
        true
    } else if pattern.len() >= 2 && pattern.starts_with('*') && pattern.ends_with('*') {
        field.contains(&pattern[1..pattern.len() - 1])
    } else if let Some(rest) = pattern.strip_prefix('*') {
        field.ends_with(rest)
    } else if let Some(rest) = pattern.strip_suffix('*') {
        field.starts_with(rest)
    } else {
        pattern == field
    };
    if matched {
        PatternMatch::Match
    } else if is_faceted_by(pattern, field) {
        PatternMatch::Parent
    } else {
        PatternMatch::NoMatch
    }
}

impl FilterRule {
    /// How `field` relates to this rule.
    pub fn match_str(&self, field: &str) -> PatternMatch {
        match self {
            FilterRule::Field(name) => {
                if is_faceted_by(field, name) {
                    PatternMatch::Match
                } else if is_faceted_by(name, field) {
                    PatternMatch::Parent
                } else {
                    PatternMatch::NoMatch
                }
            }
            FilterRule::Patterns { patterns, .. } => {
                let mut result = PatternMatch::NoMatch;
                for pattern in patterns {
                    match match_pattern(pattern, field) {
                        PatternMatch::Match => return PatternMatch::Match,
                        PatternMatch::Parent => result = PatternMatch::Parent,
                        PatternMatch::NoMatch => {}
                    }
                }
                result
            }
        }
    }

    /// Whether any filter operation is allowed.
    pub fn filterable(&self) -> bool {
        match self {
            FilterRule::Field(_) => true,
            FilterRule::Patterns {
                equality,
                comparison,
                ..
            } => *equality || *comparison,
        }
    }

    /// (equality, comparison) allowed.
    pub fn operators(&self) -> (bool, bool) {
        match self {
            FilterRule::Field(_) => (true, true),
            FilterRule::Patterns {
                equality,
                comparison,
                ..
            } => (*equality, *comparison),
        }
    }

    /// Facet search allowed.
    pub fn facet_search(&self) -> bool {
        match self {
            FilterRule::Field(_) => true,
            FilterRule::Patterns { facet_search, .. } => *facet_search,
        }
    }

    /// The rule's patterns as displayed in error messages.
    pub fn patterns(&self) -> Vec<String> {
        match self {
            FilterRule::Field(name) => vec![name.clone()],
            FilterRule::Patterns { patterns, .. } => patterns.clone(),
        }
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Settings {
    /// The `GET /settings` object.
    pub fn to_json(&self) -> Value {
        Value::Object(self.values.clone())
    }

    /// One setting's current value.
    pub fn get(&self, key: &str) -> Value {
        self.values
            .get(key)
            .cloned()
            .unwrap_or_else(|| default_value(key))
    }

    /// Applies a validated update (`null` resets).
    pub fn apply(&mut self, update: &Map<String, Value>) {
        for (key, value) in update {
            let new = if value.is_null() {
                default_value(key)
            } else {
                match key.as_str() {
                    "typoTolerance" | "faceting" | "pagination" | "chat" => {
                        merge(&self.get(key), value, &default_value(key))
                    }
                    "embedders" => {
                        let mut current = self.get(key).as_object().cloned().unwrap_or_default();
                        if let Some(update) = value.as_object() {
                            for (name, embedder) in update {
                                if embedder.is_null() {
                                    current.shift_remove(name);
                                } else {
                                    let merged = match current.get(name) {
                                        Some(old) => merge(old, embedder, &json!({})),
                                        None => embedder.clone(),
                                    };
                                    current.insert(name.clone(), merged);
                                }
                            }
                        }
                        Value::Object(current)
                    }
                    _ => value.clone(),
                }
            };
            self.values.insert(key.clone(), new);
        }
    }

    /// `None` means every attribute (`["*"]`).
    fn list_or_all(&self, key: &str) -> Option<Vec<String>> {
        let list = strings(&self.get(key));
        if list.iter().any(|s| s == "*") {
            None
        } else {
            Some(list)
        }
    }

    /// Displayed attributes (`None` = all).
    pub fn displayed(&self) -> Option<Vec<String>> {
        self.list_or_all("displayedAttributes")
    }

    /// Searchable attributes in priority order (`None` = all).
    pub fn searchable(&self) -> Option<Vec<String>> {
        self.list_or_all("searchableAttributes")
    }

    /// Filterable attribute rules.
    pub fn filterable(&self) -> Vec<FilterRule> {
        let mut out = Vec::new();
        for rule in self
            .get("filterableAttributes")
            .as_array()
            .into_iter()
            .flatten()
        {
            match rule {
                Value::String(name) => out.push(FilterRule::Field(name.clone())),
                Value::Object(object) => {
                    let features = object.get("features");
                    let flag = |path: &[&str], default: bool| {
                        let mut v = features;
                        for p in path {
                            v = v.and_then(|x| x.get(*p));
                        }
                        v.and_then(Value::as_bool).unwrap_or(default)
                    };
                    out.push(FilterRule::Patterns {
                        patterns: strings(object.get("attributePatterns").unwrap_or(&Value::Null)),
                        facet_search: flag(&["facetSearch"], false),
                        equality: flag(&["filter", "equality"], true),
                        comparison: flag(&["filter", "comparison"], false),
                    });
                }
                _ => {}
            }
        }
        out
    }

    /// Sortable attributes.
    pub fn sortable(&self) -> Vec<String> {
        strings(&self.get("sortableAttributes"))
    }

    /// Ranking rules.
    pub fn ranking_rules(&self) -> Vec<String> {
        strings(&self.get("rankingRules"))
    }

    /// Stop words.
    pub fn stop_words(&self) -> Vec<String> {
        strings(&self.get("stopWords"))
    }

    /// Distinct attribute.
    pub fn distinct(&self) -> Option<String> {
        self.get("distinctAttribute").as_str().map(String::from)
    }

    /// The typo tolerance object.
    pub fn typo(&self) -> Value {
        self.get("typoTolerance")
    }

    /// `faceting.maxValuesPerFacet`.
    pub fn max_values_per_facet(&self) -> usize {
        self.get("faceting")["maxValuesPerFacet"]
            .as_u64()
            .unwrap_or(100) as usize
    }

    /// `faceting.sortFacetValuesBy` for one facet (`alpha` or `count`).
    pub fn sort_facet_values_by(&self, facet: &str) -> String {
        let by = self.get("faceting")["sortFacetValuesBy"].clone();
        let object = by.as_object().cloned().unwrap_or_default();
        if let Some(v) = object.get(facet).and_then(Value::as_str) {
            return v.to_string();
        }
        for (pattern, v) in &object {
            if pattern != "*" && match_pattern(pattern, facet) == PatternMatch::Match {
                if let Some(v) = v.as_str() {
                    return v.to_string();
                }
            }
        }
        object
            .get("*")
            .and_then(Value::as_str)
            .unwrap_or("alpha")
            .to_string()
    }

    /// `pagination.maxTotalHits`.
    pub fn max_total_hits(&self) -> usize {
        self.get("pagination")["maxTotalHits"]
            .as_u64()
            .unwrap_or(1000) as usize
    }

    /// `facetSearch`.
    pub fn facet_search_enabled(&self) -> bool {
        self.get("facetSearch").as_bool().unwrap_or(true)
    }
}

/// Recursive object merge: keys of `update` override, `null` resets to `defaults`.
fn merge(current: &Value, update: &Value, defaults: &Value) -> Value {
    let (Some(current), Some(update)) = (current.as_object(), update.as_object()) else {
        return update.clone();
    };
    let mut out = current.clone();
    for (key, value) in update {
        let default = defaults.get(key).cloned().unwrap_or(Value::Null);
        let new = if value.is_null() {
            default
        } else if value.is_object() && key != "sortFacetValuesBy" {
            merge(current.get(key).unwrap_or(&default), value, &default)
        } else {
            value.clone()
        };
        out.insert(key.clone(), new);
    }
    Value::Object(out)
}

/// The `invalid_settings_*` code of a setting key.
pub fn code_of(key: &str) -> String {
    let mut code = String::from("invalid_settings_");
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            code.push('_');
            code.push(c.to_ascii_lowercase());
        } else {
            code.push(c);
        }
    }
    code
}

struct Check<'a> {
    code: &'a str,
}

impl Check<'_> {
    fn err(&self, message: String) -> ApiError {
        ApiError::new(self.code, message)
    }

    fn array<'v>(&self, path: &str, value: &'v Value) -> ApiResult<&'v Vec<Value>> {
        value
            .as_array()
            .ok_or_else(|| self.err(type_error(path, &[Kind::Seq], value)))
    }

    fn object<'v>(&self, path: &str, value: &'v Value) -> ApiResult<&'v Map<String, Value>> {
        value
            .as_object()
            .ok_or_else(|| self.err(type_error(path, &[Kind::Map], value)))
    }

    fn string_list(&self, path: &str, value: &Value) -> ApiResult<Vec<String>> {
        let mut out = Vec::new();
        for (i, item) in self.array(path, value)?.iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push(s.to_string()),
                None => {
                    return Err(self.err(type_error(&format!("{path}[{i}]"), &[Kind::Str], item)))
                }
            }
        }
        Ok(out)
    }

    fn bool(&self, path: &str, value: &Value) -> ApiResult<Value> {
        match value {
            Value::Bool(_) | Value::Null => Ok(value.clone()),
            _ => Err(self.err(type_error(path, &[Kind::Bool], value))),
        }
    }

    fn positive(&self, path: &str, value: &Value) -> ApiResult<Value> {
        match value {
            Value::Null => Ok(Value::Null),
            Value::Number(n) if n.is_u64() => Ok(value.clone()),
            _ => Err(self.err(type_error(path, &[Kind::PosInt], value))),
        }
    }

    fn keys(&self, path: &str, object: &Map<String, Value>, accepted: &[&str]) -> ApiResult<()> {
        for key in object.keys() {
            if !accepted.contains(&key.as_str()) {
                return Err(self.err(unknown_field(path, key, accepted)));
            }
        }
        Ok(())
    }
}

fn sorted_set(list: Vec<String>) -> Value {
    let set: BTreeSet<String> = list.into_iter().collect();
    json!(set.into_iter().collect::<Vec<_>>())
}

fn valid_ranking_rule(rule: &str) -> bool {
    if [
        "words",
        "typo",
        "proximity",
        "attribute",
        "attributeRank",
        "wordPosition",
        "sort",
        "exactness",
    ]
    .contains(&rule)
    {
        return true;
    }
    match rule.rsplit_once(':') {
        Some((field, order)) => !field.is_empty() && (order == "asc" || order == "desc"),
        None => false,
    }
}

/// Validates one setting value (`path` is `.key` from `PATCH /settings`, empty from a
/// sub-route) and returns the normalized value to store (`null` = reset).
pub fn validate(key: &str, path: &str, value: &Value) -> ApiResult<Value> {
    let code = code_of(key);
    let check = Check { code: &code };
    if value.is_null() {
        return Ok(Value::Null);
    }
    match key {
        "displayedAttributes" | "searchableAttributes" => {
            Ok(json!(check.string_list(path, value)?))
        }
        "sortableAttributes" | "stopWords" | "nonSeparatorTokens" | "separatorTokens"
        | "dictionary" => Ok(sorted_set(check.string_list(path, value)?)),
        "filterableAttributes" => {
            let mut out = Vec::new();
            for (i, item) in check.array(path, value)?.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                match item {
                    Value::String(_) => out.push(item.clone()),
                    Value::Object(object) => {
                        check.keys(&item_path, object, &["attributePatterns", "features"])?;
                        let Some(patterns) = object.get("attributePatterns") else {
                            return Err(check
                                .err(crate::util::missing_field(&item_path, "attributePatterns")));
                        };
                        let patterns = check
                            .string_list(&format!("{item_path}.attributePatterns"), patterns)?;
                        let features_path = format!("{item_path}.features");
                        let mut facet_search = false;
                        let mut equality = true;
                        let mut comparison = false;
                        if let Some(features) = object.get("features") {
                            let features = check.object(&features_path, features)?;
                            check.keys(&features_path, features, &["facetSearch", "filter"])?;
                            if let Some(v) = features.get("facetSearch") {
                                check.bool(&format!("{features_path}.facetSearch"), v)?;
                                facet_search = v.as_bool().unwrap_or(false);
                            }
                            if let Some(filter) = features.get("filter") {
                                let filter_path = format!("{features_path}.filter");
                                let filter = check.object(&filter_path, filter)?;
                                check.keys(&filter_path, filter, &["equality", "comparison"])?;
                                if let Some(v) = filter.get("equality") {
                                    check.bool(&format!("{filter_path}.equality"), v)?;
                                    equality = v.as_bool().unwrap_or(true);
                                }
                                if let Some(v) = filter.get("comparison") {
                                    check.bool(&format!("{filter_path}.comparison"), v)?;
                                    comparison = v.as_bool().unwrap_or(false);
                                }
                            }
                        }
                        out.push(json!({
                            "attributePatterns": patterns,
                            "features": {
                                "facetSearch": facet_search,
                                "filter": {"equality": equality, "comparison": comparison}
                            }
                        }));
                    }
                    other => {
                        return Err(check.err(type_error(
                            &item_path,
                            &[Kind::Str, Kind::Map],
                            other,
                        )))
                    }
                }
            }
            Ok(Value::Array(out))
        }
        "rankingRules" => {
            let rules = check.string_list(path, value)?;
            for (i, rule) in rules.iter().enumerate() {
                if !valid_ranking_rule(rule) {
                    return Err(check.err(invalid_value(
                        &format!("{path}[{i}]"),
                        &format!("`{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."),
                    )));
                }
            }
            let has = |name: &str| rules.iter().any(|r| r == name);
            if has("attribute") && (has("attributeRank") || has("wordPosition")) {
                return Err(check.err(invalid_value(path, "Mixed usage of the attribute, attributeRank, and wordPosition ranking rules. You must either use the attribute ranking rule alone or the attributeRank and wordPosition ranking rules.")));
            }
            Ok(json!(rules))
        }
        "synonyms" => {
            let object = check.object(path, value)?;
            let mut out = Map::new();
            for (word, list) in object {
                let list = check.string_list(&format!("{path}.{word}"), list)?;
                out.insert(word.clone(), json!(list));
            }
            Ok(Value::Object(out))
        }
        "distinctAttribute" => match value {
            Value::String(_) => Ok(value.clone()),
            _ => Err(check.err(type_error(path, &[Kind::Str, Kind::Null], value))),
        },
        "proximityPrecision" | "prefixSearch" => {
            let accepted: &[&str] = if key == "proximityPrecision" {
                &["byWord", "byAttribute"]
            } else {
                &["indexingTime", "disabled"]
            };
            match value.as_str() {
                Some(s) if accepted.contains(&s) => Ok(value.clone()),
                Some(s) => Err(check.err(unknown_value(path, s, accepted))),
                None => Err(check.err(type_error(path, &[Kind::Str], value))),
            }
        }
        "facetSearch" => check.bool(path, value),
        "searchCutoffMs" => check.positive(path, value),
        "typoTolerance" => {
            let object = check.object(path, value)?;
            check.keys(
                path,
                object,
                &[
                    "enabled",
                    "minWordSizeForTypos",
                    "disableOnWords",
                    "disableOnAttributes",
                    "disableOnNumbers",
                ],
            )?;
            let mut out = Map::new();
            for (k, v) in object {
                let p = format!("{path}.{k}");
                let normalized = match k.as_str() {
                    "enabled" | "disableOnNumbers" => check.bool(&p, v)?,
                    "disableOnWords" | "disableOnAttributes" => {
                        if v.is_null() {
                            Value::Null
                        } else {
                            sorted_set(check.string_list(&p, v)?)
                        }
                    }
                    _ => {
                        if v.is_null() {
                            Value::Null
                        } else {
                            let sizes = check.object(&p, v)?;
                            check.keys(&p, sizes, &["oneTypo", "twoTypos"])?;
                            let mut m = Map::new();
                            for (sk, sv) in sizes {
                                m.insert(sk.clone(), check.positive(&format!("{p}.{sk}"), sv)?);
                            }
                            let one = m.get("oneTypo").and_then(Value::as_u64).unwrap_or(5);
                            let two = m.get("twoTypos").and_then(Value::as_u64).unwrap_or(9);
                            if one > two {
                                return Err(check.err(format!("`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between `0` and `255`, and `twoTypos` should be greater or equals to `oneTypo` but found `oneTypo: {one}` and twoTypos: {two}`.")));
                            }
                            Value::Object(m)
                        }
                    }
                };
                out.insert(k.clone(), normalized);
            }
            Ok(Value::Object(out))
        }
        "faceting" => {
            let object = check.object(path, value)?;
            check.keys(path, object, &["maxValuesPerFacet", "sortFacetValuesBy"])?;
            let mut out = Map::new();
            for (k, v) in object {
                let p = format!("{path}.{k}");
                let normalized = if k == "maxValuesPerFacet" {
                    check.positive(&p, v)?
                } else if v.is_null() {
                    Value::Null
                } else {
                    let by = check.object(&p, v)?;
                    let mut m = Map::new();
                    for (facet, order) in by {
                        match order.as_str() {
                            Some("alpha") | Some("count") => {
                                m.insert(facet.clone(), order.clone());
                            }
                            Some(other) => {
                                return Err(check.err(unknown_value(
                                    &format!("{p}.{facet}"),
                                    other,
                                    &["alpha", "count"],
                                )))
                            }
                            None => {
                                return Err(check.err(type_error(
                                    &format!("{p}.{facet}"),
                                    &[Kind::Str],
                                    order,
                                )))
                            }
                        }
                    }
                    if !m.contains_key("*") {
                        m.insert("*".into(), json!("alpha"));
                    }
                    Value::Object(m)
                };
                out.insert(k.clone(), normalized);
            }
            Ok(Value::Object(out))
        }
        "pagination" => {
            let object = check.object(path, value)?;
            check.keys(path, object, &["maxTotalHits"])?;
            let mut out = Map::new();
            if let Some(v) = object.get("maxTotalHits") {
                let p = format!("{path}.maxTotalHits");
                if v.as_u64() == Some(0) {
                    return Err(check.err(invalid_value(&p, "a non-zero integer value lower than `18446744073709551615` was expected, but found a zero")));
                }
                out.insert("maxTotalHits".into(), check.positive(&p, v)?);
            }
            Ok(Value::Object(out))
        }
        "embedders" => {
            let object = check.object(path, value)?;
            for (name, embedder) in object {
                if !embedder.is_null() {
                    check.object(&format!("{path}.{name}"), embedder)?;
                }
            }
            Ok(value.clone())
        }
        "localizedAttributes" => {
            let mut out = Vec::new();
            for (i, item) in check.array(path, value)?.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let object = check.object(&p, item)?;
                check.keys(&p, object, &["attributePatterns", "locales"])?;
                let patterns = check.string_list(
                    &format!("{p}.attributePatterns"),
                    object.get("attributePatterns").unwrap_or(&json!([])),
                )?;
                let locales = check.string_list(
                    &format!("{p}.locales"),
                    object.get("locales").unwrap_or(&json!([])),
                )?;
                out.push(json!({"attributePatterns": patterns, "locales": locales}));
            }
            Ok(Value::Array(out))
        }
        "foreignKeys" => {
            let keys = value
                .as_array()
                .ok_or_else(|| check.err(type_error(path, &[Kind::Seq], value)))?;
            for (i, key) in keys.iter().enumerate() {
                let object = check.object(&format!("{path}[{i}]"), key)?;
                check.keys(
                    &format!("{path}[{i}]"),
                    object,
                    &["foreignIndexUid", "fieldName"],
                )?;
            }
            Ok(value.clone())
        }
        "chat" => Ok(Value::Object(check.object(path, value)?.clone())),
        _ => Err(ApiError::bad_request(unknown_field("", key, &ALL_KEYS))),
    }
}

/// Validates a whole `PATCH /settings` body into an update map.
pub fn validate_all(body: &Value) -> ApiResult<Map<String, Value>> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(type_error("", &[Kind::Map], body)));
    };
    for key in object.keys() {
        if !ALL_KEYS.contains(&key.as_str()) {
            return Err(ApiError::bad_request(unknown_field("", key, &ALL_KEYS)));
        }
    }
    let mut out = Map::new();
    for key in ALL_KEYS {
        if let Some(value) = object.get(key) {
            out.insert(key.to_string(), validate(key, &format!(".{key}"), value)?);
        }
    }
    Ok(out)
}

/// The update `DELETE /settings` performs: every key reset.
pub fn reset_all() -> Map<String, Value> {
    ALL_KEYS
        .iter()
        .map(|key| (key.to_string(), Value::Null))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_every_key() {
        // Two of them (`foreignKeys`, `chat`) are hidden by the routes while their feature is off.
        let settings = Settings::default();
        assert_eq!(settings.to_json().as_object().map(Map::len), Some(22));
    }

    #[test]
    fn typo_merge() {
        let mut settings = Settings::default();
        let update =
            validate_all(&json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}}}))
                .unwrap();
        settings.apply(&update);
        assert_eq!(
            settings.typo()["minWordSizeForTypos"],
            json!({"oneTypo": 4, "twoTypos": 9})
        );
    }

    #[test]
    fn patterns() {
        assert_eq!(
            FilterRule::Field("a".into()).match_str("a.b"),
            PatternMatch::Match
        );
        assert_eq!(match_pattern("a.*", "a.b"), PatternMatch::Match);
        assert_eq!(match_pattern("a.b", "a"), PatternMatch::Parent);
    }
}
