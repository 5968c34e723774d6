//! `anklume-snapd serve --sim`: an Incus in memory, run as `nobody` (no
//! root, no Incus socket, nothing under /var/lib) on a private bus, and
//! the whole D-Bus API driven with busctl and zbus. Needs root only to
//! become `nobody` (setpriv); Incus need not run.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use anklume_dbus::AnklumeError;
use anklume_dbus::snapshot::Snapshot1Proxy;
use common::{
    Daemon, NOBODY, SIM_POLICY, Sim, TestBus, as_user, assert_every_thread_confined,
    assert_prune_refused_by_name, assert_the_whole_interface_is_introspectable, busctl,
};
use futures_util::StreamExt as _;

const INFRA: &str = "project_name: sim\nglobal:\n  base_subnet: '10.250'\ndomains:\n  pro:\n    subnet_id: 1\n    machines:\n      pro-dev: {}\n      pro-web: {}\n  perso:\n    subnet_id: 2\n    machines:\n      perso-desk: {}\n";
const KEEP_NOTHING: &str = "snapshots:\n  retention:\n    keep_last: 0\n    hourly: 0\n    daily: 0\n    weekly: 0\n    monthly: 0\n    min_age: 0\n";
const OBJECT: [&str; 3] = [
    "org.anklume.Snapshot1",
    "/org/anklume/Snapshot1",
    "org.anklume.Snapshot1",
];

struct Env {
    bus: TestBus,
    daemon: Daemon,
    proxy: Snapshot1Proxy<'static>,
}

async fn env(config: &str, state_dir: bool) -> Env {
    let bus = TestBus::start_with(&[SIM_POLICY]);
    let sim = Sim {
        uid: NOBODY,
        state_dir,
    };
    let mut daemon = Daemon::prepare_sim(INFRA, config, sim);
    daemon.spawn(&bus).await;
    let proxy = Snapshot1Proxy::new(&bus.connect().await).await.unwrap();
    Env { bus, daemon, proxy }
}

/// A proxy that reads properties afresh: LastError emits no
/// PropertiesChanged (it follows the infra read at each call).
async fn uncached(bus: &TestBus) -> Snapshot1Proxy<'static> {
    Snapshot1Proxy::builder(&bus.connect().await)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `busctl call` on the daemon's object (as root, or as `uid`).
