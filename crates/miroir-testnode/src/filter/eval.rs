//! Filterability checks and evaluation of a parsed filter against one document.

use serde_json::{Map, Value};

use super::{Expr, Op, Token};
use crate::settings::{FilterRule, PatternMatch};

/// Why a filter cannot run on an index (message already in Meilisearch's words).
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The message.
    pub message: String,
}

/// Meilisearch's facet normalization (trimmed, lowercased).
pub fn normalize_facet(value: &str) -> String {
    value.trim().to_lowercase()
}

fn not_filterable(attribute: &str, rules: &[FilterRule], token: &Token) -> Checked {
    let mut patterns: Vec<String> = rules
        .iter()
        .filter(|r| r.filterable())
        .flat_map(|r| r.patterns())
        .collect();
    patterns.sort();
    patterns.dedup();
    let tail = if patterns.is_empty() {
        " This index does not have configured filterable attributes.".to_string()
    } else {
        format!(
            " Available filterable attribute patterns are: {}.",
            patterns
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Checked {
        message: format!(
            "Attribute `{attribute}` is not filterable.{tail}\n{}",
            token.location()
        ),
    }
}

fn check_field(
    field: &Token,
    op: Option<&Op>,
    in_list: bool,
    rules: &[FilterRule],
) -> Result<(), Checked> {
    let found = rules
        .iter()
        .enumerate()
        .find(|(_, rule)| rule.match_str(&field.value) == PatternMatch::Match);
    let Some((index, rule)) = found else {
        return Err(not_filterable(&field.value, rules, field));
    };
    if !rule.filterable() {
        return Err(not_filterable(&field.value, rules, field));
    }
    let (equality, comparison) = rule.operators();
    let (symbol, needs) = match op {
        None if in_list => ("IN", "equality"),
        Some(op @ (Op::Equal(_) | Op::NotEqual(_))) => (op.symbol(), "equality"),
        Some(
            op @ (Op::Greater(_)
            | Op::GreaterOrEqual(_)
            | Op::Lower(_)
            | Op::LowerOrEqual(_)
            | Op::Between(..)),
        ) => (op.symbol(), "comparison"),
        _ => return Ok(()),
    };
    let allowed = if needs == "equality" {
        equality
    } else {
        comparison
    };
    if allowed {
        return Ok(());
    }
    let mut operators = vec!["OR", "AND", "NOT"];
    if equality {
        operators.extend(["=", "!=", "IN"]);
    }
    if comparison {
        operators.extend(["<", ">", "<=", ">=", "TO"]);
    }
    operators.extend(["IS EMPTY", "IS NULL", "EXISTS"]);
    let name = &field.value;
    Err(Checked {
        message: format!(
            "Filter operator `{symbol}` is not allowed for the attribute `{name}`.\n  - Note: allowed operators: {}.\n  - Note: field `{name}` matched rule #{index} in `filterableAttributes`\n  - Hint: enable {needs} in rule #{index} by modifying the features.filter object\n  - Hint: prepend another rule matching `{name}` with appropriate filter features before rule #{index}",
            operators.join(", ")
        ),
    })
}

impl Expr {
    /// Checks that every attribute used is filterable with the operators used.
    pub fn check(&self, rules: &[FilterRule]) -> Result<(), Checked> {
        match self {
            Expr::Or(list) | Expr::And(list) => list.iter().try_for_each(|e| e.check(rules)),
            Expr::Not(inner) => inner.check(rules),
            Expr::Cond { field, op } => check_field(field, Some(op), false, rules),
            Expr::In { field, .. } => check_field(field, None, true, rules),
            Expr::GeoRadius { token, .. } | Expr::GeoBox { token, .. } => {
                let geo = rules
                    .iter()
                    .any(|r| r.filterable() && r.match_str("_geo") == PatternMatch::Match);
                if geo {
                    Ok(())
                } else {
                    Err(not_filterable("_geo", rules, token))
                }
            }
        }
    }
}

fn collect<'a>(container: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match container {
        Value::Object(map) => collect_map(map, path, out),
        Value::Array(items) => items.iter().for_each(|item| collect(item, path, out)),
        _ => {}
    }
}

fn collect_map<'a>(map: &'a Map<String, Value>, path: &str, out: &mut Vec<&'a Value>) {
    for (key, value) in map {
        if key == path {
            out.push(value);
        } else if let Some(rest) = path
            .strip_prefix(key.as_str())
            .and_then(|r| r.strip_prefix('.'))
        {
            collect(value, rest, out);
        }
    }
}

/// The values a dotted field path designates in a document (arrays are traversed).
pub fn field_values<'a>(doc: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    collect_map(doc, path, &mut out);
    out
}

