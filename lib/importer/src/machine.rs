//! One instance → one machine of its domain: type, address, protection,
//! profiles, config, devices, image; what cannot be said goes to notes.

use std::net::Ipv4Addr;

use anklume_incus::read::{Config, Devices, Image, InstanceDetail};
use anklume_infra::{BRIDGE_PREFIX, Value};

use crate::build::{Candidate, config_value, devices_value, entry};

/// Instance config keys anklume itself derives (never written back).
pub(crate) const PROTECTION_KEY: &str = "security.protection.delete";
/// Where anklume's instances module remembers the config keys it set.
const MANAGED_KEYS: &str = "user.anklume.managed-keys";
/// The `proxy` device `anklume-proxy attach` adds to an admin machine
/// (docs/admin-proxy.md): the attachment's, not the infra's.
const PROXY_ATTACH_DEVICE: &str = "anklume-incus";

pub(crate) fn machine(
    c: &Candidate<'_>,
    i: &InstanceDetail,
    write_ephemeral: bool,
    ephemeral: bool,
    notes: &mut Vec<String>,
) -> Value {
    let where_ = format!("machine '{}'", i.name);
    let mut body = Vec::new();
    if !i.description.is_empty() {
        body.push(entry("description", Value::str(i.description.as_str())));
    }
    let kind = match i.instance_type.as_str() {
        "virtual-machine" => "vm",
        _ => "lxc",
    };
    body.push(entry("type", Value::str(kind)));
    let mut devices = i.devices.clone();
    if let Some(ip) = static_ip(c, &mut devices, &where_, notes) {
        body.push(entry("ip", Value::str(ip.to_string())));
    }
    let attached = devices
        .get(PROXY_ATTACH_DEVICE)
        .is_some_and(|d| d.get("type").map(String::as_str) == Some("proxy"));
    if attached {
        devices.remove(PROXY_ATTACH_DEVICE);
        notes.push(format!(
            "{where_}: device '{PROXY_ATTACH_DEVICE}' is anklume-proxy's (anklume-proxy attach adds it, the infra does not declare it); left out"
        ));
    }
    if write_ephemeral {
        body.push(entry("ephemeral", Value::Bool(ephemeral)));
    }
    let known = |p: &String| p == "default" || c.state.profiles.iter().any(|q| &q.name == p);
    for unknown in i.profiles.iter().filter(|p| !known(p)) {
        notes.push(format!(
            "{where_}: profile '{unknown}' is not a profile of project '{}'; left out",
            c.state.project.name
        ));
    }
    let profiles: Vec<&String> = i.profiles.iter().filter(|p| known(p)).collect();
    if profiles != ["default"] {
        if !profiles.iter().any(|p| *p == "default") {
            notes.push(format!(
                "{where_}: it does not use the profile 'default'; anklume always gives it (root disk and eth0)"
            ));
        }
        body.push(entry(
            "profiles",
            Value::Seq(profiles.iter().map(|p| Value::str(p.as_str())).collect()),
        ));
    }
    let config = config(i, &where_, notes);
    if !config.is_empty() {
        body.push(entry("config", config_value(&config)));
    }
    if !devices.is_empty() {
        body.push(entry("devices", devices_value(&devices)));
    }
    match image(i, &c.state.images) {
        Ok(image) => body.push(entry("os_image", Value::str(image))),
        Err(reason) => notes.push(format!("{where_}: os_image: {reason}")),
    }
    Value::Map(body)
}

/// The static address anklume gave the machine: `ipv4.address` of its
/// `eth0` NIC on the domain's bridge. The key is taken out of the devices
/// (anklume puts it back from `ip:`), and so is an `eth0` that holds only
/// what anklume would write itself.
fn static_ip(
    c: &Candidate<'_>,
    devices: &mut Devices,
    where_: &str,
    notes: &mut Vec<String>,
) -> Option<Ipv4Addr> {
    let bridge = format!("{BRIDGE_PREFIX}{}", c.state.project.name);
    let eth0 = devices.get_mut("eth0")?;
    let ip: Ipv4Addr = eth0.get("ipv4.address")?.parse().ok()?;
    let [a, b, n, _] = ip.octets();
    if format!("{a}.{b}") != c.base || n != c.subnet_id {
        notes.push(format!(
            "{where_}: ipv4.address {ip} lies outside its domain's subnet; kept in devices.eth0, not as ip:"
        ));
        return None;
    }
    eth0.remove("ipv4.address");
    let plain: Config = [
        ("type", "nic"),
        ("name", "eth0"),
        ("network", bridge.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if *eth0 == plain {
        devices.remove("eth0");
    }
    Some(ip)
}

/// The config keys to write: those anklume set (its managed-keys list)
/// when it made the instance, else every key that is not Incus's own.
fn config(i: &InstanceDetail, where_: &str, notes: &mut Vec<String>) -> Config {
    let managed: Option<Vec<&str>> = i
        .config
        .get(MANAGED_KEYS)
        .map(|keys| keys.split(',').filter(|k| !k.is_empty()).collect());
    let own = |k: &str| k.starts_with("volatile.") || k.starts_with("image.");
    let mut out = Config::new();
    for (key, value) in &i.config {
        if own(key) || key == PROTECTION_KEY || key == MANAGED_KEYS {
            continue;
        }
        match &managed {
            Some(list) if !list.contains(&key.as_str()) => notes.push(format!(
                "{where_}: config key '{key}' was set outside anklume; add it to config: to have anklume manage it"
            )),
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// The image the instance was made from: a local alias of its base image
/// (what anklume itself uses), else `images:<os>/<release>` from the
/// image's properties.
fn image(i: &InstanceDetail, images: &[Image]) -> Result<String, String> {
    let fingerprint = i.config.get("volatile.base_image");
    if let Some(fp) = fingerprint {
        let mut aliases: Vec<&str> = images
            .iter()
            .filter(|im| &im.fingerprint == fp)
            .flat_map(|im| im.aliases.iter().map(|a| a.name.as_str()))
            .collect();
        aliases.sort_unstable();
        if let Some(alias) = aliases.first() {
            return Ok((*alias).to_owned());
        }
    }
    let os = i.config.get("image.os").map(|s| s.to_lowercase());
    let release = i.config.get("image.release");
    match (os, release) {
        (Some(os), Some(release)) if !os.is_empty() && !release.is_empty() => {
            Ok(format!("images:{os}/{release}"))
        }
        _ => Err(match fingerprint {
            Some(fp) => format!(
                "image {fp} has no local alias and no image.os/image.release; set os_image by hand"
            ),
            None => "the instance records no base image; set os_image by hand".into(),
        }),
    }
}
