//! Validation of an infra document, in the contract's order (§7), building
//! the typed model on the way. All problems are collected, never fail-fast.

mod domains;
mod firewall;
mod gpu;
pub(crate) mod keys;
mod names;
mod policies;

use std::collections::HashMap;
use std::sync::Arc;

use crate::addressing::BaseSubnet;
use crate::context::NestingContext;
use crate::diagnostic::Report;
use crate::location::Location;
use crate::model::{FirewallMode, Global, GpuPolicy, Infra};
use crate::yaml::{Node, NodeKind, Resolved};

const REQUIRED: [&str; 3] = ["project_name", "global", "domains"];

/// Checks a parsed document. Returns the model only when there is no error.
pub(crate) fn check(
    root: Option<&Node>,
    file: &Arc<str>,
    context: &NestingContext,
    report: &mut Report,
) -> Option<Infra> {
    let start = Location::file_start(file);
    let Some(root) = root.filter(|r| !r.is_null()) else {
        for key in REQUIRED {
            report.error(Some(&start), format!("Missing required key: {key}"));
        }
        return None;
    };
    if root.entries().is_none() {
        report.error(
            Some(&root.location),
            format!(
                "the top level must be a mapping with project_name, global and domains, got {}",
                root.type_name()
            ),
        );
        return None;
    }
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|k| root.get(k).is_none())
        .collect();
    if !missing.is_empty() {
        for key in missing {
            report.error(Some(&root.location), format!("Missing required key: {key}"));
        }
        return None;
    }
    keys::warn_unknown(root, keys::TOP, "the top level", report);

    let mut checker = Checker {
        report,
        context,
        machine_domains: HashMap::new(),
        ips: HashMap::new(),
    };
    let project_name = checker.project_name(&root.get("project_name")?.value);
    let global = checker.global(&root.get("global")?.value);
    let mut domains = checker.domains(&root.get("domains")?.value, &global);
    // An invalid gpu_policy is reported once, not again as 'exclusive'.
    if !checker
        .report
        .errors
        .iter()
        .any(|e| e.message.starts_with("global.gpu_policy"))
    {
        checker.gpu_policy(&domains, &global);
    }
    let network_policies = root
        .get("network_policies")
        .and_then(|e| checker.network_policies(&e.value, &domains));
    firewall::add_firewall_vm(&mut checker, &mut domains, &global, root);

    let infra = checker.report.is_valid().then_some(Infra {
        project_name,
        global,
        domains,
        network_policies,
    })?;
    // What the domains' project restrictions cannot express is said, never
    // silently opened (docs/defense-in-depth.md).
    for finding in crate::restrictions::derive_all(&infra)
        .into_iter()
        .flat_map(|r| r.findings)
    {
        checker.report.warning(None, finding.to_string());
    }
    Some(infra)
}

/// State shared by the checks: what has been seen so far, for the
/// uniqueness rules.
pub(crate) struct Checker<'a> {
    pub report: &'a mut Report,
    pub context: &'a NestingContext,
    /// machine name → its domain (first definition).
    pub machine_domains: HashMap<String, String>,
    /// IP text → the machine that uses it first.
    pub ips: HashMap<String, String>,
}

