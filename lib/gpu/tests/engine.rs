//! The claim logic over the in-memory doubles: policies, passthrough,
//! overcommit, write-ahead, reconciliation, and the rules read from a
//! real infra file.

use std::collections::BTreeMap;
use std::sync::Arc;

use anklume_gpu::{
    ClaimsFile, Engine, EngineError, GpuInstance, GpuRules, MemoryDevices, MemoryGpus,
    gpu_instances,
};
use anklume_infra::{GpuPolicy, InstanceType, NestingContext};

const GIB: u64 = 1 << 30;

fn rules(policy: GpuPolicy, instances: &[(&str, InstanceType, Option<u64>)]) -> GpuRules {
    GpuRules {
        policy,
        instances: instances
            .iter()
            .map(|(name, instance_type, declared_vram)| {
                (
                    (*name).to_owned(),
                    GpuInstance {
                        name: (*name).to_owned(),
                        project: "ai".into(),
                        instance_type: *instance_type,
                        declared_vram: *declared_vram,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

fn engine(
    cards: usize,
    dir: &std::path::Path,
) -> (Engine<MemoryGpus, Arc<MemoryDevices>>, Arc<MemoryDevices>) {
    let gpus = MemoryGpus::new(
        (0..cards as u32)
            .map(|i| MemoryGpus::card(i, 8 * GIB))
            .collect(),
    );
    let devices = Arc::new(MemoryDevices::with_instances(&[
        ("ai", "a"),
        ("ai", "b"),
        ("ai", "c"),
        ("ai", "vm1"),
    ]));
    let engine = Engine::open(Ok(gpus), Arc::clone(&devices), ClaimsFile::in_dir(dir)).unwrap();
    (engine, devices)
}

const LXC: InstanceType = InstanceType::Lxc;

#[tokio::test]
async fn exclusive_gives_each_card_one_holder_and_busy_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, devices) = engine(2, dir.path());
    let r = rules(
        GpuPolicy::Exclusive,
        &[("a", LXC, None), ("b", LXC, None), ("c", LXC, None)],
    );
    let a = engine.claim(&r, "a", "").await.unwrap();
    assert_eq!((a.claim.gpu.as_str(), a.changed), ("GPU-test-0", true));
    let device = devices.device("ai", "a").unwrap();
    assert_eq!(device["pci"], "0000:01:00.0");
    assert_eq!(device["gputype"], "physical");
    // Again: nothing changes.
    assert!(!engine.claim(&r, "a", "").await.unwrap().changed);
    // By index, the held card is refused with the holder's name.
    let e = engine.claim(&r, "b", "0").await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Busy(m) if m.contains("held by a")),
        "{e:?}"
    );
    // "" finds the free one.
    assert_eq!(
        engine.claim(&r, "b", "").await.unwrap().claim.gpu,
        "GPU-test-1"
    );
    let e = engine.claim(&r, "c", "").await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Busy(m) if m.contains("no GPU is free")),
        "{e:?}"
    );
    // A release frees the card and removes the device.
    assert_eq!(
        engine.release("a").await.unwrap().unwrap().gpu,
        "GPU-test-0"
    );
    assert!(devices.device("ai", "a").is_none());
    assert_eq!(engine.release("a").await.unwrap(), None);
    assert_eq!(
        engine.claim(&r, "c", "GPU-test-0").await.unwrap().claim.gpu,
        "GPU-test-0"
    );
}

#[tokio::test]
async fn shared_lets_several_hold_a_card_and_reports_declared_overcommit() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine(1, dir.path());
    let r = rules(
        GpuPolicy::Shared,
        &[
            ("a", LXC, Some(5 * GIB)),
            ("b", LXC, Some(4 * GIB)),
            ("c", LXC, None),
        ],
    );
    let a = engine.claim(&r, "a", "").await.unwrap();
    assert!(a.overcommits.is_empty());
    let b = engine.claim(&r, "b", "GPU-test-0").await.unwrap();
    assert_eq!(b.overcommits.len(), 1);
    let over = &b.overcommits[0];
    assert_eq!((over.needed, over.total), (9 * GIB, 8 * GIB));
    assert_eq!(over.holders, vec!["a", "b"]);
    assert!(engine.claim(&r, "c", "").await.unwrap().changed);
    assert_eq!(engine.claims().len(), 3);
}

#[tokio::test]
async fn only_the_infras_gpu_instances_may_claim_and_unknown_cards_are_no_device() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine(1, dir.path());
    let r = rules(GpuPolicy::Shared, &[("a", LXC, None)]);
    let e = engine.claim(&r, "b", "").await.unwrap_err();
    assert!(
        matches!(&e, EngineError::NotAllowed(m) if m.contains("not a GPU instance")),
        "{e:?}"
    );
    let e = engine.claim(&r, "a", "GPU-nope").await.unwrap_err();
    assert!(
        matches!(&e, EngineError::NoDevice(m) if m.contains("GPU-nope")),
        "{e:?}"
    );
    let e = engine.claim(&r, "a", "7").await.unwrap_err();
    assert!(matches!(e, EngineError::NoDevice(_)));
}

