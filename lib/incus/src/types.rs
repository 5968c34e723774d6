//! Typed requests and responses of the endpoints anklume uses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The envelope of every JSON answer.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub error_code: u16,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub metadata: Value,
}

/// A background operation, as `/1.0/operations/<id>/wait` returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct Operation {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub err: String,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Server {
    pub api_version: String,
    pub environment: ServerEnvironment,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerEnvironment {
    pub server_version: String,
    #[serde(default)]
    pub storage: String,
}

/// An instance (container or VM) as listed.
#[derive(Clone, Debug, Deserialize)]
pub struct Instance {
    pub name: String,
    /// `Running`, `Stopped`, …
    pub status: String,
    #[serde(default)]
    pub project: String,
    #[serde(rename = "type", default)]
    pub instance_type: String,
}

/// A snapshot of an instance.
#[derive(Clone, Debug, Deserialize)]
pub struct Snapshot {
    /// The snapshot's own name (without `instance/`).
    pub name: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    #[serde(default)]
    pub stateful: bool,
}

impl Snapshot {
    /// Creation time in unix seconds (0 when Incus sent no valid time).
    pub fn created_unix(&self) -> i64 {
        time::OffsetDateTime::parse(
            &self.created_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or(0, |t| t.unix_timestamp())
    }
}

/// `POST /1.0/instances`: a new instance from a local image alias.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceCreate {
    pub name: String,
    #[serde(rename = "type")]
    pub instance_type: String,
    pub source: InstanceSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<bool>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub config: serde_json::Map<String, Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InstanceSource {
    #[serde(rename = "type")]
    pub source_type: String,
    pub alias: String,
}

impl InstanceCreate {
    /// A container from the local image `alias`, started at once.
    pub fn container(name: &str, alias: &str) -> Self {
        Self {
            name: name.to_owned(),
            instance_type: "container".into(),
            source: InstanceSource {
                source_type: "image".into(),
                alias: alias.to_owned(),
            },
            start: Some(true),
            config: serde_json::Map::new(),
        }
    }
}

/// The result of a command run with `exec` and `record-output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    pub status: i64,
    pub stdout: String,
    pub stderr: String,
}
