//! Query planning: which shards can hold a query's matches.
//!
//! A filter that pins the primary key (`id = 42`, `id IN [1, "a-2"]`, alone or ANDed with other
//! conditions) can only match documents of the shards those ids hash to, so only those shards
//! need to be asked. The analysis is deliberately conservative: anything it does not fully
//! understand (`OR`, `NOT`, parentheses, other operators on the key) means "every shard", which
//! is always correct; a pin only ever narrows the set when it is certain.

use serde_json::Value;

/// One lexical token of a filter string.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word (attribute, value, keyword).
    Word(String),
    /// A quoted value.
    Quoted(String),
    /// `=`, `!=`, `>`, `[`, `]`, `,`, `(`, `)`, …
    Symbol(String),
}

fn tokenize(filter: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = filter.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return None,
                    Some('\\') => value.push(chars.next()?),
                    Some(q) if q == c => break,
                    Some(other) => value.push(other),
                }
            }
            tokens.push(Token::Quoted(value));
        } else if "[](),".contains(c) {
            chars.next();
            tokens.push(Token::Symbol(c.to_string()));
        } else if "=!<>".contains(c) {
            let mut symbol = String::new();
            while let Some(&s) = chars.peek() {
                if "=!<>".contains(s) {
                    symbol.push(s);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(Token::Symbol(symbol));
        } else {
            let mut word = String::new();
            while let Some(&w) = chars.peek() {
                if w.is_whitespace() || "[](),=!<>\"'".contains(w) {
                    break;
                }
                word.push(w);
                chars.next();
            }
            tokens.push(Token::Word(word));
        }
    }
    Some(tokens)
}

fn is_keyword(token: &Token, keyword: &str) -> bool {
    matches!(token, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
}

fn value_of(token: &Token) -> Option<String> {
    match token {
        Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
        Token::Symbol(_) => None,
    }
}

/// The ids a single condition pins, if it is `pk = v` or `pk IN [v, …]`.
fn pinned_by_condition(tokens: &[Token], primary_key: &str) -> Option<Vec<String>> {
    match tokens {
        [Token::Word(attribute), Token::Symbol(eq), value]
            if attribute == primary_key && eq == "=" =>
        {
            Some(vec![value_of(value)?])
        }
        [Token::Word(attribute), keyword, Token::Symbol(open), rest @ ..]
            if attribute == primary_key && is_keyword(keyword, "IN") && open == "[" =>
        {
            let (Token::Symbol(close), values) = rest.split_last()? else {
                return None;
            };
            if close != "]" {
                return None;
            }
            let mut ids = Vec::new();
            for (i, token) in values.iter().enumerate() {
                if i % 2 == 1 {
                    if token != &Token::Symbol(",".into()) {
                        return None;
                    }
                } else {
                    ids.push(value_of(token)?);
                }
            }
            Some(ids)
        }
        _ => None,
    }
}

/// Ids pinned by a filter string: the intersection of the pins of its top-level `AND`ed
/// conditions. `None` when nothing is pinned for certain.
fn pinned_by_string(filter: &str, primary_key: &str) -> Option<Vec<String>> {
    let tokens = tokenize(filter)?;
    let unsafe_token = tokens.iter().any(|t| {
        is_keyword(t, "OR")
            || is_keyword(t, "NOT")
            || matches!(t, Token::Symbol(s) if s == "(" || s == ")")
    });
    if unsafe_token {
        return None;
    }
    let mut pinned: Option<Vec<String>> = None;
    for condition in tokens.split(|t| is_keyword(t, "AND")) {
        if let Some(ids) = pinned_by_condition(condition, primary_key) {
            pinned = Some(match pinned {
                None => ids,
                Some(previous) => previous.into_iter().filter(|id| ids.contains(id)).collect(),
            });
        }
    }
    pinned
}

/// The document ids a Meilisearch filter (string or array form) pins on `primary_key`, if any.
/// Ids are returned in canonical string form (see [`crate::hash::canonical_id`]).
pub fn pinned_ids(filter: &Value, primary_key: &str) -> Option<Vec<String>> {
    match filter {
        Value::String(s) => pinned_by_string(s, primary_key),
        // The outer array is an AND of its elements; an inner array is an OR, which is only
        // narrowing when every alternative is itself pinned.
        Value::Array(items) => {
            let mut pinned: Option<Vec<String>> = None;
            for item in items {
                let ids = match item {
                    Value::String(s) => pinned_by_string(s, primary_key),
                    Value::Array(alternatives) => {
                        let mut union = Vec::new();
                        let mut all = !alternatives.is_empty();
                        for alternative in alternatives {
                            match alternative
                                .as_str()
                                .and_then(|s| pinned_by_string(s, primary_key))
                            {
                                Some(ids) => union.extend(ids),
                                None => all = false,
                            }
                        }
                        all.then_some(union)
                    }
                    _ => None,
                };
                if let Some(ids) = ids {
                    pinned = Some(match pinned {
                        None => ids,
                        Some(previous) => {
                            previous.into_iter().filter(|id| ids.contains(id)).collect()
                        }
                    });
                }
            }
            pinned
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pins(filter: Value) -> Option<Vec<String>> {
        pinned_ids(&filter, "id")
    }

    #[test]
    fn pins_on_the_primary_key() {
        assert_eq!(pins(json!("id = 42")), Some(vec!["42".into()]));
        assert_eq!(pins(json!("id = 'a b'")), Some(vec!["a b".into()]));
        assert_eq!(
            pins(json!("id IN [1, \"x-2\", y]")),
            Some(vec!["1".into(), "x-2".into(), "y".into()])
        );
        assert_eq!(
            pins(json!("genre = drama AND id in [3, 4]")),
            Some(vec!["3".into(), "4".into()])
        );
        assert_eq!(
            pins(json!("id IN [1, 2] AND id = 2")),
            Some(vec!["2".into()])
        );
        assert_eq!(
            pins(json!(["genre = drama", "id = 7"])),
            Some(vec!["7".into()])
        );
        assert_eq!(
            pins(json!([["id = 1", "id = 2"]])),
            Some(vec!["1".into(), "2".into()])
        );
    }

    #[test]
    fn anything_unsure_means_every_shard() {
        for filter in [
            json!("id = 1 OR genre = drama"),
            json!("NOT id = 1"),
            json!("(id = 1)"),
            json!("id != 1"),
            json!("id > 1"),
            json!("id NOT IN [1]"),
            json!("identifier = 1"),
            json!("genre = drama"),
            json!([["id = 1", "genre = x"]]),
            json!("id = 'unterminated"),
            json!(42),
        ] {
            assert_eq!(pins(filter.clone()), None, "{filter}");
        }
    }
}
