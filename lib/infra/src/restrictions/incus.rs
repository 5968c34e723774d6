//! What Incus 6.0 checks in a restricted project, as tables: the low-level
//! config keys, the interception keys that may be allowed, the disks that
//! are always allowed, boolean spelling and `raw.idmap` host ranges. Read
//! from Incus's `internal/server/project/permissions.go` (v6.0.4); the
//! derivation decides with these, the tests check it against real Incus.

use crate::value::Value;

/// Container config keys that need `restricted.containers.lowlevel=allow`
/// (`isContainerLowLevelOptionForbidden`); `raw.idmap` is handled apart.
const CONTAINER_LOWLEVEL: &[&str] = &[
    "boot.host_shutdown_action",
    "boot.host_shutdown_timeout",
    "linux.kernel_modules",
    "limits.memory.swap",
    "raw.apparmor",
    "raw.lxc",
    "raw.seccomp",
    "security.guestapi.images",
    "security.idmap.base",
    "security.idmap.size",
];

/// VM config keys that need `restricted.virtual-machines.lowlevel=allow`
/// (`isVMLowLevelOptionForbidden`); `raw.idmap` is handled apart.
const VM_LOWLEVEL: &[&str] = &[
    "boot.host_shutdown_action",
    "boot.host_shutdown_timeout",
    "limits.memory.hugepages",
    "raw.apparmor",
    "raw.qemu",
    "raw.qemu.conf",
    "raw.qemu.qmp.early",
    "raw.qemu.qmp.post-start",
    "raw.qemu.qmp.pre-start",
    "raw.qemu.scriptlet",
];

/// Syscall interception keys `restricted.containers.interception=allow`
/// admits; any other `security.syscalls.intercept.*` key is low-level.
pub const ALLOWABLE_INTERCEPT: &[&str] = &[
    "security.syscalls.intercept.bpf",
    "security.syscalls.intercept.bpf.devices",
    "security.syscalls.intercept.mknod",
    "security.syscalls.intercept.mount",
    "security.syscalls.intercept.mount.fuse",
    "security.syscalls.intercept.setxattr",
    "security.syscalls.intercept.sysinfo",
];

/// `volatile.*` keys an instance may set in a project without low-level
/// access (`checkRestrictionsOnVolatileConfig`).
fn is_safe_volatile(key: &str) -> bool {
    matches!(
        key,
        "volatile.apply_template" | "volatile.base_image" | "volatile.last_state.power"
    ) || key.ends_with(".apply_quota")
        || key.ends_with(".hwaddr")
}

/// Device types each blocked by one `restricted.devices.<type>` key
/// unless it is `allow` (`nic` and `disk` have their own rules).
pub const SIMPLE_DEVICE_TYPES: &[&str] = &[
    "gpu",
    "infiniband",
    "pci",
    "proxy",
    "unix-block",
    "unix-char",
    "unix-hotplug",
    "usb",
];

/// Incus's `util.IsTrue`.
pub fn is_true(value: &str) -> bool {
    ["true", "1", "yes", "on"].contains(&value.to_ascii_lowercase().as_str())
}

/// Incus's `util.IsFalseOrEmpty`.
pub fn is_false_or_empty(value: &str) -> bool {
    value.is_empty() || ["false", "0", "no", "off"].contains(&value.to_ascii_lowercase().as_str())
}

/// A config or device value as Incus stores it (every value is a string;
/// the roles write booleans lowercase).
pub fn incus_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Seq(_) | Value::Map(_) => None,
    }
}

/// Whether `key` on a container needs `restricted.containers.lowlevel`.
pub fn container_lowlevel(key: &str) -> bool {
    CONTAINER_LOWLEVEL.contains(&key)
        || (key.starts_with("security.syscalls.intercept") && !ALLOWABLE_INTERCEPT.contains(&key))
}

/// Whether `key` on a VM needs `restricted.virtual-machines.lowlevel`.
pub fn vm_lowlevel(key: &str) -> bool {
    VM_LOWLEVEL.contains(&key)
}

/// Whether `key` set on an instance (never a profile) needs the low-level
/// key of its type: the `volatile.*` keys Incus keeps for itself.
pub fn instance_volatile_lowlevel(key: &str) -> bool {
    key.starts_with("volatile.") && !is_safe_volatile(key)
}

