//! Index uids and the index object.

use serde_json::{json, Value};

use miroir_store::IndexRecord;

use super::error::MeiliError;
use super::task::format_time;

/// Meilisearch's index uid rule: ASCII alphanumerics, `-` and `_`, 1 to 400 bytes (its error
/// message says 512; its code enforces 400).
pub(crate) fn valid_index_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 400
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `invalid_index_uid` for a uid found in a body, at JSON path `at`.
pub(crate) fn invalid_uid_at(uid: &str, at: &str) -> MeiliError {
    MeiliError::invalid(
        "invalid_index_uid",
        format!("Invalid value at `{at}`: `{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."),
    )
}

/// `invalid_index_uid` for a uid found in a URL path.
pub(crate) fn invalid_path_uid(uid: &str) -> MeiliError {
    MeiliError::invalid(
        "invalid_index_uid",
        format!("`{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."),
    )
}

/// The index object clients see.
pub(crate) fn index_object(index: &IndexRecord) -> Value {
    json!({
        "uid": index.uid,
        "createdAt": format_time(index.created_at),
        "updatedAt": format_time(index.updated_at),
        "primaryKey": index.primary_key,
    })
}
