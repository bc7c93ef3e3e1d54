//! List pages: search text, 上架 filter, sorting and pagination parsed from the query
//! string (lenient: a bad value falls back to the default, the URL stays shareable).

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListParams {
    pub q: String,
    pub listed: String,
    pub sort: String,
    pub dir: String,
    pub page: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub q: String,
    /// None = both 上架 and 下架
    pub listed: Option<bool>,
    /// one of the keys the list allows; the first allowed key is the default
    pub sort: &'static str,
    pub desc: bool,
    pub page: i64,
}

impl ListQuery {
    /// Does a search or the 上架 filter narrow the list (an empty page then means "no
    /// match", not "nothing yet")?
    pub fn filtered(&self) -> bool {
        !self.q.is_empty() || self.listed.is_some()
    }
    pub fn parse(p: &ListParams, sorts: &[&'static str]) -> Self {
        let q: String = p.q.trim().chars().take(100).collect();
        ListQuery {
            q,
            listed: match p.listed.as_str() {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            },
            sort: sorts
                .iter()
                .copied()
                .find(|s| *s == p.sort)
                .or(sorts.first().copied())
                .unwrap_or("id"),
            desc: p.dir == "desc",
            page: p
                .page
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .unwrap_or(1),
        }
    }

    pub fn offset(&self, per_page: i64) -> i64 {
        (self.page - 1) * per_page
    }

    /// `%q%` for ILIKE with the wildcard characters of the search text escaped.
    pub fn like_pattern(&self) -> Option<String> {
        (!self.q.is_empty()).then(|| like_pattern(&self.q))
    }

    /// The query string that reproduces this list (for links and `hx-push-url`).
    pub fn query_string(&self) -> String {
        let listed = match self.listed {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        };
        let dir = if self.desc { "desc" } else { "asc" };
        serde_urlencoded::to_string([
            ("q", self.q.as_str()),
            ("listed", listed),
            ("sort", self.sort),
            ("dir", dir),
            ("page", &self.page.to_string()),
        ])
        .unwrap_or_default()
    }

    pub fn with_page(&self, page: i64) -> String {
        ListQuery {
            page,
            ..self.clone()
        }
        .query_string()
    }

    /// Link for a column header: same column flips the direction, another starts ascending.
    pub fn with_sort(&self, key: &'static str) -> String {
        let desc = self.sort == key && !self.desc;
        ListQuery {
            sort: key,
            desc,
            page: 1,
            ..self.clone()
        }
        .query_string()
    }
}

pub fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of rows plus what the pager needs.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
    pub fn has_prev(&self) -> bool {
        self.page > 1
    }
    pub fn has_next(&self) -> bool {
        self.page < self.pages()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SORTS: &[&str] = &["name", "created_at"];

    #[test]
    fn parse_is_lenient() {
        let q = ListQuery::parse(
            &ListParams {
                q: " gpu ".into(),
                listed: "0".into(),
                sort: "drop table".into(),
                dir: "x".into(),
                page: "-3".into(),
            },
            SORTS,
        );
        assert_eq!(
            q,
            ListQuery {
                q: "gpu".into(),
                listed: Some(false),
                sort: "name",
                desc: false,
                page: 1
            }
        );
    }

    #[test]
    fn links_round_trip() {
        let q = ListQuery::parse(
            &ListParams {
                q: "a&b".into(),
                listed: "1".into(),
                sort: "created_at".into(),
                dir: "desc".into(),
                page: "3".into(),
            },
            SORTS,
        );
        let back: ListParams = serde_urlencoded::from_str(&q.query_string()).expect("qs");
        assert_eq!(ListQuery::parse(&back, SORTS), q);
        assert!(q.with_sort("created_at").contains("dir=asc"));
        assert!(q.with_sort("name").contains("page=1"));
        assert_eq!(q.offset(20), 40);
    }

    #[test]
    fn like_escapes_wildcards() {
        assert_eq!(like_pattern("50%_x"), "%50\\%\\_x%");
    }

    #[test]
    fn pager() {
        let p = Page::<()> {
            rows: vec![],
            total: 41,
            page: 3,
            per_page: 20,
        };
        assert_eq!(p.pages(), 3);
        assert!(p.has_prev() && !p.has_next());
        assert_eq!(
            Page::<()> {
                rows: vec![],
                total: 0,
                page: 1,
                per_page: 20
            }
            .pages(),
            1
        );
    }
}
