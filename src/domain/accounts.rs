//! Users and companies (tenants) as the admin edits them.

use serde::Deserialize;

use super::access::{CompanyRule, Role};
use super::auth::check_strength;
use super::fields::{self, FieldErrors};
use super::ids::CompanyId;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserForm {
    pub username: String,
    pub display_name: String,
    pub role: String,
    /// company id, or empty for none
    pub company_id: String,
    /// only on create
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserFields {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub company_id: Option<CompanyId>,
}

impl UserFields {
    /// `password`: Some(..) when creating (the initial password must be strong).
    pub fn parse(f: &UserForm, creating: bool) -> Result<(Self, String), FieldErrors> {
        let mut e = FieldErrors::default();
        let username = e.take("username", username(&f.username));
        let display_name = e.take("display_name", fields::optional(&f.display_name, 64));
        let role = Role::parse(&f.role);
        if role.is_none() {
            e.add("role", "field.bad_role");
        }
        let company_id = match f.company_id.trim() {
            "" => None,
            s => match s.parse::<i64>() {
                Ok(id) if id > 0 => Some(CompanyId(id)),
                _ => {
                    e.add("company_id", "field.bad_company");
                    None
                }
            },
        };
        match role.map(Role::company_rule) {
            Some(CompanyRule::Forbidden) if company_id.is_some() => {
                e.add("company_id", "user.admin_no_company")
            }
            Some(CompanyRule::Required) if company_id.is_none() => {
                e.add("company_id", "user.owner_needs_company")
            }
            _ => {}
        }
        if creating && let Err(key) = check_strength(&f.password) {
            e.add("password", key);
        }
        let role = role.unwrap_or(Role::CustomerMember);
        e.into_result((
            UserFields {
                username,
                display_name,
                role,
                company_id,
            },
            f.password.clone(),
        ))
    }
}

/// 3–32 characters: letters, digits, `_`, `-`, `.`, starting with a letter or digit.
pub fn username(s: &str) -> Result<String, &'static str> {
    let t = fields::required(s, 32)?;
    let ok = t.chars().count() >= 3
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && t.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok { Ok(t) } else { Err("field.bad_username") }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CompanyForm {
    pub name: String,
    pub remark: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompanyFields {
    pub name: String,
    pub remark: String,
}

impl CompanyFields {
    pub fn parse(f: &CompanyForm) -> Result<Self, FieldErrors> {
        let mut e = FieldErrors::default();
        let v = CompanyFields {
            name: e.take("name", fields::required(&f.name, 64)),
            remark: e.take("remark", fields::multiline(&f.remark, 2000)),
        };
        e.into_result(v)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    pub current: String,
    pub new: String,
    pub confirm: String,
}

impl PasswordForm {
    /// Shape checks only; the current password is verified by ops against the hash.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::default();
        if self.current.is_empty() {
            e.add("current", "field.required");
        }
        if let Err(key) = check_strength(&self.new) {
            e.add("new", key);
        } else if self.new == self.current {
            e.add("new", "password.same_as_old");
        }
        if self.confirm != self.new {
            e.add("confirm", "password.mismatch");
        }
        e.into_result(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(role: &str, company: &str) -> UserForm {
        UserForm {
            username: "alice".into(),
            role: role.into(),
            company_id: company.into(),
            password: "Str0ng!pass".into(),
            ..Default::default()
        }
    }

    #[test]
    fn role_and_company_rules() {
        for (why, role, company, ok) in [
            ("admin alone", "admin", "", true),
            ("admin in company", "admin", "3", false),
            ("owner needs company", "customer_owner", "", false),
            ("owner in company", "customer_owner", "3", true),
            ("member alone", "customer_member", "", true),
            ("member in company", "customer_member", "3", true),
            ("unknown role", "root", "", false),
            ("bad company", "customer_member", "x", false),
        ] {
            assert_eq!(
                UserFields::parse(&form(role, company), true).is_ok(),
                ok,
                "{why}"
            );
        }
    }

    #[test]
    fn weak_initial_password_refused_only_on_create() {
        let f = UserForm {
            password: "weak".into(),
            ..form("customer_member", "")
        };
        assert_eq!(
            UserFields::parse(&f, true)
                .expect_err("weak")
                .get("password"),
            Some("password.too_short")
        );
        assert!(UserFields::parse(&f, false).is_ok());
    }

    #[test]
    fn usernames() {
        for (s, ok) in [
            ("al", false),
            ("alice", true),
            ("a.b-c_d", true),
            ("-x1", false),
            ("中文名", false),
            ("a b", false),
        ] {
            assert_eq!(username(s).is_ok(), ok, "{s}");
        }
    }

    #[test]
    fn password_change_form() {
        let f = PasswordForm {
            current: "Old!pass1".into(),
            new: "New!pass2".into(),
            confirm: "New!pass2".into(),
        };
        assert!(f.check().is_ok());
        let e = PasswordForm {
            confirm: "x".into(),
            ..f.clone()
        }
        .check()
        .expect_err("mismatch");
        assert_eq!(e.get("confirm"), Some("password.mismatch"));
        let e = PasswordForm {
            new: f.current.clone(),
            confirm: f.current.clone(),
            ..f
        }
        .check()
        .expect_err("same");
        assert_eq!(e.get("new"), Some("password.same_as_old"));
    }
}
