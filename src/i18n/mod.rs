//! The UI language and its message catalogues (zh-CN default, English switch).
//! Catalogues are TOML files compiled into the binary; a dotted key such as
//! `nav.images` is a `[nav]` table with an `images` entry.

use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The cookie / URL code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "zh-CN" | "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

type Catalogue = HashMap<String, String>;

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalogue) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

fn load(text: &str) -> Catalogue {
    let mut out = Catalogue::new();
    // The catalogues are compiled in and checked by unit tests: a parse error is a build bug.
    if let Ok(table) = text.parse::<toml::Table>() {
        flatten("", &table, &mut out);
    }
    out
}

static ZH: LazyLock<Catalogue> = LazyLock::new(|| load(include_str!("zh-CN.toml")));
static EN: LazyLock<Catalogue> = LazyLock::new(|| load(include_str!("en.toml")));

/// The message for `key`, or the key itself when missing (visible, never a panic).
pub fn t(lang: Lang, key: &str) -> &str {
    lookup(lang, key).unwrap_or(key)
}

/// The message for `key`, None when the catalogue has none (for texts with a fallback
/// of their own, such as an audit action the catalogue does not know).
pub fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    let cat: &'static Catalogue = match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    };
    cat.get(key).map(String::as_str)
}

/// The message for `key` with its `{name}` arguments filled in.
pub fn tf(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    args.iter()
        .fold(t(lang, key).to_string(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

/// A duration in words, largest units first, at most two of them: 30 分钟, 1 小时 30 分钟,
/// "2 hours 5 minutes". Seconds appear only below an hour; zero is "0 秒" / "0 seconds".
pub fn duration(lang: Lang, secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400, "duration.days"),
        (3_600, "duration.hours"),
        (60, "duration.minutes"),
        (1, "duration.seconds"),
    ];
    let mut left = secs;
    let parts: Vec<String> = UNITS
        .iter()
        .filter_map(|&(size, key)| {
            let n = left / size;
            left %= size;
            // no seconds next to hours or days: "1 小时 0 分钟 5 秒" says nothing useful
            (n > 0 && !(size == 1 && secs >= 3_600)).then(|| unit(lang, key, n))
        })
        .take(2)
        .collect();
    if parts.is_empty() {
        unit(lang, "duration.seconds", 0)
    } else {
        parts.join(" ")
    }
}

/// "1 minute" / "5 minutes" / "5 分钟": the catalogue's `{n}` form, singular when there is one.
fn unit(lang: Lang, key: &str, n: u64) -> String {
    let one = format!("{key}_one");
    let key = if n == 1 && !t(lang, &one).eq(&one) {
        one.as_str()
    } else {
        key
    };
    tf(lang, key, &[("n", &n.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_words() {
        assert_eq!(duration(Lang::Zh, 1800), "30 分钟");
        assert_eq!(duration(Lang::En, 1800), "30 minutes");
        assert_eq!(duration(Lang::En, 60), "1 minute");
        assert_eq!(duration(Lang::Zh, 5400), "1 小时 30 分钟");
        assert_eq!(duration(Lang::En, 7205), "2 hours");
        assert_eq!(duration(Lang::En, 90), "1 minute 30 seconds");
        assert_eq!(duration(Lang::Zh, 12 * 3600), "12 小时");
        assert_eq!(duration(Lang::En, 86_400 + 3_600), "1 day 1 hour");
        assert_eq!(duration(Lang::Zh, 0), "0 秒");
        assert_eq!(duration(Lang::En, 15), "15 seconds");
    }
    use std::collections::BTreeSet;

    #[test]
    fn catalogues_parse_and_have_the_same_keys() {
        assert!(include_str!("zh-CN.toml").parse::<toml::Table>().is_ok());
        assert!(include_str!("en.toml").parse::<toml::Table>().is_ok());
        let zh: BTreeSet<_> = ZH.keys().collect();
        let en: BTreeSet<_> = EN.keys().collect();
        assert_eq!(
            zh.difference(&en).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "missing in en"
        );
        assert_eq!(
            en.difference(&zh).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "missing in zh-CN"
        );
        assert_eq!(t(Lang::Zh, "nav.images"), "镜像库");
        assert_eq!(t(Lang::En, "nav.images"), "Images");
        assert_eq!(
            tf(Lang::En, "error.engine", &[("why", "gone")]),
            "Docker engine of the node failed: gone"
        );
    }

    /// Every `.t("…")` in templates and src and every i18n key literal in src/ exists.
    #[test]
    fn every_used_key_exists() {
        // (text before the key, the part of it that belongs to the key)
        let template_calls = [(".t(\"", "")];
        let src_literals = [
            "field.",
            "password.",
            "user.",
            "catalog.",
            "permissions.",
            "login.",
            "lxdapi.",
            "error.",
            "lxd_error.",
        ]
        .map(|p| (p, p));
        let mut missing = Vec::new();
        // the checkout under test (the baked-in path may name another clone)
        let root = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        for dir in ["templates", "src"] {
            for path in walk(root.join(dir)) {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let mut openers: Vec<(String, &str)> = template_calls
                    .iter()
                    .map(|(o, k)| (o.to_string(), *k))
                    .collect();
                if dir == "src" {
                    openers.extend(src_literals.iter().map(|(o, k)| (format!("\"{o}"), *k)));
                }
                for (open, kept) in &openers {
                    for part in text.split(open.as_str()).skip(1) {
                        let rest = part.split('"').next().unwrap_or_default();
                        let key = format!("{kept}{rest}");
                        let looks_like_key = key.contains('.')
                            && !rest.is_empty()
                            && !rest.contains([' ', '{'])
                            && !rest.ends_with("html");
                        if looks_like_key && !ZH.contains_key(&key) {
                            missing.push(key);
                        }
                    }
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "missing i18n keys: {missing:?}");
    }

    fn walk(dir: std::path::PathBuf) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    out.extend(walk(p));
                } else if p.extension().is_some_and(|x| x == "html" || x == "rs") {
                    out.push(p);
                }
            }
        }
        out
    }
}
