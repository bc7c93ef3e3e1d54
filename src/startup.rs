//! Builds the application from Settings: data directory and keys, database pool and
//! migrations, the first admin, the HTTP server bound (port 0 works for tests).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};

use crate::config::Settings;
use crate::crypto::{self, MasterKey};
use crate::db;
use crate::ops::Context;
use crate::web::error::WebError;

/// How often the CPU time of LXD containers is sampled (getinfo's `UsedCPU`).
const CPU_SAMPLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    #[error("database: {0} (is PostgreSQL running and `database.url` right?)")]
    Db(#[from] db::DbError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("first admin: {0}")]
    Admin(String),
    #[error("recovering interrupted instances: {0}")]
    Recovery(String),
    #[error("jumpbox: {0}")]
    Jumpbox(#[from] crate::jumpbox::JumpboxError),
    #[error("https: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

pub struct Application {
    http_addr: SocketAddr,
    server: Server,
    /// the plain-HTTP redirects to HTTPS (`server.http_redirect_listen`)
    redirect: Option<(Server, SocketAddr)>,
    pub state: web::Data<Context>,
}

/// Opens the data directory, keys and database (migrated); shared by `serve` and the
/// admin subcommands.
pub async fn prepare(settings: &Settings) -> Result<(Context, Vec<u8>), StartError> {
    let dir = &settings.server.data_dir;
    crypto::ensure_private_dir(dir)
        .map_err(|e| StartError::DataDir(dir.display().to_string(), e))?;
    let master = MasterKey::from_bytes(&crypto::load_or_create_key(
        &settings.security.master_key,
        "security.master_key",
        dir,
        "master.key",
        32,
    )?)?;
    let session_key = crypto::load_or_create_key(
        &settings.security.session_secret,
        "security.session_secret",
        dir,
        "session.key",
        64,
    )?;
    let db = &settings.database;
    let pool = {
        let (url, size, timeout) = (
            db.url.expose().to_string(),
            db.pool_size,
            Duration::from_secs(db.connect_timeout_secs),
        );
        tokio::task::spawn_blocking(move || db::connect(&url, size, timeout))
            .await
            .map_err(|e| db::DbError::Unavailable(e.to_string()))??
    };
    let applied = db::run(&pool, db::migrate).await?;
    if applied > 0 {
        log::info!("applied {applied} database migration(s)");
    }
    let cost = settings.security.bcrypt_cost;
    let dummy_hash =
        tokio::task::spawn_blocking(move || bcrypt::hash("suanli-timing-equaliser", cost))
            .await
            .map_err(|e| StartError::Admin(e.to_string()))?
            .map_err(|e| StartError::Admin(e.to_string()))?;
    let state = Context::new(pool, master, settings, dummy_hash);
    Ok((state, session_key))
}

/// Background work of the process: recovery from a previous run that stopped halfway
/// (ops/recovery.rs); the local engine as a node on the first start; then the Docker
/// status worker and the SSH jumpbox start (unless
/// disabled).
async fn start_workers(state: Arc<Context>) -> Result<(), StartError> {
    crate::ops::recovery::at_start(&state)
        .await
        .map_err(|e| StartError::Recovery(e.to_string()))?;
    // the engine on this host as a node, on the first start only (not fatal: the admin
    // can add nodes by hand)
    if let Err(e) = crate::ops::catalog::register_local_node(&state).await {
        log::warn!("the local node was not registered: {e}");
    }
    if state.settings.docker.status_worker {
        crate::workers::status::spawn(Arc::clone(&state));
    }
    if state.settings.zjmf.tokens().is_empty() {
        log::warn!("zjmf.api_tokens is empty: every /api/ call is refused");
    } else {
        // where port forwards listen, found once now (logged; on the settings page)
        crate::ops::nat::listen(&state).await;
        crate::workers::lxd_sampler::spawn(Arc::clone(&state), CPU_SAMPLE_EVERY);
    }
    if state.settings.jumpbox.enabled {
        let jumpbox = crate::jumpbox::start(Arc::clone(&state)).await?;
        let _ = state.jumpbox.set(jumpbox);
    }
    Ok(())
}

/// The certificate in the log, for comparing with what a browser shows.
fn log_certificate(info: &crate::domain::tls::TlsInfo) {
    log::info!(
        "https certificate sha256 {} for {} (valid until {}, {})",
        info.fingerprint,
        info.names.join(", "),
        info.not_after,
        info.cert_path.display()
    );
    if let Some(ca) = &info.ca {
        log::info!(
            "https local CA sha256 {} ({}): import it into browsers to trust the panel",
            ca.fingerprint,
            ca.path.display()
        );
    }
}

/// The first admin account, made when there is none; its password is printed once and
/// kept in the data folder.
async fn first_admin(state: &Context, settings: &Settings) -> Result<(), StartError> {
    if let Some(password) = crate::ops::accounts::ensure_first_admin(state)
        .await
        .map_err(|e| StartError::Admin(e.to_string()))?
    {
        let path = crate::ops::accounts::initial_password_file(&settings.server.data_dir);
        let _ = std::fs::remove_file(&path);
        crypto::write_private(&path, format!("{password}\n").as_bytes())
            .map_err(|e| StartError::DataDir(path.display().to_string(), e))?;
        // Printed once, on purpose: the operator needs it for the first login.
        println!(
            "Created the first account: user `admin`, password `{password}` (also in {}, mode 0600). It must be changed at first login.",
            path.display()
        );
    }
    Ok(())
}

/// The plain HTTP listener that redirects to HTTPS, when `server.http_redirect_listen`
/// names one.
fn plain_redirect(
    settings: &Settings,
    https_port: u16,
) -> Result<Option<(Server, SocketAddr)>, StartError> {
    Ok(match settings.server.http_redirect_listen.as_str() {
        "" => None,
        addr => {
            let listener =
                TcpListener::bind(addr).map_err(|e| StartError::Bind(addr.to_string(), e))?;
            let served = crate::web::https_redirect::serve(listener, https_port)
                .map_err(|e| StartError::Bind(addr.to_string(), e))?;
            log::info!("plain http on {} redirects to https", served.1);
            Some(served)
        }
    })
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        // the process-wide rustls provider: ring, for whatever builds a default TLS config
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (state, session_key) = prepare(&settings).await?;
        // before anything listens: a bad certificate path stops the start with its name
        let tls = if settings.server.tls {
            Some(crate::tls::load(&settings.server)?)
        } else {
            None
        };
        first_admin(&state, &settings).await?;
        let listener = TcpListener::bind(&settings.server.listen)
            .map_err(|e| StartError::Bind(settings.server.listen.clone(), e))?;
        let http_addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(settings.server.listen.clone(), e))?;
        let _ = state.http_port.set(http_addr.port());
        let state = web::Data::new(state);
        start_workers(state.clone().into_inner()).await?;
        let key = Key::from(&session_key);
        let secure = settings.security_cookie_secure();
        let data = state.clone();
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name("suanli_session".into())
                .cookie_content_security(CookieContentSecurity::Private)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_secure(secure)
                .build();
            App::new()
                .app_data(data.clone())
                .app_data(web::FormConfig::default().limit(256 * 1024))
                .configure(crate::web::routes)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(WebError::NotFound)
                }))
                .wrap(from_fn(crate::web::middleware::gate))
                .wrap(sessions)
                .wrap(Compress::default())
                .wrap(from_fn(move |req, next| {
                    crate::web::middleware::headers::secure(secure, req, next)
                }))
        });
        let bind_err = |e| StartError::Bind(settings.server.listen.clone(), e);
        let (server, redirect) = match tls {
            Some(tls) => {
                let redirect = plain_redirect(&settings, http_addr.port())?;
                let server = server
                    .listen_rustls_0_23(listener, tls.config)
                    .map_err(bind_err)?
                    .run();
                log_certificate(&tls.info);
                let _ = state.https.set(crate::domain::tls::Https {
                    info: tls.info,
                    addr: http_addr,
                    redirect: redirect.as_ref().map(|r| r.1),
                });
                log::info!("panel listening on https://{http_addr}");
                (server, redirect)
            }
            None => {
                let server = server.listen(listener).map_err(bind_err)?.run();
                log::info!("panel listening on http://{http_addr}");
                (server, None)
            }
        };
        Ok(Application {
            http_addr,
            server,
            redirect,
            state,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the SSH jumpbox listens (None when disabled).
    pub fn jumpbox_addr(&self) -> Option<SocketAddr> {
        self.state.jumpbox.get().map(|j| j.addr)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.redirect {
            // both stop on the same signal; the redirects never outlive the panel
            Some((redirect, _)) => {
                let handle = redirect.handle();
                let redirects = tokio::spawn(redirect);
                let served = self.server.await;
                handle.stop(true).await;
                let _ = redirects.await;
                served
            }
            None => self.server.await,
        }
    }
}
