//! Any JSON document and primary-key path: the document id is found or refused with an error,
//! never a panic, and a found id is what Meilisearch accepts (1 to 511 bytes of ASCII letters,
//! digits, `-` and `_`); inferring the primary key never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_core::document::{document_id, infer_primary_key, Document, MAX_DOCUMENT_ID_BYTES};

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|b| *b == 0) else {
        return;
    };
    let (key, json) = data.split_at(split);
    let Ok(key) = std::str::from_utf8(key) else {
        return;
    };
    let Ok(document) = serde_json::from_slice::<Document>(&json[1..]) else {
        return;
    };
    if let Ok(id) = document_id(&document, key) {
        assert!(!id.is_empty() && id.len() <= MAX_DOCUMENT_ID_BYTES, "{id}");
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
    let _ = infer_primary_key(&document);
});
