//! `cargo bench -p anklume-netpolicy --bench isolation` (part of `make
//! bench`; needs root). Everything runs in throwaway network namespaces.
//!
//! 1. Apply time of the full table for 10, 100 and 250 domains with two
//!    policies per domain: one netlink batch (anklume-nft) against `nft -f`
//!    loading the same text (delete + add, as atomic as ours), medians of
//!    several runs, from nothing and replacing an existing table.
//! 2. Per-packet cost: TCP throughput and TCP connections per second
//!    between two namespaces whose traffic is routed through the forward
//!    hook (a policy allows it), with no ruleset, anklume's table for 2 and
//!    for 250 domains, and the original design (one linear rule per bridge
//!    pair, loaded with nft) for 250 domains.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anklume_infra::{NestingContext, load_str};
use anklume_netpolicy::{Mode, Ruleset, table};
use anklume_nft::{Netlink, Ownership, text};

const RUNS: usize = 7;
const ROUNDS: usize = 7;

fn main() {
    if effective_uid() != 0 {
        eprintln!("isolation bench: needs root (network namespaces, nftables); skipped");
        return;
    }
    apply_times();
    per_packet();
}

/// `n` domains `d000…`, each with one machine, and two policies per
/// domain: the next domain on tcp/443, and the machine two domains on to
/// this domain's machine on udp/53.
fn infra(n: usize) -> String {
    let mut text =
        String::from("project_name: bench\nglobal:\n  base_subnet: '10.240'\ndomains:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  d{i:03}:\n    subnet_id: {i}\n    machines:\n      m{i:03}: {{ip: 10.240.{i}.10}}\n"
        ));
    }
    text.push_str("network_policies:\n");
    if n >= 2 {
        text.push_str("  - {from: d000, to: d001, ports: all}\n");
    }
    for i in 0..n {
        let (next, other) = ((i + 1) % n, (i + 2) % n);
        text.push_str(&format!(
            "  - {{from: d{i:03}, to: d{next:03}, ports: [443]}}\n"
        ));
        text.push_str(&format!(
            "  - {{from: m{other:03}, to: m{i:03}, ports: [53], protocol: udp}}\n"
        ));
    }
    text
}