#[tokio::test]
async fn a_vm_takes_its_card_whole_even_when_shared() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = engine(1, dir.path());
    let r = rules(
        GpuPolicy::Shared,
        &[("a", LXC, None), ("vm1", InstanceType::Vm, None)],
    );
    assert!(engine.claim(&r, "vm1", "").await.unwrap().claim.vm);
    let e = engine.claim(&r, "a", "").await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Busy(m) if m.contains("passed through to the VM 'vm1'")),
        "{e:?}"
    );
    engine.release("vm1").await.unwrap();
    engine.claim(&r, "a", "").await.unwrap();
    let e = engine.claim(&r, "vm1", "").await.unwrap_err();
    assert!(
        matches!(&e, EngineError::Busy(m) if m.contains("a VM takes its GPU whole")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_refused_device_leaves_no_claim_and_claims_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let r = rules(GpuPolicy::Exclusive, &[("a", LXC, None), ("b", LXC, None)]);
    {
        let (engine, devices) = engine(2, dir.path());
        *devices.fail_attach.lock().unwrap() = Some("Incus says no".into());
        let e = engine.claim(&r, "a", "").await.unwrap_err();
        assert_eq!(e, EngineError::Incus("Incus says no".into()));
        assert!(engine.claims().is_empty());
        *devices.fail_attach.lock().unwrap() = None;
        engine.claim(&r, "a", "1").await.unwrap();
        engine.claim(&r, "b", "0").await.unwrap();
    }
    let (engine, devices) = engine(2, dir.path());
    let held: Vec<_> = engine
        .claims()
        .into_iter()
        .map(|c| (c.instance, c.gpu))
        .collect();
    assert_eq!(
        held,
        vec![
            ("a".into(), "GPU-test-1".into()),
            ("b".into(), "GPU-test-0".into())
        ]
    );
    // b was deleted meanwhile; a's device is missing (the new double is empty).
    devices.delete("ai", "b");
    let done = engine.reconcile().await.unwrap();
    assert_eq!(done.dropped.len(), 1);
    assert_eq!(done.dropped[0].instance, "b");
    assert_eq!(done.repaired.len(), 1);
    assert!(devices.device("ai", "a").is_some());
    assert_eq!(engine.claims().len(), 1);
    let (again, _) = self::engine(2, dir.path());
    assert_eq!(again.claims().len(), 1, "the drop was saved");
}

#[tokio::test]
async fn without_a_driver_gpu_calls_say_no_device_and_releases_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let engine: Engine<MemoryGpus, MemoryDevices> = Engine::open(
        Err(anklume_gpu::GpuError::NoDevice("no NVIDIA driver".into())),
        MemoryDevices::default(),
        ClaimsFile::in_dir(dir.path()),
    )
    .unwrap();
    let r = rules(GpuPolicy::Exclusive, &[("a", LXC, None)]);
    assert!(matches!(engine.gpus(), Err(EngineError::NoDevice(_))));
    assert!(matches!(
        engine.claim(&r, "a", "").await,
        Err(EngineError::NoDevice(_))
    ));
    assert_eq!(engine.release("a").await.unwrap(), None);
}

#[test]
fn the_rules_come_from_the_infra_gpu_true_or_a_gpu_profile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("infra.yml");
    std::fs::write(
        &path,
        r#"project_name: t
global:
  gpu_policy: shared
domains:
  ai:
    subnet_id: 1
    profiles:
      nvidia-compute:
        devices:
          gpu:
            type: gpu
            gputype: physical
    machines:
      ai-one:
        gpu: true
        config:
          user.anklume.gpu_vram: 6GiB
      ai-two:
        profiles: [default, nvidia-compute]
      ai-vm:
        type: vm
        gpu: true
      ai-cpu: {}
"#,
    )
    .unwrap();
    let infra = anklume_infra::load_valid(&path, &NestingContext::from_env()).unwrap();
    let r = gpu_instances(&infra).unwrap();
    assert_eq!(r.policy, GpuPolicy::Shared);
    let names: Vec<_> = r.instances.keys().cloned().collect();
    assert_eq!(names, vec!["ai-one", "ai-two", "ai-vm"]);
    assert_eq!(r.instances["ai-one"].declared_vram, Some(6 * GIB));
    assert_eq!(r.instances["ai-one"].project, "ai");
    assert_eq!(r.instances["ai-vm"].instance_type, InstanceType::Vm);
}
