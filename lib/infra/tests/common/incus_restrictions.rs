//! Incus 6.0's project restriction semantics, written down apart from the
//! derivation (from `checkRestrictions`, `checkRestrictionsOnVolatileConfig`,
//! `NetworkAllowed` and `CheckRestrictedDevicesDiskPaths` in Incus's
//! `internal/server/project/`), so the property test checks the derivation
//! against Incus's rules rather than against itself.

use std::collections::BTreeMap;

/// What Incus checks: an instance (its config and devices expanded with
/// its profiles) or a profile (checked by the container and the VM rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Container,
    Vm,
    Profile,
}

pub struct Entity {
    pub name: String,
    pub kind: Kind,
    /// Expanded with the profiles, for an instance.
    pub config: BTreeMap<String, String>,
    /// The instance's own config (the request's): where Incus looks for
    /// `volatile.*` keys.
    pub local_config: BTreeMap<String, String>,
    pub devices: BTreeMap<String, BTreeMap<String, String>>,
}

/// `allRestrictions` of Incus 6.0.4: the value of an unset key.
fn default_of(key: &str) -> &'static str {
    match key {
        "restricted.containers.privilege" => "unprivileged",
        "restricted.devices.nic" | "restricted.devices.disk" => "managed",
        "restricted.devices.disk.paths"
        | "restricted.idmap.uid"
        | "restricted.idmap.gid"
        | "restricted.networks.access" => "",
        _ => "block",
    }
}

fn is_true(v: &str) -> bool {
    ["true", "1", "yes", "on"].contains(&v.to_lowercase().as_str())
}

fn is_false_or_empty(v: &str) -> bool {
    v.is_empty() || ["false", "0", "no", "off"].contains(&v.to_lowercase().as_str())
}

const INTERCEPT_OK: [&str; 7] = [
    "security.syscalls.intercept.bpf",
    "security.syscalls.intercept.bpf.devices",
    "security.syscalls.intercept.mknod",
    "security.syscalls.intercept.mount",
    "security.syscalls.intercept.mount.fuse",
    "security.syscalls.intercept.setxattr",
    "security.syscalls.intercept.sysinfo",
];

fn container_forbidden(key: &str) -> bool {
    (key.starts_with("security.syscalls.intercept") && !INTERCEPT_OK.contains(&key))
        || [
            "boot.host_shutdown_action",
            "boot.host_shutdown_timeout",
            "linux.kernel_modules",
            "limits.memory.swap",
            "raw.apparmor",
            "raw.idmap",
            "raw.lxc",
            "raw.seccomp",
            "security.guestapi.images",
            "security.idmap.base",
            "security.idmap.size",
        ]
        .contains(&key)
}

fn vm_forbidden(key: &str) -> bool {
    [
        "boot.host_shutdown_action",
        "boot.host_shutdown_timeout",
        "limits.memory.hugepages",
        "raw.apparmor",
        "raw.idmap",
        "raw.qemu",
        "raw.qemu.conf",
        "raw.qemu.qmp.early",
        "raw.qemu.qmp.post-start",
        "raw.qemu.qmp.pre-start",
        "raw.qemu.scriptlet",
    ]
    .contains(&key)
}

/// `[start, start+size)` ranges of a `restricted.idmap.*` list.
fn id_ranges(list: &str) -> Vec<(u64, u64)> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| match item.split_once('-') {
            Some((a, b)) => (a.parse().unwrap(), b.parse::<u64>().unwrap() + 1),
            None => {
                let n: u64 = item.parse().unwrap();
                (n, n + 1)
            }
        })
        .collect()
}

/// `raw.idmap` entries as (is_uid, is_gid, host start, host end).
fn raw_idmap(value: &str) -> Option<Vec<(bool, bool, u64, u64)>> {
    let mut out = vec![];
    for line in value.split('\n').filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() != 3 {
            return None;
        }
        let (a, b) = match f[1].split_once('-') {
            Some((a, b)) => (a.parse::<u64>().ok()?, b.parse::<u64>().ok()? + 1),
            None => {
                let n = f[1].parse::<u64>().ok()?;
                (n, n + 1)
            }
        };
        let (u, g) = match f[0] {
            "both" => (true, true),
            "uid" => (true, false),
            "gid" => (false, true),
            _ => return None,
        };
        out.push((u, g, a, b));
    }
    Some(out)
}

fn covered(ranges: &[(u64, u64)], (a, b): (u64, u64)) -> bool {
    ranges.iter().any(|&(s, e)| a >= s && b <= e)
}

