//! Tenants (租户) on the Docker nodes: whose instance is whose, the bridge network each
//! tenant's containers share on a node, and how a container is moved onto it. Pure: the
//! adapter in docker/network.rs and ops/tenancy.rs apply these decisions.

use super::ids::{CompanyId, UserId};

/// A tenant: a company, or a member without a company (a tenant of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tenant {
    Company(CompanyId),
    User(UserId),
}

impl Tenant {
    /// The tenant an instance belongs to: its company when it has one, else its owner.
    pub fn of(owner_id: UserId, company_id: Option<CompanyId>) -> Tenant {
        company_id.map_or(Tenant::User(owner_id), Tenant::Company)
    }

    /// The short key in network names and the `suanli.tenant` label: `c12`, `u34`
    /// (the letter keeps company 12 and user 12 apart).
    pub fn key(self) -> String {
        match self {
            Tenant::Company(id) => format!("c{id}"),
            Tenant::User(id) => format!("u{id}"),
        }
    }

    /// The tenant's bridge network on every node: `<prefix><key>`.
    pub fn network_name(self, prefix: &str) -> String {
        format!("{prefix}{}", self.key())
    }
}

/// A network prefix Docker accepts as the start of a name: 1..=40 ASCII letters, digits,
/// `_`, `.` or `-`, beginning with a letter or digit.
pub fn is_network_prefix(prefix: &str) -> bool {
    (1..=40).contains(&prefix.len())
        && prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A network as the engine lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSeen {
    pub id: String,
    pub name: String,
    /// creation time as the engine reports it (RFC 3339, comparable as text within one
    /// engine)
    pub created: String,
    /// the value of its `suanli.tenant` label, if any
    pub tenant_label: Option<String>,
}

/// What to do with the networks named `name` that the engine lists for a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkChoice {
    /// none yet: create it
    Create,
    /// use this id; the others of that name are duplicates to remove (an engine before
    /// API 1.44 can create two networks of one name when two creates race)
    Use { id: String, duplicates: Vec<String> },
    /// a network of that name exists but is not labelled as this tenant's: never join
    /// someone else's network
    Foreign,
}

/// Picks the tenant's network among `seen`: exact name matches only (the engine's name
/// filter matches substrings), all labelled with `key`; the oldest wins (then the
/// smallest id), so every racer picks the same one.
pub fn choose_network(seen: &[NetworkSeen], name: &str, key: &str) -> NetworkChoice {
    let mut mine: Vec<&NetworkSeen> = seen.iter().filter(|n| n.name == name).collect();
    if mine.is_empty() {
        return NetworkChoice::Create;
    }
    if mine.iter().any(|n| n.tenant_label.as_deref() != Some(key)) {
        return NetworkChoice::Foreign;
    }
    mine.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
    let id = mine[0].id.clone();
    let duplicates = mine[1..].iter().map(|n| n.id.clone()).collect();
    NetworkChoice::Use { id, duplicates }
}

/// How to move a container whose networks are `current` (network ids) onto `want`
/// only: connect first (a container never has no network at all), then disconnect every
/// other one, the default bridge included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Move {
    pub connect: bool,
    pub disconnect: Vec<String>,
}

impl Move {
    pub fn is_needed(&self) -> bool {
        self.connect || !self.disconnect.is_empty()
    }
}

pub fn plan_move(current: &[String], want: &str) -> Move {
    Move {
        connect: !current.iter().any(|c| c == want),
        disconnect: current.iter().filter(|c| *c != want).cloned().collect(),
    }
}

/// Is a container whose networks are named `names` exactly on the tenant's network
/// `want` (and nothing else)? The status worker's cheap check on every listing.
pub fn is_placed(names: &[String], want: &str) -> bool {
    names.len() == 1 && names[0] == want
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(id: &str, name: &str, created: &str, label: Option<&str>) -> NetworkSeen {
        NetworkSeen {
            id: id.into(),
            name: name.into(),
            created: created.into(),
            tenant_label: label.map(Into::into),
        }
    }

    #[test]
    fn the_tenant_is_the_company_else_the_owner() {
        assert_eq!(
            Tenant::of(UserId(34), Some(CompanyId(12))),
            Tenant::Company(CompanyId(12))
        );
        assert_eq!(Tenant::of(UserId(34), None), Tenant::User(UserId(34)));
        for (why, t, name) in [
            (
                "company",
                Tenant::Company(CompanyId(12)),
                "suanli-tenant-c12",
            ),
            (
                "member alone",
                Tenant::User(UserId(34)),
                "suanli-tenant-u34",
            ),
            ("same number", Tenant::User(UserId(12)), "suanli-tenant-u12"),
        ] {
            assert_eq!(t.network_name("suanli-tenant-"), name, "{why}");
        }
    }

    #[test]
    fn prefixes_docker_accepts() {
        for (p, ok) in [
            ("suanli-tenant-", true),
            ("t1.x_", true),
            ("", false),
            ("-lead", false),
            ("has space", false),
            ("a/b", false),
            (&"x".repeat(41), false),
        ] {
            assert_eq!(is_network_prefix(p), ok, "{p:?}");
        }
    }

    #[test]
    fn the_oldest_labelled_network_of_the_exact_name_wins() {
        let name = "suanli-tenant-c1";
        assert_eq!(choose_network(&[], name, "c1"), NetworkChoice::Create);
        // the engine's filter also returns "suanli-tenant-c12" for "suanli-tenant-c1"
        let other = seen("zz", "suanli-tenant-c12", "2026-01-01", Some("c12"));
        assert_eq!(
            choose_network(std::slice::from_ref(&other), name, "c1"),
            NetworkChoice::Create
        );
        let list = [
            other,
            seen("bb", name, "2026-01-02", Some("c1")),
            seen("cc", name, "2026-01-01", Some("c1")),
            seen("aa", name, "2026-01-02", Some("c1")),
        ];
        assert_eq!(
            choose_network(&list, name, "c1"),
            NetworkChoice::Use {
                id: "cc".into(),
                duplicates: vec!["aa".into(), "bb".into()]
            }
        );
        for label in [None, Some("u1")] {
            let squatted = [seen("dd", name, "2026-01-01", label)];
            assert_eq!(
                choose_network(&squatted, name, "c1"),
                NetworkChoice::Foreign,
                "{label:?}"
            );
        }
    }

    #[test]
    fn moves_connect_first_and_leave_only_the_tenant_network() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        for (why, current, connect, disconnect) in [
            (
                "on the default bridge",
                s(&["bridge-id"]),
                true,
                s(&["bridge-id"]),
            ),
            ("already placed", s(&["net"]), false, s(&[])),
            (
                "on both",
                s(&["bridge-id", "net"]),
                false,
                s(&["bridge-id"]),
            ),
            ("on none", s(&[]), true, s(&[])),
        ] {
            let m = plan_move(&current, "net");
            assert_eq!(
                (m.connect, m.disconnect.clone()),
                (connect, disconnect),
                "{why}"
            );
            assert_eq!(m.is_needed(), current != s(&["net"]), "{why}");
        }
        assert!(is_placed(&s(&["t-c1"]), "t-c1"));
        assert!(!is_placed(&s(&["bridge"]), "t-c1"));
        assert!(!is_placed(&s(&["t-c1", "bridge"]), "t-c1"));
    }
}
