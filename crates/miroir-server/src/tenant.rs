//! Tenant tokens: JWTs a backend signs with one of its API keys to give a front-end search
//! access restricted by per-index filters (`searchRules`). Miroir verifies them as Meilisearch
//! does — HS256/384/512 signed with the parent key's value, optional `exp`, the parent key
//! still valid — and ANDs each rule's filter with the request's own on every search.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use time::OffsetDateTime;

use crate::auth::{authorize, invalid_api_key, Access, Requirement};
use crate::error::MeiliError;
use crate::state::AppState;

fn refused(message: String) -> MeiliError {
    MeiliError {
        message,
        ..invalid_api_key()
    }
}

/// Whether a bearer token has the shape of a JWT (three dot-separated parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The rules of `searchRules` that apply to `index`: `Some(None)` allows it without a filter,
/// `Some(Some(filter))` with one, `None` refuses it. With several matching patterns the exact
/// uid wins, then the longest prefix (Meilisearch's "most specific" rule).
pub fn rule_for(rules: &Value, index: &str) -> Option<Option<Value>> {
    let matches = |pattern: &str| match pattern.strip_suffix('*') {
        Some(prefix) => index.starts_with(prefix),
        None => pattern == index,
    };
    match rules {
        Value::Array(patterns) => patterns
            .iter()
            .filter_map(Value::as_str)
            .any(matches)
            .then_some(None),
        Value::Object(map) => {
            let best = map
                .iter()
                .filter(|(pattern, _)| matches(pattern))
                .max_by_key(|(pattern, _)| (pattern.as_str() == index, pattern.len()))?;
            Some(best.1.get("filter").filter(|f| !f.is_null()).cloned())
        }
        _ => None,
    }
}

fn allowed_indexes(rules: &Value) -> Vec<String> {
    let mut names: Vec<String> = match rules {
        Value::Array(patterns) => patterns
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    names.sort();
    names
}

/// Verifies a tenant token for a search route and returns the access it grants.
pub fn authenticate(
    state: &AppState,
    token: &str,
    requirement: &Requirement,
) -> Result<Access, MeiliError> {
    let unverified =
        jsonwebtoken::dangerous::insecure_decode::<Value>(token).map_err(|_| invalid_api_key())?;
    let claims = unverified.claims;
    let Some(uid) = claims.get("apiKeyUid").and_then(Value::as_str) else {
        return Err(refused(
            "Could not decode tenant token, JSON error: missing field `apiKeyUid`.".into(),
        ));
    };
    let Some(rules) = claims.get("searchRules").cloned() else {
        return Err(refused(
            "Could not decode tenant token, JSON error: missing field `searchRules`.".into(),
        ));
    };
    let parent = state
        .store
        .get_key(&uid.to_ascii_lowercase())
        .ok()
        .flatten()
        .ok_or_else(invalid_api_key)?;
    let secret = parent["key"].as_str().unwrap_or_default().to_string();
    let mut validation = Validation::new(unverified.header.alg);
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| refused(format!("Could not decode tenant token, {}.", describe(&e))))?;
    if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if now > exp {
            return Err(refused(format!(
                "Tenant token expired. Was valid up to `{exp}` and we're now `{now}`."
            )));
        }
    }
    if let Some(index) = requirement.index.as_deref() {
        if rule_for(&rules, index).is_none() {
            return Err(refused(format!(
                "The provided tenant token cannot acces the index `{index}`, allowed indexes are {:?}.",
                allowed_indexes(&rules)
            )));
        }
        let empty = Vec::new();
        if !crate::auth::covers(parent["indexes"].as_array().unwrap_or(&empty), index) {
            return Err(refused(format!(
                "The API key used to generate this tenant token cannot acces the index `{index}`."
            )));
        }
    }
    // The parent key must itself allow the search (its actions, its expiry).
    let unscoped = Requirement {
        action: requirement.action,
        index: None,
    };
    authorize(&parent, &unscoped)?;
    Ok(Access {
        key: Some(parent),
        rules: Some(rules),
    })
}

fn describe(error: &jsonwebtoken::errors::Error) -> String {
    match error.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => "InvalidSignature".into(),
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => "InvalidAlgorithm".into(),
        other => format!("{other:?}"),
    }
}

/// ANDs a search rule's filter with a request's own, as Meilisearch does: both sides become
/// lists of conditions, the request's first.
pub fn fuse(request: Option<&Value>, rule: Option<&Value>) -> Option<Value> {
    let as_list = |filter: &Value| -> Vec<Value> {
        match filter {
            Value::Array(items) => items.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        }
    };
    match (request, rule) {
        (request, None) => request.cloned(),
        (None, Some(rule)) => Some(rule.clone()),
        (Some(request), Some(rule)) => {
            let mut all = as_list(request);
            all.extend(as_list(rule));
            Some(Value::Array(all))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_and_fusion() {
        let rules =
            json!({"movies*": {"filter": "genre = comedy"}, "movies_kids": null, "books": {}});
        assert_eq!(
            rule_for(&rules, "movies"),
            Some(Some(json!("genre = comedy")))
        );
        assert_eq!(rule_for(&rules, "movies_kids"), Some(None));
        assert_eq!(rule_for(&rules, "books"), Some(None));
        assert_eq!(rule_for(&rules, "music"), None);
        assert_eq!(rule_for(&json!(["*"]), "x"), Some(None));
        assert_eq!(
            fuse(Some(&json!("year > 2000")), Some(&json!("genre = comedy"))),
            Some(json!(["year > 2000", "genre = comedy"]))
        );
        assert_eq!(
            fuse(
                Some(&json!(["a = 1", ["b = 2", "c = 3"]])),
                Some(&json!("d = 4"))
            ),
            Some(json!(["a = 1", ["b = 2", "c = 3"], "d = 4"]))
        );
        assert_eq!(fuse(None, None), None);
    }
}
