//! `org.anklume.Gpu1`: anklume-gpud's interface.

use zbus::proxy;

use crate::AnklumeError;

pub const BUS_NAME: &str = "org.anklume.Gpu1";
pub const OBJECT_PATH: &str = "/org/anklume/Gpu1";
pub const INTERFACE: &str = "org.anklume.Gpu1";
/// polkit action of `Claim` and `Release`.
pub const CLAIM_ACTION: &str = "org.anklume.gpu.claim";

/// One card of `ListGpus`: index, UUID, name, total, used and free
/// memory in bytes.
pub type ListedGpu = (u32, String, String, u64, u64, u64);
/// One process of `Processes`: PID, instance ("" for a host process),
/// GPU UUID, used memory in bytes.
pub type ListedProcess = (u32, String, String, u64);

#[proxy(
    interface = "org.anklume.Gpu1",
    default_service = "org.anklume.Gpu1",
    default_path = "/org/anklume/Gpu1"
)]
pub trait Gpu1 {
    fn list_gpus(&self) -> Result<Vec<ListedGpu>, AnklumeError>;
    /// Gives `instance` the GPU `gpu` (a UUID, an index as text, or ""
    /// for any that fits); true when the claim is new.
    fn claim(&self, instance: &str, gpu: &str) -> Result<bool, AnklumeError>;
    /// Drops the instance's claim and its device; true when it held one.
    fn release(&self, instance: &str) -> Result<bool, AnklumeError>;
    fn processes(&self) -> Result<Vec<ListedProcess>, AnklumeError>;

    /// (instance, GPU UUID) of every claim.
    #[zbus(property)]
    fn claims(&self) -> zbus::Result<Vec<(String, String)>>;
    /// Why there is no GPU (no driver…); empty when NVML works.
    #[zbus(property)]
    fn last_error(&self) -> zbus::Result<String>;

    /// A claim was granted (`gpu` is its UUID) or released (`gpu` is "").
    #[zbus(signal)]
    fn claim_changed(&self, instance: String, gpu: String) -> zbus::Result<()>;
    /// The holders of `gpu` need `needed` bytes of VRAM, more than its
    /// `total` (declared or measured, whichever is larger per holder).
    #[zbus(signal)]
    fn vram_overcommit(
        &self,
        gpu: String,
        needed: u64,
        total: u64,
        holders: Vec<String>,
    ) -> zbus::Result<()>;
}
