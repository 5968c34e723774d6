//! Benchmark: a claim round trip (Claim + Release) through anklume-gpud.
//!
//! Two setups, each against a baseline measured in the same run:
//! 1. fake NVML, Incus left out (`--no-incus`): `Claim` + `Release` over
//!    D-Bus (zbus proxy, root caller: no polkit), against two `ListGpus`
//!    calls (the bare cost of two bus round trips that read NVML), 2000
//!    iterations each, alternating in blocks of 100;
//! 2. fake NVML and the host's Incus, a stopped busybox container:
//!    `Claim` + `Release` (gpud puts the `gpu` device on the instance and
//!    takes it off), against the same two Incus writes made directly with
//!    `IncusClient::set_device` / `remove_device`, 30 iterations each.
//!
//! Prints median, p90 and the ratio gpud / baseline. Each round trip must
//! answer true (claimed, released) or the bench fails.
//!
//! Run (as root, with Incus up: `tests/harness/incus.sh up`):
//!     cargo bench -p anklume-gpud --bench claim
//! The Incus project and its container are removed when it ends.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anklume_gpu::device::{DEVICE_NAME, device_for};
use common::{Daemon, GIB, Incus, Lab, TestBus, card, infra, proxy};

const FAKE_ROUNDS: usize = 2000;
const INCUS_ROUNDS: usize = 30;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    match bench().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn stats(name: &str, samples: &mut [Duration]) -> Duration {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p90 = samples[samples.len() * 9 / 10];
    println!(
        "  {name:<44} median {:>9.1} µs   p90 {:>9.1} µs   (n={})",
        median.as_secs_f64() * 1e6,
        p90.as_secs_f64() * 1e6,
        samples.len()
    );
    median
}

async fn bench() -> Result<(), String> {
    let machines = [("gpu-bench", "gpu: true")];
    let fixture = card(0, 8 * GIB, 0) + &card(1, 8 * GIB, 0);

    println!("claim round trip, fake NVML, no Incus ({FAKE_ROUNDS} iterations each)");
    let bus = TestBus::start();
    let gpud = Daemon::start(
        &bus,
        &infra("exclusive", "bench", &machines),
        &fixture,
        Incus::Absent,
    )
    .await;
    let client = proxy(&bus).await;
    let (mut trips, mut base) = (Vec::new(), Vec::new());
    for block in 0..FAKE_ROUNDS / 100 {
        for _ in 0..100 {
            let t = Instant::now();
            let claimed = client
                .claim("gpu-bench", "")
                .await
                .map_err(|e| e.to_string())?;
            let released = client
                .release("gpu-bench")
                .await
                .map_err(|e| e.to_string())?;
            trips.push(t.elapsed());
            if !(claimed && released) {
                return Err(format!(
                    "block {block}: claim {claimed}, release {released}"
                ));
            }
        }
        for _ in 0..100 {
            let t = Instant::now();
            client.list_gpus().await.map_err(|e| e.to_string())?;
            client.list_gpus().await.map_err(|e| e.to_string())?;
            base.push(t.elapsed());
        }
    }
    let a = stats("Claim + Release (gpud, durable claims file)", &mut trips);
    let b = stats("baseline: 2 × ListGpus", &mut base);
    println!(
        "  ratio claim round trip / baseline: {:.2}",
        a.as_secs_f64() / b.as_secs_f64()
    );
    drop(gpud);

    // The same with the claims file on tmpfs: what the two fsync'd atomic
    // writes (one per Claim, one per Release) cost on this disk.
    let shm = tempfile::tempdir_in("/dev/shm").map_err(|e| e.to_string())?;
    let mut gpud = Daemon::prepare(
        &infra("exclusive", "bench", &machines),
        &fixture,
        Incus::Absent,
    );
    gpud.state_at = Some(shm.path().to_path_buf());
    gpud.spawn(&bus).await;
    let client = proxy(&bus).await;
    let mut tmpfs = Vec::new();
    for _ in 0..FAKE_ROUNDS / 4 {
        let t = Instant::now();
        let claimed = client
            .claim("gpu-bench", "")
            .await
            .map_err(|e| e.to_string())?;
        let released = client
            .release("gpu-bench")
            .await
            .map_err(|e| e.to_string())?;
        tmpfs.push(t.elapsed());
        if !(claimed && released) {
            return Err("tmpfs: a round trip answered false".into());
        }
    }
    let c = stats("Claim + Release, claims file on tmpfs", &mut tmpfs);
    println!(
        "  ratio tmpfs round trip / baseline: {:.2}; disk / tmpfs: {:.2}",
        c.as_secs_f64() / b.as_secs_f64(),
        a.as_secs_f64() / c.as_secs_f64()
    );
    drop(gpud);

    println!("claim round trip with Incus device add/remove ({INCUS_ROUNDS} iterations each)");
    let lab = Lab::new(&[("gpu-bench", false)]).await;
    let bus = TestBus::start();
    let gpud = Daemon::start(
        &bus,
        &infra("exclusive", &lab.project, &machines),
        &fixture,
        Incus::Host,
    )
    .await;
    let client = proxy(&bus).await;
    let claim = anklume_gpu::Claim {
        instance: "gpu-bench".into(),
        project: lab.project.clone(),
        gpu: "GPU-fake-0".into(),
        pci: common::card_pci(0),
        vm: false,
    };
    let (mut trips, mut base) = (Vec::new(), Vec::new());
    for round in 0..INCUS_ROUNDS {
        let t = Instant::now();
        let claimed = client
            .claim("gpu-bench", "0")
            .await
            .map_err(|e| e.to_string())?;
        let released = client
            .release("gpu-bench")
            .await
            .map_err(|e| e.to_string())?;
        trips.push(t.elapsed());
        if !(claimed && released) {
            return Err(format!(
                "round {round}: claim {claimed}, release {released}"
            ));
        }
        let t = Instant::now();
        lab.incus
            .set_device(&lab.project, "gpu-bench", DEVICE_NAME, device_for(&claim))
            .await
            .map_err(|e| e.to_string())?;
        lab.incus
            .remove_device(&lab.project, "gpu-bench", DEVICE_NAME)
            .await
            .map_err(|e| e.to_string())?;
        base.push(t.elapsed());
    }
    let a = stats("Claim + Release (gpud + Incus device)", &mut trips);
    let b = stats("baseline: Incus set_device + remove_device", &mut base);
    println!(
        "  ratio gpud / direct Incus: {:.2}",
        a.as_secs_f64() / b.as_secs_f64()
    );
    drop(gpud);
    drop(lab);
    Ok(())
}
