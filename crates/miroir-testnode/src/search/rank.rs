//! Query terms, per-document matching and Meilisearch's ranking rules.
//!
//! Meilisearch ranks with a bucket sort over its ranking rules; each rule assigns a document a
//! rank out of a maximum, and `_rankingScore` combines the ranks (see `Rank::merge`). Here every
//! rule's rank is computed directly from the document and the query, never from corpus
//! statistics, so the same document scores the same on any node:
//!
//! - `words`: number of leading query terms matched (`last` strategy drops terms from the end);
//! - `typo`: total typos over the matched terms, out of the typos each term may have
//!   (0 under `oneTypo` characters, 1 under `twoTypos`, else 2);
//! - `proximity`: for each pair of consecutive terms, 0 to 3 by word distance in one attribute;
//! - `attributeRank`: the `searchableAttributes` weight of the best attribute of each term;
//! - `wordPosition`: bucketed distance between a term's position in the attribute and in the query;
//! - `exactness`: an attribute equal to / starting with the query, then terms matched exactly;
//! - `sort` and custom `attr:asc|desc` rules, and `_geoPoint(..)` sorting.
//!
//! Known differences from Meilisearch: no n-grams, split words or synonyms; the maximum typo
//! count comes from the query alone (Meilisearch lowers it when the index has no typo
//! derivation); the `exactness` attribute check is per attribute value.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use super::tokenize::{tokenize, TokenizedLeaf, Word};
use crate::filter::{distance, geo_point};
use crate::settings::{is_faceted_by, Settings};
use crate::util::compare_sort_values;
use crate::util::{levenshtein, prefix_levenshtein};

/// One query term: a word (possibly a prefix) or a quoted phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// Normalized words (one unless a phrase).
    pub words: Vec<String>,
    /// A quoted phrase.
    pub phrase: bool,
    /// The last word of the query, matched as a prefix.
    pub prefix: bool,
    /// Typos allowed.
    pub max_typos: u8,
    /// Position of the term in the query.
    pub position: u32,
}

/// A parsed query.
#[derive(Debug, Clone, Default)]
pub struct ParsedQuery {
    /// Positive terms, in query order (at most 10 words).
    pub terms: Vec<Term>,
    /// Words prefixed with `-`: documents containing them are excluded.
    pub negative: Vec<String>,
}

/// Typo tolerance settings.
#[derive(Debug, Clone)]
pub struct TypoConfig {
    enabled: bool,
    one: usize,
    two: usize,
    disabled_words: Vec<String>,
    disabled_attributes: Vec<String>,
    disable_on_numbers: bool,
}

impl TypoConfig {
    /// Reads the index's `typoTolerance`.
    pub fn from_settings(settings: &Settings) -> Self {
        let typo = settings.typo();
        let list = |key: &str| -> Vec<String> {
            typo[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(super::tokenize::normalize)
                        .collect()
                })
                .unwrap_or_default()
        };
        TypoConfig {
            enabled: typo["enabled"].as_bool().unwrap_or(true),
            one: typo["minWordSizeForTypos"]["oneTypo"].as_u64().unwrap_or(5) as usize,
            two: typo["minWordSizeForTypos"]["twoTypos"]
                .as_u64()
                .unwrap_or(9) as usize,
            disabled_words: list("disableOnWords"),
            disabled_attributes: typo["disableOnAttributes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            disable_on_numbers: typo["disableOnNumbers"].as_bool().unwrap_or(false),
        }
    }

    fn max_typos(&self, word: &str) -> u8 {
        let len = word.chars().count();
        let disabled = !self.enabled
            || self.disabled_words.iter().any(|w| w == word)
            || (self.disable_on_numbers && word.chars().all(|c| c.is_ascii_digit()));
        if disabled || len < self.one {
            0
        } else if len < self.two {
            1
        } else {
            2
        }
    }

    fn typos_allowed_in(&self, field: &str) -> bool {
        !self
            .disabled_attributes
            .iter()
            .any(|a| is_faceted_by(field, a))
    }
}

