//! The instances the host's infra lets claim a GPU: machines with `gpu:
//! true` or a profile of their domain holding a `type: gpu` device (the
//! infra's `has_gpu_access`), with their project (the domain), their type,
//! and the VRAM they declare they need.

use std::collections::BTreeMap;

use anklume_infra::{GpuPolicy, Infra, InstanceType, Value};

/// The machine config key where an instance declares the VRAM it needs
/// (`"8GiB"`, `"512MiB"`, or bytes). Incus accepts any `user.*` key, so
/// the key is applied to the instance unchanged and harmless.
pub const VRAM_KEY: &str = "user.anklume.gpu_vram";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuInstance {
    pub name: String,
    /// The Incus project (the domain).
    pub project: String,
    pub instance_type: InstanceType,
    /// Bytes declared with [`VRAM_KEY`]; `None` when not declared.
    pub declared_vram: Option<u64>,
}

/// What the infra says about GPUs: the policy and who may claim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuRules {
    pub policy: GpuPolicy,
    pub instances: BTreeMap<String, GpuInstance>,
}

/// The GPU instances of `infra`, by name. A malformed [`VRAM_KEY`] is an
/// error naming the machine.
pub fn gpu_instances(infra: &Infra) -> Result<GpuRules, String> {
    let mut instances = BTreeMap::new();
    for machine in infra.machines().filter(|m| m.has_gpu_access) {
        let declared_vram = match machine.config.as_ref().and_then(|c| c.get(VRAM_KEY)) {
            None | Some(Value::Null) => None,
            Some(value) => Some(parse_size(value).ok_or_else(|| {
                format!(
                    "Machine '{}': {VRAM_KEY} must be a size such as \"8GiB\", \"512MiB\" or a number of bytes",
                    machine.name
                )
            })?),
        };
        instances.insert(
            machine.name.clone(),
            GpuInstance {
                name: machine.name.clone(),
                project: machine.domain.clone(),
                instance_type: machine.instance_type,
                declared_vram,
            },
        );
    }
    Ok(GpuRules {
        policy: infra.global.gpu_policy,
        instances,
    })
}

/// `8GiB`, `512MiB`, `1.5GiB`, `2GB`, `1000000` (bytes).
pub fn parse_size(value: &Value) -> Option<u64> {
    let text = match value {
        Value::Int(i) => return u64::try_from(*i).ok(),
        Value::String(s) => s.trim(),
        _ => return None,
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    let bytes = number * factor;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_incus_limits() {
        let s = |t: &str| parse_size(&Value::str(t));
        assert_eq!(s("8GiB"), Some(8 << 30));
        assert_eq!(s("512MiB"), Some(512 << 20));
        assert_eq!(s("1.5GiB"), Some(3 << 29));
        assert_eq!(s("2GB"), Some(2_000_000_000));
        assert_eq!(s("1000"), Some(1000));
        assert_eq!(parse_size(&Value::Int(42)), Some(42));
        assert_eq!(s("8 gigs"), None);
        assert_eq!(s(""), None);
        assert_eq!(parse_size(&Value::Int(-1)), None);
    }
}
