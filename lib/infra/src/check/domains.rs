//! Checks of `domains` and their machines, in the contract's order: per
//! domain name, subnet_id, ephemeral; per machine duplicate name, type,
//! privileged policy, duplicate IP, IP in subnet, ephemeral, profiles.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::names::{MAX_DOMAIN_NAME, bridge_too_long, instance_name_error, is_domain_name};
use super::{Checker, keys};
use crate::addressing::{DomainNetwork, MAX_INTERFACE_NAME, bridge_name};
use crate::model::{Domain, Global, InstanceType, Machine, Profile};
use crate::yaml::{Entry, Node, NodeKind};

impl Checker<'_> {
    pub(super) fn domains(&mut self, node: &Node, global: &Global) -> Vec<Domain> {
        if node.is_null() {
            return Vec::new();
        }
        let Some(entries) = node.entries() else {
            self.report.error(
                Some(&node.location),
                format!(
                    "domains must be a mapping of domain name to domain, got {}",
                    node.type_name()
                ),
            );
            return Vec::new();
        };
        let mut subnet_owners: HashMap<u8, String> = HashMap::new();
        entries
            .iter()
            .filter_map(|entry| self.domain(entry, global, &mut subnet_owners))
            .collect()
    }

    fn domain(
        &mut self,
        entry: &Entry,
        global: &Global,
        subnet_owners: &mut HashMap<u8, String>,
    ) -> Option<Domain> {
        let name = entry.key.display();
        let at = Some(&entry.key.location);
        if !is_domain_name(&name) {
            self.report.error(
                at,
                format!("Domain '{name}': invalid name (lowercase alphanumeric + hyphen)"),
            );
        } else if name == "all" {
            self.report.error(
                at,
                format!(
                    "Domain '{name}': reserved name (it would collide with group_vars/all.yml)"
                ),
            );
        } else if bridge_too_long(&name) {
            self.report.error(
                at,
                format!(
                    "Domain '{name}': name too long: at most {MAX_DOMAIN_NAME} characters, since its bridge '{}' must fit Linux's {MAX_INTERFACE_NAME}-character interface names (Incus refuses it; nftables would truncate it and two long domains would collide)",
                    bridge_name(&name),
                ),
            );
        }
        let body = &entry.value;
        if body.entries().is_none() {
            self.report.error(
                Some(&body.location),
                format!(
                    "Domain '{name}': must be a mapping, got {}",
                    body.type_name()
                ),
            );
            return None;
        }
        keys::warn_unknown(body, keys::DOMAIN, &format!("domain '{name}'"), self.report);

        let subnet_id = match body.get("subnet_id").filter(|e| !e.value.is_null()) {
            None => {
                self.report
                    .error(at, format!("Domain '{name}': missing subnet_id"));
                None
            }
            Some(e) => match e.value.as_int().and_then(|i| u8::try_from(i).ok()) {
                Some(id) if id <= 254 => Some(id),
                _ => {
                    self.report.error(
                        Some(&e.value.location),
                        format!(
                            "Domain '{name}': subnet_id must be 0-254, got {}",
                            e.value.display()
                        ),
                    );
                    None
                }
            },
        };
        if let Some(id) = subnet_id {
            if let Some(first) = subnet_owners.get(&id) {
                self.report.error(
                    body.get("subnet_id").map(|e| &e.value.location),
                    format!("Domain '{name}': subnet_id {id} already used by '{first}'"),
                );
            } else {
                subnet_owners.insert(id, name.clone());
            }
        }
        let ephemeral = self.boolean(body, "ephemeral", false, |t| {
            format!("Domain '{name}': ephemeral must be a boolean, got {t}")
        });
        let nat = self
            .optional_boolean(body, "nat", |t| {
                format!("Domain '{name}': nat must be a boolean, got {t}")
            })
            .or(global.nat);
        let description = self
            .text(
                body,
                "description",
                &format!("Domain '{name}': description"),
            )
            .unwrap_or_default();
        let profiles = self.domain_profiles(body, &name);
        let network = subnet_id.map(|id| global.base_subnet.domain_network(&name, id));
        let machines = self.machines(body, &name, ephemeral, network.as_ref(), &profiles, global);

        Some(Domain {
            name,
            description,
            subnet_id: subnet_id.unwrap_or_default(),
            ephemeral,
            nat,
            profiles,
            machines,
        })
    }

    fn domain_profiles(&mut self, body: &Node, domain: &str) -> Vec<Profile> {
        let Some(entry) = body.get("profiles").filter(|e| !e.value.is_null()) else {
            return Vec::new();
        };
        let Some(entries) = entry.value.entries() else {
            self.report.error(
                Some(&entry.value.location),
                format!(
                    "Domain '{domain}': profiles must be a mapping of profile name to profile body, got {}",
                    entry.value.type_name()
                ),
            );
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|p| {
                let name = p.key.display();
                if p.value.entries().is_none() && !p.value.is_null() {
                    self.report.error(
                        Some(&p.value.location),
                        format!(
                            "Domain '{domain}': profile '{name}' must be a mapping (config, devices), got {}",
                            p.value.type_name()
                        ),
                    );
                    return None;
                }
                Some(Profile {
                    name,
                    body: p.value.to_value(),
                })
            })
            .collect()
    }

    fn machines(
        &mut self,
        body: &Node,
        domain: &str,
        domain_ephemeral: bool,
        network: Option<&DomainNetwork>,
        profiles: &[Profile],
        global: &Global,
    ) -> Vec<Machine> {
        let Some(entry) = body.get("machines").filter(|e| !e.value.is_null()) else {
            return Vec::new();
        };
        let Some(entries) = entry.value.entries() else {
            self.report.error(
                Some(&entry.value.location),
                format!(
                    "Domain '{domain}': machines must be a mapping of machine name to machine, got {}",
                    entry.value.type_name()
                ),
            );
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|m| self.machine(m, domain, domain_ephemeral, network, profiles, global))
            .collect()
    }

    fn machine(
        &mut self,
        entry: &Entry,
        domain: &str,
        domain_ephemeral: bool,
        network: Option<&DomainNetwork>,
        profiles: &[Profile],
        global: &Global,
    ) -> Option<Machine> {
        let name = entry.key.display();
        let at = Some(&entry.key.location);
        let mut keep = true;
        if let Some(first) = self.machine_domains.get(&name) {
            self.report.error(
                at,
                format!("Machine '{name}': duplicate (already in '{first}')"),
            );
            keep = false;
        } else {
            self.machine_domains.insert(name.clone(), domain.to_owned());
        }
        if let Some(why) = instance_name_error(&name) {
            self.report
                .error(at, format!("Machine '{name}': invalid name (Incus: {why})"));
        }
        let body = &entry.value;
        if body.entries().is_none() {
            self.report.error(
                Some(&body.location),
                format!(
                    "Machine '{name}': must be a mapping, got {}",
                    body.type_name()
                ),
            );
            return None;
        }
        keys::warn_unknown(
            body,
            keys::MACHINE,
            &format!("machine '{name}'"),
            self.report,
        );

        let instance_type = match body.get("type").filter(|e| !e.value.is_null()) {
            None => Some(InstanceType::Lxc),
            Some(e) => match e.value.as_str() {
                Some("lxc") => Some(InstanceType::Lxc),
                Some("vm") => Some(InstanceType::Vm),
                _ => {
                    self.report.error(
                        Some(&e.value.location),
                        format!(
                            "Machine '{name}': type must be 'lxc' or 'vm', got '{}'",
                            e.value.display()
                        ),
                    );
                    None
                }
            },
        };
        if instance_type == Some(InstanceType::Lxc) {
            self.privileged_policy(body, &name);
        }
        let instance_type = instance_type.unwrap_or_default();
        let ip_written_empty = body
            .get("ip")
            .and_then(|e| e.value.as_str())
            .is_some_and(str::is_empty);
        let ip = if ip_written_empty {
            None
        } else {
            self.machine_ip(body, &name, network)
        };
        let ephemeral = self.boolean(body, "ephemeral", domain_ephemeral, |t| {
            format!("Machine '{name}': ephemeral must be a boolean, got {t}")
        });
        let gpu = body.get("gpu").filter(|e| !e.value.is_null()).map(|e| {
            e.value.as_bool().unwrap_or_else(|| {
                self.report.error(
                    Some(&e.value.location),
                    format!(
                        "Machine '{name}': gpu must be a boolean, got {} '{}'",
                        e.value.type_name(),
                        e.value.display()
                    ),
                );
                false
            })
        });
        let machine_profiles = self.machine_profiles(body, &name, domain, profiles);
        let has_gpu_access = gpu == Some(true)
            || machine_profiles.iter().flatten().any(|p| {
                profiles
                    .iter()
                    .any(|dp| &dp.name == p && profile_has_gpu(&dp.body))
            });
        let config = self.mapping(body, "config", &name);
        let devices = self.mapping(body, "devices", &name);
        let storage_volumes = body
            .get("storage_volumes")
            .filter(|e| !e.value.is_null())
            .map(|e| e.value.to_value());
        let roles = self.roles(body, &name);
        let os_image = self
            .text(body, "os_image", &format!("Machine '{name}': os_image"))
            .or_else(|| global.default_os_image.clone());
        let description = self
            .text(
                body,
                "description",
                &format!("Machine '{name}': description"),
            )
            .unwrap_or_default();

        keep.then(|| Machine {
            name,
            domain: domain.to_owned(),
            description,
            instance_type,
            ip,
            ip_written_empty,
            ephemeral,
            gpu,
            has_gpu_access,
            profiles: machine_profiles,
            config,
            devices,
            storage_volumes,
            roles,
            os_image,
            auto_created: false,
        })
    }

    fn privileged_policy(&mut self, body: &Node, name: &str) {
        let privileged = body
            .get("config")
            .and_then(|c| c.value.get("security.privileged"))
            .is_some_and(|e| {
                e.value.as_bool() == Some(true)
                    || e.value
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case("true"))
            });
        if !privileged || self.context.vm_nested != Some(false) {
            return;
        }
        let at = body
            .get("config")
            .and_then(|c| c.value.get("security.privileged"))
            .map(|e| e.key.location.clone());
        if self.context.yolo {
            self.report.warning(
                at.as_ref(),
                format!(
                    "YOLO: Machine '{name}' has security.privileged=true on LXC without VM isolation. This is unsafe for production."
                ),
            );
        } else {
            self.report.error(
                at.as_ref(),
                format!(
                    "Machine '{name}': security.privileged=true on LXC is forbidden when vm_nested=false (no VM in parent chain). Use a VM or enable --YOLO to bypass."
                ),
            );
        }
    }

    fn machine_ip(
        &mut self,
        body: &Node,
        name: &str,
        network: Option<&DomainNetwork>,
    ) -> Option<Ipv4Addr> {
        let entry = body.get("ip").filter(|e| !e.value.is_null())?;
        let text = entry.value.display();
        let at = Some(&entry.value.location);
        if let Some(first) = self.ips.get(&text) {
            self.report.error(
                at,
                format!("Machine '{name}': IP {text} already used by '{first}'"),
            );
        } else {
            self.ips.insert(text.clone(), name.to_owned());
        }
        let parsed = match (&entry.value.kind, text.parse::<Ipv4Addr>()) {
            (NodeKind::Scalar(_), Ok(ip)) => ip,
            _ => {
                self.report.error(
                    at,
                    format!("Machine '{name}': IP {text} is not an IPv4 address like 10.100.1.10"),
                );
                return None;
            }
        };
        let network = network?;
        if !network.contains(parsed) {
            self.report.error(
                at,
                format!(
                    "Machine '{name}': IP {text} not in subnet {}",
                    network.subnet()
                ),
            );
        } else if network.is_reserved(parsed) {
            self.report.error(
                at,
                format!(
                    "Machine '{name}': IP {text} is reserved in subnet {} (network, gateway .254 or broadcast address)",
                    network.subnet()
                ),
            );
        }
        Some(parsed)
    }

    fn machine_profiles(
        &mut self,
        body: &Node,
        name: &str,
        domain: &str,
        profiles: &[Profile],
    ) -> Option<Vec<String>> {
        let entry = body.get("profiles").filter(|e| !e.value.is_null())?;
        let Some(items) = entry.value.items() else {
            self.report.error(
                Some(&entry.value.location),
                format!(
                    "Machine '{name}': profiles must be a list of profile names, got {}",
                    entry.value.type_name()
                ),
            );
            return None;
        };
        let mut names = Vec::with_capacity(items.len());
        for item in items {
            let profile = item.display();
            if profile != "default" && !profiles.iter().any(|p| p.name == profile) {
                self.report.error(
                    Some(&item.location),
                    format!(
                        "Machine '{name}': profile '{profile}' not defined in domain '{domain}'"
                    ),
                );
            }
            names.push(profile);
        }
        Some(names)
    }

    /// `config` / `devices`: a mapping, copied verbatim.
    fn mapping(&mut self, body: &Node, key: &str, name: &str) -> Option<crate::Value> {
        let entry = body.get(key).filter(|e| !e.value.is_null())?;
        if entry.value.entries().is_none() {
            self.report.error(
                Some(&entry.value.location),
                format!(
                    "Machine '{name}': {key} must be a mapping, got {}",
                    entry.value.type_name()
                ),
            );
            return None;
        }
        Some(entry.value.to_value())
    }

    fn roles(&mut self, body: &Node, name: &str) -> Option<Vec<String>> {
        let entry = body.get("roles").filter(|e| !e.value.is_null())?;
        let roles: Option<Vec<String>> = entry.value.items().and_then(|items| {
            items
                .iter()
                .map(|r| {
                    r.scalar()
                        .filter(|_| !r.is_null())
                        .map(|s| s.text.to_string())
                })
                .collect()
        });
        if roles.is_none() {
            self.report.error(
                Some(&entry.value.location),
                format!("Machine '{name}': roles must be a list of role names"),
            );
        }
        roles
    }
}

fn profile_has_gpu(body: &crate::Value) -> bool {
    body.get("devices")
        .and_then(crate::Value::as_map)
        .is_some_and(|devices| {
            devices
                .iter()
                .any(|(_, d)| d.get("type").and_then(crate::Value::as_str) == Some("gpu"))
        })
}
