//! How the plugin's numeric options are read and how far they may go. A number arrives
//! as a JSON number, a numeric string or "" (ZJMF passes text options as strings); it is
//! a whole number inside its field's range or a 400 that names the field — never a value
//! silently clamped (a `1e30` read as `u64::MAX`) nor one that only LXD refuses (a 500).
//! The host's own size (CPU threads, memory) is an argument: the caller asks the host.

use std::ops::RangeInclusive;

use serde_json::Value;

use super::{Product, Refusal};

/// CPU cores, before the host's own count narrows it (Linux runs on at most 8192).
pub const CPU: RangeInclusive<u64> = 1..=8192;
/// Memory in MB (LXD's `MB`, 10^6 bytes): below 32 MB not even a busybox boots; the host's
/// memory narrows the top.
pub const RAM_MB: RangeInclusive<u64> = 32..=1 << 30;
/// Root disk in MB: 64 MB up to 1 PiB-ish (2^30 MB).
pub const DISK_MB: RangeInclusive<u64> = 64..=1 << 30;
/// Rate limits in Mbit/s, 0 = unlimited; up to 100 Gbit/s (tc's htb takes it).
pub const RATE_MBIT: RangeInclusive<u64> = 0..=100_000;
/// NAT rules allowed, 0 = none beyond the SSH forward; at most one per port number.
pub const PORTS: RangeInclusive<u64> = 0..=65_535;
/// Monthly flow in GB, 0 = unlimited; up to 2^30 GB (an exabyte).
pub const FLOW_GB: RangeInclusive<u64> = 0..=1 << 30;

/// What the LXD host has, as LXD counts it (`GET /1.0/resources`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    /// CPU threads
    pub cores: u64,
    /// total memory in MB (10^6 bytes, LXD's `MB`)
    pub ram_mb: u64,
}

impl Host {
    /// From LXD's figures: threads, and memory in bytes.
    pub fn new(cores: u64, memory_bytes: u64) -> Self {
        Host {
            cores,
            ram_mb: memory_bytes / 1_000_000,
        }
    }
}

/// A whole number in `range`, sent as a JSON number, a numeric string (" 2 ", "+2") or
/// ""; None when absent, null or "". `1.5`, `"1e3"`, `"NaN"`, `true` are not whole
/// numbers; `-1`, `1e30` and `"99999999999999999999"` are outside the range.
pub fn whole(
    body: &Value,
    field: &str,
    range: RangeInclusive<u64>,
) -> Result<Option<u64>, Refusal> {
    let outside = || Refusal::out_of_range(field, &range);
    let n = match body.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => {
            if let Some(n) = n.as_u64() {
                n
            } else if n.as_i64().is_some() {
                return Err(outside()); // negative
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !f.is_finite() || f.fract() != 0.0 {
                    return Err(Refusal::not_integer(field));
                }
                // a whole float: negative, or beyond every range (2^53 and up are floats)
                if f < 0.0 || f > *range.end() as f64 {
                    return Err(outside());
                }
                f as u64
            }
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            let (negative, digits) = match t.as_bytes()[0] {
                b'-' => (true, &t[1..]),
                b'+' => (false, &t[1..]),
                _ => (false, t),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Refusal::not_integer(field));
            }
            if negative && digits.bytes().any(|b| b != b'0') {
                return Err(outside());
            }
            // only digits: the one failure left is too many of them
            digits.parse::<u64>().map_err(|_| outside())?
        }
        Some(_) => return Err(Refusal::not_integer(field)),
    };
    if range.contains(&n) {
        Ok(Some(n))
    } else {
        Err(outside())
    }
}

/// A required number: absent or "" is missing.
pub fn required(body: &Value, field: &str, range: RangeInclusive<u64>) -> Result<u64, Refusal> {
    whole(body, field, range)?.ok_or_else(|| Refusal::missing(field))
}

