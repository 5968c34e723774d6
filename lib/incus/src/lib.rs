//! Async client of the Incus REST API on its unix socket: the endpoints
//! anklume needs, each typed, with background operations waited for at
//! once (finished operations vanish from Incus after a few seconds) and
//! Incus's own error messages kept. Every call is scoped to a project.
//!
//! ```no_run
//! # async fn demo() -> Result<(), anklume_incus::IncusError> {
//! let incus = anklume_incus::IncusClient::new(anklume_incus::DEFAULT_SOCKET)?;
//! for instance in incus.instances("pro").await? {
//!     incus.create_snapshot("pro", &instance.name, "before-upgrade").await?;
//! }
//! # Ok(()) }
//! ```

pub mod devices;
mod error;
pub mod read;
mod types;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use error::IncusError;
use types::{Envelope, Operation};
pub use types::{
    ExecOutput, Instance, InstanceCreate, InstanceSource, Server, ServerEnvironment, Snapshot,
};

/// Where Incus listens on a Debian host.
pub const DEFAULT_SOCKET: &str = "/var/lib/incus/unix.socket";
/// The host part is ignored over a unix socket but must make a valid URL.
const BASE: &str = "http://incus";
/// Longest wait for one background operation.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(600);

/// A connection to one Incus daemon. Cheap to clone; calls may run
/// concurrently.
#[derive(Clone, Debug)]
pub struct IncusClient {
    http: reqwest::Client,
    socket: String,
}

