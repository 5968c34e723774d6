//! Every thread of a running daemon is confined: no capability outside
//! what it keeps, `NoNewPrivs` set. Shared by the daemons' test crates
//! (`#[path]`-included), so every daemon gets the check. Landlock has no
//! line in `/proc`: each daemon's tests prove it with an access the daemon
//! makes outside its rules.

#![allow(dead_code)]

use anklume_confine::threads::threads;

/// Panics unless every thread of `pid` has `CapEff` within `allowed` (a
/// kernel capability mask) and `NoNewPrivs`. Returns how many threads
/// were checked.
pub fn assert_every_thread_confined(pid: u32, allowed: u64) -> usize {
    let found = threads(pid).expect("read /proc/PID/task");
    assert!(!found.is_empty(), "no thread of {pid}");
    let loose: Vec<_> = found
        .iter()
        .filter(|t| t.cap_eff & !allowed != 0 || !t.no_new_privs)
        .collect();
    assert!(
        loose.is_empty(),
        "threads of {pid} not confined (CapEff beyond {allowed:#x} or no NoNewPrivs): {loose:#?}"
    );
    found.len()
}
