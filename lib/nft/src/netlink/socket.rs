//! The NETLINK_NETFILTER socket: one `sendmsg` per batch, acks drained and
//! mapped back to the message that failed, and the table query.

use std::ffi::CStr;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nftnl::FinalizedBatch;
use nftnl::nftnl_sys::{self as sys, libc};
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, getsockname,
    recv, sendmsg, setsockopt, socket, sockopt,
};

use super::objects::TableMsg;
use super::{ApplyError, Rejection};

const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const RECV_BUFFER: usize = 1 << 17;

/// What the kernel says of `table inet <name>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct TableInfo {
    pub flags: u32,
    /// Port id of the owning socket, when the owner flag is set.
    pub owner: Option<u32>,
    pub comment: Option<String>,
}

pub(super) struct Socket {
    fd: OwnedFd,
    port_id: u32,
    seq: u32,
}

impl Socket {
    pub(super) fn open() -> std::io::Result<Self> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        let port_id = getsockname::<NetlinkAddr>(fd.as_raw_fd())?.pid();
        let one: libc::c_int = 1;
        for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            // Extended acks carry the kernel's reason; capped acks do not
            // echo the whole failing message back.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_NETLINK,
                    option,
                    (&one as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        // Every ack of a batch is queued before sendmsg returns.
        let _ = setsockopt(&fd, sockopt::RcvBufForce, &(8 << 20));
        Ok(Socket {
            fd,
            port_id,
            seq: 0,
        })
    }

    pub(super) fn port_id(&self) -> u32 {
        self.port_id
    }

    /// Sends the batch in ONE sendmsg (nfnetlink runs it as one
    /// transaction; sent in pieces it would be several) and collects the
    /// errors. `labels[i]` says what the i-th message of the batch did.
    pub(super) fn send_batch(
        &mut self,
        batch: &FinalizedBatch,
        labels: &[String],
    ) -> Result<(), ApplyError> {
        let iov: Vec<IoSlice> = batch.iter().map(IoSlice::new).collect();
        let total: usize = iov.iter().map(|s| s.len()).sum();
        // netlink refuses a message larger than the send buffer.
        let _ = setsockopt(
            &self.fd,
            sockopt::SndBufForce,
            &(total + 65536).max(1 << 20),
        );
        sendmsg::<()>(self.fd.as_raw_fd(), &iov, &[], MsgFlags::empty(), None)
            .map_err(std::io::Error::from)?;

        let seqs = batch.sequence_numbers();
        // Since Linux 6.10 the batch begin and end messages are acked too.
        let extra = seqs.len().saturating_sub(labels.len()) as u32;
        let first = seqs.start + extra / 2;
        let mut rejections = Vec::new();
        self.drain(|seq, errno, message| {
            let what = seq
                .checked_sub(first)
                .and_then(|i| labels.get(i as usize).cloned())
                .unwrap_or_else(|| "the batch itself".to_owned());
            rejections.push(Rejection {
                what,
                errno,
                message,
            });
        })?;
        if rejections.is_empty() {
            Ok(())
        } else {
            Err(ApplyError::Rejected(rejections))
        }
    }

    /// Reads every queued message without blocking; calls `on_error` for
    /// each error ack.
    fn drain(&mut self, mut on_error: impl FnMut(u32, i32, Option<String>)) -> std::io::Result<()> {
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let n = match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(Errno::EAGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            for message in messages(&buf[..n]) {
                if let Some((errno, text)) = message.error() {
                    on_error(message.seq, errno, text);
                }
            }
        }
    }

