//! anklume-gpud over a real private dbus-daemon, with the fake NVML
//! loaded through the same code path as the driver's library and Incus
//! left out (`--no-incus`): inventory, exclusive and shared claims, the
//! overcommit signal, persistence across a restart, a start without a
//! driver, authorisation, the CLI.

mod common;

use std::time::Duration;

use common::{Daemon, GIB, Incus, NOBODY, TestBus, busctl, card, cli, error_name, infra, proxy};
use futures_util::StreamExt as _;

/// Under `exclusive` the infra itself allows one GPU instance at a time.
const MACHINES: &[(&str, &str)] = &[
    ("ai-one", "gpu: true"),
    ("ai-two", ""),
    ("ai-three", ""),
    ("ai-cpu", ""),
];

/// The same machines, `gpu` given to `holder` only (an edited infra).
fn only(holder: &str) -> String {
    let machines: Vec<(&str, &str)> = ["ai-one", "ai-two", "ai-three", "ai-cpu"]
        .into_iter()
        .map(|m| {
            (
                m,
                if m == holder {
                    "profiles: [default, nvidia-compute]"
                } else {
                    ""
                },
            )
        })
        .collect();
    infra("exclusive", "ai", &machines)
}

#[tokio::test]
async fn list_gpus_reports_every_card_as_nvml_does() {
    let bus = TestBus::start();
    let fixture = card(0, 24 * GIB, GIB) + &card(1, 8 * GIB, 0);
    let _gpud = Daemon::start(
        &bus,
        &infra("exclusive", "ai", MACHINES),
        &fixture,
        Incus::Absent,
    )
    .await;
    let gpus = proxy(&bus).await.list_gpus().await.unwrap();
    assert_eq!(
        gpus,
        vec![
            (
                0,
                "GPU-fake-0".into(),
                "Fake RTX 0".into(),
                24 * GIB,
                GIB,
                23 * GIB
            ),
            (
                1,
                "GPU-fake-1".into(),
                "Fake RTX 1".into(),
                8 * GIB,
                0,
                8 * GIB
            ),
        ]
    );
    // busctl sees the same signature, and the whole interface.
    let out = busctl(
        &bus,
        None,
        &[
            "call",
            "org.anklume.Gpu1",
            "/org/anklume/Gpu1",
            "org.anklume.Gpu1",
            "ListGpus",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("a(ussttt) 2 0 \"GPU-fake-0\""), "{text}");
    let out = busctl(
        &bus,
        None,
        &[
            "introspect",
            "org.anklume.Gpu1",
            "/org/anklume/Gpu1",
            "org.anklume.Gpu1",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for member in [
        ".ListGpus",
        ".Claim",
        ".Release",
        ".Processes",
        ".Claims",
        ".ClaimChanged",
        ".VramOvercommit",
        ".LastError",
    ] {
        assert!(
            text.contains(member),
            "introspection lacks {member}:\n{text}"
        );
    }
    // The CLI asks the daemon.
    let out = cli(&bus, "list");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("GPU-fake-1") && text.contains("24576"),
        "{text}"
    );
}

#[tokio::test]
async fn exclusive_claims_one_holder_per_card_busy_names_it_and_signals_follow() {
    let bus = TestBus::start();
    let fixture = card(0, 8 * GIB, 0) + &card(1, 8 * GIB, 0);
    let daemon = Daemon::start(
        &bus,
        &infra("exclusive", "ai", MACHINES),
        &fixture,
        Incus::Absent,
    )
    .await;
    let gpud = proxy(&bus).await;
    let mut changes = gpud.receive_claim_changed().await.unwrap();

    assert!(gpud.claim("ai-one", "0").await.unwrap());
    assert!(
        !gpud.claim("ai-one", "0").await.unwrap(),
        "a repeated claim changes nothing"
    );
    let signal = tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .unwrap()
        .unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (args.instance.as_str(), args.gpu.as_str()),
        ("ai-one", "GPU-fake-0")
    );

    // The infra moves the GPU to ai-two (a profile with a gpu device);
    // ai-one keeps its card until it releases it.
    daemon.infra(&only("ai-two"));
    let e = gpud.claim("ai-two", "GPU-fake-0").await.unwrap_err();
    let e = error_name(&e);
    assert!(
        e.starts_with("org.anklume.Error.Busy") && e.contains("held by ai-one"),
        "{e}"
    );
    assert!(
        gpud.claim("ai-two", "").await.unwrap(),
        "'' finds the free card"
    );
    daemon.infra(&only("ai-three"));
    let e = error_name(&gpud.claim("ai-three", "").await.unwrap_err());
    assert!(e.starts_with("org.anklume.Error.Busy"), "{e}");
    let e = error_name(&gpud.claim("ai-cpu", "").await.unwrap_err());
    assert!(
        e.starts_with("org.anklume.Error.NotAllowed") && e.contains("not a GPU instance"),
        "{e}"
    );
    let e = error_name(&gpud.claim("ai-three", "GPU-nope").await.unwrap_err());
    assert!(e.starts_with("org.anklume.Error.NoDevice"), "{e}");

    let mut claims = gpud.claims().await.unwrap();
    claims.sort();
    assert_eq!(
        claims,
        vec![
            ("ai-one".into(), "GPU-fake-0".into()),
            ("ai-two".into(), "GPU-fake-1".into())
        ]
    );
    assert!(gpud.release("ai-one").await.unwrap());
    assert!(!gpud.release("ai-one").await.unwrap());
    let released = loop {
        let s = tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .unwrap()
            .unwrap();
        if s.args().unwrap().instance == "ai-one" && s.args().unwrap().gpu.is_empty() {
            break true;
        }
    };
    assert!(released, "ClaimChanged(ai-one, '') on release");
    assert!(gpud.claim("ai-three", "").await.unwrap());
    let out = cli(&bus, "claims");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ai-three") && text.contains("GPU-fake-0"),
        "{text}"
    );
}

