//! The table of an infra whose policies overlap (a domain pair open to
//! everything and to one port, a machine inside a domain flow, the same
//! flow twice through `bidirectional`) loads into the kernel over netlink,
//! and `nft list` shows exactly the preview. Needs root; the namespace is
//! removed on drop.

use std::process::Command;

use anklume_infra::{NestingContext, load_str};
use anklume_netpolicy::{Mode, Ruleset, render, table};
use anklume_nft::{Netlink, Ownership};

const INFRA: &str = "project_name: t
global:
  base_subnet: '10.250'
domains:
  admin:
    subnet_id: 0
  pro:
    subnet_id: 1
    machines:
      pro-dev: {ip: 10.250.1.10}
  lab:
    subnet_id: 2
    machines:
      lab-web: {ip: 10.250.2.10}
network_policies:
  - {from: pro, to: lab, ports: all}
  - {from: pro, to: lab, ports: [443]}
  - {from: pro-dev, to: lab, ports: [22]}
  - {from: pro-dev, to: lab-web, ports: [22]}
  - {from: lab-web, to: pro-dev, ports: [8080], protocol: udp}
  - {from: lab, to: pro-dev, ports: all, protocol: udp}
  - {from: admin, to: lab, ports: [22], bidirectional: true}
  - {from: lab, to: admin, ports: [22]}
  - {from: lab, to: host, ports: [9000]}
  - {from: lab, to: host, ports: all}
  - {from: host, to: pro-dev, ports: [22]}
";

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn sorted_lines(text: &str) -> Vec<String> {
    // Element order is the kernel's; compare the lines as a multiset,
    // splitting element lists into one element per line.
    let mut lines: Vec<String> = text
        .replace("elements = { ", "")
        .split([',', '\n'])
        .map(|l| l.trim().trim_end_matches(" }").to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

#[test]
fn overlapping_policies_load_and_list_as_previewed() {
    let (infra, report) = load_str(INFRA, "infra.yml", &NestingContext::default());
    let infra = infra.unwrap_or_else(|| panic!("{:?}", report.errors));
    for mode in [Mode::Host, Mode::FirewallVm] {
        let ruleset = match mode {
            Mode::Host => Ruleset::from_infra(&infra),
            Mode::FirewallVm => Ruleset::for_firewall_vm(&infra),
        };
        let ns = Netns(format!("anknp-{mode:?}-{}", std::process::id()));
        let _ = Command::new("ip").args(["netns", "del", &ns.0]).output();
        assert!(
            Command::new("ip")
                .args(["netns", "add", &ns.0])
                .status()
                .unwrap()
                .success()
        );
        let applied = std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(format!("/run/netns/{}", ns.0)).unwrap();
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                Netlink::open()?.replace(&table(&ruleset, mode), Ownership::Shared)
            })
            .join()
            .unwrap()
        });
        applied.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let out = Command::new("ip")
            .args([
                "netns", "exec", &ns.0, "nft", "list", "table", "inet", "anklume",
            ])
            .output()
            .unwrap();
        let listed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            sorted_lines(&listed),
            sorted_lines(&render(&ruleset, mode)),
            "{listed}"
        );
    }
}