    /// `table inet <name>` as the kernel has it; `None` when absent.
    pub(super) fn table(&mut self, name: &str) -> Result<Option<TableInfo>, ApplyError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let query = TableMsg::new(name, 0, None);
        let mut buf = vec![0u8; 4096];
        let len = unsafe {
            let header = sys::nftnl_nlmsg_build_hdr(
                buf.as_mut_ptr().cast(),
                libc::NFT_MSG_GETTABLE as u16,
                nftnl::ProtoFamily::Inet as u16,
                libc::NLM_F_ACK as u16,
                seq,
            );
            sys::nftnl_table_nlmsg_build_payload(header, query.raw());
            (*header).nlmsg_len as usize
        };
        nix::sys::socket::send(self.fd.as_raw_fd(), &buf[..len], MsgFlags::empty())
            .map_err(std::io::Error::from)?;
        let mut info = None;
        let mut reply = vec![0u8; RECV_BUFFER];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut reply, MsgFlags::empty())
                .map_err(std::io::Error::from)?;
            for message in messages(&reply[..n]) {
                if message.seq != seq {
                    continue; // a stale ack
                }
                match message.error() {
                    Some((libc::ENOENT, _)) => return Ok(None),
                    Some((errno, text)) => {
                        return Err(ApplyError::Rejected(vec![Rejection {
                            what: format!("get table inet {name}"),
                            errno,
                            message: text,
                        }]));
                    }
                    None if message.kind == libc::NLMSG_ERROR as u16 => return Ok(info),
                    None => info = Some(parse_table(message.bytes)),
                }
            }
        }
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn parse_table(bytes: &[u8]) -> TableInfo {
    unsafe {
        let table = sys::nftnl_table_alloc();
        assert!(!table.is_null(), "libnftnl could not allocate a table");
        // Copy into an aligned buffer: libnftnl reads the header in place.
        let mut aligned = vec![0u64; bytes.len().div_ceil(8)];
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), aligned.as_mut_ptr().cast(), bytes.len());
        let mut info = TableInfo::default();
        if sys::nftnl_table_nlmsg_parse(aligned.as_ptr().cast(), table) >= 0 {
            info.flags = sys::nftnl_table_get_u32(table, sys::NFTNL_TABLE_FLAGS as u16);
            if sys::nftnl_table_is_set(table, sys::NFTNL_TABLE_OWNER as u16) {
                info.owner = Some(sys::nftnl_table_get_u32(
                    table,
                    sys::NFTNL_TABLE_OWNER as u16,
                ));
            }
            let mut len = 0u32;
            let data = sys::nftnl_table_get_data(table, sys::NFTNL_TABLE_USERDATA as u16, &mut len);
            if !data.is_null() {
                let udata = std::slice::from_raw_parts(data.cast::<u8>(), len as usize);
                info.comment = comment(udata);
            }
        }
        sys::nftnl_table_free(table);
        info
    }
}

/// The comment TLV of a table's user data.
fn comment(mut udata: &[u8]) -> Option<String> {
    while udata.len() >= 2 {
        let (kind, len) = (udata[0], udata[1] as usize);
        let value = udata.get(2..2 + len)?;
        if kind == sys::NFTNL_UDATA_TABLE_COMMENT as u8 {
            let text = CStr::from_bytes_until_nul(value)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(value).into_owned());
            return Some(text);
        }
        udata = &udata[2 + len..];
    }
    None
}

/// One netlink message of a datagram.
pub(super) struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub port_id: u32,
    /// The whole message, header included.
    pub bytes: &'a [u8],
}

impl Message<'_> {
    /// For an error ack: the errno (positive) and the kernel's text.
    fn error(&self) -> Option<(i32, Option<String>)> {
        if self.kind != libc::NLMSG_ERROR as u16 || self.bytes.len() < 20 {
            return None;
        }
        let errno = -i32::from_ne_bytes(self.bytes[16..20].try_into().ok()?);
        if errno == 0 {
            return None;
        }
        let mut text = None;
        if self.flags & NLM_F_ACK_TLVS != 0 {
            // Capped ack: error code + the failing message's 16-byte header.
            let mut attrs = self.bytes.get(36..).unwrap_or_default();
            while attrs.len() >= 4 {
                let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
                let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
                if len < 4 || len > attrs.len() {
                    break;
                }
                if kind == NLMSGERR_ATTR_MSG {
                    text = CStr::from_bytes_until_nul(&attrs[4..len])
                        .ok()
                        .map(|c| c.to_string_lossy().into_owned());
                }
                attrs = attrs.get(len.div_ceil(4) * 4..).unwrap_or_default();
            }
        }
        Some((errno, text))
    }
}

/// Splits a datagram into its netlink messages.
pub(super) fn messages(mut data: &[u8]) -> Vec<Message<'_>> {
    let mut out = Vec::new();
    while data.len() >= 16 {
        let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
        if len < 16 || len > data.len() {
            break;
        }
        out.push(Message {
            kind: u16::from_ne_bytes([data[4], data[5]]),
            flags: u16::from_ne_bytes([data[6], data[7]]),
            seq: u32::from_ne_bytes(data[8..12].try_into().unwrap()),
            port_id: u32::from_ne_bytes(data[12..16].try_into().unwrap()),
            bytes: &data[..len],
        });
        data = data.get(len.div_ceil(4) * 4..).unwrap_or_default();
    }
    out
}
