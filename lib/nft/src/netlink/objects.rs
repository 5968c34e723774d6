//! Tables and sets as netlink messages. nftnl's own `Table` and `Set`
//! cannot carry table flags, user data, or a key type chosen at run time
//! (concatenations, interval ranges), so these wrap libnftnl directly.

use std::ffi::{CString, c_void};
use std::ptr::NonNull;

use nftnl::nftnl_sys::{self as sys, libc};
use nftnl::{MsgType, NlMsg, ProtoFamily};

use crate::ir::{FieldType, Set, Value};

/// `NFT_TABLE_F_OWNER` (Linux 5.12) and `NFT_TABLE_F_PERSIST` (6.9).
pub(super) const TABLE_F_OWNER: u32 = 2;
pub(super) const TABLE_F_PERSIST: u32 = 4;
/// Not in the libc crate yet: the set holds concatenations (Linux 5.6).
const NFT_SET_CONCAT: u32 = 0x80;
/// nft's data type ids (nftables include/datatype.h).
const TYPE_IPADDR: u32 = 7;
const TYPE_INET_PROTOCOL: u32 = 12;
const TYPE_INET_SERVICE: u32 = 13;
const TYPE_IFNAME: u32 = 41;
/// nft's set user data: key byte order, and how the key was declared.
const BYTEORDER_HOST_ENDIAN: u32 = 1;
const UDATA_SET_KEY_TYPEOF: u8 = 3;
const EXPR_CONCAT: u32 = 13;

/// `table inet <name>` with its flags and comment.
pub(super) struct TableMsg {
    table: NonNull<sys::nftnl_table>,
}

impl TableMsg {
    pub(super) fn new(name: &str, flags: u32, comment: Option<&str>) -> Self {
        let table = NonNull::new(unsafe { sys::nftnl_table_alloc() })
            .expect("libnftnl could not allocate a table");
        let name = CString::new(name).expect("table names have no NUL");
        unsafe {
            let t = table.as_ptr();
            sys::nftnl_table_set_u32(t, sys::NFTNL_TABLE_FAMILY as u16, ProtoFamily::Inet as u32);
            sys::nftnl_table_set_str(t, sys::NFTNL_TABLE_NAME as u16, name.as_ptr());
            sys::nftnl_table_set_u32(t, sys::NFTNL_TABLE_FLAGS as u16, flags);
            if let Some(comment) = comment {
                let udata = tlv(
                    sys::NFTNL_UDATA_TABLE_COMMENT as u8,
                    &nul_terminated(comment),
                );
                sys::nftnl_table_set_data(
                    t,
                    sys::NFTNL_TABLE_USERDATA as u16,
                    udata.as_ptr().cast(),
                    udata.len() as u32,
                );
            }
        }
        TableMsg { table }
    }

    pub(super) fn raw(&self) -> *mut sys::nftnl_table {
        self.table.as_ptr()
    }
}

unsafe impl NlMsg for TableMsg {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, msg_type: MsgType) {
        let (kind, flags) = match msg_type {
            MsgType::Add => (libc::NFT_MSG_NEWTABLE, libc::NLM_F_CREATE | libc::NLM_F_ACK),
            MsgType::Del => (libc::NFT_MSG_DELTABLE, libc::NLM_F_ACK),
        };
        unsafe {
            let header = sys::nftnl_nlmsg_build_hdr(
                buf.cast(),
                kind as u16,
                ProtoFamily::Inet as u16,
                flags as u16,
                seq,
            );
            sys::nftnl_table_nlmsg_build_payload(header, self.table.as_ptr());
        }
    }
}

impl Drop for TableMsg {
    fn drop(&mut self) {
        unsafe { sys::nftnl_table_free(self.table.as_ptr()) };
    }
}

/// A named set and its elements, ready to add to a batch.
pub(super) struct SetMsg {
    set: NonNull<sys::nftnl_set>,
}