impl IncusClient {
    pub fn new(socket: impl Into<String>) -> Result<Self, IncusError> {
        let socket = socket.into();
        let http = reqwest::Client::builder()
            .unix_socket(socket.as_str())
            // No idle pooled connections: incusd peeks at each new
            // connection in its accept loop without a deadline, so a pooled
            // connection that never sends a byte stalls every other client
            // of the daemon (container starts included) until it closes.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|source| IncusError::Connect {
                socket: socket.clone(),
                source,
            })?;
        Ok(Self { http, socket })
    }

    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// `GET /1.0`: the server's version and storage.
    pub async fn server(&self) -> Result<Server, IncusError> {
        self.get("/1.0", None, "describe the server").await
    }

    pub async fn project_exists(&self, project: &str) -> Result<bool, IncusError> {
        match self
            .get::<Value>(
                &format!("/1.0/projects/{project}"),
                None,
                "describe a project",
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A project that shares the default project's images and profiles.
    pub async fn create_project(&self, project: &str, description: &str) -> Result<(), IncusError> {
        let body = json!({
            "name": project,
            "description": description,
            "config": {"features.images": "false", "features.profiles": "false"},
        });
        self.call(
            Method::POST,
            "/1.0/projects",
            None,
            Some(body),
            &format!("create project {project}"),
        )
        .await
        .map(drop)
    }

    pub async fn delete_project(&self, project: &str) -> Result<(), IncusError> {
        self.call(
            Method::DELETE,
            &format!("/1.0/projects/{project}"),
            None,
            None,
            &format!("delete project {project}"),
        )
        .await
        .map(drop)
    }

    /// The instances of `project`. A missing project is an error (Incus
    /// itself lists nothing for it).
    pub async fn instances(&self, project: &str) -> Result<Vec<Instance>, IncusError> {
        let what = format!("list the instances of project {project}");
        let instances: Vec<Instance> = self
            .get("/1.0/instances?recursion=1", Some(project), &what)
            .await?;
        if instances.is_empty() && !self.project_exists(project).await? {
            return Err(IncusError::Api {
                what,
                status: 404,
                message: "Project not found".into(),
            });
        }
        Ok(instances)
    }

    pub async fn create_instance(
        &self,
        project: &str,
        request: &InstanceCreate,
    ) -> Result<(), IncusError> {
        let body = serde_json::to_value(request).map_err(|e| IncusError::Protocol {
            what: "encode an instance".into(),
            message: e.to_string(),
        })?;
        let what = format!("create instance {project}/{}", request.name);
        self.call(
            Method::POST,
            "/1.0/instances",
            Some(project),
            Some(body),
            &what,
        )
        .await
        .map(drop)
    }

    /// Starts or stops (`force` kills at once) an instance.
    pub async fn set_state(
        &self,
        project: &str,
        instance: &str,
        action: &str,
        force: bool,
    ) -> Result<(), IncusError> {
        let body = json!({"action": action, "force": force, "timeout": 30});
        let what = format!("{action} instance {project}/{instance}");
        self.call(
            Method::PUT,
            &format!("/1.0/instances/{instance}/state"),
            Some(project),
            Some(body),
            &what,
        )
        .await
        .map(drop)
    }

    pub async fn delete_instance(&self, project: &str, instance: &str) -> Result<(), IncusError> {
        let what = format!("delete instance {project}/{instance}");
        self.call(
            Method::DELETE,
            &format!("/1.0/instances/{instance}"),
            Some(project),
            None,
            &what,
        )
        .await
        .map(drop)
    }

    /// The snapshots of an instance, oldest first.
    pub async fn snapshots(
        &self,
        project: &str,
        instance: &str,
    ) -> Result<Vec<Snapshot>, IncusError> {
        let mut snapshots: Vec<Snapshot> = self
            .get(
                &format!("/1.0/instances/{instance}/snapshots?recursion=1"),
                Some(project),
                &format!("list the snapshots of {project}/{instance}"),
            )
            .await?;
        // Incus names them `instance/snapshot` in some versions.
        for s in &mut snapshots {
            if let Some((_, name)) = s.name.split_once('/') {
                s.name = name.to_owned();
            }
        }
        snapshots.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(snapshots)
    }

    pub async fn create_snapshot(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> Result<(), IncusError> {
        let what = format!("snapshot {project}/{instance} as {name}");
        let body = json!({"name": name, "stateful": false});
        self.call(
            Method::POST,
            &format!("/1.0/instances/{instance}/snapshots"),
            Some(project),
            Some(body),
            &what,
        )
        .await
        .map(drop)
    }

    /// Rolls the instance back to the snapshot (a running container is
    /// restored in place).
    pub async fn restore_snapshot(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> Result<(), IncusError> {
        let what = format!("restore {project}/{instance} to {name}");
        let body = json!({"restore": name});
        self.call(
            Method::PUT,
            &format!("/1.0/instances/{instance}"),
            Some(project),
            Some(body),
            &what,
        )
        .await
        .map(drop)
    }

    pub async fn delete_snapshot(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> Result<(), IncusError> {
        let what = format!("delete snapshot {project}/{instance}/{name}");
        self.call(
            Method::DELETE,
            &format!("/1.0/instances/{instance}/snapshots/{name}"),
            Some(project),
            None,
            &what,
        )
        .await
        .map(drop)
    }

    /// Runs a command in a running instance and returns its output.
    pub async fn exec(
        &self,
        project: &str,
        instance: &str,
        command: &[&str],
    ) -> Result<ExecOutput, IncusError> {
        let what = format!("run {command:?} in {project}/{instance}");
        let body = json!({
            "command": command,
            "wait-for-websocket": false,
            "record-output": true,
            "interactive": false,
            "environment": {},
        });
        let result = self
            .call(
                Method::POST,
                &format!("/1.0/instances/{instance}/exec"),
                Some(project),
                Some(body),
                &what,
            )
            .await?;
        let status = result.get("return").and_then(Value::as_i64).unwrap_or(-1);
        let output = result.get("output").cloned().unwrap_or(Value::Null);
        let log = |fd: &str| output.get(fd).and_then(Value::as_str).map(str::to_owned);
        let stdout = self.exec_log(log("1"), project, &what).await?;
        let stderr = self.exec_log(log("2"), project, &what).await?;
        Ok(ExecOutput {
            status,
            stdout,
            stderr,
        })
    }

    /// A recorded exec output (`/1.0/instances/<i>/logs/exec-output/...`).
    async fn exec_log(
        &self,
        path: Option<String>,
        project: &str,
        what: &str,
    ) -> Result<String, IncusError> {
        match path {
            Some(path) => {
                self.get_raw(&format!("{path}?project={project}"), what)
                    .await
            }
            None => Ok(String::new()),
        }
    }

    /// The content of a file inside an instance.
    pub async fn read_file(
        &self,
        project: &str,
        instance: &str,
        path: &str,
    ) -> Result<String, IncusError> {
        let what = format!("read {path} in {project}/{instance}");
        let request = self
            .http
            .get(format!("{BASE}/1.0/instances/{instance}/files"))
            .query(&[("path", path), ("project", project)]);
        self.send_raw(request, &what).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        project: Option<&str>,
        what: &str,
    ) -> Result<T, IncusError> {
        let metadata = self.call(Method::GET, path, project, None, what).await?;
        serde_json::from_value(metadata).map_err(|e| IncusError::Protocol {
            what: what.to_owned(),
            message: e.to_string(),
        })
    }

    async fn get_raw(&self, path: &str, what: &str) -> Result<String, IncusError> {
        self.send_raw(self.http.get(format!("{BASE}{path}")), what)
            .await
    }

    /// A request whose successful answer is raw text (files, exec logs).
    async fn send_raw(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<String, IncusError> {
        let response = request
            .send()
            .await
            .map_err(|source| self.connect_error(source))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|source| self.connect_error(source))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(api_error(what, status, &body))
        }
    }

    /// One request; an asynchronous answer is waited for. Returns the
    /// metadata of the answer (or of the finished operation).
    async fn call(
        &self,
        method: Method,
        path: &str,
        project: Option<&str>,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, IncusError> {
        let mut request = self.http.request(method, format!("{BASE}{path}"));
        if let Some(project) = project {
            request = request.query(&[("project", project)]);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let envelope = self.send(request, what).await?;
        match envelope.kind.as_str() {
            "async" => self.wait(&envelope.operation, project, what).await,
            "error" => Err(IncusError::Api {
                what: what.to_owned(),
                status: envelope.error_code,
                message: envelope.error,
            }),
            _ => Ok(envelope.metadata),
        }
    }

    /// Waits for a background operation at once: Incus forgets finished
    /// operations after a few seconds.
    async fn wait(
        &self,
        operation: &str,
        project: Option<&str>,
        what: &str,
    ) -> Result<Value, IncusError> {
        let path = format!("{operation}/wait?timeout={}", OPERATION_TIMEOUT.as_secs());
        let mut request = self.http.get(format!("{BASE}{path}"));
        if let Some(project) = project {
            request = request.query(&[("project", project)]);
        }
        let as_operation_error = |error| match error {
            IncusError::Api { what, message, .. } => IncusError::Operation { what, message },
            other => other,
        };
        let envelope = self.send(request, what).await.map_err(as_operation_error)?;
        // A failed (or timed-out) operation comes back as HTTP 200 with an
        // error envelope.
        if envelope.kind == "error" {
            return Err(IncusError::Operation {
                what: what.to_owned(),
                message: envelope.error,
            });
        }
        let op: Operation =
            serde_json::from_value(envelope.metadata).map_err(|e| IncusError::Protocol {
                what: what.to_owned(),
                message: e.to_string(),
            })?;
        if op.status == "Success" {
            Ok(op.metadata.unwrap_or(Value::Null))
        } else {
            Err(IncusError::Operation {
                what: what.to_owned(),
                message: if op.err.is_empty() { op.status } else { op.err },
            })
        }
    }

    /// Sends a request and reads Incus's JSON envelope; an HTTP error is
    /// an `Api` error with Incus's message.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Envelope, IncusError> {
        let text = self.send_raw(request, what).await?;
        serde_json::from_str(&text).map_err(|e| IncusError::Protocol {
            what: what.to_owned(),
            message: e.to_string(),
        })
    }

    fn connect_error(&self, source: reqwest::Error) -> IncusError {
        IncusError::Connect {
            socket: self.socket.clone(),
            source,
        }
    }
}

/// Incus's error answer (`{"type":"error","error":...}`), or the raw body.
fn api_error(what: &str, status: StatusCode, body: &str) -> IncusError {
    let message = serde_json::from_str::<Envelope>(body)
        .ok()
        .filter(|e| !e.error.is_empty())
        .map_or_else(|| body.trim().to_owned(), |e| e.error);
    IncusError::Api {
        what: what.to_owned(),
        status: status.as_u16(),
        message,
    }
}
