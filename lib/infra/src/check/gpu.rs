//! The GPU policy: with `exclusive`, at most one instance may reach a GPU.

use super::Checker;
use crate::model::{Domain, Global, GpuPolicy};

impl Checker<'_> {
    pub(super) fn gpu_policy(&mut self, domains: &[Domain], global: &Global) {
        let with_gpu: Vec<&str> = domains
            .iter()
            .flat_map(|d| &d.machines)
            .filter(|m| m.has_gpu_access)
            .map(|m| m.name.as_str())
            .collect();
        if with_gpu.len() < 2 {
            return;
        }
        let (n, names) = (with_gpu.len(), with_gpu.join(", "));
        match global.gpu_policy {
            GpuPolicy::Exclusive => self.report.error(
                None,
                format!(
                    "GPU policy is 'exclusive' but {n} instances have GPU access: {names}. Set global.gpu_policy: shared to allow this."
                ),
            ),
            GpuPolicy::Shared => self.report.warning(
                None,
                format!(
                    "GPU policy is 'shared': {n} instances share GPU access ({names}). No VRAM isolation on consumer GPUs."
                ),
            ),
        }
    }
}
