//! `/indexes/{uid}/settings` and its sub-routes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::http::json_body;
use crate::indexes::check_path_uid;
use crate::settings::{feature_of, reset_all, validate, validate_all, SUB_ROUTES};
use crate::store::{AppState, Op};

/// `feature_not_enabled` when `update` sets a setting whose experimental feature is off.
fn check_features(state: &AppState, update: &Map<String, Value>) -> ApiResult<()> {
    let store = state.lock();
    for key in update.keys() {
        if let Some(feature) = feature_of(key) {
            if store.features.get(feature) != Some(&Value::Bool(true)) {
                return Err(ApiError::new(
                    "feature_not_enabled",
                    format!(
                        "Using `{key}` requires enabling the `{feature}` experimental feature."
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn register(
    state: &AppState,
    uid: String,
    update: Map<String, Value>,
) -> (StatusCode, Json<Value>) {
    let summary = state.register(
        "settingsUpdate",
        Some(uid),
        Some(update.clone()),
        Op::Settings(update),
    );
    (StatusCode::ACCEPTED, Json(summary))
}

/// `GET /indexes/{uid}/settings`
pub async fn get_settings(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> ApiResult<Json<Value>> {
    check_path_uid(&uid)?;
    let store = state.lock();
    let mut settings = store.index(&uid)?.settings.to_json();
    if let Value::Object(map) = &mut settings {
        map.retain(|key, _| {
            feature_of(key)
                .is_none_or(|feature| store.features.get(feature) == Some(&Value::Bool(true)))
        });
    }
    Ok(Json(settings))
}

/// `PATCH /indexes/{uid}/settings`
pub async fn update_settings(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    let body = json_body(&headers, &body)?;
    let update = validate_all(&body)?;
    check_features(&state, &update)?;
    Ok(register(&state, uid, update))
}

/// `DELETE /indexes/{uid}/settings`
pub async fn reset_settings(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    check_path_uid(&uid)?;
    Ok(register(&state, uid, reset_all()))
}

/// Every verb on `/indexes/{uid}/settings/{name}`.
pub async fn sub_route(
    State(state): State<Arc<AppState>>,
    method: Method,
    Path((uid, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((_, key, verb)) = SUB_ROUTES.iter().find(|(segment, _, _)| *segment == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let allowed = method == Method::GET
        || method == Method::DELETE
        || (method == Method::PUT && *verb == "put")
        || (method == Method::PATCH && *verb == "patch");
    if !allowed {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let result: ApiResult<Response> = (|| {
        check_path_uid(&uid)?;
        if method == Method::GET {
            let store = state.lock();
            return Ok(Json(store.index(&uid)?.settings.get(key)).into_response());
        }
        let value = if method == Method::DELETE {
            Value::Null
        } else {
            let body = json_body(&headers, &body)?;
            validate(key, "", &body)?
        };
        let mut update = Map::new();
        update.insert(key.to_string(), value);
        if method != Method::DELETE {
            check_features(&state, &update)?;
        }
        Ok(register(&state, uid.clone(), update).into_response())
    })();
    match result {
        Ok(response) => response,
        Err(error) => {
            let error: ApiError = error;
            error.into_response()
        }
    }
}
