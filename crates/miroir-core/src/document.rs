//! Client document payloads: parsing, primary keys and document ids, as Meilisearch does them.
//!
//! Miroir must know every document's id before it can route it, so it parses the payload
//! itself (JSON array or single object, NDJSON, CSV), resolves the primary key with
//! Meilisearch's inference rule, and validates ids with Meilisearch's rule. Documents then
//! travel to the nodes as NDJSON, so CSV typing (`price:number`) is applied here exactly once.

use serde_json::{Map, Value};

use crate::error::Error;

/// One parsed document: a JSON object in the field order the client sent.
pub type Document = Map<String, Value>;

/// The payload formats Meilisearch accepts on the documents routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `application/json`: an array of objects, or one object.
    Json,
    /// `application/x-ndjson`: one object per line.
    Ndjson,
    /// `text/csv`: a header line of (optionally typed) field names, then records.
    Csv {
        /// The field delimiter (`csvDelimiter`), one ASCII byte.
        delimiter: u8,
    },
}

impl PayloadFormat {
    /// The name Meilisearch uses for the format in its error messages.
    pub fn name(self) -> &'static str {
        match self {
            PayloadFormat::Json => "json",
            PayloadFormat::Ndjson => "ndjson",
            PayloadFormat::Csv { .. } => "csv",
        }
    }
}

/// Parses a whole payload into documents.
pub fn parse_payload(bytes: &[u8], format: PayloadFormat) -> Result<Vec<Document>, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::MissingPayload(format.name()));
    }
    match format {
        PayloadFormat::Json => parse_json(bytes),
        PayloadFormat::Ndjson => parse_ndjson(bytes),
        PayloadFormat::Csv { delimiter } => parse_csv(bytes, delimiter),
    }
}

pub(crate) fn malformed(format: PayloadFormat, detail: impl std::fmt::Display) -> Error {
    Error::MalformedPayload {
        format: format.name(),
        detail: detail.to_string(),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Vec<Document>, Error> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| malformed(PayloadFormat::Json, e))?;
    match value {
        Value::Object(document) => Ok(vec![document]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(document) => Ok(document),
                other => Err(malformed(
                    PayloadFormat::Json,
                    format!("expected an object, found `{other}`"),
                )),
            })
            .collect(),
        other => Err(malformed(
            PayloadFormat::Json,
            format!("expected an object or an array of objects, found `{other}`"),
        )),
    }
}

fn parse_ndjson(bytes: &[u8]) -> Result<Vec<Document>, Error> {
    let mut documents = Vec::new();
    for document in serde_json::Deserializer::from_slice(bytes).into_iter::<Value>() {
        match document.map_err(|e| malformed(PayloadFormat::Ndjson, e))? {
            Value::Object(document) => documents.push(document),
            other => {
                return Err(malformed(
                    PayloadFormat::Ndjson,
                    format!("expected an object, found `{other}`"),
                ))
            }
        }
    }
    Ok(documents)
}

/// The declared type of a CSV column (`name:number`).
#[derive(Debug, Clone, Copy)]
enum CsvType {
    String,
    Number,
    Boolean,
}

fn parse_csv_header(raw: &str) -> (String, CsvType) {
    match raw.rsplit_once(':') {
        Some((name, "number")) => (name.to_string(), CsvType::Number),
        Some((name, "boolean")) => (name.to_string(), CsvType::Boolean),
        Some((name, "string")) => (name.to_string(), CsvType::String),
        _ => (raw.to_string(), CsvType::String),
    }
}

fn parse_csv(bytes: &[u8], delimiter: u8) -> Result<Vec<Document>, Error> {
    csv_documents(bytes, delimiter)?.collect()
}

/// The documents of a CSV payload, one record at a time (typed cells converted as
/// Meilisearch does), so a large payload is never held as documents all at once. A header
/// that cannot be read is an error at once; a malformed record ends the iteration with its
/// error.
pub fn csv_documents(
    bytes: &[u8],
    delimiter: u8,
) -> Result<impl Iterator<Item = Result<Document, Error>> + '_, Error> {
    let format = PayloadFormat::Csv { delimiter };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(bytes);
    let headers: Vec<(String, CsvType)> = reader
        .headers()
        .map_err(|e| malformed(format, e))?
        .iter()
        .map(parse_csv_header)
        .collect();
    Ok(reader
        .into_records()
        .enumerate()
        .map(move |(line, record)| {
            let record = record.map_err(|e| malformed(format, e))?;
            csv_document(&headers, &record, line, format)
        }))
}

