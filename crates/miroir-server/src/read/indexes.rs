//! `GET /indexes` and `GET /indexes/{uid}`: from Miroir's own index metadata, never a node.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{json, Value};

use miroir_store::IndexRecord;

use crate::access::Access;
use crate::error::Result;
use crate::extract::{IndexUid, Params};
use crate::state::AppState;
use crate::wire::index::index_object;

/// `GET /indexes`
pub(crate) async fn list_indexes(
    State(state): State<Arc<AppState>>,
    Extension(access): Extension<Access>,
    params: Params,
) -> Result<Json<Value>> {
    let offset = params.usize("offset", "invalid_index_offset")?.unwrap_or(0);
    let limit = params.usize("limit", "invalid_index_limit")?.unwrap_or(20);
    // A key limited to some indexes lists only those, as on Meilisearch.
    let all: Vec<IndexRecord> = state
        .store
        .list_indexes()?
        .into_iter()
        .filter(|index| access.may_use(&index.uid))
        .collect();
    let results: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(index_object)
        .collect();
    Ok(Json(json!({
        "results": results,
        "offset": offset,
        "limit": limit,
        "total": all.len(),
    })))
}

/// `GET /indexes/{uid}`
pub(crate) async fn get_index(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
) -> Result<Json<Value>> {
    Ok(Json(index_object(&state.index(&uid)?)))
}
