//! The HTTP door. `routes` is the only place routes are mounted; every route here has
//! an api_permissions record (migrations), enforced by `middleware::gate`.

pub mod api;
pub mod error;
pub mod extract;
pub mod https_redirect;
pub mod middleware;
pub mod pages;
pub mod render;

use actix_web::web::{self, ServiceConfig, get, post};
use actix_web::{FromRequest, Handler, Responder};

use crate::domain::routes::{self as r, Method, Route};
use pages::catalog::{self, CatalogPage};
use pages::{
    account, audit, auth, companies, home,
    images::Images,
    instances, lxd,
    nodes::{self, Nodes},
    permissions, settings,
    specs::Specs,
    streams, users,
};

pub fn routes(cfg: &mut ServiceConfig) {
    api::routes(cfg);
    cfg.mount(r::GET_HEALTHZ, home::healthz)
        .mount(r::GET_READYZ, home::readyz)
        .mount(r::GET_STATIC_FILE, home::static_file)
        .mount(r::GET_FAVICON_ICO, home::favicon)
        .mount(r::GET_LOGIN, auth::login_page)
        .mount(r::POST_LOGIN, auth::login)
        .mount(r::POST_LOGOUT, auth::logout)
        .mount(r::GET_LANG_CODE, auth::set_lang)
        .mount(r::GET_ROOT, home::home)
        .mount(r::GET_PASSWORD, auth::password_page)
        .mount(r::POST_PASSWORD, auth::change_password)
        .mount(r::GET_ACCOUNT_SESSIONS, account::sessions)
        .mount(r::POST_ACCOUNT_SESSIONS_ID_END, account::end_session);
    catalog_routes::<Images>(cfg);
    // before /nodes/{id}, which "probe" would match
    cfg.mount(r::POST_NODES_PROBE, nodes::probe)
        .mount(r::POST_NODES_ID_MAINTENANCE, nodes::maintenance);
    catalog_routes::<Nodes>(cfg);
    catalog_routes::<Specs>(cfg);
    cfg.mount(r::GET_USERS, users::index)
        .mount(r::GET_USERS_NEW, users::new)
        .mount(r::POST_USERS, users::create)
        .mount(r::GET_USERS_ID_EDIT, users::edit)
        .mount(r::POST_USERS_ID, users::update)
        .mount(r::POST_USERS_ID_DISABLED, users::set_disabled)
        .mount(r::POST_USERS_ID_PASSWORD, users::reset_password)
        .mount(r::POST_USERS_ID_UNLOCK, users::unlock)
        .mount(r::POST_USERS_ID_SESSIONS_END, users::end_sessions)
        .mount(r::GET_COMPANIES, companies::index)
        .mount(r::GET_COMPANIES_NEW, companies::new)
        .mount(r::POST_COMPANIES, companies::create)
        .mount(r::GET_COMPANIES_ID_EDIT, companies::edit)
        .mount(r::POST_COMPANIES_ID, companies::update)
        .mount(r::POST_COMPANIES_ID_DELETE, companies::delete)
        .mount(r::GET_PERMISSIONS, permissions::index)
        .mount(r::POST_PERMISSIONS_ID_ROLES_ROLE, permissions::toggle)
        .mount(r::GET_AUDIT, audit::index)
        .mount(r::GET_SETTINGS, settings::index)
        .mount(r::GET_LXD, lxd::index)
        .mount(r::GET_LXD_NAME, lxd::detail)
        .mount(r::POST_LXD_NAME_POWER_ACTION, lxd::power)
        .mount(r::POST_LXD_NAME_DELETE, lxd::delete)
        .mount(r::POST_LXD_NAME_PORTS, lxd::add_port)
        .mount(r::POST_LXD_NAME_PORTS_DELETE, lxd::remove_port)
        .mount(r::GET_INSTANCES, instances::index)
        .mount(r::POST_INSTANCES, instances::create)
        .mount(r::GET_INSTANCES_NEW, instances::wizard)
        .mount(r::GET_INSTANCES_NEW_NODES, instances::nodes)
        .mount(r::GET_INSTANCES_ID, instances::page)
        .mount(r::GET_INSTANCES_ID_ROW, instances::row)
        .mount(r::POST_INSTANCES_ID_START, instances::start)
        .mount(r::POST_INSTANCES_ID_STOP, instances::stop)
        .mount(r::POST_INSTANCES_ID_RESTART, instances::restart)
        .mount(r::POST_INSTANCES_ID_DELETE, instances::delete);
    // logs and terminal of an instance (pages, WebSockets, download)
    cfg.mount(r::GET_INSTANCES_ID_LOGS, streams::logs_page)
        .mount(r::GET_INSTANCES_ID_LOGS_WS, streams::logs_ws)
        .mount(r::GET_INSTANCES_ID_LOGS_DOWNLOAD, streams::logs_download)
        .mount(r::GET_INSTANCES_ID_TERMINAL, streams::terminal_page)
        .mount(r::GET_INSTANCES_ID_TERMINAL_WS, streams::terminal_ws);
}

fn catalog_routes<M: CatalogPage>(cfg: &mut ServiceConfig) {
    let routes = M::ROUTES;
    // the list and create share their path: one resource with both methods
    cfg.service(
        web::resource(routes.index.pattern)
            .route(method(routes.index).to(catalog::index::<M>))
            .route(method(routes.create).to(catalog::create::<M>)),
    )
    .mount(routes.new, catalog::new::<M>)
    .mount(routes.edit, catalog::edit::<M>)
    .mount(routes.update, catalog::update::<M>)
    .mount(routes.listed, catalog::listed::<M>)
    .mount(routes.delete, catalog::delete::<M>);
}

/// A route's method, for the router.
fn method(route: Route) -> actix_web::Route {
    match route.method {
        Method::Get => get(),
        Method::Post => post(),
    }
}

/// Mounting a `domain::routes` route (its method and pattern) with its handler.
trait Mount {
    fn mount<F, Args>(&mut self, route: Route, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static;
}

impl Mount for ServiceConfig {
    fn mount<F, Args>(&mut self, route: Route, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(route.pattern, method(route).to(handler))
    }
}