/// Splits a query into terms (phrases in double quotes, `-word` exclusions, stop words
/// removed, at most 10 words; the last word is a prefix unless a separator follows it).
pub fn parse_query(q: &str, stop_words: &[String], typo: &TypoConfig) -> ParsedQuery {
    let mut parsed = ParsedQuery::default();
    let mut position = 0u32;
    let mut word_count = 0usize;
    let mut last_is_prefix_candidate = false;
    let stop: Vec<String> = stop_words
        .iter()
        .map(|w| super::tokenize::normalize(w))
        .collect();
    for (i, part) in q.split('"').enumerate() {
        let quoted = i % 2 == 1;
        if quoted {
            let words: Vec<String> = tokenize(part).into_iter().map(|w| w.text).collect();
            if words.is_empty() || word_count >= 10 {
                continue;
            }
            let negative = q
                .split('"')
                .take(i)
                .last()
                .is_some_and(|before| before.ends_with('-'));
            word_count += words.len();
            if negative {
                parsed.negative.extend(words);
                continue;
            }
            let len = words.len() as u32;
            parsed.terms.push(Term {
                words,
                phrase: true,
                prefix: false,
                max_typos: 0,
                position,
            });
            position += len;
            last_is_prefix_candidate = false;
            continue;
        }
        let words = tokenize(part);
        for word in &words {
            if word_count >= 10 {
                break;
            }
            word_count += 1;
            let before = &part[..word.start];
            let negative = before.ends_with('-')
                && before[..before.len() - 1]
                    .chars()
                    .last()
                    .is_none_or(char::is_whitespace);
            if negative {
                parsed.negative.push(word.text.clone());
                continue;
            }
            if stop.contains(&word.text) {
                continue;
            }
            parsed.terms.push(Term {
                words: vec![word.text.clone()],
                phrase: false,
                prefix: false,
                max_typos: typo.max_typos(&word.text),
                position,
            });
            position += 1;
        }
        if let Some(last) = words.last() {
            let ends_with_word = part.len() == last.start + last.len;
            last_is_prefix_candidate = ends_with_word && (i + 1 == q.split('"').count());
        }
    }
    if last_is_prefix_candidate {
        if let Some(last) = parsed.terms.last_mut() {
            if !last.phrase {
                last.prefix = true;
            }
        }
    }
    parsed
}

/// The words of one searchable attribute of a document.
#[derive(Debug, Clone)]
pub struct FieldWords {
    /// Dotted attribute name.
    pub name: String,
    /// `searchableAttributes` weight (0 is best).
    pub weight: u16,
    /// Words of each value, positions relative to the attribute.
    pub values: Vec<Vec<Word>>,
}

/// Which attributes are searched, with their weights.
#[derive(Debug, Clone)]
pub struct Searchable {
    list: Option<Vec<String>>,
    restrict: Option<Vec<String>>,
}

impl Searchable {
    /// From the settings and `attributesToSearchOn`.
    pub fn new(settings: &Settings, restrict: Option<Vec<String>>) -> Self {
        Searchable {
            list: settings.searchable(),
            restrict: restrict.filter(|r| !r.iter().any(|a| a == "*")),
        }
    }

    /// The weight of an attribute, or `None` when it is not searched.
    pub fn weight(&self, field: &str) -> Option<u16> {
        if field == "_vectors" || field.starts_with("_vectors.") {
            return None;
        }
        if let Some(restrict) = &self.restrict {
            if !restrict.iter().any(|r| is_faceted_by(field, r)) {
                return None;
            }
        }
        match &self.list {
            None => Some(0),
            Some(list) => list
                .iter()
                .position(|s| is_faceted_by(field, s))
                .map(|p| p as u16),
        }
    }

    /// The highest weight (`None` with `["*"]`).
    pub fn max_weight(&self) -> Option<u16> {
        self.list.as_ref().map(|l| l.len().saturating_sub(1) as u16)
    }
}

/// Tokenizes the searchable attributes of a document (null values are never searchable).
pub fn document_words(leaves: &[TokenizedLeaf], searchable: &Searchable) -> Vec<FieldWords> {
    let mut fields: Vec<FieldWords> = Vec::new();
    let mut counters: Vec<u32> = Vec::new();
    for (name, words) in leaves {
        let Some(weight) = searchable.weight(name) else {
            continue;
        };
        let index = match fields.iter().position(|f| &f.name == name) {
            Some(index) => {
                counters[index] += super::tokenize::HARD_DISTANCE;
                index
            }
            None => {
                fields.push(FieldWords {
                    name: name.clone(),
                    weight,
                    values: Vec::new(),
                });
                counters.push(0);
                fields.len() - 1
            }
        };
        let start = counters[index];
        let mut words = words.clone();
        for word in &mut words {
            word.position += start;
        }
        if let Some(last) = words.last() {
            counters[index] = last.position;
        }
        fields[index].values.push(words);
    }
    fields
}

