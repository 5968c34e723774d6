//! What a domain's machines and profiles need from their project, read
//! off their config and devices with Incus's own rules ([`super::incus`]).

use std::collections::BTreeSet;
use std::fmt;

use super::incus::{
    self, ALLOWABLE_INTERCEPT, IdKind, SIMPLE_DEVICE_TYPES, incus_string, is_false_or_empty,
    is_true,
};
use crate::model::{Domain, InstanceType};
use crate::value::Value;

/// The role of the admin machine, which `anklume-proxy attach` equips.
pub const ADMIN_ROLE: &str = "admin_bootstrap";

/// Something the infra declares that its project's restrictions cannot
/// express exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub domain: String,
    /// `machine 'm'` or `profile 'p'`.
    pub subject: String,
    pub kind: FindingKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// No restriction key allows it: Incus refuses it in this project.
    Refused,
    /// Allowed, by a key that also allows more than was declared.
    Wider,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            FindingKind::Refused => "not allowed by the project's restrictions",
            FindingKind::Wider => "allowed by a wider restriction than declared",
        };
        write!(
            f,
            "Domain '{}', {}: {what}: {}",
            self.domain, self.subject, self.message
        )
    }
}

/// Who declares something: named in a finding only (no allocation otherwise).
#[derive(Clone, Copy)]
enum Subject<'a> {
    Machine(&'a str),
    Profile(&'a str),
}

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Machine(m) => write!(f, "machine '{m}'"),
            Subject::Profile(p) => write!(f, "profile '{p}'"),
        }
    }
}

/// Where a config or device is declared: Incus checks a profile with the
/// container rules and the VM rules both.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entity {
    Container,
    Vm,
    Profile,
}

impl Entity {
    fn container_rules(self) -> bool {
        matches!(self, Entity::Container | Entity::Profile)
    }
    fn vm_rules(self) -> bool {
        matches!(self, Entity::Vm | Entity::Profile)
    }
}

#[derive(Default)]
pub(super) struct Needs {
    domain: String,
    pub privileged: bool,
    pub nesting: bool,
    pub interception: bool,
    pub container_lowlevel: bool,
    pub vm_lowlevel: bool,
    /// Types of [`SIMPLE_DEVICE_TYPES`] in use.
    pub device_types: BTreeSet<String>,
    /// Host paths of disks not on a pool, in declaration order.
    pub disk_paths: Vec<String>,
    /// A NIC not on an Incus managed network.
    pub unmanaged_nic: bool,
    /// The domain's bridge first, then the networks NICs declare.
    pub networks: Vec<String>,
    pub idmap_uid: Vec<String>,
    pub idmap_gid: Vec<String>,
    pub findings: Vec<Finding>,
    /// `raw.idmap` values, resolved once the low-level keys are known.
    raw_idmaps: Vec<(Entity, String, String)>,
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|i| i == item) {
        list.push(item.to_owned());
    }
}

impl Needs {
    pub fn of_domain(domain: &Domain, bridge: &str) -> Self {
        let mut needs = Needs {
            domain: domain.name.clone(),
            networks: vec![bridge.to_owned()],
            ..Needs::default()
        };
        // anklume's default profile (root disk on a pool, eth0 on the
        // bridge) needs nothing beyond the bridge.
        for profile in &domain.profiles {
            needs.entity(
                Entity::Profile,
                Subject::Profile(&profile.name),
                profile.body.get("config"),
                profile.body.get("devices"),
            );
        }
        for machine in &domain.machines {
            let entity = match machine.instance_type {
                InstanceType::Lxc => Entity::Container,
                InstanceType::Vm => Entity::Vm,
            };
            needs.entity(
                entity,
                Subject::Machine(&machine.name),
                machine.config.as_ref(),
                machine.devices.as_ref(),
            );
            // `gpu: true` makes the instances role add a `type: gpu` device.
            if machine.gpu == Some(true) {
                needs.device_types.insert("gpu".to_owned());
            }
            // The admin machine gets its Incus socket from `anklume-proxy
            // attach`: a `proxy` device to anklume-proxy's socket (the
            // proxy itself refuses any other proxy device).
            if machine
                .roles
                .as_ref()
                .is_some_and(|r| r.iter().any(|r| r == ADMIN_ROLE))
            {
                needs.device_types.insert("proxy".to_owned());
            }
        }
        needs.resolve_raw_idmaps();
        needs
    }

    fn finding(&mut self, subject: impl fmt::Display, kind: FindingKind, message: String) {
        self.findings.push(Finding {
            domain: self.domain.clone(),
            subject: subject.to_string(),
            kind,
            message,
        });
    }

