//! anklume-gpud's engine: claims decided under the infra's rules, saved
//! before the Incus device is added (write-ahead: a crash in between is
//! repaired at the next start), undone when Incus refuses; processes
//! mapped to instances; reconciliation with Incus at start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use crate::allowed::GpuRules;
use crate::cgroup;
use crate::claims::{self, Claim, ClaimError, Overcommit};
use crate::device::InstanceDevices;
use crate::inventory::{Gpu, GpuError, GpuSource};
use crate::store::{ClaimsFile, StoreError};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NoDevice(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    Nvml(String),
    #[error("{0}")]
    Incus(String),
    #[error("{0}")]
    State(String),
}

impl From<GpuError> for EngineError {
    fn from(e: GpuError) -> Self {
        match e {
            GpuError::NoDevice(m) => EngineError::NoDevice(m),
            GpuError::Nvml(m) => EngineError::Nvml(m),
        }
    }
}

impl From<ClaimError> for EngineError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::NoDevice(m) => EngineError::NoDevice(m),
            ClaimError::NotAllowed(m) => EngineError::NotAllowed(m),
            ClaimError::Busy(m) => EngineError::Busy(m),
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::State(e.to_string())
    }
}

/// A claim granted (or already held).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    pub claim: Claim,
    pub changed: bool,
    /// Cards now overcommitted, the claimed one included if it is.
    pub overcommits: Vec<Overcommit>,
}

/// The claim a release dropped; `None` when the instance held none.
pub type Released = Option<Claim>;

/// What the start-up reconciliation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Claims of instances that no longer exist: dropped.
    pub dropped: Vec<Claim>,
    /// Claims whose device was missing: added again.
    pub repaired: Vec<Claim>,
    /// Claims that could not be checked (Incus unreachable…): kept.
    pub unchecked: Vec<String>,
}

/// One compute process: pid, instance ("" for the host), card, bytes.
pub type ProcessLine = (u32, String, String, u64);

pub struct Engine<S, D> {
    source: Result<S, GpuError>,
    devices: D,
    store: ClaimsFile,
    /// Serialises claims and releases (decide, save, Incus) end to end.
    mutation: tokio::sync::Mutex<()>,
    claims: Mutex<Vec<Claim>>,
    proc_root: PathBuf,
}

impl<S: GpuSource, D: InstanceDevices> Engine<S, D> {
    /// `source` is `Err(NoDevice)` on a host without driver: every GPU
    /// call then says so, and releases still work.
    pub fn open(
        source: Result<S, GpuError>,
        devices: D,
        store: ClaimsFile,
    ) -> Result<Self, StoreError> {
        let claims = store.load()?;
        Ok(Self {
            source,
            devices,
            store,
            mutation: tokio::sync::Mutex::new(()),
            claims: Mutex::new(claims),
            proc_root: PathBuf::from("/proc"),
        })
    }

    /// Where `/proc` is (tests).
    pub fn with_proc_root(mut self, root: PathBuf) -> Self {
        self.proc_root = root;
        self
    }

    /// Why there is no GPU source, if there is none.
    pub fn no_device(&self) -> Option<&GpuError> {
        self.source.as_ref().err()
    }

    fn source(&self) -> Result<&S, EngineError> {
        self.source.as_ref().map_err(|e| e.clone().into())
    }

    pub fn gpus(&self) -> Result<Vec<Gpu>, EngineError> {
        Ok(self.source()?.gpus()?)
    }