/// The product's cores and memory fit the host: a container never asks for more CPU
/// threads or memory than the machine has.
pub fn fits_host(p: &Product, host: &Host) -> Result<(), Refusal> {
    if p.cpu > host.cores {
        return Err(Refusal::new(400, "lxdapi.cpu_over_host").with("max", host.cores));
    }
    if p.ram_mb > host.ram_mb {
        return Err(Refusal::new(400, "lxdapi.ram_over_host").with("max", host.ram_mb));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn whole_numbers_in_every_form_the_plugin_sends_and_nothing_else() {
        let r = 0..=100;
        let ok: &[(Value, Option<u64>)] = &[
            (json!(7), Some(7)),
            (json!("7"), Some(7)),
            (json!(" 7 "), Some(7)),
            (json!("+7"), Some(7)),
            (json!("007"), Some(7)),
            (json!(7.0), Some(7)),
            (json!(0), Some(0)),
            (json!("-0"), Some(0)),
            (json!(100), Some(100)),
            (json!(""), None),
            (json!("  "), None),
            (json!(null), None),
        ];
        for (v, want) in ok {
            assert_eq!(whole(&json!({ "n": v }), "n", r.clone()), Ok(*want), "{v}");
        }
        let not_integer = Refusal::not_integer("n");
        let outside = Refusal::out_of_range("n", &r);
        let bad: &[(Value, &Refusal)] = &[
            (json!(101), &outside),
            (json!(-1), &outside),
            (json!("-1"), &outside),
            (json!(-1.0), &outside),
            (json!(1e30), &outside),
            (json!(1e20), &outside),
            (json!(u64::MAX), &outside),
            (json!("18446744073709551616"), &outside),
            (json!("99999999999999999999999999999999"), &outside),
            (json!(1.5), &not_integer),
            (json!("1.5"), &not_integer),
            (json!("1e3"), &not_integer),
            (json!("1e30"), &not_integer),
            (json!("NaN"), &not_integer),
            (json!("nan"), &not_integer),
            (json!("inf"), &not_integer),
            (json!("Infinity"), &not_integer),
            (json!("0x10"), &not_integer),
            (json!("1 0"), &not_integer),
            (json!("-"), &not_integer),
            (json!("+"), &not_integer),
            (json!("--1"), &not_integer),
            (json!("lots"), &not_integer),
            (json!(true), &not_integer),
            (json!([1]), &not_integer),
            (json!({"n": 1}), &not_integer),
        ];
        for (v, want) in bad {
            assert_eq!(
                whole(&json!({ "n": v }), "n", r.clone()),
                Err((*want).clone()),
                "{v}"
            );
        }
        assert_eq!(whole(&json!({}), "n", r.clone()), Ok(None), "absent");
        assert_eq!(
            required(&json!({"n": ""}), "n", r.clone()),
            Err(Refusal::missing("n"))
        );
        assert_eq!(
            required(&json!({"n": "0"}), "n", 1..=2),
            Err(Refusal::out_of_range("n", &(1..=2)))
        );
    }

    #[test]
    fn every_bound_fits_the_store_and_lxd() {
        // cpu, rates and ports are INT columns; the rest BIGINT; all exact as f64
        for r in [&CPU, &RATE_MBIT, &PORTS] {
            assert!(*r.end() <= i32::MAX as u64);
        }
        for r in [&RAM_MB, &DISK_MB, &FLOW_GB] {
            assert!(*r.end() < 1 << 53);
        }
    }

    #[test]
    fn a_product_fits_the_host_or_says_which_part_does_not() {
        let p = |cpu, ram_mb| Product {
            cpu,
            disk_mb: 1024,
            ram_mb,
            up_mbit: 0,
            down_mbit: 0,
            ports: 0,
            bandwidth_gb: 0,
        };
        // 2 threads, 24 GiB (25_769_803_776 bytes: 25_769 MB)
        let host = Host::new(2, 25_769_803_776);
        assert_eq!(host.ram_mb, 25_769);
        let cpu_over = Refusal::new(400, "lxdapi.cpu_over_host").with("max", 2);
        let ram_over = Refusal::new(400, "lxdapi.ram_over_host").with("max", 25_769);
        for (why, product, want) in [
            ("small", p(1, 256), Ok(())),
            ("every core and all memory", p(2, 25_769), Ok(())),
            ("one core too many", p(3, 256), Err(cpu_over.clone())),
            ("far too many cores", p(8192, 256), Err(cpu_over)),
            ("one MB too many", p(1, 25_770), Err(ram_over.clone())),
            ("a petabyte of memory", p(1, 1 << 30), Err(ram_over)),
        ] {
            assert_eq!(fits_host(&product, &host), want, "{why}");
        }
        assert_eq!(
            Refusal::new(400, "lxdapi.cpu_over_host")
                .with("max", 2)
                .msg(),
            "参数 cpu 超过宿主机的 CPU 核数（2）"
        );
    }
}
