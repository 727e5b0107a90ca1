//! The shard marker's name is reserved: no client input may name it.
//!
//! Every node has `_miroir` filterable (it selects shards), so a node would accept a client's
//! filter, facet, sort or distinct on it — and a deletion by filter on `_miroir.s1 EXISTS`
//! would delete a whole shard. One Meilisearch has no such attribute and refuses all of these;
//! Miroir refuses them before any node sees them. This module finds the reserved name in the
//! places a client can write an attribute: filter expressions (string or array form, only in
//! attribute position — a *value* `"_miroir"` is any other string), attribute lists, sort
//! expressions (`_miroir:asc`), and document fields.

use serde_json::Value;

use crate::marker::MARKER_FIELD;

/// Whether an attribute (or a dotted path into one) is the reserved marker.
pub fn is_reserved(attribute: &str) -> bool {
    attribute == MARKER_FIELD
        || attribute
            .strip_prefix(MARKER_FIELD)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The first reserved attribute a filter (a string, or an array of strings and arrays of
/// strings) names in attribute position, if any. A filter that is not well formed is left to
/// the node to refuse; only the attributes that can be told apart are checked.
pub fn reserved_in_filter(filter: &Value) -> Option<String> {
    match filter {
        Value::String(expression) => reserved_in_expression(expression),
        Value::Array(items) => items.iter().find_map(reserved_in_filter),
        _ => None,
    }
}

/// The first reserved name among attribute names (`facets`, `attributesToRetrieve`, …).
pub fn reserved_in_list(attributes: &Value) -> Option<String> {
    match attributes {
        Value::String(name) if is_reserved(name) => Some(name.clone()),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .find(|name| is_reserved(name))
            .map(str::to_string),
        _ => None,
    }
}

/// The first sort expression (`attribute:asc`) on a reserved attribute.
pub fn reserved_in_sort(sort: &Value) -> Option<String> {
    sort.as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|expression| {
            let attribute = expression.rsplit_once(':').map_or(*expression, |(a, _)| a);
            is_reserved(attribute.trim())
        })
        .map(str::to_string)
}

/// The first reserved attribute a setting names (`key` is the setting's camelCase name).
pub fn reserved_in_setting(key: &str, value: &Value) -> Option<String> {
    let patterns = |value: &Value| {
        value.as_array()?.iter().find_map(|item| match item {
            Value::String(name) if is_reserved(name) => Some(name.clone()),
            Value::Object(rule) => rule.get("attributePatterns").and_then(reserved_in_list),
            _ => None,
        })
    };
    match key {
        "searchableAttributes" | "displayedAttributes" | "sortableAttributes" => {
            reserved_in_list(value)
        }
        "filterableAttributes" | "localizedAttributes" => patterns(value),
        "distinctAttribute" => value
            .as_str()
            .filter(|name| is_reserved(name))
            .map(str::to_string),
        "rankingRules" => reserved_in_sort(value),
        "faceting" => value
            .get("sortFacetValuesBy")?
            .as_object()?
            .keys()
            .find(|name| is_reserved(name))
            .cloned(),
        _ => None,
    }
}

/// One token of a filter expression.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    /// An unquoted word (attribute, value or keyword).
    Word(&'a str),
    /// A quoted string, unescaped.
    Quoted(String),
    /// `(`
    Open,
    /// `)`
    Close,
    /// `[`
    OpenList,
    /// `]`
    CloseList,
    /// An operator or a comma.
    Symbol,
}

fn is_symbol(c: char) -> bool {
    matches!(c, '(' | ')' | '[' | ']' | ',' | '=' | '!' | '<' | '>')
}

fn tokens(expression: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut chars = expression.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '[' => out.push(Token::OpenList),
            ']' => out.push(Token::CloseList),
            ',' | '=' | '!' | '<' | '>' => out.push(Token::Symbol),
            '\'' | '"' => {
                let mut text = String::new();
                while let Some((_, next)) = chars.next() {
                    match next {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                text.push(escaped);
                            }
                        }
                        quote if quote == c => break,
                        other => text.push(other),
                    }
                }
                out.push(Token::Quoted(text));
            }
            _ => {
                let mut end = at + c.len_utf8();
                while let Some(&(next_at, next)) = chars.peek() {
                    if next.is_whitespace() || is_symbol(next) || next == '\'' || next == '"' {
                        break;
                    }
                    end = next_at + next.len_utf8();
                    chars.next();
                }
                out.push(Token::Word(&expression[at..end]));
            }
        }
    }
    out
}