/// Whether Incus accepts `entity` in a project with `project` config;
/// the error names what it refuses.
pub fn check(project: &BTreeMap<String, String>, e: &Entity) -> Result<(), String> {
    if !is_true(project.get("restricted").map_or("", String::as_str)) {
        return Ok(());
    }
    let get = |k: &str| project.get(k).map_or(default_of(k), String::as_str);
    let containerish = matches!(e.kind, Kind::Container | Kind::Profile);
    let vmish = matches!(e.kind, Kind::Vm | Kind::Profile);
    let ct_low = get("restricted.containers.lowlevel") == "allow";
    let vm_low = get("restricted.virtual-machines.lowlevel") == "allow";
    for (key, value) in &e.config {
        if key == "raw.idmap" && ((containerish && !ct_low) || (vmish && !vm_low)) {
            let uids = id_ranges(get("restricted.idmap.uid"));
            let gids = id_ranges(get("restricted.idmap.gid"));
            let entries = raw_idmap(value).ok_or("bad raw.idmap")?;
            for (u, g, a, b) in entries {
                if u != covered(&uids, (a, b)) || g != covered(&gids, (a, b)) {
                    return Err(format!("{}: raw.idmap host IDs", e.name));
                }
            }
            continue;
        }
        if containerish && !ct_low && container_forbidden(key) {
            return Err(format!("{}: container low-level {key}", e.name));
        }
        if vmish && !vm_low && vm_forbidden(key) {
            return Err(format!("{}: VM low-level {key}", e.name));
        }
        if containerish {
            let refused = match key.as_str() {
                "security.privileged" => {
                    get("restricted.containers.privilege") != "allow" && is_true(value)
                }
                "security.nesting" => {
                    get("restricted.containers.nesting") == "block" && is_true(value)
                }
                "security.idmap.isolated" => {
                    get("restricted.containers.privilege") == "isolated" && is_false_or_empty(value)
                }
                k if INTERCEPT_OK.contains(&k) => {
                    get("restricted.containers.interception") != "allow"
                        && !is_false_or_empty(value)
                }
                _ => false,
            };
            if refused {
                return Err(format!("{}: {key}={value}", e.name));
            }
        }
    }
    // checkRestrictionsOnVolatileConfig, on the instance's own config.
    for key in e.local_config.keys() {
        let safe = [
            "volatile.apply_template",
            "volatile.base_image",
            "volatile.last_state.power",
        ]
        .contains(&key.as_str())
            || key.ends_with(".apply_quota")
            || key.ends_with(".hwaddr");
        let low = match e.kind {
            Kind::Container => ct_low,
            Kind::Vm => vm_low,
            Kind::Profile => true,
        };
        if key.starts_with("volatile.") && !safe && !low {
            return Err(format!("{}: setting {key}", e.name));
        }
    }
    for (name, d) in &e.devices {
        let dget = |k: &str| d.get(k).map_or("", String::as_str);
        let refused = match dget("type") {
            t @ ("unix-char" | "unix-block" | "unix-hotplug" | "infiniband" | "gpu" | "usb"
            | "pci" | "proxy") => get(&format!("restricted.devices.{t}")) != "allow",
            "nic" => {
                let mode = get("restricted.devices.nic");
                let allowed = |net: &str, managed: bool| {
                    if mode == "block" || (mode != "allow" && !managed) {
                        return false;
                    }
                    let access = get("restricted.networks.access");
                    access.is_empty() || access.split(',').map(str::trim).any(|n| n == net)
                };
                mode == "block"
                    || (mode == "managed" && dget("network").is_empty())
                    || (!dget("network").is_empty() && !allowed(dget("network"), true))
                    || (dget("network").is_empty()
                        && !dget("parent").is_empty()
                        && !allowed(dget("parent"), false))
            }
            "disk" => {
                let exempt = (dget("path") == "/" && !dget("pool").is_empty())
                    || (dget("path").is_empty()
                        && ["cloud-init:config", "agent:config"].contains(&dget("source")));
                let paths = get("restricted.devices.disk.paths");
                let path_ok = || {
                    paths.is_empty() || {
                        let src = format!("{}/", dget("source").trim_end_matches('/'));
                        paths
                            .split(',')
                            .any(|p| src.starts_with(&format!("{}/", p.trim_end_matches('/'))))
                    }
                };
                // Device validation: no `shift` under a restricted source path.
                let shifted =
                    dget("pool").is_empty() && !paths.is_empty() && is_true(dget("shift"));
                shifted
                    || !exempt
                        && match get("restricted.devices.disk") {
                            "block" => true,
                            "managed" => dget("pool").is_empty(),
                            _ => dget("pool").is_empty() && !path_ok(),
                        }
            }
            _ => false,
        };
        if refused {
            return Err(format!("{}: device {name} ({})", e.name, dget("type")));
        }
    }
    Ok(())
}
