//! Crash recovery (issue 15) with a real server process: `PanelEnv` runs the `suanli`
//! binary on a database and data directory of its own; a test kills it with SIGKILL in
//! the middle of a create (at a fixed time, or once it sees a phase of the create on the
//! real LXD or Docker engine) and starts it again on the same database. Whatever the
//! create had begun must be gone afterwards — no container, volume, network, port forward
//! or half row — and the same name must create again. Every wait polls with a deadline.

mod gate;
mod instances;
mod registry;
mod zjmf;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use reqwest::redirect::Policy;

use crate::helpers::{self, PASSWORD, Session, TestDb};

/// One panel's database, data directory, iptables chains and tenant network prefix, kept
/// across its restarts; all removed on drop (the logs are kept when the test failed).
pub struct PanelEnv {
    pub db: TestDb,
    pub data_dir: PathBuf,
    pub chain: String,
    pub net_prefix: String,
    env: Vec<(String, String)>,
    starts: u32,
    password_changed: bool,
}

impl PanelEnv {
    /// `extra`: more SUANLI__… settings (they win over the defaults here).
    pub fn new(extra: &[(&str, &str)]) -> Self {
        let db = TestDb::from_template();
        // reqwest is built without a default crypto provider (the in-process apps install
        // ring at start; these tests may run before any of them)
        let _ = rustls::crypto::ring::default_provider().install_default();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let data_dir = std::env::temp_dir().join(format!("suanli-crash-{id}"));
        std::fs::create_dir_all(&data_dir).unwrap();
        let chain = format!("T{}", &id[..10]);
        let net_prefix = format!("t{}-", &id[10..20]);
        let statics = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut env: Vec<(String, String)> = [
            ("RUST_LOG", "info"),
            ("SUANLI__DATABASE__URL", db.url.as_str()),
            ("SUANLI__DATABASE__POOL_SIZE", "4"),
            ("SUANLI__SERVER__LISTEN", "127.0.0.1:0"),
            ("SUANLI__SERVER__DATA_DIR", &data_dir.display().to_string()),
            ("SUANLI__SERVER__STATIC_DIR", &statics.display().to_string()),
            ("SUANLI__SECURITY__BCRYPT_COST", "4"),
            ("SUANLI__JUMPBOX__ENABLED", "false"),
            ("SUANLI__ZJMF__API_TOKENS", crate::zjmf::TOKEN),
            ("SUANLI__ZJMF__NAT_CHAIN", &chain),
            ("SUANLI__ZJMF__DEFAULT_IMAGE", crate::zjmf::LXD_IMAGE),
            ("SUANLI__DOCKER__TENANT_NETWORK_PREFIX", &net_prefix),
            // the tests make their own nodes (the first-start local node is tests/api/home.rs)
            ("SUANLI__DOCKER__LOCAL_NODE", "false"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        PanelEnv {
            db,
            data_dir,
            chain,
            net_prefix,
            env,
            starts: 0,
            password_changed: false,
        }
    }

    /// Starts the panel and returns once it listens (its log says where).
    pub async fn start(&mut self) -> Panel {
        self.starts += 1;
        let log = self.data_dir.join(format!("panel-{}.log", self.starts));
        let out = File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_suanli"));
        cmd.arg("serve")
            .current_dir(&self.data_dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // SAFETY: prctl is async-signal-safe. The panel dies with the test's thread even
        // when the test process itself is killed (no stray server keeps the chains).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        let base = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("panel listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the panel exited ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "the panel did not listen within 90 s:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Panel { child, base, log }
    }

    /// The admin, logged in (the first time with the initial password, changed then).
    pub async fn admin(&mut self, panel: &Panel) -> Session {
        let mut s = session(&panel.base);
        if self.password_changed {
            assert_eq!(s.login("admin", PASSWORD).await.status(), 303);
        } else {
            let first = std::fs::read_to_string(self.data_dir.join("initial-admin-password"))
                .unwrap()
                .trim()
                .to_string();
            assert_eq!(s.login("admin", &first).await.status(), 303);
            assert_eq!(s.change_password(&first, PASSWORD).await.status(), 303);
            self.password_changed = true;
        }
        s.refresh_csrf("/").await;
        s
    }

    pub fn count(&self, q: &str) -> i64 {
        self.db.count(q)
    }

    pub fn sql(&self, q: &str) -> usize {
        diesel::sql_query(q)
            .execute(&mut self.db.conn())
            .unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    /// One text value (column `t`), or None without a row.
    pub fn text(&self, q: &str) -> Option<String> {
        #[derive(diesel::QueryableByName)]
        struct T {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        diesel::sql_query(q)
            .get_results::<T>(&mut self.db.conn())
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .pop()
            .map(|r| r.t)
    }
}

impl Drop for PanelEnv {
    fn drop(&mut self) {
        helpers::remove_nat_chains(&self.chain);
        helpers::remove_tenant_networks(&self.net_prefix);
        if std::thread::panicking() {
            eprintln!("panel logs kept in {}", self.data_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A running panel process; killed (SIGKILL) when dropped.
pub struct Panel {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Panel {
    /// SIGKILL: the process gets no chance to clean up, as with `kill -9` or the OOM
    /// killer.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser-like client of the panel at `base` (cookies, CSRF token).
pub fn session(base: &str) -> Session {
    Session {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap(),
        base: base.to_string(),
        csrf: String::new(),
    }
}

/// Polls `check` until it says nothing is wrong (None) or `secs` have passed; then fails
/// with what it said last.
pub async fn within(secs: u64, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check() {
            None => return,
            Some(why) if Instant::now() >= deadline => panic!("after {secs} s: {why}"),
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
