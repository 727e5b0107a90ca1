//! Miroir's own administration API, under `/_miroir/` (routes Meilisearch does not have):
//! node states, the topology and changing it (adding, draining, removing nodes, the
//! replication factor), the rebalance's progress, an index's layout (sharded or whole) and
//! reshaping it, replica verification and repair, and which process holds the lease.

pub(crate) mod fleet;
pub(crate) mod join;
pub(crate) mod layout;
pub(crate) mod lease;
pub(crate) mod nodes;
pub(crate) mod shards;
pub(crate) mod topology;
pub(crate) mod verify;
