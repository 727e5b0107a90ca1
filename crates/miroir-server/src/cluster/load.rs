//! What reads observe of each node: an exponentially weighted mean and variance of its read
//! latency, and its reads in flight. They drive adaptive replica choice (in the spirit of
//! Elasticsearch's adaptive replica selection: a node scoring far worse than the best is left
//! out of a plan when other replicas cover its shards, and among replicas equally useful to a
//! plan the one with the lowest `latency × (1 + in flight)` is asked) and hedging (a read that
//! has not answered within about the node's 95th percentile is also sent to another replica).

use std::sync::atomic::{AtomicUsize, Ordering};
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
pub(crate) const HEDGE_FLOOR: Duration = Duration::from_millis(10);
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

    /// How long to wait for the node before hedging: about its 95th percentile (mean plus two
    /// standard deviations), at least [`HEDGE_FLOOR`], at most `ceiling`.
    pub fn hedge_delay(&self, ceiling: Duration) -> Duration {
        let latency = self.latency();
        if latency.samples == 0 {
            return HEDGE_UNKNOWN.min(ceiling);
        }
        let p95_us = latency.mean_us + 2.0 * latency.variance.sqrt();
        Duration::from_micros(p95_us.max(0.0) as u64)
            .max(HEDGE_FLOOR)
            .min(ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_delays_follow_latency_and_load() {
        let fast = NodeLoad::default();
        let slow = NodeLoad::default();
        assert_eq!(fast.score(), 0);
        assert_eq!(fast.hedge_delay(Duration::from_secs(10)), HEDGE_UNKNOWN);
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
        assert_eq!(fast.hedge_delay(Duration::from_secs(10)), HEDGE_FLOOR);
        let delay = slow.hedge_delay(Duration::from_secs(10));
        assert!(delay >= Duration::from_millis(190), "{delay:?}");
        assert_eq!(
            slow.hedge_delay(Duration::from_millis(50)),
            Duration::from_millis(50)
        );
    }
}
