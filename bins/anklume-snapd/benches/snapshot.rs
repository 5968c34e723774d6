//! Benchmark: snapshotting a whole domain of 20 running containers.
//!
//! Compares, in the same run and alternating round by round:
//! - "daemon": one `Create("domain:<d>", name)` call to anklume-snapd over
//!   D-Bus (zbus proxy), which snapshots the 20 instances concurrently
//!   (`snapshots.max_parallel: 8`); wall time from call to reply;
//! - "incus CLI": the original Ansible role's way, one
//!   `incus snapshot create --project <d> <instance> <name>` process per
//!   instance, in sequence, each waited for.
//!
//! One unmeasured warm-up round of each way, then 5 measured rounds each;
//! prints median and min–max, the ratio CLI / daemon against the target
//! "≥ 3× faster" (reported, not asserted) and the cost per snapshot.
//! After every round, all 20 snapshots must exist or the bench fails.
//!
//! Run (as root, with Incus up: `tests/harness/incus.sh up`):
//!     cargo bench -p anklume-snapd --bench snapshot
//! The Incus project and its containers are removed when it ends.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anklume_dbus::snapshot::Snapshot1Proxy;
use common::{Daemon, Lab, TestBus};

const ROUNDS: usize = 5;
const INSTANCES: usize = 20;
const TARGET_RATIO: f64 = 3.0;
const CONFIG: &str = "snapshots:\n  max_parallel: 8\n";

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let machines: Vec<String> = (1..=INSTANCES).map(|i| format!("c{i:02}")).collect();
    let refs: Vec<&str> = machines.iter().map(String::as_str).collect();
    let domains: &[(&str, &[&str])] = &[("b", &refs)];

    eprintln!("creating 1 domain of {INSTANCES} running containers…");
    let lab = Lab::new(domains).await;
    // Declared after the lab, so dropped before it (also on a panic).
    let bus = TestBus::start();
    let daemon = Daemon::start(&bus, &lab.infra(domains), CONFIG).await;
    let result = bench(&lab, &bus, &refs).await;
    drop(daemon);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
    // `lab` is dropped here: its projects and containers are deleted.
}

async fn bench(lab: &Lab, bus: &TestBus, machines: &[&str]) -> Result<(), String> {
    let connection = bus.connect().await;
    let proxy = Snapshot1Proxy::new(&connection)
        .await
        .map_err(|e| format!("Snapshot1 proxy: {e}"))?;
    let project = lab.domain("b");
    let instances: Vec<String> = machines.iter().map(|m| lab.machine("b", m)).collect();

    let (mut daemon_times, mut cli_times) = (Vec::new(), Vec::new());
    // Round 0 is a warm-up; the order alternates so that neither way
    // always runs on a pool holding fewer snapshots.
    for round in 0..=ROUNDS {
        for way in [round % 2, 1 - round % 2] {
            let (elapsed, label) = if way == 0 {
                let name = format!("bench-daemon-{round}");
                (daemon_round(&proxy, &project, &name).await?, name)
            } else {
                let name = format!("bench-cli-{round}");
                (cli_round(&project, &instances, &name)?, name)
            };
            verify(lab, &project, &instances, &label).await?;
            let what = if way == 0 { "daemon" } else { "incus CLI" };
            let tag = if round == 0 { " (warm-up)" } else { "" };
            eprintln!("round {round} {what:>9}: {:>8.1} ms{tag}", ms(elapsed));
            if round > 0 && way == 0 {
                daemon_times.push(elapsed);
            } else if round > 0 {
                cli_times.push(elapsed);
            }
        }
    }
    report(&daemon_times, &cli_times);
    Ok(())
}

/// One `Create` call for the whole domain.
async fn daemon_round(
    proxy: &Snapshot1Proxy<'_>,
    project: &str,
    name: &str,
) -> Result<Duration, String> {
    let start = Instant::now();
    let made = proxy
        .create(&format!("domain:{project}"), name)
        .await
        .map_err(|e| format!("Create(domain:{project}, {name}): {e}"))?;
    let elapsed = start.elapsed();
    if made.len() != INSTANCES {
        return Err(format!(
            "Create(domain:{project}, {name}) reported {} snapshots, expected {INSTANCES}: {made:?}",
            made.len()
        ));
    }
    Ok(elapsed)
}

/// One `incus snapshot create` process per instance, one after another.
fn cli_round(project: &str, instances: &[String], name: &str) -> Result<Duration, String> {
    let start = Instant::now();
    for instance in instances {
        let out = Command::new("incus")
            .args(["snapshot", "create", "--project", project, instance, name])
            .output()
            .map_err(|e| format!("running incus: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "incus snapshot create {project}/{instance} {name}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(start.elapsed())
}

/// Every instance has the snapshot `name`.
async fn verify(lab: &Lab, project: &str, instances: &[String], name: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    for instance in instances {
        let snapshots = lab
            .incus
            .snapshots(project, instance)
            .await
            .map_err(|e| format!("listing snapshots of {project}/{instance}: {e}"))?;
        if !snapshots.iter().any(|s| s.name == name) {
            missing.push(instance.as_str());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "snapshot '{name}' missing on {} of {INSTANCES} instances: {}",
            missing.len(),
            missing.join(", ")
        ))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (median, min, max) in milliseconds.
fn stats(times: &[Duration]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = times.iter().copied().map(ms).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

fn report(daemon: &[Duration], cli: &[Duration]) {
    let (d, d_min, d_max) = stats(daemon);
    let (c, c_min, c_max) = stats(cli);
    let ratio = c / d;
    let n = INSTANCES as f64;
    println!();
    println!(
        "snapshot of 1 domain, {INSTANCES} running containers, {ROUNDS} rounds each (median, min–max)"
    );
    println!(
        "{:<28} {:>10} {:>21} {:>14}",
        "way", "median ms", "min–max ms", "ms / snapshot"
    );
    println!(
        "{:<28} {d:>10.1} {:>21} {:>14.1}",
        "daemon (1 D-Bus Create)",
        format!("{d_min:.1}–{d_max:.1}"),
        d / n
    );
    println!(
        "{:<28} {c:>10.1} {:>21} {:>14.1}",
        format!("incus CLI ({INSTANCES} processes)"),
        format!("{c_min:.1}–{c_max:.1}"),
        c / n
    );
    let verdict = if ratio >= TARGET_RATIO {
        "PASS"
    } else {
        "FAIL"
    };
    println!("ratio CLI / daemon: {ratio:.2}×  (target ≥ {TARGET_RATIO}× faster: {verdict})");
}
