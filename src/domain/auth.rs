//! Password and lockout rules shared by every door (web login, SSH jumpbox later).

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

#[derive(Clone, Copy, Debug)]
pub struct LockoutPolicy {
    /// consecutive failures that lock the account
    pub threshold: i32,
    pub window: Duration,
}

/// What a failed attempt does to the account's counters.
#[derive(Debug, PartialEq, Eq)]
pub struct AfterFailure {
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl LockoutPolicy {
    pub fn is_locked(&self, locked_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        locked_until.is_some_and(|t| t > now)
    }

    /// The `threshold`-th consecutive failure locks until now + window and resets the
    /// counter, so the account gets a full `threshold` attempts after the window.
    pub fn after_failure(&self, failed_before: i32, now: DateTime<Utc>) -> AfterFailure {
        let failed = failed_before.saturating_add(1);
        if failed >= self.threshold {
            AfterFailure {
                failed_logins: 0,
                locked_until: Some(now + self.window),
            }
        } else {
            AfterFailure {
                failed_logins: failed,
                locked_until: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn lockout_after_threshold() {
        let p = LockoutPolicy {
            threshold: 5,
            window: Duration::minutes(15),
        };
        let now = Utc::now();
        assert_eq!(
            p.after_failure(3, now),
            AfterFailure {
                failed_logins: 4,
                locked_until: None
            }
        );
        let locked = p.after_failure(4, now);
        assert_eq!(locked.failed_logins, 0);
        assert_eq!(locked.locked_until, Some(now + Duration::minutes(15)));
        assert!(p.is_locked(locked.locked_until, now + Duration::minutes(14)));
        assert!(!p.is_locked(locked.locked_until, now + Duration::minutes(15)));
        assert!(!p.is_locked(None, now));
    }
}
