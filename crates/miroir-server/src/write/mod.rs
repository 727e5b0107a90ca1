//! The write path: every route that changes the nodes' data or settings.
//!
//! A document write, file by file: [`documents`] reads the payload (JSON, NDJSON or CSV),
//! resolves the primary key and validates every id as Meilisearch does, routes each document
//! to the nodes of its shard with its shard marker (`miroir_core::split`), and hands the calls
//! to [`journal`], which records the Miroir task and the journal entry durably before the
//! client's `202`; [`delivery`] then sends each node its calls in journal order, and the task
//! poller (`tasks::poller`) follows the node tasks to the task's end. Index lifecycle ([`indexes`]), settings ([`settings`]), task
//! cancelation ([`cancel`]) and instance-wide changes ([`relay`]) go the same way.

pub(crate) mod cancel;
pub(crate) mod copy;
pub(crate) mod delivery;
pub(crate) mod documents;
pub(crate) mod indexes;
pub(crate) mod journal;
pub(crate) mod rebuild;
pub(crate) mod relay;
pub(crate) mod settings;
