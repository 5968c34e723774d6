//! Benchmark: the proxy's cost against talking to incusd directly, in the
//! same run, rounds alternating:
//! - `GET /1.0/instances?recursion=1` of a project of 20 containers, from
//!   8 keep-alive clients at once: requests/s and p99 latency;
//! - an exec round trip (`POST …/exec` of `true` with recorded output,
//!   then `GET /1.0/operations/<id>/wait`), one after the other: p50/p99.
//!
//! Targets (reported, not asserted): proxy throughput ≥ 90% of direct,
//! p99 overhead < 1 ms.
//!
//! Run (as root, with Incus up: `tests/harness/incus.sh up`):
//!     cargo bench -p anklume-proxy --bench proxy
//! Its project and containers are removed when it ends.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixStream;

const INSTANCES: usize = 20;
const CLIENTS: usize = 8;
const LIST_REQUESTS: usize = 800;
const EXECS: usize = 200;
const ROUNDS: usize = 3;
const INCUS: &str = "/var/lib/incus/unix.socket";

struct Lab(String);

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 1..=INSTANCES {
            let _ = common::direct(&[
                "delete",
                "--force",
                &format!("c{i:02}"),
                "--project",
                &self.0,
            ]);
        }
        let _ = common::direct(&["project", "delete", &self.0]);
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(socket: &Path) -> Sender {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

async fn request(s: &mut Sender, method: &str, uri: &str, body: &str) -> (u16, Bytes) {
    s.ready().await.unwrap();
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "incus")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = s.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// 8 clients, LIST_REQUESTS lists in all: (requests/s, latencies).
async fn lists(socket: PathBuf, project: &str) -> (f64, Vec<Duration>) {
    let uri = format!("/1.0/instances?project={project}&recursion=1");
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (socket, uri) = (socket.clone(), uri.clone());
            tokio::spawn(async move {
                let mut s = connect(&socket).await;
                let mut lat = Vec::new();
                for _ in 0..LIST_REQUESTS / CLIENTS {
                    let t = Instant::now();
                    let (status, body) = request(&mut s, "GET", &uri, "").await;
                    assert_eq!(status, 200);
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(v["metadata"].as_array().unwrap().len(), INSTANCES);
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

/// One exec round trip (POST exec, then wait for its operation).
async fn exec_once(s: &mut Sender, project: &str) -> Duration {
    let body = r#"{"command":["true"],"wait-for-websocket":false,"interactive":false,"record-output":true}"#;
    let t = Instant::now();
    let (status, op) = request(
        s,
        "POST",
        &format!("/1.0/instances/c01/exec?project={project}"),
        body,
    )
    .await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&op));
    let op: Value = serde_json::from_slice(&op).unwrap();
    let wait = format!("{}/wait?timeout=30", op["operation"].as_str().unwrap());
    let (status, done) = request(s, "GET", &wait, "").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&done));
    t.elapsed()
}

/// Exec round trips direct and through the proxy, interleaved (the order
/// alternating) so both series see the same load on the machine.
async fn execs(direct: PathBuf, proxy: PathBuf, project: &str) -> (Vec<Duration>, Vec<Duration>) {
    let (mut d, mut p) = (connect(&direct).await, connect(&proxy).await);
    let (mut d_lat, mut p_lat) = (Vec::new(), Vec::new());
    for i in 0..EXECS {
        if i % 2 == 0 {
            d_lat.push(exec_once(&mut d, project).await);
            p_lat.push(exec_once(&mut p, project).await);
        } else {
            p_lat.push(exec_once(&mut p, project).await);
            d_lat.push(exec_once(&mut d, project).await);
        }
    }
    (d_lat, p_lat)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let project = format!("pb{}", common::tag());
    let lab = Lab(project.clone());
    eprintln!("creating project {project} with {INSTANCES} containers…");
    let ok = |out: std::process::Output| assert!(out.status.success(), "{}", common::text(&out));
    ok(common::direct(&[
        "project",
        "create",
        &project,
        "-c",
        "features.profiles=false",
        "-c",
        "features.images=false",
    ]));
    for i in 1..=INSTANCES {
        ok(common::direct(&[
            "init",
            "anklume-test-busybox",
            &format!("c{i:02}"),
            "--project",
            &project,
            "--storage",
            "default",
            "--no-profiles",
        ]));
    }
    ok(common::direct(&["start", "c01", "--project", &project]));
    let dir = tempfile::tempdir().unwrap();
    let machines: String = (1..=INSTANCES)
        .map(|i| format!("      c{i:02}: {{type: lxc}}\n"))
        .collect();
    let infra = dir.path().join("infra.yml");
    std::fs::write(&infra, format!(
        "project_name: b\nglobal: {{default_os_image: anklume-test-busybox}}\ndomains:\n  {project}:\n    subnet_id: 1\n    machines:\n{machines}"
    )).unwrap();
    let proxy = common::Proxy::start(&infra);
    let direct = PathBuf::from(INCUS);
    // Warm-up of both ways.
    lists(direct.clone(), &project).await;
    lists(proxy.socket.clone(), &project).await;

    let (mut d_rate, mut p_rate, mut d_lat, mut p_lat, mut d_exec, mut p_exec) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for _ in 0..ROUNDS {
        let (r, l) = lists(direct.clone(), &project).await;
        d_rate.push(r);
        d_lat.extend(l);
        let (r, l) = lists(proxy.socket.clone(), &project).await;
        p_rate.push(r);
        p_lat.extend(l);
        let (d, p) = execs(direct.clone(), proxy.socket.clone(), &project).await;
        d_exec.extend(d);
        p_exec.extend(p);
    }
    for l in [&mut d_lat, &mut p_lat, &mut d_exec, &mut p_exec] {
        l.sort();
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (dr, pr) = (median(&mut d_rate), median(&mut p_rate));
    println!(
        "GET /1.0/instances?recursion=1 ({INSTANCES} instances, {CLIENTS} clients, {ROUNDS}x{LIST_REQUESTS} requests each way)"
    );
    println!(
        "  direct: {dr:.0} req/s, p50 {}, p99 {}",
        ms(pct(&d_lat, 0.5)),
        ms(pct(&d_lat, 0.99))
    );
    println!(
        "  proxy:  {pr:.0} req/s, p50 {}, p99 {}",
        ms(pct(&p_lat, 0.5)),
        ms(pct(&p_lat, 0.99))
    );
    let ratio = pr / dr;
    let overhead = pct(&p_lat, 0.99).as_secs_f64() - pct(&d_lat, 0.99).as_secs_f64();
    println!(
        "  throughput proxy/direct {:.1}% (target >= 90%), p99 overhead {:.2} ms (target < 1 ms)",
        ratio * 100.0,
        overhead * 1e3
    );
    println!(
        "exec round trip (POST exec + operation wait, {ROUNDS}x{EXECS} each way, interleaved)"
    );
    println!(
        "  direct: p50 {}, p99 {}",
        ms(pct(&d_exec, 0.5)),
        ms(pct(&d_exec, 0.99))
    );
    println!(
        "  proxy:  p50 {}, p99 {}",
        ms(pct(&p_exec, 0.5)),
        ms(pct(&p_exec, 0.99))
    );
    let exec_overhead = pct(&p_exec, 0.99).as_secs_f64() - pct(&d_exec, 0.99).as_secs_f64();
    println!(
        "  p99 overhead {:.2} ms (target < 1 ms)",
        exec_overhead * 1e3
    );
    drop(proxy);
    drop(lab);
    ExitCode::SUCCESS
}
