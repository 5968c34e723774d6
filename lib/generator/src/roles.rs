//! The roles machines name in `roles:`: each must be shipped with anklume
//! (`ansible/roles`) or be the user's own, in the `roles_custom/`
//! directory next to the infra. An unknown one would otherwise build a
//! machine that does nothing; `make apply` refuses it before changing
//! anything, and the sync warns about it first.

use std::path::{Path, PathBuf};

use anklume_infra::{Infra, InfraSource, suggestion};

/// The roles in `ansible/roles` (a test keeps this list in step).
pub const SHIPPED_ROLES: &[&str] = &[
    "admin_bootstrap",
    "base_system",
    "incus_images",
    "incus_instances",
    "incus_networks",
    "incus_profiles",
    "incus_projects",
    "lobechat",
    "ollama_server",
    "open_webui",
    "opencode_server",
    "stt_server",
];

/// Name of the user's role directory, next to the infra.
pub const ROLES_CUSTOM: &str = "roles_custom";

/// `roles_custom/` beside `infra.yml`, or beside the `infra/` directory.
pub fn roles_custom_dir(source: &InfraSource) -> PathBuf {
    let path = match source {
        InfraSource::File(file) => file.as_path(),
        InfraSource::Directory(dir) => dir.as_path(),
    };
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.join(ROLES_CUSTOM),
        _ => PathBuf::from(ROLES_CUSTOM),
    }
}

/// A role that is neither shipped nor custom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownRole {
    pub machine: String,
    pub role: String,
    pub suggestion: Option<String>,
}

impl std::fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Machine '{}': role '{}' is neither shipped with anklume (ansible/roles) nor in {ROLES_CUSTOM}/; make apply refuses it before changing anything",
            self.machine, self.role
        )?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean '{s}'?)")?;
        }
        Ok(())
    }
}

/// Roles of `roles_custom`: its subdirectories.
fn custom_roles(roles_custom: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(roles_custom) else {
        return Vec::new();
    };
    let mut roles: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    roles.sort();
    roles
}

/// Every (machine, role) whose role is unknown, in input order. Only the
/// roles a person wrote: the firewall VM that anklume adds names the
/// contract's roles, which the user cannot change.
pub fn unknown_roles(infra: &Infra, roles_custom: &Path) -> Vec<UnknownRole> {
    let custom = custom_roles(roles_custom);
    let known: Vec<&str> = SHIPPED_ROLES
        .iter()
        .copied()
        .chain(custom.iter().map(String::as_str))
        .collect();
    infra
        .machines()
        .filter(|m| !m.auto_created)
        .flat_map(|m| m.roles.iter().flatten().map(move |r| (m, r)))
        .filter(|(_, role)| !known.contains(&role.as_str()))
        .map(|(m, role)| UnknownRole {
            machine: m.name.clone(),
            role: role.clone(),
            suggestion: suggestion(role, &known).map(str::to_owned),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_roles_are_those_of_ansible_roles() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ansible/roles");
        assert_eq!(custom_roles(&dir), SHIPPED_ROLES);
    }

    #[test]
    fn roles_custom_sits_next_to_the_infra() {
        let file = InfraSource::File(PathBuf::from("/srv/a/infra.yml"));
        assert_eq!(roles_custom_dir(&file), Path::new("/srv/a/roles_custom"));
        let dir = InfraSource::Directory(PathBuf::from("infra"));
        assert_eq!(roles_custom_dir(&dir), Path::new("roles_custom"));
    }
}