fn call(bus: &TestBus, uid: Option<u32>, args: &[&str]) -> std::process::Output {
    busctl(bus, uid, &[&["call"], &OBJECT[..], args].concat())
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn uid_of(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sim_runs_as_nobody_confined_with_its_registry_in_memory() {
    let e = env("", false).await;
    let pid = e.daemon.pid();
    assert_eq!(
        uid_of(pid),
        "65534 65534 65534 65534",
        "real, effective, saved, fs"
    );
    e.proxy.list("all").await.unwrap();
    assert_every_thread_confined(pid, 0);
    e.proxy.create("all", "").await.unwrap();
    let log = e.daemon.log();
    assert!(
        log.contains("Incus simulated in memory") && log.contains("registry in memory"),
        "{log}"
    );
    let state: Vec<_> = std::fs::read_dir(e.daemon.state()).unwrap().collect();
    assert!(state.is_empty(), "nothing written: {state:?}");

    // Landlock: the infra becomes a link to a world-readable file outside
    // the daemon's rules; no call reads it, the last valid infra stays.
    let outside = tempfile::tempdir().unwrap();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let more = format!("{INFRA}  extra:\n    subnet_id: 3\n");
    std::fs::write(outside.path().join("infra.yml"), more).unwrap();
    let infra = e.daemon.dir.path().join("infra.yml");
    std::fs::remove_file(&infra).unwrap();
    std::os::unix::fs::symlink(outside.path().join("infra.yml"), &infra).unwrap();
    let calls = (0..8).map(|_| e.proxy.list("domain:extra"));
    for listed in futures_util::future::join_all(calls).await {
        assert!(
            matches!(&listed, Err(AnklumeError::NotFound(m)) if m.contains("in the infra")),
            "a thread read outside its rules: {listed:?}"
        );
    }
    let last_error = uncached(&e.bus).await.last_error().await.unwrap();
    assert!(last_error.contains("Permission denied"), "{last_error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_list_restore_delete_through_busctl() {
    let e = env("", false).await;
    // Create: all, a domain, an instance.
    assert_eq!(
        stdout(&call(&e.bus, None, &["Create", "ss", "all", "v1"])),
        "as 3 \"pro/pro-dev/v1\" \"pro/pro-web/v1\" \"perso/perso-desk/v1\"\n"
    );
    assert_eq!(
        stdout(&call(&e.bus, None, &["Create", "ss", "domain:pro", "v2"])),
        "as 2 \"pro/pro-dev/v2\" \"pro/pro-web/v2\"\n"
    );
    assert_eq!(
        stdout(&call(
            &e.bus,
            None,
            &["Create", "ss", "instance:pro-dev", "v3"]
        )),
        "as 1 \"pro/pro-dev/v3\"\n"
    );
    // A name taken on one instance fails there, and says what succeeded.
    let out = call(&e.bus, None, &["Create", "ss", "domain:pro", "v3"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pro/pro-dev: simulated Incus refused")
            && stderr.contains("already exists")
            && stderr.contains("succeeded: pro/pro-web/v3"),
        "{stderr}"
    );

    // List, with creation times (now, unix seconds).
    let listed = e.proxy.list("domain:pro").await.unwrap();
    let rows: Vec<(&str, &str)> = listed
        .iter()
        .map(|(_, i, s, _)| (i.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("pro-dev", "v1"),
            ("pro-dev", "v2"),
            ("pro-dev", "v3"),
            ("pro-web", "v1"),
            ("pro-web", "v2"),
            ("pro-web", "v3")
        ]
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        listed
            .iter()
            .all(|(d, _, _, t)| d == "pro" && (now - t).abs() < 60)
    );
    let out = stdout(&call(&e.bus, None, &["List", "s", "instance:perso-desk"]));
    assert!(
        out.starts_with("a(sssx) 1 \"perso\" \"perso-desk\" \"v1\" "),
        "{out}"
    );

    // Restore: a safety snapshot first; nothing touched if one lacks it.
    let err = e.proxy.restore("all", "v2").await.unwrap_err();
    assert!(
        matches!(&err, AnklumeError::NotFound(m) if m.contains("perso/perso-desk (has: v1); nothing was restored")),
        "{err:?}"
    );
    assert_eq!(
        stdout(&call(&e.bus, None, &["Restore", "ss", "domain:pro", "v1"])),
        "as 2 \"pro/pro-dev/v1\" \"pro/pro-web/v1\"\n"
    );
    let safety: Vec<String> = e
        .proxy
        .list("instance:pro-web")
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, s, _)| s)
        .filter(|s| s.starts_with("anklume-pre-restore-"))
        .collect();
    assert_eq!(safety.len(), 1, "one safety snapshot");

    // Delete: where present; NotFound when nowhere.
    assert_eq!(
        sorted(e.proxy.delete("all", "v3").await.unwrap()),
        ["pro/pro-dev/v3", "pro/pro-web/v3"]
    );
    assert!(matches!(
        e.proxy.delete("all", "v3").await,
        Err(AnklumeError::NotFound(_))
    ));
    assert_eq!(e.proxy.list("all").await.unwrap().len(), 3 + 2 + 2);

    // Typed errors, as from the real daemon.
    for (reply, invalid) in [
        (e.proxy.create("pro", "x").await, true),
        (e.proxy.create("all", "a/b").await, true),
        (e.proxy.create("domain:ghost", "x").await, false),
        (e.proxy.create("instance:ghost", "x").await, false),
    ] {
        match reply {
            Err(AnklumeError::InvalidArgument(_)) if invalid => {}
            Err(AnklumeError::NotFound(_)) if !invalid => {}
            other => panic!("{other:?}"),
        }
    }

    assert_the_whole_interface_is_introspectable(&e.bus);
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_applies_the_retention_to_what_the_daemon_tagged_only() {
    let e = env(KEEP_NOTHING, false).await;
    let auto = e.proxy.create("instance:pro-dev", "").await.unwrap();
    e.proxy.create("instance:pro-dev", "mine").await.unwrap();
    let again = e.proxy.create("instance:pro-dev", "").await.unwrap();
    assert_ne!(auto, again, "unique names");
    let restored = e.proxy.restore("instance:pro-dev", "mine").await.unwrap();
    assert_eq!(restored, ["pro/pro-dev/mine"]);
    let mut deleted = sorted(e.proxy.prune().await.unwrap());
    assert_eq!(deleted.len(), 3, "two scheduled, one safety: {deleted:?}");
    deleted.retain(|d| !d.contains("anklume-pre-restore-"));
    assert_eq!(deleted, sorted([auto, again].concat()));
    let left: Vec<String> = e
        .proxy
        .list("all")
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, s, _)| s)
        .collect();
    assert_eq!(left, ["mine"], "the user's own stays");
    assert!(e.proxy.prune().await.unwrap().is_empty());
}

/// The next signal of `stream`, within 10 s.
async fn next<S: futures_util::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no signal")
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_follow_each_change() {
    let e = env("", false).await;
    let mut created = e.proxy.receive_snapshot_created().await.unwrap();
    let mut restored = e.proxy.receive_snapshot_restored().await.unwrap();
    let mut deleted = e.proxy.receive_snapshot_deleted().await.unwrap();

    e.proxy.create("instance:perso-desk", "sig").await.unwrap();
    let signal = next(&mut created).await.unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (args.target().as_str(), args.name().as_str()),
        ("instance:perso-desk", "sig")
    );

    e.proxy.restore("instance:perso-desk", "sig").await.unwrap();
    let safety = next(&mut created).await.unwrap();
    assert!(
        safety
            .args()
            .unwrap()
            .name()
            .starts_with("anklume-pre-restore-")
    );
    let signal = next(&mut restored).await.unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (args.target().as_str(), args.name().as_str()),
        ("instance:perso-desk", "sig")
    );

    e.proxy.delete("instance:perso-desk", "sig").await.unwrap();
    let signal = next(&mut deleted).await.unwrap();
    assert_eq!(signal.args().unwrap().name(), "sig");
}