    fn entity(
        &mut self,
        entity: Entity,
        subject: Subject<'_>,
        config: Option<&Value>,
        devices: Option<&Value>,
    ) {
        for (key, value) in config.and_then(Value::as_map).into_iter().flatten() {
            let (Some(key), Some(value)) = (key.as_str(), incus_string(value)) else {
                continue;
            };
            self.config_key(entity, subject, key, value);
        }
        for (name, device) in devices.and_then(Value::as_map).into_iter().flatten() {
            let Some(device) = device.as_map() else {
                continue;
            };
            let device: Vec<(String, String)> = device
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), incus_string(v)?)))
                .collect();
            let name = incus_string(name).unwrap_or_default();
            self.device(subject, &name, &device);
        }
    }

    fn config_key(&mut self, entity: Entity, subject: Subject<'_>, key: &str, value: String) {
        if entity.container_rules() {
            match key {
                "security.privileged" if is_true(&value) => self.privileged = true,
                "security.nesting" if is_true(&value) => self.nesting = true,
                _ if ALLOWABLE_INTERCEPT.contains(&key) && !is_false_or_empty(&value) => {
                    self.interception = true;
                }
                _ => {}
            }
        }
        if key == "raw.idmap" {
            self.raw_idmaps.push((entity, subject.to_string(), value));
            return;
        }
        let volatile = entity != Entity::Profile && incus::instance_volatile_lowlevel(key);
        if entity.container_rules() && incus::container_lowlevel(key)
            || entity == Entity::Container && volatile
        {
            self.container_lowlevel = true;
        }
        if entity.vm_rules() && incus::vm_lowlevel(key) || entity == Entity::Vm && volatile {
            self.vm_lowlevel = true;
        }
    }

    fn device(&mut self, subject: Subject<'_>, name: &str, device: &[(String, String)]) {
        let get = |k: &str| {
            device
                .iter()
                .find(|(key, _)| key == k)
                .map_or("", |(_, v)| v.as_str())
        };
        let kind = get("type");
        if SIMPLE_DEVICE_TYPES.contains(&kind) {
            self.device_types.insert(kind.to_owned());
            return;
        }
        match kind {
            "nic" if !get("network").is_empty() => push_unique(&mut self.networks, get("network")),
            "nic" => {
                self.unmanaged_nic = true;
                let parent = get("parent");
                if !parent.is_empty() {
                    push_unique(&mut self.networks, parent);
                }
                self.finding(
                    subject,
                    FindingKind::Wider,
                    format!(
                        "NIC '{name}' has no 'network:' (an Incus managed network): it needs \
                         restricted.devices.nic=allow, which also admits NICs with neither \
                         network nor parent (p2p, routed) in this project"
                    ),
                );
            }
            "disk" if incus::disk_always_allowed(device) || !get("pool").is_empty() => {}
            "disk" => self.host_disk(subject, name, get("source"), is_true(get("shift"))),
            _ => {}
        }
    }

    fn host_disk(&mut self, subject: Subject<'_>, name: &str, source: &str, shift: bool) {
        let refused = if source.is_empty() {
            Some(format!(
                "disk '{name}' has neither a storage pool nor a source: Incus attaches no \
                 such disk in a restricted project"
            ))
        } else if !source.starts_with('/') {
            Some(format!(
                "disk '{name}' is neither on a storage pool nor an absolute host path \
                 (source '{source}'): restricted.devices.disk.paths takes absolute paths only"
            ))
        } else if source.contains(',') {
            Some(format!(
                "disk '{name}': source '{source}' holds a comma, which \
                 restricted.devices.disk.paths cannot list"
            ))
        } else if shift {
            Some(format!(
                "disk '{name}' sets shift: Incus refuses 'shift' on a source path that \
                 restricted.devices.disk.paths allows"
            ))
        } else {
            None
        };
        match refused {
            Some(message) => self.finding(subject, FindingKind::Refused, message),
            None => push_unique(&mut self.disk_paths, source),
        }
    }

    /// Host IDs of `raw.idmap` are allowed by `restricted.idmap.uid`/`gid`
    /// (narrower than low-level access), where Incus still checks them.
    fn resolve_raw_idmaps(&mut self) {
        for (entity, subject, value) in std::mem::take(&mut self.raw_idmaps) {
            let checked = (entity.container_rules() && !self.container_lowlevel)
                || (entity.vm_rules() && !self.vm_lowlevel);
            if !checked {
                continue;
            }
            let Some(entries) = incus::parse_raw_idmap(&value) else {
                self.finding(
                    &subject,
                    FindingKind::Refused,
                    format!("raw.idmap '{value}' is not an ID map Incus can read"),
                );
                continue;
            };
            for entry in entries {
                let range = entry.range_text();
                if matches!(entry.kind, IdKind::Uid | IdKind::Both) {
                    push_unique(&mut self.idmap_uid, &range);
                }
                if matches!(entry.kind, IdKind::Gid | IdKind::Both) {
                    push_unique(&mut self.idmap_gid, &range);
                }
            }
        }
    }
}
