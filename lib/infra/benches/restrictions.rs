//! Cost of deriving every domain's project restrictions, against the cost
//! of loading (parsing and validating) the same infra in the same run: 250
//! domains x 40 machines, each with config, a host-path disk and a NIC on
//! another bridge. Medians of 15; prints both and the ratio.
//!
//! Run: `cargo bench -p anklume-infra --bench restrictions`.

use std::time::{Duration, Instant};

use anklume_infra::{NestingContext, load_str, restrictions};

fn infra_text() -> String {
    let mut out = String::from(
        "project_name: bench\nglobal:\n  gpu_policy: shared\n  default_os_image: img\ndomains:\n",
    );
    for d in 0..250 {
        out.push_str(&format!(
            "  d{d}:\n    subnet_id: {d}\n    profiles:\n      nest:\n        config:\n          \
             security.nesting: true\n    machines:\n"
        ));
        for m in 0..40 {
            out.push_str(&format!(
                "      d{d}-m{m}:\n        ip: 10.100.{d}.{}\n        config: {{limits.cpu: '1'}}\n        \
                 devices: {{data: {{type: disk, source: /srv/d{d}/m{m}, path: /data}}, eth1: {{type: nic, \
                 network: net-d{}}}}}\n",
                m + 1,
                (d + 1) % 250
            ));
        }
    }
    out
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn main() {
    let text = infra_text();
    let context = NestingContext::default();
    let mut load_times = vec![];
    let mut derive_times = vec![];
    let mut keys = 0;
    for _ in 0..15 {
        let start = Instant::now();
        let (infra, report) = load_str(&text, "infra.yml", &context);
        load_times.push(start.elapsed());
        let infra = infra.unwrap_or_else(|| panic!("{:?}", report.errors));
        let start = Instant::now();
        let derived = restrictions::derive_all(&infra);
        derive_times.push(start.elapsed());
        keys = derived.iter().map(|r| r.config.len()).sum::<usize>();
    }
    let (load, derive) = (median(load_times), median(derive_times));
    println!("250 domains x 40 machines ({keys} restriction keys derived)");
    println!("load (parse + validate, derivation included): {load:?}");
    println!("derive_all alone:                             {derive:?}");
    println!(
        "ratio derive/load: {:.3}",
        derive.as_secs_f64() / load.as_secs_f64()
    );
}
