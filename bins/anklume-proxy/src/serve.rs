//! `anklume-proxy serve` on the anklume-daemon skeleton: confined (no
//! capability, Landlock) before any thread, the host's infra read (the
//! last valid one kept on reload), then HTTP/1.1 on the listening socket —
//! systemd's (LISTEN_FDS) or `--listen`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anklume_daemon::{Confinement, Daemon, DaemonError, Paths, Started, Workers, bus};
use anklume_infra::{NestingContext, load_valid};
use anklume_proxypolicy::Declared;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use crate::cli::ServeArgs;
use crate::forward::{Proxy, handle};
use crate::gpu::Gpud;

const NAME: &str = "anklume-proxy";

pub fn serve(args: ServeArgs) -> Result<(), DaemonError> {
    let listen = args
        .listen
        .as_deref()
        .map(anklume_daemon::args::absolute)
        .transpose()?;
    let daemon = Daemon {
        name: NAME,
        workers: Workers::PerCpu,
    };
    let incus = anklume_daemon::args::absolute(&args.incus_socket)?;
    daemon.run(
        &args.common,
        |_, paths| Ok(confinement(paths, listen.as_deref(), &incus)),
        |started| run(started, listen.clone(), incus.clone()),
    )
}

/// No capabilities; read the configuration, the infra and the nesting
/// context; create the listening socket in its directory (by hand; under
/// systemd the socket exists already). incusd's and the system bus's
/// sockets are reached by connect(), which Landlock does not restrict.
fn confinement(paths: &Paths, listen: Option<&Path>, incus: &Path) -> Confinement {
    let mut confinement = Confinement::for_paths(paths).read(incus);
    if let Some(dir) = listen.and_then(Path::parent) {
        confinement = confinement.write(dir);
    }
    confinement
}

fn load(paths: &Paths) -> Result<Declared, String> {
    load_valid(&paths.infra, &NestingContext::from_env())
        .map(|infra| Declared::from_infra(&infra))
        .map_err(|e| e.to_string())
}

async fn run(started: Started, listen: Option<PathBuf>, incus: PathBuf) -> Result<(), DaemonError> {
    let Started {
        paths, mut signals, ..
    } = started;
    let declared = load(&started_infra(&paths))
        .map_err(|e| DaemonError::io("read the infra", std::io::Error::other(e)))?;
    let proxy = Arc::new(Proxy::new(declared, incus, Box::new(Gpud)));
    let listener = listener(listen.as_deref())?;
    eprintln!(
        "{NAME}: serving {} projects of {} on {}",
        proxy.declared.get().projects.len(),
        paths.infra.display(),
        listen.as_deref().map_or_else(
            || "the socket systemd passed".into(),
            |p| p.display().to_string()
        )
    );
    let accept = {
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let proxy = Arc::clone(&proxy);
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&proxy), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        })
    };
    bus::ready();
    bus::until_stopped(&mut signals, || {
        let proxy = Arc::clone(&proxy);
        let paths = paths.clone();
        async move {
            let (now, error) = proxy.declared.update(load(&paths));
            match error {
                Some(e) => eprintln!("{NAME}: reload: keeping the last valid infra: {e}"),
                None => eprintln!(
                    "{NAME}: reloaded {} ({} projects)",
                    paths.infra.display(),
                    now.projects.len()
                ),
            }
        }
    })
    .await;
    accept.abort();
    if let Some(path) = listen.filter(|_| !activated()) {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn started_infra(paths: &Paths) -> Paths {
    paths.clone()
}

/// Whether systemd passed the listening socket (LISTEN_PID is us).
fn activated() -> bool {
    std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id())
        && std::env::var("LISTEN_FDS").is_ok_and(|n| n == "1")
}

fn listener(listen: Option<&Path>) -> Result<UnixListener, DaemonError> {
    let io = |what, e| DaemonError::io(what, e);
    if activated() {
        let std = activation::first_socket();
        std.set_nonblocking(true)
            .map_err(|e| io("use systemd's socket", e))?;
        return UnixListener::from_std(std).map_err(|e| io("use systemd's socket", e));
    }
    let Some(path) = listen else {
        return Err(io(
            "listen",
            std::io::Error::other("no --listen PATH and no socket from systemd (LISTEN_FDS)"),
        ));
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove the old socket", e)),
    }
    let listener = UnixListener::bind(path).map_err(|e| io("bind the listening socket", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| io("set the socket's mode", e))?;
    Ok(listener)
}

mod activation {
    #![allow(unsafe_code)] // adopting the fd systemd passed; see below
    use std::os::fd::FromRawFd;
    use std::os::unix::net::UnixListener;

    /// systemd's first passed fd (3), checked by `activated()` to be ours.
    pub fn first_socket() -> UnixListener {
        // SAFETY: LISTEN_PID names this process and LISTEN_FDS is 1, so fd 3
        // is the listening socket systemd passed, open and owned by nobody
        // else in this process; it is adopted exactly once, at start.
        unsafe { UnixListener::from_raw_fd(3) }
    }
}
