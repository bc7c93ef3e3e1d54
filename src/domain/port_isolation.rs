//! Port isolation of the ZJMF LXD containers (issue #14): every container made through
//! the `/api/` sits on the same LXD bridge, so each of its bridged NICs carries
//! `security.port_isolation=true` and the bridge forwards nothing between two such ports
//! (no ARP, no IP, no ping), while the bridge itself (gateway, DHCP, DNS, NAT and the
//! port forwards) still reaches them. No IO: which device keys to write.

use std::collections::BTreeMap;

/// An LXD device: its keys (`type`, `nictype`, `parent`, …).
pub type Device = BTreeMap<String, String>;

/// The LXD NIC key; LXD ≥ 4.4 honours it on bridged NICs of a native Linux bridge.
pub const KEY: &str = "security.port_isolation";

/// Marks a NIC as isolated.
pub fn isolate(nic: &mut Device) {
    nic.insert(KEY.to_string(), "true".to_string());
}

/// Whether the device is a NIC on a bridge (`nictype=bridged`, or `network=` of a
/// managed bridge): the NICs port isolation applies to.
pub fn is_bridged_nic(device: &Device) -> bool {
    device.get("type").map(String::as_str) == Some("nic")
        && (device.get("nictype").map(String::as_str) == Some("bridged")
            || (device.contains_key("network") && !device.contains_key("nictype")))
}

/// Whether the device already carries the isolation (LXD reads booleans loosely).
pub fn is_isolated(device: &Device) -> bool {
    device
        .get(KEY)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
}

/// The devices to write (whole, as LXD's PATCH replaces a device it is given) so that
/// every bridged NIC of an instance is isolated; empty when all already are. `local` are
/// the instance's own devices, `expanded` those with its profiles applied: a NIC that
/// comes from a profile gets an instance-level override, the profile stays as it is.
pub fn missing_isolation(
    local: &BTreeMap<String, Device>,
    expanded: &BTreeMap<String, Device>,
) -> BTreeMap<String, Device> {
    let mut out = BTreeMap::new();
    for (name, device) in expanded.iter().chain(local) {
        if out.contains_key(name) || !is_bridged_nic(device) {
            continue;
        }
        let current = local.get(name).unwrap_or(device);
        if !is_isolated(current) {
            let mut nic = current.clone();
            isolate(&mut nic);
            out.insert(name.clone(), nic);
        }
    }
    out
}

/// `devices` with every bridged NIC isolated (what a rebuilt container is created with).
pub fn with_isolation(
    local: &BTreeMap<String, Device>,
    expanded: &BTreeMap<String, Device>,
) -> BTreeMap<String, Device> {
    let mut devices = local.clone();
    devices.extend(missing_isolation(local, expanded));
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(pairs: &[(&str, &str)]) -> Device {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn devices(list: &[(&str, Device)]) -> BTreeMap<String, Device> {
        list.iter()
            .map(|(n, d)| (n.to_string(), d.clone()))
            .collect()
    }

    #[test]
    fn which_devices_are_bridged_nics() {
        for (why, d, bridged) in [
            (
                "bridged on a bridge",
                dev(&[
                    ("type", "nic"),
                    ("nictype", "bridged"),
                    ("parent", "lxdbr0"),
                ]),
                true,
            ),
            (
                "managed network",
                dev(&[("type", "nic"), ("network", "lxdbr0")]),
                true,
            ),
            (
                "macvlan",
                dev(&[("type", "nic"), ("nictype", "macvlan"), ("parent", "eth0")]),
                false,
            ),
            ("disk", dev(&[("type", "disk"), ("path", "/")]), false),
        ] {
            assert_eq!(is_bridged_nic(&d), bridged, "{why}");
        }
        for (v, on) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("false", false),
            ("", false),
        ] {
            assert_eq!(is_isolated(&dev(&[(KEY, v)])), on, "{v:?}");
        }
    }

    #[test]
    fn what_to_write_for_isolation() {
        let root = dev(&[("type", "disk"), ("path", "/"), ("pool", "default")]);
        let nic = dev(&[
            ("type", "nic"),
            ("nictype", "bridged"),
            ("parent", "lxdbr0"),
            ("name", "eth0"),
            ("limits.ingress", "10Mbit"),
        ]);
        let mut isolated = nic.clone();
        isolate(&mut isolated);
        let profile_nic = dev(&[("type", "nic"), ("network", "lxdbr0"), ("name", "eth0")]);
        let mut profile_isolated = profile_nic.clone();
        isolate(&mut profile_isolated);
        let off = {
            let mut d = nic.clone();
            d.insert(KEY.into(), "false".into());
            d
        };
        for (why, local, expanded, want) in [
            (
                "own NIC without the key: the whole device with it (limits kept)",
                devices(&[("root", root.clone()), ("eth0", nic.clone())]),
                devices(&[("root", root.clone()), ("eth0", nic.clone())]),
                devices(&[("eth0", isolated.clone())]),
            ),
            (
                "already isolated: nothing to write",
                devices(&[("eth0", isolated.clone())]),
                devices(&[("eth0", isolated.clone())]),
                devices(&[]),
            ),
            (
                "turned off: on again",
                devices(&[("eth0", off.clone())]),
                devices(&[("eth0", off)]),
                devices(&[("eth0", isolated.clone())]),
            ),
            (
                "NIC from the profile only: an instance override",
                devices(&[("root", root.clone())]),
                devices(&[("root", root.clone()), ("eth0", profile_nic)]),
                devices(&[("eth0", profile_isolated)]),
            ),
            (
                "a profile NIC overridden by an isolated one of the instance",
                devices(&[("eth0", isolated.clone())]),
                devices(&[("eth0", isolated.clone())]),
                devices(&[]),
            ),
            (
                "no NIC at all",
                devices(&[("root", root.clone())]),
                devices(&[("root", root.clone())]),
                devices(&[]),
            ),
        ] {
            assert_eq!(missing_isolation(&local, &expanded), want, "{why}");
        }
        let rebuilt = with_isolation(
            &devices(&[("root", root.clone()), ("eth0", nic.clone())]),
            &devices(&[]),
        );
        assert_eq!(rebuilt, devices(&[("root", root), ("eth0", isolated)]));
    }
}
