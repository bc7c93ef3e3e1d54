//! The iptables adapter: runs `iptables -w` and `iptables-restore -w --noflush` and
//! reports their stderr. It knows nothing of forwards (domain/nat builds the input, ops/nat
//! decides when). `-w` waits for the xtables lock that every iptables tool on the host
//! takes, so one restore is one transaction whoever else writes rules.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IptablesError(pub String);

/// `iptables -w ARGS…`; Err with its stderr when it fails.
pub async fn run(args: &[&str]) -> Result<(), IptablesError> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .await
        .map_err(|e| IptablesError(format!("cannot run iptables: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(IptablesError(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Feeds `script` to `iptables-restore -w --noflush`: all of it or (on error) none of it.
/// An empty script costs nothing.
pub async fn restore(script: &str) -> Result<(), IptablesError> {
    if script.is_empty() {
        return Ok(());
    }
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| IptablesError(format!("cannot run iptables-restore: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| IptablesError(format!("iptables-restore input: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| IptablesError(format!("iptables-restore: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(IptablesError(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Whether `chain` exists in `table` (`-S` lists it).
pub async fn chain_exists(table: &str, chain: &str) -> bool {
    run(&["-t", table, "-S", chain]).await.is_ok()
}

/// Puts a jump from `parent` to `chain`, marked with `comment`, first in `parent` of
/// `table`, unless it is there already (`-C`).
pub async fn ensure_jump(
    table: &str,
    parent: &str,
    chain: &str,
    comment: &str,
) -> Result<(), IptablesError> {
    let rule = ["-m", "comment", "--comment", comment, "-j", chain];
    let check = [&["-t", table, "-C", parent][..], &rule[..]].concat();
    if run(&check).await.is_err() {
        let insert = [&["-t", table, "-I", parent, "1"][..], &rule[..]].concat();
        run(&insert).await?;
    }
    Ok(())
}
