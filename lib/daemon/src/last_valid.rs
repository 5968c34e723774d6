//! The one policy of every daemon for its inputs: an invalid new version
//! (an infra being edited, a broken configuration) keeps the last valid
//! one in force, and the problem is kept for `LastError` and the log.

use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug)]
pub struct LastValid<T> {
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    value: Arc<T>,
    error: Option<String>,
}

impl<T> LastValid<T> {
    pub fn new(first: T) -> Self {
        Self {
            state: Mutex::new(State {
                value: Arc::new(first),
                error: None,
            }),
        }
    }

    /// Takes `read` when it is valid; otherwise keeps the last valid
    /// value and remembers why. Returns the value in force and the error,
    /// if any, the caller should report.
    pub fn update<E: std::fmt::Display>(&self, read: Result<T, E>) -> (Arc<T>, Option<String>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match read {
            Ok(value) => {
                state.value = Arc::new(value);
                state.error = None;
                (Arc::clone(&state.value), None)
            }
            Err(e) => {
                let message = e.to_string();
                state.error = Some(message.clone());
                (Arc::clone(&state.value), Some(message))
            }
        }
    }

    pub fn get(&self) -> Arc<T> {
        Arc::clone(
            &self
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .value,
        )
    }

    /// Why the last update was refused; `None` after a valid one.
    pub fn error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .error
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_update_keeps_the_last_valid_value_until_a_valid_one() {
        let last = LastValid::new(1);
        assert_eq!(*last.update::<String>(Ok(2)).0, 2);
        let (kept, error) = last.update(Err("broken"));
        assert_eq!((*kept, error.as_deref()), (2, Some("broken")));
        assert_eq!(last.error().as_deref(), Some("broken"));
        assert_eq!(*last.update::<String>(Ok(3)).0, 3);
        assert_eq!((*last.get(), last.error()), (3, None));
    }
}
