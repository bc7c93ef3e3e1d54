//! Every route the panel mounts, written once: `METHOD_PATH` constants (path parameters by
//! name: `{id}` is `ID`), the catalog pages' sets (`IMAGES`, `NODES`, `SPECS`) and `ALL`.
//! The router (web/mod.rs, web/api), the gate (its forced-change list, its redirects, the
//! routes the audit leaves to the login code), the pages' redirects, the buttons of the
//! instance pages, the jumpbox's terminal and the admin lifelines use them; no route path
//! is written anywhere else in the doors. The `api_permissions` rows the migrations insert
//! are checked against `ALL` (tests/api/permissions.rs).

/// The methods routes take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    /// As HTTP and the `api_permissions` rows spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One route: its method and its pattern as the router matches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub method: Method,
    pub pattern: &'static str,
}

const fn get(pattern: &'static str) -> Route {
    Route {
        method: Method::Get,
        pattern,
    }
}

const fn post(pattern: &'static str) -> Route {
    Route {
        method: Method::Post,
        pattern,
    }
}

/// The scope of the ZJMF plugin's routes (`API_*`).
pub const API_SCOPE: &str = "/api";

impl Route {
    /// The pattern inside its scope (`/check` for `/api/check` in `/api`).
    pub fn within(self, scope: &str) -> &'static str {
        self.pattern.strip_prefix(scope).unwrap_or(self.pattern)
    }

    /// The pattern up to its first parameter (`/static/` for `/static/{file:.*}`): what
    /// every path of the route starts with.
    pub fn fixed_prefix(self) -> &'static str {
        self.pattern.split('{').next().unwrap_or(self.pattern)
    }

    /// A path of the route: each `{name}` parameter replaced by its value (values are
    /// path segments the panel made, such as ids and container names).
    pub fn path(self, params: &[(&str, &str)]) -> String {
        params
            .iter()
            .fold(self.pattern.to_string(), |path, (name, value)| {
                path.replace(&format!("{{{name}}}"), value)
            })
    }
}