impl SetMsg {
    pub(super) fn new(table: &str, id: u32, set: &Set) -> Self {
        let raw = NonNull::new(unsafe { sys::nftnl_set_alloc() })
            .expect("libnftnl could not allocate a set");
        let table = CString::new(table).expect("table names have no NUL");
        let name = CString::new(set.name.as_str()).expect("set names have no NUL");
        let concat = set.fields.len() > 1;
        let (key_type, key_len) = if concat {
            let ty = set.fields.iter().fold(0, |ty, f| (ty << 6) | type_id(*f));
            (ty, set.fields.iter().map(|f| padded(*f)).sum::<usize>())
        } else {
            (type_id(set.fields[0]), set.fields[0].byte_len())
        };
        let mut flags = 0;
        if set.interval {
            flags |= libc::NFT_SET_INTERVAL as u32;
        }
        if concat {
            flags |= NFT_SET_CONCAT;
        }
        unsafe {
            let s = raw.as_ptr();
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_FAMILY as u16, ProtoFamily::Inet as u32);
            sys::nftnl_set_set_str(s, sys::NFTNL_SET_TABLE as u16, table.as_ptr());
            sys::nftnl_set_set_str(s, sys::NFTNL_SET_NAME as u16, name.as_ptr());
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_ID as u16, id);
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_FLAGS as u16, flags);
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_KEY_TYPE as u16, key_type);
            sys::nftnl_set_set_u32(s, sys::NFTNL_SET_KEY_LEN as u16, key_len as u32);
            if concat {
                let lens: Vec<u8> = set.fields.iter().map(|f| f.byte_len() as u8).collect();
                sys::nftnl_set_set_data(
                    s,
                    sys::NFTNL_SET_DESC_CONCAT as u16,
                    lens.as_ptr().cast(),
                    lens.len() as u32,
                );
            }
            let udata = set_userdata(concat);
            sys::nftnl_set_set_data(
                s,
                sys::NFTNL_SET_USERDATA as u16,
                udata.as_ptr().cast(),
                udata.len() as u32,
            );
            for element in &set.elements {
                let (start, end) = element_key(element, concat);
                let e = sys::nftnl_set_elem_alloc();
                assert!(!e.is_null(), "libnftnl could not allocate an element");
                sys::nftnl_set_elem_set(
                    e,
                    sys::NFTNL_SET_ELEM_KEY as u16,
                    start.as_ptr().cast(),
                    start.len() as u32,
                );
                if set.interval {
                    // Intervals of a concatenation are [key, key_end]; a
                    // single value is the range [v, v].
                    sys::nftnl_set_elem_set(
                        e,
                        sys::NFTNL_SET_ELEM_KEY_END as u16,
                        end.as_ptr().cast(),
                        end.len() as u32,
                    );
                }
                sys::nftnl_set_elem_add(s, e); // the set owns it now
            }
        }
        SetMsg { set: raw }
    }

    /// The set's element messages: libnftnl splits them into messages that
    /// fit a netlink page.
    pub(super) fn elements(&self) -> ElementsIter<'_> {
        let iter = NonNull::new(unsafe { sys::nftnl_set_elems_iter_create(self.set.as_ptr()) })
            .expect("libnftnl could not allocate an iterator");
        ElementsIter {
            set: self,
            iter,
            done: std::cell::Cell::new(false),
        }
    }
}

unsafe impl NlMsg for SetMsg {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, _msg_type: MsgType) {
        unsafe {
            let header = sys::nftnl_nlmsg_build_hdr(
                buf.cast(),
                libc::NFT_MSG_NEWSET as u16,
                ProtoFamily::Inet as u16,
                (libc::NLM_F_CREATE | libc::NLM_F_ACK) as u16,
                seq,
            );
            sys::nftnl_set_nlmsg_build_payload(header, self.set.as_ptr());
        }
    }
}

impl Drop for SetMsg {
    fn drop(&mut self) {
        unsafe { sys::nftnl_set_free(self.set.as_ptr()) };
    }
}

