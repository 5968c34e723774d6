//! Rules as netlink expressions: each `ir::Match` becomes the register
//! loads, compares and lookups nft 1.0.6 itself emits for it (checked with
//! `nft --debug=netlink`), so `nft list` prints our rules back as written.

use std::ffi::CString;
use std::ptr::NonNull;

use nftnl::Rule as NlRule;
use nftnl::expr::Expression;
use nftnl::nftnl_sys::{self as sys, libc};

use crate::ir::{Direction, Key, Match, PortField, Rule, Verdict, proto};

const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
/// First 32-bit register; 16-byte register N spans 32-bit ones 8+4(N-1)…
const REG32_00: u32 = 8;
const NFPROTO_IPV4: u8 = 2;

/// One netlink expression, with everything `nftnl_expr` needs.
pub(super) enum Expr {
    Meta {
        key: u32,
        dreg: u32,
    },
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    Ct {
        key: u32,
        dreg: u32,
    },
    Cmp {
        op: u32,
        data: Vec<u8>,
    },
    Bitwise {
        mask: u32,
    },
    Lookup {
        set: CString,
        set_id: u32,
        sreg: u32,
        invert: bool,
    },
    Counter,
    Log {
        prefix: CString,
    },
    Verdict(Verdict),
}

fn alloc(name: &std::ffi::CStr) -> NonNull<sys::nftnl_expr> {
    NonNull::new(unsafe { sys::nftnl_expr_alloc(name.as_ptr()) })
        .expect("libnftnl could not allocate an expression")
}

fn set_u32(e: NonNull<sys::nftnl_expr>, attr: u32, value: u32) {
    unsafe { sys::nftnl_expr_set_u32(e.as_ptr(), attr as u16, value) };
}

fn set_bytes(e: NonNull<sys::nftnl_expr>, attr: u32, data: &[u8]) {
    unsafe {
        sys::nftnl_expr_set(
            e.as_ptr(),
            attr as u16,
            data.as_ptr().cast(),
            data.len() as u32,
        )
    };
}

impl Expression for Expr {
    fn to_expr(&self, _rule: &NlRule) -> NonNull<sys::nftnl_expr> {
        match self {
            Expr::Meta { key, dreg } => {
                let e = alloc(c"meta");
                set_u32(e, sys::NFTNL_EXPR_META_KEY, *key);
                set_u32(e, sys::NFTNL_EXPR_META_DREG, *dreg);
                e
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                let e = alloc(c"payload");
                set_u32(e, sys::NFTNL_EXPR_PAYLOAD_DREG, *dreg);
                set_u32(e, sys::NFTNL_EXPR_PAYLOAD_BASE, *base);
                set_u32(e, sys::NFTNL_EXPR_PAYLOAD_OFFSET, *offset);
                set_u32(e, sys::NFTNL_EXPR_PAYLOAD_LEN, *len);
                e
            }
            Expr::Ct { key, dreg } => {
                let e = alloc(c"ct");
                set_u32(e, sys::NFTNL_EXPR_CT_KEY, *key);
                set_u32(e, sys::NFTNL_EXPR_CT_DREG, *dreg);
                e
            }
            Expr::Cmp { op, data } => {
                let e = alloc(c"cmp");
                set_u32(e, sys::NFTNL_EXPR_CMP_SREG, REG_1);
                set_u32(e, sys::NFTNL_EXPR_CMP_OP, *op);
                set_bytes(e, sys::NFTNL_EXPR_CMP_DATA, data);
                e
            }
            Expr::Bitwise { mask } => {
                let e = alloc(c"bitwise");
                set_u32(e, sys::NFTNL_EXPR_BITWISE_SREG, REG_1);
                set_u32(e, sys::NFTNL_EXPR_BITWISE_DREG, REG_1);
                set_u32(e, sys::NFTNL_EXPR_BITWISE_LEN, 4);
                set_bytes(e, sys::NFTNL_EXPR_BITWISE_MASK, &mask.to_ne_bytes());
                set_bytes(e, sys::NFTNL_EXPR_BITWISE_XOR, &[0; 4]);
                e
            }
            Expr::Lookup {
                set,
                set_id,
                sreg,
                invert,
            } => {
                let e = alloc(c"lookup");
                set_u32(e, sys::NFTNL_EXPR_LOOKUP_SREG, *sreg);
                unsafe {
                    sys::nftnl_expr_set_str(
                        e.as_ptr(),
                        sys::NFTNL_EXPR_LOOKUP_SET as u16,
                        set.as_ptr(),
                    )
                };
                set_u32(e, sys::NFTNL_EXPR_LOOKUP_SET_ID, *set_id);
                if *invert {
                    set_u32(
                        e,
                        sys::NFTNL_EXPR_LOOKUP_FLAGS,
                        libc::NFT_LOOKUP_F_INV as u32,
                    );
                }
                e
            }
            Expr::Counter => alloc(c"counter"),
            Expr::Log { prefix } => {
                let e = alloc(c"log");
                unsafe {
                    sys::nftnl_expr_set_str(
                        e.as_ptr(),
                        sys::NFTNL_EXPR_LOG_PREFIX as u16,
                        prefix.as_ptr(),
                    )
                };
                e
            }
            Expr::Verdict(v) => {
                let e = alloc(c"immediate");
                set_u32(e, sys::NFTNL_EXPR_IMM_DREG, REG_VERDICT);
                let code = match v {
                    Verdict::Accept => libc::NF_ACCEPT,
                    Verdict::Drop => libc::NF_DROP,
                };
                set_u32(e, sys::NFTNL_EXPR_IMM_VERDICT, code as u32);
                e
            }
        }
    }
}