#[tokio::test]
async fn shared_claims_signal_vram_overcommit_from_declared_use() {
    let bus = TestBus::start();
    let machines = [
        (
            "ai-one",
            "gpu: true\nconfig:\n  user.anklume.gpu_vram: 6GiB",
        ),
        (
            "ai-two",
            "gpu: true\nconfig:\n  user.anklume.gpu_vram: 3GiB",
        ),
    ];
    let fixture = card(0, 8 * GIB, 0);
    let _gpud = Daemon::start(
        &bus,
        &infra("shared", "ai", &machines),
        &fixture,
        Incus::Absent,
    )
    .await;
    let gpud = proxy(&bus).await;
    let mut overcommits = gpud.receive_vram_overcommit().await.unwrap();
    assert!(gpud.claim("ai-one", "").await.unwrap());
    assert!(
        gpud.claim("ai-two", "GPU-fake-0").await.unwrap(),
        "shared: two holders"
    );
    let signal = tokio::time::timeout(Duration::from_secs(5), overcommits.next())
        .await
        .unwrap()
        .unwrap();
    let args = signal.args().unwrap();
    assert_eq!(args.gpu, "GPU-fake-0");
    assert_eq!((*args.needed(), *args.total()), (9 * GIB, 8 * GIB));
    assert_eq!(args.holders, vec!["ai-one".to_owned(), "ai-two".to_owned()]);
}

#[tokio::test]
async fn claims_survive_a_restart() {
    let bus = TestBus::start();
    let fixture = card(0, 8 * GIB, 0);
    let mut gpud = Daemon::start(
        &bus,
        &infra("exclusive", "ai", MACHINES),
        &fixture,
        Incus::Absent,
    )
    .await;
    assert!(
        proxy(&bus)
            .await
            .claim("ai-one", "GPU-fake-0")
            .await
            .unwrap()
    );
    gpud.kill();
    gpud.infra(&only("ai-two"));
    gpud.spawn(&bus).await;
    let client = proxy(&bus).await;
    assert_eq!(
        client.claims().await.unwrap(),
        vec![("ai-one".into(), "GPU-fake-0".into())]
    );
    let e = error_name(&client.claim("ai-two", "0").await.unwrap_err());
    assert!(e.contains("held by ai-one"), "{e}");
}

