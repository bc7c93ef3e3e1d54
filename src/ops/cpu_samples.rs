//! What the LXD sampler saw of each running container's CPU time: the last two samples,
//! so that getinfo answers CPU use at once.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::domain::zjmf::usage;

/// CPU time samples of running containers, taken by `zjmf::sample` so that getinfo can
/// answer CPU use at once (the Flask backend slept a second per call).
#[derive(Debug, Default)]
pub struct CpuSamples(Mutex<HashMap<String, Pair>>);

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    cpu_ns: i64,
}

#[derive(Clone, Copy, Debug)]
struct Pair {
    prev: Option<Sample>,
    last: Sample,
}

impl CpuSamples {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pair>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn record(&self, name: &str, cpu_ns: i64, at: Instant) {
        let mut map = self.map();
        let sample = Sample { at, cpu_ns };
        let pair = match map.get(name) {
            Some(p) => Pair {
                prev: Some(p.last),
                last: sample,
            },
            None => Pair {
                prev: None,
                last: sample,
            },
        };
        map.insert(name.to_string(), pair);
    }

    /// Forgets containers that are gone or stopped.
    pub(super) fn keep_only(&self, names: &[String]) {
        self.map().retain(|k, _| names.contains(k));
    }

    /// CPU use between the last two samples, in percent of `cores`.
    pub fn percent(&self, name: &str, cores: u64) -> f64 {
        let Some(Pair {
            prev: Some(prev),
            last,
        }) = self.map().get(name).copied()
        else {
            return 0.0;
        };
        let elapsed = i64::try_from(last.at.duration_since(prev.at).as_nanos()).unwrap_or(i64::MAX);
        usage::cpu_percent(prev.cpu_ns, last.cpu_ns, elapsed, cores)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn cpu_use_needs_two_samples() {
        let s = CpuSamples::default();
        let t0 = Instant::now();
        s.record("vm1", 0, t0);
        assert_eq!(s.percent("vm1", 1), 0.0);
        s.record("vm1", 500_000_000, t0 + Duration::from_secs(1));
        assert_eq!(s.percent("vm1", 1), 50.0);
        s.keep_only(&[]);
        assert_eq!(s.percent("vm1", 1), 0.0);
    }
}
