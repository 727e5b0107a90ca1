//! Instance routes, kept minimal: experimental features (stored flags), dumps and snapshots
//! (tasks that succeed without writing anything), chat workspace settings (stored, the LLM key
//! redacted; no completions), `/render-template` (only `{{doc.path}}` substitutions of an
//! inline template over an inline or stored document — no Liquid), and three index routes that
//! exist only for their shapes and errors: `/fields` (names and display/search flags only),
//! `/similar` (there are no embedders, so every embedder is unknown) and `/documents/edit`
//! (refused unless the feature is on, then refused as not modelled).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::store::{AppState, Op};

/// `GET /experimental-features`
pub async fn get_features(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(Value::Object(state.lock().features.clone()))
}

/// `PATCH /experimental-features`: known flags set to booleans; anything else is refused.
pub async fn update_features(
    State(state): State<Arc<AppState>>,
    Json(change): Json<Value>,
) -> ApiResult<Json<Value>> {
    let change = change
        .as_object()
        .ok_or_else(|| ApiError::bad_request("Invalid value type: expected an object"))?;
    let mut store = state.lock();
    for (name, value) in change {
        if !store.features.contains_key(name) {
            return Err(ApiError::bad_request(format!(
                "Unknown field `{name}`: expected one of the experimental features"
            )));
        }
        match value {
            Value::Bool(_) => {}
            Value::Null => continue,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid value type at `.{name}`: expected a boolean"
                )))
            }
        }
        store.features.insert(name.clone(), value.clone());
    }
    state.persist(&store);
    Ok(Json(Value::Object(store.features.clone())))
}

/// `POST /dumps`: a `dumpCreation` task that succeeds.
pub async fn create_dump(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let dump_uid = time::OffsetDateTime::now_utc()
        .unix_timestamp_nanos()
        .to_string();
    let details = json!({ "dumpUid": dump_uid });
    let summary = state.register("dumpCreation", None, details.as_object().cloned(), Op::Done);
    (StatusCode::ACCEPTED, Json(summary))
}

/// `POST /snapshots`: a `snapshotCreation` task that succeeds.
pub async fn create_snapshot(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let summary = state.register("snapshotCreation", None, None, Op::Done);
    (StatusCode::ACCEPTED, Json(summary))
}

fn require_feature(state: &AppState, flag: &str, what: &str) -> ApiResult<()> {
    if state.lock().features.get(flag) == Some(&Value::Bool(true)) {
        Ok(())
    } else {
        Err(ApiError::new(
            "feature_not_enabled",
            format!("{what} requires enabling the `{flag}` experimental feature."),
        ))
    }
}

fn chat_not_found(workspace: &str) -> ApiError {
    ApiError::new("chat_not_found", format!("Chat `{workspace}` not found"))
}

/// A workspace's settings as shown: the LLM key redacted.
fn shown(settings: &Value) -> Value {
    let mut settings = settings.clone();
    if let Some(key) = settings["apiKey"].as_str() {
        let visible: String = key.chars().take(2).collect();
        settings["apiKey"] = Value::String(format!("{visible}XXXX..."));
    }
    settings
}

/// `GET /chats`
pub async fn list_chats(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    require_feature(&state, "chatCompletions", "listing the chats")?;
    let store = state.lock();
    let results: Vec<Value> = store
        .chats
        .keys()
        .map(|uid| json!({ "uid": uid }))
        .collect();
    Ok(Json(
        json!({"results": results, "offset": 0, "limit": 20, "total": store.chats.len()}),
    ))
}

/// `GET /chats/{workspace}`
pub async fn get_chat(
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
) -> ApiResult<Json<Value>> {
    require_feature(&state, "chatCompletions", "using the /chats route")?;
    if state.lock().chats.contains_key(&workspace) {
        Ok(Json(json!({ "uid": workspace })))
    } else {
        Err(chat_not_found(&workspace))
    }
}

/// `DELETE /chats/{workspace}`
pub async fn delete_chat(
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
) -> ApiResult<StatusCode> {
    require_feature(&state, "chatCompletions", "using the /chats route")?;
    match state.lock().chats.remove(&workspace) {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(chat_not_found(&workspace)),
    }
}

/// `GET /chats/{workspace}/settings`
pub async fn get_chat_settings(
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
) -> ApiResult<Json<Value>> {
    require_feature(&state, "chatCompletions", "using the /chats/settings route")?;
    let store = state.lock();
    let settings = store
        .chats
        .get(&workspace)
        .ok_or_else(|| chat_not_found(&workspace))?;
    Ok(Json(shown(settings)))
}

fn default_chat_settings() -> Value {
    json!({
        "source": "openAi", "orgId": null, "projectId": null, "apiVersion": null,
        "deploymentId": null, "baseUrl": null, "apiKey": null,
        "prompts": {
            "system": "You are a research assistant with access to search tools.",
            "searchDescription": "Search the index.",
            "searchQParam": "The search query string.",
            "searchFilterParam": "The search filter string.",
            "searchIndexUidParam": "The name of the index to search within."
        }
    })
}

