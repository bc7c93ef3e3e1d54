//! Parsing raw form strings into typed values. Each parser reports an i18n key
//! (`field.*`) so a form can show every bad field at once, next to the field.

use std::net::IpAddr;

/// The longest DNS label, and so the longest container host name.
pub const DNS_LABEL_MAX: usize = 63;

/// A DNS label, as LXD takes a container's host name: ASCII letters, digits and hyphens,
/// at most `DNS_LABEL_MAX`, starting with a letter, not ending with a hyphen.
pub fn is_dns_label(t: &str) -> bool {
    t.len() <= DNS_LABEL_MAX
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && t.starts_with(|c: char| c.is_ascii_alphabetic())
        && !t.ends_with('-')
}

/// Bad fields of one form: (field name, i18n key of the message).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, &'static str)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, key: &'static str) {
        if self.get(field).is_none() {
            self.0.push((field, key));
        }
    }
    pub fn get(&self, field: &str) -> Option<&'static str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, k)| *k)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|(f, _)| *f)
    }
    /// Collects the outcome of one field parser.
    pub fn take<T: Default>(&mut self, field: &'static str, r: Result<T, &'static str>) -> T {
        r.unwrap_or_else(|key| {
            self.add(field, key);
            T::default()
        })
    }
    pub fn into_result<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

/// Required text, trimmed, 1..=max characters.
pub fn required(s: &str, max: usize) -> Result<String, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        Err("field.required")
    } else {
        optional(t, max)
    }
}

/// Optional text, trimmed, at most `max` characters; control characters refused
/// (multi-line fields use `multiline`).
pub fn optional(s: &str, max: usize) -> Result<String, &'static str> {
    let t = s.trim();
    if t.chars().count() > max {
        Err("field.too_long")
    } else if t.chars().any(char::is_control) {
        Err("field.bad_chars")
    } else {
        Ok(t.to_string())
    }
}

/// Multi-line text (remarks, PEM blocks), at most `max` characters; CRLF normalised.
pub fn multiline(s: &str, max: usize) -> Result<String, &'static str> {
    let t = s.replace("\r\n", "\n").trim().to_string();
    if t.chars().count() > max {
        Err("field.too_long")
    } else {
        Ok(t)
    }
}

/// A whole number in `0..=max`; empty means 0.
pub fn count(s: &str, max: i32) -> Result<i32, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(0);
    }
    match t.parse::<i64>() {
        Ok(n) if (0..=i64::from(max)).contains(&n) => Ok(n as i32),
        Ok(_) => Err("field.out_of_range"),
        Err(_) => Err("field.not_a_number"),
    }
}

/// A TCP port 1..=65535, required.
pub fn port(s: &str) -> Result<i32, &'static str> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(i32::from(p)),
        _ if s.trim().is_empty() => Err("field.required"),
        _ => Err("field.bad_port"),
    }
}

/// An IPv4 or IPv6 address in canonical form, or empty.
pub fn optional_ip(s: &str) -> Result<String, &'static str> {
    if s.trim().is_empty() {
        Ok(String::new())
    } else {
        ip(s)
    }
}

/// A TCP port, `default` when left empty.
pub fn port_or(s: &str, default: u16) -> Result<i32, &'static str> {
    if s.trim().is_empty() {
        Ok(i32::from(default))
    } else {
        port(s)
    }
}

/// An IPv4 or IPv6 address, required, stored in canonical form.
pub fn ip(s: &str) -> Result<String, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Err("field.required");
    }
    t.parse::<IpAddr>()
        .map(|a| a.to_string())
        .map_err(|_| "field.bad_ip")
}

/// Money with at most two decimals ("12", "12.5", "12.50") → fen (1/100 CNY).
pub fn money_cents(s: &str) -> Result<i64, &'static str> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(0);
    }
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |d: &str| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > 2 || t.ends_with('.') {
        return Err("field.bad_money");
    }
    let whole: i64 = whole.parse().map_err(|_| "field.bad_money")?;
    let frac: i64 = format!("{frac:0<2}")
        .parse()
        .map_err(|_| "field.bad_money")?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        // at most 100 million yuan an hour
        .filter(|c| *c <= 10_000_000_000)
        .ok_or("field.out_of_range")
}

/// fen → "12.50"
pub fn format_cents(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// An HTML checkbox: present with any value but ""/"false"/"0"/"off" means on.
pub fn checkbox(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|s| !matches!(s.trim(), "" | "false" | "0" | "off"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for good in ["a", "vm-1", "A0b", &"a".repeat(63)] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in [
            "",
            "1a",
            "-a",
            "a-",
            "a_b",
            "a.b",
            "训练",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn money() {
        for (input, want) in [
            ("", Ok(0)),
            ("12", Ok(1200)),
            ("12.5", Ok(1250)),
            ("12.05", Ok(1205)),
            ("0.99", Ok(99)),
            ("12.", Err("field.bad_money")),
            ("-1", Err("field.bad_money")),
            ("1.234", Err("field.bad_money")),
            ("abc", Err("field.bad_money")),
            ("99999999999", Err("field.out_of_range")),
        ] {
            assert_eq!(money_cents(input), want, "{input}");
        }
        assert_eq!(format_cents(1205), "12.05");
    }

    #[test]
    fn numbers_ports_ips() {
        assert_eq!(count("", 10), Ok(0));
        assert_eq!(count(" 4 ", 10), Ok(4));
        assert_eq!(count("11", 10), Err("field.out_of_range"));
        assert_eq!(count("-1", 10), Err("field.out_of_range"));
        assert_eq!(count("x", 10), Err("field.not_a_number"));
        assert_eq!(port("22"), Ok(22));
        assert_eq!(port("0"), Err("field.bad_port"));
        assert_eq!(port("65536"), Err("field.bad_port"));
        assert_eq!(port(""), Err("field.required"));
        assert_eq!(ip("10.0.0.1").as_deref(), Ok("10.0.0.1"));
        assert_eq!(ip("::1").as_deref(), Ok("::1"));
        assert_eq!(ip("10.0.0.256"), Err("field.bad_ip"));
    }

    #[test]
    fn text() {
        assert_eq!(required("  ", 5), Err("field.required"));
        assert_eq!(required(" ab ", 5).as_deref(), Ok("ab"));
        assert_eq!(required("abcdef", 5), Err("field.too_long"));
        assert_eq!(optional("a\u{7}b", 5), Err("field.bad_chars"));
        assert_eq!(multiline("a\r\nb", 5).as_deref(), Ok("a\nb"));
        assert!(checkbox(&Some("on".into())));
        assert!(!checkbox(&None));
    }

    #[test]
    fn errors_collect_every_field() {
        let mut e = FieldErrors::default();
        let n: i32 = e.take("a", count("x", 3));
        let s: String = e.take("b", required("", 3));
        assert_eq!((n, s.as_str()), (0, ""));
        assert_eq!(e.get("a"), Some("field.not_a_number"));
        assert_eq!(e.get("b"), Some("field.required"));
        assert!(e.into_result(()).is_err());
    }
}
