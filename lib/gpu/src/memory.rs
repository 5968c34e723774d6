//! An in-memory GPU source for logic tests and for `serve --sim`.

use std::sync::{Mutex, PoisonError};

use crate::inventory::{Gpu, GpuError, GpuProcess, GpuSource};

#[derive(Debug, Default)]
pub struct MemoryGpus {
    gpus: Mutex<Vec<Gpu>>,
    processes: Mutex<Vec<GpuProcess>>,
}

impl MemoryGpus {
    pub fn new(gpus: Vec<Gpu>) -> Self {
        Self {
            gpus: Mutex::new(gpus),
            processes: Mutex::default(),
        }
    }

    /// Card `index` with `total` bytes, UUID `GPU-test-<index>`, PCI
    /// `0000:<index+1>:00.0`.
    pub fn card(index: u32, total: u64) -> Gpu {
        Gpu {
            index,
            uuid: format!("GPU-test-{index}"),
            name: "Test GPU".into(),
            total,
            used: 0,
            free: total,
            pci: format!("0000:{:02x}:00.0", index + 1),
        }
    }

    pub fn set_processes(&self, processes: Vec<GpuProcess>) {
        *self
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = processes;
    }
}

impl GpuSource for MemoryGpus {
    fn gpus(&self) -> Result<Vec<Gpu>, GpuError> {
        Ok(self
            .gpus
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn processes(&self) -> Result<Vec<GpuProcess>, GpuError> {
        Ok(self
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }
}
