//! The netlink writer against the real kernel, each test in its own
//! throwaway network namespace: what `nft list` shows after `replace` is
//! exactly the text rendering; a rejected batch changes nothing and names
//! the failing rule; owned tables resist other tools and survive their
//! owner. Needs root.

use std::net::Ipv4Addr as Ip;
use std::process::Command;

use anklume_nft::ir::{
    Chain, Direction, FieldType, Hook, Key, Match, PortField, Rule, Set, Table, Value, Verdict,
    ct_state, proto,
};
use anklume_nft::{ApplyError, Netlink, Ownership, Watcher, text};

/// A network namespace removed on drop; `enter` moves the calling thread
/// into it (sockets opened afterwards live there).
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Self {
        let name = format!("anknft-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        assert!(
            Command::new("ip")
                .args(["netns", "add", &name])
                .status()
                .unwrap()
                .success()
        );
        Netns(name)
    }

    fn enter(&self) {
        let file = std::fs::File::open(format!("/run/netns/{}", self.0)).unwrap();
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    }

    fn nft(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0, "nft"])
            .args(args)
            .output()
            .unwrap()
    }

    fn list(&self, table: &str) -> Option<String> {
        let out = self.nft(&["list", "table", "inet", table]);
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Runs `f` on a thread inside `ns` (the test thread stays where it was).
fn inside<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            f()
        })
        .join()
        .unwrap()
    })
}

/// Every construct the IR has, in a table like anklume's.
fn sample(name: &str, comment: &str) -> Table {
    use FieldType::*;
    let accept = |m: Vec<Match>| Rule::new(m, Verdict::Accept);
    Table {
        name: name.into(),
        comment: Some(comment.into()),
        sets: vec![
            Set {
                name: "ifaces".into(),
                fields: vec![IfName],
                interval: false,
                elements: vec![
                    vec![Value::IfName("net-a".into())],
                    vec![Value::IfName("net-b".into())],
                ],
            },
            Set {
                name: "exact".into(),
                fields: vec![IfName, IfName],
                interval: false,
                elements: vec![
                    vec![Value::IfName("net-a".into()), Value::IfName("net-b".into())],
                    vec![Value::IfName("net-b".into()), Value::IfName("net-b".into())],
                ],
            },
            Set {
                name: "pairs".into(),
                fields: vec![IfName, IfName, InetProto, InetService],
                interval: true,
                elements: vec![
                    vec![
                        Value::IfName("net-a".into()),
                        Value::IfName("net-b".into()),
                        Value::Proto(0, 255),
                        Value::Port(0, 65535),
                    ],
                    vec![
                        Value::IfName("net-b".into()),
                        Value::IfName("net-a".into()),
                        Value::Proto(proto::TCP, proto::TCP),
                        Value::Port(8080, 8080),
                    ],
                ],
            },
            Set {
                name: "v4".into(),
                fields: vec![IfName, Ipv4Addr, Ipv4Addr, InetProto, InetService],
                interval: true,
                elements: vec![vec![
                    Value::IfName("net-a".into()),
                    Value::Ipv4(Ip::new(10, 1, 1, 10), 32),
                    Value::Ipv4(Ip::new(10, 1, 2, 0), 24),
                    Value::Proto(proto::UDP, proto::UDP),
                    Value::Port(53, 53),
                ]],
            },
            Set {
                name: "empty".into(),
                fields: vec![IfName, InetProto, InetService],
                interval: true,
                elements: vec![],
            },
        ],
        chains: vec![
            Chain {
                name: "forward".into(),
                hook: Hook::Forward,
                priority: -10,
                policy: Verdict::Accept,
                rules: vec![
                    accept(vec![Match::not_in(Key::IifName, "ifaces")]),
                    Rule::new(vec![Match::CtState(ct_state::INVALID)], Verdict::Drop),
                    accept(vec![
                        Match::CtState(ct_state::RELATED),
                        Match::L4Proto(proto::ICMP),
                    ]),
                    accept(vec![Match::lookup(&[Key::OifName, Key::IifName], "exact")]),
                    accept(vec![
                        Match::CtDirection(Direction::Original),
                        Match::lookup(
                            &[Key::IifName, Key::OifName, Key::L4Proto, Key::ThDport],
                            "pairs",
                        ),
                    ]),
                    accept(vec![
                        Match::CtDirection(Direction::Reply),
                        Match::lookup(
                            &[
                                Key::OifName,
                                Key::IpDaddr,
                                Key::IpSaddr,
                                Key::L4Proto,
                                Key::ThSport,
                            ],
                            "v4",
                        ),
                    ]),
                    accept(vec![Match::lookup(
                        &[Key::IifName, Key::L4Proto, Key::ThDport],
                        "empty",
                    )]),
                    Rule::new(vec![], Verdict::Drop).counted(),
                ],
            },
            Chain {
                name: "output".into(),
                hook: Hook::Output,
                priority: 0,
                policy: Verdict::Drop,
                rules: vec![
                    accept(vec![Match::IcmpTypeNot(8)]),
                    accept(vec![Match::Port {
                        proto: proto::UDP,
                        field: PortField::Sport,
                        port: 53,
                    }]),
                    Rule::new(vec![], Verdict::Drop)
                        .counted()
                        .logged("x-drop: "),
                ],
            },
        ],
    }
}

