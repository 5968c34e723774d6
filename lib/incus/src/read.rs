//! Read-only views of the whole server, for `anklume-gen import`: projects,
//! networks, profiles, instances with their own config and devices, images.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{IncusClient, IncusError};

/// Incus `config` maps: key → value, always strings.
pub type Config = BTreeMap<String, String>;
/// Incus `devices`: device name → its keys.
pub type Devices = BTreeMap<String, Config>;

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Project {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub config: Config,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    #[serde(rename = "type", default)]
    pub network_type: String,
    /// Created through Incus (not a host interface it only lists).
    #[serde(default)]
    pub managed: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub config: Config,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub config: Config,
    #[serde(default)]
    pub devices: Devices,
}

/// An instance's own settings (not the ones its profiles expand to).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct InstanceDetail {
    pub name: String,
    /// `container` or `virtual-machine`.
    #[serde(rename = "type", default)]
    pub instance_type: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub config: Config,
    #[serde(default)]
    pub devices: Devices,
    #[serde(default)]
    pub profiles: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ImageAlias {
    pub name: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Image {
    pub fingerprint: String,
    #[serde(default)]
    pub aliases: Vec<ImageAlias>,
}

impl IncusClient {
    /// Every project of the server.
    pub async fn projects(&self) -> Result<Vec<Project>, IncusError> {
        self.get("/1.0/projects?recursion=1", None, "list the projects")
            .await
    }

    /// The networks of the default project (where anklume's bridges are).
    pub async fn networks(&self) -> Result<Vec<Network>, IncusError> {
        self.get("/1.0/networks?recursion=1", None, "list the networks")
            .await
    }

    /// The profiles `project` sees.
    pub async fn profiles(&self, project: &str) -> Result<Vec<Profile>, IncusError> {
        self.get(
            "/1.0/profiles?recursion=1",
            Some(project),
            &format!("list the profiles of project {project}"),
        )
        .await
    }

    /// The instances of `project` with their own config, devices and
    /// profiles.
    pub async fn instance_details(&self, project: &str) -> Result<Vec<InstanceDetail>, IncusError> {
        self.get(
            "/1.0/instances?recursion=1",
            Some(project),
            &format!("list the instances of project {project}"),
        )
        .await
    }

    /// The images `project` sees, with their aliases.
    pub async fn images(&self, project: &str) -> Result<Vec<Image>, IncusError> {
        self.get(
            "/1.0/images?recursion=1",
            Some(project),
            &format!("list the images of project {project}"),
        )
        .await
    }
}
