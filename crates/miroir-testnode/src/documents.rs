//! Document routes: add/replace/update (all three payload formats), browse, fetch, get one,
//! and the four kinds of deletion.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::filter::{self, field_values};
use crate::http::{json_body, require_json, Params};
use crate::indexes::check_path_uid;
use crate::payload::{self, document_id, invalid_id_message};
use crate::store::{AppState, Index, Op};
use crate::util::{compare_sort_values, type_error, unknown_field, Kind};

/// Keeps only the selected fields; dotted names select nested parts (`a.b` → `{"a":{"b":…}}`).
pub fn select_fields(doc: &Map<String, Value>, fields: &[String]) -> Map<String, Value> {
    if fields.iter().any(|f| f == "*") {
        return doc.clone();
    }
    let mut out = Map::new();
    for (key, value) in doc {
        if fields.iter().any(|f| f == key) {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let nested: Vec<String> = fields
            .iter()
            .filter_map(|f| {
                f.strip_prefix(key.as_str())
                    .and_then(|r| r.strip_prefix('.'))
            })
            .map(String::from)
            .collect();
        if nested.is_empty() {
            continue;
        }
        match value {
            Value::Object(inner) => {
                let selected = select_fields(inner, &nested);
                if !selected.is_empty() {
                    out.insert(key.clone(), Value::Object(selected));
                }
            }
            Value::Array(items) => {
                let selected: Vec<Value> = items
                    .iter()
                    .filter_map(|item| item.as_object())
                    .map(|inner| select_fields(inner, &nested))
                    .filter(|m| !m.is_empty())
                    .map(Value::Object)
                    .collect();
                if !selected.is_empty() {
                    out.insert(key.clone(), Value::Array(selected));
                }
            }
            _ => {}
        }
    }
    out
}

/// The value a document sorts by on `field` (smallest for asc, largest for desc).
pub fn sort_value(doc: &Map<String, Value>, field: &str, ascending: bool) -> Value {
    let mut leaves = Vec::new();
    for value in field_values(doc, field) {
        match value {
            Value::Array(items) => {
                leaves.extend(items.iter().filter(|v| v.is_number() || v.is_string()))
            }
            v if v.is_number() || v.is_string() => leaves.push(v),
            _ => {}
        }
    }
    leaves
        .into_iter()
        .min_by(|a, b| compare_sort_values(ascending, a, b))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Parses `attr:asc` / `attr:desc` sort criteria (`code` for syntax errors).
pub fn parse_sort(items: &[String], code: &str) -> ApiResult<Vec<(String, bool)>> {
    items
        .iter()
        .map(|item| match item.rsplit_once(':') {
            Some((field, "asc")) => Ok((field.to_string(), true)),
            Some((field, "desc")) => Ok((field.to_string(), false)),
            _ => Err(ApiError::new(
                code,
                format!("Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{item}`."),
            )),
        })
        .collect()
}

fn sortable_error(index: &Index, field: &str, code: &str) -> ApiError {
    let sortable = index.settings.sortable();
    let tail = if sortable.is_empty() {
        "This index does not have configured sortable attributes.".to_string()
    } else {
        format!(
            "Available sortable attributes are: `{}`.",
            sortable.join(", ")
        )
    };
    ApiError::new(code, format!("Attribute `{field}` is not sortable. {tail}"))
}

/// Checks sort fields against `sortableAttributes`.
pub fn check_sortable(index: &Index, criteria: &[(String, bool)], code: &str) -> ApiResult<()> {
    let sortable = index.settings.sortable();
    for (field, _) in criteria {
        if field.starts_with("_geoPoint(") {
            continue;
        }
        if !sortable
            .iter()
            .any(|s| crate::settings::is_faceted_by(field, s))
        {
            return Err(sortable_error(index, field, code));
        }
    }
    Ok(())
}

/// Checks and parses a filter for documents routes.
pub fn document_filter(index: &Index, filter: &Value) -> ApiResult<Option<filter::Expr>> {
    let expr = filter::parse_json(filter, "invalid_document_filter")?;
    if let Some(expr) = &expr {
        expr.check(&index.settings.filterable())
            .map_err(|e| ApiError::new("invalid_document_filter", e.message))?;
    }
    Ok(expr)
}

/// The document as returned by the documents routes (field order, `fields`, no `_vectors`).
fn render(
    index: &Index,
    body: &Map<String, Value>,
    fields: Option<&[String]>,
    vectors: bool,
) -> Value {
    let mut doc = index.ordered(body);
    if !vectors {
        doc.shift_remove("_vectors");
    }
    match fields {
        Some(fields) => Value::Object(select_fields(&doc, fields)),
        None => Value::Object(doc),
    }
}

struct Browse {
    offset: usize,
    limit: usize,
    fields: Option<Vec<String>>,
    vectors: bool,
    ids: Option<Vec<String>>,
    filter: Option<Value>,
    sort: Vec<(String, bool)>,
}

fn browse(state: &AppState, uid: &str, query: Browse) -> ApiResult<Json<Value>> {
    let store = state.lock();
    let index = store.index(uid)?;
    if !query.sort.is_empty() {
        check_sortable(index, &query.sort, "invalid_document_sort")?;
    }
    let expr = match &query.filter {
        Some(filter) => document_filter(index, filter)?,
        None => None,
    };
    let mut docs: Vec<&crate::store::Doc> = match &query.ids {
        Some(ids) => {
            let mut internal: Vec<u32> = ids
                .iter()
                .filter_map(|id| index.ids.get(id).copied())
                .collect();
            internal.sort_unstable();
            internal.dedup();
            internal.iter().filter_map(|i| index.docs.get(i)).collect()
        }
        None => index.docs.values().collect(),
    };
    if let Some(expr) = &expr {
        docs.retain(|d| filter::matches(expr, &d.body));
    }
    if !query.sort.is_empty() {
        docs.sort_by(|a, b| {
            for (field, ascending) in &query.sort {
                let order = compare_sort_values(
                    *ascending,
                    &sort_value(&a.body, field, *ascending),
                    &sort_value(&b.body, field, *ascending),
                );
                if order != Ordering::Equal {
                    return order;
                }
            }
            Ordering::Equal
        });
    }
    let total = docs.len();
    let results: Vec<Value> = docs
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|d| render(index, &d.body, query.fields.as_deref(), query.vectors))
        .collect();
    Ok(Json(json!({
        "results": results,
        "offset": query.offset,
        "limit": query.limit,
        "total": total,
    })))
}

fn check_ids(ids: &[Value]) -> ApiResult<Vec<String>> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            document_id(id).ok_or_else(|| {
                ApiError::new(
                    "invalid_document_ids",
                    format!("In `.ids[{i}]`: {}", invalid_id_message(id)),
                )
            })
        })
        .collect()
}

