//! Settings: `Settings.toml` (or `--config PATH`) overridden by `SUANLI__SECTION__KEY`
//! environment variables. Loaded once in main and passed to `Application::build`;
//! there is no global configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid setting `{key}`: {why}")]
    Invalid { key: &'static str, why: String },
}

/// A setting refused: `key`, and why.
fn bad(key: &'static str, why: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key,
        why: why.into(),
    })
}

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub security: SecuritySettings,
    pub jumpbox: JumpboxSettings,
    pub docker: DockerSettings,
    pub zjmf: ZjmfSettings,
}

/// The ZJMF (魔方财务) `lxdserver` plugin's backend under `/api/`, and the LXD host it drives.
#[derive(Clone, Debug, Deserialize)]
pub struct ZjmfSettings {
    /// the plugin's `apikey` tokens, comma-separated (several, so keys can rotate);
    /// empty: every /api/ call is refused
    pub api_tokens: Secret,
    /// LXD's REST socket (Debian's lxd; /var/lib/incus/unix.socket for Incus)
    pub lxd_socket: PathBuf,
    /// image alias when a create or reinstall sends `system` empty
    pub default_image: String,
    pub bridge: String,
    pub storage_pool: String,
    /// the container user whose password create/password/reinstall set
    pub container_user: String,
    /// what `Bandwidth` says in getinfo for an unlimited flow limit (GB): the plugin
    /// divides by it, so never 0
    pub unlimited_bandwidth_gb: u64,
    /// seconds to wait for LXD operations (the plugin gives up after 30 s)
    pub operation_timeout_secs: u64,
    /// the address port forwards listen on; empty = those of the default route's interface
    /// (found at start-up by ops::nat::listen)
    pub nat_listen_ip: String,
    /// the prefix of Suanli's iptables chains (<prefix>-NAT, -FWD, -POST, -N<k>)
    pub nat_chain: String,
    /// with `container_subnet`: add a MASQUERADE rule for containers leaving through it
    pub main_interface: String,
    pub container_subnet: String,
}

