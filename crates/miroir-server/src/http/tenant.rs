//! Tenant tokens: JWTs a backend signs with one of its API keys to give a front-end search
//! access restricted by per-index filters (`searchRules`). Miroir verifies them as Meilisearch
//! does — HS256/384/512 signed with the parent key's value, optional `exp`, the parent key
//! still valid — and ANDs each rule's filter with the request's own on every search.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use time::OffsetDateTime;

use crate::access::{authorize, covers, rule_for, Access, Requirement};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::wire::error::{invalid_api_key, MeiliError};

fn refused(message: String) -> Error {
    MeiliError {
        message,
        ..invalid_api_key()
    }
    .into()
}

/// Whether a bearer token has the shape of a JWT (three dot-separated parts).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
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
pub(crate) fn authenticate(
    state: &AppState,
    token: &str,
    requirement: &Requirement,
) -> Result<Access> {
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
        .get_key(&uid.to_ascii_lowercase())?
        .ok_or_else(invalid_api_key)?;
    let secret = parent["key"]
        .as_str()
        .ok_or_else(invalid_api_key)?
        .to_string();
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
        if !covers(parent["indexes"].as_array().unwrap_or(&empty), index) {
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
