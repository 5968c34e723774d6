//! Test environment of anklume-netd: throwaway network namespaces (a
//! "host" namespace with one bridge per domain, "instance" namespaces
//! wired to them by veth with the infra's IPv4 and IPv6 addresses), a
//! private system-like D-Bus daemon with the project's bus policy, and the
//! daemon itself running inside the host namespace. Needs root; every
//! namespace and process is removed by name / PID on drop, even when the
//! test fails.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Two domains: `ta` (subnet 1: ta-1 .10, ta-2 .11) and `tb` (subnet 2:
/// tb-1 .10), with policies: ta-1 → tb-1 tcp/8080, tb → host tcp/9000,
/// host → ta-1 tcp/2222.
pub const INFRA: &str = "project_name: t
global:
  base_subnet: '10.251'
domains:
  ta:
    subnet_id: 1
    machines:
      ta-1: {ip: 10.251.1.10}
      ta-2: {ip: 10.251.1.11}
  tb:
    subnet_id: 2
    machines:
      tb-1: {ip: 10.251.2.10}
network_policies:
  - {from: ta-1, to: tb-1, ports: [8080]}
  - {from: tb, to: host, ports: [9000]}
  - {from: host, to: ta-1, ports: [2222]}
";

/// [`INFRA`] without its policies.
pub fn infra_without_policies() -> String {
    INFRA[..INFRA.find("network_policies:").unwrap()].to_owned()
}

/// An infra that fails validation.
pub const INVALID_INFRA: &str = "project_name: t\nglobal: {}\ndomains:\n  a:\n    subnet_id: 300\n";
pub const INVALID_MESSAGE: &str = "subnet_id must be 0-254, got 300";

pub mod outside;

#[path = "../../../../tests/harness/test_bus.rs"]
mod test_bus;
pub use test_bus::{TestBus, busctl};

#[path = "../../../../tests/harness/confinement.rs"]
mod confinement;
#[allow(unused_imports)] // not every test crate checks threads
pub use confinement::assert_every_thread_confined;

#[path = "../../../../tests/harness/notify.rs"]
mod notify;
#[allow(unused_imports)]
pub use notify::NotifySocket;

/// CAP_NET_ADMIN as a kernel capability mask: all netd keeps.
pub const CAP_NET_ADMIN: u64 = 1 << 12;

pub fn run(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap()
}

