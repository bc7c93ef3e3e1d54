//! How many SSH connections may be open: overall (counted from accept) and per user
//! (counted from login). A connection beyond the overall limit is told so over SSH
//! (key exchange, then a disconnect message), and at most `MAX_REFUSALS` of those run at
//! once; beyond that a connection is dropped unanswered. A slot frees itself when
//! dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Connections being refused (key exchange and a disconnect message) at one time.
const MAX_REFUSALS: usize = 32;

#[derive(Debug)]
pub struct Limits {
    max_total: usize,
    max_per_user: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_user: HashMap<i64, usize>,
    refusing: usize,
}

/// One connection, one logged-in user's connection, or one connection being refused.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<Limits>,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Connection,
    User(i64),
    Refusal,
}

impl Limits {
    pub fn new(max_total: usize, max_per_user: usize) -> Arc<Self> {
        Arc::new(Limits {
            max_total,
            max_per_user,
            open: Mutex::default(),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        // the counters stay consistent even if a holder panicked
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection, or None when `max_total` are open.
    pub fn connection(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.open();
        if open.total >= self.max_total {
            return None;
        }
        open.total += 1;
        Some(self.slot(Kind::Connection))
    }

    /// A connection beyond `max_total` that will be told so, or None when
    /// `MAX_REFUSALS` are being told already.
    pub fn refusal(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.open();
        if open.refusing >= MAX_REFUSALS {
            return None;
        }
        open.refusing += 1;
        Some(self.slot(Kind::Refusal))
    }

    fn slot(self: &Arc<Self>, kind: Kind) -> Slot {
        Slot {
            limits: Arc::clone(self),
            kind,
        }
    }

    /// The user's next connection, or None when they hold `max_per_user`.
    pub fn user(self: &Arc<Self>, user_id: i64) -> Option<Slot> {
        let mut open = self.open();
        let n = open.per_user.entry(user_id).or_default();
        if *n >= self.max_per_user {
            return None;
        }
        *n += 1;
        Some(self.slot(Kind::User(user_id)))
    }

    pub fn max_total(&self) -> usize {
        self.max_total
    }

    pub fn max_per_user(&self) -> usize {
        self.max_per_user
    }

    /// (connections, logged-in users)
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        let open = self.open();
        (open.total, open.per_user.len())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limits.open();
        match self.kind {
            Kind::Connection => open.total = open.total.saturating_sub(1),
            Kind::Refusal => open.refusing = open.refusing.saturating_sub(1),
            Kind::User(u) => {
                if let Some(n) = open.per_user.get_mut(&u) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        open.per_user.remove(&u);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back() {
        let l = Limits::new(2, 1);
        let a = l.connection().unwrap();
        let b = l.connection().unwrap();
        assert!(l.connection().is_none(), "overall limit");
        drop(a);
        let _c = l.connection().unwrap();
        drop(b);

        let u = l.user(7).unwrap();
        assert!(l.user(7).is_none(), "per-user limit");
        let _other = l.user(8).unwrap();
        drop(u);
        assert!(l.user(7).is_some());
        assert_eq!(l.counts(), (1, 1));
    }

    #[test]
    fn refusals_have_a_cap_of_their_own() {
        let l = Limits::new(1, 1);
        let _open = l.connection().unwrap();
        let refusing: Vec<Slot> = (0..MAX_REFUSALS).map(|_| l.refusal().unwrap()).collect();
        assert!(l.refusal().is_none(), "refusal cap");
        assert!(l.connection().is_none(), "refusals take no connection slot");
        drop(refusing);
        assert!(l.refusal().is_some());
        assert_eq!(l.counts(), (1, 0));
    }
}