fn csv_document(
    headers: &[(String, CsvType)],
    record: &csv::StringRecord,
    line: usize,
    format: PayloadFormat,
) -> Result<Document, Error> {
    let mut document = Document::with_capacity(headers.len());
    for ((name, kind), cell) in headers.iter().zip(record.iter()) {
        let value = match kind {
            _ if cell.is_empty() => Value::Null,
            CsvType::String => Value::String(cell.to_string()),
            CsvType::Number => parse_csv_number(cell.trim()).ok_or_else(|| {
                malformed(
                    format,
                    format!(
                        "Error parsing number \"{cell}\" at line {}: invalid float literal",
                        line + 1
                    ),
                )
            })?,
            CsvType::Boolean => match cell.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                other => {
                    return Err(malformed(
                        format,
                        format!(
                            "Error parsing boolean \"{other}\" at line {}: provided string was not `true` or `false`",
                            line + 1
                        ),
                    ))
                }
            },
        };
        document.insert(name.clone(), value);
    }
    Ok(document)
}

fn parse_csv_number(cell: &str) -> Option<Value> {
    if let Ok(integer) = cell.parse::<i64>() {
        return Some(Value::from(integer));
    }
    let float = cell.parse::<f64>().ok()?;
    serde_json::Number::from_f64(float).map(Value::Number)
}

/// Meilisearch's primary-key inference: the fields of the first document whose name ends with
/// `id` (case-insensitive). Exactly one candidate is chosen; none or several is an error.
pub fn infer_primary_key(first: &Document) -> Result<String, Error> {
    infer_primary_key_of(first.keys().map(String::as_str))
}

/// [`infer_primary_key`] over the first document's field names alone.
pub fn infer_primary_key_of<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<String, Error> {
    let mut candidates: Vec<&str> = names
        .into_iter()
        .filter(|name| name.to_lowercase().ends_with("id"))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    match candidates.as_slice() {
        [] => Err(Error::NoPrimaryKeyCandidate),
        [one] => Ok((*one).to_string()),
        many => Err(Error::MultiplePrimaryKeyCandidates(
            many.iter().map(|s| s.to_string()).collect(),
        )),
    }
}

/// Finds the primary-key value in a document. A dotted key (`a.b`) also matches the nested
/// field `{"a": {"b": …}}`, as Meilisearch's nested primary keys do.
pub fn primary_key_value<'a>(document: &'a Document, primary_key: &str) -> Option<&'a Value> {
    if let Some(value) = document.get(primary_key) {
        return Some(value);
    }
    let mut parts = primary_key.split('.');
    let mut current = document.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// The maximum byte length of a document id, as in Meilisearch.
pub const MAX_DOCUMENT_ID_BYTES: usize = 511;

/// Validates a document id value and returns its canonical string form (integers in decimal),
/// under which `1` and `"1"` are the same document, as on Meilisearch.
pub fn validate_document_id(value: &Value) -> Result<String, Error> {
    let invalid = || Error::InvalidDocumentId(value.to_string());
    match value {
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                Ok(integer.to_string())
            } else if let Some(integer) = number.as_u64() {
                Ok(integer.to_string())
            } else {
                Err(invalid())
            }
        }
        Value::String(string) => {
            let valid = !string.is_empty()
                && string.len() <= MAX_DOCUMENT_ID_BYTES
                && string
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if valid {
                Ok(string.clone())
            } else {
                Err(invalid())
            }
        }
        _ => Err(invalid()),
    }
}

