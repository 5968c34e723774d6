//! The ruleset as anklume's nftables table (`table inet anklume`). Preview
//! renders this table as nft text, apply sends it over netlink: one source.
//!
//! Per-packet cost does not grow with the number of domains or policies:
//! each chain does a fixed number of set lookups.
//!
//! Every packet crossing two domain bridges is checked against the policy
//! sets, replies included (a reply matches its flow reversed, with its
//! source port standing for the flow's destination port). There is no
//! blanket "established accept": when a new ruleset closes a flow, its
//! next packet is dropped even though conntrack still knows it, so no
//! conntrack flush is needed and no packet slips through in between.

mod sets;

use anklume_nft::ir::{
    Chain, Direction, Hook, Key, Match, PortField, Rule, Table, Verdict, ct_state, proto,
};

use crate::ruleset::Ruleset;

/// Name of the table anklume owns.
pub const TABLE: &str = "anklume";
/// Before Incus's own chains (priority filter), so a drop here wins.
pub const PRIORITY: i32 = -10;
/// Prefix of logged drops in the firewall VM.
pub const LOG_PREFIX: &str = "anklume-drop: ";

/// Where the ruleset runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On the host: forward between bridges, plus host input/output.
    Host,
    /// Inside the sys-firewall VM: forward only, drop policy, logged drops.
    FirewallVm,
}

use Key::{IifName, IpDaddr, IpSaddr, L4Proto, OifName, ThDport, ThSport};

/// A machine flow's packets, and its replies.
const V4_KEYS: [Key; 5] = [IifName, IpSaddr, IpDaddr, L4Proto, ThDport];
const V4_REPLY_KEYS: [Key; 5] = [OifName, IpDaddr, IpSaddr, L4Proto, ThSport];

/// Interfaces of anklume's naming scheme (`net-*`) that the infra does not
/// declare are domains with no policy.
const BRIDGE_WILDCARD: &str = anklume_infra::BRIDGE_PREFIX;

