//! Request parsing shared by the routes: query parameters and JSON bodies, with Meilisearch's
//! error codes and messages.

use axum::http::{header, HeaderMap};
use bytes::Bytes;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::util::{did_you_mean, parse_query, quoted_list};

/// Decoded query parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Params {
            pairs: parse_query(raw),
        }
    }

    /// Rejects parameters not in `accepted` with `bad_request`.
    pub fn deny_unknown(&self, accepted: &[&str]) -> ApiResult<()> {
        for (name, _) in &self.pairs {
            if !accepted.contains(&name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "Unknown parameter `{name}`: {}expected one of {}",
                    did_you_mean(name, accepted),
                    quoted_list(accepted)
                )));
            }
        }
        Ok(())
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether no parameter was given.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The parameters, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A non-negative integer parameter.
    pub fn usize(&self, name: &str, code: &str) -> ApiResult<Option<usize>> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => raw.parse::<usize>().map(Some).map_err(|_| {
                ApiError::new(
                    code,
                    format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer"),
                )
            }),
        }
    }

    /// A boolean parameter (`true`/`false` only).
    pub fn bool(&self, name: &str, code: &str) -> ApiResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(raw) => Err(ApiError::new(
                code,
                format!("Invalid value in parameter `{name}`: could not parse `{raw}` as a boolean, expected either `true` or `false`"),
            )),
        }
    }
}

/// The raw `Content-Type` header, if any.
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// `type/subtype` of a content type, lowercased, or `None` when it does not parse as a mime.
pub fn mime_essence(raw: &str) -> Option<String> {
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/')?;
    if kind.is_empty() || sub.is_empty() || sub.contains('/') {
        return None;
    }
    Some(essence)
}

/// Checks a JSON route's `Content-Type`.
pub fn require_json(headers: &HeaderMap) -> ApiResult<()> {
    let accepted = "Accepted values for the Content-Type header are: `application/json`";
    let Some(raw) = content_type(headers) else {
        return Err(ApiError::new(
            "missing_content_type",
            format!("A Content-Type header is missing. {accepted}"),
        ));
    };
    match mime_essence(&raw) {
        Some(essence) => {
            let sub = essence.split_once('/').map(|(_, s)| s).unwrap_or("");
            if sub == "json" || sub.ends_with("+json") {
                Ok(())
            } else {
                Err(ApiError::new(
                    "invalid_content_type",
                    format!("The Content-Type `{essence}` is invalid. {accepted}"),
                ))
            }
        }
        None => Err(ApiError::new(
            "invalid_content_type",
            format!("The Content-Type `{raw}` is invalid. {accepted}"),
        )),
    }
}

/// Parses a JSON body after checking its content type.
pub fn json_body(headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    require_json(headers)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            "missing_payload",
            "A json payload is missing.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            "malformed_payload",
            format!("The json payload provided is malformed. `{e}`."),
        )
    })
}
