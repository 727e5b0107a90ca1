//! Small helpers: dates and durations in Meilisearch's formats, query-string decoding,
//! edit distances and deserr-like JSON type descriptions.

use std::cmp::Ordering;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Formats a date as Meilisearch does (`2021-09-08T09:08:45.153219Z`).
pub fn rfc3339(date: OffsetDateTime) -> String {
    date.format(&Rfc3339).unwrap_or_default()
}

/// A date as a JSON string, or `null`.
pub fn date_value(date: Option<OffsetDateTime>) -> Value {
    match date {
        Some(date) => Value::String(rfc3339(date)),
        None => Value::Null,
    }
}

/// Formats a duration as ISO 8601 the way Meilisearch does (`PT0.001S`, `P1DT2.5S` …).
pub fn iso_duration(duration: Duration) -> Option<String> {
    if duration.is_negative() {
        return None;
    }
    let secs = duration.whole_seconds();
    let days = secs / 86_400;
    let secs = secs - days * 86_400;
    let nanos = duration.subsec_nanoseconds();
    let mut out = String::from("P");
    if days != 0 {
        out.push_str(&format!("{days}D"));
    }
    if secs != 0 || nanos != 0 || days == 0 {
        if nanos == 0 {
            out.push_str(&format!("T{secs}S"));
        } else if nanos % 1_000_000 == 0 {
            out.push_str(&format!("T{secs}.{:03}S", nanos / 1_000_000));
        } else if nanos % 1_000 == 0 {
            out.push_str(&format!("T{secs}.{:06}S", nanos / 1_000));
        } else {
            out.push_str(&format!("T{secs}.{nanos:09}S"));
        }
    }
    Some(out)
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a raw query string into decoded `(name, value)` pairs, in order.
pub fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((name, value)) => (percent_decode(name), percent_decode(value)),
            None => (percent_decode(part), String::new()),
        })
        .collect()
}

/// Edit-distance matrix with transpositions (optimal string alignment), `a` as rows.
fn osa_matrix(a: &[char], b: &[char]) -> Vec<Vec<usize>> {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d
}

/// Edit distance (insertions, deletions, substitutions and transpositions count 1).
pub fn levenshtein(a: &[char], b: &[char]) -> usize {
    osa_matrix(a, b)[a.len()][b.len()]
}

/// Smallest edit distance between `term` and any prefix of `word`.
pub fn prefix_levenshtein(term: &[char], word: &[char]) -> usize {
    osa_matrix(term, word)[term.len()]
        .iter()
        .copied()
        .min()
        .unwrap_or(0)
}

/// Optimal-string-alignment distance, used for "did you mean" suggestions.
fn osa(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    levenshtein(&a, &b)
}

/// deserr's "did you mean `x`? " hint (empty when nothing is close).
pub fn did_you_mean(received: &str, accepted: &[&str]) -> String {
    let allowed = match received.len() {
        0..=3 => return String::new(),
        4..=7 => 1,
        8..=12 => 2,
        13..=17 => 3,
        18..=24 => 4,
        _ => 5,
    };
    accepted
        .iter()
        .map(|candidate| (candidate, osa(received, candidate)))
        .filter(|(_, distance)| *distance <= allowed)
        .min_by_key(|(_, distance)| *distance)
        .map(|(candidate, _)| format!("did you mean `{candidate}`? "))
        .unwrap_or_default()
}

/// The JSON value kinds deserr distinguishes, in its ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `null`
    Null,
    /// a boolean
    Bool,
    /// a positive integer
    PosInt,
    /// a negative integer
    NegInt,
    /// a (float) number
    Float,
    /// a string
    Str,
    /// an array
    Seq,
    /// an object
    Map,
}

/// The kind of a JSON value.
pub fn kind_of(value: &Value) -> Kind {
    match value {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_u64() => Kind::PosInt,
        Value::Number(n) if n.is_i64() => Kind::NegInt,
        Value::Number(_) => Kind::Float,
        Value::String(_) => Kind::Str,
        Value::Array(_) => Kind::Seq,
        Value::Object(_) => Kind::Map,
    }
}

fn single(kind: Kind) -> &'static str {
    match kind {
        Kind::Null => "null",
        Kind::Bool => "a boolean",
        Kind::PosInt => "a positive integer",
        Kind::NegInt => "a negative integer",
        Kind::Float => "a number",
        Kind::Str => "a string",
        Kind::Seq => "an array",
        Kind::Map => "an object",
    }
}

