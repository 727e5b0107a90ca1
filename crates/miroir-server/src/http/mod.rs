//! The HTTP edge: the route table (each route with the action it requires), the
//! authorization layer, tenant-token verification, and the connection limits.
//!
//! This is the top of the crate: it imports the handlers; nothing imports it but the crate
//! root.

pub(crate) mod auth;
pub(crate) mod router;
pub(crate) mod serve;
pub(crate) mod tenant;