impl Checker<'_> {
    fn project_name(&mut self, node: &Node) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar(_) if node.is_null() => None,
            NodeKind::Scalar(s) => Some(s.text.to_string()),
            _ => {
                self.report.error(
                    Some(&node.location),
                    format!("project_name must be a string, got {}", node.type_name()),
                );
                None
            }
        }
    }

    fn global(&mut self, node: &Node) -> Global {
        let mut global = Global {
            base_subnet: BaseSubnet::default(),
            default_os_image: None,
            default_connection: None,
            default_user: None,
            gpu_policy: GpuPolicy::default(),
            firewall_mode: FirewallMode::default(),
            uplinks: None,
            nat: None,
        };
        if node.entries().is_none() {
            self.report.error(
                Some(&node.location),
                format!("global must be a mapping, got {}", node.type_name()),
            );
            return global;
        }
        keys::warn_unknown(node, keys::GLOBAL, "global", self.report);
        if let Some(entry) = node.get("gpu_policy").filter(|e| !e.value.is_null()) {
            match entry.value.as_str() {
                Some("exclusive") => global.gpu_policy = GpuPolicy::Exclusive,
                Some("shared") => global.gpu_policy = GpuPolicy::Shared,
                _ => self.report.error(
                    Some(&entry.value.location),
                    format!(
                        "global.gpu_policy must be 'exclusive' or 'shared', got '{}'",
                        entry.value.display()
                    ),
                ),
            }
        }
        if let Some(entry) = node.get("firewall_mode").filter(|e| !e.value.is_null()) {
            match entry.value.as_str() {
                Some("host") => global.firewall_mode = FirewallMode::Host,
                Some("vm") => global.firewall_mode = FirewallMode::Vm,
                _ => self.report.error(
                    Some(&entry.value.location),
                    format!(
                        "global.firewall_mode must be 'host' or 'vm', got '{}'",
                        entry.value.display()
                    ),
                ),
            }
        }
        if let Some(entry) = node.get("base_subnet").filter(|e| !e.value.is_null()) {
            match entry.value.as_str().and_then(BaseSubnet::parse) {
                Some(base) => global.base_subnet = base,
                None => {
                    let hint = if matches!(entry.value.resolved(), Some(Resolved::Float(_))) {
                        " (YAML reads an unquoted 10.100 as the number 10.1: quote it)"
                    } else {
                        ""
                    };
                    self.report.error(
                        Some(&entry.value.location),
                        format!(
                            "global.base_subnet must be a quoted string of two octets like '10.100', got {}{hint}",
                            entry.value.display()
                        ),
                    );
                }
            }
        }
        global.default_os_image = self.text(node, "default_os_image", "global.default_os_image");
        global.default_connection =
            self.text(node, "default_connection", "global.default_connection");
        global.default_user = self.text(node, "default_user", "global.default_user");
        global.uplinks = self.uplinks(node);
        global.nat = self.optional_boolean(node, "nat", |t| {
            format!("global.nat must be a boolean, got {t}")
        });
        global
    }

    /// A boolean that may be absent (`None`, also for null).
    pub fn optional_boolean(
        &mut self,
        map: &Node,
        key: &str,
        message: impl FnOnce(&str) -> String,
    ) -> Option<bool> {
        map.get(key).filter(|e| !e.value.is_null())?;
        let before = self.report.errors.len();
        let value = self.boolean(map, key, false, message);
        (self.report.errors.len() == before).then_some(value)
    }

    /// `global.uplinks`: a list of interface names (as the kernel allows
    /// them: 1–15 bytes, no `/`, no blank), none of anklume's `net-*`.
    fn uplinks(&mut self, global: &Node) -> Option<Vec<String>> {
        let value = &global.get("uplinks").filter(|e| !e.value.is_null())?.value;
        let Some(items) = value.items() else {
            self.report.error(
                Some(&value.location),
                format!(
                    "global.uplinks must be a list of interface names, got {}",
                    value.type_name()
                ),
            );
            return None;
        };
        let mut names = Vec::new();
        for item in items {
            let name = item.as_str().unwrap_or_default();
            let problem = if item.as_str().is_none() {
                Some(format!("must be a string, got {}", item.type_name()))
            } else if name.is_empty() || name.len() > 15 {
                Some("must be 1 to 15 characters long (the kernel's limit)".to_string())
            } else if name.contains(['/', ':']) || name.chars().any(char::is_whitespace) {
                Some("must not contain '/', ':' or blanks".to_string())
            } else if name.starts_with(crate::BRIDGE_PREFIX) {
                Some(format!(
                    "is a domain bridge name (anklume's {}* scheme), not an uplink",
                    crate::BRIDGE_PREFIX
                ))
            } else {
                None
            };
            match problem {
                Some(problem) => self.report.error(
                    Some(&item.location),
                    format!("global.uplinks: '{}' {problem}", item.display()),
                ),
                None => names.push(name.to_string()),
            }
        }
        names.sort();
        names.dedup();
        Some(names)
    }

    /// An optional text field: null/absent is `None`; a scalar is taken as
    /// written; a list or mapping is an error.
    pub fn text(&mut self, map: &Node, key: &str, what: &str) -> Option<String> {
        let value = &map.get(key)?.value;
        match &value.kind {
            NodeKind::Scalar(_) if value.is_null() => None,
            NodeKind::Scalar(s) => Some(s.text.to_string()),
            _ => {
                self.report.error(
                    Some(&value.location),
                    format!("{what} must be a string, got {}", value.type_name()),
                );
                None
            }
        }
    }

    /// An optional boolean: null/absent gives `default`; anything but a
    /// boolean is reported with `message(type name)`.
    pub fn boolean(
        &mut self,
        map: &Node,
        key: &str,
        default: bool,
        message: impl FnOnce(&str) -> String,
    ) -> bool {
        let Some(entry) = map.get(key).filter(|e| !e.value.is_null()) else {
            return default;
        };
        match entry.value.as_bool() {
            Some(b) => b,
            None => {
                self.report.error(
                    Some(&entry.value.location),
                    message(entry.value.type_name()),
                );
                default
            }
        }
    }
}
