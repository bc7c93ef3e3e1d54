//! Roles and who may see what. `Scope` turns an actor into the row filter that
//! db/ applies in SQL (never load-then-filter).

use std::fmt;

use super::ids::{CompanyId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    CustomerOwner,
    CustomerMember,
}

/// The pseudo role of a request without a logged-in user, as stored in api_permissions.
pub const ANONYMOUS: &str = "anonymous";

/// The pseudo role of the ZJMF plugin's /api/ calls (authenticated by an apikey token).
pub const API_KEY_ROLE: &str = "zjmf";

/// Every role label an api_permissions record may carry, in display order.
pub const ROLE_LABELS: [&str; 5] = [
    ANONYMOUS,
    "customer_member",
    "customer_owner",
    "admin",
    API_KEY_ROLE,
];

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::CustomerOwner, Role::CustomerMember];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CustomerOwner => "customer_owner",
            Role::CustomerMember => "customer_member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Admins belong to no company; owners must belong to one; members may.
    pub fn company_rule(self) -> CompanyRule {
        match self {
            Role::Admin => CompanyRule::Forbidden,
            Role::CustomerOwner => CompanyRule::Required,
            Role::CustomerMember => CompanyRule::Optional,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompanyRule {
    Forbidden,
    Required,
    Optional,
}

/// The logged-in user as far as the rules are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
    pub company_id: Option<CompanyId>,
}

/// Which rows an actor may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    All,
    Company(CompanyId),
    Owner(UserId),
}

/// Admins see everything, owners their company, members (and owners without a
/// company, which the schema forbids) only their own rows.
pub fn scope(actor: &Actor) -> Scope {
    match (actor.role, actor.company_id) {
        (Role::Admin, _) => Scope::All,
        (Role::CustomerOwner, Some(c)) => Scope::Company(c),
        _ => Scope::Owner(actor.user_id),
    }
}

/// May a request carrying `role` (None = anonymous) call a route allowing `allowed`?
pub fn route_allows(allowed: &[String], role: Option<Role>) -> bool {
    // SECURITY: default deny; "anonymous" opens a route to everybody.
    allowed
        .iter()
        .any(|a| a == ANONYMOUS || Some(a.as_str()) == role.map(Role::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let a = |role, company_id| Actor {
            user_id: UserId(7),
            role,
            company_id,
        };
        for (why, actor, want) in [
            ("admin", a(Role::Admin, None), Scope::All),
            (
                "owner",
                a(Role::CustomerOwner, Some(CompanyId(3))),
                Scope::Company(CompanyId(3)),
            ),
            (
                "member in company",
                a(Role::CustomerMember, Some(CompanyId(3))),
                Scope::Owner(UserId(7)),
            ),
            (
                "member alone",
                a(Role::CustomerMember, None),
                Scope::Owner(UserId(7)),
            ),
        ] {
            assert_eq!(scope(&actor), want, "{why}");
        }
    }

    #[test]
    fn route_rules() {
        let roles = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (why, allowed, role, ok) in [
            ("empty denies", roles(&[]), Some(Role::Admin), false),
            (
                "admin only, admin",
                roles(&["admin"]),
                Some(Role::Admin),
                true,
            ),
            (
                "admin only, member",
                roles(&["admin"]),
                Some(Role::CustomerMember),
                false,
            ),
            ("admin only, anonymous", roles(&["admin"]), None, false),
            ("public, anonymous", roles(&["anonymous"]), None, true),
            (
                "public, owner",
                roles(&["anonymous"]),
                Some(Role::CustomerOwner),
                true,
            ),
        ] {
            assert_eq!(route_allows(&allowed, role), ok, "{why}");
        }
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert!(ROLE_LABELS.contains(&r.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