fn comma_list(raw: &str) -> Vec<String> {
    raw.split(',').map(|s| s.trim().to_string()).collect()
}

/// `GET /indexes/{uid}/documents`
pub async fn get_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    check_path_uid(&uid)?;
    let params = Params::parse(raw.as_deref());
    params.deny_unknown(&[
        "offset",
        "limit",
        "fields",
        "retrieveVectors",
        "ids",
        "filter",
        "sort",
        "useNetwork",
    ])?;
    let offset = params
        .usize("offset", "invalid_document_offset")?
        .unwrap_or(0);
    let limit = params
        .usize("limit", "invalid_document_limit")?
        .unwrap_or(20);
    let vectors = params
        .bool("retrieveVectors", "invalid_document_retrieve_vectors")?
        .unwrap_or(false);
    let fields = params.get("fields").map(|f| {
        if f.is_empty() {
            Vec::new()
        } else {
            comma_list(f)
        }
    });
    let ids = match params.get("ids") {
        Some(raw) => Some(check_ids(
            &comma_list(raw)
                .into_iter()
                .map(Value::String)
                .collect::<Vec<_>>(),
        )?),
        None => None,
    };
    let sort = match params.get("sort") {
        Some(raw) if !raw.is_empty() => parse_sort(&comma_list(raw), "invalid_document_sort")?,
        _ => Vec::new(),
    };
    let filter = params
        .get("filter")
        .map(|raw| match serde_json::from_str::<Value>(raw) {
            Ok(v @ Value::Array(_)) => v,
            _ => Value::String(raw.to_string()),
        });
    browse(
        &state,
        &uid,
        Browse {
            offset,
            limit,
            fields,
            vectors,
            ids,
            filter,
            sort,
        },
    )
}

fn usize_field(object: &Map<String, Value>, key: &str, code: &str) -> ApiResult<Option<usize>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64().map(|n| n as usize)),
        Some(other) => Err(ApiError::new(
            code,
            type_error(&format!(".{key}"), &[Kind::PosInt], other),
        )),
    }
}

