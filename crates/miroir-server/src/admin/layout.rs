//! An index's layout, and reshaping it while it serves: `GET /_miroir/indexes/{uid}` tells
//! whether the index is sharded or whole (on every node) and how a reshape under way stands;
//! `PATCH /_miroir/indexes/{uid}` with `{"whole": true}` makes a filled sharded index whole,
//! as the target of a foreign key must be, and `{"whole": false}` makes it sharded again
//! (the steps: `crate::rebalance::reshape`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use miroir_core::rebalance::MoveStep;
use miroir_store::IndexRecord;

use crate::error::{MeiliError, Result};
use crate::extract::json_body;
use crate::rebalance::request_reshape;
use crate::state::AppState;
use crate::wire::error::ErrorType;
use crate::write::indexes::is_foreign_target;

fn step_name(step: MoveStep) -> &'static str {
    match step {
        MoveStep::Planned => "planned",
        MoveStep::Copying => "copying",
        MoveStep::CatchingUp => "catchingUp",
        MoveStep::Verifying => "verifying",
        MoveStep::Switched => "switched",
        MoveStep::Done => "done",
    }
}

fn layout_object(index: &IndexRecord) -> Value {
    let reshape = index.reshape.as_ref().map(|reshape| {
        json!({
            "whole": reshape.whole,
            "step": step_name(reshape.step),
            "documentsCopied": reshape.documents,
        })
    });
    json!({
        "indexUid": index.uid,
        "shards": index.shard_count,
        "whole": index.whole,
        "reshape": reshape,
    })
}

/// `GET /_miroir/indexes/{uid}`
pub(crate) async fn layout(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(layout_object(&state.index(&uid)?)))
}

/// The body of `PATCH /_miroir/indexes/{uid}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LayoutChange {
    whole: bool,
}

/// `PATCH /_miroir/indexes/{uid}`: `202` and the layout once a reshape is under way, `200`
/// when the index already has (or is already being given) that layout.
pub(crate) async fn reshape(
    State(state): State<Arc<AppState>>,
    Path(uid): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>)> {
    let change: LayoutChange = json_body(&body)?;
    let _journaling = state.write_lock.lock().await;
    let mut index = state.index(&uid)?;
    let heading = index.reshape.as_ref().map_or(index.whole, |r| r.whole);
    if heading == change.whole {
        return Ok((StatusCode::OK, Json(layout_object(&index))));
    }
    if index.reshape.is_some() {
        return Err(MeiliError::new(
            StatusCode::CONFLICT,
            "miroir_reshape_running",
            ErrorType::InvalidRequest,
            format!("Index `{uid}` is being reshaped; change its layout again once that is done."),
        )
        .into());
    }
    if !change.whole && is_foreign_target(&state, &uid)? {
        return Err(MeiliError::invalid(
            "miroir_foreign_index_not_whole",
            format!(
                "Index `{uid}` is the target of a foreign key, which needs it whole on every node. Remove the foreign key first."
            ),
        )
        .into());
    }
    request_reshape(&state, &mut index, change.whole)?;
    Ok((StatusCode::ACCEPTED, Json(layout_object(&index))))
}
