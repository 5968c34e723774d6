//! `Withdraw` against the kernel: the daemon deletes the table it owns,
//! says so (Applied false, Withdrawn true, LastError, RulesetWithdrawn),
//! and keeps it away — through its drift checks and a change of the
//! host's links — until the next Apply or SIGHUP. Only root (or polkit)
//! may withdraw. Each test runs the daemon in its own network namespaces
//! on a private bus (see common); needs root.

mod common;

use std::time::Duration;

use anklume_netengine::WITHDRAWN;
use common::{
    Daemon, Files, INFRA, Net, Served, TestBus, call, get_property, hash_of, preview, text,
};
use futures_util::StreamExt as _;

#[tokio::test(flavor = "multi_thread")]
async fn withdraw_removes_the_table_and_only_apply_or_reload_bring_it_back() {
    // Drift checks every second: a repair would have had its chances.
    let served = Served::start("w1", INFRA, &["--check-interval", "1"]).await;
    let (net, bus, files, daemon) = (&served.net, &served.bus, &served.files, &served.daemon);
    let proxy = bus.proxy().await;
    let hash = hash_of(&preview(INFRA));
    assert_eq!(proxy.ruleset_hash().await.unwrap(), hash, "{}", files.log());
    assert!(!net.ping("ta-1", "10.251.2.10"), "cross-domain passed");
    let mut withdrawn = proxy.receive_ruleset_withdrawn().await.unwrap();
    let mut applied = proxy.receive_ruleset_applied().await.unwrap();

    let out = call(bus, None, &["Withdraw"]);
    assert_eq!(text(&out.stdout), "b true\n", "{}", text(&out.stderr));
    assert_eq!(net.table(), None, "the table is still there");
    let signal = tokio::time::timeout(Duration::from_secs(5), withdrawn.next())
        .await
        .expect("RulesetWithdrawn")
        .unwrap();
    assert_eq!(signal.args().unwrap().hash, hash);
    let out = get_property(
        bus,
        None,
        &["Applied", "Withdrawn", "RulesetHash", "LastError"],
    );
    assert_eq!(
        text(&out.stdout),
        format!("b false\nb true\ns \"\"\ns \"{WITHDRAWN}\"\n"),
        "{}",
        text(&out.stderr)
    );
    // Nothing isolates the domains any more.
    assert!(net.ping("ta-1", "10.251.2.10"), "the isolation is still on");

    // The drift checks and a new leftover bridge (which changes the
    // table the host's links give) put nothing back.
    net.add_bridge("net-tc", 3, false);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(net.table(), None, "put back:\n{}", files.log());
    assert!(proxy.withdrawn().await.unwrap());
    // Withdrawing again: no table, no error.
    assert!(!proxy.withdraw().await.unwrap());
    assert!(
        files
            .log()
            .contains("withdraw: no table inet anklume was in force")
    );

    // Apply brings it back, owned by the daemon again.
    assert!(proxy.apply().await.unwrap(), "{}", files.log());
    assert!(net.table().is_some());
    assert!(net.raw_table().unwrap().contains("flags owner"));
    assert!(proxy.applied().await.unwrap());
    assert!(!proxy.withdrawn().await.unwrap());
    assert_eq!(proxy.last_error().await.unwrap(), "");
    assert!(!net.ping("ta-1", "10.251.2.10"), "cross-domain passed");
    let signal = tokio::time::timeout(Duration::from_secs(5), applied.next())
        .await
        .expect("RulesetApplied after Apply")
        .unwrap();
    let back = signal.args().unwrap().hash.clone();
    assert_eq!(proxy.ruleset_hash().await.unwrap(), back);

    // So does a reload (SIGHUP, systemctl reload).
    assert!(proxy.withdraw().await.unwrap());
    assert_eq!(net.table(), None);
    daemon.signal("HUP");
    let signal = tokio::time::timeout(Duration::from_secs(5), applied.next())
        .await
        .expect("RulesetApplied after SIGHUP")
        .unwrap();
    assert_eq!(signal.args().unwrap().hash, back);
    assert!(net.table().is_some(), "{}", files.log());
    assert!(!proxy.withdrawn().await.unwrap());
    assert!(!net.ping("ta-1", "10.251.2.10"), "cross-domain passed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_root_caller_cannot_withdraw() {
    let net = Net::bare("w2");
    let bus = TestBus::start();
    let files = Files::new(INFRA);
    let _daemon = Daemon::start(&bus, &net, &files, &[]).await;
    let before = net.table().expect("table applied at start");

    let out = call(&bus, Some(65534), &["Withdraw"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("not root and polkit is not available")
            && err.contains("org.anklume.network.withdraw"),
        "{err}"
    );
    assert_eq!(net.table(), Some(before));
    let proxy = bus.proxy().await;
    assert!(proxy.applied().await.unwrap());
    assert!(!proxy.withdrawn().await.unwrap());
}
