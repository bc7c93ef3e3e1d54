//! How the audit log reads (issue 17): the door an event came through (网页, SSH, API),
//! and its role, action and detail in the UI's language. Rows keep what was written
//! (codes and machine phrases) and only what is shown is translated, so rows written
//! before this read the same way. Must not: decide what is recorded (ops/audit.rs,
//! web/middleware/audit.rs) or touch the table.

use crate::domain::routes::{self, API_SCOPE};
use crate::i18n::{self, Lang};

/// The door an audited event came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// the browser: pages and their forms, the web terminal
    Web,
    /// the SSH jumpbox
    Ssh,
    /// the ZJMF plugin's /api/
    Api,
}

impl Door {
    /// In the order the filter lists them.
    pub const ALL: [Door; 3] = [Door::Web, Door::Ssh, Door::Api];

    /// The door of a row, from what the row records. The events the ops record name
    /// their door in `method` (`WEB`, `SSH`, `API`: ops/audit.rs `Origin::event`); the
    /// requests the gate records carry their HTTP method, and paths under /api/ are the
    /// ZJMF plugin's.
    pub fn of(method: &str, path: &str) -> Door {
        let under_api = path
            .strip_prefix(API_SCOPE)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        match method {
            // the jumpbox's sftp and tunnel channels (Origin::through) are its door too
            "SSH" | "SFTP" | "TUNNEL" => Door::Ssh,
            "API" => Door::Api,
            _ if under_api => Door::Api,
            _ => Door::Web,
        }
    }

    /// As the `door` column and the filter's query string spell it.
    pub fn code(self) -> &'static str {
        match self {
            Door::Web => "web",
            Door::Ssh => "ssh",
            Door::Api => "api",
        }
    }

    pub fn parse(code: &str) -> Option<Door> {
        Door::ALL.into_iter().find(|d| d.code() == code)
    }

    /// The i18n key of its name (网页, SSH, API).
    pub fn label_key(self) -> &'static str {
        match self {
            Door::Web => "audit.door_web",
            Door::Ssh => "audit.door_ssh",
            Door::Api => "audit.door_api",
        }
    }
}

/// The role as the UI names it (`role.*`); one the catalogue does not know as written,
/// none (a login under a name no account has) as "—".
pub fn role(lang: Lang, role: &str) -> String {
    if role.is_empty() {
        return "—".into();
    }
    i18n::lookup(lang, &format!("role.{role}"))
        .unwrap_or(role)
        .to_string()
}

/// The action in words: a request's `METHOD /pattern` reads as its route's description
/// (`route.*`, shared with the permissions page), an event's code (`login_failed`) as
/// `audit_action.*`. None when the catalogue has neither: the page shows the code.
pub fn action(lang: Lang, action: &str) -> Option<&'static str> {
    let key = match action.split_once(' ') {
        Some((method, pattern)) => routes::description_key(method, pattern),
        None => format!("audit_action.{action}"),
    };
    i18n::lookup(lang, &key)
}

/// The fixed details the login code writes (ops/accounts.rs), with their keys.
const PHRASES: &[(&str, &str)] = &[
    ("unknown user", "audit_detail.unknown_user"),
    ("bad password", "audit_detail.bad_password"),
    ("account locked", "audit_detail.account_locked"),
    ("account disabled", "audit_detail.account_disabled"),
    ("too many failures", "audit_detail.too_many_failures"),
    (
        "too many failures from this address",
        "audit_detail.too_many_from_address",
    ),
];

/// A detail in words. The ops write machine phrases: the login outcomes above, a
/// terminal's start and end (ops/sessions.rs), instances moved with their user
/// (ops/accounts.rs), a ZJMF create or reinstall and the plugin's refusals
/// (ops/zjmf.rs, `Refusal::audit_detail`); anything else (port rules, refusals written
/// in Chinese before they were kept as keys) is shown as written.
pub fn detail(lang: Lang, raw: &str) -> String {
    if let Some((_, key)) = PHRASES.iter().find(|(phrase, _)| *phrase == raw) {
        return i18n::t(lang, key).to_string();
    }
    refusal(lang, raw)
        .or_else(|| session_ended(lang, raw))
        .or_else(|| session_started(lang, raw))
        .or_else(|| instances_moved(lang, raw))
        .or_else(|| container_made(lang, raw))
        .unwrap_or_else(|| raw.to_string())
}

