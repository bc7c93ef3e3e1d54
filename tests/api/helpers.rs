//! TestApp: the real server on 127.0.0.1:0 with its own database, cloned from a
//! template migrated once per process; dropped with the TestApp. `Session` is a
//! logged-in browser-like client (cookies + CSRF token).

use std::sync::OnceLock;

use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::redirect::Policy;
use suanli::config::{Secret, Settings};
use suanli::ops::Context;
use suanli::startup::Application;

pub const PASSWORD: &str = "Test!pass123";

/// How long a test waits for what takes a moment on an idle machine: the suite runs on
/// loaded 2-CPU machines (beside other work, under `stress-ng --cpu 2`), where it may
/// take many times as long. Tests poll against this deadline; they never sleep a fixed
/// time and hope.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `f` every 100 ms until it gives Some, for at most PATIENCE; panics naming `what`.
pub async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not within {PATIENCE:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `eventually` for blocking code (a thread of its own, or a spawn_blocking).
pub fn eventually_blocking<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not within {PATIENCE:?}: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub fn server_url() -> String {
    std::env::var("SUANLI_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55432".into())
}

pub fn admin_conn() -> PgConnection {
    PgConnection::establish(&format!("{}/postgres", server_url()))
        .expect("connect to the test Postgres (SUANLI_TEST_PG)")
}

/// The template database, migrated once per test process.
fn template() -> &'static str {
    static TPL: OnceLock<String> = OnceLock::new();
    TPL.get_or_init(|| {
        let name = format!("tpl_{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
        let mut c = admin_conn();
        // Leftovers of earlier runs (a killed process never drops its databases): names
        // carry their creation time; only those older than two hours are dropped, so a
        // test process running beside this one keeps its own.
        let old: Vec<String> = diesel::sql_query(format!(
            "SELECT datname AS name FROM pg_database WHERE datname ~ '^(t|tpl)_[0-9]+_' \
             AND split_part(datname, '_', 2)::bigint < {}",
            now_secs() - 7200
        ))
        .load::<DbName>(&mut c)
        .map(|v| v.into_iter().map(|d| d.name).collect())
        .unwrap_or_default();
        for db in old {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{db}\"")).execute(&mut c);
        }
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut c)
            .expect("create template");
        let mut t =
            PgConnection::establish(&format!("{}/{name}", server_url())).expect("connect template");
        suanli::db::migrate(&mut t).expect("migrate template");
        name
    })
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(diesel::QueryableByName)]
struct DbName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// The bigint column `n` of the one row `q` returns.
    pub fn count(&self, q: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(q)
            .get_result::<N>(&mut self.conn())
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .n
    }

    pub fn from_template() -> Self {
        // Postgres refuses concurrent copies of one template: one at a time per process.
        static CREATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let tpl = template();
        let name = format!("t_{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
        let _guard = CREATE.lock().unwrap_or_else(|e| e.into_inner());
        let mut conn = admin_conn();
        eventually_blocking("the test database is created", || {
            diesel::sql_query(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{tpl}\""))
                .execute(&mut conn)
                .map_err(|e| eprintln!("create test database (retried): {e}"))
                .ok()
        });
        TestDb {
            url: format!("{}/{name}", server_url()),
            name,
        }
    }

    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect test db")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin_conn());
    }
}

/// The checkout under test. Cargo sets CARGO_MANIFEST_DIR when it runs the tests; the
/// value baked in at build time can name another clone that shared the target dir.
pub fn checkout() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