fn string_list_field(
    object: &Map<String, Value>,
    key: &str,
    code: &str,
) -> ApiResult<Option<Vec<String>>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(String::from).ok_or_else(|| {
                    ApiError::new(
                        code,
                        type_error(&format!(".{key}[{i}]"), &[Kind::Str], item),
                    )
                })
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(other) => Err(ApiError::new(
            code,
            type_error(&format!(".{key}"), &[Kind::Seq], other),
        )),
    }
}

/// `POST /indexes/{uid}/documents/fetch`
pub async fn fetch_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    check_path_uid(&uid)?;
    let body = json_body(&headers, &body)?;
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(type_error("", &[Kind::Map], &body)));
    };
    let accepted = [
        "offset",
        "limit",
        "fields",
        "retrieveVectors",
        "ids",
        "filter",
        "sort",
        "useNetwork",
    ];
    for key in object.keys() {
        if !accepted.contains(&key.as_str()) {
            return Err(ApiError::bad_request(unknown_field("", key, &accepted)));
        }
    }
    let offset = usize_field(object, "offset", "invalid_document_offset")?.unwrap_or(0);
    let limit = usize_field(object, "limit", "invalid_document_limit")?.unwrap_or(20);
    let fields = string_list_field(object, "fields", "invalid_document_fields")?;
    let vectors = match object.get("retrieveVectors") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::new(
                "invalid_document_retrieve_vectors",
                type_error(".retrieveVectors", &[Kind::Bool], other),
            ))
        }
    };
    let ids = match object.get("ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(check_ids(items)?),
        Some(other) => {
            return Err(ApiError::new(
                "invalid_document_ids",
                type_error(".ids", &[Kind::Seq], other),
            ))
        }
    };
    let sort = match string_list_field(object, "sort", "invalid_document_sort")? {
        Some(items) => parse_sort(&items, "invalid_document_sort")?,
        None => Vec::new(),
    };
    let filter = object.get("filter").filter(|f| !f.is_null()).cloned();
    browse(
        &state,
        &uid,
        Browse {
            offset,
            limit,
            fields,
            vectors,
            ids,
            filter,
            sort,
        },
    )
}

/// `GET /indexes/{uid}/documents/{id}`
pub async fn get_document(
    State(state): State<Arc<AppState>>,
    Path((uid, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    check_path_uid(&uid)?;
    let params = Params::parse(raw.as_deref());
    params.deny_unknown(&["fields", "retrieveVectors", "useNetwork"])?;
    let vectors = params
        .bool("retrieveVectors", "invalid_document_retrieve_vectors")?
        .unwrap_or(false);
    let fields = params.get("fields").map(comma_list);
    let store = state.lock();
    let index = store.index(&uid)?;
    let doc = index.get(&id).ok_or_else(|| {
        ApiError::new("document_not_found", format!("Document `{id}` not found."))
    })?;
    Ok(Json(render(index, &doc.body, fields.as_deref(), vectors)))
}

async fn add(
    state: Arc<AppState>,
    uid: String,
    raw: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    replace: bool,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let params = Params::parse(raw.as_deref());
    params.deny_unknown(&[
        "primaryKey",
        "csvDelimiter",
        "customMetadata",
        "skipCreation",
    ])?;
    let primary_key = params.get("primaryKey").map(String::from);
    let metadata = params.get("customMetadata").map(String::from);
    let delimiter = payload::csv_delimiter(params.get("csvDelimiter"))?;
    let format = payload::format(&headers, delimiter)?;
    let documents = payload::parse(format, &body, delimiter)?;
    let mut details = Map::new();
    details.insert("receivedDocuments".into(), json!(documents.len()));
    details.insert("indexedDocuments".into(), Value::Null);
    let summary = state.register_tagged(
        "documentAdditionOrUpdate",
        Some(uid),
        Some(details),
        Op::AddDocuments {
            documents,
            primary_key,
            replace,
        },
        metadata,
    );
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `POST /indexes/{uid}/documents` (replace).
pub async fn replace_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    add(state, uid, raw, headers, body, true).await
}

/// `PUT /indexes/{uid}/documents` (merge top-level fields).
pub async fn update_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    add(state, uid, raw, headers, body, false).await
}

fn deletion_details(provided: usize, filter: Option<String>) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("providedIds".into(), json!(provided));
    details.insert("deletedDocuments".into(), Value::Null);
    details.insert("originalFilter".into(), json!(filter));
    details
}

