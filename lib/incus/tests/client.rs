//! The Incus client against the real daemon: operations are waited for,
//! Incus's own messages come through, project scoping holds. Needs root and
//! Incus (`tests/harness/incus.sh up`); works in its own project, removed
//! at the end even on failure.

use anklume_incus::{IncusClient, IncusError, InstanceCreate};

const IMAGE: &str = "anklume-test-busybox";

struct Project(String);

impl Drop for Project {
    fn drop(&mut self) {
        let harness =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/harness/incus.sh");
        let _ = std::process::Command::new(harness)
            .args(["clean", &self.0])
            .status();
    }
}

#[tokio::test]
async fn snapshot_lifecycle_and_incus_errors() {
    let incus = IncusClient::new(anklume_incus::DEFAULT_SOCKET).unwrap();
    let server = incus
        .server()
        .await
        .expect("Incus answers (tests/harness/incus.sh up)");
    assert_eq!(server.api_version, "1.0");

    let project = Project(format!("tcl{:05x}", std::process::id() & 0xfffff));
    let p = project.0.as_str();
    assert!(!incus.project_exists(p).await.unwrap());
    // A project that does not exist is not-found, not an empty list.
    assert!(incus.instances(p).await.unwrap_err().is_not_found());
    incus.create_project(p, "anklume-incus test").await.unwrap();
    assert!(incus.project_exists(p).await.unwrap());
    assert!(incus.instances(p).await.unwrap().is_empty());

    incus
        .create_instance(p, &InstanceCreate::container("c1", IMAGE))
        .await
        .unwrap();
    let listed = incus.instances(p).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].status.as_str()),
        ("c1", "Running")
    );
    // Project scoping: the default project does not see it.
    assert!(
        !incus
            .instances("default")
            .await
            .unwrap()
            .iter()
            .any(|i| i.name == "c1")
    );

    let out = incus
        .exec(
            p,
            "c1",
            &["sh", "-c", "echo one > /root/f; echo err >&2; exit 3"],
        )
        .await
        .unwrap();
    assert_eq!(
        (out.status, out.stdout.as_str(), out.stderr.as_str()),
        (3, "", "err\n")
    );
    incus.create_snapshot(p, "c1", "s1").await.unwrap();
    incus
        .exec(p, "c1", &["sh", "-c", "echo two > /root/f"])
        .await
        .unwrap();
    let snapshots = incus.snapshots(p, "c1").await.unwrap();
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0].name, "s1");
    assert!(snapshots[0].created_unix() > 1_700_000_000);

    incus.restore_snapshot(p, "c1", "s1").await.unwrap();
    assert_eq!(incus.read_file(p, "c1", "/root/f").await.unwrap(), "one\n");

    // Incus's own words come through, for direct errors...
    let err = incus.create_snapshot(p, "nope", "s1").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("Instance not found"), "{err}");
    // ...and for failed background operations.
    let err = incus.create_snapshot(p, "c1", "s1").await.unwrap_err();
    assert!(matches!(err, IncusError::Operation { .. }), "{err:?}");
    assert!(
        err.to_string().contains("UNIQUE constraint failed"),
        "{err}"
    );
    let err = incus
        .restore_snapshot(p, "c1", "missing")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    incus.delete_snapshot(p, "c1", "s1").await.unwrap();
    assert!(incus.snapshots(p, "c1").await.unwrap().is_empty());
    assert!(
        incus
            .delete_snapshot(p, "c1", "s1")
            .await
            .unwrap_err()
            .is_not_found()
    );

    incus.set_state(p, "c1", "stop", true).await.unwrap();
    incus.delete_instance(p, "c1").await.unwrap();
    incus.delete_project(p).await.unwrap();
}

#[tokio::test]
async fn an_instances_own_devices_are_set_and_removed_idempotently() {
    let incus = IncusClient::new(anklume_incus::DEFAULT_SOCKET).unwrap();
    let project = Project(format!("tcd{:05x}", std::process::id() & 0xfffff));
    let p = project.0.as_str();
    incus.create_project(p, "anklume-incus test").await.unwrap();
    let mut stopped = InstanceCreate::container("d1", IMAGE);
    stopped.start = Some(false);
    incus.create_instance(p, &stopped).await.unwrap();
    assert_eq!(incus.instance_devices(p, "nope").await.unwrap(), None);

    let device: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"type": "gpu", "gputype": "physical", "pci": "0000:41:00.0"}"#)
            .unwrap();
    assert!(
        incus
            .set_device(p, "d1", "gpu", device.clone())
            .await
            .unwrap()
    );
    assert!(
        !incus
            .set_device(p, "d1", "gpu", device.clone())
            .await
            .unwrap(),
        "same device: no write"
    );
    let devices = incus.instance_devices(p, "d1").await.unwrap().unwrap();
    assert_eq!(devices["gpu"], serde_json::Value::Object(device));
    assert!(incus.remove_device(p, "d1", "gpu").await.unwrap());
    assert!(!incus.remove_device(p, "d1", "gpu").await.unwrap());
    assert!(
        incus
            .instance_devices(p, "d1")
            .await
            .unwrap()
            .unwrap()
            .get("gpu")
            .is_none()
    );
    // A missing instance is not-found.
    let e = incus.remove_device(p, "nope", "gpu").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
}
