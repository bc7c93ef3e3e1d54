//! Password and lockout rules shared by every door (the web login and the SSH jumpbox).

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// Password strength: at least 8 characters and at least 3 of the 4 classes
/// lower-case, upper-case, digit, symbol. Returns the i18n key of the complaint.
pub fn check_strength(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 8 {
        return Err("password.too_short");
    }
    if password.len() > 128 {
        return Err("password.too_long");
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return Err("password.too_weak");
    }
    Ok(())
}

/// A login session still holds: the user is not disabled, their session epoch has not
/// moved since the login (password changed or reset, user disabled), and the login is
/// younger than `max_age_secs`. The one rule for pages, sockets and later doors.
pub fn session_holds(
    disabled: bool,
    user_epoch: i32,
    login_epoch: i32,
    login_at: i64,
    now: i64,
    max_age_secs: i64,
) -> bool {
    !disabled && user_epoch == login_epoch && now - login_at < max_age_secs
}

/// The answer to claiming one password check of an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// counted: check the password
    Claimed,
    /// the threshold's worth of checks are running right now: wait for one to end
    Busy,
    /// locked: check no password
    Locked,
}

/// How many failed logins in a row lock an account, and for how long. The count and
/// the lock live in the users row and change in single statements (db/users.rs), so that
/// parallel attempts on any door cannot check more than `threshold` passwords.
#[derive(Clone, Copy, Debug)]
pub struct LockoutPolicy {
    pub threshold: i32,
    pub window: Duration,
}

/// The whole minutes (rounded up) an account stays locked, or None when it is not.
pub fn lock_minutes_left(locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<i64> {
    let left = locked_until? - now;
    (left > Duration::zero()).then(|| (left.num_seconds() + 59) / 60)
}

/// The failed logins of one source address within a sliding window. An attempt is
/// counted when it starts, before its password is checked, so that parallel attempts
/// cannot overshoot the limit; a successful one is forgotten again. Times are
/// milliseconds on any monotonic scale.
#[derive(Debug, Default)]
pub struct FailureWindow {
    starts: VecDeque<i64>,
    /// the last claim was refused (so only the first refusal of a run is reported)
    refusing: bool,
}

/// A refused claim: wait this many seconds; `first` for the first refusal of a run.
#[derive(Debug, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: u64,
    pub first: bool,
}

impl FailureWindow {
    /// Counts an attempt starting at `now`, unless `max` are counted within the last
    /// `window_ms`: then the whole seconds until the oldest of them expires (at least 1).
    pub fn claim(&mut self, now: i64, max: usize, window_ms: i64) -> Result<(), Throttled> {
        if let Some(retry_after_secs) = self.retry_after(now, max, window_ms) {
            let first = !self.refusing;
            self.refusing = true;
            return Err(Throttled {
                retry_after_secs,
                first,
            });
        }
        self.refusing = false;
        self.starts.push_back(now);
        Ok(())
    }

    /// The whole seconds (at least 1) until an attempt could be claimed again, or None
    /// when one can be now.
    pub fn retry_after(&mut self, now: i64, max: usize, window_ms: i64) -> Option<u64> {
        self.expire(now, window_ms);
        if self.starts.len() < max {
            return None;
        }
        let oldest = self.starts.front().copied().unwrap_or(now);
        let wait_ms = (oldest + window_ms - now).max(0);
        Some(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1))
    }

    /// Forgets the attempt claimed at `at` (it succeeded).
    pub fn release(&mut self, at: i64) {
        if let Some(i) = self.starts.iter().position(|t| *t == at) {
            self.starts.remove(i);
        }
    }

    /// Nothing counted any more at `now`: the window can be dropped.
    pub fn is_idle(&mut self, now: i64, window_ms: i64) -> bool {
        self.expire(now, window_ms);
        self.starts.is_empty()
    }

    fn expire(&mut self, now: i64, window_ms: i64) {
        while self.starts.front().is_some_and(|t| *t <= now - window_ms) {
            self.starts.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_window_counts_starts_and_forgets_successes() {
        let mut w = FailureWindow::default();
        for t in [0, 10, 20] {
            assert_eq!(w.claim(t, 3, 60_000), Ok(()));
        }
        // full: the oldest expires at 60 000 ms, 59.97 s from now → 60 s
        let refused = |secs, first| {
            Err(Throttled {
                retry_after_secs: secs,
                first,
            })
        };
        assert_eq!(w.claim(30, 3, 60_000), refused(60, true));
        assert_eq!(w.claim(31, 3, 60_000), refused(60, false));
        assert_eq!(w.retry_after(31, 3, 60_000), Some(60));
        assert_eq!(w.retry_after(31, 4, 60_000), None);
        // a success frees its place
        w.release(10);
        assert_eq!(w.claim(40, 3, 60_000), Ok(()));
        assert_eq!(w.claim(59_500, 3, 60_000), refused(1, true));
        // the oldest (0) expires at 60 000
        assert_eq!(w.claim(60_000, 3, 60_000), Ok(()));
        assert!(!w.is_idle(60_000, 60_000));
        assert!(w.is_idle(200_000, 60_000));
        // releasing an unknown start changes nothing
        w.release(12345);
        assert!(w.is_idle(200_000, 60_000));
    }

    #[test]
    fn sessions_end_on_disable_epoch_change_or_age() {
        assert!(session_holds(false, 3, 3, 1000, 1500, 3600));
        assert!(!session_holds(true, 3, 3, 1000, 1500, 3600));
        assert!(!session_holds(false, 4, 3, 1000, 1500, 3600));
        assert!(!session_holds(false, 3, 3, 1000, 4600, 3600));
    }

    #[test]
    fn strength_table() {
        for (why, pw, ok) in [
            ("short", "Ab1!", false),
            ("7 chars", "Abcde1!", false),
            ("lower only", "abcdefghij", false),
            ("lower+digit", "abcdefgh12", false),
            ("lower+upper+digit", "Abcdefgh12", true),
            ("lower+digit+symbol", "abcdefg1!", true),
            ("upper+digit+symbol", "ABCDEFG1!", true),
            ("chinese counts as symbol-ish", "密码abc123X", true),
        ] {
            assert_eq!(check_strength(pw).is_ok(), ok, "{why}");
        }
        assert_eq!(check_strength(&"Aa1!".repeat(40)), Err("password.too_long"));
    }

    #[test]
    fn minutes_left_of_a_lock() {
        let now = Utc::now();
        assert_eq!(lock_minutes_left(None, now), None);
        assert_eq!(
            lock_minutes_left(Some(now - Duration::seconds(1)), now),
            None
        );
        assert_eq!(lock_minutes_left(Some(now), now), None);
        assert_eq!(
            lock_minutes_left(Some(now + Duration::seconds(1)), now),
            Some(1)
        );
        assert_eq!(
            lock_minutes_left(Some(now + Duration::minutes(15)), now),
            Some(15)
        );
        assert_eq!(
            lock_minutes_left(Some(now + Duration::seconds(61)), now),
            Some(2)
        );
    }
}
