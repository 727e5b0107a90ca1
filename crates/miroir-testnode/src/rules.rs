//! Dynamic search rules (`/dynamic-search-rules`), kept minimal: rules are stored as sent
//! (a `PATCH` sets the fields it names, `null` removes one) and applied as their task is
//! registered; a search pins, at their positions, the documents named by the `pin` actions of
//! the rules in force, in precedence order. Modelled conditions: `active`,
//! `conditions.query.isEmpty`, `conditions.query.words` (every word of that string among the
//! query's words) and `conditions.time` (`start`/`end`, RFC 3339); a rule without `active` is
//! active (Meilisearch 1.50 stops applying such rules once another rule sets `active`: tests
//! set it on every rule). Not modelled: rule search in
//! the listing (`filter.query`), the limits on rules and pins per search, pins in federated
//! search. Writes need the `dynamicSearchRules` experimental feature; searches ignore rules
//! while it is off.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::store::{AppState, Op, Store};

/// The experimental feature the rules need.
const FEATURE: &str = "dynamicSearchRules";
/// The index Meilisearch names in the tasks of rule changes.
const RULES_INDEX: &str = ".meili_dsr";
/// The fields a rule change may set.
const FIELDS: [&str; 5] = [
    "description",
    "precedence",
    "active",
    "conditions",
    "actions",
];

fn feature_on(store: &Store) -> bool {
    store.features.get(FEATURE) == Some(&Value::Bool(true))
}

fn require_feature(state: &AppState) -> ApiResult<()> {
    if feature_on(&state.lock()) {
        return Ok(());
    }
    Err(ApiError::new(
        "feature_not_enabled",
        "Using the `/dynamic-search-rules` routes requires enabling the `dynamic search rules` experimental feature. See https://github.com/orgs/meilisearch/discussions/884",
    ))
}

fn not_found(uid: &str) -> ApiError {
    ApiError::new(
        "dynamic_search_rule_not_found",
        format!("Dynamic search rule `{uid}` not found."),
    )
}

/// A rule as Meilisearch shows it: its uid first, `active` and `conditions` defaulted.
fn shown(uid: &str, rule: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("uid".into(), json!(uid));
    for field in ["description", "precedence"] {
        if let Some(value) = rule.get(field) {
            out.insert(field.into(), value.clone());
        }
    }
    out.insert(
        "active".into(),
        rule.get("active").cloned().unwrap_or(Value::Bool(true)),
    );
    out.insert(
        "conditions".into(),
        rule.get("conditions").cloned().unwrap_or_else(|| json!({})),
    );
    out.insert(
        "actions".into(),
        rule.get("actions").cloned().unwrap_or_else(|| json!([])),
    );
    Value::Object(out)
}

/// `POST /dynamic-search-rules`: the rules in creation order, paginated, optionally only
/// the active (or inactive) ones.
pub async fn list_rules(
    State(state): State<Arc<AppState>>,
    Json(query): Json<Value>,
) -> ApiResult<Json<Value>> {
    let offset = query["offset"].as_u64().unwrap_or(0) as usize;
    let limit = query["limit"].as_u64().unwrap_or(20) as usize;
    let active = query["filter"]["active"].as_bool();
    let store = state.lock();
    let matching: Vec<Value> = store
        .rules
        .iter()
        .filter_map(|(uid, rule)| rule.as_object().map(|rule| shown(uid, rule)))
        .filter(|rule| active.is_none_or(|active| rule["active"] == json!(active)))
        .collect();
    let total = matching.len();
    let results: Vec<Value> = matching.into_iter().skip(offset).take(limit).collect();
    Ok(Json(
        json!({"results": results, "offset": offset, "limit": limit, "total": total}),
    ))
}

