//! An inverted index of an index's words, so that a keyword search ranks only the documents
//! that can match its first term instead of every document (a search over the 63,666 Debian
//! packages took about a second by scanning; the ranking requires the first term to match, see
//! `rank::rank_document`). Test support, kept simple: built whole on the first search after
//! any change of the documents, from every text leaf (a superset of the searchable ones: the
//! ranking still checks each candidate), with no incremental upkeep.

use std::collections::{BTreeMap, HashMap};

use super::rank::{word_match, Term};
use crate::store::Doc;

/// Each word of the documents, with the internal ids of the documents holding it.
#[derive(Debug, Default)]
pub struct WordIndex {
    postings: HashMap<String, Vec<u32>>,
}

impl WordIndex {
    /// Indexes the words of `docs`.
    pub fn build(docs: &BTreeMap<u32, Doc>) -> WordIndex {
        let mut postings: HashMap<String, Vec<u32>> = HashMap::new();
        for (internal, doc) in docs {
            for (_, words) in doc.leaves() {
                for word in words {
                    let ids = postings.entry(word.text.clone()).or_default();
                    // Documents come in ascending id order: a repeat is the last one pushed.
                    if ids.last() != Some(internal) {
                        ids.push(*internal);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::rank::{self, parse_query, rank_document, Searchable, Strategy, TypoConfig};
    use crate::store::Index;

    /// Every document a full scan ranks for a query is among the candidates of its first term,
    /// so ranking only the candidates gives the same hits.
    #[test]
    fn a_scan_ranks_no_document_outside_the_candidates() {
        let words = [
            "amber", "ambers", "breeze", "canyon", "cañon", "delta", "ember", "amberly",
        ];
        let mut index = Index::new("docs", Some("id".into()));
        for id in 0..200usize {
            let title = format!(
                "{} {}",
                words[id % words.len()],
                words[(id * 5 + 3) % words.len()]
            );
            let body =
                json!({"id": id, "title": title, "more": {"note": words[(id * 3) % words.len()]}});
            index.put(
                id.to_string(),
                body.as_object().cloned().unwrap_or_default(),
            );
        }
        let settings = &index.settings;
        let typo = TypoConfig::from_settings(settings);
        let searchable = Searchable::new(settings, None);
        for q in [
            "amber",
            "amb",
            "ambar",
            "ambers delta",
            "\"amber canyon\"",
            "canon",
            "zzz",
            "delta -ember",
        ] {
            let parsed = parse_query(q, &settings.stop_words(), &typo);
            let (rules, _) = rank::rules(settings, parsed.terms.is_empty(), Strategy::Last, &[]);
            let candidates = index.word_index().candidates(&parsed.terms[0]);
            let scanned: Vec<u32> = index
                .docs
                .iter()
                .filter(|(internal, doc)| {
                    rank_document(
                        **internal,
                        &doc.body,
                        doc.leaves(),
                        &parsed,
                        &rules,
                        Strategy::Last,
                        &searchable,
                        &typo,
                    )
                    .is_some()
                })
                .map(|(internal, _)| *internal)
                .collect();
            assert!(
                scanned
                    .iter()
                    .all(|id| candidates.binary_search(id).is_ok()),
                "{q}: scanned {scanned:?}, candidates {candidates:?}"
            );
            if q != "zzz" {
                assert!(!scanned.is_empty(), "{q} matches something");
            }
        }
        // A change of the documents is seen by the next search.
        index.put(
            "999".into(),
            json!({"id": 999, "title": "zzz"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let parsed = parse_query("zzz", &[], &typo);
        assert_eq!(index.word_index().candidates(&parsed.terms[0]).len(), 1);
    }
}
