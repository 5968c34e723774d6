//! An nftables table as data. One value feeds both renderers: the nft
//! text that `preview` prints and the netlink batch that `apply` sends, so
//! what a user previews is exactly what the kernel gets.
//!
//! Only the constructs anklume needs are modelled; each one knows its nft
//! spelling (here and in `text`) and its netlink expressions (`netlink`).

use std::net::Ipv4Addr;

/// `table inet <name> { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// Shown as `comment "…"` (stored in the table's user data).
    pub comment: Option<String>,
    pub sets: Vec<Set>,
    pub chains: Vec<Chain>,
}

/// A named set; with several fields, a concatenation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    pub name: String,
    pub fields: Vec<FieldType>,
    /// `flags interval`: elements may hold ranges and prefixes.
    pub interval: bool,
    /// Each element has one value per field.
    pub elements: Vec<Vec<Value>>,
}

/// The data type of a set field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    IfName,
    Ipv4Addr,
    InetProto,
    InetService,
}

/// One field of a set element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    IfName(String),
    /// An address and prefix length (32 = one address).
    Ipv4(Ipv4Addr, u8),
    /// Protocol numbers, inclusive (`tcp`, or `0-255`).
    Proto(u8, u8),
    /// Ports, inclusive (`8080`, or `0-65535`).
    Port(u16, u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Input,
    Forward,
    Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
}

/// A base chain of type filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub hook: Hook,
    /// Relative to `filter` (0): -10 is printed `filter - 10`.
    pub priority: i32,
    pub policy: Verdict,
    pub rules: Vec<Rule>,
}

/// Matches (all must hold), then an optional counter and log, then the
/// verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub counter: bool,
    pub log_prefix: Option<String>,
    pub verdict: Verdict,
}

/// conntrack state bits (`ct state`).
pub mod ct_state {
    pub const INVALID: u32 = 1;
    pub const ESTABLISHED: u32 = 2;
    pub const RELATED: u32 = 4;
    pub const NEW: u32 = 8;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Original,
    Reply,
}

/// Layer-4 protocols the rules name.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortField {
    Sport,
    Dport,
}

/// One match of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// `k1 . k2 … @set` (or `!= @set`).
    Lookup {
        keys: Vec<Key>,
        set: String,
        negate: bool,
    },
    /// `ct state a,b`: any of the bits.
    CtState(u32),
    /// `ct direction original|reply`.
    CtDirection(Direction),
    /// `meta l4proto <p>`.
    L4Proto(u8),
    /// `tcp|udp sport|dport <port>`.
    Port {
        proto: u8,
        field: PortField,
        port: u16,
    },
    /// `icmp type != <type>` (IPv4 only).
    IcmpTypeNot(u8),
    /// `iifname|oifname [!=] "<prefix>*"`: an interface name that starts
    /// (or does not start) with `prefix`.
    IfNamePrefix {
        key: Key,
        prefix: String,
        negate: bool,
    },
}

/// A packet field used as (part of) a set key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    IifName,
    OifName,
    IpSaddr,
    IpDaddr,
    L4Proto,
    /// `th dport`: transport destination port (any protocol).
    ThDport,
    /// `th sport`.
    ThSport,
}

impl Key {
    /// The set field type this key is looked up in.
    pub fn field_type(self) -> FieldType {
        match self {
            Key::IifName | Key::OifName => FieldType::IfName,
            Key::IpSaddr | Key::IpDaddr => FieldType::Ipv4Addr,
            Key::L4Proto => FieldType::InetProto,
            Key::ThDport | Key::ThSport => FieldType::InetService,
        }
    }
}

impl FieldType {
    /// Bytes of the value; in a concatenation each field takes a multiple
    /// of 4 bytes (a 32-bit register).
    pub fn byte_len(self) -> usize {
        match self {
            FieldType::IfName => 16,
            FieldType::Ipv4Addr => 4,
            FieldType::InetProto => 1,
            FieldType::InetService => 2,
        }
    }
}

impl Rule {
    pub fn new(matches: Vec<Match>, verdict: Verdict) -> Self {
        Rule {
            matches,
            counter: false,
            log_prefix: None,
            verdict,
        }
    }

    pub fn counted(mut self) -> Self {
        self.counter = true;
        self
    }

    pub fn logged(mut self, prefix: impl Into<String>) -> Self {
        self.log_prefix = Some(prefix.into());
        self
    }
}

impl Match {
    pub fn lookup(keys: &[Key], set: &str) -> Self {
        Match::Lookup {
            keys: keys.to_vec(),
            set: set.into(),
            negate: false,
        }
    }

    /// `key "prefix*"` (`key` is `IifName` or `OifName`).
    pub fn ifname_prefix(key: Key, prefix: &str) -> Self {
        Match::IfNamePrefix {
            key,
            prefix: prefix.into(),
            negate: false,
        }
    }

    /// `key != "prefix*"`.
    pub fn ifname_not_prefix(key: Key, prefix: &str) -> Self {
        Match::IfNamePrefix {
            key,
            prefix: prefix.into(),
            negate: true,
        }
    }

    pub fn not_in(key: Key, set: &str) -> Self {
        Match::Lookup {
            keys: vec![key],
            set: set.into(),
            negate: true,
        }
    }
}
