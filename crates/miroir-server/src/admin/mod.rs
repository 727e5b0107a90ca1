//! Miroir's own administration API, under `/_miroir/` (routes Meilisearch does not have):
//! replica verification and repair.

pub(crate) mod verify;
