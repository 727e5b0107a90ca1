//! `/webhooks`: URLs Miroir calls when its own tasks finish, as Meilisearch calls them — a
//! gzip-compressed NDJSON body of task objects, `Content-Type: application/x-ndjson`,
//! `Content-Encoding: gzip`, plus the webhook's own headers. Nodes keep no webhooks: node
//! tasks are internal, clients care about Miroir's.

use std::io::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Map, Value};

use crate::error::{ErrorType, MeiliError, Result};
use crate::extract::{JsonBody, UuidParam};
use crate::state::AppState;
use crate::wire::json_kind;

/// Meilisearch's limits.
const MAX_WEBHOOKS: usize = 20;
const MAX_HEADERS: usize = 200;

/// Hides a secret as Meilisearch does: keep a short prefix, replace the rest.
fn hide_secret(secret: &str, offset: usize) -> String {
    let visible = match secret.len().saturating_sub(offset) {
        x if x < 10 => offset,
        x if x < 20 => offset + 2,
        x if x < 30 => offset + 3,
        _ => offset + 5,
    };
    let marks = match secret.len().saturating_sub(offset) {
        x if x < 10 => "XXX...",
        x if x < 20 => "XXXX...",
        x if x < 30 => "XXXXX...",
        _ => "XXXXXX...",
    };
    let cut = (visible..=secret.len())
        .find(|i| secret.is_char_boundary(*i))
        .unwrap_or(secret.len());
    format!("{}{marks}", &secret[..cut])
}

/// The webhook object clients see: `Authorization` values redacted.
fn view(webhook: &Value) -> Value {
    let mut shown = webhook.clone();
    if let Some(Value::Object(headers)) = shown.get_mut("headers") {
        for (name, value) in headers.iter_mut() {
            if name.eq_ignore_ascii_case("authorization") {
                if let Some(secret) = value.as_str() {
                    let offset = if secret.starts_with("Bearer ") { 7 } else { 0 };
                    *value = Value::String(hide_secret(secret, offset));
                }
            }
        }
    }
    json!({
        "uuid": shown["uuid"],
        "isEditable": true,
        "url": shown["url"],
        "headers": shown["headers"],
    })
}

fn not_found(uuid: &str) -> MeiliError {
    MeiliError::new(
        StatusCode::NOT_FOUND,
        "webhook_not_found",
        ErrorType::InvalidRequest,
        format!("Webhook `{uuid}` not found."),
    )
}

fn parse_uuid(raw: &str) -> Result<String> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.hyphenated().to_string())
        .map_err(|e| {
            MeiliError::invalid("invalid_webhook_uuid", format!("Invalid UUID: {e}")).into()
        })
}

fn find(state: &AppState, uuid: &str) -> Result<Value> {
    state
        .store
        .list_webhooks()?
        .into_iter()
        .find(|w| w["uuid"].as_str() == Some(uuid))
        .ok_or_else(|| not_found(uuid).into())
}

/// Applies a create or update body to a webhook (`null` header values remove headers).
fn apply(webhook: &mut Value, change: &Map<String, Value>, uuid: &str) -> Result<()> {
    for field in change.keys() {
        let code = match field.as_str() {
            "url" | "headers" => continue,
            "uuid" => "immutable_webhook_uuid",
            "isEditable" => "immutable_webhook_is_editable",
            _ => "bad_request",
        };
        let message = if code == "bad_request" {
            format!("Unknown field `{field}`: expected one of `url`, `headers`")
        } else {
            format!("Immutable field `{field}`: expected one of `url`, `headers`")
        };
        return Err(MeiliError::invalid(code, message).into());
    }
    match change.get("url") {
        None => {}
        Some(Value::String(url)) => {
            if let Err(e) = url::Url::parse(url) {
                return Err(MeiliError::invalid(
                    "invalid_webhook_url",
                    format!("Invalid URL `{url}`: {e}"),
                )
                .into());
            }
            webhook["url"] = Value::String(url.clone());
        }
        Some(_) => {
            return Err(MeiliError::invalid(
                "invalid_webhook_url",
                format!("The URL for the webhook `{uuid}` is missing."),
            )
            .into())
        }
    }
    if webhook.get("url").is_none_or(Value::is_null) {
        return Err(MeiliError::invalid(
            "invalid_webhook_url",
            format!("The URL for the webhook `{uuid}` is missing."),
        )
        .into());
    }
    let mut headers = webhook["headers"].as_object().cloned().unwrap_or_default();
    match change.get("headers") {
        None => {}
        Some(Value::Null) => headers.clear(),
        Some(Value::Object(new)) => {
            for (name, value) in new {
                match value {
                    Value::Null => {
                        headers.remove(name);
                    }
                    Value::String(_) => {
                        headers.insert(name.clone(), value.clone());
                    }
                    other => {
                        return Err(MeiliError::invalid(
                            "invalid_webhook_headers",
                            format!("Invalid value type at `.headers.{name}`: expected a string, but found {}: `{other}`", json_kind(other)),
                        )
                        .into())
                    }
                }
            }
        }
        Some(other) => {
            return Err(MeiliError::invalid(
                "invalid_webhook_headers",
                format!(
                    "Invalid value type at `.headers`: expected an object, but found {}: `{other}`",
                    json_kind(other)
                ),
            )
            .into())
        }
    }
    if headers.len() > MAX_HEADERS {
        return Err(MeiliError::invalid(
            "invalid_webhook_headers",
            format!("Too many headers for the webhook `{uuid}`. Please limit the number of headers to 200. Hint: To remove an already defined header set its value to `null`"),
        )
        .into());
    }
    webhook["headers"] = Value::Object(headers);
    Ok(())
}

