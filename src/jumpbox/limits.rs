//! How many SSH connections may be open: overall (counted from accept), per user
//! (counted from login), and not logged in yet (from accept to login: overall and per
//! source address; beyond those a connection is closed at once, as OpenSSH's
//! MaxStartups does, so that silent connections cannot keep real users out). A connection beyond the overall limit is told so over SSH
//! (key exchange, then a disconnect message), and at most `MAX_REFUSALS` of those run at
//! once; beyond that a connection is dropped unanswered. A slot frees itself when
//! dropped.

use crate::domain::ids::UserId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Connections being refused (key exchange and a disconnect message) at one time.
const MAX_REFUSALS: usize = 32;

#[derive(Debug)]
pub struct Limits {
    max_total: usize,
    max_per_user: usize,
    /// connections not logged in yet: overall and per source address
    max_pending: usize,
    max_pending_per_ip: usize,
    open: Mutex<Open>,
    /// bytes SFTP uploads in progress hold on disk, and how many they may
    spool_max: u64,
    spool: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_user: HashMap<UserId, usize>,
    refusing: usize,
    pending: usize,
    pending_per_ip: HashMap<IpAddr, usize>,
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
    User(UserId),
    Refusal,
    Pending(IpAddr),
}

impl Limits {
    /// `max_pending` (overall) and `max_pending_per_ip` limit connections that have not
    /// logged in yet (the login grace time ends them; these caps keep a flood of silent
    /// connections from filling `max_total`).
    #[cfg(test)]
    pub fn new(
        max_total: usize,
        max_per_user: usize,
        max_pending: usize,
        max_pending_per_ip: usize,
    ) -> Arc<Self> {
        Self::with_spool(max_total, max_per_user, max_pending, max_pending_per_ip, 0)
    }

    /// `new`, and `spool_max` bytes of SFTP uploads in progress on disk.
    pub fn with_spool(
        max_total: usize,
        max_per_user: usize,
        max_pending: usize,
        max_pending_per_ip: usize,
        spool_max: u64,
    ) -> Arc<Self> {
        Arc::new(Limits {
            max_total,
            max_per_user,
            max_pending,
            max_pending_per_ip,
            open: Mutex::default(),
            spool_max,
            spool: Default::default(),
        })
    }

    /// Takes `n` more bytes of the upload spool; false (nothing taken) beyond `spool_max`.
    pub fn reserve_spool(&self, n: u64) -> bool {
        use std::sync::atomic::Ordering;
        self.spool
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.spool_max)
            })
            .is_ok()
    }

    /// Gives back `n` bytes taken with `reserve_spool`.
    pub fn release_spool(&self, n: u64) {
        use std::sync::atomic::Ordering;
        let _ = self
            .spool
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    /// A connection from `ip` that has not logged in yet, or None when `ip` or everybody
    /// holds as many as allowed. Dropped at login (or with the connection).
    pub fn pending(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open();
        let from_ip = open.pending_per_ip.get(&ip).copied().unwrap_or(0);
        if open.pending >= self.max_pending || from_ip >= self.max_pending_per_ip {
            return None;
        }
        open.pending += 1;
        open.pending_per_ip.insert(ip, from_ip + 1);
        Some(self.slot(Kind::Pending(ip)))
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
    pub fn user(self: &Arc<Self>, user_id: UserId) -> Option<Slot> {
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
            Kind::Pending(ip) => {
                open.pending = open.pending.saturating_sub(1);
                if let Some(n) = open.pending_per_ip.get_mut(&ip) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        open.pending_per_ip.remove(&ip);
                    }
                }
            }
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
        let l = Limits::new(2, 1, 10, 10);
        let a = l.connection().unwrap();
        let b = l.connection().unwrap();
        assert!(l.connection().is_none(), "overall limit");
        drop(a);
        let _c = l.connection().unwrap();
        drop(b);

        let u = l.user(UserId(7)).unwrap();
        assert!(l.user(UserId(7)).is_none(), "per-user limit");
        let _other = l.user(UserId(8)).unwrap();
        drop(u);
        assert!(l.user(UserId(7)).is_some());
        assert_eq!(l.counts(), (1, 1));
    }

    #[test]
    fn connections_not_logged_in_have_caps_per_address_and_overall() {
        let l = Limits::new(100, 1, 3, 2);
        let (a, b, c): (IpAddr, IpAddr, IpAddr) = (
            [127, 0, 0, 1].into(),
            [127, 0, 0, 2].into(),
            [127, 0, 0, 3].into(),
        );
        let a1 = l.pending(a).unwrap();
        let _a2 = l.pending(a).unwrap();
        assert!(l.pending(a).is_none(), "per address");
        let _b1 = l.pending(b).unwrap();
        assert!(l.pending(c).is_none(), "overall");
        drop(a1);
        let _c1 = l.pending(c).unwrap();
        assert!(l.pending(a).is_none(), "the overall cap still holds");
        assert_eq!(
            l.counts(),
            (0, 0),
            "pending slots are apart from connections"
        );
    }

    #[test]
    fn the_upload_spool_has_a_budget() {
        let l = Limits::with_spool(1, 1, 1, 1, 100);
        assert!(l.reserve_spool(60));
        assert!(!l.reserve_spool(41), "beyond the budget nothing is taken");
        assert!(l.reserve_spool(40));
        l.release_spool(60);
        assert!(l.reserve_spool(60));
        assert!(!l.reserve_spool(1));
    }

    #[test]
    fn refusals_have_a_cap_of_their_own() {
        let l = Limits::new(1, 1, 10, 10);
        let _open = l.connection().unwrap();
        let refusing: Vec<Slot> = (0..MAX_REFUSALS).map(|_| l.refusal().unwrap()).collect();
        assert!(l.refusal().is_none(), "refusal cap");
        assert!(l.connection().is_none(), "refusals take no connection slot");
        drop(refusing);
        assert!(l.refusal().is_some());
        assert_eq!(l.counts(), (1, 0));
    }
}
