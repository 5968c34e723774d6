//! The host's network interfaces and its uplinks (the interfaces that carry
//! a default route, IPv4 or IPv6), read over rtnetlink, and a watcher that
//! says when either may have changed. anklume-netd uses them to let domain
//! bridges reach the outside through the uplinks only, and to treat a
//! leftover `net-*` bridge as a domain with no policy.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// The main routing table's id.
const RT_TABLE_MAIN: u32 = 254;
/// Multicast groups: links, IPv4 routes, IPv6 routes (`RTMGRP_*`).
const GROUPS: u32 = 0x1 | 0x40 | 0x400;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rtnetlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("rtnetlink dump: {0}")]
    Dump(String),
}

/// What the host has now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostLinks {
    /// Every interface name.
    pub names: BTreeSet<String>,
    /// The interfaces of the main table's default routes (IPv4 and IPv6),
    /// multipath next hops included.
    pub uplinks: BTreeSet<String>,
}

/// Reads the interfaces and default routes of the caller's network
/// namespace.
pub fn read() -> Result<HostLinks, Error> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(Error::Socket)?;
    socket.bind_auto().map_err(Error::Socket)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(Error::Socket)?;

    let mut by_index = BTreeMap::new();
    for message in dump(
        &socket,
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
    )? {
        if let RouteNetlinkMessage::NewLink(link) = message
            && let Some(name) = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(name) => Some(name.clone()),
                _ => None,
            })
        {
            by_index.insert(link.header.index, name);
        }
    }
    let mut uplinks = BTreeSet::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut request = RouteMessage::default();
        request.header.address_family = family;
        for message in dump(&socket, RouteNetlinkMessage::GetRoute(request))? {
            if let RouteNetlinkMessage::NewRoute(route) = message {
                uplinks.extend(
                    default_route_oifs(&route).filter_map(|index| by_index.get(&index).cloned()),
                );
            }
        }
    }
    Ok(HostLinks {
        names: by_index.into_values().collect(),
        uplinks,
    })
}

/// The output interfaces of `route` when it is a unicast default route of
/// the main table.
fn default_route_oifs(route: &RouteMessage) -> impl Iterator<Item = u32> + '_ {
    let table = route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table));
    let is_default = route.header.destination_prefix_length == 0
        && route.header.kind == RouteType::Unicast
        && table == RT_TABLE_MAIN;
    route
        .attributes
        .iter()
        .filter(move |_| is_default)
        .flat_map(|a| match a {
            RouteAttribute::Oif(index) => vec![*index],
            RouteAttribute::MultiPath(hops) => hops.iter().map(|h| h.interface_index).collect(),
            _ => vec![],
        })
}

/// Sends one dump request and collects its answers.
fn dump(socket: &Socket, request: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, Error> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(request));
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0).map_err(Error::Socket)?;

    let mut answers = Vec::new();
    let mut receive = vec![0u8; 64 * 1024];
    loop {
        let size = socket
            .recv(&mut &mut receive[..], 0)
            .map_err(Error::Socket)?;
        let mut offset = 0;
        while offset < size {
            let message =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(&receive[offset..size])
                    .map_err(|e| Error::Dump(e.to_string()))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::Done(_) => return Ok(answers),
                NetlinkPayload::Error(e) => return Err(Error::Dump(e.to_string())),
                NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

/// Wakes up when a link or a route changes (or is added or removed).
pub struct Watcher {
    socket: Socket,
}

impl Watcher {
    pub fn open() -> Result<Self, Error> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(Error::Socket)?;
        socket
            .bind(&SocketAddr::new(0, GROUPS))
            .map_err(Error::Socket)?;
        socket.set_non_blocking(true).map_err(Error::Socket)?;
        Ok(Self { socket })
    }

    /// Reads every pending notification; true when there was any (or the
    /// kernel dropped some: then anything may have changed).
    pub fn drain(&mut self) -> bool {
        let mut any = false;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.socket.recv(&mut &mut buf[..], 0) {
                Ok(0) => return any,
                Ok(_) => any = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return any,
                // ENOBUFS: notifications were lost.
                Err(_) => return true,
            }
        }
    }
}

impl AsRawFd for Watcher {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
