//! The hidden shard marker every stored document carries.
//!
//! Each document Miroir writes to a node gets one extra top-level field, appended last:
//! `"_miroir": {"s12": null}` where `12` is the document's shard. `_miroir` is declared
//! filterable on every node, so `_miroir.s12 EXISTS` selects exactly one shard's documents, and
//! shards combine with `OR`. Why this form (from ARCHITECTURE.md, measured on Meilisearch 1.50):
//! a number or string marker value is tokenized into a searchable word and changes what queries
//! match and how they rank; a nested `null` is neither matched nor scored, yet is seen by
//! `EXISTS`.
//!
//! The marker must never reach a client: this module also removes it from documents, hits,
//! settings and field distributions.

use serde_json::{Map, Value};

/// The top-level field name of the shard marker.
pub const MARKER_FIELD: &str = "_miroir";

/// The key inside the marker object for `shard`, e.g. `s12`.
pub fn shard_key(shard: u32) -> String {
    format!("s{shard}")
}

/// The marker value for `shard`: `{"s<shard>": null}`.
pub fn marker_value(shard: u32) -> Value {
    let mut inner = Map::with_capacity(1);
    inner.insert(shard_key(shard), Value::Null);
    Value::Object(inner)
}

/// The marker as the last member of a compact JSON object, `"_miroir":{"s12":null}`: exactly
/// what serializing a document after [`inject`] ends with, for appending to a document's raw
/// bytes without parsing it.
pub fn marker_member(shard: u32) -> String {
    format!("\"{MARKER_FIELD}\":{{\"{}\":null}}", shard_key(shard))
}

/// Appends the marker for `shard` as the document's last field (replacing any value a client
/// sent under the reserved name).
pub fn inject(document: &mut Map<String, Value>, shard: u32) {
    document.shift_remove(MARKER_FIELD);
    document.insert(MARKER_FIELD.to_string(), marker_value(shard));
}

/// A filter expression selecting the documents of any of `shards`, or `None` when `shards` is
/// empty (which selects nothing and should not be sent at all).
pub fn shards_filter(shards: &[u32]) -> Option<String> {
    if shards.is_empty() {
        return None;
    }
    let terms: Vec<String> = shards
        .iter()
        .map(|s| format!("{MARKER_FIELD}.{} EXISTS", shard_key(*s)))
        .collect();
    Some(terms.join(" OR "))
}

/// Combines the shard selection with a client's filter so both apply.
///
/// Meilisearch accepts a filter as a string or as an array (outer AND of inner ORs); the array
/// form lets us AND the two without re-parsing or re-quoting the client's expression.
pub fn and_filter(shards: &[u32], client_filter: Option<&Value>) -> Option<Value> {
    let own = shards_filter(shards).map(Value::String);
    match (own, client_filter) {
        (None, None) => None,
        (Some(own), None) => Some(own),
        (None, Some(client)) if client.is_null() => None,
        (None, Some(client)) => Some(client.clone()),
        (Some(own), Some(client)) => match client {
            Value::Null => Some(own),
            Value::String(s) if s.trim().is_empty() => Some(own),
            Value::String(_) => Some(Value::Array(vec![own, client.clone()])),
            Value::Array(items) => {
                let mut all = Vec::with_capacity(items.len() + 1);
                all.push(own);
                all.extend(items.iter().cloned());
                Some(Value::Array(all))
            }
            // Anything else is a client error; let the node report it with its own message.
            other => Some(other.clone()),
        },
    }
}

/// Removes the marker from one document or hit (also from `_formatted`, which mirrors it);
/// returns how many were removed (0 to 2).
pub fn strip_document(document: &mut Map<String, Value>) -> usize {
    let mut removed = usize::from(document.shift_remove(MARKER_FIELD).is_some());
    if let Some(Value::Object(formatted)) = document.get_mut("_formatted") {
        removed += usize::from(formatted.shift_remove(MARKER_FIELD).is_some());
    }
    removed
}

/// Whether `value` has the marker's shape: an object of `s<shard>` keys with null values.
pub fn is_marker_value(value: &Value) -> bool {
    value.as_object().is_some_and(|map| {
        !map.is_empty()
            && map.iter().all(|(key, value)| {
                value.is_null()
                    && key
                        .strip_prefix('s')
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
    })
}

/// Removes markers from documents nested anywhere in `value`: a node joining a foreign key
/// puts the foreign index's stored documents, marker included, inside a hit. Only `_miroir`
/// keys holding a marker-shaped value are removed, so a client's own nested data stays.
pub fn strip_nested(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get(MARKER_FIELD).is_some_and(is_marker_value) {
                map.shift_remove(MARKER_FIELD);
            }
            map.values_mut().for_each(strip_nested);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nested),
        _ => {}
    }
}