/// `GET /dynamic-search-rules/{uid}`
pub async fn get_rule(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> ApiResult<Json<Value>> {
    let store = state.lock();
    match store.rules.get(&uid).and_then(Value::as_object) {
        Some(rule) => Ok(Json(shown(&uid, rule))),
        None => Err(not_found(&uid)),
    }
}

/// `PATCH /dynamic-search-rules/{uid}`: a `dsrUpdate` task creating the rule or setting the
/// fields given.
pub async fn update_rule(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    Json(change): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_feature(&state)?;
    let Some(change) = change.as_object() else {
        return Err(ApiError::bad_request(
            "Invalid value type: expected an object",
        ));
    };
    if let Some(unknown) = change.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Unknown field `{unknown}`: expected one of `description`, `precedence`, `active`, `conditions`, `actions`"
        )));
    }
    let summary = {
        let mut store = state.lock();
        let rule = store.rules.entry(uid.clone()).or_insert_with(|| json!({}));
        if let Some(rule) = rule.as_object_mut() {
            for (field, value) in change {
                if value.is_null() {
                    rule.remove(field);
                } else {
                    rule.insert(field.clone(), value.clone());
                }
            }
        }
        state.persist(&store);
        drop(store);
        let details = json!({"rule": change, "updatedRules": 1});
        state.register(
            "dsrUpdate",
            Some(RULES_INDEX.into()),
            details.as_object().cloned(),
            Op::Done,
        )
    };
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `DELETE /dynamic-search-rules/{uid}`: a `dsrUpdate` task removing the rule.
pub async fn delete_rule(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_feature(&state)?;
    {
        let mut store = state.lock();
        store.rules.shift_remove(&uid);
        state.persist(&store);
    }
    let details = json!({"updatedRules": 1}).as_object().cloned();
    let summary = state.register("dsrUpdate", Some(RULES_INDEX.into()), details, Op::Done);
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `DELETE /dynamic-search-rules`: a `dsrClear` task removing every rule.
pub async fn clear_rules(
    State(state): State<Arc<AppState>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_feature(&state)?;
    let cleared = {
        let mut store = state.lock();
        let cleared = store.rules.len();
        store.rules.clear();
        state.persist(&store);
        cleared
    };
    let details = json!({"deletedDocuments": cleared}).as_object().cloned();
    let summary = state.register("dsrClear", Some(RULES_INDEX.into()), details, Op::Done);
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// The pins in force for a search of `q` on `index_uid`, in placing order: `(position,
/// external document id)`, by rule precedence (rules without one last, in creation order),
/// then action order. Empty while the feature is off.
pub fn pins_for(store: &Store, index_uid: &str, q: &str) -> Vec<(u32, String)> {
    if !feature_on(store) {
        return Vec::new();
    }
    let query_words: Vec<String> = words_of(q).collect();
    let now = OffsetDateTime::now_utc();
    let mut in_force: Vec<(u64, &Map<String, Value>)> = store
        .rules
        .values()
        .filter_map(Value::as_object)
        .filter(|rule| applies(rule, &query_words, now))
        .map(|rule| {
            let precedence = rule.get("precedence").and_then(Value::as_u64);
            (precedence.unwrap_or(u64::MAX), rule)
        })
        .collect();
    in_force.sort_by_key(|(precedence, _)| *precedence);
    let mut pins = Vec::new();
    for (_, rule) in in_force {
        let actions = rule.get("actions").and_then(Value::as_array);
        for action in actions.into_iter().flatten() {
            let selector = &action["selector"];
            let other_index = selector["indexUid"]
                .as_str()
                .is_some_and(|uid| uid != index_uid);
            let (Some(id), Some(position)) = (
                selector["id"].as_str(),
                action["action"]["position"].as_u64(),
            ) else {
                continue;
            };
            if !other_index && action["action"]["type"] == "pin" {
                pins.push((position as u32, id.to_string()));
            }
        }
    }
    pins
}

/// The lowercase words of a text.
fn words_of(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Whether a rule is in force for a query of `query_words` at `now`.
fn applies(rule: &Map<String, Value>, query_words: &[String], now: OffsetDateTime) -> bool {
    if rule.get("active") == Some(&Value::Bool(false)) {
        return false;
    }
    let conditions = rule.get("conditions").cloned().unwrap_or(Value::Null);
    let query = &conditions["query"];
    if let Some(empty) = query["isEmpty"].as_bool() {
        if empty != query_words.is_empty() {
            return false;
        }
    }
    if let Some(words) = query["words"].as_str() {
        let all_there = words_of(words).all(|word| query_words.contains(&word));
        if !all_there {
            return false;
        }
    }
    let at = |key: &str| {
        conditions["time"][key]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    };
    if at("start").is_some_and(|start| now < start) || at("end").is_some_and(|end| now > end) {
        return false;
    }
    true
}
