//! The engine's logic against the in-memory Incus (`SimIncus`): targets,
//! the restore pre-check and safety snapshot, tagging and retention,
//! per-instance serialisation. (The same behaviour against the real Incus
//! is proven in bins/anklume-snapd/tests.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anklume_config::Retention;
use anklume_infra::{NestingContext, load_str};
use anklume_snapshot::{
    Engine, EngineError, Registry, SimIncus, SnapshotStore, StoreError, StoredSnapshot, retention,
};

const INFRA: &str = "project_name: t\nglobal: {}\ndomains:\n  pro:\n    subnet_id: 1\n    machines:\n      pro-a: {}\n      pro-b: {}\n  perso:\n    subnet_id: 2\n    machines:\n      perso-a: {}\n  empty:\n    subnet_id: 3\n";

/// The in-memory Incus, watched: how many operations run at once on each
/// instance and in all, and creates that never answer.
#[derive(Default)]
struct Watched {
    sim: SimIncus,
    busy: Mutex<HashMap<String, usize>>,
    max_busy_per_instance: AtomicUsize,
    busy_total: AtomicUsize,
    max_busy_total: AtomicUsize,
    /// Creates never answer, as if the daemon were killed while waiting;
    /// with `made`, Incus carries the snapshot out all the same.
    stall: AtomicBool,
    made: AtomicBool,
}

impl Watched {
    /// The instances of INFRA, except that domain `empty` has no project
    /// yet (never applied).
    fn new(clock: Arc<AtomicI64>) -> Self {
        let sim = SimIncus::new().with_clock(Box::new(move || clock.load(Ordering::SeqCst)));
        for (p, i) in [("pro", "pro-a"), ("pro", "pro-b"), ("perso", "perso-a")] {
            sim.add_instance(p, i);
        }
        Watched {
            sim,
            ..Default::default()
        }
    }

    fn names(&self, project: &str, instance: &str) -> Vec<String> {
        self.sim.snapshot_names(project, instance)
    }

    fn add_user_snapshot(&self, project: &str, instance: &str, name: &str, created: i64) {
        self.sim
            .add_snapshot(project, instance, name, created)
            .unwrap();
    }

    /// Marks an operation on `instance` as running for a moment.
    async fn work(&self, instance: &str) {
        let now = {
            let mut busy = self.busy.lock().unwrap();
            let n = busy.entry(instance.to_owned()).or_default();
            *n += 1;
            *n
        };
        self.max_busy_per_instance.fetch_max(now, Ordering::SeqCst);
        let total = self.busy_total.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_busy_total.fetch_max(total, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.busy_total.fetch_sub(1, Ordering::SeqCst);
        *self.busy.lock().unwrap().get_mut(instance).unwrap() -= 1;
    }
}

impl SnapshotStore for Watched {
    async fn instances(&self, project: &str) -> Result<Vec<String>, StoreError> {
        self.sim.instances(project).await
    }

    async fn snapshots(
        &self,
        project: &str,
        instance: &str,
    ) -> Result<Vec<StoredSnapshot>, StoreError> {
        self.sim.snapshots(project, instance).await
    }

    async fn create(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        let stall = self.stall.load(Ordering::SeqCst);
        if stall && !self.made.load(Ordering::SeqCst) {
            return std::future::pending().await;
        }
        self.work(instance).await;
        self.sim.create(project, instance, name).await?;
        if stall {
            return std::future::pending().await;
        }
        Ok(())
    }

    async fn restore(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        self.work(instance).await;
        self.sim.restore(project, instance, name).await
    }