impl ZjmfSettings {
    /// The configured tokens, blanks dropped.
    pub fn tokens(&self) -> Vec<&str> {
        self.api_tokens
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct DockerSettings {
    /// follow every node's engine (events + periodic full listing) to keep instance
    /// states current
    pub status_worker: bool,
    /// seconds between full listings per node (and between reconnect attempts)
    pub reconcile_secs: u64,
    /// `--pids-limit` of every instance container
    pub pids_limit: i64,
    /// tenant networks are named `<prefix>c<company id>` / `<prefix>u<user id>`
    pub tenant_network_prefix: String,
    /// on the first start, register the engine at `local_endpoint` as the unlisted node
    /// `local` (when it answers and no node exists yet)
    pub local_node: bool,
    pub local_endpoint: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub static_dir: PathBuf,
    /// the panel itself listens with TLS on `listen` (see tls.rs)
    pub tls: bool,
    /// the operator's certificate chain and key (PEM); both empty = generated
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// the names of the generated certificate, comma-separated; empty = the defaults
    pub tls_names: String,
    /// plain HTTP here only redirects to HTTPS (with `tls`); empty = off
    pub http_redirect_listen: String,
    /// a reverse proxy in front terminates TLS: cookies `Secure` and HSTS as with `tls`,
    /// while the panel listens plain HTTP
    pub tls_at_proxy: bool,
    pub page_size: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SecuritySettings {
    /// base64 of 64 bytes; empty = generated into `<data_dir>/session.key`.
    pub session_secret: Secret,
    /// base64 of 32 bytes; empty = generated into `<data_dir>/master.key`.
    pub master_key: Secret,
    pub bcrypt_cost: u32,
    pub lockout_threshold: i32,
    pub lockout_minutes: i64,
    /// failed logins per source address and minute, both doors together
    pub login_failures_per_ip: usize,
    pub session_hours: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct JumpboxSettings {
    /// run the SSH jumpbox in this process
    pub enabled: bool,
    pub listen: String,
    /// seconds without traffic after which a connection is closed
    pub idle_timeout_secs: u64,
    /// concurrent SSH connections one user may hold
    pub max_sessions_per_user: usize,
    /// concurrent SSH connections overall (logged in or not)
    pub max_sessions: usize,
    /// seconds a connection may take to log in (OpenSSH's LoginGraceTime)
    pub login_grace_secs: u64,
    /// connections not logged in yet, overall and from one source address
    pub max_unauthenticated: usize,
    pub max_unauthenticated_per_ip: usize,
    /// instances listed in the menu at most (enter others by name)
    pub menu_limit: i64,
    /// the ciphers offered, comma-separated, from `JUMPBOX_CIPHERS`; empty = all of them
    pub ciphers: String,
    /// GiB that SFTP uploads in progress may hold on the panel's disk, all together
    pub sftp_spool_gb: u64,
    /// the ports `ssh -L` may reach inside an instance: `1-65535`, `22,8888,6006`,
    /// `8000-8999,6006`; empty = all
    pub forward_ports: String,
}

/// The ciphers the jumpbox can offer (AEAD and CTR modes; russh has no others worth
/// offering), in its default order.
pub const JUMPBOX_CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
];

impl JumpboxSettings {
    /// The ports forwards may reach (validated at start-up: a bad list allows none).
    pub fn forward_port_set(&self) -> Option<crate::domain::forward::PortSet> {
        crate::domain::forward::PortSet::parse(&self.forward_ports).ok()
    }

    /// The ciphers offered, in order: the configured ones (blanks dropped), or all of
    /// `JUMPBOX_CIPHERS` when none is configured.
    pub fn cipher_list(&self) -> Vec<&str> {
        let configured: Vec<&str> = self
            .ciphers
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if configured.is_empty() {
            JUMPBOX_CIPHERS.to_vec()
        } else {
            configured
        }
    }
}

/// A string that never prints: `Debug` shows `***`.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The defaults every key falls back to; Settings.toml documents each one.
const DEFAULTS: &str = include_str!("../Settings.toml");

impl Settings {
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = path {
            builder = builder.add_source(File::from(path).required(true));
        } else {
            builder = builder.add_source(File::with_name("Settings.toml").required(false));
        }
        let settings: Settings = builder
            .add_source(
                Environment::with_prefix("SUANLI")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Cookies get `Secure` (and HSTS is sent) when users reach the panel over HTTPS:
    /// its own TLS or a TLS proxy in front.
    pub fn security_cookie_secure(&self) -> bool {
        self.server.tls || self.server.tls_at_proxy
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return bad("server.listen", "expected host:port, e.g. 127.0.0.1:8080");
        }
        if self.jumpbox.listen.parse::<SocketAddr>().is_err() {
            return bad("jumpbox.listen", "expected host:port, e.g. 0.0.0.0:2026");
        }
        self.validate_jumpbox()?;
        self.validate_zjmf()?;
        self.validate_store()?;
        self.validate_security()?;
        self.validate_tls()?;
        if !(1..=500).contains(&self.server.page_size) {
            return bad("server.page_size", "expected 1..=500");
        }
        Ok(())
    }

    /// The SSH jumpbox's limits and ciphers.
    fn validate_jumpbox(&self) -> Result<(), ConfigError> {
        if self.jumpbox.idle_timeout_secs == 0 {
            return bad("jumpbox.idle_timeout_secs", "expected > 0");
        }
        if self.jumpbox.login_grace_secs == 0
            || self.jumpbox.max_unauthenticated == 0
            || self.jumpbox.max_unauthenticated_per_ip == 0
        {
            return bad(
                "jumpbox.login_grace_secs",
                "expected > 0 (also max_unauthenticated and max_unauthenticated_per_ip)",
            );
        }
        if self.jumpbox.max_sessions_per_user == 0 || self.jumpbox.max_sessions == 0 {
            return bad(
                "jumpbox.max_sessions",
                "expected > 0 (also max_sessions_per_user)",
            );
        }
        if !(1..=10_000).contains(&self.jumpbox.menu_limit) {
            return bad("jumpbox.menu_limit", "expected 1..=10000");
        }
        if let Err(why) = crate::domain::forward::PortSet::parse(&self.jumpbox.forward_ports) {
            return bad("jumpbox.forward_ports", why.to_string());
        }
        if let Some(c) = self
            .jumpbox
            .cipher_list()
            .into_iter()
            .find(|c| !JUMPBOX_CIPHERS.contains(c))
        {
            return bad(
                "jumpbox.ciphers",
                format!(
                    "unknown cipher {c}; expected some of {}",
                    JUMPBOX_CIPHERS.join(", ")
                ),
            );
        }
        Ok(())
    }

    /// The ZJMF plugin's API and its NAT rules.
    fn validate_zjmf(&self) -> Result<(), ConfigError> {
        if self.zjmf.unlimited_bandwidth_gb == 0 {
            return bad(
                "zjmf.unlimited_bandwidth_gb",
                "expected > 0 (the plugin divides by it)",
            );
        }
        if !(1..=28).contains(&self.zjmf.operation_timeout_secs) {
            return bad(
                "zjmf.operation_timeout_secs",
                "expected 1..=28 (the plugin waits 30 s)",
            );
        }
        if !self.zjmf.nat_listen_ip.is_empty()
            && self
                .zjmf
                .nat_listen_ip
                .parse::<std::net::Ipv4Addr>()
                .is_err()
        {
            return bad("zjmf.nat_listen_ip", "expected an IPv4 address or empty");
        }
        let chain_ok = |c: &str| {
            (1..=20).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if !chain_ok(&self.zjmf.nat_chain) {
            return bad("zjmf.nat_chain", "expected 1..=20 letters, digits or _");
        }
        if self.zjmf.tokens().iter().any(|t| t.len() < 16) {
            return bad("zjmf.api_tokens", "each token needs at least 16 characters");
        }
        Ok(())
    }

    /// Postgres and the Docker nodes.
    fn validate_store(&self) -> Result<(), ConfigError> {
        if !self.database.url.expose().starts_with("postgres") {
            return bad("database.url", "expected a postgres:// URL");
        }
        if self.database.pool_size == 0 || self.database.pool_size > 512 {
            return bad("database.pool_size", "expected 1..=512");
        }
        if self.docker.reconcile_secs == 0 || self.docker.reconcile_secs > 3600 {
            return bad("docker.reconcile_secs", "expected 1..=3600");
        }
        if !(16..=4_194_304).contains(&self.docker.pids_limit) {
            return bad("docker.pids_limit", "expected 16..=4194304");
        }
        if !crate::domain::tenancy::is_network_prefix(&self.docker.tenant_network_prefix) {
            return bad(
                "docker.tenant_network_prefix",
                "expected 1..=40 letters, digits, _ . or -, starting with a letter or digit",
            );
        }
        if self.database.connect_timeout_secs == 0 {
            return bad("database.connect_timeout_secs", "expected > 0");
        }
        let ep = &self.docker.local_endpoint;
        if !(ep.starts_with("unix:///") || ep.starts_with("tcp://")) {
            return bad(
                "docker.local_endpoint",
                "expected unix:///path or tcp://host:port",
            );
        }
        Ok(())
    }

    /// Passwords, lockouts and sessions.
    fn validate_security(&self) -> Result<(), ConfigError> {
        if !(4..=31).contains(&self.security.bcrypt_cost) {
            return bad(
                "security.bcrypt_cost",
                "expected 4..=31 (use >= 12 in production)",
            );
        }
        if self.security.lockout_threshold < 1 {
            return bad("security.lockout_threshold", "expected >= 1");
        }
        if self.security.lockout_minutes < 1 {
            return bad("security.lockout_minutes", "expected >= 1");
        }
        if self.security.login_failures_per_ip < 1 {
            return bad("security.login_failures_per_ip", "expected >= 1");
        }
        if self.security.session_hours < 1 {
            return bad("security.session_hours", "expected >= 1");
        }
        Ok(())
    }

    /// The HTTPS keys of `server` (issue #14).
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if let Err(e) = crate::domain::tls::parse_names(&s.tls_names) {
            return bad("server.tls_names", e.to_string());
        }
        if s.tls_cert.as_os_str().is_empty() != s.tls_key.as_os_str().is_empty() {
            return bad(
                "server.tls_cert",
                "set both server.tls_cert and server.tls_key, or neither (a certificate is then generated)",
            );
        }
        if !s.http_redirect_listen.is_empty() {
            if s.http_redirect_listen.parse::<SocketAddr>().is_err() {
                return bad(
                    "server.http_redirect_listen",
                    "expected host:port, e.g. 0.0.0.0:80, or empty",
                );
            }
            if !s.tls {
                return bad(
                    "server.http_redirect_listen",
                    "needs server.tls = true (behind a TLS proxy, let the proxy redirect)",
                );
            }
        }
        if s.tls && s.tls_at_proxy {
            return bad(
                "server.tls_at_proxy",
                "set either server.tls (the panel serves HTTPS itself) or server.tls_at_proxy (a proxy in front does), not both",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let s = Settings::load(None).expect("defaults");
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.jumpbox.listen, "0.0.0.0:2026");
        assert!(s.security.bcrypt_cost >= 12);
        assert_eq!(format!("{:?}", s.database.url), "***");
    }

    #[test]
    fn jumpbox_ciphers_are_checked() {
        let mut s = Settings::load(None).expect("defaults");
        assert_eq!(s.jumpbox.cipher_list(), JUMPBOX_CIPHERS, "all by default");
        s.jumpbox.ciphers = " aes256-gcm@openssh.com, aes128-gcm@openssh.com ,".into();
        assert_eq!(
            s.jumpbox.cipher_list(),
            ["aes256-gcm@openssh.com", "aes128-gcm@openssh.com"]
        );
        s.validate().expect("known ciphers");
        s.jumpbox.ciphers = "aes256-gcm@openssh.com,3des-cbc".into();
        let err = s.validate().expect_err("3des").to_string();
        assert!(
            err.contains("jumpbox.ciphers") && err.contains("3des-cbc"),
            "{err}"
        );
    }

    #[test]
    fn forward_ports_are_checked() {
        let mut s = Settings::load(None).expect("defaults");
        assert!(
            s.jumpbox
                .forward_port_set()
                .is_some_and(|p| p.allows(1) && p.allows(65535))
        );
        s.jumpbox.forward_ports = "22,8888,6006".into();
        s.validate().expect("a list");
        s.jumpbox.forward_ports = "22,9000-80".into();
        let err = s.validate().expect_err("backwards").to_string();
        assert!(
            err.contains("jumpbox.forward_ports") && err.contains("9000-80"),
            "{err}"
        );
    }

    #[test]
    fn https_keys_are_checked() {
        let ok = Settings::load(None).expect("defaults");
        assert!(!ok.server.tls && !ok.security_cookie_secure());
        for (why, tweak, key) in [
            (
                "a bad name",
                (|s: &mut ServerSettings| s.tls_names = "localhost, not a name".into())
                    as fn(&mut ServerSettings),
                "server.tls_names",
            ),
            (
                "a cert without a key",
                |s| s.tls_cert = "/etc/ssl/panel.pem".into(),
                "server.tls_cert",
            ),
            (
                "a key without a cert",
                |s| s.tls_key = "/etc/ssl/panel.key".into(),
                "server.tls_cert",
            ),
            (
                "a bad redirect address",
                |s| {
                    s.tls = true;
                    s.http_redirect_listen = "80".into()
                },
                "server.http_redirect_listen",
            ),
            (
                "redirects without tls",
                |s| s.http_redirect_listen = "0.0.0.0:80".into(),
                "server.http_redirect_listen",
            ),
            (
                "both tls modes",
                |s| {
                    s.tls = true;
                    s.tls_at_proxy = true
                },
                "server.tls_at_proxy",
            ),
        ] {
            let mut s = ok.clone();
            tweak(&mut s.server);
            let err = s.validate().expect_err(why).to_string();
            assert!(err.contains(key), "{why}: {err}");
        }
        let mut s = ok.clone();
        s.server.tls = true;
        s.server.tls_names = "panel.example.com, 203.0.113.7, ::1".into();
        s.server.http_redirect_listen = "0.0.0.0:80".into();
        s.validate().expect("direct tls");
        assert!(s.security_cookie_secure());
        let mut s = ok;
        s.server.tls_at_proxy = true;
        s.validate().expect("tls at a proxy");
        assert!(s.security_cookie_secure());
    }

    #[test]
    fn invalid_key_is_named() {
        let mut s = Settings::load(None).expect("defaults");
        s.server.listen = "nope".into();
        let err = s.validate().expect_err("must fail").to_string();
        assert!(err.contains("server.listen"), "{err}");
    }
}
