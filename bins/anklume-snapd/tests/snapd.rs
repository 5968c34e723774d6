//! anklume-snapd against the real Incus daemon, on a private D-Bus
//! daemon, called with a zbus proxy and with busctl.

mod common;

use anklume_dbus::AnklumeError;
use anklume_dbus::snapshot::Snapshot1Proxy;
use common::{
    Daemon, Lab, TestBus, assert_prune_refused_by_name,
    assert_the_whole_interface_is_introspectable, busctl,
};
use futures_util::StreamExt as _;

const DOMAINS: &[(&str, &[&str])] = &[("a", &["c1", "c2"]), ("b", &["c1"])];

struct Env {
    lab: Lab,
    bus: TestBus,
    _daemon: Daemon,
    proxy: Snapshot1Proxy<'static>,
}

async fn env(config: &str) -> Env {
    let lab = Lab::new(DOMAINS).await;
    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &lab.infra(DOMAINS), config).await;
    let connection = bus.connect().await;
    let proxy = Snapshot1Proxy::new(&connection).await.unwrap();
    Env {
        lab,
        bus,
        _daemon: daemon,
        proxy,
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn create_change_restore_brings_the_file_back_and_can_be_undone() {
    let e = env("").await;
    let (domain, c1) = (e.lab.domain("a"), e.lab.machine("a", "c1"));
    e.lab.sh("a", "c1", "echo original > /root/f").await;
    let made = e
        .proxy
        .create(&format!("instance:{c1}"), "v1")
        .await
        .unwrap();
    assert_eq!(made, [format!("{domain}/{c1}/v1")]);

    e.lab.sh("a", "c1", "echo changed > /root/f").await;
    let restored = e
        .proxy
        .restore(&format!("instance:{c1}"), "v1")
        .await
        .unwrap();
    assert_eq!(restored, [format!("{domain}/{c1}/v1")]);
    assert_eq!(e.lab.sh("a", "c1", "cat /root/f").await, "original\n");

    // The safety snapshot taken before the restore holds the change.
    let snapshots = e.lab.snapshots("a", "c1").await;
    let safety = snapshots
        .iter()
        .find(|s| s.starts_with("anklume-pre-restore-"))
        .unwrap_or_else(|| panic!("no safety snapshot in {snapshots:?}"));
    e.proxy
        .restore(&format!("instance:{c1}"), safety)
        .await
        .unwrap();
    assert_eq!(e.lab.sh("a", "c1", "cat /root/f").await, "changed\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_snapshot_touches_only_that_domain() {
    let e = env("").await;
    let made = e
        .proxy
        .create(&format!("domain:{}", e.lab.domain("a")), "dom")
        .await
        .unwrap();
    let a = e.lab.domain("a");
    assert_eq!(
        sorted(made),
        [
            format!("{a}/{}/dom", e.lab.machine("a", "c1")),
            format!("{a}/{}/dom", e.lab.machine("a", "c2"))
        ]
    );
    assert!(e.lab.snapshots("b", "c1").await.is_empty());
    let listed = e.proxy.list("all").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|(d, _, s, t)| *d == a && s == "dom" && *t > 1_700_000_000)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_of_a_missing_snapshot_changes_nothing_and_lists_what_exists() {
    let e = env("").await;
    let a = format!("domain:{}", e.lab.domain("a"));
    e.proxy
        .create(&format!("instance:{}", e.lab.machine("a", "c1")), "only-c1")
        .await
        .unwrap();
    e.lab.sh("a", "c1", "echo after > /root/f").await;
    let err = e.proxy.restore(&a, "only-c1").await.unwrap_err();
    let AnklumeError::NotFound(message) = err else {
        panic!("expected NotFound, got {err:?}");
    };
    assert_eq!(
        message,
        format!(
            "snapshot 'only-c1' not found on {}/{} (has: none); nothing was restored",
            e.lab.domain("a"),
            e.lab.machine("a", "c2")
        )
    );
    assert_eq!(e.lab.sh("a", "c1", "cat /root/f").await, "after\n");
    assert_eq!(
        e.lab.snapshots("a", "c1").await,
        ["only-c1"],
        "no safety snapshot taken"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_deletes_exactly_what_retention_says_and_never_a_users_own() {
    let config = "snapshots:\n  retention:\n    keep_last: 1\n    hourly: 0\n    daily: 0\n    weekly: 0\n    monthly: 0\n    min_age: 0\n";
    let e = env(config).await;
    let (project, c1) = (e.lab.domain("b"), e.lab.machine("b", "c1"));
    // The user's own snapshots, made behind anklume's back; one mimics
    // anklume's naming.
    e.lab
        .incus
        .create_snapshot(&project, &c1, "mine")
        .await
        .unwrap();
    e.lab
        .incus
        .create_snapshot(&project, &c1, "anklume-20200101-000000")
        .await
        .unwrap();
    let target = format!("instance:{c1}");
    e.proxy.create(&target, "named").await.unwrap();
    let mut auto = Vec::new();
    for _ in 0..3 {
        auto.extend(e.proxy.create(&target, "").await.unwrap());
    }
    let pruned = e.proxy.prune().await.unwrap();
    assert_eq!(sorted(pruned), sorted(auto[..2].to_vec()));
    let left = sorted(e.lab.snapshots("b", "c1").await);
    let newest = auto[2].rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        left,
        sorted(vec![
            "mine".into(),
            "anklume-20200101-000000".into(),
            "named".into(),
            newest
        ])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_on_one_instance_all_succeed() {
    let e = env("").await;
    let target = format!("instance:{}", e.lab.machine("a", "c2"));
    let calls = (0..4).map(|i| {
        let proxy = e.proxy.clone();
        let target = target.clone();
        async move { proxy.create(&target, &format!("p{i}")).await }
    });
    for result in futures_util::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(
        sorted(e.lab.snapshots("a", "c2").await),
        ["p0", "p1", "p2", "p3"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_follow_each_change() {
    let e = env("").await;
    let mut created = e.proxy.receive_snapshot_created().await.unwrap();
    let mut deleted = e.proxy.receive_snapshot_deleted().await.unwrap();
    let c1 = e.lab.machine("b", "c1");
    e.proxy
        .create(&format!("instance:{c1}"), "sig")
        .await
        .unwrap();
    let signal = created.next().await.unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (args.target().as_str(), args.name().as_str()),
        (format!("instance:{c1}").as_str(), "sig")
    );
    e.proxy
        .delete(&format!("instance:{c1}"), "sig")
        .await
        .unwrap();
    let args = deleted.next().await.unwrap();
    assert_eq!(args.args().unwrap().name(), "sig");
}

#[tokio::test(flavor = "multi_thread")]
async fn busctl_calls_and_a_refused_non_root_caller() {
    let e = env("").await;
    let c1 = e.lab.machine("a", "c1");
    let target = format!("instance:{c1}");
    let path = [
        "org.anklume.Snapshot1",
        "/org/anklume/Snapshot1",
        "org.anklume.Snapshot1",
    ];

    let out = busctl(
        &e.bus,
        None,
        &[
            &["call"],
            &path[..],
            &["Create", "ss", &target, "viabusctl"],
        ]
        .concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("as 1 \"{}/{c1}/viabusctl\"\n", e.lab.domain("a"))
    );

    assert_the_whole_interface_is_introspectable(&e.bus);

    // Anyone may list; a non-root caller may not change anything.
    let nobody = Some(65534);
    let out = busctl(
        &e.bus,
        nobody,
        &[&["call"], &path[..], &["List", "s", &target]].concat(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"viabusctl\""));
    let out = busctl(
        &e.bus,
        nobody,
        &[
            &["call"],
            &path[..],
            &["Delete", "ss", &target, "viabusctl"],
        ]
        .concat(),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not root and polkit is not available"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        e.lab.snapshots("a", "c1").await,
        ["viabusctl"],
        "nothing was deleted"
    );

    // The error name is the typed one.
    assert_prune_refused_by_name(&e.bus, 65534);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_get_typed_errors() {
    let e = env("").await;
    assert!(matches!(
        e.proxy.create("pro", "x").await,
        Err(AnklumeError::InvalidArgument(_))
    ));
    assert!(matches!(
        e.proxy.create("all", "a/b").await,
        Err(AnklumeError::InvalidArgument(_))
    ));
    assert!(matches!(
        e.proxy.create("domain:ghost", "x").await,
        Err(AnklumeError::NotFound(_))
    ));
    assert!(matches!(
        e.proxy.delete("all", "never-made").await,
        Err(AnklumeError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_run_snapshots_when_due_then_prunes() {
    let lab = Lab::new(&[("s", &["c1"])]).await;
    let bus = TestBus::start();
    let daemon = Daemon::start(
        &bus,
        &lab.infra(&[("s", &["c1"])]),
        "snapshots:\n  schedule: hourly\n",
    )
    .await;
    let scheduled = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_anklume-snapd"))
            .arg("scheduled")
            .arg("--config")
            .arg(daemon.dir.path().join("anklume.conf.yml"))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .output()
            .unwrap()
    };
    let first = scheduled();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        "created 1 snapshot(s)\npruned 0 snapshot(s)\n"
    );
    let snapshots = lab.snapshots("s", "c1").await;
    assert_eq!(snapshots.len(), 1);
    assert!(snapshots[0].starts_with("anklume-20"), "{snapshots:?}");
    // Within the hour, nothing is due.
    let second = scheduled();
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "no snapshot due (schedule: hourly)\npruned 0 snapshot(s)\n"
    );
    assert_eq!(lab.snapshots("s", "c1").await.len(), 1);
}
