//! Hit formatting: retrieved attributes, `_formatted` (highlight and crop) and
//! `_matchesPosition`.

use serde_json::{json, Map, Value};

use super::rank::{word_match, Term};
use super::tokenize::{fold, tokenize};
use crate::documents::select_fields;
use crate::settings::is_faceted_by;

/// Formatting options of one search.
#[derive(Debug, Clone)]
pub struct FormatOptions {
    /// Attributes to highlight (`*` = all).
    pub highlight: Vec<String>,
    /// Attributes to crop (`*` = all), with an optional `attr:length`.
    pub crop: Vec<String>,
    /// Default crop length in words.
    pub crop_length: usize,
    /// Crop marker.
    pub crop_marker: String,
    /// Highlight pre tag.
    pub pre_tag: String,
    /// Highlight post tag.
    pub post_tag: String,
}

/// How much of a word to highlight for the query: `Some(bytes)`.
fn highlight_len(terms: &[Term], original: &str, normalized: &str) -> Option<usize> {
    for term in terms {
        if term.phrase {
            if term.words.iter().any(|w| w == normalized) {
                return Some(original.len());
            }
            continue;
        }
        let word = &term.words[0];
        let Some(typos) = word_match(word, term.prefix, term.max_typos, normalized) else {
            continue;
        };
        if typos > 0 || normalized == word {
            return Some(original.len());
        }
        // Prefix match: highlight the part of the original matching the query word.
        let wanted = word.chars().count();
        let mut folded = String::new();
        for (offset, c) in original.char_indices() {
            if folded.chars().count() >= wanted {
                return Some(offset);
            }
            fold(c, &mut folded);
        }
        return Some(original.len());
    }
    None
}

/// Byte ranges `(start, len)` of the query matches in a text.
pub fn match_ranges(terms: &[Term], text: &str) -> Vec<(usize, usize)> {
    tokenize(text)
        .into_iter()
        .filter_map(|w| {
            let original = &text[w.start..w.start + w.len];
            highlight_len(terms, original, &w.text).map(|len| (w.start, len))
        })
        .collect()
}

fn format_text(
    text: &str,
    terms: &[Term],
    options: &FormatOptions,
    highlight: bool,
    crop: Option<usize>,
) -> String {
    let words = tokenize(text);
    let matches = match_ranges(terms, text);
    let (from, to, prefix, suffix) = match crop {
        Some(length) if length < words.len() => {
            let first = words
                .iter()
                .position(|w| matches.iter().any(|(s, _)| *s == w.start))
                .unwrap_or(0);
            let mut start = first.saturating_sub(length.saturating_sub(1) / 2);
            if start + length > words.len() {
                start = words.len().saturating_sub(length);
            }
            let end = start + length;
            let from = if start == 0 { 0 } else { words[start].start };
            let to = if end >= words.len() {
                text.len()
            } else if length == 0 {
                from
            } else {
                words[end - 1].start + words[end - 1].len
            };
            (from, to, start > 0, end < words.len())
        }
        _ => (0, text.len(), false, false),
    };
    let mut out = String::new();
    if prefix {
        out.push_str(&options.crop_marker);
    }
    let mut cursor = from;
    if highlight {
        for (start, len) in matches {
            if start < from || start + len > to || start < cursor {
                continue;
            }
            out.push_str(&text[cursor..start]);
            out.push_str(&options.pre_tag);
            out.push_str(&text[start..start + len]);
            out.push_str(&options.post_tag);
            cursor = start + len;
        }
    }
    out.push_str(&text[cursor..to]);
    if suffix {
        out.push_str(&options.crop_marker);
    }
    out
}

fn wanted(list: &[String], field: &str) -> bool {
    list.iter()
        .any(|a| a == "*" || is_faceted_by(field, a.split(':').next().unwrap_or(a)))
}

fn crop_length(options: &FormatOptions, field: &str) -> Option<usize> {
    let mut found = None;
    for entry in &options.crop {
        let (name, length) = match entry.rsplit_once(':') {
            Some((name, length)) => match length.parse::<usize>() {
                Ok(length) => (name, length),
                Err(_) => (entry.as_str(), options.crop_length),
            },
            None => (entry.as_str(), options.crop_length),
        };
        if name == "*" || is_faceted_by(field, name) {
            found = Some(length);
            if name != "*" {
                return found;
            }
        }
    }
    found
}

fn format_value(value: &Value, path: &str, terms: &[Term], options: &FormatOptions) -> Value {
    let highlight = wanted(&options.highlight, path);
    let crop = crop_length(options, path);
    match value {
        Value::String(s) if highlight || crop.is_some() => {
            Value::String(format_text(s, terms, options, highlight, crop))
        }
        Value::Number(n) if highlight || crop.is_some() => {
            Value::String(format_text(&n.to_string(), terms, options, highlight, crop))
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| format_value(v, path, terms, options))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        format_value(v, &format!("{path}.{k}"), terms, options),
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The `_formatted` object of a hit.
pub fn formatted(
    doc: &Map<String, Value>,
    terms: &[Term],
    options: &FormatOptions,
) -> Map<String, Value> {
    doc.iter()
        .map(|(k, v)| (k.clone(), format_value(v, k, terms, options)))
        .collect()
}

fn positions(
    value: &Value,
    path: &str,
    indices: &[usize],
    terms: &[Term],
    out: &mut Map<String, Value>,
) {
    match value {
        Value::String(_) | Value::Number(_) => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let ranges = match_ranges(terms, &text);
            if ranges.is_empty() {
                return;
            }
            let entry = out
                .entry(path.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.extend(ranges.into_iter().map(|(start, length)| {
                    if indices.is_empty() {
                        json!({"start": start, "length": length})
                    } else {
                        json!({"start": start, "length": length, "indices": indices})
                    }
                }));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut nested = indices.to_vec();
                nested.push(i);
                positions(item, path, &nested, terms, out);
            }
        }
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| positions(v, &format!("{path}.{k}"), indices, terms, out)),
        _ => {}
    }
}

/// The `_matchesPosition` object of a hit (`indices` locate matches inside arrays).
pub fn matches_position(doc: &Map<String, Value>, terms: &[Term]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in doc {
        positions(v, k, &[], terms, &mut out);
    }
    out
}

/// Keeps the displayed attributes of a document.
pub fn displayed(doc: &Map<String, Value>, displayed: Option<&[String]>) -> Map<String, Value> {
    match displayed {
        Some(fields) => select_fields(doc, fields),
        None => doc.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::rank::Term;

    fn options() -> FormatOptions {
        FormatOptions {
            highlight: vec!["*".into()],
            crop: vec!["title".into()],
            crop_length: 2,
            crop_marker: "…".into(),
            pre_tag: "<em>".into(),
            post_tag: "</em>".into(),
        }
    }

    #[test]
    fn crop_and_highlight() {
        let terms = vec![Term {
            words: vec!["prince".into()],
            phrase: false,
            prefix: true,
            max_typos: 1,
            position: 0,
        }];
        let doc = serde_json::json!({"title": "Le Petit Prince"});
        let out = formatted(doc.as_object().unwrap(), &terms, &options());
        assert_eq!(out["title"], "…Petit <em>Prince</em>");
        let terms = vec![Term {
            words: vec!["pri".into()],
            phrase: false,
            prefix: true,
            max_typos: 0,
            position: 0,
        }];
        assert_eq!(match_ranges(&terms, "Le Prince"), vec![(3, 3)]);
    }
}
