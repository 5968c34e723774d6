//! The `org.anklume.Gpu1` object: reads are open; `Claim` and `Release`
//! need root or polkit's `org.anklume.gpu.claim` for the caller. The
//! infra is re-read at each claim, so an edit applies without a restart;
//! a broken infra refuses claims (InvalidInfra) rather than guess.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use anklume_daemon::bus::emit;
use anklume_dbus::error::cut;
use anklume_dbus::gpu::{CLAIM_ACTION, ListedGpu, ListedProcess};
use anklume_dbus::{AnklumeError, Authorizer};
use anklume_gpu::{
    Engine, EngineError, GpuRules, GpuSource, InstanceDevices, Overcommit, gpu_instances,
};
use anklume_infra::{NestingContext, load_valid};
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

pub const NAME: &str = "anklume-gpud";

pub struct GpuService<S, D> {
    pub engine: Arc<Engine<S, D>>,
    pub auth: Authorizer,
    pub infra: PathBuf,
    pub context: NestingContext,
    /// Cards reported overcommitted, so the periodic check signals each
    /// overcommit once, when it starts.
    pub overcommitted: Mutex<BTreeSet<String>>,
}

fn dbus_error(e: EngineError) -> AnklumeError {
    match e {
        EngineError::NoDevice(m) => AnklumeError::NoDevice(cut(m)),
        EngineError::Nvml(m) => AnklumeError::NoDevice(cut(format!("NVML: {m}"))),
        EngineError::Busy(m) => AnklumeError::Busy(cut(m)),
        EngineError::NotAllowed(m) => AnklumeError::NotAllowed(cut(m)),
        EngineError::Incus(m) => AnklumeError::Incus(cut(m)),
        EngineError::State(m) => AnklumeError::State(cut(m)),
    }
}

impl<S: GpuSource + 'static, D: InstanceDevices + 'static> GpuService<S, D> {
    /// The host infra's GPU rules, read now.
    pub fn rules(&self) -> Result<GpuRules, AnklumeError> {
        let infra = load_valid(&self.infra, &self.context)
            .map_err(|e| AnklumeError::InvalidInfra(cut(e.to_string())))?;
        gpu_instances(&infra).map_err(|e| AnklumeError::InvalidInfra(cut(e)))
    }

    /// Signals the overcommits not signalled yet; forgets those that ended.
    pub async fn signal_overcommits(&self, emitter: &SignalEmitter<'_>, now: Vec<Overcommit>) {
        let fresh: Vec<Overcommit> = {
            let mut seen = self
                .overcommitted
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let current: BTreeSet<String> = now.iter().map(|o| o.gpu.clone()).collect();
            let fresh = now.into_iter().filter(|o| !seen.contains(&o.gpu)).collect();
            *seen = current;
            fresh
        };
        for o in fresh {
            eprintln!(
                "{NAME}: VRAM overcommit on {}: {} bytes needed by {}, {} on the card",
                o.gpu,
                o.needed,
                o.holders.join(", "),
                o.total
            );
            let sent = Self::vram_overcommit(emitter, &o.gpu, o.needed, o.total, o.holders);
            emit(NAME, "VramOvercommit", sent).await;
        }
    }
}

#[interface(name = "org.anklume.Gpu1")]
impl<S: GpuSource + 'static, D: InstanceDevices + 'static> GpuService<S, D> {
    /// Every card: index, UUID, name, total, used and free memory (bytes).
    async fn list_gpus(&self) -> Result<Vec<ListedGpu>, AnklumeError> {
        let gpus = self.engine.gpus().map_err(dbus_error)?;
        Ok(gpus
            .into_iter()
            .map(|g| (g.index, g.uuid, g.name, g.total, g.used, g.free))
            .collect())
    }

    /// Gives `instance` the card `gpu` (UUID, index as text, or "" for any
    /// that fits) and adds the Incus `gpu` device; true when new.
    async fn claim(
        &self,
        instance: &str,
        gpu: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<bool, AnklumeError> {
        self.auth.check(&header, CLAIM_ACTION).await?;
        let rules = self.rules()?;
        let granted = self
            .engine
            .claim(&rules, instance, gpu)
            .await
            .map_err(dbus_error)?;
        if granted.changed {
            eprintln!("{NAME}: {instance} claims {}", granted.claim.gpu);
            let sent = Self::claim_changed(&emitter, instance, &granted.claim.gpu);
            emit(NAME, "ClaimChanged", sent).await;
            emit(NAME, "Claims changed", self.claims_changed(&emitter)).await;
        }
        self.signal_overcommits(&emitter, granted.overcommits).await;
        Ok(granted.changed)
    }

    /// Drops the instance's claim and removes its device; true when it
    /// held one.
    async fn release(
        &self,
        instance: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<bool, AnklumeError> {
        self.auth.check(&header, CLAIM_ACTION).await?;
        let released = self.engine.release(instance).await.map_err(dbus_error)?;
        if let Some(claim) = &released {
            eprintln!("{NAME}: {instance} released {}", claim.gpu);
            emit(
                NAME,
                "ClaimChanged",
                Self::claim_changed(&emitter, instance, ""),
            )
            .await;
            emit(NAME, "Claims changed", self.claims_changed(&emitter)).await;
        }
        Ok(released.is_some())
    }

    /// Every process with a compute context: PID, instance ("" for the
    /// host), GPU UUID, used memory (bytes).
    async fn processes(&self) -> Result<Vec<ListedProcess>, AnklumeError> {
        self.engine.processes().map_err(dbus_error)
    }

    /// (instance, GPU UUID) of every claim.
    #[zbus(property)]
    async fn claims(&self) -> Vec<(String, String)> {
        self.engine
            .claims()
            .into_iter()
            .map(|c| (c.instance, c.gpu))
            .collect()
    }

    /// What stops claims now: the host infra (missing — "no infra yet at
    /// PATH" — or invalid) and why GPU calls answer NoDevice (no driver…),
    /// joined by "; "; empty when both are fine. The infra is read now, as
    /// a claim would.
    #[zbus(property)]
    async fn last_error(&self) -> String {
        let infra = self.rules().err().map(|e| match e {
            AnklumeError::InvalidInfra(m) => m,
            other => other.to_string(),
        });
        let device = self.engine.no_device().map(ToString::to_string);
        infra
            .into_iter()
            .chain(device)
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[zbus(signal)]
    async fn claim_changed(
        emitter: &SignalEmitter<'_>,
        instance: &str,
        gpu: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn vram_overcommit(
        emitter: &SignalEmitter<'_>,
        gpu: &str,
        needed: u64,
        total: u64,
        holders: Vec<String>,
    ) -> zbus::Result<()>;
}