/// deserr's description of a list of accepted kinds ("a string or null", "a number" …).
pub fn describe_kinds(kinds: &[Kind]) -> String {
    let mut kinds = kinds.to_vec();
    kinds.sort();
    kinds.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut rest = kinds.as_slice();
    while !rest.is_empty() {
        let (part, next): (String, &[Kind]) = match rest {
            [Kind::PosInt | Kind::NegInt, Kind::Float, tail @ ..] => ("a number".into(), tail),
            [Kind::PosInt, Kind::NegInt, Kind::Float, tail @ ..] => ("a number".into(), tail),
            [Kind::PosInt, Kind::NegInt, tail @ ..] => ("an integer".into(), tail),
            [kind, tail @ ..] => (single(*kind).into(), tail),
            [] => break,
        };
        parts.push(part);
        rest = next;
    }
    match parts.len() {
        0 => "a different value".into(),
        1 => parts.remove(0),
        2 => format!("{} or {}", parts[0], parts[1]),
        n => format!("{}, or {}", parts[..n - 1].join(", "), parts[n - 1]),
    }
}

/// deserr's description of a received value: "a string: `\"doggo\"`" or "null".
pub fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        other => format!("{}: `{}`", single(kind_of(other)), other),
    }
}

fn location(path: &str, article: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{article} `{path}`")
    }
}

/// "Invalid value type at `.path`: expected …, but found …".
pub fn type_error(path: &str, expected: &[Kind], found: &Value) -> String {
    format!(
        "Invalid value type{}: expected {}, but found {}",
        location(path, " at"),
        describe_kinds(expected),
        describe_value(found)
    )
}

/// "Unknown field `key` inside `.path`: expected one of …".
pub fn unknown_field(path: &str, key: &str, accepted: &[&str]) -> String {
    format!(
        "Unknown field `{key}`{}: {}expected one of {}",
        location(path, " inside"),
        did_you_mean(key, accepted),
        quoted_list(accepted)
    )
}

/// "Unknown value `v` at `.path`: expected one of …".
pub fn unknown_value(path: &str, value: &str, accepted: &[&str]) -> String {
    format!(
        "Unknown value `{value}`{}: {}expected one of {}",
        location(path, " at"),
        did_you_mean(value, accepted),
        quoted_list(accepted)
    )
}

/// "Missing field `f`" (inside `.path` when nested).
pub fn missing_field(path: &str, field: &str) -> String {
    format!("Missing field `{field}`{}", location(path, " inside"))
}

/// "Invalid value at `.path`: msg".
pub fn invalid_value(path: &str, message: &str) -> String {
    format!("Invalid value{}: {message}", location(path, " at"))
}

/// `` `a`, `b`, `c` ``
pub fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A pseudo-random UUIDv7-shaped string (time + counter), for `requestUid`.
pub fn uuid_v7_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mix = count.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ millis.rotate_left(17);
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        (millis >> 16) & 0xffff_ffff,
        millis & 0xffff,
        (mix >> 52) & 0xfff,
        0x8000 | ((mix >> 36) & 0x3fff),
        mix & 0xffff_ffff_ffff
    )
}

/// Meilisearch's ordering of sort values: numbers before strings, missing values last.
pub fn compare_sort_values(ascending: bool, left: &Value, right: &Value) -> Ordering {
    // Ordering::Less = left comes first.
    match (left, right) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(_), Value::String(_)) => Ordering::Less,
        (Value::String(_), Value::Number(_)) => Ordering::Greater,
        (Value::Number(l), Value::Number(r)) => {
            let order = l
                .as_f64()
                .zip(r.as_f64())
                .and_then(|(l, r)| l.partial_cmp(&r))
                .unwrap_or(Ordering::Equal);
            if ascending {
                order
            } else {
                order.reverse()
            }
        }
        (Value::String(l), Value::String(r)) => {
            let order = l.to_lowercase().cmp(&r.to_lowercase());
            if ascending {
                order
            } else {
                order.reverse()
            }
        }
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            iso_duration(Duration::milliseconds(1)).as_deref(),
            Some("PT0.001S")
        );
        assert_eq!(iso_duration(Duration::ZERO).as_deref(), Some("PT0S"));
        assert_eq!(
            iso_duration(Duration::nanoseconds(9_317_060_500)).as_deref(),
            Some("PT9.317060500S")
        );
        assert_eq!(
            iso_duration(Duration::microseconds(41_751_156)).as_deref(),
            Some("PT41.751156S")
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(describe_kinds(&[Kind::Str, Kind::Null]), "null or a string");
        assert_eq!(
            type_error(".uid", &[Kind::Str], &Value::Bool(true)),
            "Invalid value type at `.uid`: expected a string, but found a boolean: `true`"
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(
            parse_query(Some("a=1&filter=x%20%3D%201&b")),
            vec![
                ("a".into(), "1".into()),
                ("filter".into(), "x = 1".into()),
                ("b".into(), String::new())
            ]
        );
        assert_eq!(prefix_levenshtein(&['1'], &['1', '2']), 0);
    }
}
