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
