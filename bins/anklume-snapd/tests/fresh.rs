//! A fresh install: no infra yet. The daemon serves anyway, says why (log,
//! LastError, the reply of a call) and takes the infra on SIGHUP, telling
//! followers of LastError (PropertiesChanged). Real Incus, private bus.

mod common;

use std::time::Duration;

use anklume_dbus::snapshot::Snapshot1Proxy;
use common::{Daemon, Lab, TestBus};
use futures_util::StreamExt as _;

#[tokio::test(flavor = "multi_thread")]
async fn with_no_infra_yet_it_serves_says_so_and_takes_the_infra_on_reload() {
    let domains: &[(&str, &[&str])] = &[("f", &["c1"])];
    let lab = Lab::new(domains).await;
    let bus = TestBus::start();
    let mut daemon = Daemon::prepare("", "");
    let infra = daemon.dir.path().join("infra.yml");
    std::fs::remove_file(&infra).unwrap();
    daemon.spawn(&bus).await;
    let proxy = Snapshot1Proxy::new(&bus.connect().await).await.unwrap();

    let said = format!("no infra yet at {}", infra.display());
    assert_eq!(proxy.last_error().await.unwrap(), said);
    assert!(daemon.log().contains(&said), "{}", daemon.log());
    let target = format!("instance:{}", lab.machine("f", "c1"));
    match proxy.list(&target).await {
        Err(e) if e.to_string().contains(&said) => {}
        other => panic!("a call without an infra: {other:?}"),
    }

    let mut changes = proxy.receive_last_error_changed().await;
    std::fs::write(&infra, lab.infra(domains)).unwrap();
    daemon.signal("HUP");
    daemon.notify.wait_for("READY=1", Duration::from_secs(10));
    let cleared = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(change) = changes.next().await {
            if change.get().await.unwrap().is_empty() {
                return;
            }
        }
    })
    .await;
    assert!(cleared.is_ok(), "no PropertiesChanged clearing LastError");
    assert_eq!(proxy.last_error().await.unwrap(), "");
    assert!(proxy.list(&target).await.unwrap().is_empty());
    let made = proxy.create(&target, "after-reload").await.unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(
        lab.snapshots("f", "c1").await,
        vec!["after-reload".to_owned()]
    );
}
