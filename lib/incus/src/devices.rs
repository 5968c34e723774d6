//! An instance's own devices (not those of its profiles): read, set one,
//! remove one. Incus has no endpoint per device: like `incus config device
//! add`, each change reads the instance and puts it back with its devices
//! changed.

use reqwest::Method;
use serde_json::{Map, Value};

use crate::{IncusClient, IncusError};

/// An instance's devices, by name; each device a map of string keys.
pub type Devices = Map<String, Value>;

impl IncusClient {
    /// The instance's own devices; `None` when the instance does not exist.
    pub async fn instance_devices(
        &self,
        project: &str,
        instance: &str,
    ) -> Result<Option<Devices>, IncusError> {
        Ok(self
            .instance_body(project, instance)
            .await?
            .map(|body| devices_of(&body)))
    }

    /// Sets device `name` to `device`; false when it already was exactly
    /// that (nothing written).
    pub async fn set_device(
        &self,
        project: &str,
        instance: &str,
        name: &str,
        device: Map<String, Value>,
    ) -> Result<bool, IncusError> {
        let what = format!("add device {name} to {project}/{instance}");
        let mut body = self.existing(project, instance, &what).await?;
        let mut devices = devices_of(&body);
        if devices.get(name) == Some(&Value::Object(device.clone())) {
            return Ok(false);
        }
        devices.insert(name.to_owned(), Value::Object(device));
        body["devices"] = Value::Object(devices);
        self.put_instance(project, instance, body, &what).await?;
        Ok(true)
    }

    /// Removes device `name`; false when the instance has no such device.
    pub async fn remove_device(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> Result<bool, IncusError> {
        let what = format!("remove device {name} from {project}/{instance}");
        let mut body = self.existing(project, instance, &what).await?;
        let mut devices = devices_of(&body);
        if devices.remove(name).is_none() {
            return Ok(false);
        }
        body["devices"] = Value::Object(devices);
        self.put_instance(project, instance, body, &what).await?;
        Ok(true)
    }

    async fn instance_body(
        &self,
        project: &str,
        instance: &str,
    ) -> Result<Option<Value>, IncusError> {
        let what = format!("describe instance {project}/{instance}");
        match self
            .call(
                Method::GET,
                &format!("/1.0/instances/{instance}"),
                Some(project),
                None,
                &what,
            )
            .await
        {
            Ok(body) => Ok(Some(body)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn existing(
        &self,
        project: &str,
        instance: &str,
        what: &str,
    ) -> Result<Value, IncusError> {
        self.instance_body(project, instance)
            .await?
            .ok_or_else(|| IncusError::Api {
                what: what.to_owned(),
                status: 404,
                message: "Instance not found".into(),
            })
    }

    /// `PUT /1.0/instances/<i>` with the writable part of `body`.
    async fn put_instance(
        &self,
        project: &str,
        instance: &str,
        body: Value,
        what: &str,
    ) -> Result<(), IncusError> {
        let writable: Map<String, Value> = [
            "architecture",
            "config",
            "devices",
            "ephemeral",
            "profiles",
            "stateful",
            "description",
        ]
        .into_iter()
        .filter_map(|k| body.get(k).map(|v| (k.to_owned(), v.clone())))
        .collect();
        self.call(
            Method::PUT,
            &format!("/1.0/instances/{instance}"),
            Some(project),
            Some(Value::Object(writable)),
            what,
        )
        .await
        .map(drop)
    }
}

fn devices_of(body: &Value) -> Devices {
    body.get("devices")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}
