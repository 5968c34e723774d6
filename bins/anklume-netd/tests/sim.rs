//! `anklume-netd serve --sim`: the in-memory kernel, no root and no
//! netlink, the whole D-Bus API (Withdraw included). The daemon runs as nobody (setpriv) on a
//! private bus where nobody stands in for the daemon's own user. Also the
//! skeleton's promises: READY once the name is taken, SIGHUP = RELOADING,
//! the configuration re-read, an apply, READY; every thread confined.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anklume_dbus::AnklumeError;
use anklume_dbus::network::BUS_NAME;
use common::{
    Files, INFRA, INVALID_INFRA, INVALID_MESSAGE, NotifySocket, TestBus,
    assert_every_thread_confined, call, get_property, hash_of, infra_without_policies, preview,
    text,
};
use futures_util::StreamExt as _;

const NOBODY: u32 = 65534;

/// `anklume-netd serve --sim` as nobody, found through its configuration.
struct SimDaemon {
    child: Child,
    notify: NotifySocket,
}

impl SimDaemon {
    async fn start(bus: &TestBus, files: &Files) -> Self {
        files.write_config();
        // nobody reads the files and tells the notify socket.
        let dir = files.dir.path();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let notify = NotifySocket::bind(dir);
        std::fs::set_permissions(&notify.path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
        let child = Command::new("setpriv")
            .args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
            ])
            .arg(env!("CARGO_BIN_EXE_anklume-netd"))
            .args(["serve", "--sim", "--check-interval", "1", "--config"])
            .arg(files.config())
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .env("ANKLUME_CONTEXT_DIR", dir.join("context"))
            .env("NOTIFY_SOCKET", &notify.path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = Self { child, notify };
        let connection = bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&connection).await.unwrap();
        let name = zbus::names::BusName::try_from(BUS_NAME).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dbus.name_has_owner(name.clone()).await.unwrap() {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!("anklume-netd --sim exited ({status}):\n{}", files.log());
            }
            assert!(Instant::now() < deadline, "no bus name:\n{}", files.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        daemon
    }

