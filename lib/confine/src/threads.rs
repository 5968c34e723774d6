//! What `/proc` says about the confinement of each thread of a process:
//! capabilities and `NoNewPrivs` are per thread, so a thread started
//! before confinement keeps everything. Tests check every thread of a
//! running daemon with this.

use std::path::Path;

/// One thread's `/proc/PID/task/TID/status`, the confinement part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadStatus {
    pub tid: u32,
    pub name: String,
    /// The effective capabilities, as the kernel's bit mask.
    pub cap_eff: u64,
    pub no_new_privs: bool,
}

/// Every thread of `pid`, as `/proc` shows it now.
pub fn threads(pid: u32) -> std::io::Result<Vec<ThreadStatus>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = entry?.path();
        match std::fs::read_to_string(path.join("status")) {
            Ok(text) => found.push(parse(&path, &text)?),
            // The thread ended between the listing and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    found.sort_by_key(|t| t.tid);
    Ok(found)
}

fn parse(path: &Path, status: &str) -> std::io::Result<ThreadStatus> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: no {name} line", path.display()),
                )
            })
    };
    let bad = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: bad {what}", path.display()),
        )
    };
    Ok(ThreadStatus {
        tid: field("Pid")?.parse().map_err(|_| bad("Pid"))?,
        name: field("Name")?.to_owned(),
        cap_eff: u64::from_str_radix(field("CapEff")?, 16).map_err(|_| bad("CapEff"))?,
        no_new_privs: field("NoNewPrivs")? == "1",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_threads_are_listed() {
        let seen = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            s.spawn(move || rx.recv());
            let seen = threads(std::process::id()).unwrap();
            drop(tx);
            seen
        });
        assert!(seen.len() >= 2, "{seen:?}");
        assert!(seen.iter().any(|t| t.tid == std::process::id()));
    }

    #[test]
    fn status_lines_are_read() {
        let text = "Name:\tworker\nPid:\t42\nCapEff:\t000001ffffffffff\nNoNewPrivs:\t1\n";
        assert_eq!(
            parse(Path::new("x"), text).unwrap(),
            ThreadStatus {
                tid: 42,
                name: "worker".into(),
                cap_eff: 0x1ff_ffff_ffff,
                no_new_privs: true
            }
        );
    }
}
