//! anklume-gpud with the host's Incus: a claim puts the `gpu` device,
//! pinned to the card's PCI address, on a stopped container and a release
//! removes it; a claim whose instance was deleted meanwhile is dropped at
//! start; processes are mapped to the instance whose cgroup holds them
//! (a real busybox container's init), and their VRAM counts towards the
//! overcommit, which the periodic check signals once when it starts. Needs root and Incus (`tests/harness/incus.sh up`).

mod common;

use std::time::Duration;

use common::{Daemon, GIB, Incus, Lab, TestBus, card, card_pci, cli, error_name, infra, proxy};
use futures_util::StreamExt as _;

#[tokio::test]
async fn a_claim_adds_the_pinned_gpu_device_and_a_release_removes_it() {
    let lab = Lab::new(&[("gpu-c1", false), ("gpu-cpu", false)]).await;
    let bus = TestBus::start();
    let machines = [("gpu-c1", "gpu: true"), ("gpu-cpu", "")];
    let text = infra("exclusive", &lab.project, &machines);
    let fixture = card(0, 8 * GIB, 0) + &card(1, 8 * GIB, 0);
    let mut gpud = Daemon::start(&bus, &text, &fixture, Incus::Host).await;
    let client = proxy(&bus).await;

    assert!(client.claim("gpu-c1", "1").await.unwrap());
    let device = lab.gpu_device("gpu-c1").await.expect("the gpu device");
    assert_eq!(device["type"], "gpu");
    assert_eq!(device["gputype"], "physical");
    assert_eq!(device["pci"], card_pci(1).as_str());
    assert!(lab.gpu_device("gpu-cpu").await.is_none());
    let e = error_name(&client.claim("gpu-cpu", "").await.unwrap_err());
    assert!(e.starts_with("org.anklume.Error.NotAllowed"), "{e}");

    assert!(client.release("gpu-c1").await.unwrap());
    assert!(
        lab.gpu_device("gpu-c1").await.is_none(),
        "the release removes the device"
    );

    // Claimed again, then the instance is deleted while gpud is down: the
    // claim is dropped at the next start.
    assert!(client.claim("gpu-c1", "").await.unwrap());
    gpud.kill();
    lab.incus
        .delete_instance(&lab.project, "gpu-c1")
        .await
        .unwrap();
    gpud.spawn(&bus).await;
    assert_eq!(proxy(&bus).await.claims().await.unwrap(), vec![]);
    assert!(gpud.log().contains("no longer exists"), "{}", gpud.log());
}

#[tokio::test]
async fn processes_are_mapped_to_their_instance_and_measured_vram_counts() {
    let lab = Lab::new(&[("gpu-run", true)]).await;
    let pid = lab.init_pid("gpu-run");
    let bus = TestBus::start();
    let machines = [
        ("gpu-run", "gpu: true"),
        (
            "gpu-decl",
            "gpu: true\nconfig:\n  user.anklume.gpu_vram: 2GiB",
        ),
    ];
    let text = infra("shared", &lab.project, &machines);
    // The container's init uses 7 GiB of card 0; a host process 1 MiB.
    let host_pid = std::process::id();
    let fixture = card(0, 8 * GIB, 7 * GIB)
        + &format!("proc 0 {pid} {}\nproc 0 {host_pid} 1048576\n", 7 * GIB);
    // Incus left out: the running container cannot take a device for a
    // card that does not exist; this test is about processes.
    let gpud = Daemon::start(&bus, &text, &fixture, Incus::Absent).await;
    let client = proxy(&bus).await;
    let mut processes = client.processes().await.unwrap();
    processes.sort();
    let mut expected = vec![
        (pid, "gpu-run".to_owned(), "GPU-fake-0".to_owned(), 7 * GIB),
        (host_pid, String::new(), "GPU-fake-0".to_owned(), 1 << 20),
    ];
    expected.sort();
    assert_eq!(processes, expected);
    let out = cli(&bus, "processes");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("gpu-run") && table.contains("(host)"),
        "{table}"
    );

    // Both claim: 1 GiB measured + 2 GiB declared fit the 8 GiB card.
    let mut overcommits = client.receive_vram_overcommit().await.unwrap();
    gpud.fixture(&(card(0, 8 * GIB, GIB) + &format!("proc 0 {pid} {GIB}\n")));
    assert!(client.claim("gpu-run", "").await.unwrap());
    assert!(client.claim("gpu-decl", "").await.unwrap());
    let quiet = tokio::time::timeout(Duration::from_millis(1500), overcommits.next()).await;
    assert!(quiet.is_err(), "no overcommit yet");
    // The container's process grows to 7 GiB: the periodic check (every
    // second here) signals the overcommit once.
    gpud.fixture(&fixture);
    let signal = tokio::time::timeout(Duration::from_secs(5), overcommits.next())
        .await
        .expect("VramOvercommit from the periodic check")
        .unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (*args.needed(), *args.total()),
        (9 * GIB, 8 * GIB),
        "7 measured + 2 declared"
    );
    assert_eq!(
        args.holders,
        vec!["gpu-run".to_owned(), "gpu-decl".to_owned()],
        "in claim order"
    );
    let again = tokio::time::timeout(Duration::from_millis(2500), overcommits.next()).await;
    assert!(again.is_err(), "signalled once, not at every check");
}
