//! What LXD last said about each container (its config and its state), so that reads
//! (the ZJMF plugin's getinfo, the admin pages) do not each cost LXD two calls: reading a
//! state takes LXD 3–10 ms of CPU, and 20 concurrent getinfo calls that each asked LXD
//! topped out at ~110 calls/s with a p99 of 760 ms on two CPUs.
//!
//! A background task refreshes every container at once every few seconds (`replace_all`);
//! a read that finds nothing young enough asks LXD and stores the answer (`put`). An action
//! that changes a container (start, stop, reinstall, delete) drops its entry (`forget`),
//! and a refresh that started before that drop does not bring the old view back.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Instance, InstanceState};

/// Entries older than this are not served (the refresh runs every 5 s).
pub const MAX_AGE: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Cache(Mutex<Inner>);

#[derive(Debug, Default)]
struct Inner {
    seen: HashMap<String, Entry>,
    /// when an entry was last dropped by an action
    forgotten: HashMap<String, Instant>,
}

#[derive(Clone, Debug)]
struct Entry {
    /// when the request that read it was sent
    asked: Instant,
    inst: Instance,
    live: InstanceState,
}

impl Cache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The container's view if it was read less than `MAX_AGE` before `now`.
    pub fn fresh(&self, name: &str, now: Instant) -> Option<(Instance, InstanceState)> {
        let inner = self.inner();
        let e = inner.seen.get(name)?;
        (now.saturating_duration_since(e.asked) < MAX_AGE).then(|| (e.inst.clone(), e.live.clone()))
    }

    /// One container's view, read from a request sent at `asked`.
    pub fn put(&self, inst: Instance, live: InstanceState, asked: Instant) {
        let mut inner = self.inner();
        if inner.forgotten.get(&inst.name).is_some_and(|t| *t > asked) {
            return;
        }
        inner
            .seen
            .insert(inst.name.clone(), Entry { asked, inst, live });
    }

    /// Every container, from one list request sent at `asked`: containers missing from it
    /// are gone.
    pub fn replace_all(&self, list: Vec<(Instance, InstanceState)>, asked: Instant) {
        let mut inner = self.inner();
        let mut seen = HashMap::with_capacity(list.len());
        for (inst, live) in list {
            let dropped_since = inner.forgotten.get(&inst.name).is_some_and(|t| *t > asked);
            // an entry put by a read sent after this list request is newer: keep it
            let newer = inner.seen.remove(&inst.name).filter(|e| e.asked > asked);
            if let Some(e) = newer {
                seen.insert(inst.name.clone(), e);
            } else if !dropped_since {
                seen.insert(inst.name.clone(), Entry { asked, inst, live });
            }
        }
        inner.seen = seen;
        inner.forgotten.retain(|_, t| *t > asked);
    }

    /// Drops the container's view: it changed (or is gone).
    pub fn forget(&self, name: &str) {
        let mut inner = self.inner();
        inner.seen.remove(name);
        inner.forgotten.insert(name.to_string(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::zjmf::power::PowerState;

    fn view(name: &str, status: &str) -> (Instance, InstanceState) {
        let inst = Instance {
            name: name.into(),
            status: PowerState::parse(status),
            ..Default::default()
        };
        let live = InstanceState {
            status: PowerState::parse(status),
            ..Default::default()
        };
        (inst, live)
    }

    fn status(c: &Cache, name: &str) -> Option<PowerState> {
        c.fresh(name, Instant::now()).map(|(i, _)| i.status)
    }

    #[test]
    fn entries_are_served_until_they_are_too_old() {
        let c = Cache::default();
        let t0 = Instant::now();
        let (inst, live) = view("vm1", "Running");
        c.put(inst, live, t0);
        assert_eq!(
            c.fresh("vm1", t0 + Duration::from_secs(9))
                .unwrap()
                .0
                .status,
            PowerState::Running
        );
        assert!(c.fresh("vm1", t0 + MAX_AGE).is_none());
        assert!(c.fresh("vm2", t0).is_none());
    }

    #[test]
    fn a_refresh_asked_before_an_action_does_not_bring_the_old_view_back() {
        let c = Cache::default();
        let asked = Instant::now();
        c.forget("vm1"); // stopped after the list request was sent
        c.replace_all(vec![view("vm1", "Running"), view("vm2", "Running")], asked);
        assert_eq!(status(&c, "vm1"), None);
        assert_eq!(status(&c, "vm2"), Some(PowerState::Running));
        let (inst, live) = view("vm1", "Running");
        c.put(inst, live, asked);
        assert_eq!(
            status(&c, "vm1"),
            None,
            "a read sent before the action is old too"
        );
        // a later refresh is believed again
        c.replace_all(vec![view("vm1", "Stopped")], Instant::now());
        assert_eq!(status(&c, "vm1"), Some(PowerState::Stopped));
    }

    #[test]
    fn a_refresh_keeps_newer_reads_and_drops_containers_that_are_gone() {
        let c = Cache::default();
        let asked = Instant::now();
        let (inst, live) = view("vm1", "Stopped");
        c.put(inst, live, asked + Duration::from_millis(5));
        c.replace_all(vec![view("vm1", "Running")], asked);
        assert_eq!(
            status(&c, "vm1"),
            Some(PowerState::Stopped),
            "the newer read wins"
        );
        let (inst, live) = view("vm2", "Running");
        c.put(inst, live, asked);
        c.replace_all(vec![view("vm1", "Stopped")], Instant::now());
        assert_eq!(status(&c, "vm2"), None, "gone from LXD");
    }
}