/// `{"args":{"field":"hostname"},"refusal":"lxdapi.invalid"}` (a refused plugin call).
fn refusal(lang: Lang, raw: &str) -> Option<String> {
    if !raw.starts_with('{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let key = v["refusal"].as_str().filter(|k| k.starts_with("lxdapi."))?;
    i18n::lookup(lang, key)?;
    let args: Vec<(&str, &str)> = v["args"]
        .as_object()?
        .iter()
        .filter_map(|(n, v)| Some((n.as_str(), v.as_str()?)))
        .collect();
    Some(i18n::tf(lang, key, &args))
}

/// `session 7` (a terminal opened).
fn session_started(lang: Lang, raw: &str) -> Option<String> {
    let id = raw.strip_prefix("session ").filter(|id| is_number(id))?;
    Some(i18n::tf(lang, "audit_detail.session", &[("id", id)]))
}

/// `session 7 box: idle, 120 bytes in, 4096 bytes out` (a terminal closed: why, what
/// the user sent and what the shell printed).
fn session_ended(lang: Lang, raw: &str) -> Option<String> {
    let rest = raw.strip_prefix("session ")?;
    let (id, rest) = rest.split_once(' ')?;
    let (name, rest) = rest.rsplit_once(": ")?;
    let mut parts = rest.split(", ");
    let reason = parts.next()?;
    let sent = parts.next()?.strip_suffix(" bytes in")?.parse().ok()?;
    let printed = parts.next()?.strip_suffix(" bytes out")?.parse().ok()?;
    if !is_number(id) || parts.next().is_some() {
        return None;
    }
    let why = i18n::lookup(lang, &format!("audit_detail.end_{reason}")).unwrap_or(reason);
    Some(i18n::tf(
        lang,
        "audit_detail.session_ended",
        &[
            ("id", id),
            ("name", name),
            ("reason", why),
            ("in", &size(lang, sent)),
            ("out", &size(lang, printed)),
        ],
    ))
}

/// `2 instance(s) of user 5 moved to company 3` (or `-`: to no company).
fn instances_moved(lang: Lang, raw: &str) -> Option<String> {
    let (n, rest) = raw.split_once(" instance(s) of user ")?;
    let (user, company) = rest.split_once(" moved to company ")?;
    if !is_number(n) || !is_number(user) {
        return None;
    }
    let args = [("n", n), ("user", user), ("company", company)];
    if company == "-" {
        Some(i18n::tf(lang, "audit_detail.moved_out", &args))
    } else if is_number(company) {
        Some(i18n::tf(lang, "audit_detail.moved", &args))
    } else {
        None
    }
}

/// `image ubuntu, ip 10.0.3.7, ssh port 20001` (a container the plugin created or
/// reinstalled).
fn container_made(lang: Lang, raw: &str) -> Option<String> {
    let rest = raw.strip_prefix("image ")?;
    let (image, rest) = rest.split_once(", ip ")?;
    let (ip, port) = rest.split_once(", ssh port ")?;
    if !is_number(port) {
        return None;
    }
    Some(i18n::tf(
        lang,
        "audit_detail.container",
        &[("image", image), ("ip", ip), ("port", port)],
    ))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A byte count for people: bytes below 1 KiB, else KiB, MiB or GiB to one decimal.
pub fn size(lang: Lang, bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match UNITS.iter().find(|(size, _)| bytes >= *size) {
        // display only: the precision lost above 2^52 bytes is not visible at one decimal
        #[allow(clippy::cast_precision_loss)]
        Some((size, unit)) => format!("{:.1} {unit}", bytes as f64 / *size as f64),
        None => {
            let key = if bytes == 1 {
                "audit_detail.byte"
            } else {
                "audit_detail.bytes"
            };
            i18n::tf(lang, key, &[("n", &bytes.to_string())])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_door_comes_from_the_row() {
        for (why, method, path, door) in [
            ("an ssh login", "SSH", "", Door::Ssh),
            ("a jumpbox forward", "TUNNEL", "", Door::Ssh),
            ("a jumpbox sftp session", "SFTP", "", Door::Ssh),
            ("a plugin event", "API", "", Door::Api),
            ("a web login", "WEB", "", Door::Web),
            ("a form post", "POST", "/images/7/listed", Door::Web),
            ("a request under /api/", "POST", "/api/create", Door::Api),
            (
                "a path that only starts alike",
                "POST",
                "/apis/x",
                Door::Web,
            ),
            ("a web terminal", "WEB", "", Door::Web),
        ] {
            assert_eq!(Door::of(method, path), door, "{why}");
        }
        for d in Door::ALL {
            assert_eq!(Door::parse(d.code()), Some(d));
            assert_ne!(i18n::t(Lang::Zh, d.label_key()), d.label_key());
        }
        assert_eq!(Door::parse("telnet"), None);
        assert_eq!(
            Door::ALL.map(|d| i18n::t(Lang::Zh, d.label_key())),
            ["网页", "SSH", "API"]
        );
    }

    #[test]
    fn roles_and_actions_read_in_words() {
        assert_eq!(role(Lang::Zh, "customer_member"), "客户成员");
        assert_eq!(role(Lang::En, "customer_member"), "Customer member");
        assert_eq!(role(Lang::Zh, ""), "—");
        assert_eq!(role(Lang::En, "auditor"), "auditor");
        assert_eq!(action(Lang::Zh, "login_failed"), Some("登录失败"));
        assert_eq!(action(Lang::En, "login_failed"), Some("Login failed"));
        assert_eq!(
            action(Lang::Zh, "POST /images/{id}/listed"),
            Some("镜像库：上架 / 下架")
        );
        assert_eq!(action(Lang::Zh, "something_new"), None);
        assert_eq!(action(Lang::En, "POST /nowhere"), None);
    }

    /// Every action code the panel writes has words in both languages.
    #[test]
    fn every_written_action_has_words() {
        let codes = [
            "login_success",
            "login_failed",
            "login_locked",
            "login_throttled",
            "account_locked",
            "logout",
            "instances_moved",
            "connect",
            "disconnect",
            "zjmf_create",
            "zjmf_reinstall",
            "zjmf_delete",
            "zjmf_addport",
            "zjmf_delport",
            "zjmf_boot",
            "zjmf_stop",
            "zjmf_reboot",
            "zjmf_password",
        ];
        for code in codes {
            for lang in [Lang::Zh, Lang::En] {
                assert!(action(lang, code).is_some(), "{code} in {lang:?}");
            }
        }
        for r in routes::ALL {
            let written = format!("{} {}", r.method.as_str(), r.pattern);
            assert!(action(Lang::En, &written).is_some(), "{written}");
        }
    }

    #[test]
    fn details_read_in_words() {
        for (raw, zh, en) in [
            ("bad password", "密码错误", "wrong password"),
            ("unknown user", "用户名不存在", "no such user"),
            (
                "too many failures from this address",
                "该地址登录失败次数过多",
                "too many failed logins from this address",
            ),
            ("session 12", "会话 12", "session 12"),
            (
                "session 12 gpu-box: idle, 6888896 bytes in, 512 bytes out",
                "会话 12（gpu-box）结束：空闲超时；输入 6.6 MiB，输出 512 字节",
                "session 12 (gpu-box) ended: idle timeout; 6.6 MiB in, 512 bytes out",
            ),
            (
                "session 3 a: b: exit, 1 bytes in, 0 bytes out",
                "会话 3（a: b）结束：程序已退出；输入 1 字节，输出 0 字节",
                "session 3 (a: b) ended: the program exited; 1 byte in, 0 bytes out",
            ),
            (
                "session 3 box: gone, 1 bytes in, 0 bytes out",
                "会话 3（box）结束：gone；输入 1 字节，输出 0 字节",
                "session 3 (box) ended: gone; 1 byte in, 0 bytes out",
            ),
            (
                "2 instance(s) of user 5 moved to company 3",
                "用户 5 的 2 个实例随其移至公司 3",
                "2 instance(s) of user 5 moved with them to company 3",
            ),
            (
                "1 instance(s) of user 5 moved to company -",
                "用户 5 的 1 个实例随其离开公司，归其本人",
                "1 instance(s) of user 5 left the company with them",
            ),
            (
                "image ubuntu/24.04, ip 10.0.3.7, ssh port 20001",
                "镜像 ubuntu/24.04，IP 10.0.3.7，SSH 端口 20001",
                "image ubuntu/24.04, IP 10.0.3.7, SSH port 20001",
            ),
            ("tcp 8080 -> 80", "tcp 8080 -> 80", "tcp 8080 -> 80"),
            (
                r#"{"refusal":"lxdapi.not_found","args":{}}"#,
                "容器未找到",
                "Container not found",
            ),
            (
                r#"{"refusal":"error.not_found","args":{}}"#,
                r#"{"refusal":"error.not_found","args":{}}"#,
                r#"{"refusal":"error.not_found","args":{}}"#,
            ),
            ("", "", ""),
            ("session x", "session x", "session x"),
        ] {
            assert_eq!(detail(Lang::Zh, raw), zh, "{raw}");
            assert_eq!(detail(Lang::En, raw), en, "{raw}");
        }
    }

    #[test]
    fn a_refusal_reads_in_either_language() {
        use crate::domain::zjmf::Refusal;
        let r = Refusal::invalid("dport");
        assert_eq!(
            detail(Lang::En, &r.audit_detail()),
            "Invalid parameter dport"
        );
        assert_eq!(detail(Lang::Zh, &r.audit_detail()), r.msg());
    }

    #[test]
    fn sizes_read_in_units() {
        assert_eq!(size(Lang::En, 0), "0 bytes");
        assert_eq!(size(Lang::En, 1), "1 byte");
        assert_eq!(size(Lang::Zh, 1023), "1023 字节");
        assert_eq!(size(Lang::En, 1024), "1.0 KiB");
        assert_eq!(size(Lang::En, 6_888_896), "6.6 MiB");
        assert_eq!(size(Lang::Zh, 3 << 30), "3.0 GiB");
    }
}
