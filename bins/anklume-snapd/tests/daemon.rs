//! anklume-snapd as a daemon, on the anklume-daemon skeleton: every
//! thread confined, the registry survives damage and SIGKILL, SIGHUP
//! re-reads the configuration, error replies stay readable. Real Incus,
//! private dbus-daemon.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use anklume_dbus::AnklumeError;
use anklume_dbus::snapshot::Snapshot1Proxy;
use common::{Daemon, Lab, TestBus, assert_every_thread_confined};

const KEEP_NOTHING: &str = "snapshots:\n  retention:\n    keep_last: 0\n    hourly: 0\n    daily: 0\n    weekly: 0\n    monthly: 0\n    min_age: 0\n";

async fn proxy(bus: &TestBus) -> Snapshot1Proxy<'static> {
    Snapshot1Proxy::new(&bus.connect().await).await.unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn every_thread_is_confined_and_nothing_outside_its_rules_is_read() {
    let all: &[(&str, &[&str])] = &[("a", &["c1"]), ("b", &["c1"]), ("c", &["c1"])];
    let lab = Lab::new(all).await;
    let bus = TestBus::start();
    let mut daemon = Daemon::prepare(&lab.infra(&all[..1]), "");
    daemon.relative_infra = true;
    daemon.spawn(&bus).await;
    let proxy = proxy(&bus).await;

    // Keep every worker busy for a moment, then look at every thread.
    let calls = (0..8).map(|_| proxy.list("all"));
    for listed in futures_util::future::join_all(calls).await {
        listed.unwrap();
    }
    let threads = assert_every_thread_confined(daemon.pid(), 0);
    assert!(threads >= 2, "the runtime's workers exist: {threads}");

    // A relative --infra is re-read at each call, under Landlock.
    std::fs::write(daemon.dir.path().join("infra.yml"), lab.infra(&all[..2])).unwrap();
    let b = format!("domain:{}", lab.domain("b"));
    proxy.list(&b).await.expect("the edited infra is read");

    // Landlock, from the threads that serve calls: the infra becomes a
    // link to a file outside the daemon's rules; no call can read it, so
    // the last valid infra (without c) stays in force.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("infra.yml"), lab.infra(all)).unwrap();
    std::fs::remove_file(daemon.dir.path().join("infra.yml")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("infra.yml"),
        daemon.dir.path().join("infra.yml"),
    )
    .unwrap();
    let c = format!("domain:{}", lab.domain("c"));
    let calls = (0..16).map(|_| proxy.list(&c));
    for listed in futures_util::future::join_all(calls).await {
        assert!(
            matches!(&listed, Err(AnklumeError::NotFound(m)) if m.contains("in the infra")),
            "a thread read outside its rules: {listed:?}"
        );
    }
    proxy.list(&b).await.expect("the last valid infra stays");
    let last_error = proxy.last_error().await.unwrap();
    assert!(last_error.contains("Permission denied"), "{last_error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_registry_is_moved_aside_and_the_daemon_serves() {
    let lab = Lab::new(&[("a", &["c1"])]).await;
    let bus = TestBus::start();
    let mut daemon = Daemon::prepare(&lab.infra(&[("a", &["c1"])]), KEEP_NOTHING);
    std::fs::write(
        daemon.state().join("snapshots.json"),
        "{\"version\": 1, \"snap",
    )
    .unwrap();
    daemon.spawn(&bus).await;
    let proxy = proxy(&bus).await;

    let moved: Vec<String> = std::fs::read_dir(daemon.state())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snapshots.json.corrupt-"))
        .collect();
    assert_eq!(moved.len(), 1, "moved aside");
    let last_error = proxy.last_error().await.unwrap();
    assert!(
        last_error.contains("was unreadable") && last_error.contains(&moved[0]),
        "{last_error}"
    );
    assert!(daemon.log().contains("moved to"), "logged");
    // List, Create and Prune work.
    let made = proxy
        .create(&format!("instance:{}", lab.machine("a", "c1")), "")
        .await
        .unwrap();
    assert_eq!(proxy.list("all").await.unwrap().len(), 1);
    assert_eq!(proxy.prune().await.unwrap(), made);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_of_an_unknown_version_stops_the_start_with_what_to_do() {
    let bus = TestBus::start();
    let daemon = Daemon::prepare("project_name: t\nglobal: {}\ndomains: {}\n", "");
    let registry = daemon.state().join("snapshots.json");
    std::fs::write(&registry, "{\"version\": 2, \"snapshots\": []}").unwrap();
    let out = daemon.run_to_exit(&bus);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has version 2") && stderr.contains("upgrade anklume-snapd"),
        "{stderr}"
    );
    assert!(registry.exists(), "left in place");
}

/// Polls the registry file until `n` intents are pending in it.
fn wait_for_intents(daemon: &Daemon, n: usize) {
    let path = daemon.state().join("snapshots.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.matches("\"since\"").count() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no intent saved: {text}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn incus_running(project: &str) -> bool {
    let out = Command::new("incus")
        .args(["operation", "list", "--project", project, "--format", "csv"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.contains("RUNNING"))
}

/// Waits until Incus works on a request in `project` (the daemon's call
/// reached it: the moment to kill the daemon).
fn wait_incus_busy(project: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !incus_running(project) {
        assert!(Instant::now() < deadline, "Incus never got the request");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until Incus has no operation left in `project` (Incus finishes
/// what a killed client asked for).
fn wait_incus_idle(project: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while incus_running(project) {
        assert!(Instant::now() < deadline, "Incus still busy");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Gives each container a large file, so that Incus (dir storage) takes a
/// moment to copy it into a snapshot: the window to kill the daemon in.
async fn make_snapshots_slow(lab: &Lab, domain: &str, machines: &[&str]) {
    for machine in machines {
        lab.sh(
            domain,
            machine,
            "dd if=/dev/zero of=/root/big bs=1M count=200 2>/dev/null",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_create_killed_midway_leaves_nothing_retention_cannot_delete() {
    let domains: &[(&str, &[&str])] = &[("k", &["c1", "c2"])];
    let lab = Lab::new(domains).await;
    make_snapshots_slow(&lab, "k", &["c1", "c2"]).await;
    let bus = TestBus::start();
    let mut daemon = Daemon::prepare(&lab.infra(domains), KEEP_NOTHING);
    daemon.spawn(&bus).await;
    let proxy = proxy(&bus).await;

    let target = format!("domain:{}", lab.domain("k"));
    let call = tokio::spawn(async move { proxy.create(&target, "").await });
    wait_for_intents(&daemon, 2);
    wait_incus_busy(&lab.domain("k"));
    daemon.kill();
    let _ = call.await;
    wait_incus_idle(&lab.domain("k"));
    let mut made = Vec::new();
    for machine in ["c1", "c2"] {
        for name in lab.snapshots("k", machine).await {
            made.push(format!(
                "{}/{}/{name}",
                lab.domain("k"),
                lab.machine("k", machine)
            ));
        }
    }
    assert!(
        !made.is_empty(),
        "Incus made no snapshot: the kill came too early"
    );

    daemon.spawn(&bus).await;
    assert!(
        daemon.log().contains("tagged for retention"),
        "{}",
        daemon.log()
    );
    let pruned = proxy_again(&bus).await.prune().await.unwrap();
    assert_eq!(sorted(pruned), sorted(made), "retention lost a snapshot");
    let registry = std::fs::read_to_string(daemon.state().join("snapshots.json")).unwrap();
    assert!(registry.contains("\"pending\": []"), "{registry}");
}

async fn proxy_again(bus: &TestBus) -> Snapshot1Proxy<'static> {
    proxy(bus).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_killed_midway_leaves_its_safety_snapshot_to_retention() {
    let domains: &[(&str, &[&str])] = &[("r", &["c1"])];
    let lab = Lab::new(domains).await;
    let bus = TestBus::start();
    let mut daemon = Daemon::prepare(&lab.infra(domains), KEEP_NOTHING);
    daemon.spawn(&bus).await;
    let proxy = proxy(&bus).await;
    let target = format!("instance:{}", lab.machine("r", "c1"));
    proxy.create(&target, "known").await.unwrap();
    make_snapshots_slow(&lab, "r", &["c1"]).await;

    let restoring = target.clone();
    let call = tokio::spawn(async move { proxy.restore(&restoring, "known").await });
    wait_for_intents(&daemon, 1);
    wait_incus_busy(&lab.domain("r"));
    daemon.kill();
    let _ = call.await;
    wait_incus_idle(&lab.domain("r"));
    let safety: Vec<String> = lab
        .snapshots("r", "c1")
        .await
        .into_iter()
        .filter(|s| s.starts_with("anklume-pre-restore-"))
        .collect();
    assert_eq!(
        safety.len(),
        1,
        "Incus made no safety snapshot: the kill came too early"
    );

    daemon.spawn(&bus).await;
    let pruned = proxy_again(&bus).await.prune().await.unwrap();
    assert_eq!(
        pruned,
        [format!(
            "{}/{}/{}",
            lab.domain("r"),
            lab.machine("r", "c1"),
            safety[0]
        )]
    );
    assert_eq!(
        lab.snapshots("r", "c1").await,
        ["known"],
        "the user's stays"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_rereads_the_retention_and_a_broken_configuration_keeps_the_last() {
    let domains: &[(&str, &[&str])] = &[("h", &["c1"])];
    let lab = Lab::new(domains).await;
    let bus = TestBus::start();
    let keep_all = KEEP_NOTHING.replace("keep_last: 0", "keep_last: 10");
    let mut daemon = Daemon::prepare(&lab.infra(domains), &keep_all);
    daemon.spawn(&bus).await;
    let proxy = proxy(&bus).await;
    let target = format!("instance:{}", lab.machine("h", "c1"));
    let mut made = Vec::new();
    for _ in 0..3 {
        made.extend(proxy.create(&target, "").await.unwrap());
    }
    assert!(proxy.prune().await.unwrap().is_empty(), "keep_last: 10");

    let config = daemon.dir.path().join("anklume.conf.yml");
    std::fs::write(
        &config,
        KEEP_NOTHING.replace("keep_last: 0", "keep_last: 1"),
    )
    .unwrap();
    daemon.signal("HUP");
    let told = daemon.notify.wait_for("READY=1", Duration::from_secs(10));
    assert!(told.iter().any(|l| l == "RELOADING=1"), "{told:?}");
    assert_eq!(
        sorted(proxy.prune().await.unwrap()),
        sorted(made[..2].to_vec())
    );

    // A broken configuration: reported, and the retention in force stays.
    std::fs::write(&config, "snapshots:\n  retention:\n    keep_lats: 0\n").unwrap();
    daemon.signal("HUP");
    daemon.notify.wait_for("READY=1", Duration::from_secs(10));
    let last_error = proxy.last_error().await.unwrap();
    assert!(last_error.contains("keep_lats"), "{last_error}");
    assert!(
        proxy.prune().await.unwrap().is_empty(),
        "keep_last: 1 stays"
    );
    assert_eq!(lab.snapshots("h", "c1").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn error_replies_echo_only_a_readable_part_of_an_argument() {
    let domains: &[(&str, &[&str])] = &[("e", &["c1"])];
    let lab = Lab::new(domains).await;
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &lab.infra(domains), "").await;
    let proxy = proxy(&bus).await;
    let long = "x".repeat(10_000);
    let target = format!("instance:{}", lab.machine("e", "c1"));
    for reply in [
        proxy.list(&long).await.map(|_| ()),
        proxy.list(&format!("domain:{long}")).await.map(|_| ()),
        proxy.create(&target, &long).await.map(|_| ()),
        proxy
            .create(&format!("instance:{long}"), "x")
            .await
            .map(|_| ()),
    ] {
        let message = match reply.unwrap_err() {
            AnklumeError::InvalidArgument(m) | AnklumeError::NotFound(m) => m,
            other => panic!("{other:?}"),
        };
        assert!(message.len() < 300, "{} bytes echoed", message.len());
        assert!(message.contains("(10000 characters)"), "{message}");
    }
}
