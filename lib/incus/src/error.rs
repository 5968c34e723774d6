//! What can go wrong talking to Incus, with Incus's own message kept.

/// An Incus request failed.
#[derive(Debug, thiserror::Error)]
pub enum IncusError {
    /// The socket could not be reached or the connection broke.
    #[error("cannot reach Incus at {socket}: {source}")]
    Connect {
        socket: String,
        #[source]
        source: reqwest::Error,
    },
    /// Incus answered with an error (`status` is the HTTP status code).
    #[error("Incus refused {what}: {message}")]
    Api {
        what: String,
        status: u16,
        message: String,
    },
    /// A background operation (snapshot, restore…) failed.
    #[error("Incus failed to {what}: {message}")]
    Operation { what: String, message: String },
    /// Incus answered something this client does not understand.
    #[error("unexpected answer from Incus to {what}: {message}")]
    Protocol { what: String, message: String },
}

impl IncusError {
    /// Incus says the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, IncusError::Api { status: 404, .. })
    }

    /// Incus says it already exists.
    pub fn is_conflict(&self) -> bool {
        matches!(self, IncusError::Api { status: 409, .. })
    }
}
