//! Pinned hits of dynamic search rules, placed in a merged ranking as one index places them.
//!
//! A dynamic search rule pins a document at a position of the results. Each node applies the
//! rules to its own documents: a pinned document comes back among the node's hits with the
//! ranking details `{"pin": {"order": 0, "position": p}}`, already placed at `p` in the node's
//! own list. Across shards those positions are meaningless until the organic hits (every hit
//! that is not pinned) are merged; so the merge takes the pinned hits out of the nodes' lists,
//! merges the rest by rank, and then puts each pinned hit at its position in the merged list.
//!
//! One index does the same: its pins are taken out of the candidates before ranking and
//! inserted into the ranked list by position, in position order; a pin whose position lies past
//! the last organic hit follows the organic hits (pins are never left out for lack of organic
//! hits before them). The page (`offset`, `limit`) is cut from the list with the pins placed.

use crate::merge::ranking_of_hit;

/// The position a dynamic search rule pins this raw hit at, read from its ranking details;
/// `None` for an organic hit or a hit without details.
pub fn pinned_position(raw: &str) -> Option<u32> {
    ranking_of_hit(raw)?
        .details?
        .0
        .into_iter()
        .find(|(name, _)| name == "pin")
        .and_then(|(_, detail)| detail.position)
}

/// The page `[skip, skip + take)` of the ranking made of `organic` (in rank order) with each
/// pin `(position, item)` placed at its position: a pin goes at the first place at or after
/// its position, organic hits fill the places between pins, and pins whose position lies past
/// the organic hits follow them in position order. Pins at the same position keep their order
/// in `pins`.
pub fn place_pins<T>(
    mut pins: Vec<(u32, T)>,
    skip: usize,
    take: usize,
    organic: impl IntoIterator<Item = T>,
) -> Vec<T> {
    pins.sort_by_key(|(position, _)| *position);
    let end = skip.saturating_add(take);
    let mut pins = pins.into_iter().peekable();
    let mut organic = organic.into_iter();
    let mut page = Vec::with_capacity(take.min(1024));
    let mut place = 0usize;
    while place < end {
        let pin_due = pins
            .peek()
            .is_some_and(|(position, _)| *position as usize <= place);
        let next = if pin_due {
            pins.next().map(|(_, item)| item)
        } else {
            organic.next().or_else(|| pins.next().map(|(_, item)| item))
        };
        let Some(item) = next else { break };
        if place >= skip {
            page.push(item);
        }
        place += 1;
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_pin_is_read_from_the_details() {
        let pinned = r#"{"id":1,"_rankingScore":1.0,"_rankingScoreDetails":{"pin":{"order":0,"position":3}}}"#;
        assert_eq!(pinned_position(pinned), Some(3));
        let organic = r#"{"id":2,"_rankingScore":0.5,"_rankingScoreDetails":{"words":{"order":0,"matchingWords":1,"maxMatchingWords":1,"score":1.0}}}"#;
        assert_eq!(pinned_position(organic), None);
        assert_eq!(pinned_position(r#"{"id":3,"_rankingScore":0.5}"#), None);
        // A document's own field named `pin` is not a pin.
        assert_eq!(
            pinned_position(r#"{"pin":{"position":1},"_rankingScore":0.5}"#),
            None
        );
    }

    #[test]
    fn pins_take_their_places_and_late_pins_follow_the_organic_hits() {
        let organic = ["a", "b", "c"];
        let pins = vec![(1, "P1"), (0, "P0"), (9, "P9")];
        assert_eq!(
            place_pins(pins.clone(), 0, 10, organic),
            vec!["P0", "P1", "a", "b", "c", "P9"]
        );
        assert_eq!(place_pins(pins.clone(), 1, 2, organic), vec!["P1", "a"]);
        assert_eq!(place_pins(pins, 5, 10, organic), vec!["P9"]);
        assert_eq!(
            place_pins(vec![(2, "P")], 0, 3, ["a"]),
            vec!["a", "P"],
            "a pin past the organic hits comes right after them"
        );
        assert_eq!(place_pins(Vec::new(), 1, 2, organic), vec!["b", "c"]);
    }

    proptest! {
        #[test]
        fn every_pin_is_placed_once_and_organic_order_is_kept(
            organic_count in 0usize..40,
            positions in prop::collection::vec(0u32..50, 0..6),
            skip in 0usize..30,
            take in 0usize..30,
        ) {
            let organic: Vec<i64> = (0..organic_count as i64).collect();
            let pins: Vec<(u32, i64)> = positions
                .iter()
                .enumerate()
                .map(|(i, position)| (*position, -1 - i as i64))
                .collect();
            let whole = place_pins(pins.clone(), 0, usize::MAX, organic.clone());
            // Nothing lost, nothing repeated, organic hits in their order.
            prop_assert_eq!(whole.len(), organic.len() + pins.len());
            let kept: Vec<i64> = whole.iter().copied().filter(|x| *x >= 0).collect();
            prop_assert_eq!(&kept, &organic);
            // A pin sits at its position whenever enough hits come before it.
            for (position, item) in &pins {
                let at = whole.iter().position(|x| x == item).unwrap_or(usize::MAX);
                let before = pins.iter().filter(|(p, _)| p < position).count();
                if (*position as usize) <= organic.len() + before {
                    prop_assert!(at >= *position as usize);
                    prop_assert!(at <= *position as usize + pins.len());
                } else {
                    prop_assert!(at >= organic.len());
                }
            }
            // A page is the same cut of the whole list.
            let page = place_pins(pins, skip, take, organic);
            let expected: Vec<i64> = whole.into_iter().skip(skip).take(take).collect();
            prop_assert_eq!(page, expected);
        }
    }
}
