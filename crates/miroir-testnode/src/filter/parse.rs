//! A hand-written recursive-descent parser for Meilisearch's filter grammar:
//!
//! ```text
//! expression = or
//! or         = and ("OR" and)*
//! and        = not ("AND" not)*
//! not        = "NOT" not | primary
//! primary    = "(" expression ")" | _geoRadius(..) | _geoBoundingBox(..)
//!            | value ("=" | "!=" | ">" | ">=" | "<" | "<=") value
//!            | value ["NOT"] "IN" "[" value ("," value)* "]"
//!            | value ["NOT"] "EXISTS" | value "IS" ["NOT"] ("NULL" | "EMPTY")
//!            | value value "TO" value
//! value      = word | 'single quoted' | "double quoted"
//! ```
//!
//! Errors are rendered as Meilisearch renders them: a message, a newline, then
//! `start:end expression` (1-based character columns).

use std::sync::Arc;

use super::{Expr, Op, Token};

const KEYWORDS: [&str; 12] = [
    "AND", "OR", "IN", "NOT", "TO", "EXISTS", "IS", "NULL", "EMPTY", "CONTAINS", "STARTS", "WITH",
];

struct Failure {
    message: String,
    start: usize,
    len: usize,
    /// A cut: alternatives must not be tried.
    hard: bool,
}

type Parsed<T> = Result<T, Failure>;

struct Parser {
    chars: Vec<char>,
    pos: usize,
    source: Arc<str>,
}

fn is_value_component(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
}

fn is_syntax_component(c: char) -> bool {
    c.is_whitespace() || ['(', ')', '=', '<', '>', '!'].contains(&c)
}

