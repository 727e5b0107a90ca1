//! What reads observe of each node: an exponentially weighted mean and variance of its read
//! latency, and its reads in flight. They drive adaptive replica choice (in the spirit of
//! Elasticsearch's adaptive replica selection: a node scoring far worse than the best is left
//! out of a plan when other replicas cover its shards, and among replicas equally useful to a
//! plan the one with the lowest `latency × (1 + in flight)` is asked) and hedging (a read that
//! has not answered within about the node's 95th percentile is also sent to another replica).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Weight of a new sample in the moving averages.
const ALPHA: f64 = 0.2;
/// How much an avoided node's latency estimate shrinks each time a plan leaves it out.
const DECAY: f64 = 0.99;
/// A node scoring more than this many times the best measured node is avoided when the
/// other replicas can cover its shards.
pub(crate) const SLOW_FACTOR: u64 = 4;
/// The shortest hedge delay (below it, hedges would mostly duplicate healthy requests).
pub(crate) const HEDGE_FLOOR: Duration = Duration::from_millis(2);
/// The hedge delay of a node with no latency sample yet.
pub(crate) const HEDGE_UNKNOWN: Duration = Duration::from_millis(100);

#[derive(Debug, Default, Clone, Copy)]
struct Latency {
    mean_us: f64,
    variance: f64,
    samples: u64,
}

/// One node's observed read load.
#[derive(Debug, Default)]
pub(crate) struct NodeLoad {
    latency: Mutex<Latency>,
    in_flight: AtomicUsize,
    /// Set while plans leave the node out; the first read it gets afterwards is a probe.
    avoided: AtomicBool,
}

/// Counts a read in flight on a node until dropped (a hedged read that lost the race is
/// dropped, and stops counting then).
pub(crate) struct InFlight<'a>(&'a NodeLoad);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl NodeLoad {
    /// Reads in flight on the node now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Starts counting a read.
    pub fn begin(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records how long a read that succeeded took.
    pub fn record(&self, took: Duration) {
        let sample = took.as_micros() as f64;
        let mut latency = self
            .latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if latency.samples == 0 {
            latency.mean_us = sample;
            latency.variance = 0.0;
        } else {
            let delta = sample - latency.mean_us;
            latency.mean_us += ALPHA * delta;
            latency.variance = (1.0 - ALPHA) * (latency.variance + ALPHA * delta * delta);
        }
        latency.samples += 1;
    }

    fn latency(&self) -> Latency {
        *self
            .latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lets a node that is being avoided drift back toward being tried again: its latency
    /// estimate shrinks a little each time a plan leaves it out, so a node that recovered gets
    /// asked again (and measured) before long.
    pub fn decay(&self) {
        let mut latency = self
            .latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        latency.mean_us *= DECAY;
        latency.variance *= DECAY * DECAY;
        self.avoided.store(true, Ordering::Relaxed);
    }

    /// Whether this read is the first the node gets after being avoided (and clears that): a
    /// probe, hedged at once, so that no client waits on a node that was slow until it has
    /// shown it is not any more.
    pub fn take_probe(&self) -> bool {
        self.avoided.swap(false, Ordering::Relaxed)
    }

    /// A probe that another replica beat: the node is not back to speed, and its estimate
    /// doubles (at least twice the time it was given), so it is avoided for a while again
    /// before the next probe.
    pub fn probe_lost(&self, given: Duration) {
        let mut latency = self
            .latency
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        latency.mean_us = (latency.mean_us * 2.0).max(given.as_micros() as f64 * 2.0);
    }

    /// Whether the node has been measured.
    pub fn measured(&self) -> bool {
        self.latency().samples > 0
    }

    /// The replica-choice score: lower is better (0 for a node never measured).
    pub fn score(&self) -> u64 {
        let latency = self.latency();
        let in_flight = self.in_flight.load(Ordering::Relaxed) as f64;
        (latency.mean_us * (1.0 + in_flight)) as u64
    }

    /// About the node's 95th percentile (mean plus two standard deviations), if measured.
    pub fn p95(&self) -> Option<Duration> {
        let latency = self.latency();
        (latency.samples > 0).then(|| {
            Duration::from_micros((latency.mean_us + 2.0 * latency.variance.sqrt()).max(0.0) as u64)
        })
    }

    /// How long to wait for the node before hedging: its 95th percentile, but no longer than
    /// `best` (the fastest node's, see [`hedge_ceiling`]: waiting past the time another replica
    /// would take is pointless), at least [`HEDGE_FLOOR`], at most `ceiling`.
    pub fn hedge_delay(&self, best: Option<Duration>, ceiling: Duration) -> Duration {
        let Some(own) = self.p95() else {
            return HEDGE_UNKNOWN.min(ceiling);
        };
        own.min(best.unwrap_or(own)).max(HEDGE_FLOOR).min(ceiling)
    }
}

/// The lowest 95th percentile among measured nodes: no read waits much longer than the
/// fastest replica would take before it is hedged.
pub(crate) fn hedge_ceiling<'a>(loads: impl Iterator<Item = &'a NodeLoad>) -> Option<Duration> {
    loads.filter_map(NodeLoad::p95).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_delays_follow_latency_and_load() {
        let fast = NodeLoad::default();
        let slow = NodeLoad::default();
        assert_eq!(fast.score(), 0);
        assert_eq!(
            fast.hedge_delay(None, Duration::from_secs(10)),
            HEDGE_UNKNOWN
        );
        for _ in 0..20 {
            fast.record(Duration::from_millis(2));
            slow.record(Duration::from_millis(200));
        }
        assert!(fast.score() < slow.score());
        let busy = fast.begin();
        let twice = fast.score();
        drop(busy);
        assert!(
            twice >= 2 * fast.score() - 1,
            "in-flight reads raise the score"
        );
        let ten = Duration::from_secs(10);
        assert_eq!(
            fast.hedge_delay(None, ten),
            Duration::from_millis(2).max(HEDGE_FLOOR)
        );
        let delay = slow.hedge_delay(None, ten);
        assert!(delay >= Duration::from_millis(190), "{delay:?}");
        assert_eq!(
            slow.hedge_delay(None, Duration::from_millis(50)),
            Duration::from_millis(50)
        );
        let best = hedge_ceiling([&fast, &slow].into_iter());
        assert_eq!(best, Some(Duration::from_millis(2)));
    }

    #[test]
    fn a_slow_node_waits_no_longer_than_the_fastest_replica_takes() {
        let slow = NodeLoad::default();
        for _ in 0..20 {
            slow.record(Duration::from_millis(200));
        }
        let best = Some(Duration::from_millis(5));
        assert_eq!(
            slow.hedge_delay(best, Duration::from_secs(10)),
            Duration::from_millis(5)
        );
        assert!(!slow.take_probe());
        slow.decay();
        assert!(
            slow.take_probe(),
            "the first read after being avoided is a probe"
        );
        assert!(!slow.take_probe());
        let before = slow.score();
        slow.probe_lost(Duration::from_millis(1));
        assert!(
            slow.score() >= 2 * before - 1,
            "a lost probe doubles the estimate"
        );
    }
}
