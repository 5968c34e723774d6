//! What the importer reads from Incus, as plain data (serialisable, so a
//! recorded state can stand in for a server in tests).

use anklume_incus::IncusClient;
use anklume_incus::read::{Image, InstanceDetail, Network, Profile, Project};
use serde::{Deserialize, Serialize};

use crate::ImportError;

/// A server's projects (each with its profiles, instances and images) and
/// its networks.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct IncusState {
    pub projects: Vec<ProjectState>,
    pub networks: Vec<Network>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ProjectState {
    pub project: Project,
    pub profiles: Vec<Profile>,
    pub instances: Vec<InstanceDetail>,
    /// The images the project sees (its own, or the default project's).
    pub images: Vec<Image>,
}

/// Reads the state: every project, or only `only` (each must exist).
pub async fn read_state(incus: &IncusClient, only: &[String]) -> Result<IncusState, ImportError> {
    let mut projects = incus.projects().await?;
    projects.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(missing) = only
        .iter()
        .find(|p| !projects.iter().any(|q| &q.name == *p))
    {
        return Err(ImportError::NoSuchProject(missing.clone()));
    }
    let mut state = IncusState {
        projects: Vec::new(),
        networks: incus.networks().await?,
    };
    for project in projects {
        if !only.is_empty() && !only.contains(&project.name) {
            continue;
        }
        match read_project(incus, project).await {
            Ok(p) => state.projects.push(p),
            // Deleted while we read: it is not there to import any more,
            // unless the user named it.
            Err(ImportError::Incus(e)) if e.is_not_found() && only.is_empty() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(state)
}

async fn read_project(incus: &IncusClient, project: Project) -> Result<ProjectState, ImportError> {
    let name = project.name.clone();
    let mut instances = incus.instance_details(&name).await?;
    instances.sort_by(|a, b| a.name.cmp(&b.name));
    let mut profiles = incus.profiles(&name).await?;
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    let images = if instances.is_empty() {
        Vec::new()
    } else {
        incus.images(&name).await?
    };
    Ok(ProjectState {
        project,
        profiles,
        instances,
        images,
    })
}
