//! `/webhooks`: URLs Miroir calls when its own tasks finish, as Meilisearch calls them — a
//! gzip-compressed NDJSON body of task objects, `Content-Type: application/x-ndjson`,
//! `Content-Encoding: gzip`, plus the webhook's own headers. Nodes keep no webhooks: node
//! tasks are internal, clients care about Miroir's.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures::future::join_all;
use serde_json::{json, Map, Value};

use crate::error::{ErrorType, MeiliError, Result};
use crate::extract::{JsonBody, UuidParam};
use crate::state::AppState;
use crate::wire::json_kind;
use crate::wire::task::task_object;

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

/// How many finished tasks one webhook call announces at most.
const ANNOUNCE_BATCH: usize = 100;
/// How long the announcer waits for a wake-up before it looks at the outbox anyway.
const ANNOUNCE_IDLE: Duration = Duration::from_secs(1);
/// How long one webhook call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs with the work that runs once: announces the tasks of the store's webhook outbox to
/// every webhook, in uid order, a batch per call, and removes them from the outbox once the
/// calls were made. The store adds a task to the outbox in the same write that finishes it
/// (see `Store::update_task`), so a process that dies after finishing tasks leaves them for
/// the next leaseholder to announce: each finished task is announced once, except the batch
/// whose calls were in flight when the process making them died — its successor announces that
/// batch again (at least once: a receiver tells a repeat by the task's `uid`). A call that
/// fails is logged and not retried, as Meilisearch does; a slow webhook delays only this loop.
pub(crate) async fn run_announcer(state: Arc<AppState>) {
    let http = reqwest::Client::new();
    loop {
        match announce_once(&state, &http).await {
            Ok(Announced::Batch) => continue,
            Ok(Announced::All) => {}
            Err(error) => tracing::warn!(%error, "cannot announce finished tasks to the webhooks"),
        }
        let _ = tokio::time::timeout(ANNOUNCE_IDLE, state.webhooks_due.notified()).await;
    }
}

/// What one round of the announcer left in the outbox.
enum Announced {
    /// A full batch: more may wait.
    Batch,
    /// Everything.
    All,
}

/// Announces one batch of the outbox.
async fn announce_once(state: &AppState, http: &reqwest::Client) -> Result<Announced> {
    let uids = state.store.webhook_outbox(ANNOUNCE_BATCH)?;
    if uids.is_empty() {
        return Ok(Announced::All);
    }
    let webhooks = state.store.list_webhooks()?;
    let mut tasks = Vec::with_capacity(uids.len());
    for uid in &uids {
        // A task deleted meanwhile has nothing left to announce.
        if let Some(task) = state.store.get_task(*uid)? {
            tasks.push(task_object(&task));
        }
    }
    if !webhooks.is_empty() && !tasks.is_empty() {
        let body: bytes::Bytes = gzip_ndjson(&tasks)
            .map_err(|e| {
                MeiliError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    ErrorType::Internal,
                    format!("cannot compress a webhook call: {e}"),
                )
            })?
            .into();
        let calls = webhooks
            .iter()
            .filter_map(|webhook| call(http, webhook, body.clone()));
        state
            .while_leading(async {
                join_all(calls).await;
                Ok(())
            })
            .await?;
    }
    state.store.webhooks_sent(&uids)?;
    Ok(if uids.len() == ANNOUNCE_BATCH {
        Announced::Batch
    } else {
        Announced::All
    })
}

/// Task objects as Meilisearch sends them to a webhook: NDJSON, gzip-compressed.
fn gzip_ndjson(tasks: &[Value]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for task in tasks {
        serde_json::to_writer(&mut encoder, task)?;
        encoder.write_all(b"\n")?;
    }
    encoder.finish()
}

/// One webhook's call with `body` (none for a webhook without a URL); its failure is logged.
fn call(
    http: &reqwest::Client,
    webhook: &Value,
    body: bytes::Bytes,
) -> Option<impl std::future::Future<Output = ()>> {
    let url = webhook["url"].as_str()?;
    let mut request = http
        .post(url)
        .header("Content-Encoding", "gzip")
        .header("Content-Type", "application/x-ndjson")
        .timeout(CALL_TIMEOUT)
        .body(body);
    for (name, value) in webhook["headers"].as_object().into_iter().flatten() {
        if let Some(value) = value.as_str() {
            request = request.header(name.as_str(), value);
        }
    }
    let uuid = webhook["uuid"].to_string();
    Some(async move {
        match request.send().await.and_then(|r| r.error_for_status()) {
            Ok(_) => {}
            Err(error) => tracing::warn!(webhook = %uuid, %error, "webhook call failed"),
        }
    })
}
