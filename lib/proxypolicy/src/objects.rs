//! Whether an object body (config, devices, profiles) stays within its
//! declaration: every key declared with the same value, every device
//! declared and its keys a subset of the declared ones with equal values.
//! An update may send back any key unchanged (a whole-object PUT carries
//! what Incus or the host's admin set); Incus's own `volatile.*` and
//! `image.*` keys may never be changed; anklume's `user.anklume.*` keys are
//! free.

use serde_json::{Map, Value};

use crate::decide::{Denial, GpuClaim, Rule};
use crate::declared::{Devices, Strings};

/// What is being checked, for messages: `instance pro-dev`, `profile big
/// of project pro`, …
pub struct Subject<'a> {
    pub what: &'a str,
    /// The current object, for keys Incus sets (updates only).
    pub current: Option<&'a Value>,
}

impl Subject<'_> {
    fn deny(&self, rule: Rule, field: &str) -> Denial {
        Denial::new(rule, format!("{field} is not declared for {}", self.what))
    }
}

/// The rule that names an undeclared config key.
pub fn key_rule(key: &str) -> Rule {
    if key.starts_with("raw.") {
        Rule::Raw
    } else if key == "security.privileged" {
        Rule::Privileged
    } else if key.starts_with("security.nesting") {
        Rule::Nesting
    } else if key.starts_with("security.syscalls.") {
        Rule::Syscalls
    } else if key == "linux.kernel_modules" {
        Rule::KernelModules
    } else if key.starts_with("restricted") {
        Rule::ProjectRestrictions
    } else {
        Rule::UndeclaredKey
    }
}

fn incus_set(key: &str) -> bool {
    key.starts_with("volatile.") || key.starts_with("image.")
}

fn as_object<'v>(value: &'v Value, field: &str) -> Result<&'v Map<String, Value>, Denial> {
    value
        .as_object()
        .ok_or_else(|| Denial::new(Rule::BadBody, format!("{field} is not a JSON object")))
}

pub fn check_config(
    subject: &Subject<'_>,
    config: Option<&Value>,
    declared: &Strings,
) -> Result<(), Denial> {
    let Some(config) = config.filter(|c| !c.is_null()) else {
        return Ok(());
    };
    for (key, value) in as_object(config, "config")? {
        if key.starts_with("user.anklume.") {
            continue;
        }
        let Some(text) = value.as_str() else {
            return Err(Denial::new(Rule::BadBody, format!("{key} is not a string")));
        };
        // Sent back as it is now: not a change (a whole-object PUT carries
        // every key Incus or the host's admin set).
        let now = subject
            .current
            .and_then(|c| c.get("config"))
            .and_then(|c| c.get(key))
            .and_then(Value::as_str);
        if now == Some(text) {
            continue;
        }
        if incus_set(key) {
            return Err(subject.deny(Rule::IncusKey, key));
        }
        if declared.get(key).map(String::as_str) != Some(text) {
            return Err(subject.deny(key_rule(key), key));
        }
    }
    Ok(())
}

/// The rule that names an undeclared device, from its type and settings.
fn device_rule(device: &Map<String, Value>, bridge: &str) -> Rule {
    let get = |k: &str| device.get(k).and_then(Value::as_str);
    match get("type").unwrap_or("") {
        "disk" if get("source").is_some_and(|s| !s.is_empty()) => Rule::HostDisk,
        "unix-char" | "unix-block" | "unix-hotplug" => Rule::UnixDevice,
        "usb" => Rule::Usb,
        "pci" => Rule::Pci,
        "proxy" => Rule::ProxyDevice,
        "gpu" => Rule::Gpu,
        "nic" if get("network") != Some(bridge) || device.contains_key("parent") => Rule::Nic,
        _ => Rule::UndeclaredDevice,
    }
}

