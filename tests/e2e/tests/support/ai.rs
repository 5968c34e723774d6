//! Helpers of the AI services' end-to-end test (ai_services.rs): the
//! stand-ins' HTTP server and the host's isolation table, both removed on
//! drop, and an HTTP GET from inside a machine.

use std::process::{Child, Command};

use anklume_e2e::incus_exec;

/// The HTTP server serving the stand-ins, stopped by PID on drop.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The host's isolation table, deleted on drop when this test loaded it.
pub struct HostTable {
    pub ours: bool,
}

impl Drop for HostTable {
    fn drop(&mut self) {
        if self.ours {
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", "anklume"])
                .status();
        }
    }
}

/// GET `url` from `machine` (python3 inside it), with extra headers given
/// as a Python dict literal; the body, `HTTP <code>` on an HTTP error, or
/// `NO ANSWER <why>` when nothing answers within 5 s.
pub fn http_get(project: &str, machine: &str, url: &str, headers: &str) -> String {
    incus_exec(
        project,
        machine,
        &format!(
            "python3 - <<'PY'
import urllib.request as u, urllib.error as e
try:
    print(u.urlopen(u.Request('{url}', headers={headers}), timeout=5).read().decode())
except e.HTTPError as err:
    print('HTTP', err.code)
except OSError as err:
    print('NO ANSWER', err)
PY"
        ),
    )
}