fn cmp_eq(data: &[u8]) -> Expr {
    Expr::Cmp {
        op: libc::NFT_CMP_EQ as u32,
        data: data.to_vec(),
    }
}

fn cmp_neq(data: &[u8]) -> Expr {
    Expr::Cmp {
        op: libc::NFT_CMP_NEQ as u32,
        data: data.to_vec(),
    }
}

fn meta(key: i32, dreg: u32) -> Expr {
    Expr::Meta {
        key: key as u32,
        dreg,
    }
}

fn transport(offset: u32, len: u32, dreg: u32) -> Expr {
    Expr::Payload {
        base: libc::NFT_PAYLOAD_TRANSPORT_HEADER as u32,
        offset,
        len,
        dreg,
    }
}

/// Load of one key into `dreg`.
fn load(key: Key, dreg: u32) -> Expr {
    let network = |offset| Expr::Payload {
        base: libc::NFT_PAYLOAD_NETWORK_HEADER as u32,
        offset,
        len: 4,
        dreg,
    };
    match key {
        Key::IifName => meta(libc::NFT_META_IIFNAME, dreg),
        Key::OifName => meta(libc::NFT_META_OIFNAME, dreg),
        Key::L4Proto => meta(libc::NFT_META_L4PROTO, dreg),
        Key::IpSaddr => network(12),
        Key::IpDaddr => network(16),
        Key::ThSport => transport(0, 2, dreg),
        Key::ThDport => transport(2, 2, dreg),
    }
}

/// `meta nfproto ipv4`: what nft adds before any `ip …` match in an inet
/// table.
fn ipv4_only() -> [Expr; 2] {
    [meta(libc::NFT_META_NFPROTO, REG_1), cmp_eq(&[NFPROTO_IPV4])]
}

/// The expressions of one rule. `set_id` gives the batch id of a set.
pub(super) fn rule(rule: &Rule, set_id: impl Fn(&str) -> u32) -> Vec<Expr> {
    let mut out = Vec::new();
    for m in &rule.matches {
        match m {
            Match::Lookup { keys, set, negate } => {
                if keys
                    .iter()
                    .any(|k| matches!(k, Key::IpSaddr | Key::IpDaddr))
                {
                    out.extend(ipv4_only());
                }
                // One key sits in a 16-byte register; a concatenation fills
                // 32-bit registers from the first on, each field rounded up
                // to 4 bytes.
                let sreg = if keys.len() == 1 {
                    out.push(load(keys[0], REG_1));
                    REG_1
                } else {
                    let mut reg = REG32_00;
                    for key in keys {
                        out.push(load(*key, reg));
                        reg += key.field_type().byte_len().div_ceil(4) as u32;
                    }
                    REG32_00
                };
                out.push(Expr::Lookup {
                    set: CString::new(set.as_str()).expect("set names have no NUL"),
                    set_id: set_id(set),
                    sreg,
                    invert: *negate,
                });
            }
            Match::CtState(bits) => {
                out.push(Expr::Ct {
                    key: libc::NFT_CT_STATE as u32,
                    dreg: REG_1,
                });
                out.push(Expr::Bitwise { mask: *bits });
                out.push(cmp_neq(&[0; 4]));
            }
            Match::CtDirection(direction) => {
                out.push(Expr::Ct {
                    key: libc::NFT_CT_DIRECTION as u32,
                    dreg: REG_1,
                });
                let value = match direction {
                    Direction::Original => 0,
                    Direction::Reply => 1,
                };
                out.push(cmp_eq(&[value]));
            }
            Match::L4Proto(p) => {
                out.push(meta(libc::NFT_META_L4PROTO, REG_1));
                out.push(cmp_eq(&[*p]));
            }
            Match::Port { proto, field, port } => {
                out.push(meta(libc::NFT_META_L4PROTO, REG_1));
                out.push(cmp_eq(&[*proto]));
                let offset = match field {
                    PortField::Sport => 0,
                    PortField::Dport => 2,
                };
                out.push(transport(offset, 2, REG_1));
                out.push(cmp_eq(&port.to_be_bytes()));
            }
            Match::IcmpTypeNot(icmp_type) => {
                out.extend(ipv4_only());
                out.push(meta(libc::NFT_META_L4PROTO, REG_1));
                out.push(cmp_eq(&[proto::ICMP]));
                out.push(transport(0, 1, REG_1));
                out.push(cmp_neq(&[*icmp_type]));
            }
            // A wildcard name compares only the prefix's bytes (no NUL).
            Match::IfNamePrefix {
                key,
                prefix,
                negate,
            } => {
                out.push(load(*key, REG_1));
                out.push(if *negate {
                    cmp_neq(prefix.as_bytes())
                } else {
                    cmp_eq(prefix.as_bytes())
                });
            }
        }
    }
    if rule.counter {
        out.push(Expr::Counter);
    }
    if let Some(prefix) = &rule.log_prefix {
        out.push(Expr::Log {
            prefix: CString::new(prefix.as_str()).expect("log prefixes have no NUL"),
        });
    }
    out.push(Expr::Verdict(rule.verdict));
    out
}
