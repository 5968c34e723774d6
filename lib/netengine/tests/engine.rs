//! The engine's state machine against the in-memory kernel: no root, no
//! netlink. The real-kernel proofs are anklume-netd's integration tests.

use std::path::PathBuf;
use std::sync::Arc;

use anklume_hostnet::HostLinks;
use anklume_netengine::memory::{FixedLinks, MemoryNft};
use anklume_netengine::{Engine, Failure, Install, Links, PlanError, Planner};
use anklume_nft::{ApplyError, Ownership};

const INFRA: &str = "project_name: t
global:
  base_subnet: '10.251'
domains:
  ta:
    subnet_id: 1
    machines:
      ta-1: {ip: 10.251.1.10}
  tb:
    subnet_id: 2
network_policies:
  - {from: ta-1, to: tb, ports: [8080]}
";
const INVALID: &str = "project_name: t\nglobal: {}\ndomains:\n  a:\n    subnet_id: 300\n";
const INVALID_MESSAGE: &str = "subnet_id must be 0-254, got 300";

struct Lab {
    dir: tempfile::TempDir,
    nft: MemoryNft,
    links: Arc<FixedLinks>,
}

impl Lab {
    fn new(infra: &str) -> Self {
        let lab = Self {
            dir: tempfile::tempdir().unwrap(),
            nft: MemoryNft::new(),
            links: Arc::new(FixedLinks::loopback()),
        };
        lab.write(infra);
        lab
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("infra.yml")
    }

    fn write(&self, infra: &str) {
        std::fs::write(self.path(), infra).unwrap();
    }

    /// A new engine (a new process: a new socket on the same kernel).
    fn engine(&self, ownership: Ownership) -> Engine {
        let links = Arc::clone(&self.links) as Arc<dyn Links>;
        let planner = Arc::new(Planner::new(self.path(), false, links));
        Engine::new(Box::new(self.nft.socket()), planner, ownership)
    }

    fn comment_hash(&self) -> Option<String> {
        self.nft
            .comment()
            .map(|c| c.trim_start_matches("anklume ruleset ").to_owned())
    }
}

#[test]
fn apply_writes_once_and_an_equal_table_is_not_written_again() {
    let lab = Lab::new(INFRA);
    let mut engine = lab.engine(Ownership::Shared);
    assert_eq!(engine.apply().unwrap(), Install::Replaced);
    let status = engine.status().clone();
    assert!(status.applied);
    assert_eq!((status.domains, status.policies), (2, 1));
    assert_eq!(lab.comment_hash().as_deref(), Some(status.hash.as_str()));
    assert!(status.last_applied > 0);
    assert_eq!(lab.nft.writes(), 1);

    assert_eq!(engine.apply().unwrap(), Install::Unchanged);
    assert_eq!(lab.nft.writes(), 1, "an equal table was written again");
    assert_eq!(engine.repair().unwrap(), None);
    assert_eq!(engine.refresh_host().unwrap(), None);
    assert_eq!(lab.nft.writes(), 1);
}

#[test]
fn a_restarted_engine_adopts_the_table_in_force() {
    let lab = Lab::new(INFRA);
    let mut first = lab.engine(Ownership::Owned);
    assert_eq!(first.apply().unwrap(), Install::Replaced);
    assert!(first.owned());
    assert!(
        !lab.nft.tamper(None),
        "an owned table was deleted by another"
    );

    // While the first one lives, another cannot touch its table.
    let mut intruder = lab.engine(Ownership::Owned);
    let Err(Failure::Kernel(ApplyError::OwnedByOther(_))) = intruder.apply() else {
        panic!("a second owner replaced the table");
    };
    assert!(
        intruder
            .status()
            .last_error
            .contains("owned by another process")
    );
    drop(intruder);

    // Restart: the table outlives its owner, the next engine adopts it in
    // one write (never deleted in between).
    let hash = first.status().hash.clone();
    drop(first);
    assert_eq!(lab.nft.owner(), None);
    assert_eq!(lab.comment_hash(), Some(hash.clone()));
    let mut second = lab.engine(Ownership::Owned);
    assert_eq!(second.apply().unwrap(), Install::Adopted);
    assert_eq!(lab.nft.writes(), 2);
    assert_eq!(lab.nft.owner(), Some(second.port_id()));
    assert_eq!(second.status().hash, hash);
    assert_eq!(second.apply().unwrap(), Install::Unchanged);
    assert_eq!(lab.nft.writes(), 2);
}

