//! Checks of `network_policies`: each item a mapping whose `from` and `to`
//! name a domain, a machine or `host`, with valid ports and protocol.

use super::{Checker, keys};
use crate::model::{Domain, Endpoint, NetworkPolicy, Ports, Protocol};
use crate::value::Value;
use crate::yaml::{Node, NodeKind};

impl Checker<'_> {
    pub(super) fn network_policies(
        &mut self,
        node: &Node,
        domains: &[Domain],
    ) -> Option<Vec<NetworkPolicy>> {
        if node.is_null() {
            return None;
        }
        let Some(items) = node.items() else {
            self.report.error(
                Some(&node.location),
                format!("network_policies must be a list, got {}", node.type_name()),
            );
            return None;
        };
        Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.policy(i, item, domains))
                .collect(),
        )
    }

    fn policy(&mut self, i: usize, item: &Node, domains: &[Domain]) -> Option<NetworkPolicy> {
        let prefix = format!("network_policies[{i}]");
        if item.entries().is_none() {
            self.report
                .error(Some(&item.location), format!("{prefix}: must be a mapping"));
            return None;
        }
        keys::warn_unknown(item, keys::POLICY, &prefix, self.report);
        let from = self.endpoint(item, "from", &prefix, domains);
        let to = self.endpoint(item, "to", &prefix, domains);
        let ports = self.ports(item, &prefix);
        let protocol = match item.get("protocol").filter(|e| !e.value.is_null()) {
            None => Some(Protocol::Tcp),
            Some(e) => match e.value.as_str() {
                Some("tcp") => Some(Protocol::Tcp),
                Some("udp") => Some(Protocol::Udp),
                _ => {
                    self.report.error(
                        Some(&e.value.location),
                        format!(
                            "{prefix}: protocol must be 'tcp' or 'udp', got '{}'",
                            e.value.display()
                        ),
                    );
                    None
                }
            },
        };
        let bidirectional = self.boolean(item, "bidirectional", false, |t| {
            format!("{prefix}: bidirectional must be a boolean, got {t}")
        });
        let description = self.text(item, "description", &format!("{prefix}: description"));
        Some(NetworkPolicy {
            from: from?,
            to: to?,
            ports: ports?,
            protocol: protocol?,
            bidirectional,
            description,
            raw: raw_policy(item, bidirectional),
        })
    }

    fn endpoint(
        &mut self,
        item: &Node,
        key: &str,
        prefix: &str,
        domains: &[Domain],
    ) -> Option<Endpoint> {
        let Some(entry) = item.get(key).filter(|e| !e.value.is_null()) else {
            self.report
                .error(Some(&item.location), format!("{prefix}: missing '{key}'"));
            return None;
        };
        let reference = entry.value.display();
        let endpoint = if reference == "host" {
            Some(Endpoint::Host)
        } else if domains.iter().any(|d| d.name == reference) {
            Some(Endpoint::Domain(reference.clone()))
        } else {
            self.machine_domains
                .get(&reference)
                .map(|domain| Endpoint::Machine {
                    name: reference.clone(),
                    domain: domain.clone(),
                })
        };
        let valid_reference = matches!(entry.value.kind, NodeKind::Scalar(_));
        if endpoint.is_none() || !valid_reference {
            self.report.error(
                Some(&entry.value.location),
                format!("{prefix}: '{key}: {reference}' is not a known domain, machine, or 'host'"),
            );
            return None;
        }
        endpoint
    }

    fn ports(&mut self, item: &Node, prefix: &str) -> Option<Ports> {
        let Some(entry) = item.get("ports").filter(|e| !e.value.is_null()) else {
            return Some(Ports::All);
        };
        if entry.value.as_str() == Some("all") {
            return Some(Ports::All);
        }
        let Some(items) = entry.value.items() else {
            self.report.error(
                Some(&entry.value.location),
                format!("{prefix}: ports must be a list or 'all'"),
            );
            return None;
        };
        let mut ports = Vec::with_capacity(items.len());
        let mut valid = true;
        for port in items {
            match port.as_int().and_then(|p| u16::try_from(p).ok()) {
                Some(p) if p >= 1 => ports.push(p),
                _ => {
                    self.report.error(
                        Some(&port.location),
                        format!(
                            "{prefix}: invalid port {} (must be 1-65535)",
                            port.display()
                        ),
                    );
                    valid = false;
                }
            }
        }
        valid.then_some(Ports::List(ports))
    }
}

/// The policy as written, except that `bidirectional` is normalised to a
/// boolean (a YAML 1.1 `yes` must not reach Ansible as a string).
fn raw_policy(item: &Node, bidirectional: bool) -> Value {
    let mut raw = item.to_value();
    if let Value::Map(entries) = &mut raw {
        for (key, value) in entries.iter_mut() {
            if key.as_str() == Some("bidirectional") && !value.is_null() {
                *value = Value::Bool(bidirectional);
            }
        }
    }
    raw
}
