//! The real inventory: NVML through `nvml-wrapper`, the library loaded at
//! run time (`libnvidia-ml.so.1`, or another path: tests load a fake one
//! through this same code). No library or no driver is `NoDevice`, never a
//! panic, so the daemon starts on hosts without an NVIDIA card.

use std::ffi::OsStr;
use std::path::Path;

use nvml_wrapper::Nvml;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;

use crate::inventory::{Gpu, GpuError, GpuProcess, GpuSource, incus_pci_address};

/// The library name the driver installs (the `.so.1`: the unversioned
/// `.so` comes only with development packages).
pub const DEFAULT_LIBRARY: &str = "libnvidia-ml.so.1";

pub struct NvmlGpus {
    nvml: Nvml,
}

impl std::fmt::Debug for NvmlGpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NvmlGpus")
    }
}

impl NvmlGpus {
    /// Loads and initialises NVML from `library` (default: the driver's).
    pub fn open(library: Option<&Path>) -> Result<Self, GpuError> {
        let path: &OsStr = library.map_or(OsStr::new(DEFAULT_LIBRARY), Path::as_os_str);
        let nvml = Nvml::builder().lib_path(path).init().map_err(|e| match e {
            NvmlError::LibloadingError(e) => GpuError::NoDevice(format!(
                "no NVIDIA driver: cannot load {}: {e}",
                path.to_string_lossy()
            )),
            NvmlError::DriverNotLoaded => {
                GpuError::NoDevice("the NVIDIA driver is not loaded".into())
            }
            NvmlError::NoPermission => GpuError::NoDevice(
                "NVML may not talk to the driver (permission denied on /dev/nvidia*)".into(),
            ),
            other => GpuError::Nvml(format!("cannot initialise: {other}")),
        })?;
        Ok(Self { nvml })
    }
}

fn nvml(what: &str) -> impl FnOnce(NvmlError) -> GpuError + '_ {
    move |e| GpuError::Nvml(format!("{what}: {e}"))
}

impl GpuSource for NvmlGpus {
    fn gpus(&self) -> Result<Vec<Gpu>, GpuError> {
        let count = self.nvml.device_count().map_err(nvml("count the cards"))?;
        (0..count)
            .map(|index| {
                let device = self
                    .nvml
                    .device_by_index(index)
                    .map_err(nvml("open a card"))?;
                let memory = device.memory_info().map_err(nvml("read memory"))?;
                Ok(Gpu {
                    index,
                    uuid: device.uuid().map_err(nvml("read the UUID"))?,
                    name: device.name().map_err(nvml("read the name"))?,
                    total: memory.total,
                    used: memory.used,
                    free: memory.free,
                    pci: incus_pci_address(
                        &device
                            .pci_info()
                            .map_err(nvml("read the PCI address"))?
                            .bus_id,
                    ),
                })
            })
            .collect()
    }

    fn processes(&self) -> Result<Vec<GpuProcess>, GpuError> {
        let count = self.nvml.device_count().map_err(nvml("count the cards"))?;
        let mut all = Vec::new();
        for index in 0..count {
            let device = self
                .nvml
                .device_by_index(index)
                .map_err(nvml("open a card"))?;
            let uuid = device.uuid().map_err(nvml("read the UUID"))?;
            let processes = device
                .running_compute_processes()
                .map_err(nvml("list processes"))?;
            all.extend(processes.into_iter().map(|p| GpuProcess {
                pid: p.pid,
                gpu_uuid: uuid.clone(),
                used: match p.used_gpu_memory {
                    UsedGpuMemory::Used(bytes) => bytes,
                    UsedGpuMemory::Unavailable => 0,
                },
            }));
        }
        Ok(all)
    }
}