#[test]
fn drift_is_repaired_with_the_table_last_applied() {
    let lab = Lab::new(INFRA);
    let mut engine = lab.engine(Ownership::Shared);
    assert_eq!(engine.repair().unwrap(), None, "nothing applied yet");
    engine.apply().unwrap();
    let good = lab.nft.table().unwrap();

    assert!(lab.nft.tamper(None));
    assert_eq!(
        engine.repair().unwrap().as_deref(),
        Some(engine.status().hash.as_str())
    );
    assert_eq!(lab.nft.table().as_ref(), Some(&good));

    let mut changed = good.clone();
    changed.chains.clear();
    changed.comment = Some("anklume ruleset someone-else".into());
    assert!(lab.nft.tamper(Some(changed)));
    assert!(engine.repair().unwrap().is_some());
    assert_eq!(lab.nft.table().as_ref(), Some(&good));
    assert_eq!(engine.repair().unwrap(), None);
    assert_eq!(lab.nft.writes(), 3);
}

#[test]
fn an_invalid_infra_keeps_the_last_table() {
    let lab = Lab::new(INFRA);
    let mut engine = lab.engine(Ownership::Owned);
    engine.apply().unwrap();
    let (good, hash) = (lab.nft.table(), engine.status().hash.clone());

    lab.write(INVALID);
    let Err(Failure::Plan(PlanError::Infra(e))) = engine.apply() else {
        panic!("an invalid infra applied");
    };
    assert!(e.to_string().contains(INVALID_MESSAGE), "{e}");
    let status = engine.status();
    assert!(!status.applied);
    assert!(status.last_error.contains(INVALID_MESSAGE));
    assert_eq!(
        status.hash, hash,
        "the table in force is still the last one"
    );
    assert_eq!(lab.nft.table(), good);
    assert_eq!(lab.nft.writes(), 1);

    // Drift meanwhile is repaired with the last valid table.
    let mut shared = lab.engine(Ownership::Shared);
    drop(engine);
    assert!(lab.nft.tamper(None));
    assert_eq!(
        shared.repair().unwrap(),
        None,
        "a new engine repairs nothing"
    );
    assert_eq!(lab.nft.table(), None);
    shared.apply().unwrap_err();
    lab.write(INFRA);
    assert_eq!(shared.apply().unwrap(), Install::Replaced);
    assert_eq!(lab.nft.table(), good);
    assert!(shared.status().applied);
    assert_eq!(shared.status().last_error, "");
}

#[test]
fn a_start_with_an_invalid_infra_leaves_the_table_in_force() {
    let lab = Lab::new(INFRA);
    let mut first = lab.engine(Ownership::Owned);
    first.apply().unwrap();
    drop(first);
    let good = lab.nft.table();

    lab.write(INVALID);
    let mut second = lab.engine(Ownership::Owned);
    second.apply().unwrap_err();
    assert_eq!(second.repair().unwrap(), None);
    assert_eq!(second.refresh_host().unwrap(), None);
    assert_eq!(lab.nft.table(), good);
    assert_eq!(second.status().hash, "");
    assert!(!second.status().applied);
}

#[test]
fn a_refused_batch_keeps_the_last_table_and_says_why() {
    let lab = Lab::new(INFRA);
    let mut engine = lab.engine(Ownership::Owned);
    engine.apply().unwrap();
    let (good, hash) = (lab.nft.table(), engine.status().hash.clone());

    lab.write(&INFRA.replace("[8080]", "[8081]"));
    lab.nft.refuse(Some("no room"));
    let Err(Failure::Kernel(ApplyError::Rejected(_))) = engine.apply() else {
        panic!("a refused batch was not an error");
    };
    let status = engine.status().clone();
    assert!(!status.applied);
    assert!(
        status
            .last_error
            .contains("the previous one stays in force"),
        "{}",
        status.last_error
    );
    assert!(status.last_error.contains("no room"));
    assert_eq!(status.hash, hash);
    assert_eq!(lab.nft.table(), good);

    lab.nft.refuse(None);
    assert_eq!(engine.apply().unwrap(), Install::Replaced);
    assert_ne!(engine.status().hash, hash);
    assert_eq!(engine.status().last_error, "");
}

