//! Every shell command of README.md, docs/*.md and examples/*/README.md is
//! run here as written, in a fresh clone of the working tree, or is in
//! NOT_RUN with the reason it is not (and, where one exists, the test that
//! covers it instead). A command that is neither fails its page's test, and
//! so does a NOT_RUN entry no page uses any more: docs and tests stay in step.
//!
//! Commands run in page order, one `bash` each (`set -eo pipefail`), in the
//! page's own clone; a `cd` carries over to the next command. The PATH
//! starts with the binaries `cargo test --workspace` built, standing in for
//! `make install`'s /usr/local/bin (tests/install.rs tests the install
//! itself). `ANKLUME_REPO` is a git repository of the working tree (the
//! quickstart's clone step).
//!
//! Needs what `make test` installs: Incus answering (`incus list`, `make
//! debian-image`), the Ansible venv (`make syntax`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anklume_docs_tests::{bin_dir, checkout, commands, doc_pages, repo_root, snapshot_repo};

const CHANGES_HOST_APPLY: &str = "changes the host (Incus projects, bridges, instances; the nftables table): the plays it runs are covered on the real Incus by tests/e2e/tests/infra.rs, provision.rs, firewall.rs and demo.rs";
const NEEDS_APPLIED: &str = "needs the infra applied on this host (make apply is not run here); what it shows is checked by tests/e2e/tests/infra.rs (instances, nesting context files) and provision.rs";
const SNAPD_BUS: &str = "needs anklume-snapd serving on the system bus and instances to snapshot; the same D-Bus calls are made on a private bus against real Incus by bins/anklume-snapd/tests/ (busctl included)";
const GPUD_BUS: &str = "needs anklume-gpud serving on the system bus (and for a claim, a GPU machine of the host's infra); the same calls are made with busctl and the CLI on a private bus against a fake NVML by bins/anklume-gpud/tests/daemon.rs";
const NETD_BUS: &str = "needs anklume-netd serving on the system bus; Apply, Preview and the properties are called with busctl on a private bus by bins/anklume-netd/tests/daemon.rs";

