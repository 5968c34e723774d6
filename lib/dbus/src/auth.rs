//! Authorisation of mutating calls: root always; anyone else only when
//! polkit says yes for the CALLER (subject from the message header, never
//! the daemon's own process). No polkit on the bus means no. A simulated
//! daemon (`--sim`) also lets its own user in ([`Authorizer::allowing_own_user`]).

use std::collections::HashMap;
use std::time::Duration;

use zbus::message::Header;
use zbus::names::BusName;
use zbus::proxy::CacheProperties;
use zbus::{Connection, fdo};
use zbus_polkit::policykit1::{AuthorityProxy, CheckAuthorizationFlags, Subject};

use crate::AnklumeError;

/// A polkit answer can wait for a person at an agent; not forever.
const POLKIT_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct Authorizer {
    dbus: fdo::DBusProxy<'static>,
    polkit: AuthorityProxy<'static>,
    /// A uid allowed without polkit besides root (simulated daemons).
    own_user: Option<u32>,
}

impl Authorizer {
    pub async fn new(connection: &Connection) -> zbus::Result<Self> {
        let dbus = fdo::DBusProxy::builder(connection)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let polkit = AuthorityProxy::builder(connection)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok(Self {
            dbus,
            polkit,
            own_user: None,
        })
    }

    /// Also allows callers that run as the daemon's own user (the uid the
    /// bus knows for `connection`). For simulated daemons only: they touch
    /// nothing real, and that user controls the daemon's process anyway;
    /// every other caller still needs root or polkit.
    pub async fn allowing_own_user(mut self, connection: &Connection) -> zbus::Result<Self> {
        let me = connection
            .unique_name()
            .ok_or_else(|| zbus::Error::Failure("no unique name on the bus".into()))?;
        let uid = self
            .dbus
            .get_connection_unix_user(BusName::from(me.clone()))
            .await?;
        self.own_user = Some(uid);
        Ok(self)
    }

    /// Ok when the sender of `header` may perform `action`.
    pub async fn check(&self, header: &Header<'_>, action: &str) -> Result<(), AnklumeError> {
        let sender = header
            .sender()
            .ok_or_else(|| AnklumeError::PermissionDenied("the call has no sender".into()))?;
        let uid = self
            .dbus
            .get_connection_unix_user(BusName::from(sender.clone()))
            .await?;
        if uid == 0 || self.own_user == Some(uid) {
            return Ok(());
        }
        let subject = Subject::new_for_message_header(header).map_err(|e| {
            AnklumeError::PermissionDenied(format!("cannot identify the caller: {e}"))
        })?;
        let details: HashMap<&str, &str> = HashMap::new();
        let answer = tokio_timeout(self.polkit.check_authorization(
            &subject,
            action,
            &details,
            CheckAuthorizationFlags::ALLOW_USER_INTERACTION,
            "",
        ))
        .await;
        match answer {
            Some(Ok(result)) if result.is_authorized => Ok(()),
            Some(Ok(_)) => Err(AnklumeError::PermissionDenied(format!(
                "uid {uid} is not authorized for {action}"
            ))),
            Some(Err(zbus::Error::FDO(e))) if matches!(*e, fdo::Error::ServiceUnknown(_)) => {
                Err(AnklumeError::PermissionDenied(format!(
                    "uid {uid} is not root and polkit is not available to authorize {action}"
                )))
            }
            Some(Err(e)) => Err(AnklumeError::PermissionDenied(format!(
                "polkit could not authorize {action} for uid {uid}: {e}"
            ))),
            None => Err(AnklumeError::PermissionDenied(format!(
                "polkit did not answer in time for {action}"
            ))),
        }
    }
}

async fn tokio_timeout<F: std::future::Future>(f: F) -> Option<F::Output> {
    tokio::time::timeout(POLKIT_TIMEOUT, f).await.ok()
}