#[test]
fn changed_host_links_reapply_and_unchanged_ones_write_nothing() {
    let lab = Lab::new(INFRA);
    let mut engine = lab.engine(Ownership::Owned);
    assert_eq!(engine.refresh_host().unwrap(), None, "nothing applied yet");
    engine.apply().unwrap();
    let before = engine.status().hash.clone();

    // A default route appears through eth0: the uplinks set changes.
    lab.links.set(HostLinks {
        names: ["lo", "eth0"].map(str::to_owned).into(),
        uplinks: ["eth0".to_owned()].into(),
    });
    let after = engine.refresh_host().unwrap().expect("re-applied");
    assert_ne!(after, before);
    assert_eq!(lab.comment_hash(), Some(after.clone()));
    assert_eq!(engine.status().hash, after);
    assert_eq!(lab.nft.writes(), 2);
    let text = anklume_nft::text::render(&lab.nft.table().unwrap());
    assert!(text.contains("elements = { \"eth0\" }"), "{text}");

    // Nothing new, or an interface that is no domain's nor an uplink.
    assert_eq!(engine.refresh_host().unwrap(), None);
    lab.links.set(HostLinks {
        names: ["lo", "eth0", "docker0"].map(str::to_owned).into(),
        uplinks: ["eth0".to_owned()].into(),
    });
    assert_eq!(engine.refresh_host().unwrap(), None);
    assert_eq!(lab.nft.writes(), 2, "unchanged links wrote a table");

    // A leftover domain bridge appears: re-applied.
    lab.links.set(HostLinks {
        names: ["lo", "eth0", "net-old"].map(str::to_owned).into(),
        uplinks: ["eth0".to_owned()].into(),
    });
    assert!(engine.refresh_host().unwrap().is_some());
    assert_eq!(lab.nft.writes(), 3);
    // A refused batch on refresh: the table stays, the error is kept.
    lab.links.set(HostLinks::default());
    lab.nft.refuse(Some("busy"));
    let Err(Failure::Refresh(_)) = engine.refresh_host() else {
        panic!("a refused refresh was not an error");
    };
    assert!(engine.status().last_error.contains("host's new interfaces"));
    assert_eq!(lab.nft.writes(), 3);
}

#[test]
fn a_withdrawn_table_stays_away_until_the_next_apply() {
    let lab = Lab::new(INFRA);
    let mut engine = lab.engine(Ownership::Owned);
    // Nothing in force: withdrawn all the same, nothing written.
    assert!(!engine.withdraw().unwrap());
    assert!(engine.status().withdrawn);
    assert_eq!(lab.nft.writes(), 0);
    engine.apply().unwrap();
    assert!(!engine.status().withdrawn);
    let good = lab.nft.table();

    // Only the owner may withdraw: a second engine is refused, and its
    // state and the table stay.
    let mut intruder = lab.engine(Ownership::Owned);
    let Err(Failure::Withdraw(ApplyError::OwnedByOther(_))) = intruder.withdraw() else {
        panic!("another engine withdrew an owned table");
    };
    assert!(!intruder.status().withdrawn);
    assert_eq!(lab.nft.table(), good);
    drop(intruder);

    let last_applied = engine.status().last_applied;
    assert!(engine.withdraw().unwrap());
    assert_eq!(lab.nft.table(), None);
    assert_eq!(lab.nft.owner(), None);
    let status = engine.status().clone();
    assert!(status.withdrawn && !status.applied);
    assert_eq!(
        (status.hash.as_str(), status.domains, status.policies),
        ("", 0, 0)
    );
    assert_eq!(status.last_error, anklume_netengine::WITHDRAWN);
    assert!(status.last_applied >= last_applied);

    // Neither drift repair nor a change of the host's links puts it back.
    let writes = lab.nft.writes();
    assert_eq!(engine.repair().unwrap(), None);
    lab.links.set(HostLinks {
        names: ["lo", "eth0"].map(str::to_owned).into(),
        uplinks: ["eth0".to_owned()].into(),
    });
    assert_eq!(engine.refresh_host().unwrap(), None);
    assert_eq!(lab.nft.table(), None);
    assert_eq!(lab.nft.writes(), writes);
    // Twice: no error, still withdrawn.
    assert!(!engine.withdraw().unwrap());
    assert!(engine.status().withdrawn);

    // A failed apply leaves it withdrawn; a good one puts the table back.
    lab.write(INVALID);
    engine.apply().unwrap_err();
    assert!(engine.status().withdrawn);
    assert_eq!(lab.nft.table(), None);
    lab.write(INFRA);
    assert_eq!(engine.apply().unwrap(), Install::Replaced);
    assert_eq!(lab.nft.owner(), Some(engine.port_id()));
    let status = engine.status();
    assert!(status.applied && !status.withdrawn);
    assert_eq!(status.last_error, "");
    assert!(!lab.nft.tamper(None), "the table is owned again");
    assert!(engine.repair().unwrap().is_none());
}

#[test]
fn a_refused_withdrawal_keeps_the_table_and_the_state() {
    let lab = Lab::new(INFRA);
    let mut engine = lab.engine(Ownership::Shared);
    engine.apply().unwrap();
    let (good, status) = (lab.nft.table(), engine.status().clone());
    lab.nft.refuse(Some("busy"));
    let Err(e @ Failure::Withdraw(_)) = engine.withdraw() else {
        panic!("a refused withdrawal was not an error");
    };
    assert!(e.to_string().contains("it stays in force"), "{e}");
    assert_eq!(engine.status(), &status);
    assert_eq!(lab.nft.table(), good);
    // Still kept: drift is repaired as before.
    lab.nft.refuse(None);
    assert!(lab.nft.tamper(None));
    assert!(engine.repair().unwrap().is_some());
    assert_eq!(lab.nft.table(), good);
}