    async fn delete(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        self.work(instance).await;
        self.sim.delete(project, instance, name).await
    }
}

/// 2026-11-26 12:00:00 UTC.
const NOON: i64 = 1_795_694_400;

fn engine_on<S: SnapshotStore>(
    store: S,
    registry: Registry,
    retention: Retention,
    clock: &Arc<AtomicI64>,
) -> Engine<S> {
    let (infra, report) = load_str(INFRA, "infra.yml", &NestingContext::default());
    let infra = Arc::new(infra.unwrap_or_else(|| panic!("{report:?}")));
    let ticking = Arc::clone(clock);
    Engine::new(
        store,
        Box::new(move || Ok(Arc::clone(&infra))),
        registry,
        retention,
        8,
    )
    .with_clock(Box::new(move || ticking.load(Ordering::SeqCst)))
}

fn engine(retention: Retention) -> (Engine<Watched>, Arc<AtomicI64>) {
    let clock = Arc::new(AtomicI64::new(NOON));
    let (infra, report) = load_str(INFRA, "infra.yml", &NestingContext::default());
    let infra = Arc::new(infra.unwrap_or_else(|| panic!("{report:?}")));
    let fake = Watched::new(Arc::clone(&clock));
    let ticking = Arc::clone(&clock);
    let engine = Engine::new(
        fake,
        Box::new(move || Ok(Arc::clone(&infra))),
        Registry::in_memory(),
        retention,
        8,
    )
    .with_clock(Box::new(move || ticking.load(Ordering::SeqCst)));
    (engine, clock)
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(ToString::to_string).collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_domain_snapshot_touches_only_that_domain() {
    let (e, _) = engine(Retention::default());
    let made = e.create("domain:pro", "before").await.unwrap();
    assert_eq!(strings(&made), ["pro/pro-a/before", "pro/pro-b/before"]);
    assert!(e.store().names("perso", "perso-a").is_empty());
}

#[tokio::test]
async fn targets_resolve_through_the_infra() {
    let (e, _) = engine(Retention::default());
    assert_eq!(
        strings(&e.create("instance:perso-a", "x").await.unwrap()),
        ["perso/perso-a/x"]
    );
    // `all` skips the declared domain whose project does not exist yet.
    assert_eq!(e.create("all", "y").await.unwrap().len(), 3);
    assert!(
        matches!(e.create("domain:nope", "x").await, Err(EngineError::NotFound(m)) if m == "no domain 'nope' in the infra")
    );
    assert!(matches!(
        e.create("instance:ghost", "x").await,
        Err(EngineError::NotFound(_))
    ));
    assert!(
        matches!(e.create("domain:empty", "x").await, Err(EngineError::NotFound(m)) if m.contains("no Incus project yet"))
    );
    assert!(matches!(
        e.create("pro", "x").await,
        Err(EngineError::InvalidArgument(_))
    ));
    assert!(matches!(
        e.create("all", "bad name").await,
        Err(EngineError::InvalidArgument(_))
    ));
}

#[tokio::test]
async fn an_empty_name_gives_a_timestamped_unique_name() {
    let (e, _) = engine(Retention::default());
    let first = e.create("instance:pro-a", "").await.unwrap();
    let second = e.create("instance:pro-a", "").await.unwrap();
    assert_eq!(first[0].snapshot, "anklume-20261126-120000");
    assert_eq!(second[0].snapshot, "anklume-20261126-120000-2");
}

#[tokio::test]
async fn restore_of_a_missing_snapshot_changes_nothing_and_lists_what_exists() {
    let (e, _) = engine(Retention::default());
    e.create("instance:pro-a", "v1").await.unwrap();
    let err = e.restore("domain:pro", "v1").await.unwrap_err();
    assert_eq!(
        err,
        EngineError::NotFound(
            "snapshot 'v1' not found on pro/pro-b (has: none); nothing was restored".into()
        )
    );
    assert!(e.store().sim.restores().is_empty());
    assert_eq!(
        e.store().names("pro", "pro-a"),
        ["v1"],
        "no safety snapshot either"
    );
}

#[tokio::test]
async fn restore_takes_a_safety_snapshot_first() {
    let (e, _) = engine(Retention::default());
    e.create("domain:pro", "v1").await.unwrap();
    let restored = e.restore("domain:pro", "v1").await.unwrap();
    assert_eq!(
        strings(&restored.restored),
        ["pro/pro-a/v1", "pro/pro-b/v1"]
    );
    assert_eq!(
        strings(&restored.safety),
        [
            "pro/pro-a/anklume-pre-restore-20261126-120000",
            "pro/pro-b/anklume-pre-restore-20261126-120000"
        ]
    );
    assert_eq!(
        e.store().names("pro", "pro-a"),
        ["v1", "anklume-pre-restore-20261126-120000"]
    );
    assert_eq!(
        strings(&e.store().sim.restores()),
        ["pro/pro-a/v1", "pro/pro-b/v1"]
    );
}

#[tokio::test]
async fn delete_removes_where_present_and_reports_absence() {
    let (e, _) = engine(Retention::default());
    e.create("instance:pro-a", "v1").await.unwrap();
    assert_eq!(
        strings(&e.delete("domain:pro", "v1").await.unwrap()),
        ["pro/pro-a/v1"]
    );
    assert!(matches!(
        e.delete("domain:pro", "v1").await,
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test]
async fn list_reports_domain_instance_snapshot_and_time() {
    let (e, clock) = engine(Retention::default());
    e.create("instance:pro-b", "a").await.unwrap();
    clock.store(NOON + 60, Ordering::SeqCst);
    e.create("instance:pro-b", "b").await.unwrap();
    let listed = e.list("domain:pro").await.unwrap();
    let rows: Vec<_> = listed
        .iter()
        .map(|l| {
            (
                l.domain.as_str(),
                l.instance.as_str(),
                l.snapshot.as_str(),
                l.created,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("pro", "pro-b", "a", NOON),
            ("pro", "pro-b", "b", NOON + 60)
        ]
    );
}

#[tokio::test]
async fn prune_applies_retention_to_tagged_snapshots_only() {
    let retention = Retention {
        keep_last: 2,
        hourly: 0,
        daily: 0,
        weekly: 0,
        monthly: 0,
        min_age: Duration::ZERO,
    };
    let (e, clock) = engine(retention);
    // A user's own snapshots, one with an anklume-looking name.
    e.store()
        .add_user_snapshot("pro", "pro-a", "mine", NOON - 7200);
    e.store()
        .add_user_snapshot("pro", "pro-a", "anklume-20200101-000000", NOON - 7100);
    // A user-named snapshot made through the daemon is not tagged either.
    e.create("instance:pro-a", "named").await.unwrap();
    for hour in 0..4 {
        clock.store(NOON + hour * 3600, Ordering::SeqCst);
        e.create("instance:pro-a", "").await.unwrap();
    }
    let deleted = e.prune().await.unwrap();
    assert_eq!(
        strings(&deleted),
        [
            "pro/pro-a/anklume-20261126-120000",
            "pro/pro-a/anklume-20261126-130000"
        ]
    );
    assert_eq!(
        e.store().names("pro", "pro-a"),
        [
            "mine",
            "anklume-20200101-000000",
            "named",
            "anklume-20261126-140000",
            "anklume-20261126-150000"
        ]
    );
    assert!(
        e.prune().await.unwrap().is_empty(),
        "a second prune has nothing to do"
    );
}

#[tokio::test]
async fn prune_respects_min_age() {
    let retention = Retention {
        keep_last: 0,
        hourly: 0,
        daily: 0,
        weekly: 0,
        monthly: 0,
        min_age: Duration::from_secs(600),
    };
    let (e, clock) = engine(retention);
    e.create("instance:pro-a", "").await.unwrap();
    assert!(e.prune().await.unwrap().is_empty());
    clock.store(NOON + 601, Ordering::SeqCst);
    assert_eq!(e.prune().await.unwrap().len(), 1);
}

#[tokio::test]
async fn calls_on_one_instance_are_serialised_and_others_run_concurrently() {
    let (e, _) = engine(Retention::default());
    let e = Arc::new(e);
    let calls: Vec<_> = (0..6)
        .map(|i| {
            let e = Arc::clone(&e);
            tokio::spawn(async move { e.create("instance:pro-a", &format!("s{i}")).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(e.store().max_busy_per_instance.load(Ordering::SeqCst), 1);
    e.create("all", "wide").await.unwrap();
    assert!(
        e.store().max_busy_total.load(Ordering::SeqCst) >= 2,
        "instances ran one after another"
    );
}

#[tokio::test]
async fn the_registry_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::open(dir.path()).unwrap().registry;
    registry
        .insert(anklume_snapshot::registry::Tagged {
            project: "p".into(),
            instance: "i".into(),
            name: "n".into(),
            created: 5,
        })
        .unwrap();
    let reopened = Registry::open(dir.path()).unwrap().registry;
    assert!(reopened.is_tagged("p", "i", "n", 6));
    assert!(!reopened.is_tagged("p", "i", "n", 60));
}

/// A Create whose daemon dies while Incus works: started, never answered.
async fn killed_create(fake: &Arc<Watched>, dir: &std::path::Path, clock: &Arc<AtomicI64>) {
    let first = engine_on(
        Arc::clone(fake),
        Registry::open(dir).unwrap().registry,
        Retention::default(),
        clock,
    );
    fake.stall.store(true, Ordering::SeqCst);
    let call = first.create("domain:pro", "");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), call)
            .await
            .is_err()
    );
    drop(first);
    fake.stall.store(false, Ordering::SeqCst);
    let file = std::fs::read_to_string(dir.join("snapshots.json")).unwrap();
    assert!(
        file.contains("\"pending\": [\n    {"),
        "no intent saved: {file}"
    );
}

#[tokio::test]
async fn a_snapshot_made_by_a_killed_create_is_tagged_at_restart_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(NOON));
    let fake = Arc::new(Watched::new(Arc::clone(&clock)));
    fake.made.store(true, Ordering::SeqCst);
    killed_create(&fake, dir.path(), &clock).await;
    assert_eq!(fake.names("pro", "pro-a"), ["anklume-20261126-120000"]);

    let restarted = engine_on(
        Arc::clone(&fake),
        Registry::open(dir.path()).unwrap().registry,
        retention::keep_nothing(Duration::ZERO),
        &clock,
    );
    let reconciled = restarted.reconcile().await.unwrap();
    assert_eq!(
        strings(&reconciled.tagged),
        [
            "pro/pro-a/anklume-20261126-120000",
            "pro/pro-b/anklume-20261126-120000"
        ]
    );
    assert!(reconciled.dropped.is_empty());
    let pruned = restarted.prune().await.unwrap();
    assert_eq!(pruned.len(), 2, "retention lost them: {pruned:?}");
    assert!(fake.names("pro", "pro-a").is_empty());
}

#[tokio::test]
async fn an_intent_incus_never_carried_out_is_dropped_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(NOON));
    let fake = Arc::new(Watched::new(Arc::clone(&clock)));
    killed_create(&fake, dir.path(), &clock).await;
    assert!(fake.names("pro", "pro-a").is_empty());
    // A user's look-alike made later is not adopted by the old intent...
    let restarted = engine_on(
        Arc::clone(&fake),
        Registry::open(dir.path()).unwrap().registry,
        retention::keep_nothing(Duration::ZERO),
        &clock,
    );
    let reconciled = restarted.reconcile().await.unwrap();
    assert_eq!(reconciled.dropped.len(), 2);
    assert!(reconciled.tagged.is_empty());
    let file = std::fs::read_to_string(dir.path().join("snapshots.json")).unwrap();
    assert!(file.contains("\"pending\": []"), "{file}");
    // ...so a snapshot of that name made by hand afterwards is never pruned.
    fake.add_user_snapshot("pro", "pro-a", "anklume-20261126-120000", NOON + 5);
    clock.fetch_add(10, Ordering::SeqCst);
    assert!(restarted.prune().await.unwrap().is_empty());
}
