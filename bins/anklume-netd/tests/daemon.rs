//! anklume-netd serve and apply against the kernel: each test runs the
//! daemon inside its own throwaway network namespace (see common), on a
//! private D-Bus daemon, and proves what it does with real packets.
//! Needs root.

mod common;

use std::time::Duration;

use anklume_dbus::AnklumeError;
use common::{
    CAP_NET_ADMIN, Daemon, Files, INFRA, INVALID_INFRA, INVALID_MESSAGE, Net, Served, TestBus,
    assert_every_thread_confined, call, cli_apply, eventually, get_property, hash_of,
    infra_without_policies, preview, text,
};
use futures_util::StreamExt as _;

#[tokio::test(flavor = "multi_thread")]
async fn apply_preview_properties_and_signals_over_dbus() {
    let net = Net::new("d1");
    net.wait_connected();
    let bus = TestBus::start();
    let files = Files::new(&infra_without_policies());
    let daemon = Daemon::start(&bus, &net, &files, &[]).await;
    let proxy = bus.proxy().await;
    // The start-up apply is done when the name appears.
    let first = hash_of(&preview(&infra_without_policies()));
    assert_eq!(
        proxy.ruleset_hash().await.unwrap(),
        first,
        "{}",
        files.log()
    );
    assert_eq!(proxy.policy_count().await.unwrap(), 0);

    let mut applied = proxy.receive_ruleset_applied().await.unwrap();
    files.write_infra(INFRA);
    assert!(proxy.apply().await.unwrap(), "the ruleset changed");
    assert!(!proxy.apply().await.unwrap(), "nothing changed since");
    let expected = preview(INFRA);
    let hash = hash_of(&expected);
    let signal = tokio::time::timeout(Duration::from_secs(5), applied.next())
        .await
        .expect("RulesetApplied")
        .unwrap();
    assert_eq!(signal.args().unwrap().hash, hash);

    assert!(proxy.applied().await.unwrap());
    assert_eq!(proxy.ruleset_hash().await.unwrap(), hash);
    assert_eq!(proxy.domain_count().await.unwrap(), 2);
    assert_eq!(proxy.policy_count().await.unwrap(), 3);
    assert!(proxy.last_applied().await.unwrap() > 1_700_000_000_000_000);
    assert_eq!(proxy.last_error().await.unwrap(), "");
    assert_eq!(proxy.preview().await.unwrap(), expected);
    // What the kernel lists is what preview printed.
    assert_eq!(net.table().as_deref(), Some(expected.as_str()));
    assert!(!net.ping("ta-1", "10.251.2.10"), "cross-domain passed");
    assert!(net.ping("ta-1", "10.251.1.11"), "same domain blocked");

    // busctl sees the same.
    let out = call(&bus, None, &["Apply"]);
    assert_eq!(text(&out.stdout), "b false\n", "{}", text(&out.stderr));
    let out = get_property(&bus, None, &["RulesetHash", "DomainCount", "Applied"]);
    assert_eq!(text(&out.stdout), format!("s \"{hash}\"\nu 2\nb true\n"));

    // SIGHUP (systemctl reload) applies the edited infra.
    files.write_infra(&infra_without_policies());
    daemon.signal("HUP");
    let signal = tokio::time::timeout(Duration::from_secs(5), applied.next())
        .await
        .expect("RulesetApplied after SIGHUP")
        .unwrap();
    assert_eq!(signal.args().unwrap().hash, first);
    assert_eq!(proxy.policy_count().await.unwrap(), 0);

    // Confined: every thread (the blocking ones that ran the applies and
    // the Preview included) has only CAP_NET_ADMIN and NoNewPrivs.
    assert!(assert_every_thread_confined(daemon.pid(), CAP_NET_ADMIN) >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_root_caller_is_refused_but_may_read() {
    let net = Net::bare("d2");
    let bus = TestBus::start();
    let files = Files::new(INFRA);
    // This daemon finds its infra through the configuration's `infra:`.
    files.write_config();
    let _daemon = Daemon::start(&bus, &net, &files, &[]).await;
    let nobody = Some(65534);

    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "dbus-send",
            "--system",
            "--print-reply",
            "--dest=org.anklume.Network1",
            "/org/anklume/Network1",
            "org.anklume.Network1.Apply",
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("org.anklume.Error.PermissionDenied"),
        "{}",
        text(&out.stderr)
    );
    let out = call(&bus, nobody, &["Apply"]);
    assert!(
        text(&out.stderr).contains("not root and polkit is not available"),
        "{}",
        text(&out.stderr)
    );
    // Preview and the properties are open.
    let out = call(&bus, nobody, &["Preview"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("s \"table inet anklume {"));
    let out = get_property(&bus, nobody, &["PolicyCount"]);
    // The three policies of INFRA: read through the configuration.
    assert_eq!(text(&out.stdout), "u 3\n", "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_infra_is_refused_and_the_ruleset_in_force_stays() {
    let served = Served::start("d3", INFRA, &[]).await;
    let (net, bus, files) = (&served.net, &served.bus, &served.files);
    let proxy = bus.proxy().await;
    assert!(proxy.applied().await.unwrap(), "{}", files.log());
    let hash = proxy.ruleset_hash().await.unwrap();
    let before = net.table().expect("table applied at start");

    files.write_infra(INVALID_INFRA);
    let err = proxy.apply().await.unwrap_err();
    let AnklumeError::InvalidInfra(message) = err else {
        panic!("expected InvalidInfra, got {err:?}");
    };
    assert!(message.contains(INVALID_MESSAGE), "{message}");
    let AnklumeError::InvalidInfra(_) = proxy.preview().await.unwrap_err() else {
        panic!("Preview of an invalid infra");
    };
    assert!(!proxy.applied().await.unwrap());
    assert!(proxy.last_error().await.unwrap().contains(INVALID_MESSAGE));
    assert_eq!(proxy.ruleset_hash().await.unwrap(), hash);
    assert_eq!(net.table().as_deref(), Some(before.as_str()));
    assert!(!net.ping("ta-1", "10.251.2.10"), "cross-domain passed");
    assert!(net.ping("ta-1", "10.251.1.11"));

    // Fixed: applied again, the error is gone.
    files.write_infra(INFRA);
    assert!(!proxy.apply().await.unwrap());
    assert!(proxy.applied().await.unwrap());
    assert_eq!(proxy.last_error().await.unwrap(), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_established_flow_a_new_ruleset_forbids_dies() {
    let served = Served::start("d4", INFRA, &[]).await;
    let (net, bus, files) = (&served.net, &served.bus, &served.files);
    let proxy = bus.proxy().await;
    assert!(proxy.applied().await.unwrap(), "{}", files.log());

    // ta-1 → tb-1 tcp/8080 (allowed): a line every 50 ms, appended to a
    // file by the listener. A same-domain flow ta-2 → ta-1 alike. (A
    // busybox nc whose stdin ends closes the connection: the listeners'
    // stdin stays open.)
    let received = files.dir.path().join("received");
    let same = files.dir.path().join("same");
    let _listener = net.spawn_sh(
        "tb-1",
        &format!("sleep 600 | busybox nc -l -p 8080 > {}", received.display()),
    );
    let _listener2 = net.spawn_sh(
        "ta-1",
        &format!("sleep 600 | busybox nc -l -p 7000 > {}", same.display()),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sender = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done | busybox nc";
    let _flow = net.spawn_sh("ta-1", &format!("{sender} 10.251.2.10 8080"));
    let _flow2 = net.spawn_sh("ta-2", &format!("{sender} 10.251.1.10 7000"));
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    assert!(
        eventually(Duration::from_secs(3), || size(&received) > 20).await,
        "the allowed flow does not get through"
    );

    // The policy goes away: the open connection stops on the next packet.
    files.write_infra(&INFRA.replace("  - {from: ta-1, to: tb-1, ports: [8080]}\n", ""));
    assert!(proxy.apply().await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (cut, same_before) = (size(&received), size(&same));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(size(&received), cut, "the forbidden flow still passes");
    assert!(
        size(&same) > same_before,
        "the same-domain flow stopped too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_an_invalid_infra_never_opens_a_window() {
    let net = Net::new("d5");
    net.wait_connected();
    let bus = TestBus::start();
    let files = Files::new(INFRA);
    let mut first = Daemon::start(&bus, &net, &files, &[]).await;
    assert!(net.table().is_some(), "{}", files.log());

    // Cross-domain pings (IPv4 and IPv6, every 50 ms for 4 s) all through
    // the restart: not one answered.
    let started = std::time::Instant::now();
    let ping = |flag: &'static str, to: &'static str| {
        let ns = net.ns("ta-1");
        tokio::task::spawn_blocking(move || {
            std::process::Command::new("ip")
                .args([
                    "netns", "exec", &ns, "ping", flag, "-i", "0.05", "-w", "4", to,
                ])
                .output()
                .unwrap()
        })
    };
    let (pings, pings6) = (ping("-4", "10.251.2.10"), ping("-6", "fd51:2::10"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.stop();
    assert!(net.table().is_some(), "the table went with the daemon");
    files.write_infra(INVALID_INFRA);
    let _second = Daemon::start(&bus, &net, &files, &[]).await;
    let proxy = bus.proxy().await;
    assert!(!proxy.applied().await.unwrap());
    assert!(proxy.last_error().await.unwrap().contains(INVALID_MESSAGE));
    assert!(net.table().is_some(), "an invalid infra removed the table");
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "the restart outlasted the pings"
    );
    for out in [pings.await.unwrap(), pings6.await.unwrap()] {
        let report = text(&out.stdout);
        assert!(report.contains(" 0 received"), "{report}");
    }

    // Fixed: the new daemon adopts the table (only it may change it now).
    files.write_infra(INFRA);
    proxy.apply().await.unwrap();
    assert!(proxy.applied().await.unwrap(), "{}", files.log());
    assert!(
        !net.nft(&["delete", "table", "inet", "anklume"])
            .status
            .success(),
        "the table is not owned by the new daemon"
    );
    assert!(!net.ping("ta-1", "10.251.2.10"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flushed_shared_table_is_restored() {
    let served = Served::start("d6", INFRA, &["--no-table-owner"]).await;
    let (net, bus, files) = (&served.net, &served.bus, &served.files);
    let proxy = bus.proxy().await;
    let mut applied = proxy.receive_ruleset_applied().await.unwrap();
    let expected = net.table().expect("table applied at start");

    assert!(net.nft(&["flush", "ruleset"]).status.success());
    assert!(
        eventually(Duration::from_secs(5), || net.table().as_deref()
            == Some(expected.as_str()))
        .await,
        "the table was not restored:\n{}",
        files.log()
    );
    assert!(!net.ping("ta-1", "10.251.2.10"), "cross-domain passed");
    let signal = tokio::time::timeout(Duration::from_secs(5), applied.next())
        .await
        .expect("RulesetApplied after the repair")
        .unwrap();
    assert_eq!(signal.args().unwrap().hash, hash_of(&expected));

    // Deleted outright, or changed: restored too.
    assert!(
        net.nft(&["delete", "table", "inet", "anklume"])
            .status
            .success()
    );
    assert!(
        eventually(Duration::from_secs(5), || net.table().as_deref()
            == Some(expected.as_str()))
        .await,
        "the deleted table was not restored:\n{}",
        files.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owned_table_survives_flush_and_delete() {
    let served = Served::start("d7", INFRA, &[]).await;
    let net = &served.net;
    let expected = net.table().expect("table applied at start");
    let raw = net.raw_table().unwrap();
    assert!(
        raw.contains("# progname anklume-netd\n\tflags owner\n"),
        "{raw}"
    );

    assert!(net.nft(&["flush", "ruleset"]).status.success());
    assert_eq!(net.table().as_deref(), Some(expected.as_str()));
    assert!(
        !net.nft(&["delete", "table", "inet", "anklume"])
            .status
            .success()
    );
    assert_eq!(net.table().as_deref(), Some(expected.as_str()));
    assert!(!net.ping("ta-1", "10.251.2.10"), "cross-domain passed");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_apply_applies_once_and_keeps_the_ruleset_on_error() {
    let net = Net::bare("d8");
    let files = Files::new(INFRA);
    let hash = hash_of(&preview(INFRA));

    let out = cli_apply(&net, &files);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("applied ruleset {hash}: 2 domains, 3 policies\n")
    );
    assert_eq!(net.table(), Some(preview(INFRA)));
    let out = cli_apply(&net, &files);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("unchanged (ruleset {hash})\n"));

    files.write_infra(INVALID_INFRA);
    let out = cli_apply(&net, &files);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(INVALID_MESSAGE));
    assert_eq!(net.table(), Some(preview(INFRA)), "the table changed");

    // A table owned by a running daemon: apply says to reload it.
    files.write_infra(INFRA);
    let bus = TestBus::start();
    let _daemon = Daemon::start(&bus, &net, &files, &[]).await;
    files.write_infra(&infra_without_policies());
    let out = cli_apply(&net, &files);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("systemctl reload anklume-netd"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(net.table(), Some(preview(INFRA)), "the table changed");
}
