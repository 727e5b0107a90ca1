//! Any filter, sort, attribute list or setting text a client sends is examined for the
//! reserved marker name without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_core::reserved::{
    reserved_in_filter, reserved_in_list, reserved_in_setting, reserved_in_sort,
};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let _ = reserved_in_filter(&json!(text));
    let _ = reserved_in_filter(&json!([text, [text]]));
    let _ = reserved_in_sort(&json!([text]));
    let _ = reserved_in_list(&json!([text]));
    let _ = reserved_in_setting("rankingRules", &json!([text]));
    // Structured input too, when the bytes are JSON.
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let _ = reserved_in_filter(&value);
        let _ = reserved_in_sort(&value);
        let _ = reserved_in_list(&value);
        let _ = reserved_in_setting("filterableAttributes", &value);
    }
});
