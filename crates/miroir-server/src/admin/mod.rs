//! Miroir's own administration API, under `/_miroir/` (routes Meilisearch does not have):
//! node states, the topology and adding nodes to it, replica verification and repair.

pub(crate) mod join;
pub(crate) mod nodes;
pub(crate) mod topology;
pub(crate) mod verify;
