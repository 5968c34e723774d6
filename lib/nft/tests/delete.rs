//! `Netlink::delete` against the real kernel, in a network namespace of
//! its own (the test thread unshares one): an absent table is no error,
//! a table owned by another socket stays, its owner deletes it. Needs
//! root.

use anklume_nft::ir::{Chain, Hook, Table, Verdict};
use anklume_nft::{ApplyError, Netlink, Ownership};

fn table(name: &str) -> Table {
    Table {
        name: name.to_owned(),
        comment: Some("anklume ruleset test".to_owned()),
        sets: Vec::new(),
        chains: vec![Chain {
            name: "forward".to_owned(),
            hook: Hook::Forward,
            priority: 0,
            policy: Verdict::Accept,
            rules: Vec::new(),
        }],
    }
}

#[test]
fn delete_removes_the_table_only_for_its_owner_and_is_idempotent() {
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let mut owner = Netlink::open().unwrap();
        let mut other = Netlink::open().unwrap();
        assert!(!owner.delete("d1").unwrap(), "no table: nothing deleted");

        owner.replace(&table("d1"), Ownership::Owned).unwrap();
        assert!(owner.owned(), "this kernel has owner+persist");
        let refused = other.delete("d1");
        assert!(
            matches!(refused, Err(ApplyError::OwnedByOther(ref t)) if t == "d1"),
            "{refused:?}"
        );
        assert!(other.current_comment("d1").unwrap().is_some(), "it stays");

        assert!(owner.delete("d1").unwrap());
        assert!(!owner.owned());
        assert_eq!(owner.current_comment("d1").unwrap(), None);
        assert!(!owner.delete("d1").unwrap(), "deleted twice: no error");

        // A shared table: any socket may delete it.
        owner.replace(&table("d2"), Ownership::Shared).unwrap();
        assert!(other.delete("d2").unwrap());
        assert_eq!(owner.current_comment("d2").unwrap(), None);
    })
    .join()
    .unwrap();
}
