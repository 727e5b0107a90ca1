//! `POST /indexes/{uid}/fields`: the union of every node's fields.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::Json;
use futures::future::try_join_all;
use serde_json::{json, Map, Value};

use crate::cluster::node::NodeBody;
use crate::error::{Error, Result};
use crate::extract::{IndexUid, OptionalJsonBody};
use crate::state::AppState;

/// `POST /indexes/{uid}/fields`: the union of every node's fields (a field only present in
/// documents of some shards is known to those nodes only), without the shard marker, then
/// paginated as Meilisearch does. Field order follows the first node that knows each field.
pub(crate) async fn list_fields(
    State(state): State<Arc<AppState>>,
    IndexUid(uid): IndexUid,
    OptionalJsonBody(mut request): OptionalJsonBody<Map<String, Value>>,
) -> Result<Json<Value>> {
    state.index(&uid)?;
    let offset = request
        .remove("offset")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as usize;
    let limit = request
        .remove("limit")
        .and_then(|v| v.as_u64())
        .unwrap_or(20) as usize;
    request.insert("offset".into(), Value::from(0));
    request.insert("limit".into(), Value::from(u32::MAX));
    let path = format!("/indexes/{uid}/fields");
    let answers = try_join_all(state.cluster.fleet_nodes().map(|node| {
        node.json(
            Method::POST,
            &path,
            NodeBody::Json(Value::Object(request.clone())),
        )
    }))
    .await?;
    let mut fields: Vec<Value> = Vec::new();
    for (node, answer) in state.cluster.fleet_nodes().zip(answers) {
        let garbage = |what: &str| Error::NodeUnavailable {
            node: node.id.clone(),
            reason: format!("answered a field listing {what}"),
        };
        let listed = answer["results"]
            .as_array()
            .ok_or_else(|| garbage("without results"))?;
        for field in listed {
            let name = field["name"]
                .as_str()
                .ok_or_else(|| garbage("with a field without a name"))?;
            if miroir_core::marker::is_marker_attribute(name)
                || fields.iter().any(|f| f["name"].as_str() == Some(name))
            {
                continue;
            }
            fields.push(field.clone());
        }
    }
    let total = fields.len();
    let results: Vec<Value> = fields.into_iter().skip(offset).take(limit).collect();
    Ok(Json(json!({
        "results": results,
        "offset": offset,
        "limit": limit,
        "total": total,
    })))
}
