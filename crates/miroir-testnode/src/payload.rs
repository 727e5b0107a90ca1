//! Document payloads: JSON (array or single object), NDJSON and CSV with typed headers,
//! with Meilisearch's content-type and malformed-payload errors.

use axum::http::HeaderMap;
use bytes::Bytes;
use serde_json::{Map, Number, Value};

use crate::error::{ApiError, ApiResult};
use crate::http::{content_type, mime_essence};

/// A document payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`
    Json,
    /// `application/x-ndjson`
    Ndjson,
    /// `text/csv`
    Csv,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }
}

const ACCEPTED: &str = "Accepted values for the Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`";

/// Validates the `csvDelimiter` parameter.
pub fn csv_delimiter(raw: Option<&str>) -> ApiResult<Option<u8>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let code = "invalid_document_csv_delimiter";
    let count = raw.chars().count();
    if count == 0 {
        return Err(ApiError::new(code, "Invalid value in parameter `csvDelimiter`: expected a string of one character, but found an empty string"));
    }
    if count > 1 {
        return Err(ApiError::new(
            code,
            format!("Invalid value in parameter `csvDelimiter`: expected a string of one character, but found the following string of {count} characters: `{raw}`"),
        ));
    }
    if !raw.is_ascii() {
        return Err(ApiError::new(
            code,
            format!("csv delimiter must be an ascii character. Found: `{raw}`"),
        ));
    }
    Ok(raw.bytes().next())
}

/// Detects the payload format from the `Content-Type` header.
pub fn format(headers: &HeaderMap, delimiter: Option<u8>) -> ApiResult<Format> {
    let Some(raw) = content_type(headers) else {
        return Err(ApiError::new(
            "missing_content_type",
            format!("A Content-Type header is missing. {ACCEPTED}"),
        ));
    };
    let essence = mime_essence(&raw);
    let format = match essence.as_deref() {
        Some("application/json") => Format::Json,
        Some("application/x-ndjson") => Format::Ndjson,
        Some("text/csv") => Format::Csv,
        Some(other) => {
            return Err(ApiError::new(
                "invalid_content_type",
                format!("The Content-Type `{other}` is invalid. {ACCEPTED}"),
            ))
        }
        None => {
            return Err(ApiError::new(
                "invalid_content_type",
                format!("The Content-Type `{raw}` is invalid. {ACCEPTED}"),
            ))
        }
    };
    if delimiter.is_some() && format != Format::Csv {
        return Err(ApiError::new(
            "invalid_content_type",
            format!("The Content-Type `{}` does not support the use of a csv delimiter. The csv delimiter can only be used with the Content-Type `text/csv`.", essence.unwrap_or_default()),
        ));
    }
    Ok(format)
}

fn malformed(format: Format, inner: impl std::fmt::Display) -> ApiError {
    let message = match format {
        Format::Csv => format!("The `csv` payload provided is malformed: `{inner}`."),
        _ => format!(
            "The `{}` payload provided is malformed. `Couldn't serialize document value: {inner}`.",
            format.name()
        ),
    };
    ApiError::new("malformed_payload", message)
}

/// Parses a payload into documents.
pub fn parse(
    format: Format,
    body: &Bytes,
    delimiter: Option<u8>,
) -> ApiResult<Vec<Map<String, Value>>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            "missing_payload",
            format!("A {} payload is missing.", format.name()),
        ));
    }
    match format {
        Format::Json => {
            let value: Value = serde_json::from_slice(body).map_err(|e| malformed(format, e))?;
            let not_objects =
                || malformed(format, "data are neither an object nor a list of objects");
            match value {
                Value::Object(doc) => Ok(vec![doc]),
                Value::Array(items) => items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(doc) => Ok(doc),
                        _ => Err(not_objects()),
                    })
                    .collect(),
                _ => Err(not_objects()),
            }
        }
        Format::Ndjson => {
            let mut docs = Vec::new();
            for value in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
                match value.map_err(|e| malformed(format, e))? {
                    Value::Object(doc) => docs.push(doc),
                    _ => {
                        return Err(malformed(
                            format,
                            "data are neither an object nor a list of objects",
                        ))
                    }
                }
            }
            Ok(docs)
        }
        Format::Csv => parse_csv(body, delimiter.unwrap_or(b',')),
    }
}

#[derive(Clone, Copy)]
enum Column {
    Text,
    Number,
    Boolean,
}

fn parse_csv(body: &Bytes, delimiter: u8) -> ApiResult<Vec<Map<String, Value>>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(body.as_ref());
    let headers = reader
        .headers()
        .map_err(|e| malformed(Format::Csv, e))?
        .clone();
    let columns: Vec<(String, Column)> = headers
        .iter()
        .map(|header| match header.rsplit_once(':') {
            Some((name, "string")) => (name.to_string(), Column::Text),
            Some((name, "number")) => (name.to_string(), Column::Number),
            Some((name, "boolean")) => (name.to_string(), Column::Boolean),
            _ => (header.to_string(), Column::Text),
        })
        .collect();
    let mut docs = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| malformed(Format::Csv, e))?;
        let line = row + 1;
        let mut doc = Map::new();
        for ((name, column), cell) in columns.iter().zip(record.iter()) {
            let value = if cell.is_empty() {
                Value::Null
            } else {
                match column {
                    Column::Text => Value::String(cell.to_string()),
                    Column::Number => {
                        let trimmed = cell.trim();
                        match trimmed.parse::<i64>() {
                            Ok(i) => Value::from(i),
                            Err(_) => match trimmed.parse::<f64>() {
                                Ok(f) => Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
                                Err(e) => {
                                    return Err(malformed(
                                        Format::Csv,
                                        format!("Error parsing number {cell:?} at line {line}: {e}"),
                                    ))
                                }
                            },
                        }
                    }
                    Column::Boolean => match cell.trim() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => {
                            return Err(malformed(
                                Format::Csv,
                                format!("Error parsing boolean {cell:?} at line {line}: provided string was not `true` or `false`"),
                            ))
                        }
                    },
                }
            };
            doc.insert(name.clone(), value);
        }
        docs.push(doc);
    }
    Ok(docs)
}

/// Whether a string is a valid document id (`[a-zA-Z0-9_-]`, 1 to 511 bytes).
pub fn valid_document_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() < 512
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The message of `invalid_document_id` for a JSON id value.
pub fn invalid_id_message(value: &Value) -> String {
    format!("Document identifier `{value}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.")
}

/// The external id of a JSON id value, if valid (`1` and `"1"` are the same id).
pub fn document_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if valid_document_id(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}