/// The first reserved attribute of one filter expression: a token where a condition starts
/// (at the start, after `(`, `AND`, `OR` or a leading `NOT`), quoted or not.
fn reserved_in_expression(expression: &str) -> Option<String> {
    let mut expecting_attribute = true;
    let mut in_list = 0usize;
    for token in tokens(expression) {
        match token {
            Token::OpenList => in_list += 1,
            Token::CloseList => in_list = in_list.saturating_sub(1),
            _ if in_list > 0 => {}
            Token::Open => expecting_attribute = true,
            Token::Close | Token::Symbol => expecting_attribute = false,
            Token::Word(word) if expecting_attribute => {
                if word.eq_ignore_ascii_case("NOT") {
                    continue;
                }
                if is_reserved(word) {
                    return Some(word.to_string());
                }
                expecting_attribute = false;
            }
            Token::Quoted(text) if expecting_attribute => {
                if is_reserved(&text) {
                    return Some(text);
                }
                expecting_attribute = false;
            }
            Token::Word(word) => {
                expecting_attribute =
                    word.eq_ignore_ascii_case("AND") || word.eq_ignore_ascii_case("OR");
            }
            Token::Quoted(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn attributes_are_found_where_conditions_start() {
        for filter in [
            "_miroir.s1 EXISTS",
            "genre = x AND _miroir.s1 EXISTS",
            "(a = 1 OR NOT _miroir EXISTS)",
            "a=1 OR _miroir.s3=2",
            "\"_miroir.s1\" EXISTS",
            "a IN [x, y] AND 'NOT' = 1 OR _miroir IS NULL",
        ] {
            assert!(
                reserved_in_filter(&json!(filter)).is_some(),
                "{filter} names the marker"
            );
        }
        assert!(reserved_in_filter(&json!([["a = 1", "_miroir.s2 EXISTS"], "b = 2"])).is_some());
        for filter in [
            "title = _miroir",
            "title = \"_miroir.s1\"",
            "tags IN [_miroir, \"_miroir.s1\"]",
            "_miroirs = 1",
            "a _miroir TO 3",
            "_geoRadius(1, 2, 3)",
            "a IS NOT NULL",
        ] {
            assert_eq!(
                reserved_in_filter(&json!(filter)),
                None,
                "{filter} names no marker attribute"
            );
        }
    }

    #[test]
    fn lists_and_sorts() {
        assert_eq!(
            reserved_in_list(&json!(["genre", "_miroir"])),
            Some("_miroir".into())
        );
        assert_eq!(reserved_in_list(&json!(["genre", "_miroirx"])), None);
        assert_eq!(
            reserved_in_sort(&json!(["price:asc", "_miroir.s1:desc"])),
            Some("_miroir.s1:desc".into())
        );
        assert_eq!(reserved_in_sort(&json!(["_geoPoint(1, 2):asc"])), None);
    }

    #[test]
    fn settings() {
        for (key, value) in [
            ("filterableAttributes", json!(["genre", "_miroir"])),
            (
                "filterableAttributes",
                json!([{"attributePatterns": ["_miroir.s1"], "features": {}}]),
            ),
            ("sortableAttributes", json!(["_miroir"])),
            ("searchableAttributes", json!(["_miroir.s0"])),
            ("displayedAttributes", json!(["_miroir"])),
            ("distinctAttribute", json!("_miroir")),
            ("rankingRules", json!(["words", "_miroir:asc"])),
            (
                "localizedAttributes",
                json!([{"attributePatterns": ["_miroir"], "locales": []}]),
            ),
            (
                "faceting",
                json!({"sortFacetValuesBy": {"_miroir": "count"}}),
            ),
        ] {
            assert!(reserved_in_setting(key, &value).is_some(), "{key}: {value}");
        }
        for (key, value) in [
            (
                "filterableAttributes",
                json!(["genre", {"attributePatterns": ["year"]}]),
            ),
            ("rankingRules", json!(["words", "typo", "price:asc"])),
            ("distinctAttribute", json!(null)),
            ("stopWords", json!(["_miroir"])),
        ] {
            assert_eq!(reserved_in_setting(key, &value), None, "{key}: {value}");
        }
    }

    fn attribute() -> impl Strategy<Value = (String, bool)> {
        prop_oneof![
            "[a-z]{1,8}".prop_map(|name| (name, false)),
            "s[0-9]{1,2}".prop_map(|shard| (format!("_miroir.{shard}"), true)),
            Just(("_miroir".to_string(), true)),
        ]
    }

    fn condition() -> impl Strategy<Value = (String, bool)> {
        (attribute(), 0..4usize, any::<bool>(), "[a-z_.]{1,8}").prop_map(
            |((name, reserved), form, quoted, value)| {
                let attribute = if quoted { format!("\"{name}\"") } else { name };
                let text = match form {
                    0 => format!("{attribute} EXISTS"),
                    1 => format!("{attribute} = \"{value}\""),
                    2 => format!("NOT {attribute} IN [{value}, \"_miroir\"]"),
                    _ => format!("{attribute}>=3"),
                };
                (text, reserved)
            },
        )
    }

    proptest! {
        /// Whatever the conditions and connectives, the marker is found exactly when some
        /// condition's attribute is reserved (values never count).
        #[test]
        fn found_exactly_when_a_condition_names_it(
            conditions in proptest::collection::vec(condition(), 1..5),
            ors in proptest::collection::vec(any::<bool>(), 4),
            grouped in any::<bool>(),
        ) {
            let mut expression = String::new();
            for (i, (text, _)) in conditions.iter().enumerate() {
                if i > 0 {
                    expression.push_str(if ors[i - 1] { " OR " } else { " AND " });
                }
                if grouped {
                    expression.push_str(&format!("({text})"));
                } else {
                    expression.push_str(text);
                }
            }
            let expected = conditions.iter().any(|(_, reserved)| *reserved);
            prop_assert_eq!(reserved_in_filter(&json!(expression)).is_some(), expected, "{}", expression);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Any filter text, list or sort a client sends is examined without panicking.
        #[test]
        fn any_input_is_examined_without_panic(
            text in "\\PC{0,80}",
            noise in proptest::collection::vec(prop_oneof![
                Just("_miroir"), Just("\""), Just("'"), Just("\\"), Just("("), Just(")"),
                Just("["), Just("]"), Just(" AND "), Just(" NOT "), Just("="), Just("é"),
            ], 0..12),
        ) {
            let filter = format!("{text}{}", noise.concat());
            let _ = reserved_in_filter(&json!(filter));
            let _ = reserved_in_filter(&json!([filter, [filter]]));
            let _ = reserved_in_sort(&json!([filter]));
            let _ = reserved_in_list(&json!([filter]));
            let _ = reserved_in_setting("rankingRules", &json!([filter]));
        }
    }
}