/// How one query word matches one document word: the number of typos, if it matches.
pub fn word_match(term: &str, prefix: bool, max_typos: u8, word: &str) -> Option<u8> {
    if word == term || (prefix && word.starts_with(term)) {
        return Some(0);
    }
    if max_typos == 0 {
        return None;
    }
    let t: Vec<char> = term.chars().collect();
    let w: Vec<char> = word.chars().collect();
    let distance = if prefix {
        prefix_levenshtein(&t, &w)
    } else {
        if w.len().abs_diff(t.len()) > max_typos as usize {
            return None;
        }
        levenshtein(&t, &w)
    };
    (distance <= max_typos as usize).then_some(distance as u8)
}

/// How one term matches one document.
#[derive(Debug, Clone)]
pub struct TermMatch {
    /// Fewest typos over the matching words.
    pub typos: u8,
    /// The original word (or phrase) appears as is.
    pub exact: bool,
    /// Best (lowest) attribute weight.
    pub weight: u16,
    /// Best word-position cost.
    pub position_cost: u32,
    /// (attribute index, first position, last position) of each occurrence.
    pub occurrences: Vec<(usize, u32, u32)>,
}

fn bucketed(position: u32) -> u32 {
    if position < 16 {
        position
    } else if position < 24 {
        24
    } else {
        (position as f64).log2().ceil().exp2() as u32
    }
}

fn cost_from_distance(distance: u32) -> u32 {
    match distance {
        0 => 0,
        1 => 1,
        2..=4 => 2,
        5..=7 => 3,
        8..=11 => 4,
        12..=16 => 5,
        17..=24 => 6,
        25..=64 => 7,
        65..=256 => 8,
        257..=1024 => 9,
        _ => 10,
    }
}

/// Matches a term against a document's words.
pub fn match_term(term: &Term, fields: &[FieldWords], typo: &TypoConfig) -> Option<TermMatch> {
    let mut best: Option<TermMatch> = None;
    for (field_index, field) in fields.iter().enumerate() {
        let typos_ok = typo.typos_allowed_in(&field.name);
        for words in &field.values {
            for (i, word) in words.iter().enumerate() {
                let (typos, exact, last) = if term.phrase {
                    let n = term.words.len();
                    let window = words.get(i..i + n);
                    let ok = window.is_some_and(|w| {
                        w.iter().zip(&term.words).all(|(a, b)| a.text == *b)
                            && w.windows(2).all(|p| p[1].position == p[0].position + 1)
                    });
                    if !ok {
                        continue;
                    }
                    (0, true, words[i + n - 1].position)
                } else {
                    let allowed = if typos_ok { term.max_typos } else { 0 };
                    match word_match(&term.words[0], term.prefix, allowed, &word.text) {
                        Some(t) => (t, word.text == term.words[0], word.position),
                        None => continue,
                    }
                };
                let cost = cost_from_distance(bucketed(word.position).abs_diff(term.position));
                let m = best.get_or_insert(TermMatch {
                    typos,
                    exact,
                    weight: field.weight,
                    position_cost: cost,
                    occurrences: Vec::new(),
                });
                m.typos = m.typos.min(typos);
                m.exact |= exact;
                m.weight = m.weight.min(field.weight);
                m.position_cost = m.position_cost.min(cost);
                m.occurrences.push((field_index, word.position, last));
            }
        }
    }
    best
}

/// The matching strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Drop terms from the end (default).
    Last,
    /// Every term must match.
    All,
    /// Treated like `last` here.
    Frequency,
}

/// One ranking step of the sort.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `words`
    Words,
    /// `typo`
    Typo,
    /// `proximity`
    Proximity,
    /// `attributeRank` (or the first half of `attribute`).
    Fid,
    /// `wordPosition` (or the second half of `attribute`).
    Position,
    /// First half of `exactness`.
    ExactAttribute,
    /// Second half of `exactness`.
    ExactWords,
    /// A sort on a field.
    Sort {
        /// Field.
        field: String,
        /// Ascending.
        ascending: bool,
    },
    /// `_geoPoint(lat, lng):asc|desc`.
    Geo {
        /// Target point.
        point: (f64, f64),
        /// Ascending.
        ascending: bool,
    },
}