/// Element order in a listing is the kernel's: compare sorted.
fn canonical(listing: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut elements: Option<Vec<String>> = None;
    for line in listing.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("elements = { ") {
            elements = Some(vec![]);
            push_element(&mut out, &mut elements, rest);
        } else if elements.is_some() {
            push_element(&mut out, &mut elements, line);
        } else {
            out.push(line.to_owned());
        }
    }
    out
}

fn push_element(out: &mut Vec<String>, elements: &mut Option<Vec<String>>, text: &str) {
    let list = elements.as_mut().unwrap();
    let done = text.ends_with(" }");
    list.push(text.trim_end_matches(" }").trim_end_matches(',').to_owned());
    if done {
        let mut list = elements.take().unwrap();
        list.sort();
        out.push(format!("elements = {}", list.join(", ")));
    }
}

#[test]
fn the_kernel_lists_exactly_what_the_text_rendering_says() {
    let ns = Netns::new("list");
    let table = sample("t1", "first");
    inside(&ns, || {
        Netlink::open().unwrap().replace(&table, Ownership::Shared)
    })
    .unwrap();
    let listed = ns.list("t1").expect("the table exists");
    assert_eq!(
        canonical(&listed),
        canonical(&text::render(&table)),
        "{listed}"
    );
    // And nft itself reads the rendering back to the same table.
    let ns2 = Netns::new("list2");
    let path = std::env::temp_dir().join(format!("anknft-{}.nft", std::process::id()));
    std::fs::write(&path, text::render(&table)).unwrap();
    let out = ns2.nft(&["-f", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(canonical(&ns2.list("t1").unwrap()), canonical(&listed));
}

#[test]
fn a_replace_swaps_the_whole_table_and_reads_back_its_comment() {
    let ns = Netns::new("swap");
    let mut second = sample("t2", "second");
    second.sets[0].elements.truncate(1);
    second.chains.truncate(1);
    let comments = inside(&ns, || {
        let mut nl = Netlink::open().unwrap();
        let before = nl.current_comment("t2").unwrap();
        nl.replace(&sample("t2", "first"), Ownership::Shared)
            .unwrap();
        let first = nl.current_comment("t2").unwrap();
        nl.replace(&second, Ownership::Shared).unwrap();
        (before, first, nl.current_comment("t2").unwrap())
    });
    assert_eq!(
        comments,
        (None, Some("first".into()), Some("second".into()))
    );
    assert_eq!(
        canonical(&ns.list("t2").unwrap()),
        canonical(&text::render(&second))
    );
}

#[test]
fn a_rejected_batch_names_the_rule_and_leaves_the_old_table() {
    let ns = Netns::new("bad");
    let good = sample("t3", "good");
    let mut bad = sample("t3", "bad");
    bad.chains[0].rules.insert(
        2,
        Rule::new(
            vec![Match::lookup(&[Key::IifName], "missing")],
            Verdict::Drop,
        ),
    );
    let result = inside(&ns, || {
        let mut nl = Netlink::open().unwrap();
        nl.replace(&good, Ownership::Shared).unwrap();
        nl.replace(&bad, Ownership::Shared)
    });
    let Err(ApplyError::Rejected(rejections)) = result else {
        panic!("expected a rejection, got {result:?}");
    };
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    assert_eq!(
        rejections[0].what,
        "add rule forward #3: iifname @missing drop"
    );
    assert_eq!(rejections[0].errno, libc_enoent());
    let message = ApplyError::Rejected(rejections).to_string();
    assert!(message.contains("previous one stays in force"), "{message}");
    assert_eq!(
        canonical(&ns.list("t3").unwrap()),
        canonical(&text::render(&good))
    );
}

fn libc_enoent() -> i32 {
    nix::errno::Errno::ENOENT as i32
}

#[test]
fn an_owned_table_resists_other_tools_outlives_its_owner_and_is_adopted() {
    let ns = Netns::new("own");
    let table = sample("t4", "owned");
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<bool>();
        let (ns_ref, table_ref) = (&ns, &table);
        let owner = s.spawn(move || {
            ns_ref.enter();
            let mut nl = Netlink::open().unwrap();
            nl.replace(table_ref, Ownership::Owned).unwrap();
            ready_tx.send(nl.owned()).unwrap();
            rx.recv().unwrap(); // hold the socket until told
        });
        assert!(ready_rx.recv().unwrap(), "this kernel has owner+persist");
        let listed = ns.list("t4").unwrap();
        assert!(listed.contains("flags owner"), "{listed}");
        // Other tools cannot delete or flush it, nor can another socket.
        assert!(!ns.nft(&["delete", "table", "inet", "t4"]).status.success());
        assert!(ns.nft(&["flush", "ruleset"]).status.success());
        assert!(ns.list("t4").is_some());
        let other = inside(&ns, || {
            Netlink::open().unwrap().replace(&table, Ownership::Shared)
        });
        assert!(
            matches!(other, Err(ApplyError::OwnedByOther(_))),
            "{other:?}"
        );
        tx.send(()).unwrap();
        owner.join().unwrap();
    });
    // The owner is gone: the table stays in force, unowned, until a new
    // owner adopts it.
    let after = ns.list("t4").expect("persist keeps the table");
    assert!(!after.contains("owner"), "{after}");
    let adopted = inside(&ns, || {
        let mut nl = Netlink::open().unwrap();
        nl.replace(&sample("t4", "adopted"), Ownership::Owned)
            .map(|()| nl.owned())
    });
    assert!(adopted.unwrap());
}

#[test]
fn the_watcher_reports_changes_by_others_but_not_our_own() {
    let ns = Netns::new("watch");
    let table = sample("t5", "watched");
    let (ours, theirs) = inside(&ns, || {
        let mut watcher = Watcher::open().unwrap();
        let mut nl = Netlink::open().unwrap();
        nl.replace(&table, Ownership::Shared).unwrap();
        let ours = watcher.drain("t5", nl.port_id()).unwrap();
        let out = Command::new("nft")
            .args(["flush", "chain", "inet", "t5", "forward"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let theirs = watcher.drain("t5", nl.port_id()).unwrap();
        (ours, theirs)
    });
    assert!(!ours, "our own replace is not drift");
    assert!(theirs, "a flush by nft is");
}
