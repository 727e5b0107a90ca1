//! Miroir's pure logic: everything that decides, nothing that does I/O.
//!
//! - [`hash`]: the stable hash of a document id and its shard;
//! - [`placement`]: which nodes hold each shard (weighted rendezvous hashing over zones);
//! - [`planner`]: which shards a filter pinning primary keys can match;
//! - [`document`]: payload parsing, primary keys and document ids, Meilisearch's rules;
//! - [`marker`]: the hidden per-document shard marker, and removing it from responses;
//! - [`rebalance`]: the shard moves a topology change makes, and the steps of one move;
//! - [`reshape`]: making a filled index whole or sharded again while it serves;
//! - [`replica`]: which shards of an index a node's copy holds stale;
//! - [`reserved`]: finding the marker's reserved name in client input;
//! - [`route`]: a client payload routed by shard in place, without holding its documents;
//! - [`split`]: payloads stored once for several nodes, and each node's byte ranges;
//! - [`facets`]: summing facet counts and stats over shards;
//! - [`merge`]: ordering hits from several shards as one index would;
//! - [`pins`]: placing the hits dynamic search rules pin, as one index places them;
//! - [`task`]: a Miroir task's status derived from its node tasks;
//! - [`journal`]: the write journal's rules (call tags, task types, settling over replicas);
//! - [`topology`]: the fleet and its states, versioned, and what a start makes of its configuration;
//! - [`verify`]: comparing a shard's replicas and planning their repair.
//!
//! No tokio, no network, no files: the server crate does the I/O and calls into this one, so
//! the rules here are tested with unit and property tests alone.

pub mod document;
pub mod error;
pub mod facets;
pub mod hash;
pub mod journal;
pub mod marker;
pub mod merge;
pub mod parity;
pub mod pins;
pub mod placement;
pub mod planner;
pub mod rebalance;
pub mod replica;
pub mod reserved;
pub mod reshape;
pub mod route;
pub mod split;
pub mod task;
pub mod topology;
pub mod verify;

pub use error::Error;