pub fn ok(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Throwaway network namespaces, named `ank<tag><pid>-<name>` so tests
/// running in parallel (distinct tags) never share one.
pub struct Net {
    pub prefix: String,
    namespaces: Vec<String>,
}

impl Net {
    /// Only the "host" namespace, no bridges: for tests that need a
    /// kernel to apply to but no traffic.
    pub fn bare(tag: &str) -> Self {
        let mut net = Net {
            prefix: format!("ank{tag}{}", std::process::id() % 100_000),
            namespaces: Vec::new(),
        };
        let host = net.ns("host");
        net.add_ns(&host);
        ok(&["ip", "-n", &host, "link", "set", "lo", "up"]);
        net
    }

    /// host namespace with bridges net-ta / net-tb; instances ta-1, ta-2,
    /// tb-1 with IPv4 and IPv6 addresses and default routes via the bridge.
    pub fn new(tag: &str) -> Self {
        let mut net = Self::bare(tag);
        let host = net.ns("host");
        ok(&[
            "ip",
            "netns",
            "exec",
            &host,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        ]);
        for (domain, subnet) in [("ta", 1), ("tb", 2)] {
            net.add_bridge(&format!("net-{domain}"), subnet, true);
        }
        for (name, domain, subnet, host_part) in [
            ("ta-1", "ta", 1, 10),
            ("ta-2", "ta", 1, 11),
            ("tb-1", "tb", 2, 10),
        ] {
            net.attach(
                name,
                &format!("net-{domain}"),
                &format!("10.251.{subnet}.{host_part}"),
                Some(&format!("fd51:{subnet}::{host_part}")),
            );
        }
        net
    }

    /// A bridge of the host namespace with `10.251.<subnet>.254/24` (and
    /// `fd51:<subnet>::254/64` with `ipv6`), up.
    pub fn add_bridge(&self, bridge: &str, subnet: u8, ipv6: bool) {
        let host = self.ns("host");
        ok(&["ip", "-n", &host, "link", "add", bridge, "type", "bridge"]);
        let v4 = format!("10.251.{subnet}.254/24");
        ok(&["ip", "-n", &host, "addr", "add", &v4, "dev", bridge]);
        if ipv6 {
            let v6 = format!("fd51:{subnet}::254/64");
            ok(&[
                "ip", "-n", &host, "addr", "add", &v6, "dev", bridge, "nodad",
            ]);
        }
        ok(&["ip", "-n", &host, "link", "set", bridge, "up"]);
    }

    /// A machine namespace `name` on `bridge` of the host namespace, by
    /// veth, with `v4` (a /24 whose `.254` is the gateway) and optionally
    /// `v6` (a /64 whose `::254` is the gateway), default routes included.
    pub fn attach(&mut self, name: &str, bridge: &str, v4: &str, v6: Option<&str>) {
        let host = self.ns("host");
        let ns = self.ns(name);
        self.add_ns(&ns);
        let outer = format!("v{}", name.replace('-', ""));
        ok(&[
            "ip", "-n", &host, "link", "add", &outer, "type", "veth", "peer", "name", "eth0",
            "netns", &ns,
        ]);
        ok(&[
            "ip", "-n", &host, "link", "set", &outer, "master", bridge, "up",
        ]);
        ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        ok(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{v4}/24"),
            "dev",
            "eth0",
        ]);
        if let Some(v6) = v6 {
            ok(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        ok(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        let gateway4 = format!("{}.254", &v4[..v4.rfind('.').unwrap()]);
        ok(&["ip", "-n", &ns, "route", "add", "default", "via", &gateway4]);
        if let Some(v6) = v6 {
            let gateway6 = format!("{}::254", &v6[..v6.find("::").unwrap()]);
            ok(&[
                "ip", "-n", &ns, "-6", "route", "add", "default", "via", &gateway6,
            ]);
        }
    }

    pub fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    pub(crate) fn add_ns(&mut self, ns: &str) {
        let _ = run(&["ip", "netns", "del", ns]);
        ok(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.to_owned());
    }

    /// Without a ruleset, ta-1 reaches tb-1 and ta-2 over IPv4 and IPv6
    /// (IPv6 needs a moment after the links come up): a test that later
    /// sees drops knows the ruleset made them.
    pub fn wait_connected(&self) {
        for target in ["10.251.2.10", "fd51:2::10", "fd51:1::11"] {
            let ready = (0..25).any(|_| {
                self.ping("ta-1", target) || {
                    std::thread::sleep(Duration::from_millis(200));
                    false
                }
            });
            assert!(
                ready,
                "test network broken: ta-1 cannot reach {target} without the ruleset"
            );
        }
    }

    /// Loads nft text into the host namespace with `nft -f`.
    pub fn load(&self, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns("host"), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), ruleset.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nft -f: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `nft <args>` in the host namespace.
    pub fn nft(&self, args: &[&str]) -> Output {
        let host = self.ns("host");
        let mut all = vec!["ip", "netns", "exec", &host, "nft"];
        all.extend_from_slice(args);
        run(&all)
    }

    /// `nft list table inet anklume` in the host namespace; None when
    /// there is no such table.
    /// `nft list table inet anklume` as preview prints it: without what
    /// nft adds for an owned table, and with counters at zero (stray
    /// IPv6 neighbour traffic may hit a drop rule at any time); see
    /// [`Net::raw_table`].
    pub fn table(&self) -> Option<String> {
        self.raw_table().map(|t| {
            let t = t
                .replacen(" # progname anklume-netd\n", "\n", 1)
                .replacen("\tflags owner\n", "", 1)
                .replacen("\"\n\n\tset ", "\"\n\tset ", 1);
            t.lines()
                .map(|line| match line.find("counter packets ") {
                    Some(at) => {
                        let rest = &line[at..];
                        let verdict = rest.split(" bytes ").nth(1).and_then(|r| r.split_once(' '));
                        match verdict {
                            Some((_, tail)) => {
                                format!("{}counter packets 0 bytes 0 {tail}\n", &line[..at])
                            }
                            None => format!("{line}\n"),
                        }
                    }
                    None => format!("{line}\n"),
                })
                .collect()
        })
    }

    /// The listing as nft prints it: an owned table shows
    /// `# progname anklume-netd` and `flags owner`.
    pub fn raw_table(&self) -> Option<String> {
        let out = self.nft(&["list", "table", "inet", "anklume"]);
        out.status.success().then(|| text(&out.stdout))
    }

    pub fn ping(&self, from: &str, to: &str) -> bool {
        let flag = if to.contains(':') { "-6" } else { "-4" };
        run(&[
            "ip",
            "netns",
            "exec",
            &self.ns(from),
            "ping",
            flag,
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "1",
            to,
        ])
        .status
        .success()
    }

    /// Whether a TCP connection from `from` reaches a listener on
    /// `to_ns`:`port` (address `to`).
    pub fn tcp(&self, from: &str, to_ns: &str, to: &str, port: u16) -> bool {
        let mut listener = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(to_ns),
                "busybox",
                "nc",
                "-l",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let connected = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns(from),
            "busybox",
            "nc",
            "-w",
            "2",
            to,
            &port.to_string(),
        ])
        .status
        .success();
        let _ = listener.kill();
        let _ = listener.wait();
        connected
    }

    /// Whether a UDP datagram from `from` reaches a listener on
    /// `to_ns`:`port` (address `to`). (busybox nc has no UDP: python3,
    /// which the test dependencies install, sends and receives.)
    pub fn udp(&self, from: &str, to_ns: &str, to: &str, port: u16) -> bool {
        let receive = format!(
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
             s.bind(('', {port})); s.settimeout(2); print('ready', flush=True); \
             print(s.recv(64).decode())"
        );
        let mut listener = Command::new("ip")
            .args(["netns", "exec", &self.ns(to_ns), "python3", "-c", &receive])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(listener.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let send = format!(
            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\
             .sendto(b'anklume-udp', ('{to}', {port}))"
        );
        let _ = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns(from),
            "python3",
            "-c",
            &send,
        ]);
        let mut received = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut received);
        let _ = listener.wait();
        received.contains("anklume-udp")
    }

    /// `sh -c script` in namespace `name`, in its own process group
    /// (killed as a group on drop).
    pub fn spawn_sh(&self, name: &str, script: &str) -> Group {
        use std::os::unix::process::CommandExt as _;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(name), "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        Group(child)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// A process group started by [`Net::spawn_sh`]; killed on drop.
pub struct Group(Child);

impl Group {
    pub fn kill(&mut self) {
        let _ = run(&["kill", "-KILL", "--", &format!("-{}", self.0.id())]);
        let _ = self.0.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `anklume-netd preview --infra <text written to a file> <extra args>`,
/// in a new network namespace: like the tests' host namespaces, it has no
/// uplink and no leftover `net-*` bridge, so the preview is what the
/// daemon there applies.
pub fn run_preview(infra_text: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let infra = dir.path().join("infra.yml");
    std::fs::write(&infra, infra_text).unwrap();
    Command::new("unshare")
        .args(["--net", "--"])
        .arg(env!("CARGO_BIN_EXE_anklume-netd"))
        .arg("preview")
        .args(extra)
        .arg("--infra")
        .arg(&infra)
        .env("ANKLUME_CONTEXT_DIR", dir.path())
        .output()
        .unwrap()
}

pub fn preview(infra_text: &str) -> String {
    let out = run_preview(infra_text, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The ruleset hash of a preview: sha256 of the text without its comment
/// line; the comment line names it.
pub fn hash_of(preview: &str) -> String {
    use sha2::Digest as _;
    let body: String = preview
        .lines()
        .filter(|l| !l.starts_with("\tcomment \""))
        .map(|l| format!("{l}\n"))
        .collect();
    let hash: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        preview.contains(&format!("\tcomment \"anklume ruleset {hash}\"\n")),
        "{preview}"
    );
    hash
}

impl TestBus {
    /// A proxy that reads properties at each call (no cache).
    pub async fn proxy(&self) -> anklume_dbus::network::Network1Proxy<'static> {
        anklume_dbus::network::Network1Proxy::builder(&self.connect().await)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap()
    }
}

/// The daemon's files: infra, (absent) configuration, nesting context,
/// log. Kept across daemon restarts.
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new(infra: &str) -> Self {
        let files = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(files.dir.path().join("context")).unwrap();
        files.write_infra(infra);
        files
    }

    pub fn infra(&self) -> PathBuf {
        self.dir.path().join("infra.yml")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("anklume.conf.yml")
    }

    /// Names the infra in the configuration (`infra:`), the way a host is
    /// set up: the daemon then starts without `--infra`.
    pub fn write_config(&self) {
        std::fs::write(
            self.config(),
            format!("infra: {}\n", self.infra().display()),
        )
        .unwrap();
    }

    pub fn write_infra(&self, text: &str) {
        // Write then rename: the daemon never reads half a file.
        let tmp = self.dir.path().join("infra.yml.new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.infra()).unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }
}

/// `anklume-netd serve` inside the host namespace of `net`, on `bus`.
pub struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    /// Starts the daemon and waits until it owns its bus name (it takes
    /// the name after its start-up apply).
    pub async fn start(bus: &TestBus, net: &Net, files: &Files, extra: &[&str]) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(files.dir.path().join("daemon.log"))
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &net.ns("host")])
            .arg(env!("CARGO_BIN_EXE_anklume-netd"))
            .arg("serve")
            .arg("--config")
            .arg(files.config())
            // Without a configuration file, the infra is given directly.
            .args(
                (!files.config().exists())
                    .then(|| ["--infra".into(), files.infra().into_os_string()])
                    .into_iter()
                    .flatten(),
            )
            .args(extra)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .env("ANKLUME_CONTEXT_DIR", files.dir.path().join("context"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = Self { child: Some(child) };
        let connection = bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&connection).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let name = zbus::names::BusName::try_from(anklume_dbus::network::BUS_NAME).unwrap();
        while !dbus.name_has_owner(name.clone()).await.unwrap() {
            if let Some(status) = daemon.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("anklume-netd exited ({status}):\n{}", files.log());
            }
            assert!(
                Instant::now() < deadline,
                "anklume-netd did not take its bus name:\n{}",
                files.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, signal: &str) {
        ok(&["kill", &format!("-{signal}"), &self.pid().to_string()]);
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(&mut self) {
        self.signal("TERM");
        let status = self.child.take().unwrap().wait().unwrap();
        assert!(status.success(), "anklume-netd exited with {status}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Connected namespaces, a private bus, and the daemon serving `infra`
/// in the host namespace (dropped first: fields drop in order).
pub struct Served {
    pub daemon: Daemon,
    pub files: Files,
    pub bus: TestBus,
    pub net: Net,
}

impl Served {
    pub async fn start(tag: &str, infra: &str, extra: &[&str]) -> Self {
        let net = Net::new(tag);
        net.wait_connected();
        let bus = TestBus::start();
        let files = Files::new(infra);
        let daemon = Daemon::start(&bus, &net, &files, extra).await;
        Served {
            daemon,
            files,
            bus,
            net,
        }
    }
}

/// `anklume-netd apply --infra <files' infra>` in the host namespace.
pub fn cli_apply(net: &Net, files: &Files) -> std::process::Output {
    std::process::Command::new("ip")
        .args(["netns", "exec", &net.ns("host")])
        .arg(env!("CARGO_BIN_EXE_anklume-netd"))
        .arg("apply")
        .arg("--infra")
        .arg(files.infra())
        .env("ANKLUME_CONTEXT_DIR", files.dir.path().join("context"))
        .output()
        .unwrap()
}

/// `busctl call` on anklume-netd's object.
pub fn call(bus: &TestBus, as_uid: Option<u32>, method: &[&str]) -> Output {
    on_object(bus, as_uid, "call", method)
}

/// `busctl get-property <the object> <names>`.
pub fn get_property(bus: &TestBus, as_uid: Option<u32>, names: &[&str]) -> Output {
    on_object(bus, as_uid, "get-property", names)
}

fn on_object(bus: &TestBus, as_uid: Option<u32>, verb: &str, rest: &[&str]) -> Output {
    let mut args = vec![
        verb,
        anklume_dbus::network::BUS_NAME,
        anklume_dbus::network::OBJECT_PATH,
        anklume_dbus::network::INTERFACE,
    ];
    args.extend_from_slice(rest);
    busctl(bus, as_uid, &args)
}

/// Polls `check` every 50 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
