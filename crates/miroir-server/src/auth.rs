//! Authorization: Miroir checks every request itself, before anything reaches a node.
//!
//! With a master key set, every route but `/health` needs `Authorization: Bearer <key>`. The
//! master key may do anything. An API key (see `keys`) may do what its `actions` grant
//! (`*` everything, `documents.*` every documents action, `*.get` every read) on the indexes
//! its `indexes` patterns name (`*`, an exact uid, or a prefix ending with `*`), until its
//! `expiresAt`. Anything else is Meilisearch's `invalid_api_key`.

use axum::http::{Method, StatusCode};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{ErrorType, MeiliError};

/// What a request needs: an action, and the index it touches when it touches exactly one.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    /// The action, e.g. `documents.add`.
    pub action: &'static str,
    /// The index named in the path, if any.
    pub index: Option<String>,
}

/// The action a route requires (`None`: public, or unknown and answered 404 by the router).
pub fn requirement(method: &Method, path: &str) -> Option<Requirement> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = method == Method::GET;
    let of = |action: &'static str, index: Option<&str>| {
        Some(Requirement {
            action,
            index: index.map(str::to_string),
        })
    };
    match segments.as_slice() {
        ["health"] => None,
        ["version"] => of("version", None),
        ["stats"] => of("stats.get", None),
        ["keys"] | ["keys", _] => match *method {
            Method::GET => of("keys.get", None),
            Method::POST => of("keys.create", None),
            Method::PATCH => of("keys.update", None),
            _ => of("keys.delete", None),
        },
        ["tasks"] if get => of("tasks.get", None),
        ["tasks"] => of("tasks.delete", None),
        ["tasks", "cancel"] => of("tasks.cancel", None),
        ["tasks", "compact"] => of("tasks.compact", None),
        ["tasks", ..] | ["batches", ..] => of("tasks.get", None),
        ["experimental-features"] if get => of("experimental.get", None),
        ["experimental-features"] => of("experimental.update", None),
        ["dumps"] => of("dumps.create", None),
        ["webhooks", ..] => match *method {
            Method::GET => of("webhooks.get", None),
            Method::POST => of("webhooks.create", None),
            Method::PATCH => of("webhooks.update", None),
            _ => of("webhooks.delete", None),
        },
        ["snapshots"] => of("snapshots.create", None),
        ["network", ..] if get => of("network.get", None),
        ["network", ..] => of("network.update", None),
        ["export"] => of("export", None),
        ["metrics"] | ["logs", ..] => of("metrics.get", None),
        ["chats", _, "chat", "completions"] => of("chatCompletions", None),
        ["chats", _, "settings"] if get => of("chatsSettings.get", None),
        ["chats", _, "settings"] => of("chatsSettings.update", None),
        ["chats", ..] if get => of("chats.get", None),
        ["chats", ..] => of("chats.delete", None),
        ["dynamic-search-rules"] if get || *method == Method::POST => {
            of("dynamicSearchRules.get", None)
        }
        ["dynamic-search-rules", _] if get => of("dynamicSearchRules.get", None),
        ["dynamic-search-rules", _] if *method == Method::PATCH => {
            of("dynamicSearchRules.update", None)
        }
        ["dynamic-search-rules", ..] => of("dynamicSearchRules.delete", None),
        ["render-template"] => of("settings.get", None),
        ["multi-search"] => of("search", None),
        ["swap-indexes"] => of("indexes.swap", None),
        ["indexes"] if get => of("indexes.get", None),
        ["indexes"] => of("indexes.create", None),
        ["indexes", uid] => match *method {
            Method::GET => of("indexes.get", Some(uid)),
            Method::PATCH => of("indexes.update", Some(uid)),
            _ => of("indexes.delete", Some(uid)),
        },
        ["indexes", uid, "search" | "facet-search" | "similar"] => of("search", Some(uid)),
        ["indexes", uid, "stats"] => of("stats.get", Some(uid)),
        ["indexes", uid, "fields"] => of("fields.post", Some(uid)),
        ["indexes", uid, "compact"] => of("indexes.compact", Some(uid)),
        ["indexes", uid, "settings", ..] if get => of("settings.get", Some(uid)),
        ["indexes", uid, "settings", ..] => of("settings.update", Some(uid)),
        ["indexes", uid, "documents", "fetch"] => of("documents.get", Some(uid)),
        ["indexes", uid, "documents", "delete-batch" | "delete"] => {
            of("documents.delete", Some(uid))
        }
        ["indexes", uid, "documents", "edit"] => of("documents.*", Some(uid)),
        ["indexes", uid, "documents", ..] => match *method {
            Method::GET => of("documents.get", Some(uid)),
            Method::DELETE => of("documents.delete", Some(uid)),
            _ => of("documents.add", Some(uid)),
        },
        // Unknown routes are answered 404 by the router, without an auth check (as Meilisearch).
        _ => None,
    }
}

