//! The in-memory Incus (`SimIncus`) behaves like Incus for what the engine
//! asks: what exists, unique names, creation times, errors that say
//! not-found where Incus answers 404.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anklume_infra::{NestingContext, load_str};
use anklume_snapshot::{SimIncus, SnapshotStore, StoredSnapshot};

const INFRA: &str = "project_name: t\nglobal: {}\ndomains:\n  pro:\n    subnet_id: 1\n    machines:\n      pro-a: {}\n      pro-b: {}\n  empty:\n    subnet_id: 2\n";

fn infra(text: &str) -> anklume_infra::Infra {
    let (infra, report) = load_str(text, "infra.yml", &NestingContext::default());
    infra.unwrap_or_else(|| panic!("{report:?}"))
}

fn clocked(clock: &Arc<AtomicI64>) -> SimIncus {
    let clock = Arc::clone(clock);
    SimIncus::from_infra(&infra(INFRA)).with_clock(Box::new(move || clock.load(Ordering::SeqCst)))
}

#[tokio::test]
async fn every_declared_machine_exists_in_its_domains_project() {
    let sim = SimIncus::from_infra(&infra(INFRA));
    assert_eq!(sim.instances("pro").await.unwrap(), ["pro-a", "pro-b"]);
    assert!(
        sim.instances("empty").await.unwrap().is_empty(),
        "a domain without machines has its (empty) project"
    );
    let err = sim.instances("ghost").await.unwrap_err();
    assert!(
        err.not_found && err.message.contains("Project not found"),
        "{err:?}"
    );
    assert!(sim.snapshots("pro", "pro-a").await.unwrap().is_empty());
    let err = sim.snapshots("pro", "ghost").await.unwrap_err();
    assert!(
        err.not_found && err.message.contains("Instance not found"),
        "{err:?}"
    );
}

#[tokio::test]
async fn declaring_an_edited_infra_adds_and_never_removes() {
    let sim = SimIncus::from_infra(&infra(INFRA));
    sim.create("pro", "pro-a", "kept").await.unwrap();
    let edited = INFRA.replace("      pro-b: {}\n", "").replace(
        "  empty:\n    subnet_id: 2\n",
        "  empty:\n    subnet_id: 2\n    machines:\n      empty-a: {}\n",
    );
    sim.declare(&infra(&edited));
    assert_eq!(sim.instances("empty").await.unwrap(), ["empty-a"]);
    assert_eq!(
        sim.instances("pro").await.unwrap(),
        ["pro-a", "pro-b"],
        "an instance that left the infra stays, as in Incus"
    );
    assert_eq!(sim.snapshot_names("pro", "pro-a"), ["kept"]);
}

#[tokio::test]
async fn snapshots_carry_their_creation_time_oldest_first() {
    let clock = Arc::new(AtomicI64::new(1000));
    let sim = clocked(&clock);
    sim.create("pro", "pro-a", "first").await.unwrap();
    clock.store(2000, Ordering::SeqCst);
    sim.create("pro", "pro-a", "second").await.unwrap();
    sim.add_snapshot("pro", "pro-a", "by-hand", 1500).unwrap();
    let created = |name: &str, created| StoredSnapshot {
        name: name.into(),
        created,
    };
    assert_eq!(
        sim.snapshots("pro", "pro-a").await.unwrap(),
        [
            created("first", 1000),
            created("by-hand", 1500),
            created("second", 2000)
        ]
    );
    assert!(
        sim.snapshot_names("pro", "pro-b").is_empty(),
        "per instance"
    );
}

#[tokio::test]
async fn a_duplicate_name_is_refused_and_changes_nothing() {
    let clock = Arc::new(AtomicI64::new(1000));
    let sim = clocked(&clock);
    sim.create("pro", "pro-a", "x").await.unwrap();
    clock.store(2000, Ordering::SeqCst);
    let err = sim.create("pro", "pro-a", "x").await.unwrap_err();
    assert!(
        !err.not_found && err.message.contains("already exists"),
        "{err:?}"
    );
    assert_eq!(
        sim.snapshots("pro", "pro-a").await.unwrap()[0].created,
        1000
    );
    // The same name on another instance is another snapshot.
    sim.create("pro", "pro-b", "x").await.unwrap();
}

#[tokio::test]
async fn unknown_projects_instances_and_snapshots_are_not_found() {
    let sim = SimIncus::from_infra(&infra(INFRA));
    sim.create("pro", "pro-a", "x").await.unwrap();
    for err in [
        sim.create("ghost", "pro-a", "y").await.unwrap_err(),
        sim.create("pro", "ghost", "y").await.unwrap_err(),
        sim.restore("pro", "ghost", "x").await.unwrap_err(),
        sim.restore("pro", "pro-a", "y").await.unwrap_err(),
        sim.restore("pro", "pro-b", "x").await.unwrap_err(),
        sim.delete("pro", "ghost", "x").await.unwrap_err(),
        sim.delete("pro", "pro-a", "y").await.unwrap_err(),
    ] {
        assert!(err.not_found, "{err:?}");
        assert!(
            err.message.starts_with("simulated Incus refused "),
            "{err:?}"
        );
    }
    assert_eq!(sim.snapshot_names("pro", "pro-a"), ["x"]);
    assert!(sim.restores().is_empty());
}

#[tokio::test]
async fn restore_keeps_every_snapshot_and_delete_removes_one() {
    let sim = SimIncus::from_infra(&infra(INFRA));
    for name in ["a", "b", "c"] {
        sim.create("pro", "pro-a", name).await.unwrap();
    }
    sim.restore("pro", "pro-a", "a").await.unwrap();
    assert_eq!(sim.restores(), ["pro/pro-a/a"]);
    assert_eq!(sim.snapshot_names("pro", "pro-a"), ["a", "b", "c"]);
    sim.delete("pro", "pro-a", "b").await.unwrap();
    assert_eq!(sim.snapshot_names("pro", "pro-a"), ["a", "c"]);
    assert!(sim.delete("pro", "pro-a", "b").await.unwrap_err().not_found);
    // A deleted name may be taken again.
    sim.create("pro", "pro-a", "b").await.unwrap();
}

#[tokio::test]
async fn names_incus_refuses_are_refused() {
    let sim = SimIncus::from_infra(&infra(INFRA));
    for bad in ["", "a/b"] {
        let err = sim.create("pro", "pro-a", bad).await.unwrap_err();
        assert!(!err.not_found, "{bad}: {err:?}");
    }
    assert!(sim.snapshot_names("pro", "pro-a").is_empty());
}
