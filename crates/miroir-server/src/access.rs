//! What a request may do: the action vocabulary of API keys (Meilisearch's, with its
//! wildcards), index patterns, and [`Access`], what the authenticated request carries to the
//! handlers (the key's index restriction and, for a tenant token, its search rules).
//!
//! The router checks the action each route declares (see `http::auth`); handlers use
//! [`Access`] where the body names indexes (multi-search, swaps, creation) and to AND tenant
//! filters into searches.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::wire::error::{invalid_api_key, MeiliError};

/// What a request needs: an action, and the index it touches when it touches exactly one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Requirement {
    /// The action, e.g. `documents.add`.
    pub action: &'static str,
    /// The index named in the path, if any.
    pub index: Option<String>,
}

/// Every action a key may grant, in Meilisearch 1.50's order (its error messages list them so).
pub(crate) const ACTIONS: [&str; 58] = [
    "*",
    "search",
    "documents.*",
    "documents.add",
    "documents.get",
    "documents.delete",
    "indexes.*",
    "indexes.create",
    "indexes.get",
    "indexes.update",
    "indexes.delete",
    "indexes.swap",
    "tasks.*",
    "tasks.cancel",
    "tasks.delete",
    "tasks.get",
    "settings.*",
    "settings.get",
    "settings.update",
    "stats.*",
    "stats.get",
    "metrics.*",
    "metrics.get",
    "dumps.*",
    "dumps.create",
    "snapshots.*",
    "snapshots.create",
    "version",
    "keys.create",
    "keys.get",
    "keys.update",
    "keys.delete",
    "experimental.get",
    "experimental.update",
    "export",
    "network.get",
    "network.update",
    "chatCompletions",
    "chats.*",
    "chats.get",
    "chats.delete",
    "chatsSettings.*",
    "chatsSettings.get",
    "chatsSettings.update",
    "*.get",
    "webhooks.get",
    "webhooks.update",
    "webhooks.delete",
    "webhooks.create",
    "webhooks.*",
    "indexes.compact",
    "fields.post",
    "tasks.compact",
    "dynamicSearchRules.get",
    "dynamicSearchRules.create",
    "dynamicSearchRules.update",
    "dynamicSearchRules.delete",
    "dynamicSearchRules.*",
];

/// What a request was authorized with: the API key (`None`: the master key, or no master key
/// set) and, for a tenant token, its search rules. Handlers use it where the body names
/// indexes (multi-search, swaps, creation) and to apply tenant-token filters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
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
            .is_none_or(|rules| rule_for(rules, index).is_some());
        key_allows && rules_allow
    }

    /// ANDs the tenant token's filter for `index` (if any) into a search body's filter.
    pub fn apply_rules(&self, index: &str, body: &mut serde_json::Map<String, Value>) {
        let Some(rules) = &self.rules else { return };
        let rule = rule_for(rules, index).flatten();
        if let Some(filter) = fuse(body.get("filter"), rule.as_ref()) {
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
pub(crate) fn is_global(action: &str) -> bool {
    matches!(
        action,
        "version" | "export" | "tasks.compact" | "chatCompletions"
    ) || GLOBAL_ACTIONS
        .iter()
        .any(|prefix| action.starts_with(prefix))
}

/// Whether a key's `actions` grant `action`.
pub(crate) fn grants(actions: &[Value], action: &str) -> bool {
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
pub(crate) fn covers(patterns: &[Value], index: &str) -> bool {
    patterns
        .iter()
        .filter_map(Value::as_str)
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => index.starts_with(prefix),
            None => pattern == index,
        })
}

/// Whether a stored key has expired.
pub(crate) fn expired(key: &Value) -> bool {
    key.get("expiresAt")
        .and_then(Value::as_str)
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .is_some_and(|at| at <= OffsetDateTime::now_utc())
}

/// Checks a stored key against a requirement, with Meilisearch's error: the index is checked
/// first (with a message naming the key's indexes), then the action and the expiry.
pub(crate) fn authorize(key: &Value, requirement: &Requirement) -> Result<(), MeiliError> {
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

/// The rules of `searchRules` that apply to `index`: `Some(None)` allows it without a filter,
/// `Some(Some(filter))` with one, `None` refuses it. With several matching patterns the exact
/// uid wins, then the longest prefix (Meilisearch's "most specific" rule).
pub(crate) fn rule_for(rules: &Value, index: &str) -> Option<Option<Value>> {
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

/// ANDs a search rule's filter with a request's own, as Meilisearch does: both sides become
/// lists of conditions, the request's first.
pub(crate) fn fuse(request: Option<&Value>, rule: Option<&Value>) -> Option<Value> {
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