/// A rank out of a maximum (`max` is the best).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rank {
    /// Rank.
    pub rank: u64,
    /// Best rank.
    pub max: u64,
}

impl Rank {
    fn score(self) -> f64 {
        self.rank as f64 / self.max as f64
    }

    fn merge(outer: Rank, inner: Rank) -> Rank {
        Rank {
            rank: outer.rank.saturating_sub(1) * inner.max + inner.rank,
            max: outer.max * inner.max,
        }
    }

    fn global(ranks: impl Iterator<Item = Rank>) -> f64 {
        ranks.fold(Rank { rank: 1, max: 1 }, Rank::merge).score()
    }
}

/// `exactness` first step outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    /// An attribute is exactly the query.
    ExactMatch,
    /// An attribute starts with the query.
    MatchesStart,
    /// Neither.
    NoExactMatch,
}

impl MatchType {
    fn rank(self) -> Rank {
        let rank = match self {
            MatchType::ExactMatch => 3,
            MatchType::MatchesStart => 2,
            MatchType::NoExactMatch => 1,
        };
        Rank { rank, max: 3 }
    }

    fn name(self) -> &'static str {
        match self {
            MatchType::ExactMatch => "exactMatch",
            MatchType::MatchesStart => "matchesStart",
            MatchType::NoExactMatch => "noExactMatch",
        }
    }
}

/// One rule's outcome for one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A scored rule.
    Rank(Rank),
    /// `exactness`'s attribute step.
    Exact(MatchType),
    /// A sort value.
    Sort(Value),
    /// A geo sort: the document's point.
    Geo(Option<(f64, f64)>),
}

impl Outcome {
    fn rank(&self) -> Option<Rank> {
        match self {
            Outcome::Rank(r) => Some(*r),
            Outcome::Exact(m) => Some(m.rank()),
            _ => None,
        }
    }
}

/// The ranking rules to apply, in order, for a query or placeholder search.
pub fn rules(
    settings: &Settings,
    placeholder: bool,
    strategy: Strategy,
    sort: &[Rule],
) -> (Vec<Rule>, bool) {
    let mut out = Vec::new();
    let mut words = strategy == Strategy::All;
    let (mut typo, mut proximity, mut sort_done, mut exactness) = (false, false, false, false);
    let (mut attribute, mut attribute_rank, mut word_position) = (false, false, false);
    let mut sorted: Vec<String> = Vec::new();
    for rule in settings.ranking_rules() {
        let textual = [
            "words",
            "typo",
            "proximity",
            "attribute",
            "attributeRank",
            "wordPosition",
            "exactness",
        ];
        if textual.contains(&rule.as_str()) {
            if placeholder {
                continue;
            }
            if rule != "words" && !words {
                out.push(Rule::Words);
                words = true;
            }
        }
        match rule.as_str() {
            "words" if !words => {
                out.push(Rule::Words);
                words = true;
            }
            "typo" if !typo => {
                typo = true;
                out.push(Rule::Typo);
            }
            "proximity" if !proximity => {
                proximity = true;
                out.push(Rule::Proximity);
            }
            "attribute" if !attribute && !attribute_rank && !word_position => {
                attribute = true;
                out.push(Rule::Fid);
                out.push(Rule::Position);
            }
            "attributeRank" if !attribute && !attribute_rank => {
                attribute_rank = true;
                out.push(Rule::Fid);
            }
            "wordPosition" if !attribute && !word_position => {
                word_position = true;
                out.push(Rule::Position);
            }
            "exactness" if !exactness => {
                exactness = true;
                out.push(Rule::ExactAttribute);
                out.push(Rule::ExactWords);
            }
            "sort" if !sort_done => {
                sort_done = true;
                for rule in sort {
                    match rule {
                        Rule::Sort { field, .. } => {
                            if !sorted.contains(field) {
                                sorted.push(field.clone());
                                out.push(rule.clone());
                            }
                        }
                        other => out.push(other.clone()),
                    }
                }
            }
            custom => {
                if let Some((field, order)) = custom.rsplit_once(':') {
                    if (order == "asc" || order == "desc") && !sorted.iter().any(|s| s == field) {
                        sorted.push(field.to_string());
                        out.push(Rule::Sort {
                            field: field.to_string(),
                            ascending: order == "asc",
                        });
                    }
                }
            }
        }
    }
    (out, attribute)
}