/// `GET /webhooks`
pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    let results: Vec<Value> = state.store.list_webhooks()?.iter().map(view).collect();
    Ok(Json(json!({ "results": results })))
}

/// `POST /webhooks`
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(change): JsonBody<Map<String, Value>>,
) -> Result<impl IntoResponse> {
    if state.store.list_webhooks()?.len() >= MAX_WEBHOOKS {
        return Err(MeiliError::invalid(
            "invalid_webhooks",
            "Defining too many webhooks would crush the server. Please limit the number of webhooks to 20. You may use a third-party proxy server to dispatch events to more than 20 endpoints.",
        )
        .into());
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    let mut webhook = json!({"uuid": uuid, "url": null, "headers": {}});
    apply(&mut webhook, &change, &uuid)?;
    state.store.put_webhook(&uuid, &webhook)?;
    Ok((StatusCode::CREATED, Json(view(&webhook))))
}

/// `GET /webhooks/{uuid}`
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    UuidParam(uuid): UuidParam,
) -> Result<Json<Value>> {
    let uuid = parse_uuid(&uuid)?;
    Ok(Json(view(&find(&state, &uuid)?)))
}

/// `PATCH /webhooks/{uuid}`
pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    UuidParam(uuid): UuidParam,
    JsonBody(change): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>> {
    let uuid = parse_uuid(&uuid)?;
    let mut webhook = find(&state, &uuid)?;
    apply(&mut webhook, &change, &uuid)?;
    state.store.put_webhook(&uuid, &webhook)?;
    Ok(Json(view(&webhook)))
}

/// `DELETE /webhooks/{uuid}`
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    UuidParam(uuid): UuidParam,
) -> Result<StatusCode> {
    let uuid = parse_uuid(&uuid)?;
    if state.store.delete_webhook(&uuid)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&uuid).into())
    }
}

/// Sends finished task objects to every webhook, in the background (a slow or failing webhook
/// never delays task tracking; failures are logged).
pub(crate) fn notify(state: &AppState, tasks: &[Value]) {
    let webhooks = match state.store.list_webhooks() {
        Ok(webhooks) if !webhooks.is_empty() && !tasks.is_empty() => webhooks,
        _ => return,
    };
    let mut ndjson = Vec::new();
    for task in tasks {
        if serde_json::to_writer(&mut ndjson, task).is_ok() {
            ndjson.push(b'\n');
        }
    }
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    if encoder.write_all(&ndjson).is_err() {
        return;
    }
    let Ok(body) = encoder.finish() else { return };
    let http = reqwest::Client::new();
    for webhook in webhooks {
        let Some(url) = webhook["url"].as_str().map(str::to_string) else {
            continue;
        };
        let mut request = http
            .post(&url)
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/x-ndjson")
            .timeout(std::time::Duration::from_secs(30))
            .body(body.clone());
        for (name, value) in webhook["headers"].as_object().into_iter().flatten() {
            if let Some(value) = value.as_str() {
                request = request.header(name.as_str(), value);
            }
        }
        let uuid = webhook["uuid"].to_string();
        tokio::spawn(async move {
            if let Err(e) = request.send().await {
                tracing::warn!(webhook = %uuid, error = %e, "webhook call failed");
            }
        });
    }
}
