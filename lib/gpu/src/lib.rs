//! GPUs for anklume's instances: what the cards are and who uses them
//! ([`inventory`], read through NVML in [`nvml`] or an in-memory double in
//! [`memory`]), who may hold which card under `gpu_policy` ([`claims`],
//! pure), the instances the infra lets claim ([`allowed`]), the claims
//! kept across restarts ([`store`]), the Incus device a claim puts on its
//! instance ([`device`]), and which instance a GPU process belongs to
//! ([`cgroup`]). [`engine`] ties them together for anklume-gpud.

pub mod allowed;
pub mod cgroup;
pub mod claims;
pub mod device;
pub mod engine;
pub mod inventory;
pub mod memory;
pub mod nvml;
pub mod store;

pub use allowed::{GpuInstance, GpuRules, VRAM_KEY, gpu_instances};
pub use claims::{Claim, ClaimError, Decision, Overcommit};
pub use device::{DeviceError, InstanceDevices, MemoryDevices, NoIncus};
pub use engine::{Engine, EngineError, Granted, ProcessLine, Reconciled, Released};
pub use inventory::{Gpu, GpuError, GpuProcess, GpuSource};
pub use memory::MemoryGpus;
pub use nvml::NvmlGpus;
pub use store::{ClaimsFile, StoreError};
