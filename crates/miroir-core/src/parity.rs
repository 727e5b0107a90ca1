//! How closely one ranked answer matches a reference answer: the measures `miroir bench`
//! reports for Miroir against one Meilisearch holding the same documents.
//!
//! Equal ranking scores are ties, and Meilisearch orders tied documents by their internal ids,
//! which differ between a node holding a shard and a node holding everything. So an answer is
//! an exact match when its scores are the same, position by position, and each group of tied
//! hits holds the same documents — except the window's last group, which may be cut by the
//! window itself (its other members lie beyond it), so only its size must agree.

/// One hit as the comparison sees it: its document id and ranking score (if shown).
#[derive(Debug, Clone, PartialEq)]
pub struct RankedHit {
    /// The document id, canonical (`1` and `"1"` are the same id).
    pub id: String,
    /// `_rankingScore`, when the query asked for it.
    pub score: Option<f64>,
}

/// The comparison of one answer with the reference answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HitsParity {
    /// Same hits in the same order, up to ties (see the module documentation).
    pub exact_order: bool,
    /// Share of the reference's first 10 hits found in the answer's first 10, a hit tied
    /// with the reference's 10th counting as found (1 when the reference has none).
    pub top10_overlap: f64,
    /// NDCG@10 of the answer, each document's gain given by its reference rank (tied documents
    /// share the gain of their group).
    pub ndcg10: f64,
}

/// Two scores are tied when they differ by less than this (scores are rounded by JSON).
const TIE: f64 = 1e-9;

fn same_score(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < TIE,
        (None, None) => true,
        _ => false,
    }
}

/// Groups of consecutive tied hits, as index ranges.
fn tie_groups(hits: &[RankedHit]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=hits.len() {
        let ends = i == hits.len()
            || hits[i].score.is_none()
            || !same_score(hits[i].score, hits[start].score);
        if ends {
            groups.push(start..i);
            start = i;
        }
    }
    groups
}

/// Whether `answer` matches `reference` exactly, up to ties.
fn exact_order(reference: &[RankedHit], answer: &[RankedHit]) -> bool {
    if reference.len() != answer.len() {
        return false;
    }
    if reference
        .iter()
        .zip(answer)
        .any(|(r, a)| !same_score(r.score, a.score))
    {
        return false;
    }
    let groups = tie_groups(reference);
    let last = groups.len().saturating_sub(1);
    groups.iter().enumerate().all(|(n, range)| {
        if n == last && range.len() > 1 {
            return true;
        }
        let mut expected: Vec<&str> = reference[range.clone()]
            .iter()
            .map(|h| h.id.as_str())
            .collect();
        let mut found: Vec<&str> = answer[range.clone()]
            .iter()
            .map(|h| h.id.as_str())
            .collect();
        expected.sort_unstable();
        found.sort_unstable();
        expected == found
    })
}

