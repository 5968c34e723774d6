//! `anklume-proxy attach INSTANCE`: the admin instance gets its proxy
//! socket at `/var/run/incus/unix.socket`, in a way that survives restarts
//! of the instance, of incusd and of the proxy.
//!
//! `/run` is a tmpfs inside the instance: a proxy device listening in
//! `/run/incus` cannot bind when the instance starts (the original's known
//! issue). So the Incus `proxy` device listens at
//! `/var/lib/anklume-proxy/incus.socket` (on the instance's disk, there at
//! start), and a tmpfiles.d entry links `/run/incus/unix.socket` to it at
//! every boot. The device connects to the proxy's socket on the host, never
//! to incusd's.

use std::path::{Path, PathBuf};

use anklume_infra::{NestingContext, load_valid};
use serde_json::{Value, json};

use crate::cli::{AttachArgs, SOCKET_DIR};
use crate::upstream::{call, call_ok};

pub const DEVICE: &str = "anklume-incus";
pub const LISTEN_DIR: &str = "/var/lib/anklume-proxy";
pub const LISTEN: &str = "/var/lib/anklume-proxy/incus.socket";
pub const TMPFILES: &str = "/etc/tmpfiles.d/anklume-incus.conf";
/// Where the instance finds its Incus host's nesting context (the
/// `incus_instances` role reads it there, behind this proxy).
pub const HOST_CONTEXT_DIR: &str = "/etc/anklume/incus-host";
const CONTEXT_PARENT: &str = "/etc/anklume";
/// The context files copied there, those the host has.
const CONTEXT_FILES: [&str; 4] = ["absolute_level", "relative_level", "vm_nested", "yolo"];
pub const TMPFILES_TEXT: &str = "# anklume-proxy attach: the Incus socket of this admin instance\n\
d /run/incus 0755 root root -\n\
L+ /run/incus/unix.socket - - - - /var/lib/anklume-proxy/incus.socket\n";

pub fn attach(args: &AttachArgs) -> Result<(), String> {
    let project = match &args.project {
        Some(p) => p.clone(),
        None => project_of(args)?,
    };
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(SOCKET_DIR).join(format!("{}.socket", args.instance)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let changed = runtime.block_on(run(&args.incus_socket, &project, &args.instance, &socket))?;
    println!(
        "{}: {} (socket {} → /var/run/incus/unix.socket)",
        args.instance,
        if changed {
            "attached"
        } else {
            "already attached"
        },
        socket.display()
    );
    Ok(())
}

fn project_of(args: &AttachArgs) -> Result<String, String> {
    let (_, paths) = args.common.load().map_err(|e| e.to_string())?;
    let infra = load_valid(&paths.infra, &NestingContext::from_env()).map_err(|e| e.to_string())?;
    infra
        .machine(&args.instance)
        .map(|m| m.domain.clone())
        .ok_or_else(|| {
            format!(
                "{} is not a machine of {} (give --project)",
                args.instance,
                paths.infra.display()
            )
        })
}

/// The proxy device wanted on the instance.
pub fn device(socket: &Path) -> Value {
    json!({
        "type": "proxy",
        "connect": format!("unix:{}", socket.display()),
        "listen": format!("unix:{LISTEN}"),
        "bind": "instance",
        "uid": "0",
        "gid": "0",
        "mode": "0660",
    })
}

async fn run(incus: &Path, project: &str, instance: &str, socket: &Path) -> Result<bool, String> {
    let base = format!("/1.0/instances/{instance}");
    let q = format!("project={project}");
    let current = call_ok(incus, "GET", &format!("{base}?{q}"), None).await?;
    let leaks = current["devices"]
        .as_object()
        .into_iter()
        .flatten()
        .find(|(_, d)| {
            d["type"] == "proxy"
                && d["connect"]
                    .as_str()
                    .is_some_and(|c| c.contains("/var/lib/incus/") || c.contains("/run/incus/"))
        });
    if let Some((name, _)) = leaks {
        return Err(format!(
            "{instance} has device {name}, which hands it the host's own Incus socket; remove it first \
             (incus config device remove --project {project} {instance} {name})"
        ));
    }
    let mut changed = false;
    let files = Files {
        incus,
        base: &base,
        q: &q,
        instance,
    };
    // The listening directory and the tmpfiles.d entry, on the instance's disk.
    files.mkdir(LISTEN_DIR).await?;
    changed |= files.write(TMPFILES, TMPFILES_TEXT).await?;
    // The Incus host's nesting context (ADR-020): the instances this admin
    // instance creates are children of this host, not of itself.
    files.mkdir(CONTEXT_PARENT).await?;
    files.mkdir(HOST_CONTEXT_DIR).await?;
    let here = NestingContext::dir_from_env();
    for name in CONTEXT_FILES {
        if let Ok(text) = std::fs::read_to_string(here.join(name)) {
            let text = format!("{}\n", text.trim());
            changed |= files
                .write(&format!("{HOST_CONTEXT_DIR}/{name}"), &text)
                .await?;
        }
    }
    let wanted = device(socket);
    if current["devices"][DEVICE] != wanted {
        let body = json!({"devices": {DEVICE: wanted}});
        call_ok(incus, "PATCH", &format!("{base}?{q}"), Some(&body)).await?;
        changed = true;
    }
    if current["status"] == "Running" {
        // Now, without waiting for the next boot.
        let exec = json!({
            "command": ["systemd-tmpfiles", "--create", TMPFILES],
            "wait-for-websocket": false, "interactive": false, "record-output": false,
        });
        let done = call_ok(incus, "POST", &format!("{base}/exec?{q}"), Some(&exec)).await?;
        let rc = done["metadata"]["return"].as_i64().unwrap_or(0);
        if rc != 0 {
            return Err(format!("systemd-tmpfiles in {instance} exited with {rc}"));
        }
    }
    Ok(changed)
}

/// Files and directories inside the instance, through Incus' files API.
struct Files<'a> {
    incus: &'a Path,
    base: &'a str,
    q: &'a str,
    instance: &'a str,
}