#[tokio::test]
async fn without_a_driver_the_daemon_starts_and_says_no_device() {
    let bus = TestBus::start();
    let mut gpud = Daemon::prepare(&infra("exclusive", "ai", MACHINES), "", Incus::Absent);
    gpud.library = None;
    gpud.spawn(&bus).await;
    let client = proxy(&bus).await;
    let e = error_name(&client.list_gpus().await.unwrap_err());
    assert!(
        e.starts_with("org.anklume.Error.NoDevice") && e.contains("no NVIDIA driver"),
        "{e}"
    );
    let e = error_name(&client.claim("ai-one", "").await.unwrap_err());
    assert!(e.starts_with("org.anklume.Error.NoDevice"), "{e}");
    assert!(client.last_error().await.unwrap().contains("cannot load"));
    assert!(gpud.log().contains("no GPU"), "{}", gpud.log());
    drop(gpud);

    // A library whose driver is not loaded (NVML_ERROR_DRIVER_NOT_LOADED).
    let _gpud = Daemon::start(
        &bus,
        &infra("exclusive", "ai", MACHINES),
        "init 9\n",
        Incus::Absent,
    )
    .await;
    let e = error_name(&proxy(&bus).await.list_gpus().await.unwrap_err());
    assert!(e.contains("driver is not loaded"), "{e}");
}

#[tokio::test]
async fn claims_need_root_or_polkit_and_a_valid_infra() {
    let bus = TestBus::start();
    let gpud = Daemon::start(
        &bus,
        &infra("exclusive", "ai", MACHINES),
        &card(0, GIB, 0),
        Incus::Absent,
    )
    .await;
    // nobody: no polkit on the test bus, so no.
    let out = busctl(
        &bus,
        Some(NOBODY),
        &[
            "call",
            "org.anklume.Gpu1",
            "/org/anklume/Gpu1",
            "org.anklume.Gpu1",
            "Claim",
            "ss",
            "ai-one",
            "",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not root"),
        "{stderr}"
    );
    let out = busctl(
        &bus,
        Some(NOBODY),
        &[
            "call",
            "org.anklume.Gpu1",
            "/org/anklume/Gpu1",
            "org.anklume.Gpu1",
            "ListGpus",
        ],
    );
    assert!(
        out.status.success(),
        "reads are open: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = busctl(
        &bus,
        Some(NOBODY),
        &[
            "call",
            "org.anklume.Gpu1",
            "/org/anklume/Gpu1",
            "org.anklume.Gpu1",
            "Release",
            "s",
            "ai-one",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not root"),
        "{stderr}"
    );

    gpud.infra("project_name: x\nglobal: {}\ndomains:\n  ai: {subnet_id: nope}\n");
    let e = error_name(&proxy(&bus).await.claim("ai-one", "").await.unwrap_err());
    assert!(e.starts_with("org.anklume.Error.InvalidInfra"), "{e}");
}

#[tokio::test]
async fn every_thread_is_confined_and_landlock_hides_files_outside_its_rules() {
    let bus = TestBus::start();
    let fixture = card(0, 8 * GIB, 0);
    let gpud = Daemon::start(
        &bus,
        &infra("exclusive", "ai", MACHINES),
        &fixture,
        Incus::Absent,
    )
    .await;
    assert_eq!(proxy(&bus).await.list_gpus().await.unwrap().len(), 1);
    let threads = common::assert_every_thread_confined(gpud.pid(), 0);
    assert!(threads >= 2, "the runtime's workers exist: {threads}");
    drop(gpud);

    // The same fixture where the daemon's rules do not reach: NVML (loaded
    // after confinement) cannot read it, so it sees no card.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("fixture"), &fixture).unwrap();
    let mut gpud = Daemon::prepare(&infra("exclusive", "ai", MACHINES), "", Incus::Absent);
    gpud.fixture_at = Some(outside.path().join("fixture"));
    gpud.spawn(&bus).await;
    assert_eq!(proxy(&bus).await.list_gpus().await.unwrap(), vec![]);
}