/// Parses one filter string; `Ok(None)` for an empty expression.
pub fn parse_str(input: &str) -> Result<Option<Expr>, String> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    let mut parser = Parser {
        chars: input.chars().collect(),
        pos: 0,
        source: Arc::from(input),
    };
    let render = |f: Failure, source: &str| {
        format!(
            "{}\n{}:{} {}",
            f.message,
            f.start + 1,
            f.start + 1 + f.len,
            source
        )
    };
    let expr = match parser.parse_or(0) {
        Ok(expr) => expr,
        Err(f) => return Err(render(f, input)),
    };
    parser.skip_ws();
    if parser.pos < parser.chars.len() {
        let rest = parser.rest_from(parser.pos);
        let failure = Failure {
            message: format!(
                "Found unexpected characters at the end of the filter: `{}`. You probably forgot an `OR` or an `AND` rule.",
                rest.escape_debug()
            ),
            start: parser.pos,
            len: parser.chars.len() - parser.pos,
            hard: true,
        };
        return Err(render(failure, input));
    }
    Ok(Some(expr))
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn rest_from(&self, start: usize) -> String {
        self.chars[start.min(self.chars.len())..].iter().collect()
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    /// The value-component word at the cursor (without moving).
    fn word(&self) -> String {
        self.chars[self.pos..]
            .iter()
            .take_while(|c| is_value_component(**c))
            .collect()
    }

    /// Consumes `keyword` (surrounded by whitespace) when it is the next word.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.word() == keyword {
            self.pos += keyword.chars().count();
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    fn failure(&self, message: String, start: usize, len: usize, hard: bool) -> Failure {
        Failure {
            message,
            start,
            len,
            hard,
        }
    }

    fn parse_or(&mut self, depth: usize) -> Parsed<Expr> {
        self.check_depth(depth)?;
        let mut list = vec![self.parse_and(depth + 1)?];
        while self.eat_keyword("OR") {
            list.push(self.parse_and(depth + 1).map_err(harden)?);
        }
        Ok(if list.len() == 1 {
            list.remove(0)
        } else {
            Expr::Or(list)
        })
    }

    fn parse_and(&mut self, depth: usize) -> Parsed<Expr> {
        self.check_depth(depth)?;
        let mut list = vec![self.parse_not(depth + 1)?];
        while self.eat_keyword("AND") {
            list.push(self.parse_not(depth + 1).map_err(harden)?);
        }
        Ok(if list.len() == 1 {
            list.remove(0)
        } else {
            Expr::And(list)
        })
    }

    fn parse_not(&mut self, depth: usize) -> Parsed<Expr> {
        self.check_depth(depth)?;
        if self.eat_keyword("NOT") {
            let inner = self.parse_not(depth + 1).map_err(harden)?;
            return Ok(match inner {
                Expr::Not(e) => *e,
                other => Expr::Not(Box::new(other)),
            });
        }
        self.parse_primary(depth + 1)
    }

    fn check_depth(&self, depth: usize) -> Parsed<()> {
        if depth > 150 {
            return Err(self.failure(
                "The filter exceeded the maximum depth limit. Try rewriting the filter so that it contains fewer nested conditions.".into(),
                self.pos,
                0,
                true,
            ));
        }
        Ok(())
    }

    fn invalid_primary(&self, start: usize) -> Failure {
        let rest = self.rest_from(start);
        let text = if rest.trim().is_empty() {
            "but instead got nothing.".to_string()
        } else {
            format!("at `{}`.", rest.escape_debug())
        };
        self.failure(
            format!("Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, `_geoBoundingBox` or `_geoPolygon` {text}"),
            start,
            self.chars.len() - start,
            true,
        )
    }

    fn parse_primary(&mut self, depth: usize) -> Parsed<Expr> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('(') {
            self.pos += 1;
            self.skip_ws();
            let inner = self.parse_or(depth + 1).map_err(harden)?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return Err(self.failure(
                    format!(
                        "Expression `{}` is missing the following closing delimiter: `)`.",
                        self.rest_from(start).escape_debug()
                    ),
                    start,
                    self.chars.len() - start,
                    true,
                ));
            }
            self.pos += 1;
            self.skip_ws();
            return Ok(inner);
        }
        if self.starts_with("_geoRadius") {
            return self.parse_geo_radius(start);
        }
        if self.starts_with("_geoBoundingBox") {
            return self.parse_geo_box(start);
        }
        if self.starts_with("_geoPolygon") {
            return Err(self.failure(
                "The `_geoPolygon` filter doesn't match the expected format: `_geoPolygon([latitude, longitude], [latitude, longitude])`.".into(),
                start,
                self.chars.len() - start,
                true,
            ));
        }
        let field = match self.parse_value() {
            Ok(field) => field,
            Err(f) if f.hard => return Err(f),
            Err(_) => return Err(self.invalid_primary(start)),
        };
        for reserved in ["_geoDistance", "_geoPoint", "_geo"] {
            if field.value == reserved {
                return Err(self.failure(
                    format!("`{reserved}` is a reserved keyword and thus can't be used as a filter expression. Use the `_geoRadius(latitude, longitude, distance)` or `_geoBoundingBox([latitude, longitude], [latitude, longitude])` built-in rules to filter on `_geo` coordinates."),
                    start,
                    self.chars.len() - start,
                    true,
                ));
            }
        }
        self.skip_ws();
        for (symbol, make) in [
            ("<=", Op::LowerOrEqual as fn(Token) -> Op),
            (">=", Op::GreaterOrEqual),
            ("!=", Op::NotEqual),
            ("<", Op::Lower),
            (">", Op::Greater),
            ("=", Op::Equal),
        ] {
            if self.starts_with(symbol) {
                self.pos += symbol.len();
                let value = self.parse_value().map_err(harden)?;
                return Ok(Expr::Cond {
                    field,
                    op: make(value),
                });
            }
        }
        match self.word().as_str() {
            "IN" => {
                self.pos += 2;
                let values = self.parse_in_body()?;
                Ok(Expr::In { field, values })
            }
            "EXISTS" => {
                self.pos += 6;
                self.skip_ws();
                Ok(Expr::Cond {
                    field,
                    op: Op::Exists,
                })
            }
            "NOT" => {
                let save = self.pos;
                self.pos += 3;
                self.skip_ws();
                match self.word().as_str() {
                    "IN" => {
                        self.pos += 2;
                        let values = self.parse_in_body()?;
                        Ok(Expr::Not(Box::new(Expr::In { field, values })))
                    }
                    "EXISTS" => {
                        self.pos += 6;
                        self.skip_ws();
                        Ok(Expr::Not(Box::new(Expr::Cond {
                            field,
                            op: Op::Exists,
                        })))
                    }
                    "CONTAINS" | "STARTS" => Err(self.contains_error(start)),
                    _ => {
                        self.pos = save;
                        Err(self.invalid_primary(start))
                    }
                }
            }
            "IS" => {
                self.pos += 2;
                self.skip_ws();
                let negate = if self.word() == "NOT" {
                    self.pos += 3;
                    self.skip_ws();
                    true
                } else {
                    false
                };
                let op = match self.word().as_str() {
                    "NULL" => Op::Null,
                    "EMPTY" => Op::Empty,
                    _ => return Err(self.invalid_primary(start)),
                };
                self.pos += self.word().chars().count();
                self.skip_ws();
                let cond = Expr::Cond { field, op };
                Ok(if negate {
                    Expr::Not(Box::new(cond))
                } else {
                    cond
                })
            }
            "CONTAINS" | "STARTS" => Err(self.contains_error(start)),
            _ => {
                // `field from TO to`
                let from = match self.parse_value() {
                    Ok(from) => from,
                    Err(f) if f.hard => return Err(f),
                    Err(_) => return Err(self.invalid_primary(start)),
                };
                if self.word() != "TO" {
                    return Err(self.invalid_primary(start));
                }
                self.pos += 2;
                if !self.peek().is_some_and(char::is_whitespace) {
                    return Err(self.invalid_primary(start));
                }
                let to = self.parse_value().map_err(harden)?;
                Ok(Expr::Cond {
                    field,
                    op: Op::Between(from, to),
                })
            }
        }
    }

    fn contains_error(&self, start: usize) -> Failure {
        let keyword = if self.word() == "STARTS" {
            "STARTS WITH"
        } else {
            "CONTAINS"
        };
        self.failure(
            format!("Using `{keyword}` in a filter requires enabling the `contains filter` experimental feature. See https://github.com/orgs/meilisearch/discussions/763"),
            start,
            self.chars.len() - start,
            true,
        )
    }

    fn parse_in_body(&mut self) -> Parsed<Vec<Token>> {
        self.skip_ws();
        if self.peek() != Some('[') {
            return Err(self.failure(
                "Expected `[` after `IN` keyword.".into(),
                self.pos,
                self.chars.len() - self.pos,
                true,
            ));
        }
        self.pos += 1;
        let mut values = Vec::new();
        self.skip_ws();
        if self.peek() != Some(']') {
            loop {
                match self.parse_value() {
                    Ok(v) => values.push(v),
                    Err(f) if f.hard => return Err(f),
                    Err(_) => break,
                }
                self.skip_ws();
                if self.peek() == Some(',') {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(']') {
                        break;
                    }
                } else {
                    break;
                }
            }
        }
        self.skip_ws();
        if self.peek() != Some(']') {
            if self.pos >= self.chars.len() {
                return Err(self.failure(
                    "Expected matching `]` after the list of field names given to `IN[`".into(),
                    self.pos,
                    0,
                    true,
                ));
            }
            let found: String = self.chars[self.pos..]
                .iter()
                .take_while(|c| !is_syntax_component(**c) && **c != ']' && **c != ',')
                .collect();
            return Err(self.failure(
                format!(
                    "Expected only comma-separated field names inside `IN[..]` but instead found `{}`.",
                    found.escape_debug()
                ),
                self.pos,
                found.chars().count(),
                true,
            ));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(values)
    }

    fn parse_value(&mut self) -> Parsed<Token> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(quote @ ('\'' | '"')) => {
                let mut i = start + 1;
                let mut value = String::new();
                loop {
                    match self.chars.get(i) {
                        None => {
                            return Err(self.failure(
                                format!(
                                    "Expression `{}` is missing the following closing delimiter: `{quote}`.",
                                    self.rest_from(start).escape_debug()
                                ),
                                start,
                                self.chars.len() - start,
                                true,
                            ))
                        }
                        Some('\\') => {
                            match self.chars.get(i + 1) {
                                Some('n') => value.push('\n'),
                                Some('t') => value.push('\t'),
                                Some('r') => value.push('\r'),
                                Some(c) => value.push(*c),
                                None => value.push('\\'),
                            }
                            i += 2;
                        }
                        Some(c) if *c == quote => break,
                        Some(c) => {
                            value.push(*c);
                            i += 1;
                        }
                    }
                }
                let token = Token {
                    value,
                    start: start + 1,
                    len: i - start - 1,
                    source: self.source.clone(),
                };
                self.pos = i + 1;
                self.skip_ws();
                Ok(token)
            }
            _ => {
                let word = self.word();
                let error_word: String = self.chars[start..]
                    .iter()
                    .take_while(|c| !is_syntax_component(**c))
                    .collect();
                let len = error_word.chars().count();
                if word.is_empty() {
                    let message = if error_word.trim().is_empty() {
                        "Was expecting a value but instead got nothing.".to_string()
                    } else {
                        format!(
                            "Was expecting a value but instead got `{}`.",
                            error_word.escape_debug()
                        )
                    };
                    return Err(self.failure(message, start, len, false));
                }
                if KEYWORDS.contains(&word.as_str()) {
                    return Err(self.failure(
                        format!("Was expecting a value but instead got `{w}`, which is a reserved keyword. To use `{w}` as a field name or a value, surround it by quotes.", w = error_word.escape_debug()),
                        start,
                        len,
                        false,
                    ));
                }
                let count = word.chars().count();
                self.pos += count;
                let token = Token {
                    value: word,
                    start,
                    len: count,
                    source: self.source.clone(),
                };
                self.skip_ws();
                Ok(token)
            }
        }
    }

    fn parse_float(&mut self) -> Option<f64> {
        self.skip_ws();
        let text: String = self.chars[self.pos..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || ['+', '-', '.', 'e', 'E'].contains(c))
            .collect();
        let value = text.parse::<f64>().ok()?;
        self.pos += text.len();
        self.skip_ws();
        Some(value)
    }

    fn token_at(&self, start: usize, text: &str) -> Token {
        Token {
            value: text.to_string(),
            start,
            len: text.chars().count(),
            source: self.source.clone(),
        }
    }

    fn parse_geo_radius(&mut self, start: usize) -> Parsed<Expr> {
        let token = self.token_at(start, "_geoRadius");
        let error = |p: &Parser| {
            p.failure(
                "The `_geoRadius` filter must be in the form: `_geoRadius(latitude, longitude, radius, optionalResolution)`.".into(),
                start,
                p.chars.len() - start,
                true,
            )
        };
        self.pos += "_geoRadius".len();
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(error(self));
        }
        self.pos += 1;
        let mut args = Vec::new();
        loop {
            match self.parse_float() {
                Some(v) => args.push(v),
                None => return Err(error(self)),
            }
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(error(self)),
            }
        }
        self.skip_ws();
        if args.len() != 3 && args.len() != 4 {
            return Err(self.failure(
                format!(
                    "Was expecting 3 or 4 arguments for `_geoRadius`, but instead found {}.",
                    args.len()
                ),
                start,
                self.chars.len() - start,
                true,
            ));
        }
        Ok(Expr::GeoRadius {
            token,
            lat: args[0],
            lng: args[1],
            radius: args[2],
        })
    }

    fn parse_point(&mut self) -> Option<(f64, f64)> {
        self.skip_ws();
        if self.peek() != Some('[') {
            return None;
        }
        self.pos += 1;
        let lat = self.parse_float()?;
        if self.peek() != Some(',') {
            return None;
        }
        self.pos += 1;
        let lng = self.parse_float()?;
        if self.peek() != Some(']') {
            return None;
        }
        self.pos += 1;
        self.skip_ws();
        Some((lat, lng))
    }

    fn parse_geo_box(&mut self, start: usize) -> Parsed<Expr> {
        let token = self.token_at(start, "_geoBoundingBox");
        self.pos += "_geoBoundingBox".len();
        self.skip_ws();
        let parsed = (|| {
            if self.peek() != Some('(') {
                return None;
            }
            self.pos += 1;
            let top_right = self.parse_point()?;
            if self.peek() != Some(',') {
                return None;
            }
            self.pos += 1;
            let bottom_left = self.parse_point()?;
            if self.peek() != Some(')') {
                return None;
            }
            self.pos += 1;
            self.skip_ws();
            Some((top_right, bottom_left))
        })();
        match parsed {
            Some((top_right, bottom_left)) => Ok(Expr::GeoBox {
                token,
                top_right,
                bottom_left,
            }),
            None => Err(self.failure(
                "The `_geoBoundingBox` filter expects two pairs of arguments: `_geoBoundingBox([latitude, longitude], [latitude, longitude])`.".into(),
                start,
                self.chars.len() - start,
                true,
            )),
        }
    }
}

fn harden(mut f: Failure) -> Failure {
    f.hard = true;
    f
}
