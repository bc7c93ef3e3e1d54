//! What every op needs, in one value: the database pool, the keys, the settings, the LXD
//! client and the caches and locks ops keep between calls. Start-up builds one
//! (`Context::new`) and hands it to the doors (web, jumpbox, workers), which pass it
//! to the ops they call. The facts start-up learns once the doors listen (the port, the
//! jumpbox, HTTPS) are set here once.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::db::Pool;
use crate::domain::auth::LockoutPolicy;
use crate::domain::jumpbox::Jumpbox;
use crate::domain::tls::Https;
use crate::lxd::{Cache, Lxd};

use super::accounts::LoginThrottle;
use super::cpu_samples::CpuSamples;
use super::forward::Links;
use super::instances::Totals;
use super::nat::Nat;
use super::permissions::Records;
use super::tenancy::Locks;

/// What every handler and op shares.
pub struct Context {
    pub pool: Pool,
    pub master: MasterKey,
    pub settings: Arc<Settings>,
    pub lockout: LockoutPolicy,
    /// a bcrypt hash to verify against for unknown usernames and locked accounts (equal
    /// timing)
    pub dummy_hash: String,
    /// bcrypt checks run so far, real and dummy: the CPU the login doors spend
    pub password_checks: AtomicU64,
    /// failed logins per source address (web and jumpbox)
    pub throttle: LoginThrottle,
    /// instance counts per scope for list pagers (short-lived)
    pub totals: Totals,
    /// the SSH jumpbox, once started (address and host key fingerprint)
    pub jumpbox: OnceLock<Jumpbox>,
    /// the api_permissions records as the gate reads them
    pub routes: Records,
    /// the port the panel (and the `/api/`) listens on, once bound
    pub http_port: OnceLock<u16>,
    /// the LXD host the ZJMF API drives
    pub lxd: Lxd,
    /// containers' CPU time samples for the ZJMF getinfo
    pub cpu: CpuSamples,
    /// what LXD last said about each container (see lxd/cache.rs)
    pub lxd_cache: Cache,
    /// one lock per tenant network and node (see ops/tenancy.rs)
    pub tenant_locks: Locks,
    /// the panel's own HTTPS, once listening (None: plain HTTP)
    pub https: OnceLock<Https>,
    /// what this process wrote to iptables, and where port forwards listen
    pub nat: Nat,
    /// the panel's SSH connections to remote nodes, for the jumpbox's `ssh -L`
    pub forward_links: Links,
}

impl Context {
    /// A context over an open (migrated) pool; the caches start empty and the facts of
    /// the doors unset.
    pub fn new(pool: Pool, master: MasterKey, settings: &Settings, dummy_hash: String) -> Self {
        Context {
            pool,
            master,
            settings: Arc::new(settings.clone()),
            lockout: LockoutPolicy {
                threshold: settings.security.lockout_threshold,
                window: chrono::Duration::minutes(settings.security.lockout_minutes),
            },
            dummy_hash,
            password_checks: Default::default(),
            throttle: LoginThrottle::new(settings.security.login_failures_per_ip),
            totals: Default::default(),
            jumpbox: Default::default(),
            http_port: Default::default(),
            routes: Default::default(),
            lxd: Lxd::new(&settings.zjmf.lxd_socket),
            cpu: Default::default(),
            lxd_cache: Default::default(),
            tenant_locks: Default::default(),
            https: Default::default(),
            nat: Default::default(),
            forward_links: Default::default(),
        }
    }

    /// Whether the database answers a trivial query (the readiness probe).
    pub async fn database_ready(&self) -> Result<(), super::OpsError> {
        use diesel::RunQueryDsl;
        crate::db::run(
            &self.pool,
            |c| Ok(diesel::sql_query("SELECT 1").execute(c)?),
        )
        .await?;
        Ok(())
    }
}
