//! `global.uplinks`: the interfaces domain bridges may use to reach the
//! outside, when the user names them instead of letting anklume-netd
//! follow the host's default routes.

use anklume_infra::{NestingContext, load_str};

fn load(global: &str) -> (Option<Vec<String>>, Vec<String>) {
    let text = format!(
        "project_name: t\nglobal:\n  base_subnet: '10.9'\n{global}domains:\n  a: {{subnet_id: 1}}\n"
    );
    let (infra, report) = load_str(&text, "infra.yml", &NestingContext::default());
    (
        infra.and_then(|i| i.global.uplinks),
        report.errors.iter().map(ToString::to_string).collect(),
    )
}

#[test]
fn absent_means_follow_the_default_routes() {
    assert_eq!(load(""), (None, vec![]));
    assert_eq!(load("  uplinks: null\n"), (None, vec![]));
}

#[test]
fn a_list_of_names_is_sorted_and_deduplicated() {
    assert_eq!(
        load("  uplinks: [wlan0, eth0, eth0]\n"),
        (Some(vec!["eth0".into(), "wlan0".into()]), vec![])
    );
    // An empty list: no way out at all.
    assert_eq!(load("  uplinks: []\n"), (Some(vec![]), vec![]));
}

#[test]
fn bad_names_are_refused_with_their_location() {
    let (_, errors) = load("  uplinks: eth0\n");
    assert_eq!(
        errors,
        ["infra.yml:4:12: global.uplinks must be a list of interface names, got str"]
    );
    let (_, errors) = load("  uplinks: [net-pro, averyveryverylongname, 'a b', [x]]\n");
    assert_eq!(
        errors,
        [
            "infra.yml:4:13: global.uplinks: 'net-pro' is a domain bridge name (anklume's net-* scheme), not an uplink",
            "infra.yml:4:22: global.uplinks: 'averyveryverylongname' must be 1 to 15 characters long (the kernel's limit)",
            "infra.yml:4:45: global.uplinks: 'a b' must not contain '/', ':' or blanks",
            "infra.yml:4:52: global.uplinks: '[x]' must be a string, got list",
        ]
    );
}
