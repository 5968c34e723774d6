//! Unknown-key warnings: a misspelt key is otherwise silently ignored, so
//! say so, and suggest the key that was probably meant.

use crate::diagnostic::Report;
use crate::yaml::Node;

pub(crate) const TOP: &[&str] = &["project_name", "global", "domains", "network_policies"];
pub(crate) const GLOBAL: &[&str] = &[
    "base_subnet",
    "default_os_image",
    "default_connection",
    "default_user",
    "gpu_policy",
    "firewall_mode",
    "uplinks",
    "nat",
];
pub(crate) const DOMAIN: &[&str] = &[
    "description",
    "subnet_id",
    "ephemeral",
    "nat",
    "profiles",
    "machines",
];
pub(crate) const MACHINE: &[&str] = &[
    "description",
    "type",
    "ip",
    "ephemeral",
    "gpu",
    "profiles",
    "config",
    "devices",
    "storage_volumes",
    "roles",
    "os_image",
];
pub(crate) const POLICY: &[&str] = &[
    "from",
    "to",
    "ports",
    "protocol",
    "bidirectional",
    "description",
];

/// Warns about every key of `map` that is not in `known`. `within` says
/// where, e.g. `domain 'pro'`.
pub(crate) fn warn_unknown(map: &Node, known: &[&str], within: &str, report: &mut Report) {
    for entry in map.entries().unwrap_or_default() {
        if let Some(s) = entry.key.scalar()
            && known.contains(&s.text.as_str())
        {
            continue;
        }
        let key = entry.key.display();
        let hint = suggestion(&key, known)
            .map(|s| format!(" (did you mean '{s}'?)"))
            .unwrap_or_default();
        report.warning(
            Some(&entry.key.location),
            format!("unknown key '{key}' in {within}, ignored{hint}"),
        );
    }
}

/// The closest known key, when it is close enough to be a typo.
pub(crate) fn suggestion<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.to_lowercase();
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&key, k), *k))
        .filter(|(distance, k)| *distance <= (k.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(suggestion("subnetid", DOMAIN), Some("subnet_id"));
        assert_eq!(suggestion("machine", DOMAIN), Some("machines"));
        assert_eq!(suggestion("Description", DOMAIN), Some("description"));
        assert_eq!(suggestion("ephemral", MACHINE), Some("ephemeral"));
        assert_eq!(suggestion("colour", MACHINE), None);
    }
}