pub fn test_settings(db_url: &str, data_dir: &std::path::Path) -> Settings {
    let mut s = Settings::load(None).expect("default settings");
    s.database.url = Secret::new(db_url);
    s.database.pool_size = 4;
    s.server.listen = "127.0.0.1:0".into();
    s.server.data_dir = data_dir.to_path_buf();
    s.server.static_dir = checkout().join("static");
    // production uses >= 12; tests hash a lot
    s.security.bcrypt_cost = 4;
    s.jumpbox.listen = "127.0.0.1:0".into();
    s.zjmf.default_image = crate::zjmf::LXD_IMAGE.into();
    // iptables is shared by all tests: each app gets chains of its own
    s.zjmf.nat_chain = format!("T{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    // the engine is shared by all tests, and tenant ids repeat across test databases:
    // each app names its tenant networks apart
    s.docker.tenant_network_prefix =
        format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    // the tests make their own nodes (tests/api/home.rs checks the first-start one)
    s.docker.local_node = false;
    s
}

pub struct TestApp {
    pub base: String,
    /// the SSH jumpbox's port
    pub ssh_port: u16,
    pub state: actix_web::web::Data<Context>,
    pub admin_password: String,
    pub data_dir: std::path::PathBuf,
    pub db: TestDb,
    /// with `server.tls`: the CA (PEM) this app's clients trust, the generated one unless
    /// a test hands its own
    pub ca_pem: Option<String>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDb::from_template();
        let data_dir =
            std::env::temp_dir().join(format!("suanli-test-{}", uuid::Uuid::new_v4().simple()));
        let mut settings = test_settings(&db.url, &data_dir);
        tweak(&mut settings);
        let tls = settings.server.tls;
        let app = Application::build(settings).await.expect("build app");
        let scheme = if tls { "https" } else { "http" };
        let base = format!("{scheme}://{}", app.http_addr());
        let ca_pem = std::fs::read_to_string(data_dir.join("tls/ca.pem")).ok();
        let ssh_port = app.jumpbox_addr().map_or(0, |a| a.port());
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped());
        let admin_password = std::fs::read_to_string(data_dir.join("initial-admin-password"))
            .expect("admin password file")
            .trim()
            .to_string();
        TestApp {
            base,
            ssh_port,
            state,
            admin_password,
            data_dir,
            db,
            ca_pem,
        }
    }

    pub fn client(&self) -> Session {
        self.client_at(None)
    }

    /// A client whose connections come from `source` (another loopback address, such
    /// as 127.0.0.2: what the server sees as a second client machine).
    pub fn client_from(&self, source: std::net::IpAddr) -> Session {
        self.client_at(Some(source))
    }

    fn client_at(&self, source: Option<std::net::IpAddr>) -> Session {
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = self
            .ca_pem
            .as_deref()
            .filter(|_| self.base.starts_with("https"))
        {
            builder = trusting(builder, ca);
        }
        let http = builder
            .cookie_store(true)
            .redirect(Policy::none())
            .local_address(source)
            .build()
            .expect("client");
        Session {
            http,
            base: self.base.clone(),
            csrf: String::new(),
        }
    }

    /// The admin, logged in, first password already changed to PASSWORD.
    pub async fn admin(&self) -> Session {
        let mut s = self.client();
        let res = s.login("admin", &self.admin_password).await;
        assert_eq!(
            res.headers()["location"],
            "/password",
            "first login must force a password change"
        );
        let res = s.change_password(&self.admin_password, PASSWORD).await;
        assert_eq!(
            res.status(),
            303,
            "{}",
            res.text().await.unwrap_or_default()
        );
        s.refresh_csrf("/").await;
        s
    }

    /// Creates a user with PASSWORD (no forced change) and returns its id.
    pub async fn user(&self, username: &str, role: &str, company_id: Option<i64>) -> i64 {
        let form = suanli::domain::accounts::UserForm {
            username: username.into(),
            role: role.into(),
            company_id: company_id.map(|c| c.to_string()).unwrap_or_default(),
            password: PASSWORD.into(),
            ..Default::default()
        };
        let (fields, pw) =
            suanli::domain::accounts::UserFields::parse(&form, true).expect("valid user");
        let user = suanli::ops::accounts::create_user(&self.state, fields, pw)
            .await
            .expect("create user");
        self.sql(&format!(
            "UPDATE users SET must_change_password = false WHERE id = {}",
            user.id
        ));
        user.id.get()
    }

    pub async fn logged_in(&self, username: &str) -> Session {
        let mut s = self.client();
        let res = s.login(username, PASSWORD).await;
        assert_eq!(res.status(), 303, "login of {username}");
        s.refresh_csrf("/").await;
        s
    }

    /// Runs SQL behind the server's back. The gate's permission records in memory are
    /// dropped, as the records' short lifetime would drop them a moment later.
    pub fn sql(&self, q: &str) -> usize {
        let n = diesel::sql_query(q)
            .execute(&mut self.db.conn())
            .expect("sql");
        self.state.routes.forget();
        n
    }

    pub fn count(&self, q: &str) -> i64 {
        self.db.count(q)
    }

    pub async fn company(&self, name: &str) -> i64 {
        let f = suanli::domain::accounts::CompanyFields {
            name: name.into(),
            remark: String::new(),
        };
        suanli::ops::accounts::save_company(&self.state, None, f)
            .await
            .expect("company");
        self.count(&format!(
            "SELECT id AS n FROM companies WHERE name = '{name}'"
        ))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        remove_nat_chains(&self.state.settings.zjmf.nat_chain);
        remove_tenant_networks(&self.state.settings.docker.tenant_network_prefix);
    }
}