/// The whole table for `ruleset` (without comment).
///
/// On the host, a domain bridge forwards to itself, to what a policy
/// opens, and to the host's uplinks; nothing else. Leftover `net-*`
/// bridges count as domains with no policy, and every other interface
/// (another bridge, docker0, virbr0…) is denied to and from domain
/// bridges. Traffic that touches no domain bridge is not anklume's.
pub fn table(ruleset: &Ruleset, mode: Mode) -> Table {
    let mut sets = vec![sets::domain_ifaces(ruleset), sets::bridge_self(ruleset)];
    if mode == Mode::Host {
        sets.push(sets::uplinks(ruleset));
    }
    sets.extend(sets::forward_sets(ruleset));
    if mode == Mode::Host {
        sets.extend(sets::host_sets("host_in", &ruleset.host_in));
        sets.extend(sets::host_sets("host_out", &ruleset.host_out));
    }

    let (policy, last) = match mode {
        Mode::Host => (Verdict::Accept, Rule::new(vec![], Verdict::Drop).counted()),
        Mode::FirewallVm => (
            Verdict::Drop,
            Rule::new(vec![], Verdict::Drop)
                .counted()
                .logged(LOG_PREFIX),
        ),
    };
    let accept = |matches: Vec<Match>| Rule::new(matches, Verdict::Accept);
    let original = Match::CtDirection(Direction::Original);
    let reply = Match::CtDirection(Direction::Reply);

    let mut forward = vec![
        // Inside one bridge: never filtered, whatever the conntrack state
        // (br_netfilter sends bridged frames here; ND and MLD are untracked).
        accept(vec![Match::lookup(&[IifName, OifName], "bridge_self")]),
    ];
    forward.push(match mode {
        // Traffic that touches no domain bridge (declared or leftover) is
        // the host's own business.
        Mode::Host => accept(vec![
            Match::not_in(IifName, "domain_ifaces"),
            Match::ifname_not_prefix(IifName, BRIDGE_WILDCARD),
            Match::not_in(OifName, "domain_ifaces"),
            Match::ifname_not_prefix(OifName, BRIDGE_WILDCARD),
        ]),
        // In the firewall VM every NIC is a domain's: only traffic between
        // two of them is filtered.
        Mode::FirewallVm => accept(vec![Match::not_in(IifName, "domain_ifaces")]),
    });
    if mode == Mode::FirewallVm {
        forward.push(accept(vec![Match::not_in(OifName, "domain_ifaces")]));
    }
    forward.extend([
        Rule::new(vec![Match::CtState(ct_state::INVALID)], Verdict::Drop),
        // ICMP errors about a flow (e.g. "fragmentation needed") reach it.
        accept(vec![
            Match::CtState(ct_state::RELATED),
            Match::L4Proto(proto::ICMP),
        ]),
        accept(vec![
            Match::CtState(ct_state::RELATED),
            Match::L4Proto(proto::ICMPV6),
        ]),
    ]);
    for (set, keys, reply_keys) in [
        (
            "forward_pairs",
            &[IifName, OifName][..],
            &[OifName, IifName][..],
        ),
        (
            "forward_protos",
            &[IifName, OifName, L4Proto],
            &[OifName, IifName, L4Proto],
        ),
        (
            "forward_ports",
            &[IifName, OifName, L4Proto, ThDport],
            &[OifName, IifName, L4Proto, ThSport],
        ),
        ("forward_hosts", &V4_KEYS, &V4_REPLY_KEYS),
        ("forward_v4", &V4_KEYS, &V4_REPLY_KEYS),
    ] {
        forward.extend(both_ways(set, keys, reply_keys));
    }
    if mode == Mode::Host {
        // The way out, and back (NAT or routed): one side is a domain
        // bridge (the second rule let everything else through).
        forward.push(accept(vec![Match::lookup(&[OifName], "uplinks")]));
        forward.push(accept(vec![Match::lookup(&[IifName], "uplinks")]));
    }
    forward.push(last.clone());
    let mut chains = vec![base_chain("forward", Hook::Forward, policy, forward)];

    if mode == Mode::Host {
        let mut input = vec![
            accept(vec![
                Match::not_in(IifName, "domain_ifaces"),
                Match::ifname_not_prefix(IifName, BRIDGE_WILDCARD),
            ]),
            Rule::new(vec![Match::CtState(ct_state::INVALID)], Verdict::Drop),
            // What every instance needs from the host: ICMP (and IPv6
            // neighbour discovery), DHCP and DNS from Incus's dnsmasq.
            accept(vec![Match::L4Proto(proto::ICMP)]),
            accept(vec![Match::L4Proto(proto::ICMPV6)]),
            accept(vec![port(proto::UDP, PortField::Dport, 53)]),
            accept(vec![port(proto::UDP, PortField::Dport, 67)]),
            accept(vec![port(proto::UDP, PortField::Dport, 547)]),
            accept(vec![port(proto::TCP, PortField::Dport, 53)]),
        ];
        // Domain → host flows, and replies to host → domain ones.
        input.extend([
            accept(vec![
                original.clone(),
                Match::lookup(&[IifName, L4Proto, ThDport], "host_in"),
            ]),
            accept(vec![
                original.clone(),
                Match::lookup(&[IifName, IpSaddr, L4Proto, ThDport], "host_in_v4"),
            ]),
            accept(vec![
                reply.clone(),
                Match::lookup(&[IifName, L4Proto, ThSport], "host_out"),
            ]),
            accept(vec![
                reply.clone(),
                Match::lookup(&[IifName, IpSaddr, L4Proto, ThSport], "host_out_v4"),
            ]),
            last.clone(),
        ]);
        chains.push(base_chain("input", Hook::Input, Verdict::Accept, input));

        let output = vec![
            accept(vec![
                Match::not_in(OifName, "domain_ifaces"),
                Match::ifname_not_prefix(OifName, BRIDGE_WILDCARD),
            ]),
            Rule::new(vec![Match::CtState(ct_state::INVALID)], Verdict::Drop),
            accept(vec![Match::L4Proto(proto::ICMPV6)]),
            // The host answers pings and sends ICMP errors, but pinging an
            // instance needs a policy.
            accept(vec![Match::IcmpTypeNot(8)]),
            accept(vec![port(proto::UDP, PortField::Sport, 53)]),
            accept(vec![port(proto::UDP, PortField::Sport, 67)]),
            accept(vec![port(proto::UDP, PortField::Sport, 547)]),
            accept(vec![port(proto::TCP, PortField::Sport, 53)]),
            // Host → domain flows, and replies to domain → host ones.
            accept(vec![
                original.clone(),
                Match::lookup(&[OifName, L4Proto, ThDport], "host_out"),
            ]),
            accept(vec![
                original,
                Match::lookup(&[OifName, IpDaddr, L4Proto, ThDport], "host_out_v4"),
            ]),
            accept(vec![
                reply.clone(),
                Match::lookup(&[OifName, L4Proto, ThSport], "host_in"),
            ]),
            accept(vec![
                reply,
                Match::lookup(&[OifName, IpDaddr, L4Proto, ThSport], "host_in_v4"),
            ]),
            last,
        ];
        chains.push(base_chain("output", Hook::Output, Verdict::Accept, output));
    }
    Table {
        name: TABLE.into(),
        comment: None,
        sets,
        chains,
    }
}

/// The flow's own packets match `keys`; its replies match `reply_keys`
/// (the same flow seen from the other end).
fn both_ways(set: &str, keys: &[Key], reply_keys: &[Key]) -> [Rule; 2] {
    [
        Rule::new(
            vec![
                Match::CtDirection(Direction::Original),
                Match::lookup(keys, set),
            ],
            Verdict::Accept,
        ),
        Rule::new(
            vec![
                Match::CtDirection(Direction::Reply),
                Match::lookup(reply_keys, set),
            ],
            Verdict::Accept,
        ),
    ]
}

fn base_chain(name: &str, hook: Hook, policy: Verdict, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        hook,
        priority: PRIORITY,
        policy,
        rules,
    }
}

fn port(proto: u8, field: PortField, port: u16) -> Match {
    Match::Port { proto, field, port }
}
