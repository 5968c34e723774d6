//! The base directory's lock: concurrent syncs take turns. The lock is an
//! `flock` on the directory itself, so no lock file appears in the tree.
//! A sync that finds the lock taken says so and gives up after a timeout
//! rather than waiting silently forever.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a waiting sync tries again.
const POLL: Duration = Duration::from_millis(50);

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("gave up after {}s waiting for the lock held by another sync (--lock-timeout)", waited.as_secs_f64())]
    Timeout { waited: Duration },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Takes an exclusive lock on `base_dir` (creating it). When another
/// process holds it, calls `on_wait` once and retries until `timeout`.
/// The lock lasts as long as the returned file.
pub fn lock(base_dir: &Path, timeout: Duration, on_wait: &dyn Fn()) -> Result<File, LockError> {
    fs::create_dir_all(base_dir)?;
    let dir = File::open(base_dir)?;
    let start = Instant::now();
    let mut announced = false;
    loop {
        match dir.try_lock() {
            Ok(()) => return Ok(dir),
            Err(TryLockError::Error(e)) => return Err(e.into()),
            Err(TryLockError::WouldBlock) => {}
        }
        if !announced {
            on_wait();
            announced = true;
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(LockError::Timeout { waited: timeout });
        }
        std::thread::sleep(POLL.min(timeout - waited));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_held_lock_is_announced_then_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let held = File::open(dir.path()).unwrap();
        held.lock().unwrap();
        let calls = Cell::new(0);
        let start = Instant::now();
        let err = lock(dir.path(), Duration::from_millis(200), &|| {
            calls.set(calls.get() + 1)
        })
        .unwrap_err();
        assert!(matches!(err, LockError::Timeout { .. }), "{err}");
        assert_eq!(calls.get(), 1);
        assert!(start.elapsed() >= Duration::from_millis(200));
        drop(held);
        assert!(lock(dir.path(), Duration::ZERO, &|| panic!("free lock")).is_ok());
    }
}
