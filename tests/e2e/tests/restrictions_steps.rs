//! The two steps of the incus_projects role's restrictions
//! (`module_utils/restrictions.py`), on their own: the loosening step
//! never closes anything and never opens every host path; the exact step
//! unsets only the derived keys; the disk level and its paths go together.

use std::process::Command;

use anklume_e2e::{repo_root, text};

const CHECKS: &str = r#"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("r", sys.argv[1])
r = importlib.util.module_from_spec(spec); spec.loader.exec_module(r)
closed = {"restricted": "true", "restricted.devices.disk": "managed",
          "restricted.containers.nesting": "block", "restricted.networks.access": "net-a"}
opened = dict(closed, **{"restricted.devices.disk": "allow", "restricted.devices.disk.paths": "/srv",
          "restricted.containers.nesting": "allow", "restricted.networks.access": "net-a,net-b"})
# Loosening towards what is wanted: exactly the new allowances.
assert r.relaxed(closed, opened) == {"restricted.containers.nesting": "allow",
    "restricted.devices.disk": "allow", "restricted.devices.disk.paths": "/srv",
    "restricted.networks.access": "net-a,net-b"}, r.relaxed(closed, opened)
# Loosening never closes what is open now.
assert r.relaxed(opened, closed) == {}, r.relaxed(opened, closed)
# Two path sets: their union, never an empty list (= every path).
assert r.relaxed(dict(opened, **{"restricted.devices.disk.paths": "/old"}), opened) == \
    {"restricted.devices.disk.paths": "/srv,/old"}
# A project not restricted yet is left to the exact step (after the instances).
assert r.relaxed({}, opened) == {}
# Exact: back to closed, disk.paths unset; a key anklume does not derive stays.
cur = dict(opened, **{"restricted.networks.uplinks": "x"})
assert r.exact(cur, closed) == {"restricted.devices.disk": "managed",
    "restricted.containers.nesting": "block", "restricted.networks.access": "net-a",
    "restricted.devices.disk.paths": None}, r.exact(cur, closed)
# Applied key by key, the disk level and its paths are one unit.
assert r.units(r.exact(cur, closed))[0] == {"restricted.devices.disk": "managed",
    "restricted.devices.disk.paths": None}
assert r.exact(closed, closed) == {} and r.relaxed(closed, closed) == {}
print("ok")
"#;

#[test]
fn loosen_then_exact_never_open_more_than_either_side() {
    let module = repo_root().join(
        "ansible/collections/ansible_collections/anklume/incus/plugins/module_utils/restrictions.py",
    );
    let out = Command::new("python3")
        .args(["-c", CHECKS])
        .arg(module)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