/// Resolves and validates the id of one document under `primary_key`.
pub fn document_id(document: &Document, primary_key: &str) -> Result<String, Error> {
    match primary_key_value(document, primary_key) {
        Some(value) => validate_document_id(value),
        None => Err(Error::MissingDocumentId {
            primary_key: primary_key.to_string(),
            document: Value::Object(document.clone()).to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Document {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn json_array_object_and_errors() {
        let docs = parse_payload(br#"[{"id":1},{"id":"a"}]"#, PayloadFormat::Json).unwrap();
        assert_eq!(docs.len(), 2);
        let docs = parse_payload(br#"{"id":1}"#, PayloadFormat::Json).unwrap();
        assert_eq!(docs.len(), 1);
        assert!(matches!(
            parse_payload(b"[{\"id\":1}", PayloadFormat::Json),
            Err(Error::MalformedPayload { .. })
        ));
        assert!(matches!(
            parse_payload(b"[1]", PayloadFormat::Json),
            Err(Error::MalformedPayload { .. })
        ));
        assert!(matches!(
            parse_payload(b"  ", PayloadFormat::Json),
            Err(Error::MissingPayload("json"))
        ));
    }

    #[test]
    fn ndjson_lines() {
        let docs = parse_payload(b"{\"id\":1}\n\n{\"id\":2}\n", PayloadFormat::Ndjson).unwrap();
        assert_eq!(docs.len(), 2);
        assert!(parse_payload(b"{\"id\":1}\n[2]\n", PayloadFormat::Ndjson).is_err());
    }

    #[test]
    fn csv_typed_columns() {
        let body = b"id,price:number,ok:boolean,name:string,empty\n1,12.5,true,x,\n2,3,false,y,z\n";
        let docs = parse_payload(body, PayloadFormat::Csv { delimiter: b',' }).unwrap();
        assert_eq!(
            Value::Object(docs[0].clone()),
            json!({"id": "1", "price": 12.5, "ok": true, "name": "x", "empty": null})
        );
        assert_eq!(docs[1]["price"], json!(3));
        let semicolon = parse_payload(b"id;a\n1;b\n", PayloadFormat::Csv { delimiter: b';' });
        assert_eq!(semicolon.unwrap()[0]["a"], json!("b"));
        assert!(parse_payload(
            b"id,p:number\n1,abc\n",
            PayloadFormat::Csv { delimiter: b',' }
        )
        .is_err());
    }

    #[test]
    fn primary_key_inference() {
        assert_eq!(
            infer_primary_key(&doc(json!({"title": 1, "movieId": 2}))).unwrap(),
            "movieId"
        );
        assert!(matches!(
            infer_primary_key(&doc(json!({"title": 1}))),
            Err(Error::NoPrimaryKeyCandidate)
        ));
        assert!(matches!(
            infer_primary_key(&doc(json!({"id": 1, "author_id": 2}))),
            Err(Error::MultiplePrimaryKeyCandidates(_))
        ));
    }

    #[test]
    fn document_ids() {
        assert_eq!(validate_document_id(&json!(1)).unwrap(), "1");
        assert_eq!(validate_document_id(&json!("1")).unwrap(), "1");
        assert_eq!(validate_document_id(&json!(-3)).unwrap(), "-3");
        assert_eq!(validate_document_id(&json!("a-b_C9")).unwrap(), "a-b_C9");
        for bad in [
            json!(1.5),
            json!("a b"),
            json!(""),
            json!(null),
            json!([1]),
            json!("é"),
        ] {
            assert!(
                validate_document_id(&bad).is_err(),
                "{bad} should be invalid"
            );
        }
        let long = "a".repeat(MAX_DOCUMENT_ID_BYTES + 1);
        assert!(validate_document_id(&json!(long)).is_err());
        let nested = doc(json!({"a": {"b": "x1"}}));
        assert_eq!(document_id(&nested, "a.b").unwrap(), "x1");
        assert!(matches!(
            document_id(&nested, "id"),
            Err(Error::MissingDocumentId { .. })
        ));
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            "[a-zA-Z0-9_-]{1,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z.]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// Any document and any (dotted) primary key: the id is found or refused, never a
        /// panic, and an accepted id follows Meilisearch's rule.
        #[test]
        fn any_document_yields_an_id_or_an_error(
            document in proptest::collection::btree_map("[a-z.]{1,4}", any_json(), 0..5),
            key in "[a-z.]{1,5}",
        ) {
            let document: Document = document.into_iter().collect();
            if let Ok(id) = document_id(&document, &key) {
                proptest::prop_assert!(!id.is_empty() && id.len() <= MAX_DOCUMENT_ID_BYTES);
                proptest::prop_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            }
            let _ = infer_primary_key(&document);
        }
    }
}