/// Compares an answer's hits with the reference's hits.
pub fn compare_hits(reference: &[RankedHit], answer: &[RankedHit]) -> HitsParity {
    let top = |hits: &[RankedHit]| -> Vec<String> {
        hits.iter().take(10).map(|h| h.id.clone()).collect()
    };
    let (reference_top, answer_top) = (top(reference), top(answer));
    // A hit tied with the reference's 10th is as good as the one the reference showed there.
    let boundary = reference[..reference.len().min(10)]
        .last()
        .and_then(|h| h.score);
    let top10_overlap = if reference_top.is_empty() {
        if answer_top.is_empty() {
            1.0
        } else {
            0.0
        }
    } else {
        let shared = answer
            .iter()
            .take(10)
            .filter(|hit| {
                reference_top.contains(&hit.id)
                    || (boundary.is_some() && same_score(hit.score, boundary))
            })
            .count();
        (shared as f64 / reference_top.len() as f64).min(1.0)
    };

    // Gains: 10 for the reference's first group, decreasing with the group's first rank. A
    // hit tied with a group (same score) has that group's gain even if the reference showed
    // another member of the group.
    let mut groups: Vec<(Option<f64>, f64, std::ops::Range<usize>)> = Vec::new();
    for range in tie_groups(reference) {
        let gain = 10.0 - range.start as f64;
        if gain <= 0.0 {
            break;
        }
        groups.push((reference[range.start].score, gain, range));
    }
    let gain = |hit: &RankedHit| {
        let by_id = groups
            .iter()
            .find(|(_, _, range)| reference[range.clone()].iter().any(|r| r.id == hit.id));
        let by_score = || {
            let known = reference.iter().any(|r| r.id == hit.id);
            groups
                .iter()
                .find(|(score, _, _)| !known && score.is_some() && same_score(*score, hit.score))
        };
        by_id.or_else(by_score).map_or(0.0, |(_, gain, _)| *gain)
    };
    let discounted = |hits: &[RankedHit]| -> f64 {
        hits.iter()
            .take(10)
            .enumerate()
            .map(|(i, hit)| gain(hit) / ((i + 2) as f64).log2())
            .sum()
    };
    let ideal = discounted(reference);
    let ndcg10 = if ideal == 0.0 {
        if answer_top.is_empty() || reference_top.is_empty() {
            1.0
        } else {
            0.0
        }
    } else {
        (discounted(answer) / ideal).min(1.0)
    };
    HitsParity {
        exact_order: exact_order(reference, answer),
        top10_overlap,
        ndcg10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hits(items: &[(&str, f64)]) -> Vec<RankedHit> {
        items
            .iter()
            .map(|(id, score)| RankedHit {
                id: id.to_string(),
                score: Some(*score),
            })
            .collect()
    }

    #[test]
    fn ties_may_be_reordered() {
        let reference = hits(&[("a", 0.9), ("b", 0.5), ("c", 0.5), ("d", 0.1)]);
        let answer = hits(&[("a", 0.9), ("c", 0.5), ("b", 0.5), ("d", 0.1)]);
        let parity = compare_hits(&reference, &answer);
        assert!(parity.exact_order);
        assert_eq!(parity.top10_overlap, 1.0);
        assert!((parity.ndcg10 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_last_tie_group_may_be_cut_differently() {
        let reference = hits(&[("a", 0.9), ("b", 0.5), ("c", 0.5)]);
        let answer = hits(&[("a", 0.9), ("b", 0.5), ("z", 0.5)]);
        assert!(compare_hits(&reference, &answer).exact_order);
        // But not an inner group.
        let reference = hits(&[("b", 0.5), ("c", 0.5), ("d", 0.1)]);
        let answer = hits(&[("b", 0.5), ("z", 0.5), ("d", 0.1)]);
        assert!(!compare_hits(&reference, &answer).exact_order);
    }

    #[test]
    fn a_swap_across_scores_is_not_exact_and_lowers_ndcg() {
        let reference = hits(&[("a", 0.9), ("b", 0.5)]);
        let answer = hits(&[("b", 0.9), ("a", 0.5)]);
        let parity = compare_hits(&reference, &answer);
        assert!(!parity.exact_order);
        assert_eq!(parity.top10_overlap, 1.0);
        assert!(parity.ndcg10 < 1.0);
    }

    #[test]
    fn a_tie_at_the_boundary_counts_as_overlap_and_gain() {
        let reference = hits(&[("a", 0.9), ("b", 0.5)]);
        let answer = hits(&[("a", 0.9), ("z", 0.5)]);
        let parity = compare_hits(&reference, &answer);
        assert_eq!(parity.top10_overlap, 1.0);
        assert!((parity.ndcg10 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn missing_hits_lower_the_overlap() {
        let reference = hits(&[("a", 0.9), ("b", 0.5)]);
        let answer = hits(&[("a", 0.9)]);
        let parity = compare_hits(&reference, &answer);
        assert!(!parity.exact_order);
        assert_eq!(parity.top10_overlap, 0.5);
        assert_eq!(compare_hits(&[], &[]).ndcg10, 1.0);
    }

    proptest! {
        #[test]
        fn an_answer_matches_itself(scores in proptest::collection::vec(0u8..5, 0..30)) {
            let answer: Vec<RankedHit> = scores
                .iter()
                .enumerate()
                .map(|(i, s)| RankedHit { id: i.to_string(), score: Some(f64::from(*s) / 4.0) })
                .collect();
            let parity = compare_hits(&answer, &answer);
            prop_assert!(parity.exact_order);
            prop_assert_eq!(parity.top10_overlap, 1.0);
            prop_assert!((parity.ndcg10 - 1.0).abs() < 1e-9);
        }
    }
}
