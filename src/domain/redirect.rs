//! Where a `next` parameter may send the browser after login or a language switch:
//! a path on this origin only. Knows nothing of HTTP; callers hand it the decoded
//! value (forms and queries arrive percent-decoded) and put the answer in `Location`.

use std::borrow::Cow;
use std::fmt::Write;

/// The longest `next` kept; a longer one is not a link the panel made.
const MAX_LEN: usize = 2048;

/// `next` if it is a same-origin path, else `/`. Same-origin means: one leading `/`,
/// no second `/` or `\` after it (`//host` and `/\host` are other sites to a browser),
/// no `\` anywhere, and no control character or whitespace anywhere (browsers strip a
/// tab or newline from URLs, so `/\t/evil.example` becomes `//evil.example`, and a
/// newline cannot go into a header). Issue #14. Other non-ASCII characters are
/// percent-encoded (UTF-8), so the answer is plain ASCII wherever it goes.
pub fn local_path(next: &str) -> Cow<'_, str> {
    let mut chars = next.chars();
    let starts_local = chars.next() == Some('/') && !matches!(chars.next(), Some('/' | '\\'));
    // SECURITY: no open redirect; every redirect target stays on this origin
    if starts_local
        && next.len() <= MAX_LEN
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        encode_non_ascii(next)
    } else {
        Cow::Borrowed("/")
    }
}

fn encode_non_ascii(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 3);
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_origin() {
        let long = format!("/{}", "a".repeat(3000));
        for (why, next, want) in [
            ("a page", "/images?q=1", "/images?q=1"),
            ("root", "/", "/"),
            ("empty", "", "/"),
            ("relative", "images", "/"),
            ("protocol-relative", "//evil.example", "/"),
            ("three slashes", "///evil.example", "/"),
            ("absolute", "https://evil.example", "/"),
            ("scheme only", "javascript:alert(1)", "/"),
            ("backslash host", "/\\evil.example", "/"),
            ("two backslashes", "\\\\evil.example", "/"),
            ("backslash later", "/a\\b", "/"),
            ("tab inside (decoded %09)", "/\t/evil.example", "/"),
            ("newline (decoded %0A)", "/\n/evil.example", "/"),
            ("carriage return (decoded %0D)", "/\r\nSet-Cookie: x=1", "/"),
            ("nul", "/a\0b", "/"),
            ("space", "/ /evil.example", "/"),
            ("leading space", " /images", "/"),
            ("trailing newline", "/images\n", "/"),
            ("del", "/a\u{7f}", "/"),
            ("unicode line separator", "/\u{2028}/evil.example", "/"),
            ("ideographic space", "/\u{3000}/evil.example", "/"),
            ("next line control", "/\u{85}x", "/"),
            (
                "still encoded %09 stays a path",
                "/%09/evil.example",
                "/%09/evil.example",
            ),
            (
                "still encoded %2F%2F stays a path",
                "/%2F%2Fevil.example",
                "/%2F%2Fevil.example",
            ),
            ("encoded %2F%2F without slash", "%2F%2Fevil.example", "/"),
            ("encoded %5C", "/%5Cevil.example", "/%5Cevil.example"),
            (
                "unicode path",
                "/实例?q=算力",
                "/%E5%AE%9E%E4%BE%8B?q=%E7%AE%97%E5%8A%9B",
            ),
            (
                "fullwidth solidus is not a slash",
                "/／evil.example",
                "/%EF%BC%8Fevil.example",
            ),
            ("unicode after two slashes", "//实例", "/"),
            ("too long", long.as_str(), "/"),
        ] {
            assert_eq!(local_path(next), want, "{why}: {next:?}");
        }
    }
}
