//! Notifications of nftables changes (multicast group NFNLGRP_NFTABLES):
//! how the daemon notices that someone else changed or deleted its table.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nftnl::nftnl_sys::libc;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, socket,
};

use super::ApplyError;
use super::socket::messages;

const NFNLGRP_NFTABLES: libc::c_int = 7;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWGEN: u16 = 15;
const NFPROTO_INET: u8 = 1;
/// The first attribute of table, chain, rule, set and element messages
/// names the table.
const ATTR_TABLE: u16 = 1;

/// Non-blocking: poll its fd (e.g. with tokio's `AsyncFd`), then call
/// [`Watcher::drain`].
pub struct Watcher {
    fd: OwnedFd,
}

impl Watcher {
    pub fn open() -> Result<Self, ApplyError> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            SockProtocol::NetlinkNetFilter,
        )
        .map_err(std::io::Error::from)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(std::io::Error::from)?;
        let group = NFNLGRP_NFTABLES;
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_NETLINK,
                libc::NETLINK_ADD_MEMBERSHIP,
                (&group as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(Watcher { fd })
    }

    /// Reads every pending notification. True when one of them touched
    /// `table inet <table>` and came from another socket than `own_port`,
    /// or when notifications were lost (the caller should then check).
    pub fn drain(&mut self, table: &str, own_port: u32) -> Result<bool, ApplyError> {
        let mut touched = false;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(Errno::EAGAIN) => return Ok(touched),
                Err(Errno::ENOBUFS) => {
                    touched = true;
                    continue;
                }
                Err(e) => return Err(std::io::Error::from(e).into()),
            };
            for m in messages(&buf[..n]) {
                if m.kind >> 8 != NFNL_SUBSYS_NFTABLES
                    || m.kind & 0xff == NFT_MSG_NEWGEN
                    || m.port_id == own_port
                    || m.bytes.get(16) != Some(&NFPROTO_INET)
                {
                    continue;
                }
                touched |= first_attr_is(m.bytes.get(20..).unwrap_or_default(), table);
            }
        }
    }
}

fn first_attr_is(attrs: &[u8], table: &str) -> bool {
    if attrs.len() < 4 {
        return false;
    }
    let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
    let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
    kind == ATTR_TABLE
        && attrs
            .get(4..len)
            .is_some_and(|v| v.split(|b| *b == 0).next() == Some(table.as_bytes()))
}

impl AsRawFd for Watcher {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
