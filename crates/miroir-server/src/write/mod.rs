//! The write path: every route that changes the nodes' data or settings.
//!
//! A document write, file by file: [`documents`] reads the payload (JSON, NDJSON or CSV),
//! resolves the primary key and validates every id as Meilisearch does, routes each document
//! to the nodes of its shard with its shard marker (`miroir_core::split`), and hands one
//! request per node to [`dispatch`], which sends them under the write lock and records the
//! Miroir task (`tasks::registry`); the task poller (`tasks::poller`) then follows the node
//! tasks to the task's end. Index lifecycle ([`indexes`]), settings ([`settings`]), task
//! cancelation ([`cancel`]) and instance-wide changes ([`relay`]) go the same way.

pub(crate) mod cancel;
pub(crate) mod dispatch;
pub(crate) mod documents;
pub(crate) mod indexes;
pub(crate) mod relay;
pub(crate) mod settings;
