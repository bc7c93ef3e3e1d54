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

use pages::catalog::{self, CatalogPage};
use pages::{
    account, audit, auth, companies, home, images::Images, instances, lxd, nodes::Nodes,
    permissions, settings, specs::Specs, users,
};

pub fn routes(cfg: &mut ServiceConfig) {
    api::routes(cfg);
    cfg.route("/healthz", get().to(home::healthz))
        .route("/readyz", get().to(home::readyz))
        .route("/static/{file:.*}", get().to(home::static_file))
        .route("/login", get().to(auth::login_page))
        .route("/login", post().to(auth::login))
        .route("/logout", post().to(auth::logout))
        .route("/lang/{code}", get().to(auth::set_lang))
        .route("/", get().to(home::home))
        .route("/password", get().to(auth::password_page))
        .route("/password", post().to(auth::change_password))
        .route("/account/sessions", get().to(account::sessions))
        .route(
            "/account/sessions/{id}/end",
            post().to(account::end_session),
        );
    catalog_routes::<Images>(cfg);
    catalog_routes::<Nodes>(cfg);
    catalog_routes::<Specs>(cfg);
    cfg.route("/users", get().to(users::index))
        .route("/users/new", get().to(users::new))
        .route("/users", post().to(users::create))
        .route("/users/{id}/edit", get().to(users::edit))
        .route("/users/{id}", post().to(users::update))
        .route("/users/{id}/disabled", post().to(users::set_disabled))
        .route("/users/{id}/password", post().to(users::reset_password))
        .route("/users/{id}/unlock", post().to(users::unlock))
        .route("/users/{id}/sessions/end", post().to(users::end_sessions))
        .route("/companies", get().to(companies::index))
        .route("/companies/new", get().to(companies::new))
        .route("/companies", post().to(companies::create))
        .route("/companies/{id}/edit", get().to(companies::edit))
        .route("/companies/{id}", post().to(companies::update))
        .route("/companies/{id}/delete", post().to(companies::delete))
        .route("/permissions", get().to(permissions::index))
        .route(
            "/permissions/{id}/roles/{role}",
            post().to(permissions::toggle),
        )
        .route("/audit", get().to(audit::index))
        .route("/settings", get().to(settings::index))
        .route("/lxd", get().to(lxd::index))
        .route("/lxd/{name}", get().to(lxd::detail))
        .route("/lxd/{name}/power/{action}", post().to(lxd::power))
        .route("/lxd/{name}/delete", post().to(lxd::delete))
        .route("/lxd/{name}/ports", post().to(lxd::add_port))
        .route("/lxd/{name}/ports/delete", post().to(lxd::remove_port))
        .route("/instances", get().to(instances::index))
        .route("/instances", post().to(instances::create))
        .route("/instances/new", get().to(instances::wizard))
        .route("/instances/new/nodes", get().to(instances::nodes))
        .route("/instances/{id}/row", get().to(instances::row))
        .route("/instances/{id}/start", post().to(instances::start))
        .route("/instances/{id}/stop", post().to(instances::stop))
        .route("/instances/{id}/restart", post().to(instances::restart))
        .route("/instances/{id}/delete", post().to(instances::delete));
    // logs and terminal of an instance (pages, WebSockets, download)
    cfg.route("/instances/{id}/logs", get().to(pages::streams::logs_page))
        .route("/instances/{id}/logs/ws", get().to(pages::streams::logs_ws))
        .route(
            "/instances/{id}/logs/download",
            get().to(pages::streams::logs_download),
        )
        .route(
            "/instances/{id}/terminal",
            get().to(pages::streams::terminal_page),
        )
        .route(
            "/instances/{id}/terminal/ws",
            get().to(pages::streams::terminal_ws),
        );
}

fn catalog_routes<M: CatalogPage>(cfg: &mut ServiceConfig) {
    let base = M::base();
    cfg.service(
        web::resource(base)
            .route(get().to(catalog::index::<M>))
            .route(post().to(catalog::create::<M>)),
    )
    .route(&format!("{base}/new"), get().to(catalog::new::<M>))
    .route(&format!("{base}/{{id}}/edit"), get().to(catalog::edit::<M>))
    .route(&format!("{base}/{{id}}"), post().to(catalog::update::<M>))
    .route(
        &format!("{base}/{{id}}/listed"),
        post().to(catalog::listed::<M>),
    )
    .route(
        &format!("{base}/{{id}}/delete"),
        post().to(catalog::delete::<M>),
    );
}