/// Everything the ranking of one document needs.
pub struct Ranked {
    /// Internal document id.
    pub internal: u32,
    /// Outcome of each rule.
    pub outcomes: Vec<Outcome>,
    /// Global score.
    pub score: f64,
    /// Per-term matches (for formatting).
    pub matched_terms: usize,
}

impl Ranked {
    /// A document a dynamic search rule pins: placed by position, not ranked (score 1, no
    /// rule outcomes, as Meilisearch reports a pinned hit).
    pub fn pinned(internal: u32) -> Ranked {
        Ranked {
            internal,
            outcomes: Vec::new(),
            score: 1.0,
            matched_terms: 0,
        }
    }
}

fn exact_attribute(fields: &[FieldWords], words: &[&str]) -> MatchType {
    let mut best = MatchType::NoExactMatch;
    if words.is_empty() {
        return best;
    }
    for field in fields {
        for value in &field.values {
            if value.len() >= words.len() && value.iter().zip(words).all(|(a, b)| a.text == *b) {
                if value.len() == words.len() {
                    return MatchType::ExactMatch;
                }
                best = MatchType::MatchesStart;
            }
        }
    }
    best
}

fn index_proximity(left: u32, right: u32) -> u32 {
    if left <= right {
        (right - left).min(4)
    } else {
        (left - right + 1).min(4)
    }
}

/// Ranks one document, or `None` when it does not match the query.
#[allow(clippy::too_many_arguments)]
pub fn rank_document(
    internal: u32,
    doc: &Map<String, Value>,
    leaves: &[TokenizedLeaf],
    query: &ParsedQuery,
    rules: &[Rule],
    strategy: Strategy,
    searchable: &Searchable,
    typo: &TypoConfig,
) -> Option<Ranked> {
    let needs_words = !query.terms.is_empty() || !query.negative.is_empty();
    let fields = if needs_words {
        document_words(leaves, searchable)
    } else {
        Vec::new()
    };
    if !query.negative.is_empty() {
        let excluded = fields.iter().any(|f| {
            f.values
                .iter()
                .flatten()
                .any(|w| query.negative.contains(&w.text))
        });
        if excluded {
            return None;
        }
    }
    let matches: Vec<Option<TermMatch>> = query
        .terms
        .iter()
        .map(|t| match_term(t, &fields, typo))
        .collect();
    let n = query.terms.len();
    let k = matches.iter().take_while(|m| m.is_some()).count();
    if n > 0 && (k == 0 || (strategy == Strategy::All && k < n)) {
        return None;
    }
    let matched: Vec<&TermMatch> = matches.iter().take(k).flatten().collect();
    let terms = &query.terms[..k];
    let mut outcomes = Vec::with_capacity(rules.len());
    for rule in rules {
        let outcome = match rule {
            Rule::Words => Outcome::Rank(Rank {
                rank: k as u64,
                max: n.max(1) as u64,
            }),
            Rule::Typo => {
                let max: u64 = terms.iter().map(|t| t.max_typos as u64).sum();
                let count: u64 = matched.iter().map(|m| m.typos as u64).sum();
                Outcome::Rank(Rank {
                    rank: (max + 1).saturating_sub(count),
                    max: max + 1,
                })
            }
            Rule::Proximity => {
                let pairs = k.saturating_sub(1) as u64;
                let mut cost = 0u64;
                for pair in matched.windows(2) {
                    let mut best = 3u64;
                    for (lf, _, l_last) in &pair[0].occurrences {
                        for (rf, r_first, _) in &pair[1].occurrences {
                            if lf == rf && l_last != r_first {
                                let p = index_proximity(*l_last, *r_first) as u64;
                                best = best.min(p.saturating_sub(1).min(3));
                            }
                        }
                    }
                    cost += best;
                }
                let max = 1 + 3 * pairs;
                Outcome::Rank(Rank {
                    rank: max - cost,
                    max,
                })
            }
            Rule::Fid => {
                let per_term = searchable.max_weight().unwrap_or(0) as u64;
                let max = 1 + per_term * k as u64;
                let cost: u64 = matched
                    .iter()
                    .map(|m| (m.weight as u64).min(per_term))
                    .sum();
                Outcome::Rank(Rank {
                    rank: max - cost,
                    max,
                })
            }
            Rule::Position => {
                let max = 1 + 10 * k as u64;
                let cost: u64 = matched.iter().map(|m| m.position_cost as u64).sum();
                Outcome::Rank(Rank {
                    rank: max - cost.min(max - 1),
                    max,
                })
            }
            Rule::ExactAttribute => {
                let words: Vec<&str> = terms
                    .iter()
                    .flat_map(|t| t.words.iter().map(String::as_str))
                    .collect();
                Outcome::Exact(exact_attribute(&fields, &words))
            }
            Rule::ExactWords => {
                let exact = matched.iter().filter(|m| m.exact).count() as u64;
                Outcome::Rank(Rank {
                    rank: exact + 1,
                    max: k as u64 + 1,
                })
            }
            Rule::Sort { field, ascending } => Outcome::Sort(sort_value(doc, field, *ascending)),
            Rule::Geo { .. } => Outcome::Geo(geo_point(doc)),
        };
        outcomes.push(outcome);
    }
    let score = Rank::global(outcomes.iter().filter_map(Outcome::rank));
    Some(Ranked {
        internal,
        outcomes,
        score,
        matched_terms: k,
    })
}