fn leaves<'a>(values: &[&'a Value], out: &mut Vec<&'a Value>) {
    for value in values {
        match value {
            Value::Array(items) => leaves(&items.iter().collect::<Vec<_>>(), out),
            other => out.push(other),
        }
    }
}

fn leaf_values<'a>(doc: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    leaves(&field_values(doc, path), &mut out);
    out
}

fn number(token: &Token) -> Option<f64> {
    token
        .value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

fn equal(value: &Value, token: &Token) -> bool {
    match value {
        Value::String(s) => normalize_facet(s) == normalize_facet(&token.value),
        Value::Bool(b) => b.to_string() == normalize_facet(&token.value),
        Value::Number(n) => match (n.as_f64(), number(token)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        _ => false,
    }
}

/// `ordering(value, bound)` for numbers and (normalized) strings.
fn compare(value: &Value, token: &Token) -> Option<std::cmp::Ordering> {
    match value {
        Value::Number(n) => n.as_f64()?.partial_cmp(&number(token)?),
        Value::String(s) => Some(normalize_facet(s).cmp(&normalize_facet(&token.value))),
        Value::Bool(b) => Some(b.to_string().cmp(&normalize_facet(&token.value))),
        _ => None,
    }
}

/// Latitude and longitude of a document's `_geo` field.
pub fn geo_point(doc: &Map<String, Value>) -> Option<(f64, f64)> {
    let geo = doc.get("_geo")?;
    let coordinate = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    Some((coordinate(geo.get("lat")?)?, coordinate(geo.get("lng")?)?))
}

/// Haversine distance in meters (rounded to the millimeter like Meilisearch's).
pub fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    let hav = |theta: f64| (1.0 - theta.cos()) / 2.0;
    let (phi1, phi2) = (a.0.to_radians(), b.0.to_radians());
    let (l1, l2) = (a.1.to_radians(), b.1.to_radians());
    let total = hav(phi2 - phi1) + phi1.cos() * phi2.cos() * hav(l2 - l1);
    (2.0 * 6371e3 * total.sqrt().asin() * 1000.0).round() / 1000.0
}

fn cond(doc: &Map<String, Value>, field: &str, op: &Op) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Exists => !field_values(doc, field).is_empty(),
        Op::Null => field_values(doc, field).iter().any(|v| v.is_null()),
        Op::Empty => field_values(doc, field).iter().any(|v| match v {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }),
        Op::Equal(t) => leaf_values(doc, field).iter().any(|v| equal(v, t)),
        Op::NotEqual(t) => !leaf_values(doc, field).iter().any(|v| equal(v, t)),
        Op::Greater(t) => leaf_values(doc, field)
            .iter()
            .any(|v| compare(v, t) == Some(Greater)),
        Op::GreaterOrEqual(t) => leaf_values(doc, field)
            .iter()
            .any(|v| matches!(compare(v, t), Some(Greater | Equal))),
        Op::Lower(t) => leaf_values(doc, field)
            .iter()
            .any(|v| compare(v, t) == Some(Less)),
        Op::LowerOrEqual(t) => leaf_values(doc, field)
            .iter()
            .any(|v| matches!(compare(v, t), Some(Less | Equal))),
        Op::Between(from, to) => leaf_values(doc, field).iter().any(|v| {
            // Numbers compare as numbers only when both bounds are numbers.
            if v.is_number() && (number(from).is_none() || number(to).is_none()) {
                return false;
            }
            matches!(compare(v, from), Some(Greater | Equal))
                && matches!(compare(v, to), Some(Less | Equal))
        }),
    }
}

/// Whether a document matches a filter.
pub fn matches(expr: &Expr, doc: &Map<String, Value>) -> bool {
    match expr {
        Expr::Or(list) => list.iter().any(|e| matches(e, doc)),
        Expr::And(list) => list.iter().all(|e| matches(e, doc)),
        Expr::Not(inner) => !matches(inner, doc),
        Expr::Cond { field, op } => cond(doc, &field.value, op),
        Expr::In { field, values } => {
            let found = leaf_values(doc, &field.value);
            values.iter().any(|t| found.iter().any(|v| equal(v, t)))
        }
        Expr::GeoRadius {
            lat, lng, radius, ..
        } => geo_point(doc).is_some_and(|p| distance((*lat, *lng), p) <= *radius),
        Expr::GeoBox {
            top_right,
            bottom_left,
            ..
        } => geo_point(doc).is_some_and(|(lat, lng)| {
            let lat_ok = lat <= top_right.0 && lat >= bottom_left.0;
            let lng_ok = if bottom_left.1 <= top_right.1 {
                lng >= bottom_left.1 && lng <= top_right.1
            } else {
                lng >= bottom_left.1 || lng <= top_right.1
            };
            lat_ok && lng_ok
        }),
    }
}
