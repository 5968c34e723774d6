//! `nat:` (per domain) and `global.nat`: outbound NAT of domain bridges,
//! written by the generator as `domain_nat` only when the infra says.

use anklume_infra::{NestingContext, load_str};

fn nats(global: &str, b: &str) -> (Vec<Option<bool>>, Vec<String>) {
    let text = format!(
        "project_name: t\nglobal:\n  base_subnet: '10.9'\n{global}domains:\n  a: {{subnet_id: 1}}\n  b: {{subnet_id: 2{b}}}\n"
    );
    let (infra, report) = load_str(&text, "infra.yml", &NestingContext::default());
    (
        infra
            .map(|i| i.domains.iter().map(|d| d.nat).collect())
            .unwrap_or_default(),
        report.errors.iter().map(ToString::to_string).collect(),
    )
}

#[test]
fn a_domain_says_else_global_says_else_nothing() {
    assert_eq!(nats("", ""), (vec![None, None], vec![]));
    assert_eq!(
        nats("  nat: false\n", ""),
        (vec![Some(false), Some(false)], vec![])
    );
    assert_eq!(
        nats("  nat: false\n", ", nat: true"),
        (vec![Some(false), Some(true)], vec![])
    );
    assert_eq!(nats("", ", nat: no"), (vec![None, Some(false)], vec![]));
    assert_eq!(
        nats("  nat: null\n", ", nat: null"),
        (vec![None, None], vec![])
    );
}

#[test]
fn a_nat_that_is_no_boolean_is_an_error_with_its_location() {
    let (_, errors) = nats("  nat: sometimes\n", ", nat: 3");
    assert_eq!(
        errors,
        [
            "infra.yml:4:8: global.nat must be a boolean, got str",
            "infra.yml:7:26: Domain 'b': nat must be a boolean, got int",
        ]
    );
}