/// Removes the marker from every object in an array of documents or hits.
pub fn strip_documents(documents: &mut [Value]) {
    for document in documents {
        if let Value::Object(map) = document {
            strip_document(map);
        }
    }
}

/// True for attribute names that belong to the marker (`_miroir`, `_miroir.s3`, …).
pub fn is_marker_attribute(name: &str) -> bool {
    name == MARKER_FIELD
        || name
            .strip_prefix(MARKER_FIELD)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Removes marker entries from a `fieldDistribution` object.
pub fn strip_field_distribution(distribution: &mut Map<String, Value>) {
    distribution.retain(|name, _| !is_marker_attribute(name));
}

/// Adds the marker to a client's `filterableAttributes` value (strings and pattern objects
/// are both allowed by Meilisearch) before it is sent to the nodes.
pub fn with_marker_filterable(client: &Value) -> Value {
    let mut items = match client {
        Value::Array(items) => items
            .iter()
            .filter(|item| item.as_str() != Some(MARKER_FIELD))
            .cloned()
            .collect(),
        Value::Null => Vec::new(),
        // Not a list: the node refuses it as one Meilisearch would.
        other => return other.clone(),
    };
    items.push(Value::String(MARKER_FIELD.to_string()));
    Value::Array(items)
}

/// Removes the marker's entry from a node's `filterableAttributes` before a client sees it.
pub fn without_marker_filterable(node: &Value) -> Value {
    match node {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|item| item.as_str() != Some(MARKER_FIELD))
                .cloned()
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Strips the marker from a full settings object as returned by a node.
pub fn strip_settings(settings: &mut Map<String, Value>) {
    if let Some(filterable) = settings.get_mut("filterableAttributes") {
        *filterable = without_marker_filterable(filterable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marker_is_appended_last_and_replaces_client_value() {
        let mut doc = json!({"_miroir": 3, "id": 1, "title": "x"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        inject(&mut doc, 12);
        let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "title", "_miroir"]);
        assert_eq!(doc["_miroir"], json!({"s12": null}));
    }

    #[test]
    fn shard_filters() {
        assert_eq!(shards_filter(&[]), None);
        assert_eq!(
            shards_filter(&[1, 7]).as_deref(),
            Some("_miroir.s1 EXISTS OR _miroir.s7 EXISTS")
        );
        let combined = and_filter(&[2], Some(&json!("genre = comedy")));
        assert_eq!(
            combined,
            Some(json!(["_miroir.s2 EXISTS", "genre = comedy"]))
        );
        let combined = and_filter(&[2], Some(&json!(["a = 1", ["b = 2", "c = 3"]])));
        assert_eq!(
            combined,
            Some(json!(["_miroir.s2 EXISTS", "a = 1", ["b = 2", "c = 3"]]))
        );
        assert_eq!(and_filter(&[], Some(&json!("a = 1"))), Some(json!("a = 1")));
    }

    #[test]
    fn stripping() {
        let mut dist = json!({"_miroir": 3, "_miroir.s1": 1, "_miroirx": 2, "title": 3})
            .as_object()
            .cloned()
            .unwrap_or_default();
        strip_field_distribution(&mut dist);
        assert_eq!(Value::Object(dist), json!({"_miroirx": 2, "title": 3}));

        let node = with_marker_filterable(&json!(["genre", "_miroir"]));
        assert_eq!(node, json!(["genre", "_miroir"]));
        assert_eq!(without_marker_filterable(&node), json!(["genre"]));

        let mut hit =
            json!({"id": 1, "_miroir": {"s1": null}, "_formatted": {"id": "1", "_miroir": {}}});
        if let Value::Object(map) = &mut hit {
            strip_document(map);
        }
        assert_eq!(hit, json!({"id": 1, "_formatted": {"id": "1"}}));
    }

    #[test]
    fn nested_markers_go_and_client_data_stays() {
        let mut hit = json!({
            "id": 1,
            "author": {"id": 7, "name": "Le Guin", "_miroir": {"s3": null}},
            "related": [{"id": 8, "_miroir": {"s12": null}}],
            "own": {"_miroir": "kept"},
            "own2": {"_miroir": {"x": null}},
        });
        strip_nested(&mut hit);
        assert_eq!(
            hit,
            json!({
                "id": 1,
                "author": {"id": 7, "name": "Le Guin"},
                "related": [{"id": 8}],
                "own": {"_miroir": "kept"},
                "own2": {"_miroir": {"x": null}},
            })
        );
    }
}
