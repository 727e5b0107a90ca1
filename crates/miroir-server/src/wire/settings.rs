//! The settings API's shape: every sub-route of `/indexes/{uid}/settings`, its JSON key and
//! the verb that updates it, and the defaults Miroir applies itself.

use axum::http::Method;

/// Meilisearch's default `faceting.maxValuesPerFacet`.
pub(crate) const DEFAULT_MAX_VALUES_PER_FACET: u64 = 100;

/// Every settings sub-route of Meilisearch 1.50: URL segment, JSON key, update verb.
pub(crate) const SETTINGS: [(&str, &str, UpdateVerb); 22] = [
    (
        "filterable-attributes",
        "filterableAttributes",
        UpdateVerb::Put,
    ),
    ("sortable-attributes", "sortableAttributes", UpdateVerb::Put),
    (
        "displayed-attributes",
        "displayedAttributes",
        UpdateVerb::Put,
    ),
    ("typo-tolerance", "typoTolerance", UpdateVerb::Patch),
    (
        "searchable-attributes",
        "searchableAttributes",
        UpdateVerb::Put,
    ),
    ("stop-words", "stopWords", UpdateVerb::Put),
    (
        "non-separator-tokens",
        "nonSeparatorTokens",
        UpdateVerb::Put,
    ),
    ("separator-tokens", "separatorTokens", UpdateVerb::Put),
    ("dictionary", "dictionary", UpdateVerb::Put),
    ("synonyms", "synonyms", UpdateVerb::Put),
    ("distinct-attribute", "distinctAttribute", UpdateVerb::Put),
    ("proximity-precision", "proximityPrecision", UpdateVerb::Put),
    (
        "localized-attributes",
        "localizedAttributes",
        UpdateVerb::Put,
    ),
    ("ranking-rules", "rankingRules", UpdateVerb::Put),
    ("faceting", "faceting", UpdateVerb::Patch),
    ("pagination", "pagination", UpdateVerb::Patch),
    ("embedders", "embedders", UpdateVerb::Patch),
    ("search-cutoff-ms", "searchCutoffMs", UpdateVerb::Put),
    ("facet-search", "facetSearch", UpdateVerb::Put),
    ("prefix-search", "prefixSearch", UpdateVerb::Put),
    ("chat", "chat", UpdateVerb::Patch),
    ("foreign-keys", "foreignKeys", UpdateVerb::Put),
];

/// The order Meilisearch lists settings in a reset task's details.
pub(crate) const RESET_ORDER: [&str; 22] = [
    "displayedAttributes",
    "searchableAttributes",
    "filterableAttributes",
    "sortableAttributes",
    "foreignKeys",
    "rankingRules",
    "stopWords",
    "nonSeparatorTokens",
    "separatorTokens",
    "dictionary",
    "synonyms",
    "distinctAttribute",
    "proximityPrecision",
    "typoTolerance",
    "faceting",
    "pagination",
    "embedders",
    "searchCutoffMs",
    "localizedAttributes",
    "facetSearch",
    "prefixSearch",
    "chat",
];

/// The HTTP verb that updates a sub-route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateVerb {
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
}

impl UpdateVerb {
    /// As an HTTP method.
    pub(crate) fn method(self) -> Method {
        match self {
            UpdateVerb::Put => Method::PUT,
            UpdateVerb::Patch => Method::PATCH,
        }
    }
}

/// A settings sub-route by its URL segment: its JSON key and update verb (`None`: no such
/// route).
pub(crate) fn setting(segment: &str) -> Option<(&'static str, UpdateVerb)> {
    SETTINGS
        .iter()
        .find(|(s, _, _)| *s == segment)
        .map(|(_, key, verb)| (*key, *verb))
}
