//! Concurrent syncs on one base directory take turns (a lock on the
//! directory): the tree always ends up as one complete sync left it.

mod common;

use common::{INFRA, Scratch};

#[test]
fn concurrent_syncs_never_mix_their_trees() {
    let s = Scratch::new();
    let other = INFRA
        .replace("description: Lab\n", "description: Other lab\n")
        .replace("Ansible controller", "Other controller");
    s.write("a.yml", INFRA);
    s.write("b.yml", &other);
    // Reference trees, each from a lone sync.
    assert_eq!(s.run(&["sync", "a.yml", "--base-dir", "ref-a"]).code, 0);
    assert_eq!(s.run(&["sync", "b.yml", "--base-dir", "ref-b"]).code, 0);
    let (ref_a, ref_b) = (s.tree("ref-a"), s.tree("ref-b"));
    assert_ne!(ref_a, ref_b);

    for round in 0..5 {
        let children: Vec<_> = (0..8)
            .map(|i| {
                let infra = if i % 2 == 0 { "a.yml" } else { "b.yml" };
                s.command(&["sync", infra, "--base-dir", "shared"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success(), "round {round}");
        }
        let tree = s.tree("shared");
        assert!(tree == ref_a || tree == ref_b, "round {round}: mixed tree");
    }
}