/// What a request was authorized with: the API key (`None`: the master key, or no master key
/// set) and, for a tenant token, its search rules. Handlers use it where the body names
/// indexes (multi-search, swaps, creation) and to apply tenant-token filters.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The API key (or the tenant token's parent key).
    pub key: Option<Value>,
    /// A tenant token's `searchRules`.
    pub rules: Option<Value>,
}

impl Access {
    /// Full access (master key).
    pub fn master() -> Access {
        Access::default()
    }

    /// Whether the request may touch `index` (any action already checked by the middleware).
    pub fn may_use(&self, index: &str) -> bool {
        let key_allows = match &self.key {
            None => true,
            Some(key) => {
                let empty = Vec::new();
                covers(key["indexes"].as_array().unwrap_or(&empty), index)
            }
        };
        let rules_allow = self
            .rules
            .as_ref()
            .is_none_or(|rules| crate::tenant::rule_for(rules, index).is_some());
        key_allows && rules_allow
    }

    /// ANDs the tenant token's filter for `index` (if any) into a search body's filter.
    pub fn apply_rules(&self, index: &str, body: &mut serde_json::Map<String, Value>) {
        let Some(rules) = &self.rules else { return };
        let rule = crate::tenant::rule_for(rules, index).flatten();
        if let Some(filter) = crate::tenant::fuse(body.get("filter"), rule.as_ref()) {
            body.insert("filter".into(), filter);
        }
    }

    /// The index patterns of a key limited to some indexes (`None`: every index).
    pub fn restricted_patterns(&self) -> Option<Vec<String>> {
        let key = self.key.as_ref()?;
        let patterns: Vec<String> = key["indexes"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        (!patterns.iter().any(|p| p == "*")).then_some(patterns)
    }

    /// `invalid_api_key` unless the request may touch `index`.
    pub fn check(&self, index: &str) -> Result<(), MeiliError> {
        if self.may_use(index) {
            Ok(())
        } else {
            Err(invalid_api_key())
        }
    }
}

/// The actions `*.get` grants: every read, but not `keys.get` (no privilege escalation).
const READ_ACTIONS: [&str; 16] = [
    "search",
    "documents.get",
    "export",
    "indexes.get",
    "tasks.get",
    "settings.get",
    "stats.get",
    "metrics.get",
    "version",
    "experimental.get",
    "network.get",
    "chats.get",
    "chatsSettings.get",
    "webhooks.get",
    "fields.post",
    "dynamicSearchRules.get",
];

/// Actions that concern the whole instance, which a key limited to some indexes cannot grant.
const GLOBAL_ACTIONS: [&str; 9] = [
    "metrics.",
    "dumps.",
    "snapshots.",
    "keys.",
    "experimental.",
    "network.",
    "chats",
    "webhooks.",
    "dynamicSearchRules.",
];

/// Whether `action` concerns the whole instance (see [`GLOBAL_ACTIONS`]).
pub fn is_global(action: &str) -> bool {
    matches!(
        action,
        "version" | "export" | "tasks.compact" | "chatCompletions"
    ) || GLOBAL_ACTIONS
        .iter()
        .any(|prefix| action.starts_with(prefix))
}

/// Whether a key's `actions` grant `action`.
pub fn grants(actions: &[Value], action: &str) -> bool {
    actions.iter().filter_map(Value::as_str).any(|granted| {
        granted == "*"
            || granted == action
            || (granted == "*.get" && READ_ACTIONS.contains(&action))
            || granted
                .strip_suffix(".*")
                .is_some_and(|family| action.split('.').next() == Some(family))
    })
}

/// Whether a key's `indexes` patterns cover `index`.
pub fn covers(patterns: &[Value], index: &str) -> bool {
    patterns
        .iter()
        .filter_map(Value::as_str)
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => index.starts_with(prefix),
            None => pattern == index,
        })
}

