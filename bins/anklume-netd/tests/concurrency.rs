//! Issue 10, defect 7: any local user could stall Apply. netd rendered the
//! infra for every Preview on its one thread, so concurrent unprivileged
//! Previews of a large infra made root's Apply wait for all of them. Now
//! the rendered ruleset is cached per infra content (one render however
//! many callers ask at once), and neither Preview nor the properties wait
//! for the engine. Real kernel in a throwaway namespace; needs root.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, Files, INFRA, Net, TestBus, text};

const PREVIEWS: usize = 30;

/// 250 domains of 4 machines, 8 policies each (2,000 policies): a large
/// infra, slow to render. `variant` changes one port, hence the content.
fn big_infra(variant: u32) -> String {
    let mut s = String::from("project_name: big\nglobal:\n  base_subnet: '10.180'\ndomains:\n");
    let n = 250;
    for i in 0..n {
        s += &format!("  d{i:03}:\n    subnet_id: {i}\n    machines:\n");
        for k in 0..4 {
            s += &format!("      m{i:03}-{k}: {{ip: 10.180.{i}.{}}}\n", 10 + k);
        }
    }
    s += "network_policies:\n";
    for i in 0..n {
        for q in 0..4 {
            let j = (i + 1 + q) % n;
            s += &format!(
                "  - {{from: m{i:03}-{}, to: m{j:03}-{}, ports: [{}, {}]}}\n",
                q % 4,
                (q + 1) % 4,
                1000 + q,
                2000 + i
            );
            s += &format!(
                "  - {{from: d{i:03}, to: d{:03}, ports: [{}], protocol: udp}}\n",
                (i + 7 + q) % n,
                3000 + q + variant as usize
            );
        }
    }
    s
}

/// `busctl call … Preview` as nobody, not waited for.
fn spawn_preview(bus: &TestBus) -> std::process::Child {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "busctl",
            "--system",
            "--timeout=300",
            "call",
            anklume_dbus::network::BUS_NAME,
            anklume_dbus::network::OBJECT_PATH,
            anklume_dbus::network::INTERFACE,
            "Preview",
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn unprivileged_previews_do_not_stall_apply() {
    let net = Net::bare("c1");
    let bus = TestBus::start();
    let files = Files::new(INFRA);
    let _daemon = Daemon::start(&bus, &net, &files, &[]).await;
    let proxy = bus.proxy().await;

    // One Apply of a new large infra, alone: the reference.
    files.write_infra(&big_infra(1));
    let started = Instant::now();
    assert!(proxy.apply().await.unwrap(), "{}", files.log());
    let alone = started.elapsed();

    // Another content; nobody asks for its preview 30 times at once, then
    // root applies it.
    files.write_infra(&big_infra(2));
    let previews: Vec<_> = (0..PREVIEWS).map(|_| spawn_preview(&bus)).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    assert!(proxy.apply().await.unwrap(), "{}", files.log());
    let loaded = started.elapsed();

    let started = Instant::now();
    for child in previews {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("s \"table inet anklume {"));
    }
    let rest = started.elapsed();
    eprintln!(
        "Apply alone: {alone:?}; Apply behind {PREVIEWS} previews: {loaded:?}; \
         previews done {rest:?} later"
    );
    // Before the fix, Apply waited for every preview queued before it
    // (about PREVIEWS renders). Now it waits for at most the one render
    // they share. Generous: scheduling noise on a loaded 2-core machine.
    let bound = alone * 5 + Duration::from_secs(2);
    assert!(
        loaded < bound,
        "Apply took {loaded:?} behind {PREVIEWS} previews (alone: {alone:?}; bound {bound:?})"
    );
}
