//! The audit record of a mutating request: who, from where, what, and the status.

use crate::domain::routes::{POST_LOGIN, POST_LOGOUT, Route};
use crate::ops::views::NewAuditLog;
use crate::web::extract::CurrentUser;

/// Routes whose events the login code records itself, with more detail.
const SELF_AUDITED: &[Route] = &[POST_LOGIN, POST_LOGOUT];

pub fn wants_record(pattern: &str) -> bool {
    !SELF_AUDITED.iter().any(|r| r.pattern == pattern)
}

/// The resource type is the first segment of the route pattern (`/images/{id}` →
/// `images`), the id the `{id}` segment when there is one.
pub fn entry(
    user: Option<&CurrentUser>,
    ip: &str,
    method: &str,
    path: &str,
    pattern: &str,
    id: Option<&str>,
    status: u16,
) -> NewAuditLog {
    let resource_type = pattern
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    NewAuditLog {
        user_id: user.map(|u| u.id),
        username: user.map(|u| u.username.clone()).unwrap_or_default(),
        role: user
            .map(|u| u.role.as_str().to_string())
            .unwrap_or_else(|| "anonymous".into()),
        ip: ip.to_string(),
        method: method.to_string(),
        path: path.chars().take(500).collect(),
        action: format!("{method} {pattern}"),
        resource_type: resource_type.to_string(),
        resource_id: id.unwrap_or_default().to_string(),
        status: i32::from(status),
        detail: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_from_pattern() {
        let e = entry(
            None,
            "127.0.0.1",
            "POST",
            "/images/7/listed",
            "/images/{id}/listed",
            Some("7"),
            204,
        );
        assert_eq!(
            (
                e.resource_type.as_str(),
                e.resource_id.as_str(),
                e.role.as_str()
            ),
            ("images", "7", "anonymous")
        );
        assert_eq!(e.action, "POST /images/{id}/listed");
        assert!(!wants_record(POST_LOGIN.pattern) && !wants_record(POST_LOGOUT.pattern));
        assert!(wants_record(crate::domain::routes::POST_IMAGES.pattern));
    }
}