/// Checks a deletion's query parameters; returns its `customMetadata`.
fn deletion_params(raw: Option<&str>) -> ApiResult<Option<String>> {
    let params = Params::parse(raw);
    params.deny_unknown(&["customMetadata"])?;
    Ok(params.get("customMetadata").map(String::from))
}

/// `DELETE /indexes/{uid}/documents/{id}`
pub async fn delete_document(
    State(state): State<Arc<AppState>>,
    Path((uid, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let metadata = deletion_params(raw.as_deref())?;
    let summary = state.register_tagged(
        "documentDeletion",
        Some(uid),
        Some(deletion_details(1, None)),
        Op::DeleteIds(vec![id]),
        metadata,
    );
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `POST /indexes/{uid}/documents/delete-batch`
pub async fn delete_batch(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let metadata = deletion_params(raw.as_deref())?;
    require_json(&headers)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            "missing_payload",
            "A json payload is missing.",
        ));
    }
    let ids: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Json deserialize error: {e}")))?;
    let ids: Vec<String> = ids
        .into_iter()
        .map(|id| match id {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect();
    let summary = state.register_tagged(
        "documentDeletion",
        Some(uid),
        Some(deletion_details(ids.len(), None)),
        Op::DeleteIds(ids),
        metadata,
    );
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `POST /indexes/{uid}/documents/delete`
pub async fn delete_by_filter(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let metadata = deletion_params(raw.as_deref())?;
    let body = json_body(&headers, &body)?;
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_request(type_error("", &[Kind::Map], &body)));
    };
    for key in object.keys() {
        if key != "filter" {
            return Err(ApiError::bad_request(unknown_field("", key, &["filter"])));
        }
    }
    let Some(filter) = object.get("filter") else {
        return Err(ApiError::new(
            "missing_document_filter",
            "Missing field `filter`",
        ));
    };
    if filter.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Err(ApiError::new(
            "invalid_document_filter",
            "Sending an empty filter is forbidden.",
        ));
    }
    filter::parse_json(filter, "invalid_document_filter")?;
    let summary = state.register_tagged(
        "documentDeletion",
        Some(uid),
        Some(deletion_details(0, Some(filter.to_string()))),
        Op::DeleteByFilter(filter.clone()),
        metadata,
    );
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// `DELETE /indexes/{uid}/documents`
pub async fn clear_documents(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let metadata = deletion_params(raw.as_deref())?;
    let mut details = Map::new();
    details.insert("deletedDocuments".into(), Value::Null);
    let summary = state.register_tagged(
        "documentDeletion",
        Some(uid),
        Some(details),
        Op::Clear,
        metadata,
    );
    Ok((StatusCode::ACCEPTED, Json(summary)))
}

/// Extracts and validates a document's id at `primary_key` (dotted paths allowed).
pub fn extract_id(doc: &Map<String, Value>, primary_key: &str) -> ApiResult<String> {
    let values = if primary_key.contains('.') {
        field_values(doc, primary_key)
    } else {
        doc.get(primary_key).into_iter().collect()
    };
    match values.as_slice() {
        [] => Err(ApiError::new(
            "missing_document_id",
            format!(
                "Document doesn't have a `{primary_key}` attribute: `{}`.",
                Value::Object(doc.clone())
            ),
        )),
        [value] => document_id(value)
            .ok_or_else(|| ApiError::new("invalid_document_id", invalid_id_message(value))),
        _ => Err(ApiError::new(
            "invalid_document_id",
            format!(
                "Document have too many matching `{primary_key}` attribute: `{}`.",
                Value::Object(doc.clone())
            ),
        )),
    }
}

/// Meilisearch's primary key inference from the first document.
pub fn infer_primary_key(doc: &Map<String, Value>) -> ApiResult<String> {
    let mut candidates: Vec<&String> = doc
        .keys()
        .filter(|k| k.to_lowercase().ends_with("id"))
        .collect();
    candidates.sort();
    match candidates.as_slice() {
        [] => Err(ApiError::new(
            "index_primary_key_no_candidate_found",
            "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
        )),
        [one] => Ok((*one).clone()),
        [first, second, ..] => Err(ApiError::new(
            "index_primary_key_multiple_candidates_found",
            format!(
                "The primary key inference failed as the engine found {} fields ending with `id` in their names: '{first}' and '{second}'. Please specify the primary key manually using the `primaryKey` query parameter.",
                candidates.len()
            ),
        )),
    }
}
