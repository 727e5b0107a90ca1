//! Miroir's own administration API, under `/_miroir/` (routes Meilisearch does not have):
//! node states, the topology, replica verification and repair.

pub(crate) mod nodes;
pub(crate) mod topology;
pub(crate) mod verify;
