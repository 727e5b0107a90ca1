//! Reading a search request once: the `GET` parameters or the `POST` body become a
//! [`SearchQuery`], with the tenant token's filter for the index (if any) ANDed into the
//! client's own before anything is read from it.

use serde_json::{Map, Value};

use crate::access::Access;
use crate::error::Result;
use crate::extract::Params;
use crate::wire::search::{params_to_body, SearchQuery};

/// A search body from `POST` (or one query of a multi-search, at JSON path `at`).
pub(crate) fn post_query(
    access: &Access,
    uid: &str,
    mut body: Map<String, Value>,
    at: &str,
) -> Result<SearchQuery> {
    access.apply_rules(uid, &mut body);
    Ok(SearchQuery::parse(body, at)?)
}

/// A search from `GET` parameters.
pub(crate) fn get_query(access: &Access, uid: &str, params: &Params) -> Result<SearchQuery> {
    let body = params_to_body(&params.0)?;
    post_query(access, uid, body, "")
}
