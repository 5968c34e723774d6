//! How policies become flows: directions, services, machines vs domains,
//! host flows, and a rendering that does not depend on input order.

use anklume_infra::{NestingContext, Protocol, load_str};
use anklume_netpolicy::{Mode, Ruleset, Service, render};

fn ruleset(policies: &str) -> Ruleset {
    let text = format!(
        "project_name: t\nglobal: {{}}\ndomains:\n  admin:\n    subnet_id: 0\n  pro:\n    subnet_id: 2\n    machines:\n      pro-dev: {{ip: 10.100.2.10}}\n      pro-dhcp: {{}}\n  lab:\n    subnet_id: 3\nnetwork_policies:\n{policies}"
    );
    let (infra, report) = load_str(&text, "infra.yml", &NestingContext::default());
    Ruleset::from_infra(&infra.unwrap_or_else(|| panic!("{report:?}")))
}

#[test]
fn no_policy_means_only_the_bridges() {
    let r = ruleset("  []\n");
    assert_eq!(r.interfaces, ["net-admin", "net-lab", "net-pro"]);
    assert!(r.forward.is_empty() && r.host_in.is_empty() && r.host_out.is_empty());
}

#[test]
fn services_follow_ports_and_protocol() {
    let r = ruleset(
        "  - {from: pro, to: lab}\n  - {from: pro, to: lab, protocol: udp}\n  - {from: pro, to: lab, ports: [53, 80], protocol: udp}\n",
    );
    let services: Vec<Service> = r.forward.iter().map(|f| f.service).collect();
    assert!(services.contains(&Service::Any));
    assert!(services.contains(&Service::Protocol(Protocol::Udp)));
    assert!(services.contains(&Service::Port(Protocol::Udp, 53)));
    assert!(services.contains(&Service::Port(Protocol::Udp, 80)));
    assert_eq!(services.len(), 4);
}

#[test]
fn bidirectional_adds_the_reverse_flow_and_machines_carry_their_ip() {
    let r = ruleset("  - {from: pro-dev, to: lab, ports: [22], bidirectional: true}\n");
    let flows: Vec<(String, Option<String>, String)> = r
        .forward
        .iter()
        .map(|f| {
            (
                f.from.interface.clone(),
                f.from.address.map(|a| a.to_string()),
                f.to.interface.clone(),
            )
        })
        .collect();
    assert_eq!(
        flows,
        [
            ("net-lab".to_owned(), None, "net-pro".to_owned()),
            (
                "net-pro".to_owned(),
                Some("10.100.2.10".to_owned()),
                "net-lab".to_owned()
            )
        ]
    );
}

#[test]
fn a_machine_without_ip_stands_for_its_bridge() {
    let r = ruleset("  - {from: pro-dhcp, to: lab, ports: [22]}\n");
    let flow = r.forward.iter().next().unwrap();
    assert_eq!(
        (flow.from.interface.as_str(), flow.from.address),
        ("net-pro", None)
    );
}

#[test]
fn host_policies_become_host_flows_and_same_domain_ones_nothing() {
    let r = ruleset(
        "  - {from: host, to: pro-dev, ports: [22]}\n  - {from: lab, to: host, ports: [9000]}\n  - {from: pro, to: pro-dev}\n",
    );
    assert_eq!(r.host_out.len(), 1);
    assert_eq!(r.host_in.len(), 1);
    assert!(r.forward.is_empty());
    let text = render(&r, Mode::Host);
    assert!(
        text.contains("\"net-pro\" . 10.100.2.10 . tcp . 22"),
        "{text}"
    );
    assert!(text.contains("\"net-lab\" . tcp . 9000"), "{text}");
}

#[test]
fn rendering_is_stable_whatever_the_policy_order() {
    let a = render(
        &ruleset("  - {from: pro, to: lab, ports: [1]}\n  - {from: lab, to: pro, ports: [2]}\n"),
        Mode::Host,
    );
    let b = render(
        &ruleset("  - {from: lab, to: pro, ports: [2]}\n  - {from: pro, to: lab, ports: [1]}\n"),
        Mode::Host,
    );
    assert_eq!(a, b);
}

#[test]
fn flows_go_to_the_set_of_their_kind_and_covered_ones_are_left_out() {
    let r = ruleset(
        "  - {from: pro, to: lab, ports: all}\n  - {from: pro, to: lab, ports: [443]}\n  - {from: lab, to: pro, ports: all, protocol: udp}\n  - {from: lab, to: pro, ports: [53], protocol: udp}\n  - {from: lab, to: pro-dev, ports: [53], protocol: udp}\n  - {from: lab, to: pro, ports: [22]}\n",
    );
    let text = render(&r, Mode::Host);
    // pro → lab is open: a hash pair, and its port 443 adds nothing.
    assert!(text.contains("\"net-pro\" . \"net-lab\""), "{text}");
    assert!(!text.contains("443"), "{text}");
    // lab → pro udp (a whole protocol) covers udp/53, to the domain and
    // to its machine.
    assert!(
        text.contains("elements = { \"net-lab\" . \"net-pro\" . udp }"),
        "{text}"
    );
    assert!(!text.contains(". 53"), "{text}");
    assert!(
        text.contains("elements = { \"net-lab\" . \"net-pro\" . tcp . 22 }"),
        "{text}"
    );
    // Machine to machine on a port: exact, a hash set; a machine to a
    // whole domain: a range, the interval set.
    let r = ruleset(
        "  - {from: pro-dev, to: lab, ports: [80]}\n  - {from: lab, to: pro-dev, ports: [8080]}\n",
    );
    let text = render(&r, Mode::Host);
    assert!(
        text.contains("\"net-pro\" . 10.100.2.10 . 10.100.3.0/24 . tcp . 80"),
        "{text}"
    );
    let r = ruleset("  - {from: pro-dev, to: pro-dev, ports: [80]}\n");
    assert!(r.forward.is_empty(), "same bridge: nothing to open");
}
