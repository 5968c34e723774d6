//! What `LastError` reports: the problems a person should know about
//! while the daemon keeps working — an unreadable registry moved aside at
//! start, a configuration that could not be reloaded, an invalid infra
//! (the last valid one stays in force).

use std::sync::{Mutex, PoisonError};

#[derive(Debug, Default)]
pub struct Status {
    registry: Mutex<Option<String>>,
    config: Mutex<Option<String>>,
}

fn set(slot: &Mutex<Option<String>>, value: Option<String>) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = value;
}

fn get(slot: &Mutex<Option<String>>) -> Option<String> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

impl Status {
    pub fn registry_recovered(&self, message: String) {
        set(&self.registry, Some(message));
    }

    /// The outcome of the last configuration reload.
    pub fn config(&self, error: Option<String>) {
        set(&self.config, error);
    }

    /// Every current problem, `infra` included; empty when none.
    pub fn last_error(&self, infra: Option<String>) -> String {
        [get(&self.registry), get(&self.config), infra]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")
    }
}