/// The commands not run here, and why. The key is the command's first line
/// without its comment (transcript lines keep their `$ `).
const NOT_RUN: &[(&str, &str)] = &[
    // Host setup: packages, toolchain, Incus initialisation.
    (
        "apt install git make curl ca-certificates build-essential pkg-config libnftnl-dev libmnl-dev",
        "installs Debian packages on the host (needs a Debian mirror); scripts/install-test-deps.sh installs the same build dependencies for make test",
    ),
    (
        "curl --proto '=https' -sSf https://sh.rustup.rs > rustup-init.sh && sh rustup-init.sh -y && . \"$HOME/.cargo/env\"",
        "needs internet (sh.rustup.rs) and installs a toolchain in ~/.cargo; without cargo the Makefile says what to do (tests/install.rs::build_without_cargo_says_what_to_do)",
    ),
    (
        "make install",
        "writes /usr/local/bin on this host; tests/install.rs installs into a temporary DESTDIR and PREFIX (install_puts_every_binary_in_destdir_prefix_bin)",
    ),
    // Starting a daemon by hand (docs/snapshots.md, docs/network-isolation.md).
    (
        "cargo build --release -p anklume-snapd",
        "a release build takes minutes here; make install's test builds every binary (tests/install.rs) and cargo test builds the daemons",
    ),
    (
        "cargo build --release -p anklume-netd",
        "a release build takes minutes here; make install's test builds every binary (tests/install.rs) and cargo test builds the daemons",
    ),
    (
        "install -m 644 policy/dbus-1/*.conf /etc/dbus-1/system.d/",
        "writes the host's D-Bus configuration; the daemons' tests load the same policy files into a private bus (tests/harness/test_bus.rs)",
    ),
    (
        "pgrep -x dbus-daemon >/dev/null || { mkdir -p /run/dbus; dbus-daemon --system --fork; }",
        "starts the host's system bus; the daemons' tests run a private dbus-daemon instead",
    ),
    (
        "target/release/anklume-snapd serve --infra /etc/anklume/infra.yml &",
        "starts a daemon on the host's system bus for the host's infra; bins/anklume-snapd/tests run it on a private bus",
    ),
    (
        "target/release/anklume-netd serve --infra /etc/anklume/infra.yml &",
        "starts a daemon that owns the host's nftables table; bins/anklume-netd/tests run it in throwaway namespaces",
    ),
    (
        "anklume-netd apply --check --infra /etc/anklume/infra.yml",
        "needs the host's infra at /etc/anklume; tests/e2e/tests/isolation_paths.rs runs apply --check (check_from_nothing_reports_what_apply_would_create)",
    ),
    // Undo: never run against the host by a docs test.
    (
        "make destroy D=pro",
        "deletes a domain from the host's Incus (after confirmation); tests/e2e/tests/make_targets.rs runs make destroy on a throwaway infra",
    ),
    (
        "make destroy [D=lab]",
        "a synopsis; deletes domains from the host's Incus (after confirmation); tests/e2e/tests/make_targets.rs runs make destroy on a throwaway infra",
    ),
    // bootstrap.sh (docs/quickstart.md): it installs and initialises Incus,
    // writes /etc/anklume and creates the admin domain on the host.
    (
        "/usr/share/anklume/bootstrap.sh --prod",
        "changes the host (Incus, /etc/anklume, the admin domain, anklume-proxy units); tests/system/tests/bootstrap.rs runs it in a systemd container with its own Incus",
    ),
    (
        "/usr/share/anklume/bootstrap.sh --infra infra.yml",
        "installs the infra as the host's /etc/anklume/infra.yml and creates the admin domain on the host; tests/system/tests/bootstrap.rs runs bootstrap in a systemd container with its own Incus",
    ),
    (
        "incus exec --project admin admin-ctl -- sh -c 'cd /root/anklume && anklume-gen sync infra.yml && ANSIBLE_CONFIG=/usr/share/anklume/ansible/ansible.cfg ansible-playbook -i inventory /usr/share/anklume/ansible/site.yml'",
        "needs the admin machine bootstrap.sh made, provisioned with Ansible (apt and PyPI from inside it); tests/e2e runs site.yml on the real Incus",
    ),
    // Lifecycle (docs/lifecycle.md): never run against the host here.
    (
        "make flush",
        "deletes every domain of the infra from the host's Incus and the host's isolation table (after confirmation); tests/e2e/tests/flush.rs runs make flush on a throwaway infra, its table in a throwaway network namespace",
    ),
    (
        "make flush YES=1",
        "deletes every domain of the infra from the host's Incus; tests/e2e/tests/flush.rs runs it on a throwaway infra",
    ),
    (
        "make flush FORCE=1",
        "deletes every domain of the infra, protected machines included; tests/e2e/tests/flush.rs runs it on a throwaway infra",
    ),
    (
        "make upgrade",
        "fetches and fast-forwards this checkout from its upstream (needs the network); tests/e2e/tests/upgrade.rs runs it on a scratch clone with a local bare upstream",
    ),
    (
        "apt update && apt upgrade",
        "upgrades the host's Debian packages (needs a Debian mirror and the anklume package)",
    ),
    // snapd --sim on a user's own bus (docs/snapshots.md): background
    // processes on the host; bins/anklume-snapd/tests/sim.rs runs the same
    // (a_user_runs_the_sim_on_its_own_session_bus).
    (
        "dbus-daemon --session --address=unix:path=$XDG_RUNTIME_DIR/snapd-sim.sock --nofork --print-address &",
        "starts a bus in the background on the host; tests/sim.rs::a_user_runs_the_sim_on_its_own_session_bus does it in a test",
    ),
    (
        "export DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/snapd-sim.sock",
        "names the bus of the line before (not run); covered by bins/anklume-snapd/tests/sim.rs",
    ),
    (
        "DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SESSION_BUS_ADDRESS anklume-snapd serve --sim --infra examples/<use case>/infra.yml &",
        "a synopsis (<use case>) that starts a daemon in the background; bins/anklume-snapd/tests/sim.rs runs serve --sim",
    ),
    (
        "busctl --user call $B Create ss all before",
        "needs the simulated daemon of the lines before; bins/anklume-snapd/tests/sim.rs::create_list_restore_delete_through_busctl",
    ),
    (
        "busctl --user call $B List s all",
        "needs the simulated daemon of the lines before; bins/anklume-snapd/tests/sim.rs::create_list_restore_delete_through_busctl",
    ),
    // The demo and the test suite.
    (
        "make demo",
        "changes the host (installs Incus, builds an image, creates three domains, loads the isolation table); its script is run end to end on a throwaway infra by tests/e2e/tests/demo.rs",
    ),
    (
        "make demo-clean",
        "removes the demo's domains from the host; scripts/demo.sh clean is run by tests/e2e/tests/demo.rs",
    ),
    ("make test", "is the test suite this test is part of"),
    // The Debian package (README.md, docs/install.md).
    (
        "make deb",
        "a release build of every binary takes many minutes; make test runs it before the tests, and tests/system/tests/package.rs installs what it built",
    ),
    (
        "apt install ./target/debian/anklume_*.deb",
        "installs the package on the host (starts daemons, creates users); tests/system/tests/package.rs installs it in a systemd container",
    ),
    (
        "systemctl status anklume-netd anklume-snapd",
        "needs systemd as PID 1 and the package installed; tests/system/tests/package.rs checks the units there (fresh_install_is_healthy)",
    ),
    (
        "systemctl reload anklume-netd anklume-snapd",
        "needs systemd as PID 1 and the package installed; tests/system/tests/package.rs reloads both (netd_applies_the_infra_on_reload)",
    ),
    (
        "groupadd --system anklume",
        "creates a group on the host; tests/system/tests/package.rs grants a group in its container (polkit_grants_a_group)",
    ),
    (
        "usermod -aG anklume alice",
        "changes a user of the host; tests/system/tests/package.rs grants a group in its container (polkit_grants_a_group)",
    ),
    ("$EDITOR infra.yml", "opens an interactive editor"),
    // Ansible against the real Incus.
    ("make apply", CHANGES_HOST_APPLY),
    ("make apply-infra", CHANGES_HOST_APPLY),
    ("make apply-provision", CHANGES_HOST_APPLY),
    ("make apply-limit G=pro", CHANGES_HOST_APPLY),
    ("make apply-llm", CHANGES_HOST_APPLY),
    ("make apply-stt", CHANGES_HOST_APPLY),
    ("make apply-ai", CHANGES_HOST_APPLY),
    (
        "scripts/ai-roles-check.sh",
        "downloads the real Ollama and Open WebUI releases (needs internet, about 2 GB) and starts containers; the roles are tested offline with stand-ins by tests/e2e/tests/ai_services.rs",
    ),
    (
        "make check",
        "queries this host's Incus for the infra's projects, which may be real ones; --check --diff is run on throwaway infras by tests/e2e/tests/infra.rs (a dry run creates nothing, a changed value is seen)",
    ),
    (
        "ANSIBLE_CONFIG=ansible/ansible.cfg ansible-playbook -i BASE_DIR/inventory ansible/site.yml -e anklume_infra=infra.yml [--tags infra] [--limit DOMAIN] [--check --diff]",
        "a synopsis (BASE_DIR and the [bracketed] options are placeholders); the Makefile runs this command, and tests/e2e runs it on the real Incus",
    ),
    (
        "incus exec --project pro pro-dev -- cat /etc/anklume/absolute_level",
        NEEDS_APPLIED,
    ),
    // Transcripts: output shown for an input the page does not give.
    (
        "$ anklume-gen validate infra.yml",
        "a transcript of the message format on an infra.yml the page does not show; every message, order and location is checked by lib/infra/tests/validation.rs and bins/anklume-gen/tests/",
    ),
    // anklume-netd on the host.
    (
        "anklume-netd preview --infra /etc/anklume/infra.yml",
        "reads the host's /etc/anklume/infra.yml, which a test host need not have; the same preview of an example runs as README.md's make netd-preview",
    ),
    (
        "anklume-netd apply --infra /etc/anklume/infra.yml",
        "loads the isolation table into the host's nftables; the one-shot apply is run in a throwaway network namespace by bins/anklume-netd/tests/daemon.rs",
    ),
    (
        "anklume-netd serve",
        "the daemon (it runs until stopped, on the system bus); run on a private bus by bins/anklume-netd/tests/daemon.rs",
    ),
    (
        "busctl call org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 Apply",
        NETD_BUS,
    ),
    (
        "busctl get-property org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 RulesetHash",
        NETD_BUS,
    ),
    (
        "busctl call org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 Preview",
        NETD_BUS,
    ),
    (
        "busctl call org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 Withdraw",
        "removes the host's isolation table (turns the isolation off) and needs anklume-netd on the system bus; called with busctl on a private bus by bins/anklume-netd/tests/withdraw.rs",
    ),
    (
        "busctl get-property org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 Withdrawn",
        NETD_BUS,
    ),
    (
        "nft list table inet anklume",
        "shows the host's table once anklume-netd applied it (exits 1 when none is loaded); nft list output is compared with the rendering by lib/nft/tests/netlink.rs",
    ),
    // anklume-proxy on the host (docs/admin-proxy.md).
    (
        "systemctl enable --now anklume-proxy@admin.socket",
        "enables a host socket unit (needs systemd as PID 1); the proxy's socket activation path is the serve code, tested by bins/anklume-proxy/tests/",
    ),
    (
        "anklume-proxy attach admin",
        "changes an admin instance of the host; covered by bins/anklume-proxy/tests/attach.rs on a throwaway container",
    ),
    (
        "anklume-proxy serve --infra /etc/anklume/infra.yml --listen /tmp/anklume-proxy.sock",
        "starts a daemon that runs until stopped; covered by bins/anklume-proxy/tests/incus.rs",
    ),
    (
        "INCUS_SOCKET=/tmp/anklume-proxy.sock incus list --project pro",
        "needs the proxy started above and a domain pro; covered by bins/anklume-proxy/tests/incus.rs",
    ),
    (
        "journalctl -u anklume-proxy@admin.service --since -1h -o cat | grep '^{' | jq -c 'select(.verdict == \"deny\")'",
        "needs systemd's journal and the service enabled; the audit lines are checked by bins/anklume-proxy/tests/incus.rs",
    ),
    // anklume-snapd on the host.
    (
        "B=\"org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1\"",
        "sets the variable for the busctl calls after it, which are not run here (see them)",
    ),
    (
        "busctl call $B Create ss domain:pro before-upgrade",
        SNAPD_BUS,
    ),
    ("busctl call $B List s domain:pro", SNAPD_BUS),
    (
        "busctl call $B Restore ss instance:pro-dev before-upgrade",
        SNAPD_BUS,
    ),
    ("busctl call $B Delete ss all before-upgrade", SNAPD_BUS),
    ("busctl call $B Prune", SNAPD_BUS),
    ("busctl introspect $B", SNAPD_BUS),
    (
        "busctl monitor org.anklume.Snapshot1",
        "follows signals until interrupted; needs anklume-snapd on the system bus (signals are checked by bins/anklume-snapd/tests/)",
    ),
    ("make snapshot [NAME=x]", SNAPD_BUS),
    ("make snapshot-domain D=pro [NAME=x]", SNAPD_BUS),
    ("make restore NAME=x", SNAPD_BUS),
    ("make restore-domain D=pro NAME=x", SNAPD_BUS),
    ("make snapshot-delete NAME=x [D=pro]", SNAPD_BUS),
    ("make snapshot-list [D=pro]", SNAPD_BUS),
    ("make snapshot", SNAPD_BUS),
    ("make snapshot-list", SNAPD_BUS),
    ("make restore NAME=<snapshot>", SNAPD_BUS),
    (
        "make restore-domain D=student-02 NAME=<snapshot>",
        SNAPD_BUS,
    ),
    ("make snapshot-domain D=sandbox", SNAPD_BUS),
    ("make snapshot-domain D=lab", SNAPD_BUS),
    (
        "make restore-domain D=lab NAME=<snapshot name from the list>",
        SNAPD_BUS,
    ),
    ("make restore-domain D=sandbox NAME=<snapshot>", SNAPD_BUS),
    (
        "systemctl enable --now anklume-snapd.service anklume-snapshot.timer",
        "enables host services (needs systemd as PID 1, which a test host need not run); the units' users are checked against the polkit actions by lib/dbus/tests/policy.rs, and the service's daemon by bins/anklume-snapd/tests/",
    ),
    // docs/gpu.md: anklume-gpud on the system bus, a GPU machine.
    (
        "busctl call org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1 ListGpus",
        GPUD_BUS,
    ),
    (
        "busctl call org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1 Claim ss ai-ollama ''",
        GPUD_BUS,
    ),
    (
        "busctl get-property org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1 Claims",
        GPUD_BUS,
    ),
    (
        "busctl call org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1 Processes",
        GPUD_BUS,
    ),
    (
        "busctl call org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1 Release s ai-ollama",
        GPUD_BUS,
    ),
    (
        "busctl monitor org.anklume.Gpu1",
        "watches the system bus until interrupted; the signals are received over a private bus by bins/anklume-gpud/tests/daemon.rs",
    ),
    ("anklume-gpud list", GPUD_BUS),
    ("anklume-gpud claims", GPUD_BUS),
    ("anklume-gpud processes", GPUD_BUS),
    (
        "cargo build --release -p anklume-gpud",
        "a release build takes minutes here; make install's test builds every binary (tests/install.rs) and cargo test builds the daemons",
    ),
    (
        "target/release/anklume-gpud serve --infra /etc/anklume/infra.yml &",
        "starts a daemon on the host's system bus for the host's infra; bins/anklume-gpud/tests run it on a private bus with a fake NVML",
    ),
    (
        "sudo scripts/gpu-check.sh",
        "needs an NVIDIA GPU and its driver (NVML, libcuda); its steps before the CUDA one were run against the fake NVML, and bins/anklume-gpud/tests cover the same calls",
    ),
    (
        "systemctl list-timers anklume-snapshot.timer",
        "needs systemd as PID 1 and the timer enabled",
    ),
    (
        "journalctl -u anklume-snapshot.service",
        "needs systemd's journal and the service enabled",
    ),
];