/// Checks the devices; returns the GPU claims of the declared `gpu` ones
/// (`instance`: whose claim; `None` for a profile).
pub fn check_devices(
    subject: &Subject<'_>,
    devices: Option<&Value>,
    declared: &Devices,
    bridge: &str,
    instance: Option<&str>,
) -> Result<Vec<GpuClaim>, Denial> {
    let Some(devices) = devices.filter(|d| !d.is_null()) else {
        return Ok(Vec::new());
    };
    let mut claims = Vec::new();
    for (name, device) in as_object(devices, "devices")? {
        let device = as_object(device, &format!("device {name}"))?;
        let kind = device.get("type").and_then(Value::as_str).unwrap_or("");
        let field = || format!("device {name} (type {kind})");
        let now = subject
            .current
            .and_then(|c| c.get("devices"))
            .and_then(|d| d.get(name))
            .and_then(Value::as_object);
        if now == Some(device) && kind != "gpu" {
            continue;
        }
        let Some(wanted) = declared.get(name) else {
            return Err(subject.deny(device_rule(device, bridge), &field()));
        };
        // A `gpu` device sent back as incusd has it is anklume-gpud's
        // pinned one (`gputype`/`pci` it chose): still declared, it is
        // claimed again (idempotent; any card, the one held).
        if now == Some(device) && wanted.get("type").map(String::as_str) == Some("gpu") {
            if let Some(instance) = instance {
                claims.push(GpuClaim {
                    instance: instance.to_string(),
                    gpu: String::new(),
                });
            }
            continue;
        }
        for (key, value) in device {
            if value.as_str() != wanted.get(key).map(String::as_str) {
                return Err(subject.deny(
                    device_rule(device, bridge),
                    &format!("{} with {key}={}", field(), display(value)),
                ));
            }
        }
        if kind == "gpu"
            && let Some(instance) = instance
        {
            let id = ["pci", "id"]
                .iter()
                .find_map(|k| device.get(*k).and_then(Value::as_str))
                .unwrap_or("");
            claims.push(GpuClaim {
                instance: instance.to_string(),
                gpu: id.to_string(),
            });
        }
    }
    Ok(claims)
}

pub fn check_profiles(
    subject: &Subject<'_>,
    profiles: Option<&Value>,
    declared: &[String],
) -> Result<(), Denial> {
    let Some(profiles) = profiles.filter(|p| !p.is_null()) else {
        return Ok(());
    };
    let list = profiles
        .as_array()
        .ok_or_else(|| Denial::new(Rule::BadBody, "profiles is not a list".into()))?;
    for p in list {
        let name = p.as_str().unwrap_or("");
        if !declared.iter().any(|d| d == name) {
            return Err(subject.deny(Rule::Profiles, &format!("profile {}", display(p))));
        }
    }
    Ok(())
}

/// Top-level fields of a body: those in `checked` are checked by the
/// caller, those in `ignored` are read-only ones Incus ignores (a client
/// may send back a whole object); anything else is refused.
pub fn check_fields(body: &Map<String, Value>, known: &[&str]) -> Result<(), Denial> {
    let unknown = body.iter().find(|(k, v)| {
        !known.contains(&k.as_str()) && !READ_ONLY.contains(&k.as_str()) && !empty(v)
    });
    match unknown {
        Some((k, _)) => Err(Denial::new(
            Rule::BadBody,
            format!("field {k} is not allowed"),
        )),
        None => Ok(()),
    }
}

/// A field a client sends with its zero value (`"instance_type": ""`).
fn empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

const READ_ONLY: &[&str] = &[
    "name",
    "description",
    "status",
    "status_code",
    "created_at",
    "last_used_at",
    "location",
    "project",
    "expanded_config",
    "expanded_devices",
    "backups",
    "snapshots",
    "state",
    "used_by",
    "managed",
    "locations",
    "type",
];

fn display(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

pub fn body_object(body: Option<&Value>) -> Result<&Map<String, Value>, Denial> {
    as_object(
        body.ok_or_else(|| Denial::new(Rule::BadBody, "the request has no JSON body".into()))?,
        "the body",
    )
}

/// After anklume-gpud admitted a claim it has put its pinned `gpu` device
/// on the instance (`current`, re-read): the request's `gpu` devices are
/// replaced by it, so forwarding does not undo the pin. True when `body`
/// changed.
pub fn pin_gpu_devices(body: &mut Value, current: &Value) -> bool {
    let Some(devices) = body.get_mut("devices").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut changed = false;
    for (name, device) in devices.iter_mut() {
        let is_gpu = |d: &Value| d.get("type").and_then(Value::as_str) == Some("gpu");
        if !is_gpu(device) {
            continue;
        }
        if let Some(pinned) = current["devices"].get(name).filter(|d| is_gpu(d))
            && pinned != device
        {
            *device = pinned.clone();
            changed = true;
        }
    }
    changed
}
