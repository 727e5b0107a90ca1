//! The read path: every route that answers from the nodes' data without changing it.
//!
//! A search, file by file: [`search`] (the handler, and the merge loop for `distinct`) reads
//! the request once through [`query`], [`scatter`] plans the shards and fans out one request
//! per node (`cluster::fanout`, with failover), `miroir_core::merge` orders the hits, and
//! [`collect`] cuts and renders the answer. [`multi_search`] runs several searches, or one
//! [`federated`] merge; [`facet_search`] and [`similar`] reuse the same pieces. Document reads
//! ([`documents`]), settings, stats, fields and index metadata are simpler gathers.

pub(crate) mod collect;
pub(crate) mod documents;
pub(crate) mod facet_search;
pub(crate) mod federated;
pub(crate) mod fields;
pub(crate) mod indexes;
pub(crate) mod multi_search;
pub(crate) mod query;
pub(crate) mod scatter;
pub(crate) mod search;
pub(crate) mod settings;
pub(crate) mod similar;
pub(crate) mod stats;
