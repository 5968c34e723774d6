//! `anklume-gpud serve` on the anklume-daemon skeleton: confined before
//! any thread (no capability; reads the configuration, the infra, the
//! NVML library and what NVML reads in /proc and /sys; writes its state
//! directory and opens /dev/nvidia*), then NVML (a host without driver
//! still gets a daemon that says so), the claims file, reconciliation with
//! Incus, the object, the name, READY, and a periodic VRAM overcommit
//! check until SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anklume_daemon::{Confinement, Daemon, DaemonError, Paths, Started, Workers, bus};
use anklume_dbus::gpu::{BUS_NAME, OBJECT_PATH};
use anklume_gpu::device::NoIncus;
use anklume_gpu::{ClaimsFile, Engine, GpuSource, InstanceDevices, NvmlGpus, Reconciled};
use anklume_incus::IncusClient;
use anklume_infra::NestingContext;
use zbus::object_server::InterfaceRef;

use crate::cli::ServeArgs;
use crate::service::{GpuService, NAME};

pub fn serve(args: ServeArgs) -> Result<(), DaemonError> {
    let state_dir = anklume_daemon::args::absolute(&args.state_dir)?;
    let library = args
        .nvml_library
        .as_deref()
        .map(anklume_daemon::args::absolute)
        .transpose()?;
    let socket = (!args.no_incus).then(|| args.incus_socket.clone());
    let common = args.common.clone();
    let daemon = Daemon {
        name: NAME,
        workers: Workers::PerCpu,
    };
    daemon.run(
        &common,
        |_, paths| confinement(paths, socket.as_deref(), &state_dir, library.as_deref()),
        |started| run(args, state_dir.clone(), library.clone(), started),
    )
}

/// Where the dynamic loader and NVML read: the library (found through
/// ld.so.cache unless a path is given) and its dependencies, the driver's
/// files in /proc and /sys. /proc also gives the processes' cgroups.
const NVML_READS: &[&str] = &[
    "/etc/ld.so.cache",
    "/usr/lib",
    "/lib",
    "/usr/lib64",
    "/lib64",
    "/usr/local/lib",
    "/proc",
    "/sys",
];

/// No capabilities. The device nodes need write access (NVML opens them
/// read-write and talks to the driver with ioctl, which Landlock ABI 5
/// counts as a write-side right).
fn confinement(
    paths: &Paths,
    socket: Option<&str>,
    state_dir: &Path,
    library: Option<&Path>,
) -> Result<Confinement, DaemonError> {
    std::fs::create_dir_all(state_dir)
        .map_err(|e| DaemonError::io("create the state directory", e))?;
    let mut confinement = Confinement::for_paths(paths).write(state_dir);
    for path in NVML_READS {
        confinement = confinement.read(*path);
    }
    if let Some(library) = library.and_then(Path::parent) {
        confinement = confinement.read(library);
    }
    if let Some(socket) = socket {
        confinement = confinement.read(socket);
    }
    for node in nvidia_device_nodes() {
        confinement = confinement.write(node);
    }
    Ok(confinement)
}

/// `/dev/nvidia*` (nvidiactl, nvidia0…, nvidia-uvm, nvidia-caps/).
fn nvidia_device_nodes() -> Vec<PathBuf> {
    std::fs::read_dir("/dev")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

async fn run(
    args: ServeArgs,
    state_dir: PathBuf,
    library: Option<PathBuf>,
    started: Started,
) -> Result<(), DaemonError> {
    let source = NvmlGpus::open(library.as_deref());
    match &source {
        Ok(gpus) => match gpus.gpus() {
            Ok(list) => eprintln!("{NAME}: NVML: {} GPU(s)", list.len()),
            Err(e) => eprintln!("{NAME}: NVML loaded, but: {e}"),
        },
        Err(e) => eprintln!("{NAME}: no GPU: {e}; GPU calls will answer NoDevice"),
    }
    let store = ClaimsFile::in_dir(&state_dir);
    let interval = Duration::from_secs(args.check_interval);
    if args.no_incus {
        eprintln!("{NAME}: --no-incus: claims are kept, no Incus device is touched");
        serve_engine(source, NoIncus, store, interval, started).await
    } else {
        let incus = IncusClient::new(args.incus_socket.clone()).map_err(DaemonError::start)?;
        serve_engine(source, incus, store, interval, started).await
    }
}

async fn serve_engine<S, D>(
    source: Result<S, anklume_gpu::GpuError>,
    devices: D,
    store: ClaimsFile,
    interval: Duration,
    started: Started,
) -> Result<(), DaemonError>
where
    S: GpuSource + 'static,
    D: InstanceDevices + 'static,
{
    let Started {
        paths, mut signals, ..
    } = started;
    let engine = Arc::new(Engine::open(source, devices, store).map_err(DaemonError::start)?);
    match engine.reconcile().await {
        Ok(done) => log_reconciled(&done),
        Err(e) => eprintln!("{NAME}: cannot reconcile the claims with Incus: {e}"),
    }
    let (connection, auth) = bus::connect().await?;
    let service = GpuService {
        engine: Arc::clone(&engine),
        auth,
        infra: paths.infra.clone(),
        context: NestingContext::from_env(),
        overcommitted: Mutex::default(),
    };
    if let Err(e) = service.rules() {
        eprintln!("{NAME}: {e}; claims are refused until the infra is fixed");
    }
    let object = bus::serve(&connection, OBJECT_PATH, service).await?;
    bus::take_name(&connection, BUS_NAME).await?;
    eprintln!(
        "{NAME}: serving {BUS_NAME} (infra {}, {} claim(s))",
        paths.infra.display(),
        engine.claims().len()
    );
    let checker = tokio::spawn(check_overcommit(object, interval));
    bus::until_stopped(&mut signals, || async {
        eprintln!("{NAME}: the infra is re-read at each claim; nothing else to reload");
    })
    .await;
    checker.abort();
    Ok(())
}

/// Measured VRAM changes while instances run: look again every interval.
async fn check_overcommit<S, D>(object: InterfaceRef<GpuService<S, D>>, interval: Duration)
where
    S: GpuSource + 'static,
    D: InstanceDevices + 'static,
{
    loop {
        tokio::time::sleep(interval).await;
        let service = object.get().await;
        if let Ok(rules) = service.rules() {
            let now = service.engine.overcommits(&rules);
            service
                .signal_overcommits(object.signal_emitter(), now)
                .await;
        }
    }
}

fn log_reconciled(done: &Reconciled) {
    for claim in &done.dropped {
        eprintln!(
            "{NAME}: {}/{} no longer exists; its claim on {} is dropped",
            claim.project, claim.instance, claim.gpu
        );
    }
    for claim in &done.repaired {
        eprintln!(
            "{NAME}: {}/{} had lost its gpu device; added again",
            claim.project, claim.instance
        );
    }
    for problem in &done.unchecked {
        eprintln!("{NAME}: claim not checked against Incus ({problem}); kept");
    }
}