pub const GET_HEALTHZ: Route = get("/healthz");
pub const GET_READYZ: Route = get("/readyz");
pub const GET_STATIC_FILE: Route = get("/static/{file:.*}");
/// What browsers ask for when a page names no icon: the panel's icon (static/favicon.svg).
pub const GET_FAVICON_ICO: Route = get("/favicon.ico");
pub const GET_LOGIN: Route = get("/login");
pub const POST_LOGIN: Route = post("/login");
pub const GET_LANG_CODE: Route = get("/lang/{code}");
pub const GET_ROOT: Route = get("/");
pub const GET_PASSWORD: Route = get("/password");
pub const POST_PASSWORD: Route = post("/password");
pub const GET_ACCOUNT_SESSIONS: Route = get("/account/sessions");
pub const POST_ACCOUNT_SESSIONS_ID_END: Route = post("/account/sessions/{id}/end");
pub const GET_IMAGES: Route = get("/images");
pub const GET_IMAGES_NEW: Route = get("/images/new");
pub const POST_IMAGES: Route = post("/images");
pub const GET_IMAGES_ID_EDIT: Route = get("/images/{id}/edit");
pub const POST_IMAGES_ID: Route = post("/images/{id}");
pub const POST_IMAGES_ID_LISTED: Route = post("/images/{id}/listed");
pub const POST_IMAGES_ID_DELETE: Route = post("/images/{id}/delete");
pub const GET_NODES: Route = get("/nodes");
pub const GET_NODES_NEW: Route = get("/nodes/new");
pub const POST_NODES: Route = post("/nodes");
pub const GET_NODES_ID_EDIT: Route = get("/nodes/{id}/edit");
pub const POST_NODES_ID: Route = post("/nodes/{id}");
pub const POST_NODES_ID_LISTED: Route = post("/nodes/{id}/listed");
pub const POST_NODES_ID_DELETE: Route = post("/nodes/{id}/delete");
pub const POST_NODES_PROBE: Route = post("/nodes/probe");
pub const POST_NODES_ID_MAINTENANCE: Route = post("/nodes/{id}/maintenance");
pub const GET_SPECS: Route = get("/specs");
pub const GET_SPECS_NEW: Route = get("/specs/new");
pub const POST_SPECS: Route = post("/specs");
pub const GET_SPECS_ID_EDIT: Route = get("/specs/{id}/edit");
pub const POST_SPECS_ID: Route = post("/specs/{id}");
pub const POST_SPECS_ID_LISTED: Route = post("/specs/{id}/listed");
pub const POST_SPECS_ID_DELETE: Route = post("/specs/{id}/delete");
pub const GET_SETTINGS: Route = get("/settings");
pub const GET_LXD: Route = get("/lxd");
pub const GET_LXD_NAME: Route = get("/lxd/{name}");
pub const POST_LXD_NAME_POWER_ACTION: Route = post("/lxd/{name}/power/{action}");
pub const POST_LXD_NAME_DELETE: Route = post("/lxd/{name}/delete");
pub const POST_LXD_NAME_PORTS: Route = post("/lxd/{name}/ports");
pub const POST_LXD_NAME_PORTS_DELETE: Route = post("/lxd/{name}/ports/delete");
pub const GET_API_CHECK: Route = get("/api/check");
pub const GET_API_GETINFO: Route = get("/api/getinfo");
pub const POST_API_CREATE: Route = post("/api/create");
pub const GET_API_DELETE: Route = get("/api/delete");
pub const GET_API_BOOT: Route = get("/api/boot");
pub const GET_API_STOP: Route = get("/api/stop");
pub const GET_API_REBOOT: Route = get("/api/reboot");
pub const POST_API_PASSWORD: Route = post("/api/password");
pub const POST_API_REINSTALL: Route = post("/api/reinstall");
pub const GET_API_NATLIST: Route = get("/api/natlist");
pub const POST_API_ADDPORT: Route = post("/api/addport");
pub const POST_API_DELPORT: Route = post("/api/delport");
pub const GET_USERS: Route = get("/users");
pub const GET_USERS_NEW: Route = get("/users/new");
pub const POST_USERS: Route = post("/users");
pub const GET_USERS_ID_EDIT: Route = get("/users/{id}/edit");
pub const POST_USERS_ID: Route = post("/users/{id}");
pub const POST_USERS_ID_DISABLED: Route = post("/users/{id}/disabled");
pub const POST_USERS_ID_PASSWORD: Route = post("/users/{id}/password");
pub const POST_USERS_ID_UNLOCK: Route = post("/users/{id}/unlock");
pub const POST_USERS_ID_SESSIONS_END: Route = post("/users/{id}/sessions/end");
pub const GET_COMPANIES: Route = get("/companies");
pub const GET_COMPANIES_NEW: Route = get("/companies/new");
pub const POST_COMPANIES: Route = post("/companies");
pub const GET_COMPANIES_ID_EDIT: Route = get("/companies/{id}/edit");
pub const POST_COMPANIES_ID: Route = post("/companies/{id}");
pub const POST_COMPANIES_ID_DELETE: Route = post("/companies/{id}/delete");
pub const GET_PERMISSIONS: Route = get("/permissions");
pub const POST_PERMISSIONS_ID_ROLES_ROLE: Route = post("/permissions/{id}/roles/{role}");
pub const GET_AUDIT: Route = get("/audit");
pub const GET_INSTANCES: Route = get("/instances");
pub const GET_INSTANCES_NEW: Route = get("/instances/new");
pub const GET_INSTANCES_NEW_NODES: Route = get("/instances/new/nodes");
pub const POST_INSTANCES: Route = post("/instances");
pub const GET_INSTANCES_ID: Route = get("/instances/{id}");
pub const GET_INSTANCES_ID_ROW: Route = get("/instances/{id}/row");
pub const POST_INSTANCES_ID_START: Route = post("/instances/{id}/start");
pub const POST_INSTANCES_ID_STOP: Route = post("/instances/{id}/stop");
pub const POST_INSTANCES_ID_RESTART: Route = post("/instances/{id}/restart");
pub const POST_INSTANCES_ID_DELETE: Route = post("/instances/{id}/delete");
pub const GET_INSTANCES_ID_LOGS: Route = get("/instances/{id}/logs");
pub const GET_INSTANCES_ID_LOGS_WS: Route = get("/instances/{id}/logs/ws");
pub const GET_INSTANCES_ID_LOGS_DOWNLOAD: Route = get("/instances/{id}/logs/download");
pub const GET_INSTANCES_ID_TERMINAL: Route = get("/instances/{id}/terminal");
pub const GET_INSTANCES_ID_TERMINAL_WS: Route = get("/instances/{id}/terminal/ws");
pub const POST_LOGOUT: Route = post("/logout");

