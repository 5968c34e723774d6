//! The table in nft syntax, formatted the way `nft list table` prints it
//! (nftables 1.0.6), so `anklume-netd preview` shows what the kernel will
//! list after `apply`. `nft -f` reads it back unchanged.

use std::fmt::Write as _;

use crate::ir::{
    Chain, Direction, Hook, Key, Match, PortField, Rule, Set, Table, Value, Verdict, ct_state,
    proto,
};

/// The whole `table inet <name> { … }`.
pub fn render(table: &Table) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "table inet {} {{", table.name);
    if let Some(comment) = &table.comment {
        let _ = writeln!(out, "\tcomment \"{comment}\"");
    }
    let mut blocks: Vec<String> = table.sets.iter().map(set).collect();
    blocks.extend(table.chains.iter().map(chain));
    out.push_str(&blocks.join("\n"));
    out.push_str("}\n");
    out
}

fn set(set: &Set) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\tset {} {{", set.name);
    let types: Vec<&str> = set.fields.iter().map(|f| type_name(*f)).collect();
    let _ = writeln!(out, "\t\ttype {}", types.join(" . "));
    if set.interval {
        out.push_str("\t\tflags interval\n");
    }
    if !set.elements.is_empty() {
        let elements: Vec<String> = set
            .elements
            .iter()
            .map(|e| e.iter().map(value).collect::<Vec<_>>().join(" . "))
            .collect();
        let _ = writeln!(
            out,
            "\t\telements = {{ {} }}",
            elements.join(",\n\t\t\t     ")
        );
    }
    out.push_str("\t}\n");
    out
}

fn type_name(field: crate::ir::FieldType) -> &'static str {
    use crate::ir::FieldType::*;
    match field {
        IfName => "ifname",
        Ipv4Addr => "ipv4_addr",
        InetProto => "inet_proto",
        InetService => "inet_service",
    }
}

fn value(value: &Value) -> String {
    match value {
        Value::IfName(name) => format!("\"{name}\""),
        Value::Ipv4(address, 32) => address.to_string(),
        Value::Ipv4(address, len) => format!("{address}/{len}"),
        Value::Proto(lo, hi) if lo == hi => proto_name(*lo),
        Value::Proto(lo, hi) => format!("{lo}-{hi}"),
        Value::Port(lo, hi) if lo == hi => lo.to_string(),
        Value::Port(lo, hi) => format!("{lo}-{hi}"),
    }
}

fn proto_name(number: u8) -> String {
    match number {
        proto::ICMP => "icmp".into(),
        proto::TCP => "tcp".into(),
        proto::UDP => "udp".into(),
        proto::ICMPV6 => "ipv6-icmp".into(),
        other => other.to_string(),
    }
}

fn chain(chain: &Chain) -> String {
    let mut out = String::new();
    let hook = match chain.hook {
        Hook::Input => "input",
        Hook::Forward => "forward",
        Hook::Output => "output",
    };
    let priority = match chain.priority {
        0 => "filter".to_owned(),
        p if p < 0 => format!("filter - {}", -p),
        p => format!("filter + {p}"),
    };
    let _ = writeln!(out, "\tchain {} {{", chain.name);
    let _ = writeln!(
        out,
        "\t\ttype filter hook {hook} priority {priority}; policy {};",
        verdict(chain.policy)
    );
    for r in &chain.rules {
        let _ = writeln!(out, "\t\t{}", rule(r));
    }
    out.push_str("\t}\n");
    out
}

/// One rule as nft prints it.
pub fn rule(rule: &Rule) -> String {
    let mut parts: Vec<String> = rule.matches.iter().map(match_text).collect();
    if rule.counter {
        parts.push("counter packets 0 bytes 0".into());
    }
    if let Some(prefix) = &rule.log_prefix {
        parts.push(format!("log prefix \"{prefix}\""));
    }
    parts.push(verdict(rule.verdict).into());
    parts.join(" ")
}

fn verdict(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Accept => "accept",
        Verdict::Drop => "drop",
    }
}

fn match_text(m: &Match) -> String {
    match m {
        Match::Lookup { keys, set, negate } => {
            let keys: Vec<&str> = keys.iter().map(|k| key_name(*k)).collect();
            let op = if *negate { "!= " } else { "" };
            format!("{} {op}@{set}", keys.join(" . "))
        }
        Match::CtState(bits) => {
            let names: Vec<&str> = [
                (ct_state::INVALID, "invalid"),
                (ct_state::ESTABLISHED, "established"),
                (ct_state::RELATED, "related"),
                (ct_state::NEW, "new"),
            ]
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .map(|(_, name)| *name)
            .collect();
            format!("ct state {}", names.join(","))
        }
        Match::CtDirection(Direction::Original) => "ct direction original".into(),
        Match::CtDirection(Direction::Reply) => "ct direction reply".into(),
        Match::L4Proto(p) => format!("meta l4proto {}", proto_name(*p)),
        Match::Port { proto, field, port } => {
            let field = match field {
                PortField::Sport => "sport",
                PortField::Dport => "dport",
            };
            format!("{} {field} {port}", proto_name(*proto))
        }
        Match::IcmpTypeNot(8) => "icmp type != echo-request".into(),
        Match::IcmpTypeNot(t) => format!("icmp type != {t}"),
        Match::IfNamePrefix {
            key,
            prefix,
            negate,
        } => {
            let op = if *negate { "!= " } else { "" };
            format!("{} {op}\"{prefix}*\"", key_name(*key))
        }
    }
}

fn key_name(key: Key) -> &'static str {
    match key {
        Key::IifName => "iifname",
        Key::OifName => "oifname",
        Key::IpSaddr => "ip saddr",
        Key::IpDaddr => "ip daddr",
        Key::L4Proto => "meta l4proto",
        Key::ThDport => "th dport",
        Key::ThSport => "th sport",
    }
}