    pub fn claims(&self) -> Vec<Claim> {
        self.claims
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_claims(&self, claims: Vec<Claim>) {
        *self.claims.lock().unwrap_or_else(PoisonError::into_inner) = claims;
    }

    /// Every compute process, with the instance its cgroup names.
    pub fn processes(&self) -> Result<Vec<ProcessLine>, EngineError> {
        Ok(self
            .source()?
            .processes()?
            .into_iter()
            .map(|p| {
                let instance = cgroup::instance_of(&self.proc_root, p.pid)
                    .map(|i| i.instance)
                    .unwrap_or_default();
                (p.pid, instance, p.gpu_uuid, p.used)
            })
            .collect())
    }

    /// VRAM used now per instance (its processes' sum); empty when NVML
    /// cannot list processes.
    fn measured(&self) -> BTreeMap<String, u64> {
        let mut used = BTreeMap::new();
        for (_, instance, _, bytes) in self.processes().unwrap_or_default() {
            if !instance.is_empty() {
                *used.entry(instance).or_insert(0) += bytes;
            }
        }
        used
    }

    /// Cards whose holders need more VRAM than they have, now.
    pub fn overcommits(&self, rules: &GpuRules) -> Vec<Overcommit> {
        let Ok(gpus) = self.gpus() else {
            return Vec::new();
        };
        claims::overcommits(rules, &gpus, &self.claims(), &self.measured())
    }

    /// Grants `instance` the card `wanted` (UUID, index, "" = any that
    /// fits) under `rules`, and puts the device on the instance.
    pub async fn claim(
        &self,
        rules: &GpuRules,
        instance: &str,
        wanted: &str,
    ) -> Result<Granted, EngineError> {
        let _serial = self.mutation.lock().await;
        let gpus = self.gpus()?;
        let measured = self.measured();
        let before = self.claims();
        let decision = claims::decide(rules, &gpus, &before, instance, wanted, &measured)?;
        let claim = decision.claim;
        if !decision.changed {
            // Already held: make sure the device is there (idempotent).
            self.devices
                .attach(&claim)
                .await
                .map_err(|e| EngineError::Incus(e.0))?;
            return Ok(Granted {
                overcommits: claims::overcommits(rules, &gpus, &before, &measured),
                claim,
                changed: false,
            });
        }
        let mut after = before.clone();
        after.push(claim.clone());
        self.store.save(&after)?;
        if let Err(e) = self.devices.attach(&claim).await {
            // Undo the write-ahead; if even that fails, the next start
            // retries the device (the claim is then kept).
            self.store.save(&before)?;
            return Err(EngineError::Incus(e.0));
        }
        self.set_claims(after.clone());
        Ok(Granted {
            overcommits: claims::overcommits(rules, &gpus, &after, &measured),
            claim,
            changed: true,
        })
    }

    /// Drops `instance`'s claim and removes its device.
    pub async fn release(&self, instance: &str) -> Result<Released, EngineError> {
        let _serial = self.mutation.lock().await;
        let before = self.claims();
        let Some(claim) = before.iter().find(|c| c.instance == instance).cloned() else {
            return Ok(None);
        };
        // Device first: if Incus refuses, the claim (and the device) stay.
        self.devices
            .detach(&claim)
            .await
            .map_err(|e| EngineError::Incus(e.0))?;
        let after: Vec<Claim> = before
            .into_iter()
            .filter(|c| c.instance != instance)
            .collect();
        self.store.save(&after)?;
        self.set_claims(after);
        Ok(Some(claim))
    }

    /// At start: claims of deleted instances are dropped, missing devices
    /// added again.
    pub async fn reconcile(&self) -> Result<Reconciled, EngineError> {
        let _serial = self.mutation.lock().await;
        let mut done = Reconciled::default();
        let mut kept = Vec::new();
        for claim in self.claims() {
            match self.devices.exists(&claim).await {
                Ok(false) => done.dropped.push(claim),
                Ok(true) => {
                    match self.devices.attach(&claim).await {
                        Ok(true) => done.repaired.push(claim.clone()),
                        Ok(false) => {}
                        Err(e) => done.unchecked.push(format!("{}: {e}", claim.instance)),
                    }
                    kept.push(claim);
                }
                Err(e) => {
                    done.unchecked.push(format!("{}: {e}", claim.instance));
                    kept.push(claim);
                }
            }
        }
        if !done.dropped.is_empty() {
            self.store.save(&kept)?;
            self.set_claims(kept);
        }
        Ok(done)
    }
}