fn anklume_table(n: usize) -> anklume_nft::ir::Table {
    let (infra, report) = load_str(&infra(n), "infra.yml", &NestingContext::default());
    let infra = infra.unwrap_or_else(|| panic!("bench infra invalid: {:?}", report.errors));
    table(&Ruleset::from_infra(&infra), Mode::Host)
}

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Self {
        let name = format!("ankbench-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(&["ip", "netns", "add", &name]);
        Netns(name)
    }

    /// Runs `f` on a thread inside the namespace; processes it spawns are
    /// in the namespace too.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(format!("/run/netns/{}", self.0)).unwrap();
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }

    fn ip(&self, args: &[&str]) {
        let mut all = vec!["ip", "-n", &self.0];
        all.extend_from_slice(args);
        sh(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nft -f -` with `text` on stdin, from the calling thread's namespace.
fn nft_load(text: &str) {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn apply_times() {
    println!("== apply time of the full table (medians of {RUNS}), netlink batch vs nft -f");
    println!(
        "{:>8} {:>9} {:>9} | {:>14} {:>14} {:>6} | {:>14} {:>14} {:>6}",
        "domains",
        "elements",
        "rules",
        "netlink new",
        "nft -f new",
        "ratio",
        "netlink replace",
        "nft -f replace",
        "ratio"
    );
    for n in [10, 100, 250] {
        let table = anklume_table(n);
        let elements: usize = table.sets.iter().map(|s| s.elements.len()).sum();
        let rules: usize = table.chains.iter().map(|c| c.rules.len()).sum();
        let body = text::render(&table);
        let replace_text = format!("table inet anklume {{}}\ndelete table inet anklume\n{body}");
        let ns = Netns::new("apply");
        let (nl_new, nl_replace, nft_new, nft_replace) = ns.run(|| {
            let mut nl = Netlink::open().unwrap();
            let delete = || nft_load("delete table inet anklume\n");
            let (mut nl_new, mut nl_replace, mut nft_new, mut nft_replace) =
                (vec![], vec![], vec![], vec![]);
            for _ in 0..RUNS {
                let t = Instant::now();
                nl.replace(&table, Ownership::Shared).unwrap();
                nl_new.push(ms(t.elapsed()));
                let t = Instant::now();
                nl.replace(&table, Ownership::Shared).unwrap();
                nl_replace.push(ms(t.elapsed()));
                delete();
                let t = Instant::now();
                nft_load(&body);
                nft_new.push(ms(t.elapsed()));
                let t = Instant::now();
                nft_load(&replace_text);
                nft_replace.push(ms(t.elapsed()));
                delete();
            }
            (
                median(nl_new),
                median(nl_replace),
                median(nft_new),
                median(nft_replace),
            )
        });
        println!(
            "{n:>8} {elements:>9} {rules:>9} | {nl_new:>11.2} ms {nft_new:>11.2} ms {:>5.1}x | {nl_replace:>11.2} ms {nft_replace:>11.2} ms {:>5.1}x",
            nft_new / nl_new,
            nft_replace / nl_replace
        );
    }
}

/// host namespace with bridges net-d000 and net-d001, namespace `a` on
/// the first and `b` on the second: a → b is routed by the host.
struct Topology {
    host: Netns,
    a: Netns,
    b: Netns,
}

impl Topology {
    fn new() -> Self {
        let (host, a, b) = (Netns::new("host"), Netns::new("a"), Netns::new("b"));
        host.ip(&["link", "set", "lo", "up"]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &host.0,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        for (i, ns) in [(0, &a), (1, &b)] {
            let bridge = format!("net-d00{i}");
            let outer = format!("vb{i}-{}", std::process::id() % 100_000);
            host.ip(&["link", "add", &bridge, "type", "bridge"]);
            host.ip(&["addr", "add", &format!("10.240.{i}.254/24"), "dev", &bridge]);
            host.ip(&["link", "set", &bridge, "up"]);
            host.ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &ns.0,
            ]);
            host.ip(&["link", "set", &outer, "master", &bridge, "up"]);
            ns.ip(&["link", "set", "lo", "up"]);
            ns.ip(&["addr", "add", &format!("10.240.{i}.10/24"), "dev", "eth0"]);
            ns.ip(&["link", "set", "eth0", "up"]);
            ns.ip(&["route", "add", "default", "via", &format!("10.240.{i}.254")]);
        }
        Topology { host, a, b }
    }

    /// Bulk TCP a → b for `secs`: MB/s.
    fn throughput(&self, secs: f64) -> f64 {
        let listener = self
            .b
            .run(|| TcpListener::bind("10.240.1.10:5201").unwrap());
        std::thread::scope(|s| {
            let server = s.spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buf = vec![0u8; 1 << 17];
                let mut total = 0u64;
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
                total
            });
            let elapsed = self.a.run(|| {
                let mut stream = TcpStream::connect("10.240.1.10:5201").unwrap();
                let buf = vec![7u8; 1 << 17];
                let start = Instant::now();
                while start.elapsed().as_secs_f64() < secs {
                    stream.write_all(&buf).unwrap();
                }
                stream.shutdown(std::net::Shutdown::Write).unwrap();
                start.elapsed()
            });
            let total = server.join().unwrap();
            total as f64 / elapsed.as_secs_f64() / 1e6
        })
    }

    /// New TCP connections a → b (connect, close) for `secs`: per second.
    fn connections(&self, secs: f64) -> f64 {
        let listener = self
            .b
            .run(|| TcpListener::bind("10.240.1.10:5202").unwrap());
        listener.set_nonblocking(true).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        let done_ref = &done;
        std::thread::scope(|s| {
            s.spawn(move || {
                while !done_ref.load(std::sync::atomic::Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => drop(stream),
                        Err(_) => std::thread::sleep(Duration::from_micros(50)),
                    }
                }
            });
            let count = self.a.run(|| {
                let start = Instant::now();
                let mut count = 0u64;
                while start.elapsed().as_secs_f64() < secs {
                    if TcpStream::connect("10.240.1.10:5202").is_ok() {
                        count += 1;
                    }
                }
                count as f64 / start.elapsed().as_secs_f64()
            });
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            count
        })
    }
}

/// The original design: one rule per ordered pair of bridges, the pairs a
/// policy allows left out, after the usual established shortcut.
fn linear_ruleset(n: usize) -> String {
    let mut text = String::from(
        "table inet anklume_linear {\n\tchain forward {\n\t\ttype filter hook forward priority filter - 10; policy accept;\n\t\tct state established,related accept\n",
    );
    for i in 0..n {
        for j in 0..n {
            if i != j && (i, j) != (0, 1) {
                text.push_str(&format!(
                    "\t\tiifname \"net-d{i:03}\" oifname \"net-d{j:03}\" drop\n"
                ));
            }
        }
    }
    text.push_str("\t}\n}\n");
    text
}

fn per_packet() {
    let topo = Topology::new();
    // Let the links come up.
    for _ in 0..50 {
        if topo
            .a
            .run(|| {
                TcpStream::connect_timeout(
                    &"10.240.1.254:9".parse().unwrap(),
                    Duration::from_millis(100),
                )
            })
            .is_err()
            && topo.a.run(|| {
                Command::new("ping")
                    .args(["-c1", "-W1", "10.240.1.10"])
                    .output()
                    .unwrap()
                    .status
                    .success()
            })
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!();
    println!(
        "== per-packet cost, a (net-d000) -> b (net-d001) routed through the forward hook; \
         the rulesets take turns, {ROUNDS} rounds, medians"
    );
    let linear = linear_ruleset(250);
    let tables = [anklume_table(2), anklume_table(250)];
    let mut netlink = topo.host.run(|| Netlink::open().unwrap());
    let labels = [
        "no ruleset",
        "anklume, 2 domains (the \"1 domain\" figure)",
        "anklume, 250 domains, 500 policies",
        "original: 62,249 linear pair rules (nft)",
    ];
    let mut samples = vec![(Vec::new(), Vec::new()); labels.len()];
    let mut linear_load = Vec::new();
    for _ in 0..ROUNDS {
        for (k, sample) in samples.iter_mut().enumerate() {
            topo.host.run(|| match k {
                0 => {}
                1 | 2 => netlink.replace(&tables[k - 1], Ownership::Shared).unwrap(),
                _ => {
                    let t = Instant::now();
                    nft_load(&linear);
                    linear_load.push(t.elapsed().as_secs_f64());
                }
            });
            sample.0.push(topo.throughput(1.0));
            sample.1.push(topo.connections(0.5));
            topo.host.run(|| match k {
                1 | 2 => nft_load("delete table inet anklume\n"),
                3 => nft_load("delete table inet anklume_linear\n"),
                _ => {}
            });
        }
    }
    let medians: Vec<(f64, f64)> = samples
        .into_iter()
        .map(|(mb, conn)| (median(mb), median(conn)))
        .collect();
    let base = medians[1];
    println!(
        "{:<44} {:>10} {:>8} {:>14} {:>8}",
        "ruleset in force", "TCP MB/s", "vs 1", "connections/s", "vs 1"
    );
    for (label, (mb, conn)) in labels.iter().zip(&medians) {
        println!(
            "{label:<44} {mb:>10.0} {:>7.1}% {conn:>14.0} {:>7.1}%",
            100.0 * mb / base.0,
            100.0 * conn / base.1
        );
    }
    println!(
        "(the linear ruleset takes {:.1} s to load with nft -f)",
        median(linear_load)
    );
}

/// The effective uid, from /proc (no unsafe, no extra nix feature).
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).and_then(|u| u.parse().ok()))
        })
        .unwrap_or(u32::MAX)
}
