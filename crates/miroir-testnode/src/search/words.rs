//! An inverted index of an index's words, so that a keyword search ranks only the documents
//! that can match its first term instead of every document (a search over the 63,666 Debian
//! packages took about a second by scanning; the ranking requires the first term to match, see
//! `rank::rank_document`). Test support, kept simple: built whole on the first search after
//! any change of the documents, from every text leaf (a superset of the searchable ones: the
//! ranking still checks each candidate), with no incremental upkeep.

use std::collections::HashMap;

use super::rank::{word_match, Term};
use super::tokenize::TokenizedLeaf;

/// Each word of the documents, with the internal ids of the documents holding it.
#[derive(Debug, Default)]
pub struct WordIndex {
    postings: HashMap<String, Vec<u32>>,
}

impl WordIndex {
    /// Indexes the words of documents given as `(internal id, text leaves)`, in ascending id
    /// order.
    pub fn build<'a>(docs: impl IntoIterator<Item = (u32, &'a [TokenizedLeaf])>) -> WordIndex {
        let mut postings: HashMap<String, Vec<u32>> = HashMap::new();
        for (internal, leaves) in docs {
            for (_, words) in leaves {
                for word in words {
                    let ids = postings.entry(word.text.clone()).or_default();
                    // Documents come in ascending id order: a repeat is the last one pushed.
                    if ids.last() != Some(&internal) {
                        ids.push(internal);
                    }
                }
            }
        }
        WordIndex { postings }
    }

    /// The documents, ascending, that hold a word `term` can match (its first word, exactly,
    /// as a prefix or within its typos), whichever field it is in.
    pub fn candidates(&self, term: &Term) -> Vec<u32> {
        let Some(first) = term.words.first() else {
            return Vec::new();
        };
        let loose = !term.phrase && (term.prefix || term.max_typos > 0);
        if !loose {
            return self.postings.get(first).cloned().unwrap_or_default();
        }
        let mut ids: Vec<u32> = self
            .postings
            .iter()
            .filter(|(word, _)| word_match(first, term.prefix, term.max_typos, word).is_some())
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}
