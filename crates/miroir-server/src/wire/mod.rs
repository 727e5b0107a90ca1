//! Meilisearch's wire format: the JSON shapes a Meilisearch client sends and expects (error
//! objects, task and batch objects, index objects, search requests and pagination, settings
//! routes), as plain types and functions.
//!
//! This module imports nothing else of the crate, so every other module may import it: it is
//! the vocabulary the router, the read and write paths and the task registry share.

pub(crate) mod error;
pub(crate) mod index;
pub(crate) mod search;
pub(crate) mod settings;
pub(crate) mod task;

use serde_json::Value;

/// How Meilisearch names a JSON value's kind in its validation messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