impl Files<'_> {
    /// Creates directory `path` (root's, 0755); one that exists is fine.
    async fn mkdir(&self, path: &str) -> Result<(), String> {
        let headers = [
            ("X-Incus-type", "directory"),
            ("X-Incus-mode", "0755"),
            ("X-Incus-uid", "0"),
            ("X-Incus-gid", "0"),
        ];
        let url = format!("{}/files?{}&path={path}", self.base, self.q);
        let (status, value) = call(self.incus, "POST", &url, None, &headers, None).await?;
        if status >= 400 && !value["error"].as_str().unwrap_or("").contains("exists") {
            return Err(format!(
                "cannot create {path} in {}: {}",
                self.instance, value["error"]
            ));
        }
        Ok(())
    }

    /// Writes `text` to `path` (root's, 0644) unless it holds exactly that;
    /// true when it wrote.
    async fn write(&self, path: &str, text: &str) -> Result<bool, String> {
        if self.read(path).await.as_deref() == Some(text) {
            return Ok(false);
        }
        let headers = [
            ("X-Incus-type", "file"),
            ("X-Incus-mode", "0644"),
            ("X-Incus-uid", "0"),
            ("X-Incus-gid", "0"),
            ("X-Incus-write", "overwrite"),
        ];
        let url = format!("{}/files?{}&path={path}", self.base, self.q);
        let raw = Some(text.to_owned().into());
        let (status, value) = call(self.incus, "POST", &url, None, &headers, raw).await?;
        if status >= 400 {
            return Err(format!(
                "cannot write {path} in {}: {}",
                self.instance, value["error"]
            ));
        }
        Ok(true)
    }

    async fn read(&self, path: &str) -> Option<String> {
        let req = hyper::Request::builder()
            .uri(format!("{}/files?{}&path={path}", self.base, self.q))
            .header("host", "incus")
            .body(crate::upstream::full(""))
            .ok()?;
        let resp = crate::upstream::send(self.incus, req).await.ok()?;
        if resp.status() != 200 {
            return None;
        }
        use http_body_util::BodyExt;
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        String::from_utf8(bytes.to_vec()).ok()
    }
}