/// The value a document sorts on, as Meilisearch's sort rule reports it: numbers first (as
/// floats), then normalized strings; `null` when the document has neither.
pub fn sort_value(doc: &Map<String, Value>, field: &str, ascending: bool) -> Value {
    let mut numbers = Vec::new();
    let mut strings = Vec::new();
    for value in crate::filter::field_values(doc, field) {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for item in items {
            match item {
                Value::Number(n) => numbers.extend(n.as_f64()),
                Value::String(s) => strings.push(crate::filter::normalize_facet(s)),
                Value::Bool(b) => strings.push(b.to_string()),
                _ => {}
            }
        }
    }
    let pick_number = if ascending {
        numbers.iter().copied().reduce(f64::min)
    } else {
        numbers.iter().copied().reduce(f64::max)
    };
    if let Some(n) = pick_number {
        return json!(n);
    }
    let pick = if ascending {
        strings.into_iter().min()
    } else {
        strings.into_iter().max()
    };
    pick.map(Value::String).unwrap_or(Value::Null)
}

/// Orders two ranked documents (`Less` = `a` first).
pub fn compare(rules: &[Rule], a: &Ranked, b: &Ranked) -> Ordering {
    for (i, rule) in rules.iter().enumerate() {
        let order = match (&a.outcomes[i], &b.outcomes[i], rule) {
            (Outcome::Sort(x), Outcome::Sort(y), Rule::Sort { ascending, .. }) => {
                compare_sort_values(*ascending, x, y)
            }
            (Outcome::Geo(x), Outcome::Geo(y), Rule::Geo { point, ascending }) => match (x, y) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let order = distance(*point, *x)
                        .partial_cmp(&distance(*point, *y))
                        .unwrap_or(Ordering::Equal);
                    if *ascending {
                        order
                    } else {
                        order.reverse()
                    }
                }
            },
            (x, y, _) => match (x.rank(), y.rank()) {
                (Some(x), Some(y)) => y.score().partial_cmp(&x.score()).unwrap_or(Ordering::Equal),
                _ => Ordering::Equal,
            },
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.internal.cmp(&b.internal)
}

fn format_coordinate(value: f64) -> String {
    format!("{value}")
}