fn reason(key: &str) -> Option<&'static str> {
    NOT_RUN.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
}

/// A git repository of the working tree, made once per test process.
fn source_repo() -> &'static Path {
    static REPO: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &REPO
        .get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("anklume-docs-")
                .tempdir()
                .unwrap();
            let repo = snapshot_repo(dir.path());
            (dir, repo)
        })
        .1
}

/// Runs one page's commands; returns the keys it ran and did not run.
fn check_page(page: &str) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(repo_root().join(page)).unwrap();
    let (cmds, problems) = commands(&text);
    assert!(problems.is_empty(), "{page}:\n  {}", problems.join("\n  "));

    let work = tempfile::Builder::new()
        .prefix("anklume-docs-page-")
        .tempdir()
        .unwrap();
    // The quickstart starts before the clone, in an empty directory; the
    // other pages start in a checkout.
    let mut cwd = if page == "docs/quickstart.md" {
        let home = work.path().join("home");
        std::fs::create_dir(&home).unwrap();
        home
    } else {
        checkout(source_repo(), work.path())
    };
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let state = work.path().join("cwd");
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
    for cmd in &cmds {
        if reason(&cmd.key).is_some() {
            skipped.push(cmd.key.clone());
            continue;
        }
        assert!(
            !cmd.key.starts_with("$ "),
            "{page}:{}: transcript `{}` is not run (its input is not on the page): add it to NOT_RUN with the reason",
            cmd.line,
            cmd.key
        );
        let script = format!(
            "set -eo pipefail\ncd '{}'\n{}\npwd > '{}'\n",
            cwd.display(),
            cmd.text,
            state.display()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env("PATH", &path)
            .env("ANKLUME_REPO", source_repo())
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{page}:{}: `{}` failed ({}) in {}; if it cannot run on a test host, add it to NOT_RUN in {} with the reason.\n--- stdout\n{}\n--- stderr\n{}",
            cmd.line,
            cmd.key,
            out.status,
            cwd.display(),
            file!(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cwd = PathBuf::from(std::fs::read_to_string(&state).unwrap().trim());
        ran.push(cmd.key.clone());
    }
    eprintln!(
        "{page}: ran {} command(s): {ran:?}; not run (NOT_RUN): {skipped:?}",
        ran.len()
    );
    (ran, skipped)
}

macro_rules! page_tests {
    ($($name:ident => $page:literal),* $(,)?) => {
        $(#[test]
        fn $name() {
            check_page($page);
        })*

        const PAGES: &[&str] = &[$($page),*];
    };
}

page_tests! {
    readme => "README.md",
    quickstart => "docs/quickstart.md",
    ansible => "docs/ansible.md",
    architecture => "docs/architecture.md",
    generator => "docs/generator.md",
    lifecycle => "docs/lifecycle.md",
    install => "docs/install.md",
    network_isolation => "docs/network-isolation.md",
    defense_in_depth => "docs/defense-in-depth.md",
    gpu => "docs/gpu.md",
    snapshots => "docs/snapshots.md",
    admin_proxy => "docs/admin-proxy.md",
    ai_services => "docs/ai-services.md",
    example_ai_tools => "examples/ai-tools/README.md",
    example_developer => "examples/developer/README.md",
    example_llm_supervisor => "examples/llm-supervisor/README.md",
    example_pro_workstation => "examples/pro-workstation/README.md",
    example_sandbox_isolation => "examples/sandbox-isolation/README.md",
    example_student_sysadmin => "examples/student-sysadmin/README.md",
    example_teacher_lab => "examples/teacher-lab/README.md",
}

/// A new page gets its test line above (so its commands are run).
#[test]
fn every_page_has_its_test() {
    let mut listed: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    listed.sort();
    let mut found = doc_pages();
    found.sort();
    assert_eq!(listed, found, "add the page to page_tests! in {}", file!());
}

/// Every NOT_RUN entry is still a command of some page, has a reason, and
/// is listed once.
#[test]
fn not_run_list_is_in_step_with_the_docs() {
    let mut keys = BTreeSet::new();
    for page in doc_pages() {
        let text = std::fs::read_to_string(repo_root().join(&page)).unwrap();
        keys.extend(commands(&text).0.into_iter().map(|c| c.key));
    }
    let mut seen = BTreeSet::new();
    for (key, why) in NOT_RUN {
        assert!(seen.insert(key), "`{key}` is listed twice in NOT_RUN");
        assert!(!why.trim().is_empty(), "`{key}` has no reason");
        assert!(
            keys.contains(*key),
            "NOT_RUN lists `{key}`, which no page has any more: remove it"
        );
    }
}

/// The quickstart's clone step, followed before ANKLUME_REPO is set, stops
/// and says what to do.
#[test]
fn quickstart_clone_without_anklume_repo_says_what_to_do() {
    let text = std::fs::read_to_string(repo_root().join("docs/quickstart.md")).unwrap();
    let clone = commands(&text)
        .0
        .into_iter()
        .find(|c| c.key.starts_with("git clone"))
        .expect("the quickstart has a git clone step");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&clone.text)
        .current_dir(dir.path())
        .env_remove("ANKLUME_REPO")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the clone step went on without ANKLUME_REPO"
    );
    assert!(
        err.contains("ANKLUME_REPO") && err.contains("bundle"),
        "the clone step's message does not say what to do: {err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "it left something behind"
    );
}