    fn signal(&self, signal: &str) {
        let out = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
}

impl Drop for SimDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bus() -> TestBus {
    TestBus::start_with_policy(&format!(
        "<policy user=\"nobody\"><allow own=\"{BUS_NAME}\"/></policy>"
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_api_works_unprivileged_on_the_simulated_kernel() {
    let bus = bus();
    let files = Files::new(&infra_without_policies());
    let mut daemon = SimDaemon::start(&bus, &files).await;
    // READY only once the name is taken (after the start-up apply).
    daemon.notify.wait_for("READY=1", Duration::from_secs(5));
    let proxy = bus.proxy().await;
    let first = preview(&infra_without_policies());
    assert_eq!(
        proxy.ruleset_hash().await.unwrap(),
        hash_of(&first),
        "{}",
        files.log()
    );
    assert!(proxy.applied().await.unwrap());
    assert_eq!(proxy.domain_count().await.unwrap(), 2);
    assert_eq!(proxy.policy_count().await.unwrap(), 0);
    assert!(proxy.last_applied().await.unwrap() > 1_700_000_000_000_000);

    // Apply (root) and its signal; Preview is what a fresh namespace's
    // preview prints (the simulated host has a loopback interface only).
    let mut applied = proxy.receive_ruleset_applied().await.unwrap();
    files.write_infra(INFRA);
    assert!(proxy.apply().await.unwrap(), "{}", files.log());
    assert!(!proxy.apply().await.unwrap(), "nothing changed since");
    let expected = preview(INFRA);
    let signal = tokio::time::timeout(Duration::from_secs(5), applied.next())
        .await
        .expect("RulesetApplied")
        .unwrap();
    assert_eq!(signal.args().unwrap().hash, hash_of(&expected));
    assert_eq!(proxy.preview().await.unwrap(), expected);
    assert_eq!(proxy.policy_count().await.unwrap(), 3);
    assert_eq!(proxy.last_error().await.unwrap(), "");

    // An unprivileged caller (nobody, like the daemon): may read, may not
    // apply.
    let other = Some(NOBODY);
    let out = call(&bus, other, &["Apply"]);
    assert!(
        text(&out.stderr).contains("not root and polkit is not available"),
        "{}",
        text(&out.stderr)
    );
    let out = get_property(&bus, other, &["PolicyCount", "Applied"]);
    assert_eq!(text(&out.stdout), "u 3\nb true\n", "{}", text(&out.stderr));
    let out = call(&bus, other, &["Preview"]);
    assert!(text(&out.stdout).starts_with("s \"table inet anklume {"));
    let out = call(&bus, other, &["Withdraw"]);
    assert!(
        text(&out.stderr).contains("not root and polkit is not available"),
        "{}",
        text(&out.stderr)
    );

    // Withdraw (root): the simulated table goes and stays away until the
    // next Apply.
    assert!(proxy.withdraw().await.unwrap(), "{}", files.log());
    let out = get_property(&bus, None, &["Withdrawn", "Applied", "RulesetHash"]);
    assert_eq!(text(&out.stdout), "b true\nb false\ns \"\"\n");
    assert!(!proxy.withdraw().await.unwrap(), "withdrawn twice");
    assert!(proxy.apply().await.unwrap(), "{}", files.log());
    assert!(!proxy.withdrawn().await.unwrap());
    let signal = tokio::time::timeout(Duration::from_secs(5), applied.next())
        .await
        .expect("RulesetApplied after the withdrawal")
        .unwrap();
    assert_eq!(signal.args().unwrap().hash, hash_of(&expected));

    // An invalid infra: refused, the last table stays.
    files.write_infra(INVALID_INFRA);
    let AnklumeError::InvalidInfra(message) = proxy.apply().await.unwrap_err() else {
        panic!("an invalid infra applied");
    };
    assert!(message.contains(INVALID_MESSAGE), "{message}");
    assert!(!proxy.applied().await.unwrap());
    assert_eq!(proxy.ruleset_hash().await.unwrap(), hash_of(&expected));

    // SIGHUP: RELOADING, the configuration and the infra re-read, READY.
    files.write_infra(&infra_without_policies());
    daemon.signal("HUP");
    let told = daemon.notify.wait_for("READY=1", Duration::from_secs(10));
    assert!(told.iter().any(|l| l == "RELOADING=1"), "{told:?}");
    let signal = tokio::time::timeout(Duration::from_secs(5), applied.next())
        .await
        .expect("RulesetApplied after SIGHUP")
        .unwrap();
    assert_eq!(signal.args().unwrap().hash, hash_of(&first));
    assert!(proxy.applied().await.unwrap());
    assert!(
        files.log().contains("configuration reloaded"),
        "{}",
        files.log()
    );

    // Confined, every thread: no capability, NoNewPrivs.
    assert_every_thread_confined(daemon.child.id(), 0);
    // SIGTERM: STOPPING, a clean exit.
    daemon.signal("TERM");
    daemon
        .notify
        .wait_for("STOPPING=1", Duration::from_secs(10));
    assert!(daemon.child.wait().unwrap().success(), "{}", files.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_rereads_the_configuration() {
    let bus = bus();
    let files = Files::new(INFRA);
    let mut daemon = SimDaemon::start(&bus, &files).await;
    daemon.notify.wait_for("READY=1", Duration::from_secs(5));

    // The configuration names another infra: said, not followed (the
    // daemon is confined to the first one's directory).
    std::fs::write(files.config(), "infra: /elsewhere/infra.yml\n").unwrap();
    daemon.signal("HUP");
    daemon.notify.wait_for("READY=1", Duration::from_secs(10));
    assert!(
        files
            .log()
            .contains("the configuration now names the infra /elsewhere/infra.yml; restart"),
        "{}",
        files.log()
    );
    // A broken configuration: said, the daemon goes on.
    std::fs::write(files.config(), "infra: [\n").unwrap();
    daemon.signal("HUP");
    daemon.notify.wait_for("READY=1", Duration::from_secs(10));
    assert!(
        files.log().contains("configuration not reloaded"),
        "{}",
        files.log()
    );
    assert!(bus.proxy().await.applied().await.unwrap());
}
