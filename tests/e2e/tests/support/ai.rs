//! Helpers of the AI services' end-to-end test (ai_services.rs): the
//! stand-ins' HTTP server and the host's isolation table, both removed on
//! drop, and an HTTP GET from inside a machine.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anklume_e2e::incus_exec;

/// The HTTP server serving the stand-ins, stopped by PID on drop.
pub struct Server(pub Child);

impl Server {
    /// Serves `dir` on `addr:port` (Python's http.server), bound with
    /// IP_FREEBIND: `addr` may be a bridge's gateway that the apply has
    /// not created yet, so the first apply needs no run of its own before.
    pub fn start(dir: &Path, addr: &str, port: u16) -> Self {
        let script = "import functools, http.server as h, socket, sys
class Server(h.ThreadingHTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IP, getattr(socket, 'IP_FREEBIND', 15), 1)
        super().server_bind()
handler = functools.partial(h.SimpleHTTPRequestHandler, directory=sys.argv[3])
Server((sys.argv[1], int(sys.argv[2])), handler).serve_forever()
";
        Server(
            Command::new("python3")
                .args(["-c", script, addr, &port.to_string()])
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

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
