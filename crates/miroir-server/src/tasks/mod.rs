//! Miroir's task registry: recording tasks ([`registry`]), following them on the nodes
//! ([`poller`]), the `/tasks` and `/batches` routes with their filters, and the webhooks called
//! when tasks finish.

pub(crate) mod batches;
pub(crate) mod filter;
pub(crate) mod poller;
pub(crate) mod registry;
pub(crate) mod routes;
pub(crate) mod webhooks;
