//! The shipped polkit actions (`policy/polkit-1/`): one per operation,
//! named as the interfaces say, and each owned by its daemon's user —
//! polkitd answers "Only trusted callers (e.g. uid 0 or an action owner)
//! can use CheckAuthorization()" to any other non-root caller, so without
//! `org.freedesktop.policykit.owner` polkit could never say yes.

use std::path::{Path, PathBuf};

const POLICIES: [(&str, &[&str], &str); 3] = [
    (
        "policy/polkit-1/org.anklume.snapshot.policy",
        &[anklume_dbus::snapshot::MANAGE_ACTION],
        "anklume-snapd.service",
    ),
    (
        "policy/polkit-1/org.anklume.network.policy",
        &[
            anklume_dbus::network::APPLY_ACTION,
            anklume_dbus::network::WITHDRAW_ACTION,
        ],
        "anklume-netd.service",
    ),
    (
        "policy/polkit-1/org.anklume.gpu.policy",
        &[anklume_dbus::gpu::CLAIM_ACTION],
        "anklume-gpud.service",
    ),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `User=` of a unit.
fn unit_user(unit: &str) -> String {
    read(&format!("units/{unit}"))
        .lines()
        .find_map(|l| l.strip_prefix("User="))
        .unwrap_or_else(|| panic!("{unit} has no User="))
        .to_owned()
}

/// Each `<action id="…">…</action>` block of a policy file.
fn actions(policy: &str) -> Vec<(String, String)> {
    policy
        .split("<action id=\"")
        .skip(1)
        .map(|rest| {
            let (id, body) = rest.split_once('"').unwrap();
            let body = body.split("</action>").next().unwrap();
            (id.to_owned(), body.to_owned())
        })
        .collect()
}

#[test]
fn every_action_is_owned_by_its_daemons_user() {
    let sysusers = read("units/anklume.sysusers");
    for (file, wanted, unit) in POLICIES {
        let user = unit_user(unit);
        assert!(
            sysusers
                .lines()
                .any(|l| l.split_whitespace().take(2).eq(["u", user.as_str()])),
            "{user} is not created by anklume.sysusers"
        );
        let found = actions(&read(file));
        let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, wanted, "{file}");
        for (id, body) in &found {
            let owner = format!(
                "<annotate key=\"org.freedesktop.policykit.owner\">unix-user:{user}</annotate>"
            );
            assert!(body.contains(&owner), "{file}: {id} lacks {owner}");
        }
    }
}

/// polkitd skips a file it cannot parse: each must be well-formed XML
/// (checked with python3's parser, a test dependency).
#[test]
fn the_policy_files_are_well_formed_xml() {
    for (file, _, _) in POLICIES {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])",
            ])
            .arg(repo().join(file))
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
