//! Instance-level routes: API keys, Prometheus metrics, chat workspaces and template rendering, experimental
//! features, dynamic search rules, dumps and snapshots, and the routes Miroir answers `miroir_not_supported`.

pub(crate) mod chats;
pub(crate) mod dumps;
pub(crate) mod features;
pub(crate) mod keys;
pub(crate) mod metrics;
pub(crate) mod search_rules;
pub(crate) mod unsupported;
