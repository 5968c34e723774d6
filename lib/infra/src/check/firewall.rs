//! `firewall_mode: vm`: add the `sys-firewall` VM to the admin domain when
//! the user has not declared one (roadmap phase 11).

use super::Checker;
use crate::addressing::FIREWALL_VM_HOST;
use crate::model::{Domain, FirewallMode, Global, InstanceType, Machine};
use crate::value::MappingBuilder;
use crate::yaml::Node;

pub const FIREWALL_VM: &str = "sys-firewall";
const ADMIN_DOMAIN: &str = "admin";

pub(super) fn add_firewall_vm(
    checker: &mut Checker<'_>,
    domains: &mut [Domain],
    global: &Global,
    root: &Node,
) {
    if global.firewall_mode != FirewallMode::Vm || checker.machine_domains.contains_key(FIREWALL_VM)
    {
        return;
    }
    let Some(admin) = domains.iter_mut().find(|d| d.name == ADMIN_DOMAIN) else {
        checker.report.error(
            firewall_mode_location(root).as_ref(),
            "firewall_mode is 'vm' but no 'admin' domain exists. Cannot auto-create sys-firewall.",
        );
        return;
    };
    let ip = global
        .base_subnet
        .address(admin.subnet_id, FIREWALL_VM_HOST);
    if let Some(first) = checker.ips.get(&ip.to_string()) {
        // Located at `firewall_mode: vm`, the setting that adds the VM.
        checker.report.error(
            firewall_mode_location(root).as_ref(),
            format!("Machine '{FIREWALL_VM}': IP {ip} already used by '{first}'"),
        );
        return;
    }
    admin.machines.push(Machine {
        name: FIREWALL_VM.to_owned(),
        domain: ADMIN_DOMAIN.to_owned(),
        description: "Centralized firewall VM (auto-created by generator)".to_owned(),
        instance_type: InstanceType::Vm,
        ip_written_empty: false,
        ip: Some(ip),
        ephemeral: false,
        gpu: None,
        has_gpu_access: false,
        profiles: None,
        config: Some(
            MappingBuilder::new()
                .entry("limits.cpu", "2")
                .entry("limits.memory", "2GiB")
                .build(),
        ),
        devices: None,
        storage_volumes: None,
        roles: Some(vec!["base_system".to_owned(), "firewall_router".to_owned()]),
        os_image: global.default_os_image.clone(),
        auto_created: true,
    });
    if checker.report.is_valid() {
        checker.report.notice(format!(
            "firewall_mode is 'vm' — auto-created sys-firewall in admin domain (ip: {ip})"
        ));
    }
}

fn firewall_mode_location(root: &Node) -> Option<crate::location::Location> {
    root.get("global")
        .and_then(|g| g.value.get("firewall_mode"))
        .map(|e| e.value.location.clone())
}