/// Meilisearch's answer to a key that is unknown, expired or not allowed.
pub fn invalid_api_key() -> MeiliError {
    MeiliError::new(
        StatusCode::FORBIDDEN,
        "invalid_api_key",
        ErrorType::Auth,
        "The provided API key is invalid.",
    )
}

/// Meilisearch's answer to a request without `Authorization`.
pub fn missing_authorization_header() -> MeiliError {
    MeiliError::new(
        StatusCode::UNAUTHORIZED,
        "missing_authorization_header",
        ErrorType::Auth,
        "The Authorization header is missing. It must use the bearer authorization method.",
    )
}

/// Whether a stored key has expired.
pub fn expired(key: &Value) -> bool {
    key.get("expiresAt")
        .and_then(Value::as_str)
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .is_some_and(|at| at <= OffsetDateTime::now_utc())
}

/// Checks a stored key against a requirement, with Meilisearch's error: the index is checked
/// first (with a message naming the key's indexes), then the action and the expiry.
pub fn authorize(key: &Value, requirement: &Requirement) -> Result<(), MeiliError> {
    let empty = Vec::new();
    let actions = key["actions"].as_array().unwrap_or(&empty);
    let indexes = key["indexes"].as_array().unwrap_or(&empty);
    if let Some(index) = requirement.index.as_deref() {
        if !covers(indexes, index) {
            let allowed: Vec<&str> = indexes.iter().filter_map(Value::as_str).collect();
            return Err(MeiliError {
                message: format!(
                    "The API key cannot acces the index `{index}`, authorized indexes are {allowed:?}."
                ),
                ..invalid_api_key()
            });
        }
    }
    if expired(key) || !grants(actions, requirement.action) {
        return Err(invalid_api_key());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_and_wildcards() {
        assert!(grants(&[json!("*")], "keys.create"));
        assert!(grants(&[json!("documents.*")], "documents.add"));
        assert!(!grants(&[json!("documents.*")], "search"));
        assert!(grants(&[json!("*.get")], "settings.get"));
        assert!(grants(&[json!("*.get")], "search"));
        assert!(!grants(&[json!("*.get")], "keys.get"));
        assert!(is_global("keys.create") && is_global("version") && !is_global("search"));
        assert!(!grants(&[json!("*.get")], "settings.update"));
        assert!(grants(&[json!("search")], "search"));
        assert!(!grants(&[json!("search")], "documents.get"));
    }

    #[test]
    fn index_patterns() {
        let patterns = [json!("movies*"), json!("books")];
        assert!(covers(&patterns, "movies"));
        assert!(covers(&patterns, "movies_2024"));
        assert!(covers(&patterns, "books"));
        assert!(!covers(&patterns, "books_2"));
        assert!(covers(&[json!("*")], "anything"));
    }

    #[test]
    fn routes() {
        let r = |m: Method, p: &str| requirement(&m, p).map(|r| (r.action, r.index));
        assert_eq!(r(Method::GET, "/health"), None);
        assert_eq!(
            r(Method::POST, "/indexes/movies/search"),
            Some(("search", Some("movies".into())))
        );
        assert_eq!(
            r(Method::PUT, "/indexes/m/documents"),
            Some(("documents.add", Some("m".into())))
        );
        assert_eq!(
            r(Method::DELETE, "/indexes/m/documents/1"),
            Some(("documents.delete", Some("m".into())))
        );
        assert_eq!(
            r(Method::GET, "/indexes/m/settings/ranking-rules"),
            Some(("settings.get", Some("m".into())))
        );
        assert_eq!(
            r(Method::POST, "/tasks/cancel"),
            Some(("tasks.cancel", None))
        );
    }
}
