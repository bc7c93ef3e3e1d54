//! `a=1&b=2` as the plugin sends it in query strings and form bodies, read strictly: a
//! `%` escape that is not two hex digits, bytes that are not UTF-8 once decoded, or a
//! field given twice is a 400 naming the field — never a guess (`form_urlencoded`
//! silently turns bad bytes into U+FFFD and keeps bad escapes as they are).

use std::collections::BTreeMap;

use super::Refusal;

/// The fields of one query string or form body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Reads `raw` (`+` is a space, `%XX` a byte; empty pairs are skipped, a pair without
/// `=` is a field with an empty value).
pub fn parse(raw: &[u8]) -> Result<Fields, Refusal> {
    let mut fields = BTreeMap::new();
    for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        // the field's name as well as it can be told, for the message
        let named = || String::from_utf8_lossy(key).into_owned();
        let key = decode(key).ok_or_else(|| Refusal::bad_encoding(&named()))?;
        let value = decode(value).ok_or_else(|| Refusal::bad_encoding(&key))?;
        if fields.contains_key(&key) {
            return Err(Refusal::new(400, "lxdapi.duplicate").with("field", key));
        }
        fields.insert(key, value);
    }
    Ok(Fields(fields))
}

/// One percent-encoded component as UTF-8; None when an escape or the bytes are bad.
fn decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn query_strings_and_form_bodies_are_read_strictly() {
        let bad = Refusal::bad_encoding;
        for (raw, want) in [
            (&b"hostname=vm1"[..], Ok(fields(&[("hostname", "vm1")]))),
            (b"", Ok(fields(&[]))),
            (b"&&", Ok(fields(&[]))),
            (
                b"hostname=vm1&dtype=tcp&dport=20001&sport=22",
                Ok(fields(&[
                    ("hostname", "vm1"),
                    ("dtype", "tcp"),
                    ("dport", "20001"),
                    ("sport", "22"),
                ])),
            ),
            (b"a=x+y%20z", Ok(fields(&[("a", "x y z")]))),
            (b"a=%E7%AE%97%E5%8A%9B", Ok(fields(&[("a", "算力")]))),
            (b"a=%e7%ae%97", Ok(fields(&[("a", "算")]))),
            ("a=算".as_bytes(), Ok(fields(&[("a", "算")]))),
            (b"flag", Ok(fields(&[("flag", "")]))),
            (b"a=1=2", Ok(fields(&[("a", "1=2")]))),
            (b"hostname=%FF", Err(bad("hostname"))),
            (b"hostname=%C3%28", Err(bad("hostname"))),
            (b"hostname=%ED%A0%80", Err(bad("hostname"))), // a UTF-16 surrogate
            (b"hostname=\xff", Err(bad("hostname"))),
            (b"hostname=%", Err(bad("hostname"))),
            (b"hostname=%4", Err(bad("hostname"))),
            (b"hostname=%zz", Err(bad("hostname"))),
            (b"hostname=%+1", Err(bad("hostname"))),
            (b"ok=1&x%FF=1", Err(bad("x%FF"))),
            (
                b"hostname=a&hostname=b",
                Err(Refusal::new(400, "lxdapi.duplicate").with("field", "hostname")),
            ),
        ] {
            assert_eq!(parse(raw), want, "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(parse(b"dport=1").unwrap().get("dport"), Some("1"));
        assert_eq!(parse(b"dport=1").unwrap().get("sport"), None);
        assert_eq!(
            bad("hostname").msg(),
            "参数 hostname 不是有效的 UTF-8 URL 编码"
        );
    }
}
