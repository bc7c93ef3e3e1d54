//! A container's usage, state and limits as getinfo and the admin pages show them,
//! worked out from what LXD says of it alone (no store read: getinfo is the plugin's most
//! frequent call). Suanli writes every billing figure into the container's config
//! (`user.suanli.*`, see `lxd_config`); containers it did not create (migrated from the
//! Flask backend) give their limits through LXD's own keys.

use std::collections::BTreeMap;

use super::meta;
use super::power::PowerState;

/// A container's state, usage and limits.
#[derive(Clone, Debug)]
pub struct Usage {
    pub name: String,
    /// running | stop | frozen | unknown
    pub status: &'static str,
    pub cpu_percent: f64,
    pub cores: u64,
    pub ram_total_mb: i64,
    pub ram_used_mb: i64,
    pub disk_total_mb: i64,
    pub disk_used_mb: i64,
    /// None while stopped
    pub ip: Option<String>,
    /// the flow limit in GB (the documented large value when unlimited)
    pub flow_gb: u64,
    /// no flow limit (pages say so rather than show the large value)
    pub flow_unlimited: bool,
    pub flow_used_gb: f64,
    pub image: String,
}

impl Usage {
    /// The i18n key of the status.
    pub fn status_key(&self) -> String {
        format!("lxd.state_{}", self.status)
    }
}

/// What LXD says of one container, as far as its usage goes.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    pub name: &'a str,
    /// the config in force (profiles applied)
    pub config: &'a BTreeMap<String, String>,
    /// the `size` of its `root` disk device, if it has one
    pub root_size: Option<&'a str>,
    /// LXD's power state
    pub status: PowerState,
    pub memory_bytes: i64,
    pub disk_bytes: i64,
    /// bytes through eth0 both ways
    pub network_bytes: i64,
    pub ipv4: Option<&'a str>,
}

/// The usage of `seen`. `cpu` gives the CPU use in percent of the cores it is handed
/// (asked only while the container runs); `unlimited_gb` is the flow limit shown when
/// there is none.
pub fn usage(seen: &Seen<'_>, cpu: impl FnOnce(u64) -> f64, unlimited_gb: u64) -> Usage {
    let cfg = seen.config;
    let meta = |key: &str| cfg.get(&meta(key));
    let cores = cfg
        .get("limits.cpu")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let ram_total_mb = cfg
        .get("limits.memory")
        .and_then(|v| megabytes(v))
        .unwrap_or(0);
    let disk_total_mb = meta("disk_mb")
        .and_then(|v| v.parse().ok())
        .or_else(|| seen.root_size.and_then(megabytes))
        .unwrap_or(0);
    let flow_limit: Option<u64> = meta("bandwidth_gb")
        .and_then(|v| v.parse().ok())
        .filter(|gb| *gb > 0);
    let running = seen.status.is_running();
    Usage {
        name: seen.name.to_string(),
        status: seen.status.plugin_word(),
        cpu_percent: if running { cpu(cores) } else { 0.0 },
        cores,
        ram_total_mb,
        ram_used_mb: mb(seen.memory_bytes),
        disk_total_mb,
        disk_used_mb: mb(seen.disk_bytes),
        ip: seen.ipv4.filter(|_| running).map(str::to_string),
        flow_gb: flow_limit.unwrap_or(unlimited_gb),
        flow_unlimited: flow_limit.is_none(),
        flow_used_gb: gb2(seen.network_bytes),
        image: meta("image")
            .or_else(|| cfg.get("image.description"))
            .cloned()
            .unwrap_or_default(),
    }
}

/// `512MB`, `1GB`, `1GiB`, `2048` (bytes) → MB.
pub fn megabytes(v: &str) -> Option<i64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: i64 = num.parse().ok()?;
    Some(match unit.trim() {
        "" | "B" => n / (1024 * 1024),
        "kB" | "KB" | "KiB" => n / 1024,
        "MB" | "MiB" => n,
        "GB" | "GiB" => n * 1024,
        "TB" | "TiB" => n * 1024 * 1024,
        _ => return None,
    })
}