/// `_rankingScoreDetails` for one document, shaped like Meilisearch's.
pub fn details(rules: &[Rule], unified_attribute: bool, ranked: &Ranked) -> Map<String, Value> {
    let mut out = Map::new();
    let mut order = 0u64;
    let mut fid_rank: Option<Rank> = None;
    for (rule, outcome) in rules.iter().zip(&ranked.outcomes) {
        match (rule, outcome) {
            (Rule::Words, Outcome::Rank(r)) => {
                out.insert(
                    "words".into(),
                    json!({"order": order, "matchingWords": r.rank, "maxMatchingWords": r.max, "score": r.score()}),
                );
                order += 1;
            }
            (Rule::Typo, Outcome::Rank(r)) => {
                out.insert(
                    "typo".into(),
                    json!({"order": order, "typoCount": r.max - r.rank, "maxTypoCount": r.max - 1, "score": r.score()}),
                );
                order += 1;
            }
            (Rule::Proximity, Outcome::Rank(r)) => {
                out.insert(
                    "proximity".into(),
                    json!({"order": order, "score": r.score()}),
                );
                order += 1;
            }
            (Rule::Fid, Outcome::Rank(r)) => {
                if unified_attribute {
                    fid_rank = Some(*r);
                    out.insert(
                        "attribute".into(),
                        json!({"order": order, "attributeRankingOrderScore": r.score()}),
                    );
                } else {
                    out.insert(
                        "attributeRank".into(),
                        json!({"order": order, "score": r.score()}),
                    );
                }
                order += 1;
            }
            (Rule::Position, Outcome::Rank(r)) => {
                if unified_attribute {
                    if let (Some(fid), Some(Value::Object(attribute))) =
                        (fid_rank, out.get_mut("attribute"))
                    {
                        attribute.insert("queryWordDistanceScore".into(), json!(r.score()));
                        attribute
                            .insert("score".into(), json!(Rank::global([fid, *r].into_iter())));
                    }
                } else {
                    out.insert(
                        "wordPosition".into(),
                        json!({"order": order, "score": r.score()}),
                    );
                    order += 1;
                }
            }
            (Rule::ExactAttribute, Outcome::Exact(m)) => {
                out.insert(
                    "exactness".into(),
                    json!({"order": order, "matchType": m.name(), "score": m.rank().score()}),
                );
                order += 1;
            }
            (Rule::ExactWords, Outcome::Rank(r)) => {
                if let Some(Value::Object(exactness)) = out.get_mut("exactness") {
                    if exactness.get("matchType") == Some(&json!("noExactMatch")) {
                        let score = Rank::global([MatchType::NoExactMatch.rank(), *r].into_iter());
                        exactness.shift_remove("score");
                        exactness.insert("matchingWords".into(), json!(r.rank - 1));
                        exactness.insert("maxMatchingWords".into(), json!(r.max - 1));
                        exactness.insert("score".into(), json!(score));
                    }
                }
            }
            (Rule::Sort { field, ascending }, Outcome::Sort(value)) => {
                let name = format!("{field}:{}", if *ascending { "asc" } else { "desc" });
                out.insert(name, json!({"order": order, "value": value}));
                order += 1;
            }
            (Rule::Geo { point, ascending }, Outcome::Geo(value)) => {
                let name = format!(
                    "_geoPoint({}, {}):{}",
                    format_coordinate(point.0),
                    format_coordinate(point.1),
                    if *ascending { "asc" } else { "desc" }
                );
                let (point_value, dist) = match value {
                    Some((lat, lng)) => (
                        json!({"lat": lat, "lng": lng}),
                        json!(distance(*point, (*lat, *lng))),
                    ),
                    None => (Value::Null, Value::Null),
                };
                out.insert(
                    name,
                    json!({"order": order, "value": point_value, "distance": dist}),
                );
                order += 1;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typo() -> TypoConfig {
        TypoConfig::from_settings(&Settings::default())
    }

    #[test]
    fn score_details_like_meilisearch() {
        // The `test_score_details` case of Meilisearch's own test suite.
        let settings = Settings::default();
        let query = parse_query("train dragon", &[], &typo());
        let (rules, unified) = rules(&settings, false, Strategy::Last, &[]);
        let doc = serde_json::json!({"title": "How to Train Your Dragon: The Hidden World", "id": "166428", "color": ["green", "red"]});
        let searchable = Searchable::new(&settings, None);
        let ranked = rank_document(
            0,
            doc.as_object().unwrap(),
            &crate::search::tokenize::tokenized_leaves(doc.as_object().unwrap()),
            &query,
            &rules,
            Strategy::Last,
            &searchable,
            &typo(),
        )
        .unwrap();
        let details = Value::Object(details(&rules, unified, &ranked));
        assert_eq!(
            details,
            serde_json::json!({
                "words": {"order": 0, "matchingWords": 2, "maxMatchingWords": 2, "score": 1.0},
                "typo": {"order": 1, "typoCount": 0, "maxTypoCount": 2, "score": 1.0},
                "proximity": {"order": 2, "score": 0.75},
                "attributeRank": {"order": 3, "score": 1.0},
                "wordPosition": {"order": 4, "score": 0.8095238095238095},
                "exactness": {"order": 5, "matchType": "noExactMatch", "matchingWords": 2, "maxMatchingWords": 2, "score": 0.3333333333333333}
            })
        );
    }

    #[test]
    fn prefix_and_typos() {
        assert_eq!(word_match("1", true, 0, "12"), Some(0));
        assert_eq!(word_match("dragon", false, 1, "dragen"), Some(1));
        assert_eq!(word_match("drag", false, 0, "dragon"), None);
        let query = parse_query("hello wor", &[], &typo());
        assert!(query.terms[1].prefix && !query.terms[0].prefix);
        let query = parse_query("hello wor ", &[], &typo());
        assert!(!query.terms[1].prefix);
        let query = parse_query("\"big house\" -cheap", &[], &typo());
        assert!(query.terms[0].phrase);
        assert_eq!(query.negative, vec!["cheap".to_string()]);
    }
}

/// One comparable step of a hit's ranking, as Meilisearch's federated search compares hits:
/// consecutive scored rules merged into one score, sort values, geo distances.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreValue {
    /// Merged score of consecutive scored rules.
    Score(f64),
    /// A sort value.
    Sort {
        /// Ascending.
        ascending: bool,
        /// The value.
        value: Value,
    },
    /// A geo distance.
    Geo {
        /// Ascending.
        ascending: bool,
        /// Distance in meters.
        distance: Option<f64>,
    },
}

/// The comparable steps of a ranked document.
pub fn score_values(rules: &[Rule], ranked: &Ranked) -> Vec<ScoreValue> {
    let mut out = Vec::new();
    let mut group: Option<Rank> = None;
    for (rule, outcome) in rules.iter().zip(&ranked.outcomes) {
        if let Some(rank) = outcome.rank() {
            group = Some(match group {
                Some(g) => Rank::merge(g, rank),
                None => rank,
            });
            continue;
        }
        if let Some(g) = group.take() {
            out.push(ScoreValue::Score(g.score()));
        }
        match (rule, outcome) {
            (Rule::Sort { ascending, .. }, Outcome::Sort(value)) => out.push(ScoreValue::Sort {
                ascending: *ascending,
                value: value.clone(),
            }),
            (Rule::Geo { point, ascending }, Outcome::Geo(value)) => out.push(ScoreValue::Geo {
                ascending: *ascending,
                distance: value.map(|p| distance(*point, p)),
            }),
            _ => {}
        }
    }
    if let Some(g) = group {
        out.push(ScoreValue::Score(g.score()));
    }
    out
}

fn compare_step(
    left: &ScoreValue,
    left_weight: f64,
    right: &ScoreValue,
    right_weight: f64,
) -> Option<Ordering> {
    match (left, right) {
        (ScoreValue::Score(l), ScoreValue::Score(r)) => {
            let (l, r) = (l * left_weight, r * right_weight);
            if (l - r).abs() <= f64::EPSILON {
                Some(Ordering::Equal)
            } else {
                l.partial_cmp(&r)
            }
        }
        (
            ScoreValue::Sort {
                ascending: la,
                value: lv,
            },
            ScoreValue::Sort {
                ascending: ra,
                value: rv,
            },
        ) if la == ra => Some(compare_sort_values(*la, lv, rv).reverse()),
        (
            ScoreValue::Geo {
                ascending: la,
                distance: ld,
            },
            ScoreValue::Geo {
                ascending: ra,
                distance: rd,
            },
        ) if la == ra => Some(match (ld, rd) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(l), Some(r)) if (l - r).abs() <= f64::EPSILON => Ordering::Equal,
            (Some(l), Some(r)) => {
                let order = l.partial_cmp(r).unwrap_or(Ordering::Equal);
                if *la {
                    order.reverse()
                } else {
                    order
                }
            }
        }),
        _ => None,
    }
}

/// Meilisearch's federated comparison of two hits (`Greater` = `left` ranks first): step by
/// step, falling back on the weighted global scores when the steps are not comparable.
pub fn compare_weighted(
    left: (&[ScoreValue], f64, f64),
    right: (&[ScoreValue], f64, f64),
) -> Ordering {
    let (lv, lw, lg) = left;
    let (rv, rw, rg) = right;
    let mut l = lv.iter();
    let mut r = rv.iter();
    loop {
        match (l.next(), r.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(a), Some(b)) => match compare_step(a, lw, b, rw) {
                Some(Ordering::Equal) => continue,
                Some(order) => return order,
                None => {
                    let remaining = l.count().cmp(&r.count());
                    if remaining.is_ne() {
                        return remaining;
                    }
                    return (lg * lw).partial_cmp(&(rg * rw)).unwrap_or(Ordering::Equal);
                }
            },
        }
    }
}
