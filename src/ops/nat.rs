//! Port forwards (端口转发) to LXD containers. The store (`nat_rules`) is the source of
//! truth; `apply` makes iptables match it: Suanli's chains are rewritten in one
//! `iptables-restore --noflush` run from the store and the containers' current
//! addresses, and the jumps into them are added when missing. Applies are serialised
//! (iptables is one per host), run at start-up, after every change, and whenever a
//! container's address changes (the sampler in ops/zjmf.rs notices).

use std::collections::BTreeMap;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Mutex;

use crate::db::{self, zjmf::NatRule};
use crate::domain::nat::{self, Forward, Host, Proto};
use crate::domain::zjmf::Refusal;
use crate::startup::AppState;

/// One apply at a time in this process.
static APPLYING: Mutex<()> = Mutex::const_new(());

#[derive(Debug, thiserror::Error)]
pub enum NatError {
    #[error("database: {0}")]
    Db(#[from] db::DbError),
    #[error("iptables: {0}")]
    Iptables(String),
}

fn host(state: &AppState) -> Host {
    let z = &state.settings.zjmf;
    Host {
        chain: z.nat_chain.clone(),
        listen_ip: z.nat_listen_ip.clone(),
        main_interface: z.main_interface.clone(),
        subnet: z.container_subnet.clone(),
    }
}

/// The containers' current IPv4 addresses (containers without one are left out: their
/// rules come back when they get one). A container's view that the cache holds fresh is
/// used as it is (the sampler refreshes every view every few seconds and re-applies when
/// an address changes); only the others cost LXD a call. Callers that just changed a
/// container drop its view first.
pub async fn addresses(state: &AppState, hostnames: Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let unique: std::collections::BTreeSet<String> = hostnames.into_iter().collect();
    let now = std::time::Instant::now();
    for h in unique {
        let ipv4 = match state.lxd_cache.fresh(&h, now) {
            Some((_, live)) => live.ipv4,
            None => match state.lxd.state(&h).await {
                Ok(Some(s)) => s.ipv4,
                _ => None,
            },
        };
        if let Some(ip) = ipv4 {
            out.insert(h, ip);
        }
    }
    out
}

/// Makes iptables hold exactly the stored rules.
pub async fn apply(state: &AppState) -> Result<(), NatError> {
    let _one = APPLYING.lock().await;
    let rules = db::run(&state.pool, db::zjmf::all_rules).await?;
    let host = host(state);
    if rules.is_empty()
        && iptables(&["-t", "nat", "-n", "-L", &host.chains().0])
            .await
            .is_err()
    {
        // nothing stored and nothing applied yet: leave iptables alone
        return Ok(());
    }
    let hostnames: Vec<String> = rules.iter().map(|r| r.hostname.clone()).collect();
    let ips = addresses(state, hostnames).await;
    let forwards: Vec<Forward> = rules
        .iter()
        .filter_map(|r| {
            Some(Forward {
                id: r.id,
                hostname: r.hostname.clone(),
                proto: Proto::parse(&r.proto)?,
                ext_port: u16::try_from(r.ext_port).ok()?,
                int_port: u16::try_from(r.int_port).ok()?,
                container_ip: ips.get(&r.hostname)?.clone(),
            })
        })
        .collect();
    restore(&nat::restore_script(&host, &forwards)).await?;
    let docker_user = iptables(&["-t", "filter", "-n", "-L", "DOCKER-USER"])
        .await
        .is_ok();
    for (table, parent, chain) in host.jumps(docker_user) {
        let rule = [
            "-m",
            "comment",
            "--comment",
            nat::COMMENT,
            "-j",
            chain.as_str(),
        ];
        let check = [&["-t", table, "-C", parent][..], &rule[..]].concat();
        if iptables(&check).await.is_err() {
            let insert = [&["-t", table, "-I", parent, "1"][..], &rule[..]].concat();
            iptables(&insert).await?;
        }
    }
    log::debug!("nat: applied {} forward(s)", forwards.len());
    Ok(())
}

async fn iptables(args: &[&str]) -> Result<(), NatError> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .await
        .map_err(|e| NatError::Iptables(format!("cannot run iptables: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NatError::Iptables(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

async fn restore(script: &str) -> Result<(), NatError> {
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NatError::Iptables(format!("cannot run iptables-restore: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| NatError::Iptables(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| NatError::Iptables(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NatError::Iptables(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

pub fn refusal(e: NatError) -> Refusal {
    log::error!("nat: {e}");
    match e {
        NatError::Db(_) => Refusal::new(500, "lxdapi.store_failed"),
        NatError::Iptables(m) => Refusal::new(500, "lxdapi.nat_failed").with("m", m),
    }
}

/// The TCP ports of the panel (and the `/api/`), of its plain-HTTP redirects to HTTPS
/// and of the jumpbox when they run: as configured and as bound (a configured port 0
/// binds a free one).
pub fn reserved_ports(state: &AppState) -> Vec<u16> {
    let s = &state.settings;
    let jumpbox = s.jumpbox.enabled.then_some(s.jumpbox.listen.as_str());
    let mut ports = nat::reserved_ports(std::iter::once(s.server.listen.as_str()).chain(jumpbox));
    ports.extend(state.http_port.get().copied());
    ports.extend(state.jumpbox.get().map(|j| j.addr.port()));
    ports.extend(state.https.get().and_then(|h| h.redirect).map(|a| a.port()));
    ports
}

/// Maps a random free external port to the container's port 22 (drawing again when
/// another call took the port first) and applies. Returns the external port.
pub async fn add_ssh(state: &AppState, hostname: &str) -> Result<u16, Refusal> {
    let reserved = reserved_ports(state);
    for _ in 0..20 {
        let h = hostname.to_string();
        let used = db::run(&state.pool, |c| db::zjmf::used_ports(c, "tcp"))
            .await
            .map_err(|e| refusal(e.into()))?;
        let used: Vec<u16> = used
            .into_iter()
            .filter_map(|p| u16::try_from(p).ok())
            .chain(reserved.iter().copied())
            .collect();
        let draws = (0..64).map(|_| rand::random_range(nat::EXT_MIN..=nat::EXT_MAX));
        let Some(port) = nat::pick_port(draws, &used) else {
            continue;
        };
        match db::run(&state.pool, move |c| {
            db::zjmf::add_rule(c, &h, "tcp", i32::from(port), 22, true)
        })
        .await
        {
            Ok(_) => {
                apply(state).await.map_err(refusal)?;
                return Ok(port);
            }
            // taken in the meantime: draw again
            Err(db::DbError::Duplicate(_)) => continue,
            Err(e) => return Err(refusal(e.into())),
        }
    }
    Err(Refusal::new(500, "lxdapi.no_free_port"))
}

/// The container's rules as the plugin lists them: all values strings, Dtype upper-case.
pub fn listing(rules: &[NatRule]) -> serde_json::Value {
    rules
        .iter()
        .map(|r| {
            serde_json::json!({
                "Dtype": r.proto.to_uppercase(),
                "Dport": r.ext_port.to_string(),
                "Sport": r.int_port.to_string(),
                "ID": r.id.to_string(),
            })
        })
        .collect()
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    /// (position in the file, why)
    pub skipped: Vec<(usize, String)>,
}

/// `suanli zjmf import --rules FILE`: the Flask backend's rules into the store, then
/// applied. A rule whose external port is already taken is skipped and reported.
pub async fn import(state: &AppState, text: &str) -> Result<ImportReport, String> {
    let (rules, mut skipped) = nat::parse_flask_rules(text)?;
    let mut imported = 0;
    let reserved = reserved_ports(state);
    for (i, r) in rules {
        if r.proto == Proto::Tcp && reserved.contains(&r.ext_port) {
            skipped.push((i, format!("tcp port {} is this server's own", r.ext_port)));
            continue;
        }
        let (ext, int) = (i32::from(r.ext_port), i32::from(r.int_port));
        let is_ssh = r.int_port == 22;
        let (h, proto) = (r.hostname.clone(), r.proto.as_str());
        match db::run(&state.pool, move |c| {
            db::zjmf::add_rule(c, &h, proto, ext, int, is_ssh)
        })
        .await
        {
            Ok(_) => imported += 1,
            Err(db::DbError::Duplicate(_)) => skipped.push((
                i,
                format!("{} port {} is already forwarded", proto, r.ext_port),
            )),
            Err(e) => return Err(e.to_string()),
        }
    }
    apply(state).await.map_err(|e| e.to_string())?;
    Ok(ImportReport { imported, skipped })
}