/// Removes a test app's tenant networks on the local engine and what is still attached
/// to them (Docker's address pools hold only a few dozen networks).
pub fn remove_tenant_networks(prefix: &str) {
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    };
    let names = docker(&["network", "ls", "-q", "--filter", &format!("name={prefix}")]);
    for net in names.split_whitespace() {
        let attached = docker(&["ps", "-aq", "--filter", &format!("network={net}")]);
        for c in attached.split_whitespace() {
            docker(&["rm", "-f", "-v", c]);
        }
        docker(&["network", "rm", net]);
    }
}

/// Removes a test app's iptables chains (`<prefix>-NAT`, `-FWD`, `-POST` and the shards
/// `-N<k>`) and the jumps into them, if it made any; nothing else. One
/// `iptables-restore` transaction per table: the app's background re-apply (an LXD address
/// changed) has no time to come between the steps.
pub fn remove_nat_chains(prefix: &str) {
    for table in ["nat", "filter"] {
        let saved = std::process::Command::new("iptables-save")
            .args(["-t", table])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let chains = nat_chains_of(&saved, prefix);
        if chains.is_empty() {
            continue;
        }
        let mut script = format!("*{table}\n");
        for jump in saved.lines().filter(|l| {
            l.starts_with("-A ")
                && ["NAT", "FWD", "POST"]
                    .iter()
                    .any(|c| l.ends_with(&format!("-m comment --comment suanli -j {prefix}-{c}")))
        }) {
            script.push_str(&format!("-D {}\n", &jump[3..]));
        }
        // the main chains jump into the shards: empty every chain before deleting any
        for chain in &chains {
            script.push_str(&format!("-F {chain}\n"));
        }
        for chain in &chains {
            script.push_str(&format!("-X {chain}\n"));
        }
        script.push_str("COMMIT\n");
        let restore = std::process::Command::new("iptables-restore")
            .args(["-w", "--noflush"])
            .stdin(std::process::Stdio::piped())
            .spawn();
        if let Ok(mut child) = restore {
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write;
                let _ = stdin.write_all(script.as_bytes());
            }
            let _ = child.wait();
        }
    }
}

/// A client that trusts only `ca_pem` (rustls with ring, as the server).
pub fn trusting(builder: reqwest::ClientBuilder, ca_pem: &str) -> reqwest::ClientBuilder {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    builder.tls_backend_preconfigured(config)
}

/// The chains of an `iptables-save` listing that belong to the app with this chain prefix.
pub fn nat_chains_of(saved: &str, prefix: &str) -> Vec<String> {
    let own = format!(":{prefix}-");
    saved
        .lines()
        .filter_map(|l| l.strip_prefix(&own)?.split_whitespace().next())
        .filter(|rest| {
            matches!(*rest, "NAT" | "FWD" | "POST")
                || rest
                    .strip_prefix('N')
                    .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|rest| format!("{prefix}-{rest}"))
        .collect()
}

pub struct Session {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: String,
}

pub fn scrape_csrf(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    Some(html[start..].split('"').next()?.to_string())
}

impl Session {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    pub async fn get_hx(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("HX-Request", "true")
            .send()
            .await
            .expect("GET hx")
    }

    /// The body of an HTMX GET (a partial).
    pub async fn text_hx(&self, path: &str) -> String {
        self.get_hx(path).await.text().await.expect("body")
    }

    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// Loads a page and keeps its CSRF token.
    pub async fn refresh_csrf(&mut self, path: &str) {
        let html = self.text(path).await;
        if let Some(t) = scrape_csrf(&html) {
            self.csrf = t;
        }
    }

    pub async fn login(&mut self, username: &str, password: &str) -> reqwest::Response {
        self.refresh_csrf("/login").await;
        let res = self
            .post_form("/login", &[("username", username), ("password", password)])
            .await;
        if res.status() == 303 {
            // a new session has a new token
            self.refresh_csrf("/password").await;
        }
        res
    }

    /// A plain form post carrying the CSRF field.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut body: Vec<(&str, &str)> = fields.to_vec();
        body.push(("csrf_token", &self.csrf));
        self.http
            .post(format!("{}{path}", self.base))
            .form(&body)
            .send()
            .await
            .expect("POST")
    }

    /// An HTMX post: CSRF in the header.
    pub async fn post_hx(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("HX-Request", "true")
            .header("X-CSRF-Token", &self.csrf)
            .form(fields)
            .send()
            .await
            .expect("POST hx")
    }

    /// The password form, `new` typed twice.
    pub async fn change_password(&self, current: &str, new: &str) -> reqwest::Response {
        self.post_form(
            "/password",
            &[("current", current), ("new", new), ("confirm", new)],
        )
        .await
    }

    /// A post without any CSRF token.
    pub async fn post_bare(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("POST bare")
    }
}