/// CPU use in percent of the container's cores between two samples of its cumulative
/// CPU time (ns), rounded to 2 decimals; 0 without two samples.
pub fn cpu_percent(prev_ns: i64, now_ns: i64, elapsed_ns: i64, cores: u64) -> f64 {
    if elapsed_ns <= 0 || now_ns < prev_ns || cores == 0 {
        return 0.0;
    }
    let pct = (now_ns - prev_ns) as f64 / elapsed_ns as f64 / cores as f64 * 100.0;
    (pct.min(100.0) * 100.0).round() / 100.0
}

/// Bytes to whole MB (the plugin shows MB).
pub fn mb(bytes: i64) -> i64 {
    bytes.max(0) / (1024 * 1024)
}

/// Bytes to GB with 2 decimals.
pub fn gb2(bytes: i64) -> f64 {
    (bytes.max(0) as f64 / 1024f64.powi(3) * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::super::{Product, lxd_config};
    use super::*;

    #[test]
    fn usage_comes_from_lxd_alone() {
        let (mut config, devices) = lxd_config(
            &Product {
                cpu: 2,
                disk_mb: 4096,
                ram_mb: 512,
                up_mbit: 0,
                down_mbit: 0,
                ports: 3,
                bandwidth_gb: 100,
            },
            "default",
            "lxdbr0",
        );
        config.insert(meta("image"), "debian12".into());
        let root_size = devices
            .get("root")
            .and_then(|d| d.get("size"))
            .map(String::as_str);
        let seen = Seen {
            name: "vm1",
            config: &config,
            root_size,
            status: PowerState::Running,
            memory_bytes: 64 << 20,
            disk_bytes: 0,
            network_bytes: 2 << 30,
            ipv4: Some("10.0.0.2"),
        };
        let u = usage(&seen, |cores| cores as f64 * 10.0, 1_048_576);
        assert_eq!(
            (u.status, u.cores, u.ram_total_mb, u.disk_total_mb),
            ("running", 2, 512, 4096)
        );
        assert_eq!((u.ram_used_mb, u.flow_gb, u.flow_used_gb), (64, 100, 2.0));
        assert_eq!(u.cpu_percent, 20.0, "the CPU use of the container's cores");
        assert!(!u.flow_unlimited);
        assert_eq!(
            (u.ip.as_deref(), u.image.as_str()),
            (Some("10.0.0.2"), "debian12")
        );

        // a container of the Flask backend: LXD's own keys, unlimited flow
        let config: BTreeMap<String, String> = [
            ("limits.cpu".to_string(), "1".to_string()),
            ("limits.memory".to_string(), "1GB".to_string()),
        ]
        .into();
        let stopped = Seen {
            name: "old",
            config: &config,
            root_size: Some("10GB"),
            status: PowerState::Stopped,
            memory_bytes: 0,
            disk_bytes: 0,
            network_bytes: 0,
            ipv4: Some("10.0.0.3"),
        };
        let u = usage(&stopped, |_| panic!("no CPU use while stopped"), 1_048_576);
        assert_eq!(
            (u.status, u.cores, u.ram_total_mb, u.disk_total_mb),
            ("stop", 1, 1024, 10240)
        );
        assert_eq!(
            (u.flow_gb, u.flow_unlimited, u.ip.as_deref()),
            (1_048_576, true, None)
        );
        assert_eq!(
            (u.cpu_percent, u.status_key().as_str()),
            (0.0, "lxd.state_stop")
        );
    }

    #[test]
    fn sizes_in_lxd_units() {
        assert_eq!(megabytes("512MB"), Some(512));
        assert_eq!(megabytes("2GB"), Some(2048));
        assert_eq!(megabytes("1GiB"), Some(1024));
        assert_eq!(megabytes("1048576"), Some(1));
        assert_eq!(megabytes("50%"), None);
    }

    #[test]
    fn usage_figures() {
        // 0.5 s of CPU over 1 s on 2 cores: 25 %
        assert_eq!(cpu_percent(0, 500_000_000, 1_000_000_000, 2), 25.0);
        assert_eq!(cpu_percent(0, 1, 3_000_000_000, 1), 0.0);
        assert_eq!(cpu_percent(10, 5, 1, 1), 0.0, "counter reset (restart)");
        assert_eq!(cpu_percent(0, 2_000_000_000, 1_000_000_000, 1), 100.0);
        assert_eq!(mb(5 * 1024 * 1024 + 1), 5);
        assert_eq!(gb2(1_610_612_736), 1.5);
    }
}