/// The root disk on a pool and the config drives: allowed whatever
/// `restricted.devices.disk` says.
pub fn disk_always_allowed(device: &[(String, String)]) -> bool {
    let get = |k: &str| {
        device
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let path = get("path").unwrap_or("");
    let source = get("source").unwrap_or("");
    (path == "/" && !get("pool").unwrap_or("").is_empty())
        || (path.is_empty() && matches!(source, "cloud-init:config" | "agent:config"))
}

/// Which host IDs a `raw.idmap` line maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Uid,
    Gid,
    Both,
}

/// One `raw.idmap` entry: `kind`, and the host range `start..start+size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostIds {
    pub kind: IdKind,
    pub start: u32,
    pub size: u32,
}

impl HostIds {
    /// As `restricted.idmap.uid`/`gid` writes a range: `N` or `N-M`.
    pub fn range_text(&self) -> String {
        if self.size == 1 {
            self.start.to_string()
        } else {
            format!("{}-{}", self.start, self.start + (self.size - 1))
        }
    }
}

/// Parses `raw.idmap` as Incus does (`NewSetFromIncusIDMap`): lines of
/// `both|uid|gid HOST NS`, each range `N` or `N-M`, both of one size.
/// `None` when Incus would refuse the value.
pub fn parse_raw_idmap(value: &str) -> Option<Vec<HostIds>> {
    let range = |r: &str| -> Option<(u32, u32)> {
        let (start, end) = match r.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = r.parse::<u32>().ok()?;
                (n, n)
            }
        };
        (end >= start).then(|| (start, end - start + 1))
    };
    let mut entries = Vec::new();
    for line in value.split('\n').filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        let [kind, host, ns] = fields[..] else {
            return None;
        };
        let kind = match kind {
            "both" => IdKind::Both,
            "uid" => IdKind::Uid,
            "gid" => IdKind::Gid,
            _ => return None,
        };
        let (start, size) = range(host)?;
        let (_, ns_size) = range(ns)?;
        if size != ns_size {
            return None;
        }
        entries.push(HostIds { kind, start, size });
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_spelt_as_incus_reads_them() {
        for t in ["true", "TRUE", "1", "yes", "On"] {
            assert!(is_true(t), "{t}");
        }
        for f in ["false", "0", "no", "off", "", "maybe"] {
            assert!(!is_true(f), "{f}");
        }
        assert!(is_false_or_empty("") && is_false_or_empty("Off"));
        assert!(!is_false_or_empty("maybe"));
    }

    #[test]
    fn lowlevel_keys_per_instance_type() {
        assert!(container_lowlevel("raw.lxc") && !vm_lowlevel("raw.lxc"));
        assert!(vm_lowlevel("raw.qemu") && !container_lowlevel("raw.qemu"));
        assert!(container_lowlevel("raw.apparmor") && vm_lowlevel("raw.apparmor"));
        assert!(container_lowlevel(
            "security.syscalls.intercept.sched_setscheduler"
        ));
        assert!(!container_lowlevel("security.syscalls.intercept.mknod"));
        assert!(!container_lowlevel("limits.memory"));
        assert!(instance_volatile_lowlevel("volatile.idmap.base"));
        assert!(!instance_volatile_lowlevel("volatile.eth0.hwaddr"));
    }

    #[test]
    fn raw_idmap_host_ranges() {
        assert_eq!(
            parse_raw_idmap("both 1000 1000\nuid 2000-2009 0-9").unwrap(),
            vec![
                HostIds {
                    kind: IdKind::Both,
                    start: 1000,
                    size: 1
                },
                HostIds {
                    kind: IdKind::Uid,
                    start: 2000,
                    size: 10
                },
            ]
        );
        assert_eq!(
            HostIds {
                kind: IdKind::Uid,
                start: 2000,
                size: 10
            }
            .range_text(),
            "2000-2009"
        );
        for bad in [
            "both 1000",
            "all 1 1",
            "uid 1-3 1-2",
            "uid a 1",
            "uid 5-1 5-1",
        ] {
            assert_eq!(parse_raw_idmap(bad), None, "{bad}");
        }
    }

    #[test]
    fn root_disk_and_config_drives_are_always_allowed() {
        let dev = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(disk_always_allowed(&dev(&[
            ("path", "/"),
            ("pool", "default")
        ])));
        assert!(disk_always_allowed(&dev(&[(
            "source",
            "cloud-init:config"
        )])));
        assert!(!disk_always_allowed(&dev(&[
            ("path", "/"),
            ("source", "/srv")
        ])));
        assert!(!disk_always_allowed(&dev(&[
            ("path", "/mnt"),
            ("pool", "default")
        ])));
    }
}