/// The i18n key of a route's description (`route.POST /images/{id}/listed`): what the
/// permissions page says of the route, and the audit log of a request to it.
pub fn description_key(method: &str, pattern: &str) -> String {
    format!("route.{method} {pattern}")
}

/// The module a route belongs to: its first path segment (`images` for
/// `/images/{id}`), except that the routes every visitor has (`/`, health, static files,
/// the icon) are `general` and logging in, the language and one's own account are
/// `account`. Its name is the i18n key `route_module.<module>`.
pub fn module(pattern: &str) -> &str {
    let first = pattern
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match first {
        "" | "healthz" | "readyz" | "static" | "favicon.ico" => "general",
        "login" | "logout" | "lang" | "password" | "account" => "account",
        other => other,
    }
}

/// The modules of `ALL`, in the order the permissions page lists them.
pub const MODULES: &[&str] = &[
    "general",
    "account",
    "instances",
    "images",
    "nodes",
    "specs",
    "lxd",
    "api",
    "users",
    "companies",
    "permissions",
    "audit",
    "settings",
];

/// The routes of a catalog page (images, nodes, specs), which share their handlers
/// (web/pages/catalog.rs).
#[derive(Clone, Copy, Debug)]
pub struct CatalogRoutes {
    pub index: Route,
    pub new: Route,
    pub create: Route,
    pub edit: Route,
    pub update: Route,
    pub listed: Route,
    pub delete: Route,
}

pub const IMAGES: CatalogRoutes = CatalogRoutes {
    index: GET_IMAGES,
    new: GET_IMAGES_NEW,
    create: POST_IMAGES,
    edit: GET_IMAGES_ID_EDIT,
    update: POST_IMAGES_ID,
    listed: POST_IMAGES_ID_LISTED,
    delete: POST_IMAGES_ID_DELETE,
};

pub const NODES: CatalogRoutes = CatalogRoutes {
    index: GET_NODES,
    new: GET_NODES_NEW,
    create: POST_NODES,
    edit: GET_NODES_ID_EDIT,
    update: POST_NODES_ID,
    listed: POST_NODES_ID_LISTED,
    delete: POST_NODES_ID_DELETE,
};

pub const SPECS: CatalogRoutes = CatalogRoutes {
    index: GET_SPECS,
    new: GET_SPECS_NEW,
    create: POST_SPECS,
    edit: GET_SPECS_ID_EDIT,
    update: POST_SPECS_ID,
    listed: POST_SPECS_ID_LISTED,
    delete: POST_SPECS_ID_DELETE,
};