/// `PATCH /chats/{workspace}/settings`: creates the workspace if needed, merges the change.
pub async fn update_chat_settings(
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
    Json(change): Json<Value>,
) -> ApiResult<Json<Value>> {
    require_feature(&state, "chatCompletions", "using the /chats/settings route")?;
    let change = change
        .as_object()
        .ok_or_else(|| ApiError::bad_request("Invalid value type: expected an object"))?;
    let mut store = state.lock();
    let settings = store
        .chats
        .entry(workspace)
        .or_insert_with(default_chat_settings);
    for (key, value) in change {
        if key == "prompts" {
            for (prompt, text) in value.as_object().into_iter().flatten() {
                settings["prompts"][prompt] = text.clone();
            }
        } else if settings.get(key).is_some() {
            settings[key] = value.clone();
        } else {
            return Err(ApiError::bad_request(format!("Unknown field `{key}`")));
        }
    }
    Ok(Json(shown(settings)))
}

/// `DELETE /chats/{workspace}/settings`: back to the defaults.
pub async fn reset_chat_settings(
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
) -> ApiResult<Json<Value>> {
    require_feature(&state, "chatCompletions", "using the /chats/settings route")?;
    let mut store = state.lock();
    let settings = store
        .chats
        .get_mut(&workspace)
        .ok_or_else(|| chat_not_found(&workspace))?;
    *settings = default_chat_settings();
    Ok(Json(shown(settings)))
}

/// `POST /render-template`
pub async fn render_template(
    State(state): State<Arc<AppState>>,
    Json(request): Json<Value>,
) -> ApiResult<Json<Value>> {
    require_feature(&state, "renderRoute", "calling the /render-template route")?;
    let template = request["template"]["inline"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("Missing field `template`"))?
        .to_string();
    let input = &request["input"];
    let document = match input["kind"].as_str() {
        None => None,
        Some("inlineDocument") => Some(input["inline"].clone()),
        Some("indexDocument") => {
            let uid = input["indexUid"].as_str().unwrap_or_default();
            let id = input["id"].as_str().unwrap_or_default();
            let store = state.lock();
            let index = store.index(uid)?;
            let doc = index.get(id).ok_or_else(|| {
                ApiError::new(
                    "render_document_not_found",
                    format!("error while fetching input: document `{id}` not found in `{uid}`"),
                )
            })?;
            Some(Value::Object(doc.body.clone()))
        }
        Some(other) => {
            return Err(ApiError::new(
                "invalid_render_input",
                format!("Unknown input kind `{other}`"),
            ))
        }
    };
    let rendered = document.map(|doc| substitute(&template, &doc));
    Ok(Json(json!({ "template": template, "rendered": rendered })))
}

/// Replaces every `{{doc.a.b}}` with that value of `doc` (strings unquoted).
fn substitute(template: &str, doc: &Value) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            rest = &rest[start..];
            break;
        };
        let expression = rest[start + 2..start + end].trim();
        if let Some(path) = expression.strip_prefix("doc.") {
            let value = path.split('.').fold(doc, |value, key| &value[key]);
            match value {
                Value::String(text) => out.push_str(text),
                Value::Null => {}
                other => out.push_str(&other.to_string()),
            }
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// `POST /indexes/{uid}/fields`: every field name, in first-seen order, paginated.
pub async fn list_fields(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Value>> {
    let request = body.map(|Json(body)| body).unwrap_or(Value::Null);
    let offset = request["offset"].as_u64().unwrap_or(0) as usize;
    let limit = request["limit"].as_u64().unwrap_or(20) as usize;
    let store = state.lock();
    let index = store.index(&uid)?;
    let results: Vec<Value> = index
        .fields
        .iter()
        .skip(offset)
        .take(limit)
        .map(|name| {
            json!({
                "name": name,
                "displayed": {"enabled": true},
                "searchable": {"enabled": true},
            })
        })
        .collect();
    Ok(Json(
        json!({"results": results, "offset": offset, "limit": limit, "total": index.fields.len()}),
    ))
}

/// `GET`/`POST /indexes/{uid}/similar`: the node has no embedders.
pub async fn similar(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    body: Option<Json<Value>>,
) -> ApiResult<Json<Value>> {
    state.lock().index(&uid)?;
    let request = body.map(|Json(body)| body).unwrap_or(Value::Null);
    let embedder = request["embedder"].as_str().unwrap_or("default");
    Err(ApiError::new(
        "invalid_similar_embedder",
        format!("Cannot find embedder with name `{embedder}`."),
    ))
}

/// `POST /indexes/{uid}/documents/edit`: functions are not modelled.
pub async fn edit_documents(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    require_feature(
        &state,
        "editDocumentsByFunction",
        "Using the documents edit route",
    )?;
    Err(ApiError::new(
        "feature_not_enabled",
        "The test node does not run document functions.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_document_paths() {
        let doc = json!({"id": 7, "title": "Dune", "meta": {"year": 1965}});
        assert_eq!(
            substitute(
                "{{doc.id}}: {{ doc.title }} ({{doc.meta.year}}){{doc.none}}",
                &doc
            ),
            "7: Dune (1965)"
        );
    }
}
