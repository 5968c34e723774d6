//! The cards and their processes as anklume sees them, and the one trait
//! every GPU source implements (NVML, or the in-memory double).

/// One card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpu {
    /// NVML's index (the order `nvidia-smi` lists the cards in).
    pub index: u32,
    /// `GPU-xxxxxxxx-…`, stable across reboots.
    pub uuid: String,
    pub name: String,
    /// Memory in bytes.
    pub total: u64,
    pub used: u64,
    pub free: u64,
    /// PCI address as Incus writes it (`0000:01:00.0`); what a claim pins
    /// the instance's `gpu` device to.
    pub pci: String,
}

/// A process with a compute context on a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuProcess {
    /// As the host sees it.
    pub pid: u32,
    pub gpu_uuid: String,
    /// Bytes; 0 when the driver does not say.
    pub used: u64,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum GpuError {
    /// No driver, no library, or no card.
    #[error("{0}")]
    NoDevice(String),
    /// NVML answered with an error.
    #[error("NVML: {0}")]
    Nvml(String),
}

/// Where the inventory comes from.
pub trait GpuSource: Send + Sync {
    /// Every card, by index.
    fn gpus(&self) -> Result<Vec<Gpu>, GpuError>;
    /// Every compute process on every card.
    fn processes(&self) -> Result<Vec<GpuProcess>, GpuError>;
}

/// NVML's bus id (`00000000:01:00.0`, 8-digit domain) as Incus's `pci`
/// key wants it (`0000:01:00.0`), lower case.
pub fn incus_pci_address(bus_id: &str) -> String {
    let lower = bus_id.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((domain, rest)) if domain.len() > 4 => {
            format!("{}:{rest}", &domain[domain.len() - 4..])
        }
        _ => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvml_bus_ids_become_incus_pci_addresses() {
        assert_eq!(incus_pci_address("00000000:01:00.0"), "0000:01:00.0");
        assert_eq!(incus_pci_address("0000:3B:00.0"), "0000:3b:00.0");
        assert_eq!(incus_pci_address("00000001:AF:00.1"), "0001:af:00.1");
    }
}
