//! anklume's nftables table as data ([`ir`]), rendered as nft text
//! ([`text`]) and applied atomically over netlink ([`Netlink`]) with
//! libnftnl and libmnl: one batch per change, never a spawned `nft`.

pub mod ir;
mod netlink;
pub mod text;

pub use netlink::{ApplyError, Netlink, Ownership, Rejection, Watcher};