/// Walks a set's elements, one message per `write`.
pub(super) struct ElementsIter<'a> {
    set: &'a SetMsg,
    iter: NonNull<sys::nftnl_set_elems_iter>,
    done: std::cell::Cell<bool>,
}

impl ElementsIter<'_> {
    pub(super) fn more(&self) -> bool {
        !self.done.get() && unsafe { !sys::nftnl_set_elems_iter_cur(self.iter.as_ptr()).is_null() }
    }
}

unsafe impl NlMsg for ElementsIter<'_> {
    unsafe fn write(&self, buf: *mut c_void, seq: u32, _msg_type: MsgType) {
        unsafe {
            let header = sys::nftnl_nlmsg_build_hdr(
                buf.cast(),
                libc::NFT_MSG_NEWSETELEM as u16,
                ProtoFamily::Inet as u16,
                (libc::NLM_F_CREATE | libc::NLM_F_EXCL | libc::NLM_F_ACK) as u16,
                seq,
            );
            let ret = sys::nftnl_set_elems_nlmsg_build_payload_iter(header, self.iter.as_ptr());
            if ret <= 0 {
                self.done.set(true);
            }
        }
        let _ = self.set;
    }
}

impl Drop for ElementsIter<'_> {
    fn drop(&mut self) {
        unsafe { sys::nftnl_set_elems_iter_destroy(self.iter.as_ptr()) };
    }
}

fn type_id(field: FieldType) -> u32 {
    match field {
        FieldType::IfName => TYPE_IFNAME,
        FieldType::Ipv4Addr => TYPE_IPADDR,
        FieldType::InetProto => TYPE_INET_PROTOCOL,
        FieldType::InetService => TYPE_INET_SERVICE,
    }
}

fn padded(field: FieldType) -> usize {
    field.byte_len().div_ceil(4) * 4
}

/// What nft 1.0.6 stores with a set: without the key byte order, `nft
/// list` prints interface names as "".
fn set_userdata(concat: bool) -> Vec<u8> {
    let byteorder = sys::NFTNL_UDATA_SET_KEYBYTEORDER as u8;
    if concat {
        let mut udata = tlv(byteorder, &0u32.to_ne_bytes());
        let mut typeof_ = tlv(0, &EXPR_CONCAT.to_ne_bytes());
        typeof_.extend_from_slice(&[1, 0]);
        udata.extend(tlv(UDATA_SET_KEY_TYPEOF, &typeof_));
        udata
    } else {
        tlv(byteorder, &BYTEORDER_HOST_ENDIAN.to_ne_bytes())
    }
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind, value.len() as u8];
    out.extend_from_slice(value);
    out
}

fn nul_terminated(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

/// An element's key and key end (equal unless a field is a range).
fn element_key(element: &[Value], concat: bool) -> (Vec<u8>, Vec<u8>) {
    let (mut start, mut end) = (Vec::new(), Vec::new());
    for value in element {
        let (lo, hi) = match value {
            Value::IfName(name) => {
                let mut bytes = [0u8; 16];
                bytes[..name.len().min(15)].copy_from_slice(&name.as_bytes()[..name.len().min(15)]);
                (bytes.to_vec(), bytes.to_vec())
            }
            Value::Ipv4(address, len) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                let base = u32::from(*address) & mask;
                (
                    base.to_be_bytes().to_vec(),
                    (base | !mask).to_be_bytes().to_vec(),
                )
            }
            Value::Proto(lo, hi) => (vec![*lo], vec![*hi]),
            Value::Port(lo, hi) => (lo.to_be_bytes().to_vec(), hi.to_be_bytes().to_vec()),
        };
        let width = if concat {
            lo.len().div_ceil(4) * 4
        } else {
            lo.len()
        };
        start.extend_from_slice(&lo);
        start.resize(start.len() + width - lo.len(), 0);
        end.extend_from_slice(&hi);
        end.resize(end.len() + width - hi.len(), 0);
    }
    (start, end)
}
