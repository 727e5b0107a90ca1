//! A simple tokenizer standing in for charabia: words are runs of alphanumeric characters,
//! lowercased with Latin diacritics folded; word positions advance by 1 across a soft
//! separator and by 8 across a hard one (`. `, `, `, `!`, `?`, `;` …), as Meilisearch counts.

use serde_json::{Map, Value};

/// One word of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Normalized form (lowercase, no diacritics).
    pub text: String,
    /// Byte offset of the original word.
    pub start: usize,
    /// Byte length of the original word.
    pub len: usize,
    /// Word position (relative to the start of the text).
    pub position: u32,
}

/// Distance added across a hard separator.
pub const HARD_DISTANCE: u32 = 8;

const HARD: [&str; 17] = [
    ". ", ", ", "!", "?", ";", "¡", "¿", "§", "¶", "…", "。", "！", "？", "；", "，", "、",
    "\u{203D}",
];

/// Folds one character to its lowercase, diacritic-free form.
pub fn fold(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        let folded: &str = match lower {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
            'ĥ' | 'ħ' => "h",
            'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
            'ĵ' => "j",
            'ķ' => "k",
            'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
            'ñ' | 'ń' | 'ņ' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
            'œ' => "oe",
            'ŕ' | 'ŗ' | 'ř' => "r",
            'ś' | 'ŝ' | 'ş' | 'š' => "s",
            'ß' => "ss",
            'ţ' | 'ť' | 'ŧ' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
            'ŵ' => "w",
            'ý' | 'ÿ' | 'ŷ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            other => {
                out.push(other);
                continue;
            }
        };
        out.push_str(folded);
    }
}

/// Normalizes a whole string (lowercase, folded), keeping separators.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold(c, &mut out);
    }
    out
}

/// Splits a text into words with their positions.
pub fn tokenize(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut position: Option<u32> = None;
    let mut separator = String::new();
    let mut current: Option<(usize, String)> = None;
    let mut flush =
        |start: usize, end: usize, word: String, separator: &mut String, words: &mut Vec<Word>| {
            let next = match position {
                None => 0,
                Some(p) => {
                    let hard = HARD.iter().any(|h| separator.contains(h));
                    p + if hard { HARD_DISTANCE } else { 1 }
                }
            };
            position = Some(next);
            separator.clear();
            words.push(Word {
                text: word,
                start,
                len: end - start,
                position: next,
            });
        };
    for (offset, c) in text.char_indices() {
        if c.is_alphanumeric() {
            match &mut current {
                Some((_, word)) => fold(c, word),
                None => {
                    let mut word = String::new();
                    fold(c, &mut word);
                    current = Some((offset, word));
                }
            }
        } else {
            if let Some((start, word)) = current.take() {
                flush(start, offset, word, &mut separator, &mut words);
            }
            separator.push(c);
        }
    }
    if let Some((start, word)) = current.take() {
        flush(start, text.len(), word, &mut separator, &mut words);
    }
    words
}

fn leaf_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn walk(value: &Value, name: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                walk(inner, &format!("{name}.{key}"), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| walk(item, name, out)),
        other => {
            if let Some(text) = leaf_text(other) {
                out.push((name.to_string(), text));
            }
        }
    }
}

/// One text leaf of a document (dotted attribute name) and its words, positions relative to
/// the leaf. Documents keep theirs (see `store::Doc::leaves`): tokenizing every
/// document on every query made searches over tens of thousands of documents take seconds.
pub type TokenizedLeaf = (String, Vec<Word>);

/// Every text leaf of a document, tokenized.
pub fn tokenized_leaves(doc: &Map<String, Value>) -> Vec<TokenizedLeaf> {
    let mut leaves = Vec::new();
    for (key, value) in doc {
        walk(value, key, &mut leaves);
    }
    leaves
        .into_iter()
        .map(|(name, text)| {
            let words = tokenize(&text);
            (name, words)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let words = tokenize("How to Train Your Dragon: The Hidden World");
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            ["how", "to", "train", "your", "dragon", "the", "hidden", "world"]
        );
        assert_eq!(words[4].position, 4);
        let words = tokenize("Hello. World, Gläss");
        assert_eq!(words[1].position, 8);
        assert_eq!(words[2].position, 16);
        assert_eq!(words[2].text, "glass");
        assert_eq!(words[2].len, "Gläss".len());
    }
}