/// Every route, each once.
pub const ALL: &[Route] = &[
    GET_HEALTHZ,
    GET_READYZ,
    GET_STATIC_FILE,
    GET_FAVICON_ICO,
    GET_LOGIN,
    POST_LOGIN,
    GET_LANG_CODE,
    GET_ROOT,
    GET_PASSWORD,
    POST_PASSWORD,
    GET_ACCOUNT_SESSIONS,
    POST_ACCOUNT_SESSIONS_ID_END,
    GET_IMAGES,
    GET_IMAGES_NEW,
    POST_IMAGES,
    GET_IMAGES_ID_EDIT,
    POST_IMAGES_ID,
    POST_IMAGES_ID_LISTED,
    POST_IMAGES_ID_DELETE,
    GET_NODES,
    GET_NODES_NEW,
    POST_NODES,
    GET_NODES_ID_EDIT,
    POST_NODES_ID,
    POST_NODES_ID_LISTED,
    POST_NODES_ID_DELETE,
    POST_NODES_PROBE,
    POST_NODES_ID_MAINTENANCE,
    GET_SPECS,
    GET_SPECS_NEW,
    POST_SPECS,
    GET_SPECS_ID_EDIT,
    POST_SPECS_ID,
    POST_SPECS_ID_LISTED,
    POST_SPECS_ID_DELETE,
    GET_SETTINGS,
    GET_LXD,
    GET_LXD_NAME,
    POST_LXD_NAME_POWER_ACTION,
    POST_LXD_NAME_DELETE,
    POST_LXD_NAME_PORTS,
    POST_LXD_NAME_PORTS_DELETE,
    GET_API_CHECK,
    GET_API_GETINFO,
    POST_API_CREATE,
    GET_API_DELETE,
    GET_API_BOOT,
    GET_API_STOP,
    GET_API_REBOOT,
    POST_API_PASSWORD,
    POST_API_REINSTALL,
    GET_API_NATLIST,
    POST_API_ADDPORT,
    POST_API_DELPORT,
    GET_USERS,
    GET_USERS_NEW,
    POST_USERS,
    GET_USERS_ID_EDIT,
    POST_USERS_ID,
    POST_USERS_ID_DISABLED,
    POST_USERS_ID_PASSWORD,
    POST_USERS_ID_UNLOCK,
    POST_USERS_ID_SESSIONS_END,
    GET_COMPANIES,
    GET_COMPANIES_NEW,
    POST_COMPANIES,
    GET_COMPANIES_ID_EDIT,
    POST_COMPANIES_ID,
    POST_COMPANIES_ID_DELETE,
    GET_PERMISSIONS,
    POST_PERMISSIONS_ID_ROLES_ROLE,
    GET_AUDIT,
    GET_INSTANCES,
    GET_INSTANCES_NEW,
    GET_INSTANCES_NEW_NODES,
    POST_INSTANCES,
    GET_INSTANCES_ID,
    GET_INSTANCES_ID_ROW,
    POST_INSTANCES_ID_START,
    POST_INSTANCES_ID_STOP,
    POST_INSTANCES_ID_RESTART,
    POST_INSTANCES_ID_DELETE,
    GET_INSTANCES_ID_LOGS,
    GET_INSTANCES_ID_LOGS_WS,
    GET_INSTANCES_ID_LOGS_DOWNLOAD,
    GET_INSTANCES_ID_TERMINAL,
    GET_INSTANCES_ID_TERMINAL_WS,
    POST_LOGOUT,
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_route_is_listed_once_and_patterns_are_paths() {
        let unique: BTreeSet<Route> = ALL.iter().copied().collect();
        assert_eq!(unique.len(), ALL.len(), "a route listed twice");
        for r in ALL {
            assert!(r.pattern.starts_with('/'), "{r:?}");
        }
        assert_eq!(GET_API_CHECK.within(API_SCOPE), "/check");
        assert_eq!(GET_USERS.within(API_SCOPE), "/users");
        assert_eq!(POST_LOGOUT.method.as_str(), "POST");
        assert_eq!(GET_STATIC_FILE.fixed_prefix(), "/static/");
        assert_eq!(GET_USERS.fixed_prefix(), "/users");
        assert_eq!(GET_LXD_NAME.path(&[("name", "c1")]), "/lxd/c1");
        assert_eq!(IMAGES.update.path(&[("id", "7")]), "/images/7");
        for c in [IMAGES, NODES, SPECS] {
            assert_eq!(c.index.pattern, c.create.pattern);
            for r in [c.new, c.edit, c.update, c.listed, c.delete] {
                assert!(r.pattern.starts_with(c.index.pattern), "{r:?}");
            }
        }
    }

    #[test]
    fn every_route_has_a_module_and_words_in_both_languages() {
        use crate::i18n::{Lang, lookup};
        assert_eq!(module("/images/{id}/listed"), "images");
        assert_eq!(module("/"), "general");
        assert_eq!(module("/static/{file:.*}"), "general");
        assert_eq!(module("/lang/{code}"), "account");
        assert_eq!(module("/api/check"), "api");
        for r in ALL {
            let m = module(r.pattern);
            assert!(MODULES.contains(&m), "{r:?} in {m}");
            let key = description_key(r.method.as_str(), r.pattern);
            for lang in [Lang::Zh, Lang::En] {
                assert!(lookup(lang, &key).is_some(), "{key} in {lang:?}");
            }
        }
        for m in MODULES {
            assert!(ALL.iter().any(|r| module(r.pattern) == *m), "{m} unused");
            for lang in [Lang::Zh, Lang::En] {
                assert!(lookup(lang, &format!("route_module.{m}")).is_some(), "{m}");
            }
        }
    }
}
