//! The Incus `gpu` device a claim puts on its instance, so the card the
//! instance reaches and the claim cannot disagree. The device is named
//! `gpu`, like the device of the `nvidia-compute` / `gpu-passthrough`
//! profiles, so the instance's own device replaces the profile's
//! unpinned one. Containers and VMs both get `gputype: physical` pinned to
//! the card's PCI address (for a VM that is PCI passthrough).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use anklume_incus::IncusClient;
use serde_json::{Map, Value};

use crate::claims::Claim;

/// The device name gpud owns on GPU instances.
pub const DEVICE_NAME: &str = "gpu";

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct DeviceError(pub String);

/// The Incus device body for `claim`.
pub fn device_for(claim: &Claim) -> Map<String, Value> {
    let mut device = Map::new();
    device.insert("type".into(), "gpu".into());
    device.insert("gputype".into(), "physical".into());
    device.insert("pci".into(), claim.pci.clone().into());
    device
}

/// Where instances live: Incus, an in-memory double, or nothing (`serve
/// --no-incus`: claims are kept, no device is touched).
pub trait InstanceDevices: Send + Sync {
    /// Whether the instance exists (for reconciliation at start).
    fn exists(&self, claim: &Claim) -> impl Future<Output = Result<bool, DeviceError>> + Send;
    /// Puts the claim's device on its instance; true when it changed.
    fn attach(&self, claim: &Claim) -> impl Future<Output = Result<bool, DeviceError>> + Send;
    /// Removes the device; true when there was one.
    fn detach(&self, claim: &Claim) -> impl Future<Output = Result<bool, DeviceError>> + Send;
}

impl InstanceDevices for IncusClient {
    async fn exists(&self, claim: &Claim) -> Result<bool, DeviceError> {
        self.instance_devices(&claim.project, &claim.instance)
            .await
            .map(|d| d.is_some())
            .map_err(|e| DeviceError(e.to_string()))
    }

    async fn attach(&self, claim: &Claim) -> Result<bool, DeviceError> {
        self.set_device(
            &claim.project,
            &claim.instance,
            DEVICE_NAME,
            device_for(claim),
        )
        .await
        .map_err(|e| DeviceError(e.to_string()))
    }

    async fn detach(&self, claim: &Claim) -> Result<bool, DeviceError> {
        match self
            .remove_device(&claim.project, &claim.instance, DEVICE_NAME)
            .await
        {
            Ok(removed) => Ok(removed),
            // The instance is gone: so is its device.
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(DeviceError(e.to_string())),
        }
    }
}

/// No Incus: every instance "exists", no device is touched.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoIncus;

impl InstanceDevices for NoIncus {
    async fn exists(&self, _: &Claim) -> Result<bool, DeviceError> {
        Ok(true)
    }
    async fn attach(&self, _: &Claim) -> Result<bool, DeviceError> {
        Ok(false)
    }
    async fn detach(&self, _: &Claim) -> Result<bool, DeviceError> {
        Ok(false)
    }
}

/// Instances in memory, `project/instance` → devices (logic tests).
#[derive(Debug, Default)]
pub struct MemoryDevices {
    instances: Mutex<BTreeMap<String, Map<String, Value>>>,
    /// When set, attach fails with this message.
    pub fail_attach: Mutex<Option<String>>,
}

fn key(claim: &Claim) -> String {
    format!("{}/{}", claim.project, claim.instance)
}

impl MemoryDevices {
    pub fn with_instances(names: &[(&str, &str)]) -> Self {
        let devices = Self::default();
        for (project, instance) in names {
            devices
                .lock()
                .insert(format!("{project}/{instance}"), Map::new());
        }
        devices
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Map<String, Value>>> {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The device gpud set on `project/instance`, if any.
    pub fn device(&self, project: &str, instance: &str) -> Option<Value> {
        self.lock()
            .get(&format!("{project}/{instance}"))?
            .get(DEVICE_NAME)
            .cloned()
    }

    pub fn delete(&self, project: &str, instance: &str) {
        self.lock().remove(&format!("{project}/{instance}"));
    }
}

impl InstanceDevices for MemoryDevices {
    async fn exists(&self, claim: &Claim) -> Result<bool, DeviceError> {
        Ok(self.lock().contains_key(&key(claim)))
    }

    async fn attach(&self, claim: &Claim) -> Result<bool, DeviceError> {
        if let Some(m) = self
            .fail_attach
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Err(DeviceError(m));
        }
        let mut instances = self.lock();
        let devices = instances
            .get_mut(&key(claim))
            .ok_or_else(|| DeviceError(format!("no instance {}", key(claim))))?;
        let device = Value::Object(device_for(claim));
        Ok(devices.insert(DEVICE_NAME.into(), device.clone()) != Some(device))
    }

    async fn detach(&self, claim: &Claim) -> Result<bool, DeviceError> {
        Ok(self
            .lock()
            .get_mut(&key(claim))
            .is_some_and(|d| d.remove(DEVICE_NAME).is_some()))
    }
}

impl<T: InstanceDevices> InstanceDevices for std::sync::Arc<T> {
    fn exists(&self, claim: &Claim) -> impl Future<Output = Result<bool, DeviceError>> + Send {
        (**self).exists(claim)
    }
    fn attach(&self, claim: &Claim) -> impl Future<Output = Result<bool, DeviceError>> + Send {
        (**self).attach(claim)
    }
    fn detach(&self, claim: &Claim) -> impl Future<Output = Result<bool, DeviceError>> + Send {
        (**self).detach(claim)
    }
}
