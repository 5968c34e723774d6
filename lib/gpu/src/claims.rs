//! Who may hold which card: the pure decision behind `Claim`, and the
//! VRAM overcommit check. `exclusive`: one holder per card. `shared`:
//! several, and an overcommit is reported (not refused) when the holders
//! need more VRAM than the card has. A VM takes its card whole (PCI
//! passthrough removes it from the host), so it never shares, whatever the
//! policy.

use std::collections::BTreeMap;

use anklume_infra::{GpuPolicy, InstanceType};
use serde::{Deserialize, Serialize};

use crate::allowed::GpuRules;
use crate::inventory::Gpu;

/// One granted claim, as kept in the claims file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub instance: String,
    /// The Incus project the instance lives in (its domain).
    pub project: String,
    /// The card's UUID.
    pub gpu: String,
    /// The card's PCI address (what the Incus device is pinned to).
    pub pci: String,
    /// A VM (PCI passthrough) rather than a container.
    #[serde(default)]
    pub vm: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub claim: Claim,
    /// False when the instance already held that card (nothing to do).
    pub changed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("{0}")]
    NoDevice(String),
    #[error("{0}")]
    NotAllowed(String),
    /// The card is held; the message names the holder.
    #[error("{0}")]
    Busy(String),
}

/// The holders of one card need more VRAM than it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overcommit {
    pub gpu: String,
    /// Sum over the holders of max(declared, measured), in bytes.
    pub needed: u64,
    pub total: u64,
    pub holders: Vec<String>,
}

/// The instance's VRAM need: the larger of what it declares and what its
/// processes use now.
fn need(rules: &GpuRules, measured: &BTreeMap<String, u64>, instance: &str) -> u64 {
    let declared = rules
        .instances
        .get(instance)
        .and_then(|i| i.declared_vram)
        .unwrap_or(0);
    declared.max(measured.get(instance).copied().unwrap_or(0))
}

fn holders<'a>(claims: &'a [Claim], gpu: &str) -> Vec<&'a Claim> {
    claims.iter().filter(|c| c.gpu == gpu).collect()
}

fn names(claims: &[&Claim]) -> String {
    claims
        .iter()
        .map(|c| c.instance.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides whether `instance` may hold `wanted` (a UUID, an index as
/// text, or "" for any card that fits).
pub fn decide(
    rules: &GpuRules,
    gpus: &[Gpu],
    claims: &[Claim],
    instance: &str,
    wanted: &str,
    measured: &BTreeMap<String, u64>,
) -> Result<Decision, ClaimError> {
    let Some(asker) = rules.instances.get(instance) else {
        return Err(ClaimError::NotAllowed(format!(
            "'{instance}' is not a GPU instance of the host's infra \
             (it needs gpu: true or a profile with a gpu device)"
        )));
    };
    if gpus.is_empty() {
        return Err(ClaimError::NoDevice("no NVIDIA GPU on this host".into()));
    }
    let wanted_gpu = match wanted {
        "" => None,
        w => Some(find(gpus, w).ok_or_else(|| {
            let known: Vec<String> = gpus
                .iter()
                .map(|g| format!("{} ({})", g.index, g.uuid))
                .collect();
            ClaimError::NoDevice(format!("no GPU '{w}' here; GPUs: {}", known.join(", ")))
        })?),
    };
    if let Some(held) = claims.iter().find(|c| c.instance == instance) {
        return match wanted_gpu {
            Some(g) if g.uuid != held.gpu => Err(ClaimError::NotAllowed(format!(
                "'{instance}' already holds {}; release it before claiming {}",
                held.gpu, g.uuid
            ))),
            _ => Ok(Decision {
                claim: held.clone(),
                changed: false,
            }),
        };
    }
    let is_vm = asker.instance_type == InstanceType::Vm;
    let refusal = |gpu: &Gpu| -> Option<String> {
        let held = holders(claims, &gpu.uuid);
        if held.is_empty() {
            return None;
        }
        let by = names(&held);
        if let Some(vm) = held.iter().find(|c| c.vm) {
            Some(format!(
                "{} is passed through to the VM '{}' and cannot be shared",
                gpu.uuid, vm.instance
            ))
        } else if is_vm {
            Some(format!(
                "{} is held by {by}; a VM takes its GPU whole (PCI passthrough)",
                gpu.uuid
            ))
        } else if rules.policy == GpuPolicy::Exclusive {
            Some(format!(
                "{} is held by {by} (gpu_policy: exclusive)",
                gpu.uuid
            ))
        } else {
            None
        }
    };
    let chosen = match wanted_gpu {
        Some(gpu) => match refusal(gpu) {
            Some(why) => return Err(ClaimError::Busy(why)),
            None => gpu,
        },
        None => {
            let open: Vec<&Gpu> = gpus.iter().filter(|g| refusal(g).is_none()).collect();
            let headroom = |g: &Gpu| {
                let used: u64 = holders(claims, &g.uuid)
                    .iter()
                    .map(|c| need(rules, measured, &c.instance))
                    .sum();
                g.total as i128 - used as i128 - need(rules, measured, instance) as i128
            };
            // The card with the most room left; with equal room the lowest index.
            match open
                .into_iter()
                .max_by_key(|g| (headroom(g), -i64::from(g.index)))
            {
                Some(gpu) => gpu,
                None => {
                    let why: Vec<String> = gpus.iter().filter_map(refusal).collect();
                    return Err(ClaimError::Busy(format!(
                        "no GPU is free: {}",
                        why.join("; ")
                    )));
                }
            }
        }
    };
    Ok(Decision {
        claim: Claim {
            instance: instance.to_owned(),
            project: asker.project.clone(),
            gpu: chosen.uuid.clone(),
            pci: chosen.pci.clone(),
            vm: is_vm,
        },
        changed: true,
    })
}

/// The card named by `wanted`: its UUID, or its index as text.
pub fn find<'a>(gpus: &'a [Gpu], wanted: &str) -> Option<&'a Gpu> {
    gpus.iter().find(|g| g.uuid == wanted).or_else(|| {
        let index: u32 = wanted.parse().ok()?;
        gpus.iter().find(|g| g.index == index)
    })
}

/// Every card whose holders need more VRAM than it has.
pub fn overcommits(
    rules: &GpuRules,
    gpus: &[Gpu],
    claims: &[Claim],
    measured: &BTreeMap<String, u64>,
) -> Vec<Overcommit> {
    gpus.iter()
        .filter_map(|gpu| {
            let held = holders(claims, &gpu.uuid);
            let needed: u64 = held
                .iter()
                .map(|c| need(rules, measured, &c.instance))
                .sum();
            (needed > gpu.total).then(|| Overcommit {
                gpu: gpu.uuid.clone(),
                needed,
                total: gpu.total,
                holders: held.iter().map(|c| c.instance.clone()).collect(),
            })
        })
        .collect()
}
