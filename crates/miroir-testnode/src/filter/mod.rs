//! Meilisearch filter expressions: parsing (string and array forms, with Meilisearch's error
//! messages and `line:column` spans), filterability checks against `filterableAttributes`,
//! and evaluation against one document.

mod eval;
mod parse;

pub use eval::{distance, field_values, geo_point, matches, normalize_facet, Checked};
pub use parse::parse_str;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// A piece of the filter text: its (unescaped) value and where it sits in its expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The value, quotes removed and escapes resolved.
    pub value: String,
    /// Start, in characters, inside `source`.
    pub start: usize,
    /// Length in characters of the original text.
    pub len: usize,
    /// The whole expression this token comes from.
    pub source: std::sync::Arc<str>,
}

impl Token {
    /// "`start+1`:`end+1` `source`", the suffix Meilisearch appends to located errors.
    pub fn location(&self) -> String {
        format!(
            "{}:{} {}",
            self.start + 1,
            self.start + 1 + self.len,
            self.source
        )
    }
}

/// A comparison operator with its operand(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `=`
    Equal(Token),
    /// `!=`
    NotEqual(Token),
    /// `>`
    Greater(Token),
    /// `>=`
    GreaterOrEqual(Token),
    /// `<`
    Lower(Token),
    /// `<=`
    LowerOrEqual(Token),
    /// `from TO to`
    Between(Token, Token),
    /// `EXISTS`
    Exists,
    /// `IS NULL`
    Null,
    /// `IS EMPTY`
    Empty,
}

impl Op {
    /// The operator as written in error messages.
    pub fn symbol(&self) -> &'static str {
        match self {
            Op::Equal(_) => "=",
            Op::NotEqual(_) => "!=",
            Op::Greater(_) => ">",
            Op::GreaterOrEqual(_) => ">=",
            Op::Lower(_) => "<",
            Op::LowerOrEqual(_) => "<=",
            Op::Between(..) => "TO",
            Op::Exists => "EXISTS",
            Op::Null => "IS NULL",
            Op::Empty => "IS EMPTY",
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Any of.
    Or(Vec<Expr>),
    /// All of.
    And(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// `field op value`.
    Cond {
        /// The field.
        field: Token,
        /// The operation.
        op: Op,
    },
    /// `field IN [a, b]`.
    In {
        /// The field.
        field: Token,
        /// The values.
        values: Vec<Token>,
    },
    /// `_geoRadius(lat, lng, meters)`.
    GeoRadius {
        /// The `_geoRadius` token, for errors.
        token: Token,
        /// Center latitude.
        lat: f64,
        /// Center longitude.
        lng: f64,
        /// Radius in meters.
        radius: f64,
    },
    /// `_geoBoundingBox([top, right], [bottom, left])`.
    GeoBox {
        /// The `_geoBoundingBox` token, for errors.
        token: Token,
        /// Top-right corner (lat, lng).
        top_right: (f64, f64),
        /// Bottom-left corner (lat, lng).
        bottom_left: (f64, f64),
    },
}

fn invalid_expression(code: &str, expected: &[&str], found: &Value) -> ApiError {
    ApiError::new(
        code,
        format!(
            "Invalid syntax for the filter parameter: `expected {}, found: {found}`.",
            expected.join(", ")
        ),
    )
}

/// Parses a filter given as JSON (a string, or an array of strings and arrays of strings).
/// `code` is the route's error code (`invalid_search_filter`, `invalid_document_filter` …).
/// `Ok(None)` means "no filter" (empty string or empty array).
pub fn parse_json(value: &Value, code: &str) -> ApiResult<Option<Expr>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => parse_str(s).map_err(|e| ApiError::new(code, e)),
        Value::Array(items) => {
            let mut ands = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => {
                        if let Some(expr) = parse_str(s).map_err(|e| ApiError::new(code, e))? {
                            ands.push(expr);
                        }
                    }
                    Value::Array(inner) => {
                        let mut ors = Vec::new();
                        for rule in inner {
                            let Value::String(s) = rule else {
                                return Err(invalid_expression(code, &["String"], rule));
                            };
                            if let Some(expr) = parse_str(s).map_err(|e| ApiError::new(code, e))? {
                                ors.push(expr);
                            }
                        }
                        match ors.len() {
                            0 => {}
                            1 => ands.extend(ors),
                            _ => ands.push(Expr::Or(ors)),
                        }
                    }
                    other => return Err(invalid_expression(code, &["String", "[String]"], other)),
                }
            }
            Ok(match ands.len() {
                0 => None,
                1 => ands.pop(),
                _ => Some(Expr::And(ands)),
            })
        }
        other => Err(invalid_expression(code, &["String", "Array"], other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn parses_and_matches() {
        let expr = parse_str("_miroir.s1 EXISTS OR _miroir.s2 EXISTS")
            .unwrap()
            .unwrap();
        assert!(matches(&expr, &doc(json!({"_miroir": {"s2": null}}))));
        assert!(!matches(&expr, &doc(json!({"_miroir": {"s3": null}}))));
        let expr = parse_str("(a = 1 OR b IN [x, 'y z']) AND NOT c > 3")
            .unwrap()
            .unwrap();
        assert!(matches(&expr, &doc(json!({"a": 1, "c": 2}))));
        assert!(matches(&expr, &doc(json!({"b": ["Y Z"]}))));
        assert!(!matches(&expr, &doc(json!({"a": 1, "c": 4}))));
        let expr = parse_str("n 1 TO 5 AND s IS NOT EMPTY AND t IS NULL")
            .unwrap()
            .unwrap();
        assert!(matches(&expr, &doc(json!({"n": 5, "s": "x", "t": null}))));
        assert!(!matches(&expr, &doc(json!({"n": 5, "s": "", "t": null}))));
    }

    #[test]
    fn errors() {
        let e = parse_str("title & Glass").unwrap_err();
        assert!(e.starts_with("Was expecting an operation"), "{e}");
        assert!(e.ends_with("\n1:14 title & Glass"), "{e}");
        let e = parse_str("title = Glass XOR title = Glass").unwrap_err();
        assert_eq!(e, "Found unexpected characters at the end of the filter: `XOR title = Glass`. You probably forgot an `OR` or an `AND` rule.\n15:32 title = Glass XOR title = Glass");
        assert!(parse_str("   ").unwrap().is_none());
        let e = parse_json(&json!(true), "invalid_search_filter").unwrap_err();
        assert_eq!(
            e.message,
            "Invalid syntax for the filter parameter: `expected String, Array, found: true`."
        );
    }
}
