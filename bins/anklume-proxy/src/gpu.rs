//! GPU admission: a `gpu` device the host's infra declares is given only
//! when anklume-gpud admits it (`org.anklume.Gpu1.Claim(instance, gpu)`,
//! gpu `""` = any). When gpud is not on the system bus, it is refused.

use std::future::Future;
use std::pin::Pin;

pub type Admission<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Who admits GPU devices; a double in unit tests, D-Bus for real.
pub trait GpuAdmission: Send + Sync {
    fn claim<'a>(&'a self, instance: &'a str, gpu: &'a str) -> Admission<'a>;
}

pub const BUS_NAME: &str = "org.anklume.Gpu1";
pub const OBJECT_PATH: &str = "/org/anklume/Gpu1";

/// anklume-gpud on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` honoured).
pub struct Gpud;

impl GpuAdmission for Gpud {
    fn claim<'a>(&'a self, instance: &'a str, gpu: &'a str) -> Admission<'a> {
        Box::pin(async move {
            let absent = |e: &dyn std::fmt::Display| {
                format!("GPU devices need anklume-gpud's admission and gpud is not reachable ({e})")
            };
            let conn = zbus::Connection::system().await.map_err(|e| absent(&e))?;
            let reply = conn
                .call_method(
                    Some(BUS_NAME),
                    OBJECT_PATH,
                    Some(BUS_NAME),
                    "Claim",
                    &(instance, gpu),
                )
                .await;
            match reply {
                Ok(_) => Ok(()),
                Err(zbus::Error::MethodError(name, message, _))
                    if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                        || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
                {
                    Err(absent(&message.unwrap_or_default()))
                }
                Err(zbus::Error::MethodError(name, message, _)) => Err(format!(
                    "anklume-gpud refused the GPU for {instance}: {name}: {}",
                    message.unwrap_or_default()
                )),
                Err(e) => Err(absent(&e)),
            }
        })
    }
}