/// A user other than root and the daemon's own.
const OTHER: u32 = 1000;

#[tokio::test(flavor = "multi_thread")]
async fn another_user_may_list_but_not_change_anything() {
    let e = env("", false).await;
    e.proxy.create("instance:pro-web", "kept").await.unwrap();
    let out = stdout(&call(&e.bus, Some(OTHER), &["List", "s", "all"]));
    assert!(out.contains("\"kept\""), "{out}");
    for args in [
        &["Create", "ss", "all", "x"][..],
        &["Restore", "ss", "instance:pro-web", "kept"],
        &["Delete", "ss", "instance:pro-web", "kept"],
        &["Prune"],
    ] {
        let out = call(&e.bus, Some(OTHER), args);
        assert!(!out.status.success(), "{args:?} allowed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("uid 1000 is not root and polkit is not available"),
            "{stderr}"
        );
    }
    let left = e.proxy.list("all").await.unwrap();
    assert_eq!(left.len(), 1, "nothing changed: {left:?}");

    // The error name is the typed one.
    assert_prune_refused_by_name(&e.bus, OTHER);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemons_own_user_may_change_the_simulation() {
    let e = env(KEEP_NOTHING, false).await;
    let as_nobody = |args: &[&str]| stdout(&call(&e.bus, Some(NOBODY), args));
    assert_eq!(
        as_nobody(&["Create", "ss", "instance:pro-web", "mine"]),
        "as 1 \"pro/pro-web/mine\"\n"
    );
    assert_eq!(
        as_nobody(&["Restore", "ss", "instance:pro-web", "mine"]),
        "as 1 \"pro/pro-web/mine\"\n"
    );
    let pruned = as_nobody(&["Prune"]);
    assert!(
        pruned.starts_with("as 1 \"pro/pro-web/anklume-pre-restore-"),
        "{pruned}"
    );
    assert_eq!(
        as_nobody(&["Delete", "ss", "all", "mine"]),
        "as 1 \"pro/pro-web/mine\"\n"
    );
    assert!(e.proxy.list("all").await.unwrap().is_empty());
}

/// The desktop way: a user's own bus (a session bus: no policy file, only
/// its user connects), the simulated daemon and the calls all as that
/// user, no root anywhere (root here only to become `nobody`).
#[tokio::test(flavor = "multi_thread")]
async fn a_user_runs_the_sim_on_its_own_session_bus() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::write(dir.path().join("infra.yml"), INFRA).unwrap();
    let as_nobody = |program: &str| {
        let mut c = as_user(Some(NOBODY), program);
        c.current_dir(dir.path());
        c
    };
    let address = format!("unix:path={}", dir.path().join("bus.sock").display());
    let mut bus = as_nobody("dbus-daemon")
        .args(["--session", "--nofork", &format!("--address={address}")])
        .arg("--print-address")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(bus.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let address = line.trim().to_owned();
    let mut daemon = as_nobody(env!("CARGO_BIN_EXE_anklume-snapd"))
        .args(["serve", "--sim", "--infra", "infra.yml"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
        .env_remove("STATE_DIRECTORY")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let busctl = |args: &[&str]| {
        as_nobody("busctl")
            .args(["--user", "--timeout=10", "call"])
            .args(OBJECT)
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .output()
            .unwrap()
    };
    // The daemon takes its name a moment after it starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let made = loop {
        let out = busctl(&["Create", "ss", "domain:pro", "v1"]);
        if out.status.success() || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let listed = busctl(&["List", "s", "all"]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = bus.kill();
    let _ = bus.wait();
    assert_eq!(
        stdout(&made),
        "as 2 \"pro/pro-dev/v1\" \"pro/pro-web/v1\"\n"
    );
    assert!(stdout(&listed).starts_with("a(sssx) 2 \"pro\" \"pro-dev\" \"v1\" "));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_infra_declares_its_machines_and_an_invalid_one_shows_in_last_error() {
    let e = env("", false).await;
    assert_eq!(e.proxy.last_error().await.unwrap(), "");
    let infra = e.daemon.dir.path().join("infra.yml");
    let edited = INFRA.replace(
        "      pro-web: {}\n",
        "      pro-web: {}\n      pro-new: {}\n",
    );
    std::fs::write(&infra, edited).unwrap();
    assert_eq!(
        e.proxy.create("instance:pro-new", "x").await.unwrap(),
        ["pro/pro-new/x"],
        "a machine added to the infra exists, as after make apply"
    );

    std::fs::write(&infra, "domains: [").unwrap();
    let listed = e.proxy.list("instance:pro-new").await.unwrap();
    assert_eq!(listed.len(), 1, "the last valid infra stays in force");
    let last_error = uncached(&e.bus).await.last_error().await.unwrap();
    assert!(
        last_error.contains("infra.yml is invalid") && last_error.contains("YAML"),
        "{last_error}"
    );
    let out = stdout(&busctl(
        &e.bus,
        Some(NOBODY),
        &["get-property", OBJECT[0], OBJECT[1], OBJECT[2], "LastError"],
    ));
    assert!(out.starts_with("s \"") && out.len() > 5, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_dir_given_keeps_the_registry_there() {
    let e = env(KEEP_NOTHING, true).await;
    let made = e.proxy.create("instance:pro-dev", "").await.unwrap();
    let registry = std::fs::read_to_string(e.daemon.state().join("snapshots.json")).unwrap();
    let name = made[0].rsplit('/').next().unwrap();
    assert!(registry.contains(name), "{registry}");
    assert_eq!(e.proxy.prune().await.unwrap(), made);
}

#[test]
fn sim_refuses_an_incus_socket() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anklume-snapd"))
        .args(["serve", "--sim", "--incus-socket", "/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
